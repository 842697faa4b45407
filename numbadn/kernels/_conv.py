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
contiguous in memory, with the seven taps of one filter row (the paper's 7x7
filters) held in registers; the 7-tap rows go through explicit SIMD
(:mod:`numbadn.kernels._simd`: each block of 16 columns loads its input once
and builds the seven shifted windows by shuffles, the last partial block is
masked), and two output rows share every input window.  Rows are addressed
by flat offsets, never by slices (see the note above :func:`_taps7`).

Throughput on the paper's shapes: ``numbadn bench`` (the README's "Speed"
table holds the figures measured on the project's machine).

All functions here are ``@njit``: arrays in, arrays out.  Inputs are not
validated; the public fronts in :mod:`numbadn.kernels` do that.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._jit import JIT, PJIT
from ._simd import corr7_rows, fma7_block, fma7_tail, simd_width
from ._threads import thread_count

#: Output rows per task before the thread count is looked at (:func:`row_block`):
#: a long block amortises a task's set-up when each output has few inputs (the
#: adjoint passes), a short one keeps tasks for the threads when there are few outputs.
ROW_BLOCK_LONG = 16
ROW_BLOCK_SHORT = 4
#: Fewest tasks a longer block must leave when the pass also sums ``<out, extra>``.
#: The row grouping of that sum follows :func:`row_block` with this bound whatever
#: the tiling, so CG's ``<p, A p>`` is added up the same way on any thread count.
MIN_TASKS = 64
#: The same for passes without the fused dot product.
MIN_TASKS_NO_DOT = 16
#: Work items per thread the tiling aims for (:func:`plan_tiles`): with
#: several items each, a thread that finishes early takes no large share of the
#: last round.
ITEMS_PER_THREAD = 4
#: Bytes of input rows one tile should touch at most (a per-core share of L2):
#: past it, fewer rows per tile.
TILE_CACHE_BYTES = 256 * 1024
#: Narrowest column tile, in SIMD blocks of ``L`` columns.
MIN_COL_BLOCKS = 2


@numba.njit(**JIT)
def row_block(n_out, Ho, min_tasks):
    """Rows per task for ``n_out`` outputs of ``Ho`` rows: the longest of 16, 8
    and 4 that leaves at least ``min_tasks`` tasks (else 4)."""
    rb = ROW_BLOCK_LONG
    while rb > ROW_BLOCK_SHORT:
        if n_out * ((Ho + rb - 1) // rb) >= min_tasks:
            return rb
        rb //= 2
    return ROW_BLOCK_SHORT


@numba.njit(**JIT)
def plan_tiles(n_out, Ho, Wo, n_src, h, w, lanes, itemsize, dot, n_threads):
    """How one valid-correlation pass is cut into work items for ``n_threads``.

    A pure function of the shapes and the thread count (callable from Python
    with any count, without having those threads).  An item is one output
    channel x a block of ``rb`` rows x one of ``nc`` column tiles (whole SIMD
    blocks of ``lanes`` columns, as even as they go).

    - Start from :func:`row_block` (the tiling measured best on 1-4 threads),
      with fewer rows where a tile's input rows (``n_src`` channels x ``rb + h``
      rows x ``Wo + w - 1`` columns of ``itemsize`` bytes) would pass
      :data:`TILE_CACHE_BYTES`;
    - while there are fewer than :data:`ITEMS_PER_THREAD` items per thread:
      halve the row blocks down to 2 (row pairs share their input loads), then
      double the column tiles (not when ``dot``: the fused ``<out, extra>`` is
      summed row by row over whole rows), then single rows.

    Every output element is summed in the same order however it is tiled (see
    :func:`corr_rows`), so the plan changes only the speed, never the result.

    Returns ``(rb, nc, items)``.
    """
    rb = row_block(n_out, Ho, MIN_TASKS if dot else MIN_TASKS_NO_DOT)
    while rb > 2 and n_src * (rb + h) * (Wo + w - 1) * itemsize > TILE_CACHE_BYTES:
        rb //= 2
    nc = 1
    if n_threads > 1:
        want = ITEMS_PER_THREAD * n_threads
        while rb > 2 and n_out * ((Ho + rb - 1) // rb) < want:
            rb //= 2
        nblk = (Wo + lanes - 1) // lanes
        if not dot:
            while (n_out * ((Ho + rb - 1) // rb) * nc < want
                   and 2 * nc * MIN_COL_BLOCKS <= nblk):
                nc *= 2
        if n_out * ((Ho + rb - 1) // rb) * nc < want:
            rb = 1
    return rb, nc, n_out * ((Ho + rb - 1) // rb) * nc


@numba.njit(**JIT)
def col_tile(j, nc, Wo, lanes):
    """Columns ``[c0, c1)`` of column tile ``j`` of ``nc`` (whole SIMD blocks)."""
    nblk = (Wo + lanes - 1) // lanes
    c0 = lanes * ((j * nblk) // nc)
    c1 = min(Wo, lanes * (((j + 1) * nblk) // nc))
    return c0, c1


# The row kernels index flat (1-D) views with integer offsets instead of
# slicing rows: a slice is a new array whose reference count numba updates
# atomically on creation and release, and at ~20 slices per filter row that
# bookkeeping cost more than the arithmetic (flat offsets: +30-40% GFLOP/s on
# the paper's shapes).  Where a plain loop indexes them, ``max(off, 0)`` tells
# LLVM the offsets are non-negative, so the index needs no wrap-around select.
@numba.njit(**JIT)
def _taps7(taps, o, c, a):
    """Filter row ``taps[o, c, a]`` of a 7-wide filter as a tuple (registers)."""
    return (taps[o, c, a, 0], taps[o, c, a, 1], taps[o, c, a, 2], taps[o, c, a, 3],
            taps[o, c, a, 4], taps[o, c, a, 5], taps[o, c, a, 6])


@numba.njit(**JIT)
def _fma7(s, sb, o, ob, t, n):
    """``o[ob + j] += sum_b t[b] * s[sb + j + b]``, ``j < n`` (one 7-tap filter row ``t``)."""
    _fma7_rows(s, sb, 0, o, ob, 0, 1, t, n)


@numba.njit(**JIT)
def _fma7_rows(s, sb, s_step, o, ob, o_step, nrows, t, n):
    """:func:`_fma7` on ``nrows`` rows: input rows ``sb + r s_step``, output rows
    ``ob + r o_step`` (one call per filter row and task: the taps are loaded once).
    Blocks of ``L`` columns by :func:`~numbadn.kernels._simd.fma7_block`, the
    last partial block masked."""
    L = simd_width(s)
    nf = n - n % L
    for r in range(nrows):
        sr = sb + r * s_step
        orr = ob + r * o_step
        for j in range(0, nf, L):
            fma7_block(s, sr + j, o, (orr + j,), t)
        if nf < n:
            fma7_tail(s, sr + nf, o, (orr + nf,), t, n - nf)


@numba.njit(**JIT)
def _fma7x2_rows(s, sb, s_step, o, ob0, ob1, o_step, nrows, t, n):
    """Two output rows from one input row (14 taps ``t``: 7 for row ``ob0``,
    then 7 for row ``ob1``): each input window feeds 14 FMAs instead of 7;
    repeated for ``nrows`` input rows ``sb + r s_step`` and output rows
    ``ob0/ob1 + r o_step``."""
    L = simd_width(s)
    nf = n - n % L
    for r in range(nrows):
        sr = sb + r * s_step
        o0 = ob0 + r * o_step
        o1 = ob1 + r * o_step
        for j in range(0, nf, L):
            fma7_block(s, sr + j, o, (o0 + j, o1 + j), t)
        if nf < n:
            fma7_tail(s, sr + nf, o, (o0 + nf, o1 + nf), t, n - nf)


@numba.njit(**JIT)
def _fma_taps(s, sb, o, ob, t, n):
    """``o[ob + j] += sum_b t[b] * s[sb + j + b]`` for a filter row of any width
    (chunks of 7 taps, then one tap at a time)."""
    w = t.shape[0]
    b = 0
    while b + 7 <= w:
        _fma7(s, sb + b, o, ob, (t[b], t[b + 1], t[b + 2], t[b + 3], t[b + 4],
                                 t[b + 5], t[b + 6]), n)
        b += 7
    sb = max(sb, 0)
    ob = max(ob, 0)
    while b < w:
        tb = t[b]
        for j in range(n):
            o[ob + j] += tb * s[sb + b + j]
        b += 1


@numba.njit(**JIT)
def _row1(s1, sb, o1, ob, taps, o, c, a, n):
    """One filter row ``taps[o, c, a]`` into one output row."""
    if taps.shape[3] == 7:
        _fma7(s1, sb, o1, ob, _taps7(taps, o, c, a), n)
    else:
        _fma_taps(s1, sb, o1, ob, taps[o, c, a], n)


@numba.njit(**JIT)
def _init_row(o1, ob, extra, n, ealpha):
    """Start output row ``o1[ob:ob+n]`` at ``ealpha * extra[ob:ob+n]`` (0 when
    ``ealpha == 0``): the ``+ (beta/lambda) z`` of eq. 6 costs no extra pass."""
    ob = max(ob, 0)
    if ealpha != 0.0:
        ea = o1.dtype.type(ealpha)
        for j in range(n):
            o1[ob + j] = ea * extra[ob + j]
    else:
        zero = o1.dtype.type(0)
        for j in range(n):
            o1[ob + j] = zero


@numba.njit(**JIT)
def _row_dot(o1, ob, extra, n):
    """``<o1[ob:ob+n], extra[ob:ob+n]>``, summed in the arrays' dtype (vector
    lanes), returned as a float; the caller adds rows up in float64."""
    ob = max(ob, 0)
    s = o1.dtype.type(0)
    for j in range(n):
        s += o1[ob + j] * extra[ob + j]
    return float(s)


@numba.njit(**JIT)
def corr_rows(src, taps, out, ptr, idx, o, r0, r1, j0, j1, oi0, oj0, extra, ealpha, rowdots):
    """Rows ``r0:r1``, columns ``j0:j1`` of output channel ``o`` of the valid
    correlation, plus ``ealpha * extra`` (same indexing as ``out``) when
    ``ealpha != 0``: that fuses the ``+ (beta/lambda) z`` of eq. 6 into the
    adjoint pass (the rows start at ``ealpha * extra`` instead of zero).

    Parameters
    ----------
    src : ndarray of shape (C_in, Hs, Ws), C-contiguous
    taps : ndarray of shape (C_out, C_in, h, w)
    out : ndarray of shape (C_out, Ho + 2*oi0, Wo + 2*oj0), C-contiguous
        Written at ``out[o, oi0 + i, oj0 + j]`` for ``i`` in ``r0:r1``,
        ``j`` in ``j0:j1``; other entries are left untouched (``oi0, oj0`` let
        the caller write into the interior of a zero-padded buffer).
    ptr, idx : ndarray of int64
        CSR list of the input channels connected to each output channel.
    rowdots : ndarray of float64, shape (C_out * Ho,)
        With ``ealpha != 0`` (and whole rows, ``j0 = 0, j1 = Wo``),
        ``rowdots[o Ho + i] = <out row i, extra row i>`` (CG's ``<p, A p>``
        for free), summed in the dtype's vector lanes.

    Notes
    -----
    Inputs are not validated.  ``Ws >= j1 + w - 1`` and
    ``Hs >= r1 + h - 1`` are required.  For 7-wide filters, output rows go in
    pairs that share every input row load (:func:`_fma7x2_rows`), all pairs of
    the block in one call per channel and filter row.  Each output
    element is summed in the same order (``ealpha * extra`` or 0, then
    channels, then filter rows, each row's taps in one chain, the same in
    every SIMD lane and in the masked last block) whatever the pairing and
    the column range, so the result does not depend on how the output is
    split into tiles.
    """
    h = taps.shape[2]
    w = taps.shape[3]
    Hs = src.shape[1]
    Ws = src.shape[2]
    Ho2 = out.shape[1]
    Wo2 = out.shape[2]
    Ho = Ho2 - 2 * oi0
    n = j1 - j0
    s1 = src.reshape(-1)
    o1 = out.reshape(-1)
    e1 = extra.reshape(-1)
    i = r0
    if w == 7 and r1 - r0 >= 2:
        # all row pairs of the block at once, one call per (channel, filter row)
        npairs = (r1 - r0) // 2
        ob0 = (o * Ho2 + r0 + oi0) * Wo2 + oj0 + j0
        for q in range(2 * npairs):
            _init_row(o1, ob0 + q * Wo2, e1, n, ealpha)
        for t in range(ptr[o], ptr[o + 1]):
            c = idx[t]
            sb = (c * Hs + r0) * Ws + j0
            _fma7_rows(s1, sb, 2 * Ws, o1, ob0, 2 * Wo2, npairs, _taps7(taps, o, c, 0), n)
            for a in range(1, h):
                _fma7x2_rows(s1, sb + a * Ws, 2 * Ws, o1, ob0, ob0 + Wo2, 2 * Wo2, npairs,
                             _taps7(taps, o, c, a) + _taps7(taps, o, c, a - 1), n)
            _fma7_rows(s1, sb + h * Ws, 2 * Ws, o1, ob0 + Wo2, 2 * Wo2, npairs,
                       _taps7(taps, o, c, h - 1), n)
        if ealpha != 0.0:
            for q in range(2 * npairs):
                rowdots[o * Ho + r0 + q] = _row_dot(o1, ob0 + q * Wo2, e1, n)
        i = r0 + 2 * npairs
    while i < r1:  # the last row of an odd block, and filters of other widths
        ob0 = (o * Ho2 + i + oi0) * Wo2 + oj0 + j0
        _init_row(o1, ob0, e1, n, ealpha)
        for t in range(ptr[o], ptr[o + 1]):
            c = idx[t]
            for a in range(h):
                _row1(s1, (c * Hs + i + a) * Ws + j0, o1, ob0, taps, o, c, a, n)
        if ealpha != 0.0:
            rowdots[o * Ho + i] = _row_dot(o1, ob0, e1, n)
        i += 1


@numba.njit(**JIT)
def _corr_item(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, rowdots, item,
               nbr, nc, Ho, Wo, rb, lanes):
    """Work item ``item``: output channel ``item // (nbr nc)``, then its row
    block, then its column tile (neighbouring items share input rows)."""
    per = nbr * nc
    o = item // per
    rem = item - o * per
    bi = rem // nc
    j = rem - bi * nc
    r0 = bi * rb
    r1 = min(Ho, r0 + rb)
    c0, c1 = col_tile(j, nc, Wo, lanes)
    if c1 > c0:
        corr_rows(src, taps, out, ptr, idx, o, r0, r1, c0, c1, oi0, oj0, extra, ealpha, rowdots)


@numba.njit(**PJIT)
def corr_parallel(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, rowdots, rb, nc):
    """Valid correlation (see module docstring), parallel.

    Parallel over: output channels x blocks of ``rb`` output rows x ``nc``
    column tiles (:func:`plan_tiles`).  Each output element is computed by
    one item in a fixed order, so the result depends neither on the plan nor
    on the number of threads.
    """
    Ho = out.shape[1] - 2 * oi0
    Wo = out.shape[2] - 2 * oj0
    lanes = simd_width(out)
    nbr = (Ho + rb - 1) // rb
    for item in prange(out.shape[0] * nbr * nc):
        _corr_item(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, rowdots, item,
                   nbr, nc, Ho, Wo, rb, lanes)


@numba.njit(**JIT)
def corr_serial(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, rowdots, rb, nc):
    """:func:`corr_parallel` on the calling thread (inside batch kernels that are
    parallel over images)."""
    Ho = out.shape[1] - 2 * oi0
    Wo = out.shape[2] - 2 * oj0
    lanes = simd_width(out)
    nbr = (Ho + rb - 1) // rb
    for item in range(out.shape[0] * nbr * nc):
        _corr_item(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, rowdots, item,
                   nbr, nc, Ho, Wo, rb, lanes)


@numba.njit(**JIT)
def corr_plan(src, taps, out, ptr, oi0, oj0, dot, n_threads):
    """:func:`plan_tiles` for this pass: ``(rb, nc, items)``."""
    n_out = out.shape[0]
    n_src = (ptr[n_out] + n_out - 1) // max(n_out, 1)
    return plan_tiles(n_out, out.shape[1] - 2 * oi0, out.shape[2] - 2 * oj0, n_src,
                      taps.shape[2], taps.shape[3], simd_width(out), out.itemsize,
                      dot, n_threads)


@numba.njit(**JIT)
def corr_tiled(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, par, n_threads):
    """:func:`corr_add` with the tiles planned for ``n_threads`` (any count: the
    result is the same; tests use it to run a 64-thread plan on 2 cores)."""
    Ho = out.shape[1] - 2 * oi0
    n_out = out.shape[0]
    dot = ealpha != 0.0
    rb, nc, _ = corr_plan(src, taps, out, ptr, oi0, oj0, dot, n_threads)
    rowdots = np.empty(n_out * Ho if dot else 1)
    if par:
        corr_parallel(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, rowdots, rb, nc)
    else:
        corr_serial(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, rowdots, rb, nc)
    if not dot:
        return 0.0
    # rows summed in blocks fixed by the shapes alone (row_block), blocks in order
    rbd = row_block(n_out, Ho, MIN_TASKS)
    s = 0.0
    for o in range(n_out):
        for r0 in range(0, Ho, rbd):
            part = 0.0
            for i in range(r0, min(Ho, r0 + rbd)):
                part += rowdots[o * Ho + i]
            s += part
    return s


@numba.njit(**JIT)
def corr_add(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, par):
    """Valid correlation plus ``ealpha * extra``, parallel (``par``) or serial,
    tiled for the calling thread's numba thread count (:func:`plan_tiles`).

    Returns ``<out, extra>`` (float64, summed in an order fixed by the shapes)
    when ``ealpha != 0``, else 0.
    """
    return corr_tiled(src, taps, out, ptr, idx, oi0, oj0, extra, ealpha, par,
                      thread_count() if par else 1)


@numba.njit(**JIT)
def corr(src, taps, out, ptr, idx, oi0, oj0, par):
    """Valid correlation (see module docstring), parallel (``par``) or serial."""
    corr_add(src, taps, out, ptr, idx, oi0, oj0, out, 0.0, par)


@numba.njit(**JIT)
def _filter_grad_pair(z, r, grad, k, c, oi0, oj0):
    """``grad[k, c, a, b] = sum_ij r[c, i, j] * z[k, i + h-1-a, j + w-1-b]``.

    For 7-wide filters the seven sums of a filter row share one pass over the
    map row (:func:`~numbadn.kernels._simd.corr7_rows`, two residual rows at a
    time); each tap's sum is kept in ``L`` vector lanes in the arrays' dtype
    over the whole image, and the lanes are added in float64 at the end.
    Other widths: each row's sums in the dtype, rows added in float64.  Flat
    offsets, as in :func:`corr_rows`.
    """
    h = grad.shape[2]
    w = grad.shape[3]
    Hr = r.shape[1]
    Wr = r.shape[2]
    Hz = z.shape[1]
    Wz = z.shape[2]
    P = Hr - 2 * oi0
    Q = Wr - 2 * oj0
    r1 = r.reshape(-1)
    z1 = z.reshape(-1)
    acc = np.zeros((h, w))
    L = simd_width(r1)
    accv = np.zeros(h * w * L, r.dtype)  # one vector of lane sums per tap
    i = 0
    if w == 7:
        # residual rows in pairs: rows i and i+1 meet map row m at filter rows
        # a = i+h-1-m and a+1, so one pass over map row m serves both
        while i + 1 < P:
            rb0 = (c * Hr + i + oi0) * Wr + oj0
            rb1 = rb0 + Wr
            zb = (k * Hz + i + h) * Wz
            corr7_rows(r1, (rb1,), z1, zb, Q, accv, (0,))
            for a in range(h - 1):
                zb -= Wz
                corr7_rows(r1, (rb0, rb1), z1, zb, Q, accv, (a * w, (a + 1) * w))
            corr7_rows(r1, (rb0,), z1, zb - Wz, Q, accv, ((h - 1) * w,))
            i += 2
    for i in range(i, P):
        rb = (c * Hr + i + oi0) * Wr + oj0
        for a in range(h):
            zb = (k * Hz + i + h - 1 - a) * Wz
            if w == 7:
                corr7_rows(r1, (rb,), z1, zb, Q, accv, (a * w,))
            else:
                for b in range(w):
                    zs = max(zb + w - 1 - b, 0)
                    s = r.dtype.type(0)
                    for j in range(Q):
                        s += r1[rb + j] * z1[zs + j]
                    acc[a, b] += s
    for a in range(h):
        for b in range(w):
            t = (a * w + b) * L
            s = acc[a, b]
            if w == 7:
                for lane in range(L):
                    s += accv[t + lane]
            grad[k, c, a, b] = s


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
