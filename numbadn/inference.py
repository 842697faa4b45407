"""Where ``infer`` and ``cost`` used to live; they are in
:mod:`numbadn.solvers.inference` now (``numbadn.infer``, ``numbadn.solvers.infer``).

Kept so that ``from numbadn.inference import infer`` goes on working."""
from .solvers.inference import (_SPECTRAL_CACHE_SIZE, IterationStats,  # noqa: F401
                                _spectral_cached, batch_split, cost, infer, infer_lowfreq)

__all__ = ["infer", "cost", "IterationStats"]
