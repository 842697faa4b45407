"""One home for numba settings and thread control.

Every kernel in :mod:`numbadn.kernels` is compiled with :data:`JIT` (serial) or
:data:`PJIT` (``parallel=True``): ``cache=True`` so a fresh process loads
machine code from disk, ``nogil=True`` so Python threads can run kernels side
by side.  ``fastmath`` is limited to the flags that allow re-association and
contraction into FMA (``contract``, ``reassoc``, ``nsz``, ``arcp``); ``nnan``
and ``ninf`` stay off so that NaN checks remain honest.
"""
from __future__ import annotations

import contextlib

import numba

FASTMATH = {"contract", "reassoc", "nsz", "arcp"}

JIT = dict(cache=True, nogil=True, fastmath=FASTMATH)
PJIT = dict(cache=True, nogil=True, fastmath=FASTMATH, parallel=True)


def max_threads() -> int:
    """Largest thread count numba may use (``NUMBA_NUM_THREADS``)."""
    return numba.config.NUMBA_NUM_THREADS


@contextlib.contextmanager
def threads(n: int | None):
    """Run the body with ``n`` numba threads (``None``: leave as is).

    The previous count is restored afterwards, even on error.
    """
    if n is None:
        yield numba.get_num_threads()
        return
    n = int(n)
    if n < 1:
        raise ValueError(f"n_threads must be a positive integer, got {n}")
    n = min(n, max_threads())
    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(old)
