"""Direct spatial 2-D convolution kernels (paper eq. 1, eq. 5 and footnote 3).

Every convolution in numbadn reduces to one primitive, a multi-channel *valid
correlation* with a sparse channel map::

    out[o, i, j] = sum_{c in conn(o)} sum_{a, b} taps[o, c, a, b] * src[c, i + a, j + b]

- ``F z`` (eq. 1, "valid" true convolution) is this primitive on ``z`` with the
  flipped filters, outputs ``c`` summing over maps ``k`` with ``g[k, c]``;
- ``F^T r`` (footnote 3, "full" convolution with the flipped filter) is this
  primitive on ``r`` zero-padded by ``h-1, w-1`` with the filters unflipped,
  outputs ``k`` summing over channels ``c`` with ``g[k, c]``.

The connectivity ``conn(o)`` is given in CSR form (``ptr``, ``idx``), so the
inner loops never test ``g``.  The innermost loop runs over output columns,
contiguous in memory, with up to seven filter taps (one row of the paper's
7x7 filters) held in registers, which LLVM turns
into packed FMA instructions.

All functions here are ``@njit``: arrays in, arrays out.  Inputs are not
validated; the public fronts in :mod:`numbadn.kernels` do that.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._jit import JIT, PJIT

#: Output rows per parallel task.
ROW_BLOCK = 4


@numba.njit(**JIT)
def _accum_row(srow, taps, o, c, a, orow, Wo):
    """``orow[j] += sum_b taps[o, c, a, b] * srow[j + b]`` (one filter row).

    The taps go in chunks of 7 (one row of the paper's 7x7 filters), 4, 3, 2
    and 1, each chunk's taps held in registers across the column loop.
    """
    w = taps.shape[3]
    b = 0
    while b + 7 <= w:
        t0 = taps[o, c, a, b]
        t1 = taps[o, c, a, b + 1]
        t2 = taps[o, c, a, b + 2]
        t3 = taps[o, c, a, b + 3]
        t4 = taps[o, c, a, b + 4]
        t5 = taps[o, c, a, b + 5]
        t6 = taps[o, c, a, b + 6]
        s0 = srow[b:b + Wo]
        s1 = srow[b + 1:b + 1 + Wo]
        s2 = srow[b + 2:b + 2 + Wo]
        s3 = srow[b + 3:b + 3 + Wo]
        s4 = srow[b + 4:b + 4 + Wo]
        s5 = srow[b + 5:b + 5 + Wo]
        s6 = srow[b + 6:b + 6 + Wo]
        for j in range(Wo):
            orow[j] += (t0 * s0[j] + t1 * s1[j] + t2 * s2[j] + t3 * s3[j]
                        + t4 * s4[j] + t5 * s5[j] + t6 * s6[j])
        b += 7
    if w - b >= 4:
        t0 = taps[o, c, a, b]
        t1 = taps[o, c, a, b + 1]
        t2 = taps[o, c, a, b + 2]
        t3 = taps[o, c, a, b + 3]
        s0 = srow[b:b + Wo]
        s1 = srow[b + 1:b + 1 + Wo]
        s2 = srow[b + 2:b + 2 + Wo]
        s3 = srow[b + 3:b + 3 + Wo]
        for j in range(Wo):
            orow[j] += t0 * s0[j] + t1 * s1[j] + t2 * s2[j] + t3 * s3[j]
        b += 4
    rem = w - b
    if rem == 3:
        t0 = taps[o, c, a, b]
        t1 = taps[o, c, a, b + 1]
        t2 = taps[o, c, a, b + 2]
        s0 = srow[b:b + Wo]
        s1 = srow[b + 1:b + 1 + Wo]
        s2 = srow[b + 2:b + 2 + Wo]
        for j in range(Wo):
            orow[j] += t0 * s0[j] + t1 * s1[j] + t2 * s2[j]
    elif rem == 2:
        t0 = taps[o, c, a, b]
        t1 = taps[o, c, a, b + 1]
        s0 = srow[b:b + Wo]
        s1 = srow[b + 1:b + 1 + Wo]
        for j in range(Wo):
            orow[j] += t0 * s0[j] + t1 * s1[j]
    elif rem == 1:
        t0 = taps[o, c, a, b]
        s0 = srow[b:b + Wo]
        for j in range(Wo):
            orow[j] += t0 * s0[j]


@numba.njit(**JIT)
def _accum_row2_7(srow, taps, o, c, a0, a1, orow0, orow1, Wo):
    """Two output rows from one input row, for 7-wide filters.

    ``orow0 += taps[o, c, a0] (*) srow`` and ``orow1 += taps[o, c, a1] (*) srow``:
    each loaded input vector feeds 14 FMAs instead of 7, which halves the
    loads per FMA (the kernel's bottleneck).
    """
    p0 = taps[o, c, a0, 0]
    p1 = taps[o, c, a0, 1]
    p2 = taps[o, c, a0, 2]
    p3 = taps[o, c, a0, 3]
    p4 = taps[o, c, a0, 4]
    p5 = taps[o, c, a0, 5]
    p6 = taps[o, c, a0, 6]
    q0 = taps[o, c, a1, 0]
    q1 = taps[o, c, a1, 1]
    q2 = taps[o, c, a1, 2]
    q3 = taps[o, c, a1, 3]
    q4 = taps[o, c, a1, 4]
    q5 = taps[o, c, a1, 5]
    q6 = taps[o, c, a1, 6]
    s0 = srow[0:Wo]
    s1 = srow[1:1 + Wo]
    s2 = srow[2:2 + Wo]
    s3 = srow[3:3 + Wo]
    s4 = srow[4:4 + Wo]
    s5 = srow[5:5 + Wo]
    s6 = srow[6:6 + Wo]
    for j in range(Wo):
        v0 = s0[j]
        v1 = s1[j]
        v2 = s2[j]
        v3 = s3[j]
        v4 = s4[j]
        v5 = s5[j]
        v6 = s6[j]
        orow0[j] += p0 * v0 + p1 * v1 + p2 * v2 + p3 * v3 + p4 * v4 + p5 * v5 + p6 * v6
        orow1[j] += q0 * v0 + q1 * v1 + q2 * v2 + q3 * v3 + q4 * v4 + q5 * v5 + q6 * v6


@numba.njit(**JIT)
def _add_scaled(orow, extra, o, i, oj0, Wo, ealpha):
    """``orow += ealpha * extra[o, i]``; returns ``<orow, extra[o, i]>`` (float64)."""
    erow = extra[o, i, oj0:oj0 + Wo]
    ea = orow.dtype.type(ealpha)
    s = 0.0
    for j in range(Wo):
        v = orow[j] + ea * erow[j]
        orow[j] = v
        s += v * erow[j]
    return s


@numba.njit(**JIT)
def corr_rows(src, taps, out, ptr, idx, o, r0, r1, oi0, oj0, extra, ealpha):
    """Rows ``r0:r1`` of output channel ``o`` of the valid correlation,
    plus ``ealpha * extra`` (same indexing as ``out``) when ``ealpha != 0``:
    that fuses the ``+ (beta/lambda) z`` of eq. 6 into the adjoint pass.

    Parameters
    ----------
    src : ndarray of shape (C_in, Hs, Ws)
    taps : ndarray of shape (C_out, C_in, h, w)
    out : ndarray of shape (C_out, Ho + 2*oi0, Wo + 2*oj0)
        Written at ``out[o, oi0 + i, oj0 + j]`` for ``i`` in ``r0:r1``,
        ``j`` in ``0:Wo``; other entries are left untouched (``oi0, oj0`` let
        the caller write into the interior of a zero-padded buffer).
    ptr, idx : ndarray of int64
        CSR list of the input channels connected to each output channel.

    Notes
    -----
    Inputs are not validated.  ``Ws >= Wo + w - 1`` and
    ``Hs >= r1 + h - 1`` are required.  For 7-wide filters, output rows go in
    pairs that share every input row load (:func:`_accum_row2_7`).

    Returns
    -------
    float
        ``<out, extra>`` over these rows when ``ealpha != 0`` (CG's ``<p, A p>``
        for free), else 0.
    """
    h = taps.shape[2]
    w = taps.shape[3]
    Wo = out.shape[2] - 2 * oj0
    dot = 0.0
    i = r0
    while i < r1:
        if w == 7 and i + 1 < r1:
            orow0 = out[o, i + oi0, oj0:oj0 + Wo]
            orow1 = out[o, i + 1 + oi0, oj0:oj0 + Wo]
            for j in range(Wo):
                orow0[j] = 0
                orow1[j] = 0
            for t in range(ptr[o], ptr[o + 1]):
                c = idx[t]
                _accum_row(src[c, i], taps, o, c, 0, orow0, Wo)
                for a in range(1, h):
                    _accum_row2_7(src[c, i + a], taps, o, c, a, a - 1, orow0, orow1, Wo)
                _accum_row(src[c, i + h], taps, o, c, h - 1, orow1, Wo)
            if ealpha != 0.0:
                dot += _add_scaled(orow0, extra, o, i + oi0, oj0, Wo, ealpha)
                dot += _add_scaled(orow1, extra, o, i + 1 + oi0, oj0, Wo, ealpha)
            i += 2
        else:
            orow = out[o, i + oi0, oj0:oj0 + Wo]
            for j in range(Wo):
                orow[j] = 0
            for t in range(ptr[o], ptr[o + 1]):
                c = idx[t]
                for a in range(h):
                    _accum_row(src[c, i + a], taps, o, c, a, orow, Wo)
            if ealpha != 0.0:
                dot += _add_scaled(orow, extra, o, i + oi0, oj0, Wo, ealpha)
            i += 1
    return dot


@numba.njit(**JIT)
def _corr_task(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, dots, task, nb, Ho):
    """Task ``task``: output channel ``task // nb``, its block ``task % nb`` of rows."""
    o = task // nb
    r0 = (task - o * nb) * ROW_BLOCK
    r1 = min(Ho, r0 + ROW_BLOCK)
    dots[task] = corr_rows(src, taps, out, ptr, idx, o, r0, r1, oi0, oj0, extra, ealpha)


@numba.njit(**PJIT)
def corr_parallel(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, dots):
    """Valid correlation (see module docstring), parallel.

    Parallel over: output channels x blocks of ``ROW_BLOCK`` output rows.
    Each output element is computed by one task in a fixed order, so the
    result does not depend on the number of threads; ``dots[task]`` gets the
    task's part of ``<out, extra>``.
    """
    Ho = out.shape[1] - 2 * oi0
    nb = (Ho + ROW_BLOCK - 1) // ROW_BLOCK
    for task in prange(out.shape[0] * nb):
        _corr_task(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, dots, task, nb, Ho)


@numba.njit(**JIT)
def corr_serial(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, dots):
    """:func:`corr_parallel` on the calling thread, with the same tasks (so the
    same rounding).  Used inside batch kernels that are parallel over images."""
    Ho = out.shape[1] - 2 * oi0
    nb = (Ho + ROW_BLOCK - 1) // ROW_BLOCK
    for task in range(out.shape[0] * nb):
        _corr_task(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, dots, task, nb, Ho)


@numba.njit(**JIT)
def corr_add(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, par):
    """Valid correlation plus ``ealpha * extra``, parallel (``par``) or serial.

    Returns ``<out, extra>`` (float64, summed in a fixed order) when
    ``ealpha != 0``, else 0.
    """
    Ho = out.shape[1] - 2 * oi0
    dots = np.empty(out.shape[0] * ((Ho + ROW_BLOCK - 1) // ROW_BLOCK))
    if par:
        corr_parallel(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, dots)
    else:
        corr_serial(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, dots)
    s = 0.0
    for t in range(dots.shape[0]):
        s += dots[t]
    return s


@numba.njit(**JIT)
def corr(src, taps, out, ptr, idx, oi0, oj0, par):
    """Valid correlation (see module docstring), parallel (``par``) or serial."""
    corr_add(src, taps, out, ptr, idx, oi0, oj0, out, 0.0, par)


@numba.njit(**JIT)
def _corr7_sums(rrow, zrow, Q):
    """``sum_j rrow[j] zrow[6 - b + j]`` for b = 0..6 in one pass over the row."""
    z0 = zrow[6:6 + Q]
    z1 = zrow[5:5 + Q]
    z2 = zrow[4:4 + Q]
    z3 = zrow[3:3 + Q]
    z4 = zrow[2:2 + Q]
    z5 = zrow[1:1 + Q]
    z6 = zrow[0:Q]
    zero = rrow.dtype.type(0)
    s0 = zero
    s1 = zero
    s2 = zero
    s3 = zero
    s4 = zero
    s5 = zero
    s6 = zero
    for j in range(Q):
        rj = rrow[j]
        s0 += rj * z0[j]
        s1 += rj * z1[j]
        s2 += rj * z2[j]
        s3 += rj * z3[j]
        s4 += rj * z4[j]
        s5 += rj * z5[j]
        s6 += rj * z6[j]
    return s0, s1, s2, s3, s4, s5, s6


@numba.njit(**JIT)
def _filter_grad_pair(z, r, grad, k, c, oi0, oj0):
    """``grad[k, c, a, b] = sum_ij r[c, i, j] * z[k, i + h-1-a, j + w-1-b]``.

    Each row's sums are taken in the arrays' dtype and added up over rows in
    float64.  For 7-wide filters the seven sums of a filter row share one
    pass over the residual row (:func:`_corr7_sums`).
    """
    h = grad.shape[2]
    w = grad.shape[3]
    P = r.shape[1] - 2 * oi0
    Q = r.shape[2] - 2 * oj0
    acc = np.zeros((h, w))
    for i in range(P):
        rrow = r[c, i + oi0, oj0:oj0 + Q]
        for a in range(h):
            zrow = z[k, i + h - 1 - a]
            if w == 7:
                s0, s1, s2, s3, s4, s5, s6 = _corr7_sums(rrow, zrow, Q)
                acc[a, 0] += s0
                acc[a, 1] += s1
                acc[a, 2] += s2
                acc[a, 3] += s3
                acc[a, 4] += s4
                acc[a, 5] += s5
                acc[a, 6] += s6
            else:
                for b in range(w):
                    zs = zrow[w - 1 - b:w - 1 - b + Q]
                    s = rrow.dtype.type(0)
                    for j in range(Q):
                        s += rrow[j] * zs[j]
                    acc[a, b] += s
    for a in range(h):
        for b in range(w):
            grad[k, c, a, b] = acc[a, b]


@numba.njit(**PJIT)
def filter_grad_parallel(z, r, grad, gk, gc, oi0, oj0):
    """Gradient of ``1/2 ||F z - y||^2`` w.r.t. the filters (eq. 9 for one image).

    ``r = F z - y`` may sit in the interior of a padded buffer (offsets
    ``oi0, oj0``).  Only the connected pairs ``(gk[t], gc[t])`` are written.

    Parallel over: connected (k, c) pairs.
    """
    for t in prange(gk.shape[0]):
        _filter_grad_pair(z, r, grad, gk[t], gc[t], oi0, oj0)


@numba.njit(**JIT)
def filter_grad_serial(z, r, grad, gk, gc, oi0, oj0):
    """Serial twin of :func:`filter_grad_parallel`."""
    for t in range(gk.shape[0]):
        _filter_grad_pair(z, r, grad, gk[t], gc[t], oi0, oj0)
