"""The solver drivers: the continuation scheme (eqs. 4-8) and FISTA, once each.

``op`` is any operator of :mod:`._linop`: one layer's :class:`Operator` (eq. 2/3),
or the top-down :class:`~numbadn.kernels._linop.Chain` of eq. 10; numba compiles a
driver per operator kind.  ``ws`` is the :class:`~numbadn.kernels._cg.Workspace`
``(rpad, r, pp, Ap, q)`` of :func:`workspace`; FISTA's is :class:`FistaWork`.
``par`` selects the parallel kernels (one image at
a time) or the serial ones (inside the batch kernels, which are parallel over images).
``monitor`` is ``None`` (the fast path) or a handle of :mod:`._hook`: statistics,
callbacks and the z0 alternation run from the same loop.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np
from numba import prange

from .._jit import JIT, PJIT
from ._cg import cg_run, workspace
from ._hook import notify
from ._linop import adjoint, border, forward, forward_combo, gram, pad_for
from ._operator import dot, residual_norm2, sub_interior
from ._shrink import lp_scaled


#: Largest fraction of nonzeros for which FISTA's ``F v`` scatters the nonzeros
#: instead of running the dense convolution (measured break-even: see the note
#: in reproduce/sec45_timings.py's output; 1% is well on the cheap side).
SPARSE_DENSITY = 0.01


@numba.njit(**JIT)
def continuation_start(op, y, z, FTy, ws, par):
    """``FTy = D^T y`` and ``q = D^T D z`` (zero for a zero start) before the beta loop."""
    adjoint_of_input(op, y, FTy, ws.rpad, par)
    q = ws.q
    if dot(z, z) > 0.0:
        gram(op, z, q, ws.rpad, 0.0, par)
    else:
        q[...] = 0.0


@numba.njit(**JIT)
def sum_abs_p(z, p):
    """``sum |z|^p`` (float64)."""
    zv = z.reshape(-1)
    s = 0.0
    if p == 1.0:
        for i in range(zv.shape[0]):
            s += abs(zv[i])
    else:
        for i in range(zv.shape[0]):
            a = abs(zv[i])
            if a > 0.0:
                s += a ** p
    return s


@numba.njit(**JIT)
def count_nonzero(z):
    zv = z.reshape(-1)
    n = 0
    for i in range(zv.shape[0]):
        if zv[i] != 0.0:
            n += 1
    return n


@numba.njit(**JIT)
def cost(op, y, z, lam, p, rpad, par):
    """Eq. 2/3 (eq. 10 for a chain) for one image: ``lam/2 ||D z - y||^2 + sum |z|^p``."""
    forward(op, z, rpad, par)
    h1, w1 = border(op)
    return 0.5 * lam * residual_norm2(rpad, y, h1, w1) + sum_abs_p(z, p)


@numba.njit(**JIT)
def adjoint_of_input(op, y, out, rpad, par):
    """``out = D^T y`` (the constant part of eq. 6's right-hand side)."""
    h1, w1 = border(op)
    P = y.shape[1]
    Q = y.shape[2]
    for c in range(y.shape[0]):
        for i in range(P):
            rpad[c, h1 + i, w1:w1 + Q] = y[c, i]
    adjoint(op, rpad, out, par)


# ------------------------------------------------------------ continuation
@numba.njit(**JIT)
def _shrink_residual_map(z, FTy, q, alpha, beta, p, lpt, r, pp, part, k):
    """Map ``k`` of :func:`shrink_residual`; ``part[k] = (||r_k||^2, ||b_k||^2)``."""
    zv = z[k].reshape(-1)
    fv = FTy[k].reshape(-1)
    qv = q[k].reshape(-1)
    rv = r[k].reshape(-1)
    pv = pp[k].reshape(-1)
    a = zv.dtype.type(alpha)
    rr = 0.0
    bb = 0.0
    p1 = p == 1.0  # loop-invariant: LLVM unswitches, the p = 1 copy stays vectorised
    th = zv.dtype.type(1.0 / beta)
    s = 1.0 if p1 else beta ** (-1.0 / (2.0 - p))
    for i in range(zv.shape[0]):
        v = zv[i]
        if p1:
            x = v - min(max(v, -th), th)  # eq. 8, branch-free
        else:
            x = zv.dtype.type(lp_scaled(v, s, p, lpt))
        bi = fv[i] + a * x
        ri = bi - qv[i] - a * v
        rv[i] = ri
        pv[i] = ri
        rr += ri * ri
        bb += bi * bi
    part[k, 0] = rr
    part[k, 1] = bb


@numba.njit(**PJIT)
def _shrink_residual_parallel(z, FTy, q, alpha, beta, p, lpt, r, pp, part):
    for k in prange(z.shape[0]):
        _shrink_residual_map(z, FTy, q, alpha, beta, p, lpt, r, pp, part, k)


@numba.njit(**JIT)
def shrink_residual(z, FTy, q, alpha, beta, p, lpt, r, pp, par):
    """The x sub-problem and the start of CG on eq. 6, in one pass over the maps.

    ``x = argmin beta/2 (x - z)^2 + |x|^p`` (eq. 8 or the p < 1 table), the
    right-hand side ``b = D^T y + alpha x`` and the residual ``r = b - A z =
    b - q - alpha z`` (``q = D^T D z``); ``pp = r``.  Neither ``x`` nor ``b`` is
    stored: CG needs only ``r`` and the norms.  Per-map sums added in a fixed
    order (the result does not depend on ``par`` or the thread count).

    Returns ``(||r||^2, ||b||^2)``.
    """
    part = np.empty((z.shape[0], 2))
    if par:
        _shrink_residual_parallel(z, FTy, q, alpha, beta, p, lpt, r, pp, part)
    else:
        for k in range(z.shape[0]):
            _shrink_residual_map(z, FTy, q, alpha, beta, p, lpt, r, pp, part, k)
    rr = 0.0
    bb = 0.0
    for k in range(z.shape[0]):
        rr += part[k, 0]
        bb += part[k, 1]
    return rr, bb


@numba.njit(**JIT)
def continuation_step(op, FTy, z, beta, lam, p, lpt,
                      inner_iters, cg_iters, ws, par):
    """One value of beta of the continuation scheme (Algorithm 1, lines 6-7).

    ``inner_iters`` times: the x sub-problem (eq. 8 or the p < 1 table), then
    ``cg_iters`` CG steps on eq. 6, ``(D^T D + beta/lam I) z = D^T y +
    beta/lam x``, warm-started from the current ``z``.  Returns the last CG
    relative residual.  ``ws.q`` must hold ``D^T D z`` on entry (see
    :func:`continuation_start`); it is kept up to date, so the CG start needs
    no convolution, and the x step, right-hand side and CG start are one pass
    (:func:`shrink_residual`).
    """
    alpha = beta / lam
    res = 0.0
    for _ in range(inner_iters):
        rr, bb = shrink_residual(z, FTy, ws.q, alpha, beta, p, lpt, ws.r, ws.pp, par)
        if bb == 0.0:
            bb = 1.0
        res = cg_run(op, z, alpha, cg_iters, 0.0, rr, bb, ws, par, True)
    return res


@numba.njit(**JIT)
def continuation_solve(op, y, z, betas, lam, p, lpt,
                       inner_iters, cg_iters, par, ws, FTy, monitor):
    """The whole continuation scheme for one image, in place on ``z``.

    ``ws`` (:func:`workspace`) and ``FTy`` (shaped like ``z``) are work arrays
    the caller may keep between calls: allocating and first-touching six
    map-sized arrays is a visible part of a solve.  With a ``monitor``, it is
    called after the start (iteration 0, CG residual NaN) and after each beta
    step (the step's last CG residual); it may change ``FTy`` (the data term).
    Returns the last CG relative residual.
    """
    continuation_start(op, y, z, FTy, ws, par)
    res = 0.0
    if monitor is not None:
        if notify(monitor, 0, math.nan):
            return res
    for bi in range(betas.shape[0]):
        res = continuation_step(op, FTy, z, betas[bi], lam, p, lpt,
                                inner_iters, cg_iters, ws, par)
        if monitor is not None:
            if notify(monitor, bi + 1, res):
                break
    return res


@numba.njit(**PJIT)
def continuation_batch(op, Y, Z, betas, lam, p, lpt, inner_iters, cg_iters,
                       n_chunks):
    """:func:`continuation_solve` for a batch of same-sized images.

    Parallel over: ``n_chunks`` chunks of images (chunk ``t`` takes images
    ``t, t + n_chunks, ...``; pass the thread count), each chunk with one set
    of work arrays, so nothing is allocated inside the loop over images.
    """
    for t in prange(n_chunks):
        ws = workspace(op, Y[t], Z[t])
        FTy = np.empty_like(Z[t])
        for n in range(t, Y.shape[0], n_chunks):
            continuation_solve(op, Y[n], Z[n], betas, lam, p, lpt,
                               inner_iters, cg_iters, False, ws, FTy, None)


# ------------------------------------------------------------ FISTA
@numba.njit(**JIT)
def fista_step(op, y, z, work, L, lam, p, lpt, t, m, restart, par):
    """One FISTA iteration (Beck & Teboulle 2009) on eq. 2.

    The extrapolated point is ``v = z + m (z - zprev)`` (``m``: the momentum
    the previous step returned; 0 at the start).  Gradient step on the data
    term ``lam/2 ||F v - y||^2`` with step ``1/L`` (``L = lam ||F||^2``), then
    the proximal step of ``|.|^p`` (eq. 8 or the table with ``beta = L``).
    With ``restart``, momentum is reset whenever it points uphill (O'Donoghue
    & Candes 2015, gradient scheme).  Beyond the paper, ``F v`` exploits the
    sparsity of the iterates: while ``z`` and ``zprev`` together have at most
    ``SPARSE_DENSITY`` nonzeros it scatters them (``F v = (1 + m) F z - m F
    zprev``, :func:`numbadn.kernels._operator.apply_F_combo`) and ``v`` is
    never formed; otherwise ``v`` is formed in the buffer ``work.v``.
    ``work`` is the :class:`FistaWork` of :func:`fista_work`, ``work.zprev``
    the previous iterate.

    Returns ``(t_next, ||z - zprev|| / ||z||, m_next)``.
    """
    rpad, zprev, v, grad = work
    h1, w1 = border(op)
    forward_combo(op, z, 1.0 + m, zprev, -m, v, rpad, par, SPARSE_DENSITY)
    sub_interior(rpad, y, h1, w1)
    adjoint(op, rpad, grad, par)
    K = z.shape[0]
    part = np.empty((K, 3))
    step = lam / L
    if par:
        _fista_prox_parallel(z, zprev, grad, m, step, L, p, lpt, part)
    else:
        for k in range(K):
            _fista_prox_map(z, zprev, grad, m, step, L, p, lpt, part, k)
    dd = 0.0
    up = 0.0
    zz = 0.0
    for k in range(K):
        dd += part[k, 0]
        up += part[k, 1]
        zz += part[k, 2]
    t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
    if restart and up > 0.0:
        t_next = 1.0
        m_next = 0.0
    else:
        m_next = (t - 1.0) / t_next
    return t_next, math.sqrt(dd / zz) if zz > 0.0 else math.sqrt(dd), m_next


@numba.njit(**JIT)
def _fista_prox_map(z, zprev, grad, m, step, L, p, lpt, part, k):
    """Map k: ``v = z + m (z - zprev)``; ``zprev = z; z = prox(v - step grad)``;
    partial sums of ``||z - zprev||^2``, ``<v - z, z - zprev>`` and ``||z||^2``.

    For ``p = 1`` one branch-free, vectorised pass (soft threshold as
    ``max(x - th, 0) + min(x + th, 0)``, sums in the arrays' dtype: they only
    steer the stopping test and the restart); for ``p < 1`` the table.
    """
    zv = z[k].reshape(-1)
    pv = zprev[k].reshape(-1)
    gv = grad[k].reshape(-1)
    dt = zv.dtype.type
    st = dt(step)
    mt = dt(m)
    zero = dt(0)
    dd = zero
    up = zero
    zz = zero
    p1 = p == 1.0  # loop-invariant: LLVM unswitches, the p = 1 copy stays vectorised
    th = dt(1.0 / L)
    s = 1.0 if p1 else L ** (-1.0 / (2.0 - p))
    for i in range(zv.shape[0]):
        zp = zv[i]
        vi = zp + mt * (zp - pv[i])
        x = vi - st * gv[i]
        if p1:
            x = max(x - th, zero) + min(x + th, zero)
        else:
            x = dt(lp_scaled(x, s, p, lpt))
        zv[i] = x
        pv[i] = zp
        d = x - zp
        dd += d * d
        up += (vi - x) * d
        zz += x * x
    part[k, 0] = dd
    part[k, 1] = up
    part[k, 2] = zz


@numba.njit(**PJIT)
def _fista_prox_parallel(z, zprev, grad, m, step, L, p, lpt, part):
    for k in prange(z.shape[0]):
        _fista_prox_map(z, zprev, grad, m, step, L, p, lpt, part, k)


#: FISTA's work arrays: ``rpad`` (the zero-bordered buffer of ``D v``), the previous
#: iterate ``zprev``, the extrapolated point ``v`` and the gradient ``grad``.
FistaWork = namedtuple("FistaWork", ["rpad", "zprev", "v", "grad"])


@numba.njit(**JIT)
def fista_work(op, y, z):
    """A :class:`FistaWork` for :func:`fista_run` (uninitialised but ``rpad``'s border)."""
    return FistaWork(pad_for(op, y, z), np.empty_like(z), np.empty_like(z), np.empty_like(z))


@numba.njit(**JIT)
def fista_run(op, y, z, L, lam, p, lpt, max_iter, tol, restart, par, work, monitor):
    """FISTA to convergence for one image, in place on ``z``, with the work
    arrays of :func:`fista_work` (reusable: the border of ``rpad`` stays zero).

    Stops after ``max_iter`` iterations or once ``||z - zprev|| <= tol ||z||``.
    With a ``monitor``, it is called before the first iteration (iteration 0)
    and after each one (CG residual NaN).  Returns the iterations.
    """
    work.zprev[...] = z
    t = 1.0
    m = 0.0
    if monitor is not None:
        if notify(monitor, 0, math.nan):
            return 0
    for it in range(max_iter):
        t, change, m = fista_step(op, y, z, work, L, lam, p, lpt, t, m, restart, par)
        if monitor is not None:
            if notify(monitor, it + 1, math.nan):
                return it + 1
        if change <= tol:
            return it + 1
    return max_iter


@numba.njit(**JIT)
def fista_solve(op, y, z, L, lam, p, lpt, max_iter, tol, restart, par):
    """FISTA to convergence for one image, in place on ``z``; returns iterations."""
    return fista_run(op, y, z, L, lam, p, lpt, max_iter, tol, restart, par,
                     fista_work(op, y, z), None)


@numba.njit(**PJIT)
def fista_batch(op, Y, Z, L, lam, p, lpt, max_iter, tol, restart, n_chunks):
    """:func:`fista_solve` for a batch of same-sized images. Parallel over:
    ``n_chunks`` chunks of images, one set of work arrays each (as
    :func:`continuation_batch`)."""
    for t in prange(n_chunks):
        work = fista_work(op, Y[t], Z[t])
        for n in range(t, Y.shape[0], n_chunks):
            fista_run(op, Y[n], Z[n], L, lam, p, lpt, max_iter, tol, restart,
                      False, work, None)


@numba.njit(**PJIT)
def cost_batch(op, Y, Z, lam, p, out):
    """:func:`cost` per image. Parallel over: images."""
    for n in prange(Y.shape[0]):
        out[n] = cost(op, Y[n], Z[n], lam, p, pad_for(op, Y[n], Z[n]), False)
