"""Conjugate gradient for the filter sub-problem (eq. 9), in numpy.

Every map problem (eq. 6, the top-down chain of eq. 10, the z0 maps) runs the njit
CG of :mod:`numbadn.kernels`.  The filter problem's operator is a sum over
images of different sizes (and, in :mod:`numbadn.distributed`, a Dask reduction
over workers), which no njit code can call, so its CG runs here; its numpy
arithmetic defines the trained filters bit for bit.
"""
from __future__ import annotations

import numpy as np


def cg(A, x, r, n_iter):
    """``n_iter`` CG steps on ``A x = b`` from ``x`` (in place), given ``r = b - A x``.

    Parameters
    ----------
    A : callable
        ``v -> A v`` for a symmetric positive (semi-)definite ``A``.
    x : ndarray
        Start; updated in place and returned.
    r : ndarray
        The residual ``b - A x`` at the start (overwritten).
    n_iter : int
        CG steps (each one product ``A v``).
    """
    t = x.dtype.type
    p = r.copy()
    rr = float(np.vdot(r, r))
    for _ in range(n_iter):
        if rr == 0.0:
            break
        Ap = A(p)
        pAp = float(np.vdot(p, Ap))
        if pAp <= 0.0:
            break
        a = rr / pAp
        x += t(a) * p
        r -= t(a) * Ap
        rr_new = float(np.vdot(r, r))
        p = r + t(rr_new / rr) * p
        rr = rr_new
    return x
