"""The operator interface the solver drivers are written against.

The drivers (CG in :mod:`._cg`, continuation and FISTA in :mod:`._steps`) are
written once, for any linear operator ``D`` from maps ``z`` to an image ``y``, in
terms of these functions of ``op``:

- ``forward(op, z, rpad, par)``: ``rpad[interior] = D z``;
- ``forward_combo(op, z, a, zp, b, vbuf, rpad, par, max_density)``: ``D (a z + b zp)``
  (the one-layer operator scatters sparse maps; returns True when it did);
- ``adjoint(op, rpad, out, par)``: ``out = D^T r`` for ``r`` in the interior of the
  zero-bordered ``rpad``;
- ``gram(op, z, out, rpad, alpha, par)``: ``out = D^T D z + alpha z`` (the ``A`` of
  eqs. 6-7), returning ``<z, out>`` when ``alpha != 0`` (else 0);
- ``border(op)``: ``(h1, w1)``, the border of ``rpad`` around the image;
- ``pad_for(op, y, z)``: a zero ``rpad`` for an image shaped like ``y``.

Three operators implement it (numba dispatches on the named tuple's class when it
compiles a driver, so each problem gets its own machine code):

- :class:`~numbadn.kernels.Operator`: ``F`` of one layer (eqs. 1, 5);
- :class:`Chain`: the top-down operator of eq. 10, ``D_l = F^1 (F^2 (... F^l z / s) / s)``;
- :class:`LowPass`: the normal equations of the z0 maps (section 3.3),
  ``lam F0^T F0 + 2 psi grad^T grad``: ``gram``, and ``adjoint`` and ``border`` (``F0^T``,
  for the right-hand side).
"""
from __future__ import annotations

from collections import namedtuple

import numba
from numba.extending import overload

from .._jit import JIT
from ._operator import Operator, apply_A, apply_F, apply_F_combo, apply_FT, dot, rpad_for

#: Eq. 10's operator for the kernels: ``ops`` the layers' :class:`Operator` from the
#: top down; ``scales[i]`` divides the output of ``ops[i]`` (the scale of those maps
#: when they were fed to the layer above; 1 at the bottom); ``maps[i]`` (the output
#: of ``ops[i]``) and ``pads[i]`` (zero-bordered, ``ops[i]``'s forward buffer) are work
#: arrays, the last of each unused.  One chain serves one image size and one thread.
Chain = namedtuple("Chain", ["ops", "scales", "maps", "pads"])

#: The z0 maps' normal operator ``lam F0^T F0 + 2 psi D^T D`` (``D``: forward
#: differences), with ``op`` the :class:`Operator` of the uniform filter ``f0``.
LowPass = namedtuple("LowPass", ["op", "lam", "psi"])


def forward(op, z, rpad, par):
    raise NotImplementedError("numba-only")


def forward_combo(op, z, a, zp, b, vbuf, rpad, par, max_density):
    raise NotImplementedError("numba-only")


def adjoint(op, rpad, out, par):
    raise NotImplementedError("numba-only")


def gram(op, z, out, rpad, alpha, par):
    raise NotImplementedError("numba-only")


def border(op):
    raise NotImplementedError("numba-only")


def pad_for(op, y, z):
    raise NotImplementedError("numba-only")


#: the implementations are compiled into each caller (which numba caches), not cached apart
_OVERLOAD = {k: v for k, v in JIT.items() if k != "cache"}


def _kind(op):
    return getattr(op, "instance_class", None)


# ------------------------------------------------------------ helpers of the chain
#: the scale divisions of the chain are exact IEEE divisions (no reciprocal, ``arcp``), as
#: numpy's ``z / s``: the chain is bit for bit the composition of the layers' convolutions
_EXACT = dict(JIT, fastmath=False)


@numba.njit(**_EXACT)
def _interior(pad, maps, s, into_pad):
    """``pad[interior] = maps / s`` (``into_pad``) or ``maps = pad[interior] / s``;
    the interior is as large as ``maps``, centred; the border of ``pad`` is left as is."""
    h1 = (pad.shape[1] - maps.shape[1]) // 2
    w1 = (pad.shape[2] - maps.shape[2]) // 2
    st = maps.dtype.type(s)
    one = s == 1.0
    for c in range(maps.shape[0]):
        for i in range(maps.shape[1]):
            prow = pad[c, h1 + i, w1:w1 + maps.shape[2]]
            mrow = maps[c, i]
            src = mrow if into_pad else prow
            dst = prow if into_pad else mrow
            for j in range(maps.shape[2]):
                dst[j] = src[j] if one else src[j] / st


@numba.njit(**_EXACT)
def _scale_interior(pad, h1, w1, P, Q, s):
    st = pad.dtype.type(s)
    for c in range(pad.shape[0]):
        for i in range(P):
            row = pad[c, h1 + i]
            for j in range(Q):
                row[w1 + j] = row[w1 + j] / st


@numba.njit(**JIT)
def chain_forward(ch, z, rpad, par):
    """``rpad[interior] = D z``: each layer's ``F`` from the top down, dividing by
    its scale (the Python reference is :func:`numbadn.solvers.topdown.project_down`)."""
    n = len(ch.ops)
    cur = ch.maps[n - 1]
    for i in range(n - 1):
        apply_F(ch.ops[i], z if i == 0 else cur, ch.pads[i], par)
        _interior(ch.pads[i], ch.maps[i], ch.scales[i], False)
        cur = ch.maps[i]
    apply_F(ch.ops[n - 1], z if n == 1 else cur, rpad, par)
    s = ch.scales[n - 1]
    if s != 1.0:
        t = ch.ops[n - 1].taps_fwd
        h1 = t.shape[2] - 1
        w1 = t.shape[3] - 1
        _scale_interior(rpad, h1, w1, rpad.shape[1] - 2 * h1, rpad.shape[2] - 2 * w1, s)


@numba.njit(**JIT)
def chain_adjoint(ch, rpad, out, par):
    """``out = D^T r``, the exact adjoint of :func:`chain_forward`: each layer's
    ``F^T`` from the bottom up, dividing by the same scales (a bottom scale other
    than 1 divides ``rpad`` in place)."""
    n = len(ch.ops)
    s = ch.scales[n - 1]
    if s != 1.0:
        t = ch.ops[n - 1].taps_fwd
        h1 = t.shape[2] - 1
        w1 = t.shape[3] - 1
        _scale_interior(rpad, h1, w1, rpad.shape[1] - 2 * h1, rpad.shape[2] - 2 * w1, s)
    if n == 1:
        apply_FT(ch.ops[0], rpad, out, par)
        return
    apply_FT(ch.ops[n - 1], rpad, ch.maps[n - 2], par)
    for i in range(n - 2, -1, -1):
        _interior(ch.pads[i], ch.maps[i], ch.scales[i], True)
        if i == 0:
            apply_FT(ch.ops[0], ch.pads[0], out, par)
        else:
            apply_FT(ch.ops[i], ch.pads[i], ch.maps[i - 1], par)


@numba.njit(**JIT)
def _add_scaled(out, z, alpha):
    """``out += alpha z``; returns ``<z, out>`` (float64)."""
    ov = out.reshape(-1)
    zv = z.reshape(-1)
    a = ov.dtype.type(alpha)
    for i in range(ov.shape[0]):
        ov[i] += a * zv[i]
    return dot(z, out)


@numba.njit(**_EXACT)
def add_grad_gram(z, out, c):
    """``out += c D^T D z``: ``D`` the horizontal and vertical forward differences
    of each map (free boundaries), ``D^T D`` the negative Laplacian.

    Compiled without fastmath: with contraction allowed, a cold compile and a
    load from numba's cache gave this stencil different roundings, so the z0
    maps depended on whether the kernels had just been compiled."""
    K, M, N = z.shape
    ct = out.dtype.type(c)
    for k in range(K):
        for i in range(M):
            for j in range(N):
                v = z[k, i, j]
                acc = out.dtype.type(0)
                if j > 0:
                    acc += v - z[k, i, j - 1]
                if j + 1 < N:
                    acc -= z[k, i, j + 1] - v
                if i > 0:
                    acc += v - z[k, i - 1, j]
                if i + 1 < M:
                    acc -= z[k, i + 1, j] - v
                out[k, i, j] += ct * acc


@numba.njit(**JIT)
def lowpass_gram(lp, z, out, rpad, alpha, par):
    gram(lp.op, z, out, rpad, 0.0, par)  # F0^T F0 (F0^T W^2 F0 for a masked F0)
    ov = out.reshape(-1)
    lt = ov.dtype.type(lp.lam)
    for i in range(ov.shape[0]):
        ov[i] *= lt
    add_grad_gram(z, out, 2.0 * lp.psi)
    if alpha != 0.0:
        return _add_scaled(out, z, alpha)
    return 0.0


# ------------------------------------------------------------ the interface
@overload(forward, jit_options=_OVERLOAD)
def _forward(op, z, rpad, par):
    if _kind(op) is Operator:
        return lambda op, z, rpad, par: apply_F(op, z, rpad, par)
    if _kind(op) is Chain:
        return lambda op, z, rpad, par: chain_forward(op, z, rpad, par)


@overload(forward_combo, jit_options=_OVERLOAD)
def _forward_combo(op, z, a, zp, b, vbuf, rpad, par, max_density):
    if _kind(op) is Operator:
        def impl(op, z, a, zp, b, vbuf, rpad, par, max_density):
            return apply_F_combo(op, z, a, zp, b, vbuf, rpad, par, max_density)
        return impl
    if _kind(op) is Chain:
        def impl(op, z, a, zp, b, vbuf, rpad, par, max_density):
            if b == 0.0 and a == 1.0:
                chain_forward(op, z, rpad, par)
                return False
            zv = z.reshape(-1)
            pv = zp.reshape(-1)
            vv = vbuf.reshape(-1)
            at = zv.dtype.type(a)
            bt = zv.dtype.type(b)
            for i in range(vv.shape[0]):
                vv[i] = at * zv[i] + bt * pv[i]
            chain_forward(op, vbuf, rpad, par)
            return False
        return impl


@overload(adjoint, jit_options=_OVERLOAD)
def _adjoint(op, rpad, out, par):
    if _kind(op) is Operator:
        return lambda op, rpad, out, par: apply_FT(op, rpad, out, par)
    if _kind(op) is Chain:
        return lambda op, rpad, out, par: chain_adjoint(op, rpad, out, par)
    if _kind(op) is LowPass:
        return lambda op, rpad, out, par: adjoint(op.op, rpad, out, par)


@overload(gram, jit_options=_OVERLOAD)
def _gram(op, z, out, rpad, alpha, par):
    if _kind(op) is Operator:
        return lambda op, z, out, rpad, alpha, par: apply_A(op, z, out, rpad, alpha, par)
    if _kind(op) is Chain:
        def impl(op, z, out, rpad, alpha, par):
            chain_forward(op, z, rpad, par)
            chain_adjoint(op, rpad, out, par)
            if alpha != 0.0:
                return _add_scaled(out, z, alpha)
            return 0.0
        return impl
    if _kind(op) is LowPass:
        return lambda op, z, out, rpad, alpha, par: lowpass_gram(op, z, out, rpad, alpha, par)


@overload(border, jit_options=_OVERLOAD)
def _border(op):
    if _kind(op) is Operator:
        return lambda op: (op.taps_fwd.shape[2] - 1, op.taps_fwd.shape[3] - 1)
    if _kind(op) is Chain:
        def impl(op):
            t = op.ops[len(op.ops) - 1].taps_fwd
            return (t.shape[2] - 1, t.shape[3] - 1)
        return impl
    if _kind(op) is LowPass:
        return lambda op: border(op.op)


@overload(pad_for, jit_options=_OVERLOAD)
def _pad_for(op, y, z):
    if _kind(op) is Operator:
        return lambda op, y, z: rpad_for(op, y, z)
    if _kind(op) is Chain:
        return lambda op, y, z: rpad_for(op.ops[len(op.ops) - 1], y, z)


# ------------------------------------------------------------ entry points from Python
@numba.njit(**JIT)
def apply_forward(op, z, rpad, par):
    """:func:`forward`, callable from Python (tests, diagnostics)."""
    forward(op, z, rpad, par)


@numba.njit(**JIT)
def apply_adjoint(op, rpad, out, par):
    """:func:`adjoint`, callable from Python."""
    adjoint(op, rpad, out, par)


@numba.njit(**JIT)
def apply_gram(op, z, out, rpad, alpha, par):
    """:func:`gram`, callable from Python."""
    return gram(op, z, out, rpad, alpha, par)
