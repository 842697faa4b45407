"""The x sub-problem of eq. 4: elementwise shrinkage.

For every element, ``x = argmin_x beta/2 (x - v)^2 + |x|^p``.

* ``p = 1``: soft thresholding at ``1/beta`` (eq. 8).
* ``0 < p < 1``: the lookup table of Krishnan & Fergus (NIPS 2009), the
  paper's ref. [11].  With ``s = beta^(-1/(2-p))``, substituting ``x = s u``
  and ``v = s w`` turns the cost into ``s^p (1/2 (u - w)^2 + |u|^p)``, so a
  single table ``u*(w)`` per ``p`` (at ``beta = 1``) serves every ``beta``:
  ``x*(v; beta) = s u*(v / s)``.  The table starts at the threshold ``w_t``
  below which ``x = 0`` is the global minimiser and is linearly interpolated;
  beyond its end the 1-D problem is solved directly by Newton's method.

Inputs are not validated.
"""
from __future__ import annotations


from collections import namedtuple

import numba
from numba import prange

from .._jit import JIT, PJIT

#: The normalised ``p < 1`` lookup table as the kernels take it: ``table[k]`` is the
#: nonzero minimiser at ``w = w_t + k dw``; ``w_t`` the threshold below which it is 0.
LpTable = namedtuple("LpTable", ["table", "w_t", "dw"])

#: The prior of eq. 2 as the solver drivers take it: the data weight ``lam``, the
#: exponent ``p`` of ``sum |z|^p`` and the :class:`LpTable` of ``p`` (a placeholder
#: for ``p = 1``, where eq. 8 needs none).
Prior = namedtuple("Prior", ["lam", "p", "table"])


@numba.njit(**JIT)
def lp_branch(w, p):
    """Local minimiser ``u > 0`` of ``1/2 (u - w)^2 + u^p`` for ``w > 0``.

    Newton's method on ``phi(u) = u - w + p u^(p-1)`` from ``u = w``; ``phi``
    is convex on ``u > 0`` so the iterates decrease monotonically to the
    largest root.  Returns 0.0 when no positive stationary point exists.
    """
    u = w
    for _ in range(100):
        up = u ** (p - 1.0)
        phi = u - w + p * up
        dphi = 1.0 + p * (p - 1.0) * up / u
        if dphi <= 0.0:
            return 0.0
        step = phi / dphi
        u_new = u - step
        if u_new <= 0.0:
            return 0.0
        if abs(step) <= 1e-14 * u_new:
            return u_new
        u = u_new
    return u


@numba.njit(**JIT)
def lp_exact(w, p):
    """Global minimiser ``u >= 0`` of ``1/2 (u - w)^2 + u^p`` for ``w >= 0``."""
    if w <= 0.0:
        return 0.0
    u = lp_branch(w, p)
    if u > 0.0 and 0.5 * (u - w) ** 2 + u ** p < 0.5 * w * w:
        return u
    return 0.0


@numba.njit(**JIT)
def lp_threshold(p):
    """``w_t``: for ``w > w_t`` the minimiser is nonzero (bisection)."""
    lo = 0.0
    hi = 1.0
    while lp_exact(hi, p) == 0.0:
        lo = hi
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if lp_exact(mid, p) == 0.0:
            lo = mid
        else:
            hi = mid
    return hi


@numba.njit(**PJIT)
def lp_build_table(p, w_t, dw, table):
    """``table[k] = u*(w_t + k dw)`` on the nonzero branch, at ``beta = 1``.

    Parallel over: table entries.
    """
    for k in prange(table.shape[0]):
        table[k] = lp_branch(w_t + k * dw, p)


@numba.njit(**JIT)
def lp_scaled(v, s, p, lpt):
    """Minimiser of ``beta/2 (x - v)^2 + |x|^p`` for one ``v``, given
    ``s = beta^(-1/(2-p))``, by interpolation in the :class:`LpTable` ``lpt``
    (direct Newton past its end).
    """
    table, w_t, dw = lpt.table, lpt.w_t, lpt.dw
    w = abs(v) / s
    if w <= w_t:
        return 0.0
    t = (w - w_t) / dw
    k = int(t)
    if k + 1 < table.shape[0]:
        u = table[k] + (t - k) * (table[k + 1] - table[k])
    else:
        u = lp_branch(w, p)
    return s * u if v > 0 else -s * u


@numba.njit(**JIT)
def shrink(z, beta, p, lpt, x):
    """``x = argmin beta/2 (x - z)^2 + |x|^p`` elementwise (eq. 8 / table).

    ``p == 1`` uses eq. 8 directly; the :class:`LpTable` ``lpt`` is ignored then.
    """
    zv = z.reshape(-1)
    xv = x.reshape(-1)
    if p == 1.0:
        th = zv.dtype.type(1.0 / beta)
        zero = zv.dtype.type(0.0)
        for i in range(zv.shape[0]):
            v = zv[i]
            if v > th:
                xv[i] = v - th
            elif v < -th:
                xv[i] = v + th
            else:
                xv[i] = zero
    else:
        s = beta ** (-1.0 / (2.0 - p))
        for i in range(zv.shape[0]):
            xv[i] = lp_scaled(zv[i], s, p, lpt)
