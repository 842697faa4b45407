"""Explicit SIMD for the 7-tap row kernels: sliding windows by shuffles.

A 7-tap filter row needs, for every block of ``L`` output columns, the seven
input windows ``s[k + b : k + b + L]``, ``b = 0..6``.  Written as plain numba
loops, LLVM loads each window separately; with ``L = 16`` floats a window is
exactly one 64-byte cache line, so six of the seven loads straddle two lines
and cost double, and the last ``Wo mod L`` columns of every row run in a
scalar remainder loop.  Both bounded the kernels at ~40% of the FMA peak on
one thread.

The intrinsics here emit the LLVM IR directly (numba's ``@intrinsic``):
two loads ``A = s[k : k+L]`` and ``B = s[k+L : k+L+6]``, the six shifted
windows as ``shufflevector`` of ``A`` and ``B`` (one ``valignd`` each on
AVX-512), and ``fma`` intrinsics into one or two output rows; the last,
partial block uses masked loads and stores (``llvm.masked.load/store``), so
no scalar remainder is left and nothing outside a row's elements is read or
written.  Each output element is still ``o + t0 s0 + t1 s1 + ... + t6 s6``
in that order, the same rounding as the loops they replace.

``L`` is 16 for float32 on CPUs with AVX-512 and 8 otherwise (8 for
float64); on other CPUs LLVM splits or scalarises the same vector IR, so
results are identical and only the speed differs.  Arrays must be 1-D
C-contiguous (the kernels pass flat views).  Inputs are not validated.
"""
from __future__ import annotations

import numba
from llvmlite import binding as llvm_binding
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: Taps per filter row handled by the intrinsics.
TAPS = 7


def _has_avx512() -> bool:
    feats = numba.config.CPU_FEATURES
    if not feats:
        try:
            feats = llvm_binding.get_host_cpu_features().flatten()
        except Exception:  # pragma: no cover - hosts LLVM cannot query
            feats = ""
    return "+avx512f" in feats


AVX512 = _has_avx512()
#: Vector lanes per dtype (at least 8, so that ``A`` and ``B`` hold every
#: window of a 7-tap row).
LANES = {"float32": 16 if AVX512 else 8, "float64": 8}

_I1 = ir.IntType(1)
_I32 = ir.IntType(32)
_I64 = ir.IntType(64)


def _lanes_of(dtype):
    return LANES[str(dtype)]


def _llvm_name(vty):
    bits = 32 if isinstance(vty.element, ir.FloatType) else 64
    return f"v{vty.count}f{bits}"


def _splat(builder, x, vty):
    v = builder.insert_element(ir.Constant(vty, None), x, ir.Constant(_I32, 0))
    return builder.shuffle_vector(v, ir.Constant(vty, None),
                                  ir.Constant(ir.VectorType(_I32, vty.count), [0] * vty.count))


def _lane_mask(builder, m, lanes):
    """``<lanes x i1>``: lane ``i`` is set where ``i < m`` (``m`` an i64)."""
    vt = ir.VectorType(_I64, lanes)
    mv = _splat(builder, m, vt)
    return builder.icmp_signed("<", ir.Constant(vt, list(range(lanes))), mv)


def _vptr(builder, data, index, vty):
    return builder.bitcast(builder.gep(data, [index]), vty.as_pointer())


def _masked_load(builder, ptr, vty, mask):
    fnty = ir.FunctionType(vty, [ptr.type, _I32, mask.type, vty])
    fn = cgutils.get_or_insert_function(builder.module, fnty,
                                        f"llvm.masked.load.{_llvm_name(vty)}.p0")
    return builder.call(fn, [ptr, ir.Constant(_I32, 4), mask, ir.Constant(vty, None)])


def _masked_store(builder, val, ptr, vty, mask):
    fnty = ir.FunctionType(ir.VoidType(), [vty, ptr.type, _I32, mask.type])
    fn = cgutils.get_or_insert_function(builder.module, fnty,
                                        f"llvm.masked.store.{_llvm_name(vty)}.p0")
    builder.call(fn, [val, ptr, ir.Constant(_I32, 4), mask])


def _fma(builder, a, b, c, vty):
    fnty = ir.FunctionType(vty, [vty, vty, vty])
    fn = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.fma.{_llvm_name(vty)}")
    return builder.call(fn, [a, b, c])


def _load(builder, ptr, vty, mask=None):
    """A vector load, masked when ``mask`` is given (masked-off lanes are 0)."""
    return builder.load(ptr, align=1) if mask is None else _masked_load(builder, ptr, vty, mask)


def _windows(builder, data, k, vty, m=None):
    """The seven windows ``data[k + sh : k + sh + L]``, ``sh = 0..6``: loads of
    ``A = data[k : k+L]`` and ``B = data[k+L : k+L+6]``, the rest by shuffles of
    ``A`` and ``B``.  With ``m`` (an i64 < L) only the windows' first ``m``
    lanes are needed and nothing past ``data[k + m + 5]`` is read.
    Returns the windows and the lane mask of ``m`` (None without ``m``)."""
    lanes = vty.count
    L_ = ir.Constant(_I64, lanes)
    if m is None:
        mask = mask_a = None
        mask_b = ir.Constant(ir.VectorType(_I1, lanes),
                             [1] * (TAPS - 1) + [0] * (lanes - TAPS + 1))
    else:
        mask = _lane_mask(builder, m, lanes)
        need = builder.add(m, ir.Constant(_I64, TAPS - 1))
        mask_a = _lane_mask(builder, need, lanes)
        mask_b = _lane_mask(builder, builder.sub(need, L_), lanes)
    a = _load(builder, _vptr(builder, data, k, vty), vty, mask_a)
    b = _masked_load(builder, _vptr(builder, data, builder.add(k, L_), vty), vty, mask_b)
    windows = [a] + [
        builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(_I32, lanes),
                                                 list(range(sh, sh + lanes))))
        for sh in range(1, TAPS)]
    return windows, mask


def _emit(context, builder, sig, args, masked):
    """IR for one block of output columns (see :func:`fma7_block`)."""
    s_ty, _, o_ty, oi_ty, t_ty = sig.args[:5]
    s_, k_, o_, oi_, t_ = args[:5]
    lanes = _lanes_of(s_ty.dtype)
    vty = ir.VectorType(context.get_value_type(s_ty.dtype), lanes)
    sdata = context.make_array(s_ty)(context, builder, s_).data
    odata = context.make_array(o_ty)(context, builder, o_).data
    windows, mask_o = _windows(builder, sdata, k_, vty, args[5] if masked else None)
    for row in range(oi_ty.count):
        optr = _vptr(builder, odata, builder.extract_value(oi_, row), vty)
        acc = _load(builder, optr, vty, mask_o)
        for sh in range(TAPS):
            tap = _splat(builder, builder.extract_value(t_, TAPS * row + sh), vty)
            acc = _fma(builder, tap, windows[sh], acc, vty)
        if masked:
            _masked_store(builder, acc, optr, vty, mask_o)
        else:
            builder.store(acc, optr, align=1)
    return context.get_dummy_value()


def _check(s, o, oi, taps):
    ok = (isinstance(s, types.Array) and isinstance(o, types.Array)
          and s.ndim == 1 and o.ndim == 1 and s.layout == "C" and o.layout == "C"
          and str(s.dtype) in LANES and o.dtype == s.dtype
          and isinstance(oi, types.UniTuple) and 1 <= oi.count <= 2
          and isinstance(taps, types.UniTuple) and taps.count == TAPS * oi.count
          and taps.dtype == s.dtype)
    return ok


@intrinsic
def fma7_block(typingctx, s, k, o, oi, taps):
    """``o[oi[r] + j] += sum_b taps[7 r + b] * s[k + j + b]`` for ``j < L``.

    One full block of ``L = simd_width(s)`` columns into ``len(oi)`` (1 or 2)
    output rows that share the input windows; ``taps`` holds 7 taps per row.
    """
    if not _check(s, o, oi, taps):
        return None
    return types.none(s, types.int64, o, oi, taps), \
        lambda context, builder, sig, args: _emit(context, builder, sig, args, False)


@intrinsic
def fma7_tail(typingctx, s, k, o, oi, taps, m):
    """:func:`fma7_block` on the first ``m < L`` columns only (masked loads and
    stores: nothing beyond column ``m - 1 + 6`` of ``s`` or ``m - 1`` of ``o``
    is touched)."""
    if not _check(s, o, oi, taps):
        return None
    return types.none(s, types.int64, o, oi, taps, types.int64), \
        lambda context, builder, sig, args: _emit(context, builder, sig, args, True)


@intrinsic
def simd_width(typingctx, s):
    """Vector lanes ``L`` the intrinsics use for ``s``'s dtype (a constant)."""
    if not (isinstance(s, types.Array) and str(s.dtype) in LANES):
        return None
    lanes = _lanes_of(s.dtype)
    return types.int64(s), lambda context, builder, sig, args: ir.Constant(_I64, lanes)


# ------------------------------------------------------------ filter gradient
def _emit_corr(context, builder, sig, args):
    """IR of :func:`corr7_rows`: a loop over the row in blocks of ``L``; the
    7 x len(rows) accumulator vectors are loaded from ``acc`` before the loop,
    kept in registers (allocas that LLVM promotes) and stored back after it."""
    r_ty, rows_ty, z_ty, _, _, acc_ty, _ = sig.args
    r_, rows_, z_, zb_, q_, acc_, ai_ = args
    lanes = _lanes_of(r_ty.dtype)
    vty = ir.VectorType(context.get_value_type(r_ty.dtype), lanes)
    rdata = context.make_array(r_ty)(context, builder, r_).data
    zdata = context.make_array(z_ty)(context, builder, z_).data
    adata = context.make_array(acc_ty)(context, builder, acc_).data
    nrow = rows_ty.count
    L_ = ir.Constant(_I64, lanes)
    rbs = [builder.extract_value(rows_, i) for i in range(nrow)]
    aptrs, accs = [], []
    for i in range(nrow):
        base = builder.extract_value(ai_, i)
        for t in range(TAPS):
            aptr = _vptr(builder, adata, builder.mul(builder.add(base, ir.Constant(_I64, t)), L_),
                         vty)
            slot = cgutils.alloca_once(builder, vty)
            builder.store(builder.load(aptr, align=1), slot)
            aptrs.append(aptr)
            accs.append(slot)

    def block(j, m=None):
        windows, mask_r = _windows(builder, zdata, builder.add(zb_, j), vty, m)
        for i in range(nrow):
            rptr = _vptr(builder, rdata, builder.add(rbs[i], j), vty)
            rv = _load(builder, rptr, vty, mask_r)
            for t in range(TAPS):
                slot = accs[TAPS * i + t]
                builder.store(_fma(builder, rv, windows[TAPS - 1 - t], builder.load(slot), vty), slot)

    nfull = builder.sdiv(q_, L_)
    with cgutils.for_range(builder, nfull) as loop:
        block(builder.mul(loop.index, L_))
    rest = builder.sub(q_, builder.mul(nfull, L_))
    with builder.if_then(builder.icmp_signed(">", rest, ir.Constant(_I64, 0))):
        block(builder.mul(nfull, L_), rest)
    for aptr, slot in zip(aptrs, accs):
        builder.store(builder.load(slot), aptr, align=1)
    return context.get_dummy_value()


@intrinsic
def corr7_rows(typingctx, r, rows, z, zb, q, acc, ai):
    """Eq. 9's correlations of one or two residual rows with a map row.

    For each residual row ``i`` (offset ``rows[i]`` in ``r``), ``b = 0..6``
    and lane ``l < L``::

        acc[(ai[i] + b) L + l] += sum_{j < q, j = l mod L} r[rows[i] + j] * z[zb + 6 - b + j]

    i.e. ``acc`` holds one vector of ``L`` partial sums per filter tap, in
    the arrays' dtype; the caller adds the lanes up (in float64) once at the
    end.  Two rows share every map window (14 FMAs per window load instead of 7).
    """
    ok = (isinstance(r, types.Array) and isinstance(z, types.Array)
          and isinstance(acc, types.Array)
          and r.ndim == 1 and z.ndim == 1 and acc.ndim == 1
          and r.layout == "C" and z.layout == "C" and acc.layout == "C"
          and str(r.dtype) in LANES and z.dtype == r.dtype and acc.dtype == r.dtype
          and isinstance(rows, types.UniTuple) and 1 <= rows.count <= 2
          and isinstance(ai, types.UniTuple) and ai.count == rows.count)
    if not ok:
        return None
    return types.none(r, rows, z, types.int64, types.int64, acc, ai), _emit_corr
