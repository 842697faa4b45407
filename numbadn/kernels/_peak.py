"""A short FMA loop to measure the machine's float32 peak (for ``numbadn bench``)."""
from __future__ import annotations

import numba
from numba import prange

from .._jit import JIT, PJIT


@numba.njit(**JIT)
def fma_loop(a, n, m, c):
    """``16 n len(a)`` fused multiply-adds on ``a`` in place.

    Each element runs a dependent chain of 16 FMAs per pass; the loop over
    elements is vectorised and the out-of-order core overlaps the chains of
    neighbouring elements, so the FMA units, not loads, set the speed.
    """
    for _ in range(n):
        for j in range(a.shape[0]):
            x = a[j]
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            x = x * m + c
            a[j] = x


@numba.njit(**PJIT)
def fma_loop_parallel(A, n, m, c):
    """:func:`fma_loop` on every row of ``A``. Parallel over: rows."""
    for t in prange(A.shape[0]):
        fma_loop(A[t], n, m, c)
