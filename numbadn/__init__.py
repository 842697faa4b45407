"""numbadn: Deconvolutional Networks (Zeiler et al., CVPR 2010) with Numba."""
__version__ = "0.1.0"

from ._params import NotFittedError  # noqa: E402,F401
from .inference import IterationStats, cost, infer  # noqa: E402,F401
from .layer import DeconvLayer  # noqa: E402,F401
from .network import DeconvNet  # noqa: E402,F401
