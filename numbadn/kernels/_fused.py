"""Fused solver passes: the element-wise work done where the data is already in cache.

The drivers of :mod:`._steps` run each element-wise step (the gradient step and
shrinkage of FISTA, its momentum and restart sums, the CG updates and the x
sub-problem of eqs. 4-8) as a pass of its own over the map-sized arrays, between
the convolution passes.  On the paper's shapes those arrays do not fit in cache
(layer 1 at 150x150: nine 156x156 maps, about 0.9 MB each in float32), so every
such pass reads and writes main memory.  The drivers here do the same arithmetic
in fewer passes:

**FISTA with backtracking** (Beck & Teboulle 2009, section 4; the unfused driver is
:func:`numbadn.kernels._steps.fista_bt_run`), per iteration with no rejected trial:

1. ``grad = lam D^T (D v - y)`` and the trial point ``x = prox_{1/L}(v - grad / L)``
   (eq. 8 or the p < 1 table with ``beta = L``), ``v = z + m (z - zprev)``: the
   trial is applied to each block of gradient rows right after the adjoint
   convolution wrote them (:func:`_adjoint_trial_item`), with the sums of the
   restart test and the backtracking bound per group of :data:`SUM_ROWS` rows, and
   the nonzeros of ``x`` per group (which the sparse forward pass needs: no separate scan of ``x``);
2. ``D x``, written straight into the image-sized ``Fx`` (no padded buffer, no
   copy out of it), and, per block of image rows right after the forward
   convolution: ``||D x - y||^2`` (the test) and the next iteration's residual
   ``D v' - y = (1 + m') D x - m' D z - y`` into the padded buffer the adjoint
   reads, ``m'`` the momentum the step will have if ``x`` is accepted (known:
   the restart test's sum came out of pass 1), with ``||D v' - y||^2``.

Two passes instead of five; ``D zprev`` is no longer kept.  A rejected trial
re-runs the trial step alone from the stored gradient, then pass 2.

**The continuation scheme** (eqs. 4-8; :func:`numbadn.kernels._steps.continuation_solve`):
the last CG update of one step (``z += a p``, ``q += a (A p - alpha p)``) and the
next step's x sub-problem and CG start (:func:`numbadn.kernels._steps.shrink_residual`)
are one pass over the maps (:func:`update_shrink`): the updated ``z`` and ``q`` go
straight into the shrinkage and the new residual, and the last CG residual, which
only the final step reports, is not formed.  The convolutions are unchanged: CG's
step length needs the global ``<p, A p>`` before any update can start.

Arithmetic: every array element is computed by the same expressions, in the same
order, as in the unfused drivers, so the arrays one fused pass writes are bit for
bit those of the unfused sequence given the same scalars.  The sums are added in
another grouping (per group of :data:`SUM_ROWS` map rows instead of per map: a
fused pass sees one row block at a time; per map too in :func:`update_shrink`, but
in another compiled loop, which ``reassoc`` may vectorise differently), so they
differ in the last bits; they steer the step length (CG), the restart and the
backtracking test, so whole solves agree to rounding, not bit for bit.  Every sum
is grouped by the shapes alone, in a fixed order, never per thread: results do not
depend on the thread count or the tiling.

Only the one-layer :class:`~numbadn.kernels._operator.Operator` has the fused
convolution passes (FISTA); the continuation fusion is element-wise and takes any
operator of :mod:`._linop`.  Inputs are not validated.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np
from numba import prange

from .._jit import JIT, PJIT
from ._cg import cg_update, workspace, xpby
from ._conv import corr_plan, corr_rows
from ._hook import notify
from ._linop import gram, pad_for
from ._operator import _flag_rows
from ._shrink import LpTable, Prior, lp_scaled
from ._steps import (BACKTRACK_ETA, BACKTRACK_MAX, BACKTRACK_SLACK, SPARSE_DENSITY,
                     ContinuationPlan, FistaPlan, continuation_solve, continuation_start,
                     shrink_residual)
from ._threads import thread_count

#: Map rows per group of the trial step's sums and nonzero counts: a group is one
#: contiguous span (rows are whole), long enough for the vectorised loop, and the
#: row blocks of the fused pass are whole groups whatever the thread count, so the
#: sums are grouped the same way on any number of threads.
SUM_ROWS = 4


#: Work arrays of :func:`fista_bt_run_fused`: ``rpad`` (zero-bordered ``D v - y``),
#: the iterates ``zprev`` and ``x`` (trial) beside the caller's ``z``, ``grad``,
#: the images ``Fz`` (``D z``) and ``Fx`` (``D x``), the trial step's sums ``tsum``
#: (K1 G, 5) and nonzeros ``tnnz`` (K1 G) per group of :data:`SUM_ROWS` map rows
#: (``G`` groups per map), the residuals' sums per image row ``fsum`` (K0 P, 2)
#: and the trial's row flags ``flags`` (K1, M).
FusedFistaWork = namedtuple("FusedFistaWork", ["rpad", "zprev", "x", "grad", "Fz", "Fx",
                                               "tsum", "fsum", "tnnz", "flags"])


@numba.njit(**JIT)
def fused_fista_work(op, y, z):
    """A :class:`FusedFistaWork` for one image (uninitialised but ``rpad``'s border)."""
    K1, M = z.shape[0], z.shape[1]
    ng = K1 * ((M + SUM_ROWS - 1) // SUM_ROWS)
    return FusedFistaWork(pad_for(op, y, z), np.empty_like(z), np.empty_like(z),
                          np.empty_like(z), np.empty_like(y), np.empty_like(y),
                          np.empty((ng, 5)), np.empty((y.shape[0] * y.shape[1], 2)),
                          np.empty(ng, np.int64), np.empty((K1, M), np.bool_))


# ------------------------------------------------------------ row post-operations
@numba.njit(**JIT)
def _trial_span(z1, zp1, g1, x1, b, n, m, step, L, p, lpt, tsum, tnnz, grp):
    """The trial step on the span ``[b, b + n)`` (whole map rows) of the flat maps,
    as :func:`numbadn.kernels._steps._trial_map` per element: ``v = z + m (z -
    zprev)``, ``x = prox(v - step grad)``; ``tsum[grp]`` the span's sums of
    ``||x - z||^2``, ``<v - x, x - z>``, ``||x||^2``, ``<grad, x - v>``, ``||x - v||^2``
    (in the dtype's vector lanes), ``tnnz[grp]`` the nonzeros of ``x`` in it."""
    dt = z1.dtype.type
    st = dt(step)
    mt = dt(m)
    zero = dt(0)
    one = dt(1)
    dd = zero
    up = zero
    zz = zero
    gd = zero
    vv = zero
    nz = zero  # exact: a span has far fewer than 2^24 entries
    p1 = p == 1.0
    th = dt(1.0 / L)
    s = 1.0 if p1 else L ** (-1.0 / (2.0 - p))
    b = max(b, 0)
    for i in range(n):
        zi = z1[b + i]
        vi = zi + mt * (zi - zp1[b + i])
        gi = g1[b + i]
        u = vi - st * gi
        if p1:
            u = max(u - th, zero) + min(u + th, zero)
        else:
            u = dt(lp_scaled(u, s, p, lpt))
        x1[b + i] = u
        d = u - zi
        e = u - vi
        dd += d * d
        up -= e * d
        zz += u * u
        gd += gi * e
        vv += e * e
        nz += one if u != zero else zero
    tsum[grp, 0] = dd
    tsum[grp, 1] = up
    tsum[grp, 2] = zz
    tsum[grp, 3] = gd
    tsum[grp, 4] = vv
    tnnz[grp] = int(nz)


@numba.njit(**JIT)
def _trial_rows(z, zprev, grad, x, m, step, L, p, lpt, tsum, tnnz, o, r0, r1):
    """:func:`_trial_span` on rows ``r0:r1`` (``r0`` a multiple of :data:`SUM_ROWS`)
    of map ``o``, one group of :data:`SUM_ROWS` rows at a time."""
    M = z.shape[1]
    N = z.shape[2]
    ng = (M + SUM_ROWS - 1) // SUM_ROWS
    z1 = z.reshape(-1)
    zp1 = zprev.reshape(-1)
    g1 = grad.reshape(-1)
    x1 = x.reshape(-1)
    for i in range(r0, r1, SUM_ROWS):
        e = min(i + SUM_ROWS, M)
        _trial_span(z1, zp1, g1, x1, (o * M + i) * N, (e - i) * N, m, step, L, p, lpt,
                    tsum, tnnz, o * ng + i // SUM_ROWS)


@numba.njit(**JIT)
def _residual_row(F1, Fz1, y1, r1, b, rb, n, a, bb, fsum, row):
    """One image row (flat offset ``b`` in ``Fx``, ``Fz`` and ``y``, ``rb`` in the
    padded ``rpad``): ``fsum[row] = (||Fx - y||^2, ||a Fx + bb Fz - y||^2)`` and
    that combination into ``rpad`` (as :func:`numbadn.kernels._steps._take_image`
    and ``_residual_combo``: sums in the dtype along the row)."""
    dt = F1.dtype.type
    at = dt(a)
    bt = dt(bb)
    b = max(b, 0)
    rb = max(rb, 0)
    # two loops over the row (in L1 by now), each the unfused kernel's own loop:
    # one loop computing both lets LLVM contract and re-associate differently
    sv = dt(0)
    for j in range(n):
        e = at * F1[b + j] + bt * Fz1[b + j] - y1[b + j]
        r1[rb + j] = e
        sv += e * e
    sx = dt(0)
    for j in range(n):
        d = F1[b + j] - y1[b + j]
        sx += d * d
    fsum[row, 0] = sx
    fsum[row, 1] = sv


# ------------------------------------------------------------ pass 1: adjoint + trial
@numba.njit(**JIT)
def _adjoint_trial_item(op, rpad, grad, z, zprev, x, m, step, L, p, lpt, tsum, tnnz,
                        item, nbr, rb, dummy):
    """Item ``item``: map ``item // nbr``, its row block ``item % nbr``: the adjoint
    convolution's rows of ``grad`` (``lam`` is in ``step``), then the trial step on
    them while they are in cache."""
    M = grad.shape[1]
    N = grad.shape[2]
    o = item // nbr
    r0 = (item - o * nbr) * rb
    r1 = min(M, r0 + rb)
    corr_rows(rpad, op.taps_adj, grad, op.ptr_adj, op.idx_adj, o, r0, r1, 0, N, 0, 0,
              grad, 0.0, dummy)
    _trial_rows(z, zprev, grad, x, m, step, L, p, lpt, tsum, tnnz, o, r0, r1)


@numba.njit(**PJIT)
def _adjoint_trial_parallel(op, rpad, grad, z, zprev, x, m, step, L, p, lpt, tsum, tnnz,
                            nbr, rb, dummy):
    for item in prange(grad.shape[0] * nbr):
        _adjoint_trial_item(op, rpad, grad, z, zprev, x, m, step, L, p, lpt, tsum, tnnz,
                            item, nbr, rb, dummy)


@numba.njit(**JIT)
def adjoint_trial(op, rpad, grad, z, zprev, x, m, step, L, p, lpt, tsum, tnnz, par):
    """Pass 1 of :func:`fista_bt_run_fused`: ``grad = D^T r`` (``r`` in ``rpad``), then
    per block of gradient rows the trial step of :func:`_trial_span`.

    Parallel over: maps x blocks of rows (:func:`numbadn.kernels._conv.plan_tiles`
    without column tiles: the row sums need whole rows)."""
    rb, _, _ = corr_plan(rpad, op.taps_adj, grad, op.ptr_adj, 0, 0, True,
                         thread_count() if par else 1)
    rb = max(rb, SUM_ROWS)  # whole groups of rows (rb is a power of two)
    nbr = (grad.shape[1] + rb - 1) // rb
    dummy = np.empty(1)
    if par:
        _adjoint_trial_parallel(op, rpad, grad, z, zprev, x, m, step, L, p, lpt, tsum, tnnz,
                                nbr, rb, dummy)
    else:
        for item in range(grad.shape[0] * nbr):
            _adjoint_trial_item(op, rpad, grad, z, zprev, x, m, step, L, p, lpt, tsum, tnnz,
                                item, nbr, rb, dummy)


@numba.njit(**PJIT)
def _trial_parallel(z, zprev, grad, x, m, step, L, p, lpt, tsum, tnnz):
    ng = (z.shape[1] + SUM_ROWS - 1) // SUM_ROWS
    for t in prange(z.shape[0] * ng):
        o = t // ng
        i = (t - o * ng) * SUM_ROWS
        _trial_rows(z, zprev, grad, x, m, step, L, p, lpt, tsum, tnnz, o, i,
                    min(i + SUM_ROWS, z.shape[1]))


@numba.njit(**JIT)
def trial(z, zprev, grad, x, m, step, L, p, lpt, tsum, tnnz, par):
    """The trial step of :func:`_trial_span` on every group of rows, from a stored
    gradient (a rejected trial's retry).  Parallel over: groups of map rows."""
    if par:
        _trial_parallel(z, zprev, grad, x, m, step, L, p, lpt, tsum, tnnz)
    else:
        for o in range(z.shape[0]):
            _trial_rows(z, zprev, grad, x, m, step, L, p, lpt, tsum, tnnz, o, 0, z.shape[1])


# ------------------------------------------------------------ pass 2: forward + residuals
@numba.njit(**JIT)
def _forward_residual_item(op, x, Fx, Fz, y, rpad, a, b, fsum, item, nbr, rb, dummy):
    """Item ``item``: channel ``item // nbr``, its row block: rows of ``Fx = D x``,
    then :func:`_residual_row` on them."""
    P = Fx.shape[1]
    Q = Fx.shape[2]
    h1 = (rpad.shape[1] - P) // 2
    w1 = (rpad.shape[2] - Q) // 2
    c = item // nbr
    r0 = (item - c * nbr) * rb
    r1 = min(P, r0 + rb)
    corr_rows(x, op.taps_fwd, Fx, op.ptr_fwd, op.idx_fwd, c, r0, r1, 0, Q, 0, 0,
              Fx, 0.0, dummy)
    F1 = Fx.reshape(-1)
    Fz1 = Fz.reshape(-1)
    y1 = y.reshape(-1)
    rp1 = rpad.reshape(-1)
    for i in range(r0, r1):
        _residual_row(F1, Fz1, y1, rp1, (c * P + i) * Q,
                      (c * rpad.shape[1] + h1 + i) * rpad.shape[2] + w1, Q, a, b, fsum,
                      c * P + i)


@numba.njit(**PJIT)
def _forward_residual_parallel(op, x, Fx, Fz, y, rpad, a, b, fsum, nbr, rb, dummy):
    for item in prange(Fx.shape[0] * nbr):
        _forward_residual_item(op, x, Fx, Fz, y, rpad, a, b, fsum, item, nbr, rb, dummy)


@numba.njit(**JIT)
def _scatter_image(op, x, flags, Fx):
    """``Fx += D x`` by scattering the nonzeros of ``x`` in the rows ``flags`` marks:
    :func:`numbadn.kernels._operator._scatter` (``a = 1, b = 0``, the same order
    of additions) into an unbordered image."""
    tv = op.taps_fwd
    pa = op.ptr_adj
    ia = op.idx_adj
    K = x.shape[0]
    M = x.shape[1]
    N = x.shape[2]
    h = tv.shape[2]
    w = tv.shape[3]
    P = M - h + 1
    Q = N - w + 1
    r1 = Fx.reshape(-1)
    t1 = tv.reshape(-1)
    x1 = x.reshape(-1)
    for k in range(K):
        for m in range(M):
            if not flags[k, m]:
                continue
            zb = max((k * M + m) * N, 0)
            a0 = max(0, m - P + 1)
            a1 = min(h, m + 1)
            for n in range(N):
                val = x1[zb + n]
                if val == 0:
                    continue
                b0 = max(0, n - Q + 1)
                b1 = min(w, n + 1)
                for t in range(pa[k], pa[k + 1]):
                    c = ia[t]
                    for aa in range(a0, a1):
                        rb = max((c * P + m - aa) * Q + n - (b1 - 1), 0)
                        tb = max(((c * K + k) * h + aa) * w + b1 - 1, 0)
                        for q in range(b1 - b0):
                            r1[rb + q] += t1[tb - q] * val


@numba.njit(**JIT)
def forward_residual(op, x, Fx, Fz, y, rpad, a, b, fsum, nnz, flags, par, max_density):
    """Pass 2 of :func:`fista_bt_run_fused`: ``Fx = D x``, then per block of rows
    ``rpad[interior] = a Fx + b Fz - y``; returns ``(||Fx - y||^2, ||a Fx + b Fz -
    y||^2)`` (rows added in order, float64).

    With at most ``max_density`` nonzeros (``nnz``, rows marked in ``flags``) the
    nonzeros are scattered (serial, as :func:`numbadn.kernels._operator.apply_F_combo`)
    and the residual rows follow in a pass over the image; otherwise the dense
    convolution, parallel over channels x blocks of rows."""
    K0 = Fx.shape[0]
    P = Fx.shape[1]
    Q = Fx.shape[2]
    if nnz <= int(max_density * x.size):
        F1 = Fx.reshape(-1)
        zero = F1.dtype.type(0)
        for i in range(F1.shape[0]):
            F1[i] = zero
        _scatter_image(op, x, flags, Fx)
        h1 = (rpad.shape[1] - P) // 2
        w1 = (rpad.shape[2] - Q) // 2
        Fz1 = Fz.reshape(-1)
        y1 = y.reshape(-1)
        rp1 = rpad.reshape(-1)
        for c in range(K0):
            for i in range(P):
                _residual_row(F1, Fz1, y1, rp1, (c * P + i) * Q,
                              (c * rpad.shape[1] + h1 + i) * rpad.shape[2] + w1, Q, a, b,
                              fsum, c * P + i)
    else:
        rb, _, _ = corr_plan(x, op.taps_fwd, Fx, op.ptr_fwd, 0, 0, True,
                             thread_count() if par else 1)
        nbr = (P + rb - 1) // rb
        dummy = np.empty(1)
        if par:
            _forward_residual_parallel(op, x, Fx, Fz, y, rpad, a, b, fsum, nbr, rb, dummy)
        else:
            for item in range(K0 * nbr):
                _forward_residual_item(op, x, Fx, Fz, y, rpad, a, b, fsum, item, nbr, rb,
                                       dummy)
    sx = 0.0
    sv = 0.0
    for r in range(K0 * P):
        sx += fsum[r, 0]
        sv += fsum[r, 1]
    return sx, sv


@numba.njit(**JIT)
def _flags_from_counts(tnnz, flags):
    """Row flags (every row of a group with nonzeros) and the total nonzeros, from
    the per-group counts of the trial step."""
    M = flags.shape[1]
    ng = (M + SUM_ROWS - 1) // SUM_ROWS
    total = 0
    for k in range(flags.shape[0]):
        for i in range(M):
            flags[k, i] = tnnz[k * ng + i // SUM_ROWS] != 0
        for j in range(ng):
            total += tnnz[k * ng + j]
    return total


@numba.njit(**JIT)
def fista_bt_run_fused(op, y, z, prior, plan, work, monitor, par):
    """:func:`numbadn.kernels._steps.fista_bt_run` in two passes per iteration
    (module docstring): FISTA with backtracking on eq. 2, in place on ``z``, with
    the :class:`~numbadn.kernels._shrink.Prior` ``prior`` and the
    :class:`~numbadn.kernels._steps.FistaPlan` ``plan`` (``plan.L`` the start
    ``L0``; ``plan.backtrack`` is not read: this driver always backtracks).

    Same iterations, tests and counts (Beck & Teboulle 2009, section 4; restart of
    O'Donoghue & Candes 2015); ``work`` is a :class:`FusedFistaWork`.  Returns
    ``(iterations, forward passes)``.
    """
    lam, p, lpt = prior.lam, prior.p, prior.table
    L0, max_iter, tol, restart = plan.L, plan.max_iter, plan.tol, plan.restart
    rpad = work.rpad
    K = z.shape[0]
    tsum, fsum, tnnz, flags = work.tsum, work.fsum, work.tnnz, work.flags
    bufs = (z, work.zprev, work.x)  # current, previous, trial: they rotate
    imgs = (work.Fz, work.Fx)
    ic, ip, ix = 0, 1, 2
    jc, jx = 0, 1
    zc, zp, xb = bufs[ic], bufs[ip], bufs[ix]
    Fz, Fx = imgs[jc], imgs[jx]
    zp[...] = z
    # D z and the first residual D z - y (the momentum is 0: a = 1, b = -0)
    nnz = _flag_rows(z, flags, np.empty(K, np.int64), par)
    _, rv2 = forward_residual(op, z, Fz, Fz, y, rpad, 1.0, -0.0, fsum, nnz, flags, par,
                              SPARSE_DENSITY)
    n_fwd = 1
    L = L0
    t = 1.0
    m = 0.0
    it_done = max_iter
    if monitor is not None:
        if notify(monitor, 0, math.nan):
            return 0, n_fwd
    for it in range(max_iter):
        fv = 0.5 * lam * rv2
        first = True
        while True:
            if first:
                adjoint_trial(op, rpad, work.grad, zc, zp, xb, m, lam / L, L, p, lpt,
                              tsum, tnnz, par)
                first = False
            else:
                trial(zc, zp, work.grad, xb, m, lam / L, L, p, lpt, tsum, tnnz, par)
            dd = 0.0
            up = 0.0
            zz = 0.0
            gd = 0.0
            vv = 0.0
            for r in range(tsum.shape[0]):
                dd += tsum[r, 0]
                up += tsum[r, 1]
                zz += tsum[r, 2]
                gd += tsum[r, 3]
                vv += tsum[r, 4]
            # the momentum the next iteration will have if x is accepted
            t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            if restart and up > 0.0:
                t_next = 1.0
                m_next = 0.0
            else:
                m_next = (t - 1.0) / t_next
            nnz = _flags_from_counts(tnnz, flags)
            fx2, rv2 = forward_residual(op, xb, Fx, Fz, y, rpad, 1.0 + m_next, -m_next,
                                        fsum, nnz, flags, par, SPARSE_DENSITY)
            n_fwd += 1
            fx = 0.5 * lam * fx2
            bound = fv + lam * gd + 0.5 * L * vv
            if fx <= bound + BACKTRACK_SLACK * abs(bound) or vv == 0.0 or L > BACKTRACK_MAX * L0:
                break
            L *= BACKTRACK_ETA
        # accept: zprev <- z, z <- x (three buffers rotate, the two images swap)
        if monitor is None:
            ip, ic, ix = ic, ix, ip
            zc, zp, xb = bufs[ic], bufs[ip], bufs[ix]
            jc, jx = jx, jc
            Fz, Fx = imgs[jc], imgs[jx]
        else:  # the monitor reads z: the iterate stays there (copies, not rotation)
            zp[...] = zc
            zc[...] = xb
            Fz[...] = Fx
        t = t_next
        m = m_next
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
def fista_bt_solve_fused(op, y, z, prior, plan, par):
    """:func:`fista_bt_run_fused` with fresh work arrays; returns the iterations."""
    return fista_bt_run_fused(op, y, z, prior, plan, fused_fista_work(op, y, z), None,
                              par)[0]


@numba.njit(**JIT)
def _fista_bt_chunk(op, Y, Z, lam, p, lpt, L, max_iter, tol, restart, t, n_chunks):
    """Images ``t, t + n_chunks, ...`` of :func:`fista_bt_batch_fused` with one set of
    work arrays (the prior and plan put together here, as
    :func:`numbadn.kernels._steps.fista_batch` does)."""
    prior = Prior(lam, p, lpt)
    plan = FistaPlan(L, max_iter, tol, restart, True)
    work = fused_fista_work(op, Y[t], Z[t])
    for n in range(t, Y.shape[0], n_chunks):
        fista_bt_run_fused(op, Y[n], Z[n], prior, plan, work, None, False)


@numba.njit(**PJIT)
def fista_bt_batch_fused(op, Y, Z, prior, plan, n_chunks):
    """:func:`fista_bt_run_fused` for a batch of same-sized images. Parallel over:
    ``n_chunks`` chunks of images, one set of work arrays each (as
    :func:`numbadn.kernels._steps.fista_batch`)."""
    # a parallel loop takes a named tuple only as an argument or built by a call
    # (not nested in another, not read from an attribute): the prior in parts
    lam = prior.lam
    p = prior.p
    lpt = LpTable(prior.table.table, prior.table.w_t, prior.table.dw)
    L = plan.L
    max_iter = plan.max_iter
    tol = plan.tol
    restart = plan.restart
    for t in prange(n_chunks):
        _fista_bt_chunk(op, Y, Z, lam, p, lpt, L, max_iter, tol, restart, t, n_chunks)


# ------------------------------------------------------------ continuation
@numba.njit(**JIT)
def _update_shrink_map(z, r, pp, Ap, q, FTy, a, alpha, alpha2, beta2, p, lpt, part, k):
    """Map ``k`` of :func:`update_shrink`: per element the CG update of
    :func:`numbadn.kernels._cg.cg_update` (``track``), then the x step, right-hand
    side and residual of :func:`numbadn.kernels._steps.shrink_residual` on the
    updated values; ``part[k] = (||r_k||^2, ||b_k||^2)``."""
    zv = z[k].reshape(-1)
    rv = r[k].reshape(-1)
    pv = pp[k].reshape(-1)
    Av = Ap[k].reshape(-1)
    qv = q[k].reshape(-1)
    fv = FTy[k].reshape(-1)
    dt = zv.dtype.type
    at = dt(a)
    al = dt(alpha)
    a2 = dt(alpha2)
    rr = 0.0
    bb = 0.0
    p1 = p == 1.0
    th = dt(1.0 / beta2)
    s = 1.0 if p1 else beta2 ** (-1.0 / (2.0 - p))
    for i in range(zv.shape[0]):
        pi = pv[i]
        Ai = Av[i]
        v = zv[i] + at * pi
        qi = qv[i] + at * (Ai - al * pi)
        zv[i] = v
        qv[i] = qi
        if p1:
            x = v - min(max(v, -th), th)
        else:
            x = dt(lp_scaled(v, s, p, lpt))
        bi = fv[i] + a2 * x
        ri = bi - qi - a2 * v
        rv[i] = ri
        pv[i] = ri
        rr += ri * ri
        bb += bi * bi
    part[k, 0] = rr
    part[k, 1] = bb


@numba.njit(**PJIT)
def _update_shrink_parallel(z, r, pp, Ap, q, FTy, a, alpha, alpha2, beta2, p, lpt, part):
    for k in prange(z.shape[0]):
        _update_shrink_map(z, r, pp, Ap, q, FTy, a, alpha, alpha2, beta2, p, lpt, part, k)


@numba.njit(**JIT)
def update_shrink(z, r, pp, Ap, q, FTy, a, alpha, alpha2, beta2, p, lpt, part, par):
    """The last CG update of one continuation step and the start of the next, in
    one pass: ``z += a p``, ``q += a (A p - alpha p)``, then with ``alpha2 =
    beta2 / lam`` the x sub-problem (eq. 8 or the table), ``b = D^T y + alpha2 x``
    and ``r = pp = b - q - alpha2 z``.  The old ``r`` is neither read nor
    updated (the unfused sequence's last CG residual is not formed).  Per-map
    sums added in order.  Returns ``(||r||^2, ||b||^2)``."""
    if par:
        _update_shrink_parallel(z, r, pp, Ap, q, FTy, a, alpha, alpha2, beta2, p, lpt, part)
    else:
        for k in range(z.shape[0]):
            _update_shrink_map(z, r, pp, Ap, q, FTy, a, alpha, alpha2, beta2, p, lpt, part,
                               k)
    rr = 0.0
    bb = 0.0
    for k in range(z.shape[0]):
        rr += part[k, 0]
        bb += part[k, 1]
    return rr, bb


@numba.njit(**JIT)
def continuation_solve_fused(op, y, z, prior, plan, ws, FTy, monitor, par):
    """:func:`numbadn.kernels._steps.continuation_solve` with the last CG update
    of each step and the next step's x sub-problem in one pass
    (:func:`update_shrink`).

    The same schedule (Algorithm 1: for each beta, ``inner_iters`` times the x
    sub-problem then ``cg_iters`` CG steps on eq. 6); returns the last step's CG
    relative residual.  The arguments are those of the unfused driver (the
    :class:`~numbadn.kernels._shrink.Prior` ``prior``, the
    :class:`~numbadn.kernels._steps.ContinuationPlan` ``plan``); with a ``monitor``
    (which may change ``FTy`` between steps) it runs the unfused driver.
    """
    if monitor is not None:
        return continuation_solve(op, y, z, prior, plan, ws, FTy, monitor, par)
    lam, p, lpt = prior.lam, prior.p, prior.table
    betas, inner_iters, cg_iters = plan
    continuation_start(op, y, z, FTy, ws, par)
    rpad, r, pp, Ap, q = ws
    K = z.shape[0]
    part = np.empty((K, 2))
    part1 = np.empty(K)
    n_steps = betas.shape[0] * inner_iters
    res = 0.0
    started = False  # r, pp already hold this step's residual (fused into the last pass)
    rr = 0.0
    bb = 0.0
    rr2 = 0.0
    bb2 = 0.0
    for st in range(n_steps):
        beta = betas[st // inner_iters]
        alpha = beta / lam
        if not started:
            rr, bb = shrink_residual(z, FTy, q, alpha, beta, p, lpt, r, pp, par)
        started = False
        if bb == 0.0:
            bb = 1.0
        last = st + 1 == n_steps
        for it in range(cg_iters):
            if rr == 0.0:
                break
            pAp = gram(op, pp, Ap, rpad, alpha, par)
            if pAp <= 0.0:
                break
            a = rr / pAp
            if it + 1 == cg_iters and not last:
                beta2 = betas[(st + 1) // inner_iters]
                rr2, bb2 = update_shrink(z, r, pp, Ap, q, FTy, a, alpha, beta2 / lam, beta2,
                                         p, lpt, part, par)
                started = True
                break
            rr_new = cg_update(z, r, pp, Ap, q, a, alpha, True, part1, par)
            if it + 1 < cg_iters:
                xpby(r, pp, rr_new / rr, par)
            rr = rr_new
        if started:
            res = math.nan  # not formed (only the last step's is returned)
            rr, bb = rr2, bb2
        else:
            res = math.sqrt(rr / bb)
    return res


@numba.njit(**JIT)
def _continuation_chunk(op, Y, Z, lam, p, lpt, betas, inner_iters, cg_iters, t, n_chunks):
    """Images ``t, t + n_chunks, ...`` of :func:`continuation_batch_fused` with one
    set of work arrays (the prior and plan put together here, as
    :func:`numbadn.kernels._steps.continuation_batch` does)."""
    prior = Prior(lam, p, lpt)
    plan = ContinuationPlan(betas, inner_iters, cg_iters)
    ws = workspace(op, Y[t], Z[t])
    FTy = np.empty_like(Z[t])
    for n in range(t, Y.shape[0], n_chunks):
        continuation_solve_fused(op, Y[n], Z[n], prior, plan, ws, FTy, None, False)


@numba.njit(**PJIT)
def continuation_batch_fused(op, Y, Z, prior, plan, n_chunks):
    """:func:`continuation_solve_fused` for a batch of same-sized images, as
    :func:`numbadn.kernels._steps.continuation_batch` (same arguments). Parallel over:
    chunks of images."""
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
