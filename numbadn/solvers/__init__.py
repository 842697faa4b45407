"""One-layer solvers: the paper's continuation scheme and FISTA (eqs. 2-8), with
their options; the filter update (eq. 9) in :mod:`.filters`, the top-down problems
(eqs. 10-12) in :mod:`.topdown`, the z0 maps (section 3.3) in :mod:`.z0`."""
from .inference import IterationStats, cost, infer, infer_lowfreq  # noqa: F401
from .options import SOLVERS, ContinuationOptions, FistaOptions  # noqa: F401

__all__ = ["infer", "cost", "infer_lowfreq", "IterationStats", "ContinuationOptions",
           "FistaOptions", "SOLVERS"]
