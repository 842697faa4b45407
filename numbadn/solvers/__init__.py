"""One-layer solvers: the paper's continuation scheme and FISTA (eqs. 2-8) as
solver objects (:class:`Continuation`, :class:`Fista`; :func:`make_solver` takes a
name or an object); the filter update (eq. 9) in :mod:`.filters`, the top-down
problems (eqs. 10-12) in :mod:`.topdown`, the z0 maps (section 3.3) in :mod:`.z0`."""
from .inference import cost, infer, infer_lowfreq  # noqa: F401
from .options import (SOLVERS, Continuation, Fista, Prior, make_prior,  # noqa: F401
                      make_solver)
from .stats import IterationStats  # noqa: F401

__all__ = ["infer", "cost", "infer_lowfreq", "IterationStats", "Continuation", "Fista",
           "Prior", "make_prior", "make_solver", "SOLVERS"]
