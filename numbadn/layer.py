"""Where :class:`DeconvLayer` used to live; it is in :mod:`numbadn.model.layer` now.

Kept so that ``from numbadn.layer import DeconvLayer`` goes on working."""
from .model._checks import (MAX_FILTER_BYTES, UPDATES, LazyImages,  # noqa: F401
                            as_image_list)
from .model._checks import stack_if_same as _stack_if_same  # noqa: F401
from .model.layer import DeconvLayer  # noqa: F401
from .model.training import TrainingState  # noqa: F401
from .model.training import _NoBar, progress as _progress  # noqa: F401

__all__ = ["DeconvLayer", "as_image_list", "LazyImages"]
