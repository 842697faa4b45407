"""One-layer solvers: the paper's continuation scheme and FISTA."""
from .options import ContinuationOptions, FistaOptions, SOLVERS  # noqa: F401
