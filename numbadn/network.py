"""Where :class:`DeconvNet` used to live; it is in :mod:`numbadn.model.network` now
(files in :mod:`numbadn.model.io`, samples in :mod:`numbadn.model.sampling`).

Kept so that ``from numbadn.network import DeconvNet`` goes on working."""
from .model.io import (FORMAT_VERSION, SettingsDiffer, TrainingSetDiffers,  # noqa: F401
                       image_ids, settings_differences)
from .model.network import MEMORY_BUDGET, DeconvNet  # noqa: F401
from .model.sampling import N_BINS, SAMPLE_KEEP, STATS_SAMPLE  # noqa: F401
from .model.sampling import ActivationStats as _ActivationStats  # noqa: F401
from .model.training import TrainingInterrupted  # noqa: F401

__all__ = ["DeconvNet", "FORMAT_VERSION"]
