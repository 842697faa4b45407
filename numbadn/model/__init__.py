"""The model (sections 3-3.3): a layer, a network of layers, how they train, their
files and their samples.

* :mod:`.layer` -- :class:`DeconvLayer`: one layer's inference and learning (eqs. 1-9).
* :mod:`.network` -- :class:`DeconvNet`: training bottom-up, inference top-down (eqs. 10-12).
* :mod:`.training` -- :class:`TrainingState` (where a fit stands), per-image
  statistics, callbacks, progress bars, checkpoint signals, the memory a
  network's fit holds and the low-memory choice (the epoch loops are methods).
* :mod:`._images` -- images as lists of (K0, P, Q) arrays, computed on demand, stacked back.
* :mod:`._checks` -- a layer's parameters checked and its connectivity resolved.
* :mod:`.io` -- save, load and checkpoints, and the schema model files are checked against.
* :mod:`.sampling` -- samples (Fig. 3) and the activation statistics they draw from.
"""
from ._images import LazyImages, as_image_list
from .io import FORMAT_VERSION, SettingsDiffer, TrainingSetDiffers, settings_differences
from .layer import DeconvLayer
from .network import MEMORY_BUDGET, DeconvNet
from .training import TrainingInterrupted, TrainingState

__all__ = ["DeconvLayer", "DeconvNet", "TrainingState", "TrainingInterrupted", "LazyImages",
           "as_image_list", "FORMAT_VERSION", "MEMORY_BUDGET", "SettingsDiffer",
           "TrainingSetDiffers", "settings_differences"]
