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
from ._shrink import LpTable, Prior, lp_scaled


#: Largest fraction of nonzeros for which FISTA's ``F v`` scatters the nonzeros
#: instead of running the dense convolution (measured break-even: see the note
#: in reproduce/sec45_timings.py's output; 1% is well on the cheap side).
SPARSE_DENSITY = 0.01

#: The continuation scheme's settings as :func:`continuation_solve` takes them:
#: the beta values (float64 array), x/z alternations per beta, CG steps per z step.
ContinuationPlan = namedtuple("ContinuationPlan", ["betas", "inner_iters", "cg_iters"])
#: FISTA's settings as :func:`fista_run` takes them: the step bound ``L`` (the start
#: of the search with ``backtrack``), iterations at most, the relative-change
#: tolerance, adaptive restart and backtracking (both bool).
FistaPlan = namedtuple("FistaPlan", ["L", "max_iter", "tol", "restart", "backtrack"])


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
def cost(op, y, z, prior, rpad, par):
    """Eq. 2/3 (eq. 10 for a chain) for one image: ``lam/2 ||D z - y||^2 + sum |z|^p``
    (``lam``, ``p`` of the :class:`~numbadn.kernels._shrink.Prior` ``prior``)."""
    forward(op, z, rpad, par)
    h1, w1 = border(op)
    return 0.5 * prior.lam * residual_norm2(rpad, y, h1, w1) + sum_abs_p(z, prior.p)


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
def continuation_solve(op, y, z, prior, plan, ws, FTy, monitor, par):
    """The whole continuation scheme for one image, in place on ``z``, with the
    :class:`~numbadn.kernels._shrink.Prior` ``prior`` and the
    :class:`ContinuationPlan` ``plan`` (the beta schedule and iteration counts).

    ``ws`` (:func:`workspace`) and ``FTy`` (shaped like ``z``) are work arrays
    the caller may keep between calls: allocating and first-touching six
    map-sized arrays is a visible part of a solve.  With a ``monitor``, it is
    called after the start (iteration 0, CG residual NaN) and after each beta
    step (the step's last CG residual); it may change ``FTy`` (the data term).
    Returns the last CG relative residual.
    """
    lam, p, lpt = prior.lam, prior.p, prior.table
    betas, inner_iters, cg_iters = plan
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


@numba.njit(**JIT)
def _continuation_chunk(op, Y, Z, lam, p, lpt, betas, inner_iters, cg_iters, t, n_chunks):
    """Images ``t, t + n_chunks, ...`` of :func:`continuation_batch` with one set of
    work arrays (the prior and plan put together here, see
    :func:`continuation_batch`)."""
    prior = Prior(lam, p, lpt)
    plan = ContinuationPlan(betas, inner_iters, cg_iters)
    ws = workspace(op, Y[t], Z[t])
    FTy = np.empty_like(Z[t])
    for n in range(t, Y.shape[0], n_chunks):
        continuation_solve(op, Y[n], Z[n], prior, plan, ws, FTy, None, False)


@numba.njit(**PJIT)
def continuation_batch(op, Y, Z, prior, plan, n_chunks):
    """:func:`continuation_solve` for a batch of same-sized images.

    Parallel over: ``n_chunks`` chunks of images (chunk ``t`` takes images
    ``t, t + n_chunks, ...``; pass the thread count), each chunk with one set
    of work arrays, so nothing is allocated inside the loop over images.
    """
    # a parallel loop takes a named tuple only as an argument or built by a call
    # (not nested in another, not read from an attribute): the prior in parts
    lam = prior.lam
    p = prior.p
    lpt = LpTable(prior.table.table, prior.table.w_t, prior.table.dw)
    betas = plan.betas
    inner_iters = plan.inner_iters
    cg_iters = plan.cg_iters
    for t in prange(n_chunks):
        _continuation_chunk(op, Y, Z, lam, p, lpt, betas, inner_iters, cg_iters, t, n_chunks)


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
    rpad, zprev, v, grad = work.rpad, work.zprev, work.v, work.grad
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
#: iterate ``zprev``, the extrapolated point ``v`` (with backtracking: the trial point)
#: and the gradient ``grad``; for backtracking also ``Fz``, ``Fzp`` and ``Fx``, the
#: images ``D z``, ``D zprev`` and ``D x`` of the iterates (shaped like ``y``).
FistaWork = namedtuple("FistaWork", ["rpad", "zprev", "v", "grad", "Fz", "Fzp", "Fx"])


@numba.njit(**JIT)
def fista_work(op, y, z):
    """A :class:`FistaWork` for :func:`fista_run` (uninitialised but ``rpad``'s border)."""
    return FistaWork(pad_for(op, y, z), np.empty_like(z), np.empty_like(z), np.empty_like(z),
                     np.empty_like(y), np.empty_like(y), np.empty_like(y))


# ------------------------------------------------------------ FISTA with backtracking
#: Backtracking (Beck & Teboulle 2009, section 4): ``L`` grows by this factor until
#: the quadratic upper bound holds at the trial point.
BACKTRACK_ETA = 2.0
#: Relative slack of that test (float32 rounding of ``||D x - y||^2``).
BACKTRACK_SLACK = 1e-6
#: ``L`` stops growing at this multiple of its start (a NaN test must not loop forever).
BACKTRACK_MAX = 1e12


@numba.njit(**JIT)
def _residual_combo(rpad, Fz, a, Fzp, b, y, h1, w1):
    """``rpad[interior] = a Fz + b Fzp - y`` (``D v - y`` by linearity); returns
    ``||D v - y||^2`` (float64, per row in the dtype)."""
    at = Fz.dtype.type(a)
    bt = Fz.dtype.type(b)
    s = 0.0
    for c in range(y.shape[0]):
        for i in range(y.shape[1]):
            row = rpad[c, h1 + i, w1:w1 + y.shape[2]]
            fr = Fz[c, i]
            pr = Fzp[c, i]
            yr = y[c, i]
            acc = Fz.dtype.type(0)
            for j in range(y.shape[2]):
                d = at * fr[j] + bt * pr[j] - yr[j]
                row[j] = d
                acc += d * d
            s += float(acc)
    return s


@numba.njit(**JIT)
def _take_image(rpad, Fx, y, h1, w1):
    """``Fx = rpad[interior]``; returns ``||Fx - y||^2`` (float64, per row in the dtype)."""
    s = 0.0
    for c in range(y.shape[0]):
        for i in range(y.shape[1]):
            row = rpad[c, h1 + i, w1:w1 + y.shape[2]]
            xr = Fx[c, i]
            yr = y[c, i]
            acc = Fx.dtype.type(0)
            for j in range(y.shape[2]):
                xr[j] = row[j]
                d = row[j] - yr[j]
                acc += d * d
            s += float(acc)
    return s


@numba.njit(**JIT)
def _trial_map(z, zprev, grad, x, m, step, L, p, lpt, part, k):
    """Map k of the trial point: ``v = z + m (z - zprev)``, ``x = prox(v - step grad)``
    (written to ``x``; ``z`` and ``zprev`` are kept for another trial); partial sums
    of ``||x - z||^2``, ``<v - x, x - z>``, ``||x||^2``, ``<grad, x - v>`` and
    ``||x - v||^2`` in the arrays' dtype (vector lanes), as :func:`_fista_prox_map`."""
    zv = z[k].reshape(-1)
    pv = zprev[k].reshape(-1)
    gv = grad[k].reshape(-1)
    xv = x[k].reshape(-1)
    dt = zv.dtype.type
    st = dt(step)
    mt = dt(m)
    zero = dt(0)
    dd = zero
    up = zero
    zz = zero
    gd = zero
    vv = zero
    p1 = p == 1.0
    th = dt(1.0 / L)
    s = 1.0 if p1 else L ** (-1.0 / (2.0 - p))
    for i in range(zv.shape[0]):
        zi = zv[i]
        vi = zi + mt * (zi - pv[i])
        gi = gv[i]
        u = vi - st * gi
        if p1:
            u = max(u - th, zero) + min(u + th, zero)
        else:
            u = dt(lp_scaled(u, s, p, lpt))
        xv[i] = u
        d = u - zi
        e = u - vi
        dd += d * d
        up -= e * d
        zz += u * u
        gd += gi * e
        vv += e * e
    part[k, 0] = dd
    part[k, 1] = up
    part[k, 2] = zz
    part[k, 3] = gd
    part[k, 4] = vv


@numba.njit(**PJIT)
def _trial_parallel(z, zprev, grad, x, m, step, L, p, lpt, part):
    for k in prange(z.shape[0]):
        _trial_map(z, zprev, grad, x, m, step, L, p, lpt, part, k)


@numba.njit(**JIT)
def fista_bt_run(op, y, z, prior, plan, work, monitor, par):
    """FISTA with backtracking (Beck & Teboulle 2009, section 4, "FISTA with
    backtracking") on eq. 2, in place on ``z``, from the step bound ``L0``.

    Each iteration: ``D v - y`` by linearity from ``D z`` and ``D zprev`` (no
    forward pass), one adjoint pass for the gradient, then trial points ``x =
    prox_{1/L}(v - lam/L D^T (D v - y))`` with one forward pass each (sparse maps
    are scattered, as :func:`fista_step`) until

    .. math:: f(x) \\le f(v) + \\langle \\nabla f(v), x - v \\rangle + \\tfrac{L}{2} \\|x - v\\|^2,
              \\quad f = \\tfrac{\\lambda}{2} \\|D \\cdot - y\\|^2,

    ``L`` growing by :data:`BACKTRACK_ETA` (it never shrinks).  The accepted ``D x``
    is kept for the next iterations, so a step costs one ``D`` and one ``D^T``
    pass plus one ``D`` per rejected trial: the same as :func:`fista_step` when
    none is rejected, with steps as long as the local curvature allows
    (``benchmarks/fista_variants.py`` measures the products).  Restart and
    stopping as :func:`fista_run`; ``plan.L`` is the start ``L0``.  Returns
    ``(iterations, forward passes)``.
    """
    lam, p, lpt = prior.lam, prior.p, prior.table
    L0, max_iter, tol, restart = plan.L, plan.max_iter, plan.tol, plan.restart
    rpad = work.rpad
    h1, w1 = border(op)
    K = z.shape[0]
    part = np.empty((K, 5))
    bufs = (z, work.zprev, work.v)  # current, previous, trial: they rotate
    imgs = (work.Fz, work.Fzp, work.Fx)
    ic, ip, ix = 0, 1, 2
    zc, zp, xb = bufs[ic], bufs[ip], bufs[ix]
    Fz, Fzp, Fx = imgs[ic], imgs[ip], imgs[ix]
    zp[...] = z
    forward_combo(op, z, 1.0, z, 0.0, xb, rpad, par, SPARSE_DENSITY)
    _take_image(rpad, Fz, y, h1, w1)
    Fzp[...] = Fz
    n_fwd = 1
    L = L0
    t = 1.0
    m = 0.0
    it_done = max_iter
    if monitor is not None:
        if notify(monitor, 0, math.nan):
            return 0, n_fwd
    for it in range(max_iter):
        fv = 0.5 * lam * _residual_combo(rpad, Fz, 1.0 + m, Fzp, -m, y, h1, w1)
        adjoint(op, rpad, work.grad, par)
        while True:
            if par:
                _trial_parallel(zc, zp, work.grad, xb, m, lam / L, L, p, lpt, part)
            else:
                for k in range(K):
                    _trial_map(zc, zp, work.grad, xb, m, lam / L, L, p, lpt, part, k)
            dd = 0.0
            up = 0.0
            zz = 0.0
            gd = 0.0
            vv = 0.0
            for k in range(K):
                dd += part[k, 0]
                up += part[k, 1]
                zz += part[k, 2]
                gd += part[k, 3]
                vv += part[k, 4]
            forward_combo(op, xb, 1.0, xb, 0.0, xb, rpad, par, SPARSE_DENSITY)
            n_fwd += 1
            fx = 0.5 * lam * _take_image(rpad, Fx, y, h1, w1)
            bound = fv + lam * gd + 0.5 * L * vv
            if fx <= bound + BACKTRACK_SLACK * abs(bound) or vv == 0.0 or L > BACKTRACK_MAX * L0:
                break
            L *= BACKTRACK_ETA
        # accept: zprev <- z, z <- x (three buffers rotate, as do their images)
        if monitor is None:
            ip, ic, ix = ic, ix, ip
            zc, zp, xb = bufs[ic], bufs[ip], bufs[ix]
            Fz, Fzp, Fx = imgs[ic], imgs[ip], imgs[ix]
        else:  # the monitor reads z: the iterate stays there (copies, not rotation)
            zp[...] = zc
            zc[...] = xb
            Fzp[...] = Fz
            Fz[...] = Fx
        t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
        if restart and up > 0.0:
            t_next = 1.0
            m = 0.0
        else:
            m = (t - 1.0) / t_next
        t = t_next
        change = math.sqrt(dd / zz) if zz > 0.0 else math.sqrt(dd)
        if monitor is not None:
            if notify(monitor, it + 1, math.nan):
                it_done = it + 1
                break
        if change <= tol:
            it_done = it + 1
            break
    if ic != 0:
        z[...] = zc
    return it_done, n_fwd


@numba.njit(**JIT)
def fista_run(op, y, z, prior, plan, work, monitor, par):
    """FISTA to convergence for one image, in place on ``z``, with the
    :class:`~numbadn.kernels._shrink.Prior` ``prior``, the :class:`FistaPlan`
    ``plan`` and the work arrays of :func:`fista_work` (reusable: the border of
    ``rpad`` stays zero).

    With ``plan.backtrack``, :func:`fista_bt_run` from the step bound ``plan.L``;
    else the fixed step ``1/L`` (:func:`fista_step`).  Stops after ``max_iter``
    iterations or once ``||z - zprev|| <= tol ||z||``.  With a ``monitor``, it is
    called before the first iteration (iteration 0) and after each one (CG
    residual NaN).  Returns the iterations.
    """
    if plan.backtrack:
        return fista_bt_run(op, y, z, prior, plan, work, monitor, par)[0]
    lam, p, lpt = prior.lam, prior.p, prior.table
    L, max_iter, tol, restart = plan.L, plan.max_iter, plan.tol, plan.restart
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
def fista_solve(op, y, z, prior, plan, par):
    """FISTA to convergence for one image, in place on ``z``; returns iterations."""
    return fista_run(op, y, z, prior, plan, fista_work(op, y, z), None, par)


@numba.njit(**JIT)
def _fista_chunk(op, Y, Z, lam, p, lpt, L, max_iter, tol, restart, backtrack, t, n_chunks):
    """Images ``t, t + n_chunks, ...`` of :func:`fista_batch` (as
    :func:`_continuation_chunk`)."""
    prior = Prior(lam, p, lpt)
    plan = FistaPlan(L, max_iter, tol, restart, backtrack)
    work = fista_work(op, Y[t], Z[t])
    for n in range(t, Y.shape[0], n_chunks):
        fista_run(op, Y[n], Z[n], prior, plan, work, None, False)


@numba.njit(**PJIT)
def fista_batch(op, Y, Z, prior, plan, n_chunks):
    """:func:`fista_solve` for a batch of same-sized images. Parallel over:
    ``n_chunks`` chunks of images, one set of work arrays each (as
    :func:`continuation_batch`)."""
    # a parallel loop takes a named tuple only as an argument or built by a call
    # (not nested in another, not read from an attribute): the prior in parts
    lam = prior.lam
    p = prior.p
    lpt = LpTable(prior.table.table, prior.table.w_t, prior.table.dw)
    L = plan.L
    max_iter = plan.max_iter
    tol = plan.tol
    restart = plan.restart
    backtrack = plan.backtrack
    for t in prange(n_chunks):
        _fista_chunk(op, Y, Z, lam, p, lpt, L, max_iter, tol, restart, backtrack, t, n_chunks)


@numba.njit(**JIT)
def _cost_one(op, y, z, lam, p, lpt):
    return cost(op, y, z, Prior(lam, p, lpt), pad_for(op, y, z), False)


@numba.njit(**PJIT)
def cost_batch(op, Y, Z, prior, out):
    """:func:`cost` per image. Parallel over: images."""
    # a parallel loop takes a named tuple only as an argument or built by a call
    # (not nested in another, not read from an attribute): the prior in parts
    lam = prior.lam
    p = prior.p
    lpt = LpTable(prior.table.table, prior.table.w_t, prior.table.dw)
    for n in prange(Y.shape[0]):
        out[n] = _cost_one(op, Y[n], Z[n], lam, p, lpt)
