"""numbadn: Deconvolutional Networks (Zeiler et al., CVPR 2010) with Numba."""
__version__ = "0.1.0"

from ._params import NotFittedError  # noqa: E402,F401
from .solvers import Continuation, Fista, IterationStats, cost, infer  # noqa: E402,F401
from .model import DeconvLayer, DeconvNet  # noqa: E402,F401
