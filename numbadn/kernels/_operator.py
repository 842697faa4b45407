"""The linear operator ``F`` of eq. 5 and the ``A z`` product of eqs. 6-7 (CG: :mod:`._cg`).

``op`` is the :class:`Operator` named tuple built by
:func:`numbadn.kernels.make_operator`::

    op = Operator(taps_fwd, ptr_fwd, idx_fwd, taps_adj, ptr_adj, idx_adj)

with ``taps_fwd`` of shape (K0, K1, h, w) holding the flipped filters (so that
the valid correlation is eq. 1's true convolution) and ``taps_adj = f`` of shape
(K1, K0, h, w) for the adjoint (footnote 3).  ``rpad`` is a work buffer of shape
(K0, P + 2(h-1), Q + 2(w-1)) whose border is zero; ``F z`` is written into its
interior so that ``F^T`` can read it as a zero-padded image without a copy.

Inputs are not validated.
"""
from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from .._jit import JIT
from numba import prange

from .._jit import PJIT
from ._conv import corr, corr_add

#: ``F`` of eq. 5 as the kernels take it (numba reads a named tuple's fields by name):
#: ``taps_fwd`` (K0, K1, h, w), the flipped filters, with ``ptr_fwd, idx_fwd`` the
#: maps ``k`` of each channel ``c`` (CSR lists of ``g.T``) for ``F z``; ``taps_adj = f``
#: (K1, K0, h, w) with ``ptr_adj, idx_adj`` the channels of each map for ``F^T``.
Operator = namedtuple("Operator", ["taps_fwd", "ptr_fwd", "idx_fwd",
                                   "taps_adj", "ptr_adj", "idx_adj"])


@numba.njit(**JIT)
def apply_F(op, z, rpad, par):
    """``rpad[interior] = F z = sum_k g[k, c] z_k (*) f_kc`` (eq. 1)."""
    tv = op.taps_fwd
    corr(z, tv, rpad, op.ptr_fwd, op.idx_fwd, tv.shape[2] - 1, tv.shape[3] - 1, par)


@numba.njit(**JIT)
def _flag_rows_map(z, flags, counts, k):
    """``flags[k, m]``: row ``m`` of map ``k`` has a nonzero; ``counts[k]``: its nonzeros."""
    n_k = 0
    N = z.shape[2]
    z1 = z.reshape(-1)
    for m in range(z.shape[1]):
        zb = max((k * z.shape[1] + m) * N, 0)
        any_nz = z1.dtype.type(0)
        for n in range(N):  # vectorised test: most rows are all zero
            any_nz += abs(z1[zb + n])
        flags[k, m] = any_nz != 0
        if any_nz != 0:
            for n in range(N):
                n_k += z1[zb + n] != 0
    counts[k] = n_k


@numba.njit(**PJIT)
def _flag_rows_parallel(z, flags, counts):
    for k in prange(z.shape[0]):
        _flag_rows_map(z, flags, counts, k)


@numba.njit(**JIT)
def _flag_rows(z, flags, counts, par):
    """Rows with nonzeros and nonzeros per map (parallel over maps when ``par``);
    returns the total, summed in a fixed order."""
    if par:
        _flag_rows_parallel(z, flags, counts)
    else:
        for k in range(z.shape[0]):
            _flag_rows_map(z, flags, counts, k)
    total = 0
    for k in range(z.shape[0]):
        total += counts[k]
    return total


@numba.njit(**JIT)
def _scatter(op, z, a, zp, b, flags, rpad):
    """``rpad[interior] += F (a z + b zp)`` by scattering the nonzeros of
    ``a z + b zp`` in the rows that ``flags`` marks (flat offsets: no row
    views, see :func:`numbadn.kernels._conv.corr_rows`)."""
    tv = op.taps_fwd
    pa = op.ptr_adj
    ia = op.idx_adj
    K = z.shape[0]
    M = z.shape[1]
    N = z.shape[2]
    h = tv.shape[2]
    w = tv.shape[3]
    h1 = h - 1
    w1 = w - 1
    P = M - h1
    Q = N - w1
    at = z.dtype.type(a)
    bt = z.dtype.type(b)
    Hr = rpad.shape[1]
    Wr = rpad.shape[2]
    r1 = rpad.reshape(-1)
    t1 = tv.reshape(-1)
    z1 = z.reshape(-1)
    p1 = zp.reshape(-1)
    for k in range(K):
        for m in range(M):
            if not flags[k, m]:
                continue
            zb = max((k * M + m) * N, 0)
            a0 = max(0, m - P + 1)
            a1 = min(h, m + 1)
            for n in range(N):
                val = at * z1[zb + n]
                if b != 0.0:  # loop-invariant; zp is not read at all when b == 0
                    val += bt * p1[zb + n]
                if val == 0:
                    continue
                b0 = max(0, n - Q + 1)
                b1 = min(w, n + 1)
                for t in range(pa[k], pa[k + 1]):
                    c = ia[t]
                    for aa in range(a0, a1):
                        # columns w1+n-bb for bb = b1-1 .. b0, ascending
                        rb = max((c * Hr + h1 + m - aa) * Wr + w1 + n - (b1 - 1), 0)
                        tb = max(((c * K + k) * h + aa) * w + b1 - 1, 0)
                        for q in range(b1 - b0):
                            r1[rb + q] += t1[tb - q] * val


@numba.njit(**JIT)
def apply_F_combo(op, z, a, zp, b, vbuf, rpad, par, max_density):
    """``rpad[interior] = F (a z + b zp)``, by scattering the nonzeros of ``z``
    and ``zp`` while together they are at most ``max_density`` of the entries
    of ``z`` (``zp`` is skipped when ``b == 0``).

    Each nonzero ``z[k, m, n]`` adds ``a z[k, m, n] * taps_fwd[c, k]`` into
    output rows ``m - i`` and columns ``n - j``: ``nnz * h * w`` multiply-adds
    per connected channel instead of a pass over every pixel.  Near a sparse
    optimum (FISTA's iterates are ~99% zeros on the paper's problem) this is
    far cheaper than the dense pass.  FISTA's extrapolated point ``v = z +
    m (z - zprev)`` is never formed in that case: ``F v = (1 + m) F z - m F
    zprev``, both sparse.  Past ``max_density`` it forms ``vbuf = a z + b zp``
    and runs :func:`apply_F`.  The rows with nonzeros are found in parallel
    over maps, the scatter is serial: the choice and the result do not depend
    on the number of threads.  Returns True when it scattered.
    """
    K = z.shape[0]
    flags = np.empty((K, z.shape[1]), np.bool_)
    counts = np.empty(K, np.int64)
    total = _flag_rows(z, flags, counts, par)
    limit = int(max_density * z.size)
    if b != 0.0 and total <= limit:
        flags_p = np.empty((K, z.shape[1]), np.bool_)
        total += _flag_rows(zp, flags_p, counts, par)
        for k in range(K):
            for m in range(z.shape[1]):
                flags[k, m] = flags[k, m] or flags_p[k, m]
    if total <= limit:
        h1 = op.taps_fwd.shape[2] - 1
        w1 = op.taps_fwd.shape[3] - 1
        P = z.shape[1] - h1
        Q = z.shape[2] - w1
        zero = rpad.dtype.type(0)
        for c in range(rpad.shape[0]):
            for i in range(P):
                row = rpad[c, h1 + i, w1:w1 + Q]
                for j in range(Q):
                    row[j] = zero
        _scatter(op, z, a, zp, b, flags, rpad)
        return True
    if b == 0.0 and a == 1.0:  # D z itself: no combination to form
        apply_F(op, z, rpad, par)
        return False
    zv = z.reshape(-1)
    pv = zp.reshape(-1)
    vv = vbuf.reshape(-1)
    at = zv.dtype.type(a)
    bt = zv.dtype.type(b)
    if b != 0.0:
        for i in range(vv.shape[0]):
            vv[i] = at * zv[i] + bt * pv[i]
    else:
        for i in range(vv.shape[0]):
            vv[i] = at * zv[i]
    apply_F(op, vbuf, rpad, par)
    return False


@numba.njit(**JIT)
def apply_FT(op, rpad, out, par):
    """``out = F^T r``: full convolution with the flipped filters (footnote 3)."""
    corr(rpad, op.taps_adj, out, op.ptr_adj, op.idx_adj, 0, 0, par)


@numba.njit(**JIT)
def sub_interior(rpad, y, h1, w1):
    """``rpad[:, h1:-h1, w1:-w1] -= y`` (turn ``F z`` into the residual)."""
    for c in range(y.shape[0]):
        for i in range(y.shape[1]):
            row = rpad[c, h1 + i, w1:w1 + y.shape[2]]
            yr = y[c, i]
            for j in range(y.shape[2]):
                row[j] -= yr[j]


@numba.njit(**JIT)
def residual_norm2(rpad, y, h1, w1):
    """``||F z - y||^2`` given ``F z`` in the interior of ``rpad`` (float64 sum)."""
    s = 0.0
    for c in range(y.shape[0]):
        for i in range(y.shape[1]):
            row = rpad[c, h1 + i, w1:w1 + y.shape[2]]
            yr = y[c, i]
            for j in range(y.shape[2]):
                d = row[j] - yr[j]
                s += d * d
    return s


@numba.njit(**JIT)
def dot(a, b):
    """``<a, b>`` over all elements, accumulated in float64."""
    av = a.reshape(-1)
    bv = b.reshape(-1)
    s = 0.0
    for i in range(av.shape[0]):
        s += av[i] * bv[i]
    return s


@numba.njit(**JIT)
def apply_A(op, z, out, rpad, alpha, par):
    """``out = A z = F^T F z + alpha z`` (eqs. 6-7 with ``alpha = beta/lambda``).

    ``A`` is never formed: one forward and one adjoint convolution pass, the
    ``alpha z`` term fused into the adjoint pass.  Returns ``<z, A z>`` when
    ``alpha != 0`` (computed in the same pass; CG needs it), else 0.
    """
    apply_F(op, z, rpad, par)
    return corr_add(rpad, op.taps_adj, out, op.ptr_adj, op.idx_adj, 0, 0, z, alpha, par)


@numba.njit(**PJIT)
def _dot_maps_parallel(a, b, part):
    for k in prange(a.shape[0]):
        part[k] = dot(a[k], b[k])


@numba.njit(**JIT)
def vdot(a, b, part, par):
    """``<a, b>`` of two (K, M, N) arrays, in float64.

    One partial sum per map (in parallel over maps when ``par``), added in a
    fixed order: the result does not depend on ``par`` or on the number of
    threads.  ``part`` is a (K,) float64 buffer.
    """
    if par:
        _dot_maps_parallel(a, b, part)
    else:
        for k in range(a.shape[0]):
            part[k] = dot(a[k], b[k])
    s = 0.0
    for k in range(part.shape[0]):
        s += part[k]
    return s


@numba.njit(**JIT)
def power_norm2(op, z, out, rpad, n_iter, par):
    """Estimate ``||F||^2 = lambda_max(F^T F)`` by power iteration from ``z``.

    ``z`` is overwritten with the last normalised iterate.
    """
    nrm = math.sqrt(dot(z, z))
    if nrm == 0.0:
        return 0.0
    zv = z.reshape(-1)
    ov = out.reshape(-1)
    s = zv.dtype.type(1.0 / nrm)
    for i in range(zv.shape[0]):
        zv[i] *= s
    lam = 0.0
    for _ in range(n_iter):
        apply_A(op, z, out, rpad, 0.0, par)
        lam = dot(z, out)
        nrm = math.sqrt(dot(out, out))
        if nrm == 0.0:
            return 0.0
        s = zv.dtype.type(1.0 / nrm)
        for i in range(zv.shape[0]):
            zv[i] = ov[i] * s
    return lam


@numba.njit(**JIT)
def rpad_for(op, y, z):
    """Zero work buffer of shape (K0, P+2(h-1), Q+2(w-1)) for ``F z`` (the border
    ``F^T`` reads), for input ``y`` of shape (K0, P, Q), in ``z``'s dtype."""
    h = op.taps_fwd.shape[2]
    w = op.taps_fwd.shape[3]
    return np.zeros((y.shape[0], y.shape[1] + 2 * (h - 1), y.shape[2] + 2 * (w - 1)), z.dtype)
