"""Masked data terms (beyond the paper): the operator ``D = W F`` of

.. math:: \\frac{\\lambda}{2} \\| W (F z - y) \\|^2 + \\sum_k |z_k|^p,

``W`` a per-pixel weight in [0, 1] (0: the pixel is missing, 1: observed), as in
SPORCO's ``ConvBPDNMaskDcpl``.  With ``D = W F`` and the masked image ``W y`` the
masked cost is eq. 2 (eq. 10 for a chain) for the operator ``D``, so the drivers of
:mod:`._steps` and :mod:`._cg` run unchanged: the continuation scheme's CG solves the
masked normal equations of eq. 6, ``(F^T W^2 F + beta/lambda I) z = F^T W^2 y +
beta/lambda x``, and FISTA's gradient is ``lambda F^T W^2 (F z - y)`` (for a 0/1 mask,
``F^T (W (F z - y))``).  A step bound stays valid: ``||W F||^2 <= max(W)^2 ||F||^2 <=
||F||^2`` (:func:`lipschitz_bound`).

:class:`Masked` wraps any operator of :mod:`._linop` that maps onto an image (one
layer's :class:`~numbadn.kernels._operator.Operator`, the top-down
:class:`~numbadn.kernels._linop.Chain`) and implements the operator interface, so
numba compiles each driver once more for the masked kind.  No mask: the caller passes
the unwrapped operator and runs exactly the unmasked machine code.  ``W = 1``
multiplies by 1.0, which is exact, and the Gram product keeps the unmasked one's
fused adjoint pass, so the results are bit for bit those of the unmasked operator.

Inputs are not validated.
"""
from __future__ import annotations

from collections import namedtuple

import numba
import numpy as np
from numba import prange
from numba.extending import overload

from .._jit import JIT, PJIT
from ._conv import corr_add
from ._linop import (_OVERLOAD, Chain, _add_scaled, _kind, adjoint, border, chain_adjoint,
                     chain_forward, forward, forward_combo, gram, pad_for)
from ._operator import Operator, apply_F, residual_norm2, sub_interior

__all__ = ["Masked", "masked", "lipschitz_bound", "apply_mask", "data_gradient",
           "masked_cost_data"]

#: ``D = W F``: ``op`` an :class:`Operator` or :class:`Chain` onto images of shape
#: (K0, P, Q), ``w`` the weights (K0, P, Q) in the maps' dtype, C-contiguous.
Masked = namedtuple("Masked", ["op", "w"])


def masked(op, w):
    """``op`` itself when ``w`` is None (the unmasked machine code), else
    ``Masked(op, w)``.  Inputs are not validated."""
    return op if w is None else Masked(op, w)


def lipschitz_bound(L, w):
    """A bound on ``||W F||^2`` from a bound ``L`` on ``||F||^2``: ``max(W)^2 L``
    (``L`` itself when ``w`` is None, and for ``max(W) = 1``)."""
    if w is None:
        return L
    m = float(np.max(w))
    return L if m == 1.0 else L * m * m


# ------------------------------------------------------------ kernels
@numba.njit(**JIT)
def _mask_row(rpad, w, h1, w1, squared, t):
    """Row ``t`` (channel ``t // P``, row ``t % P``) of :func:`apply_mask`."""
    P = w.shape[1]
    Q = w.shape[2]
    c = t // P
    i = t - c * P
    row = rpad[c, h1 + i, w1:w1 + Q]
    wr = w[c, i]
    if squared:
        for j in range(Q):
            row[j] = wr[j] * (wr[j] * row[j])
    else:
        for j in range(Q):
            row[j] = wr[j] * row[j]


@numba.njit(**PJIT)
def _mask_parallel(rpad, w, h1, w1, squared):
    for t in prange(w.shape[0] * w.shape[1]):
        _mask_row(rpad, w, h1, w1, squared, t)


@numba.njit(**JIT)
def apply_mask(rpad, w, h1, w1, squared, par):
    """``rpad[interior] *= W`` (``W^2`` with ``squared``), the interior of shape
    ``w.shape`` at offset ``(h1, w1)``; elementwise, so the result does not depend
    on ``par`` or the thread count.  Parallel over: rows."""
    if par:
        _mask_parallel(rpad, w, h1, w1, squared)
    else:
        for t in range(w.shape[0] * w.shape[1]):
            _mask_row(rpad, w, h1, w1, squared, t)


# ------------------------------------------------------------ the interface
@overload(forward, jit_options=_OVERLOAD)
def _forward(op, z, rpad, par):
    if _kind(op) is Masked:
        def impl(op, z, rpad, par):
            forward(op.op, z, rpad, par)
            h1, w1 = border(op.op)
            apply_mask(rpad, op.w, h1, w1, False, par)
        return impl


@overload(forward_combo, jit_options=_OVERLOAD)
def _forward_combo(op, z, a, zp, b, vbuf, rpad, par, max_density):
    if _kind(op) is Masked:
        def impl(op, z, a, zp, b, vbuf, rpad, par, max_density):
            done = forward_combo(op.op, z, a, zp, b, vbuf, rpad, par, max_density)
            h1, w1 = border(op.op)
            apply_mask(rpad, op.w, h1, w1, False, par)
            return done
        return impl


@overload(adjoint, jit_options=_OVERLOAD)
def _adjoint(op, rpad, out, par):
    # W r in place, as the chain's adjoint divides ``rpad`` by its bottom scale in
    # place: no driver reads ``rpad`` after an adjoint pass
    if _kind(op) is Masked:
        def impl(op, rpad, out, par):
            h1, w1 = border(op.op)
            apply_mask(rpad, op.w, h1, w1, False, par)
            adjoint(op.op, rpad, out, par)
        return impl


@overload(gram, jit_options=_OVERLOAD)
def _gram(op, z, out, rpad, alpha, par):
    if _kind(op) is not Masked:
        return None
    inner = _kind(op.types[0])  # the type of the field ``op``
    if inner is Operator:
        # the fused adjoint pass of apply_A, so W = 1 is bit for bit F^T F + alpha I
        def impl(op, z, out, rpad, alpha, par):
            o = op.op
            apply_F(o, z, rpad, par)
            apply_mask(rpad, op.w, o.taps_fwd.shape[2] - 1, o.taps_fwd.shape[3] - 1, True, par)
            return corr_add(rpad, o.taps_adj, out, o.ptr_adj, o.idx_adj, 0, 0, z, alpha, par)
        return impl
    if inner is Chain:
        def impl(op, z, out, rpad, alpha, par):
            chain_forward(op.op, z, rpad, par)
            h1, w1 = border(op.op)
            apply_mask(rpad, op.w, h1, w1, True, par)
            chain_adjoint(op.op, rpad, out, par)
            if alpha != 0.0:
                return _add_scaled(out, z, alpha)
            return 0.0
        return impl


@overload(border, jit_options=_OVERLOAD)
def _border(op):
    if _kind(op) is Masked:
        return lambda op: border(op.op)


@overload(pad_for, jit_options=_OVERLOAD)
def _pad_for(op, y, z):
    if _kind(op) is Masked:
        return lambda op, y, z: pad_for(op.op, y, z)


# ------------------------------------------------------------ entry points
@numba.njit(**JIT)
def data_gradient(op, y, z, out, rpad, par):
    """``out = D^T (D z - y)``, the gradient of ``1/2 ||D z - y||^2`` (eq. 2's data
    term without ``lambda``); for ``Masked(F, W)`` and ``y = W y0`` that is
    ``F^T W^2 (F z - y0)``.  Returns ``||D z - y||^2`` (float64).  ``rpad`` is left
    holding ``W (D z - y)`` (the residual after the adjoint's masking)."""
    forward(op, z, rpad, par)
    h1, w1 = border(op)
    s = residual_norm2(rpad, y, h1, w1)
    sub_interior(rpad, y, h1, w1)
    adjoint(op, rpad, out, par)
    return s


@numba.njit(**JIT)
def masked_cost_data(op, y, z, rpad, par):
    """``||D z - y||^2`` (float64): with ``Masked(F, W)`` and ``y = W y0``, the
    masked data term ``||W (F z - y0)||^2`` without ``lambda / 2``."""
    forward(op, z, rpad, par)
    h1, w1 = border(op)
    return residual_norm2(rpad, y, h1, w1)
