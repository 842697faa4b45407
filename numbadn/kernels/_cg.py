"""Conjugate gradient, once, for every operator of :mod:`._linop`.

It solves ``(D^T D + alpha I) z = b``: the z sub-problem of eq. 6 (one layer's
``F``, ``alpha = beta / lambda``), its top-down twin on the chain of eq. 10, and the
z0 maps' normal equations of section 3.3 (``alpha = 0``).  The updates are fused
(one pass per step over the arrays) and the sums are per-map in a fixed order, so
results do not depend on the thread count.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np
from numba import prange

from .._jit import JIT, PJIT
from ._linop import gram, pad_for
from ._operator import vdot


@numba.njit(**JIT)
def _cg_update_map(z, r, p, Ap, q, a, alpha, track, k):
    zv = z[k].reshape(-1)
    rv = r[k].reshape(-1)
    pv = p[k].reshape(-1)
    Av = Ap[k].reshape(-1)
    at = zv.dtype.type(a)
    s = 0.0
    if track:  # one pass over the five arrays (the updates are memory-bound)
        qv = q[k].reshape(-1)
        al = zv.dtype.type(alpha)
        for i in range(zv.shape[0]):
            pi = pv[i]
            Ai = Av[i]
            zv[i] += at * pi
            qv[i] += at * (Ai - al * pi)
            ri = rv[i] - at * Ai
            rv[i] = ri
            s += ri * ri
    else:
        for i in range(zv.shape[0]):
            zv[i] += at * pv[i]
            ri = rv[i] - at * Av[i]
            rv[i] = ri
            s += ri * ri
    return s


@numba.njit(**PJIT)
def _cg_update_parallel(z, r, p, Ap, q, a, alpha, track, part):
    for k in prange(z.shape[0]):
        part[k] = _cg_update_map(z, r, p, Ap, q, a, alpha, track, k)


@numba.njit(**JIT)
def cg_update(z, r, p, Ap, q, a, alpha, track, part, par):
    """Fused CG update: ``z += a p; r -= a A p`` (and ``q += a (A p - alpha p)``
    with ``track``) in one pass; returns ``||r||^2`` (per-map sums, as :func:`vdot`)."""
    if par:
        _cg_update_parallel(z, r, p, Ap, q, a, alpha, track, part)
    else:
        for k in range(z.shape[0]):
            part[k] = _cg_update_map(z, r, p, Ap, q, a, alpha, track, k)
    s = 0.0
    for k in range(part.shape[0]):
        s += part[k]
    return s


@numba.njit(**JIT)
def _xpby_map(x, y, beta, k):
    xv = x[k].reshape(-1)
    yv = y[k].reshape(-1)
    bt = yv.dtype.type(beta)
    for i in range(xv.shape[0]):
        yv[i] = xv[i] + bt * yv[i]


@numba.njit(**PJIT)
def _xpby_parallel(x, y, beta):
    for k in prange(x.shape[0]):
        _xpby_map(x, y, beta, k)


@numba.njit(**JIT)
def xpby(x, y, beta, par):
    """``y = x + beta y`` (the CG direction update); parallel over maps when ``par``."""
    if par:
        _xpby_parallel(x, y, beta)
    else:
        for k in range(x.shape[0]):
            _xpby_map(x, y, beta, k)


#: Work arrays of one image's solve: ``rpad`` (the zero-bordered buffer of ``D z``),
#: CG's residual ``r``, direction ``pp`` and ``Ap``, and the tracked ``q = D^T D z``
#: (the continuation scheme keeps it; CG alone passes ``Ap`` and does not track).
Workspace = namedtuple("Workspace", ["rpad", "r", "pp", "Ap", "q"])


@numba.njit(**JIT)
def workspace(op, y, z):
    """A :class:`Workspace` for one image (``q`` zero, the rest uninitialised
    except ``rpad``'s zero border)."""
    return Workspace(pad_for(op, y, z), np.empty_like(z), np.empty_like(z), np.empty_like(z),
                     np.zeros_like(z))


@numba.njit(**JIT)
def cg_run(op, z, alpha, n_iter, tol2, rr, bb, ws, par, track):
    """CG steps on ``(D^T D + alpha I) z = b`` from ``r = b - A z``, ``p = r``
    (``ws.r``, ``ws.pp``), ``rr = ||r||^2`` and ``bb = ||b||^2`` (``b`` itself is
    not needed).

    Stops after ``n_iter`` steps or once ``rr <= tol2``.  With ``track``,
    ``ws.q = D^T D z`` is kept up to date along with ``z`` at no extra
    convolution (``q += a (A p - alpha p)``).  The direction is not updated
    after the last step (nothing reads it).  Returns ``sqrt(rr / bb)``.
    """
    rpad, r, p, Ap, q = ws
    part = np.empty(z.shape[0])
    for it in range(n_iter):
        if rr <= tol2 or rr == 0.0:
            break
        if alpha != 0.0:
            pAp = gram(op, p, Ap, rpad, alpha, par)
        else:
            gram(op, p, Ap, rpad, alpha, par)
            pAp = vdot(p, Ap, part, par)
        if pAp <= 0.0:
            break
        a = rr / pAp
        rr_new = cg_update(z, r, p, Ap, q, a, alpha, track, part, par)
        if it + 1 < n_iter:
            xpby(r, p, rr_new / rr, par)
        rr = rr_new
    return math.sqrt(rr / bb)


@numba.njit(**JIT)
def cg_solve(op, z, b, alpha, n_iter, tol, ws, par):
    """Conjugate gradient on ``(D^T D + alpha I) z = b`` (eq. 6 for one layer's ``F``), in place.

    Starts from the given ``z`` (warm start) and takes at most ``n_iter`` CG
    steps, stopping early once ``||b - A z|| <= tol ||b||``.  ``ws`` is a
    :class:`Workspace` (its ``q`` may be ``Ap``: nothing is tracked).  Costs
    ``n_iter + 1`` products ``A z``.

    Returns
    -------
    rel_res : float
        ``||b - A z|| / ||b||`` by the CG recursion (``||b - A z||`` itself
        when ``b = 0``).
    """
    gram(op, z, ws.Ap, ws.rpad, alpha, par)
    rv = ws.r.reshape(-1)
    bv = b.reshape(-1)
    Av = ws.Ap.reshape(-1)
    for i in range(rv.shape[0]):
        rv[i] = bv[i] - Av[i]
    ws.pp[...] = ws.r
    part = np.empty(z.shape[0])
    rr = vdot(ws.r, ws.r, part, par)
    bb = vdot(b, b, part, par)
    if bb == 0.0:
        bb = 1.0
    return cg_run(op, z, alpha, n_iter, tol * tol * bb, rr, bb, ws, par, False)
