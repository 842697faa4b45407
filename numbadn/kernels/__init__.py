"""numbadn's Numba kernels: every ``@njit`` function, and the named tuples and
constructors they take.  Inputs are not validated here: the checked public
functions are in :mod:`numbadn.ops`, the solvers in :mod:`numbadn.solvers`.

Shapes:

- input ``y``: (K0, P, Q)
- feature maps ``z``: (K1, P + h - 1, Q + w - 1)
- filters ``f``: (K1, K0, h, w)
- connectivity ``g``: (K1, K0) bool (eq. 3)

The kernels live in :mod:`._conv` (convolutions), :mod:`._simd` (explicit-SIMD
rows), :mod:`._operator` (one layer's ``F``, ``F^T``, ``A``), :mod:`._linop` (the
operator interface: one layer, the top-down chain, the z0 maps), :mod:`._cg` (CG),
:mod:`._shrink` (eq. 8 and the ``p < 1`` table), :mod:`._steps` (the continuation
and FISTA drivers), :mod:`._fused` (the same drivers in fewer passes over memory,
exported as :mod:`fused`) and :mod:`._hook` (the drivers' call back into Python);
this package exports what the rest of numbadn uses.
"""
from __future__ import annotations

import functools

import numpy as np

from .._jit import start_threading_layer
# the fused drivers as a namespace (benchmarks/fused.py, tests/test_fused.py); not in
# __all__: the API reference lists functions and constants, not modules
from . import _fused as fused  # noqa: F401
from ._cg import Workspace, cg_solve, cg_update, workspace
from ._conv import (ITEMS_PER_THREAD, MIN_TASKS, MIN_TASKS_NO_DOT, corr, corr_plan, corr_tiled,
                    filter_grad_parallel, plan_tiles, row_block)
from ._conv import _fma7_rows as fma7_rows
from ._conv import _fma7x2_rows as fma7x2_rows
from ._hook import registered
from ._linop import Chain, LowPass, apply_adjoint, apply_forward, apply_gram
from ._masked import Masked, apply_mask, data_gradient, lipschitz_bound, masked, masked_cost_data
from ._operator import Operator, apply_A, apply_F_combo, power_norm2
from ._shrink import LpTable, Prior, lp_build_table, lp_threshold, shrink
from ._simd import AVX512, LANES, corr7_rows, simd_width
from ._steps import (SPARSE_DENSITY, ContinuationPlan, FistaPlan, adjoint_of_input,
                     continuation_batch, continuation_solve, cost, cost_batch, count_nonzero,
                     fista_batch, fista_bt_run, fista_run, fista_solve, fista_work,
                     shrink_residual, sum_abs_p)
# the unfused element-wise passes the fused ones are checked against (tests/test_fused.py)
from ._steps import _residual_combo as residual_combo
from ._steps import _take_image as take_image
from ._steps import _trial_map as trial_map

start_threading_layer()

__all__ = [
    # named tuples the kernels take, and their constructors
    "Operator", "Chain", "LowPass", "LpTable", "Prior", "ContinuationPlan", "FistaPlan",
    "Workspace", "make_operator", "make_chain", "make_lowpass", "cg_workspace", "new_rpad",
    "csr_lists", "lp_table", "table_for", "LP_TABLE_STEP", "LP_TABLE_SIZE",
    # convolutions and their tiling
    "corr", "corr_plan", "corr_tiled", "plan_tiles", "row_block", "filter_grad_parallel",
    "ITEMS_PER_THREAD", "MIN_TASKS", "MIN_TASKS_NO_DOT", "fma7_rows", "fma7x2_rows",
    "corr7_rows", "simd_width", "LANES", "AVX512",
    # operators, CG, shrinkage
    "apply_A", "apply_forward", "apply_adjoint", "apply_gram", "power_norm2", "cg_solve",
    "workspace", "shrink", "lp_build_table", "lp_threshold",
    # the solver drivers and their call back
    "continuation_solve", "continuation_batch", "fista_run", "fista_solve", "fista_batch",
    "fista_work", "cost", "cost_batch", "count_nonzero", "sum_abs_p", "adjoint_of_input",
    "registered",
    # the unfused passes the fused drivers (kernels.fused) are compared with
    "fista_bt_run", "shrink_residual", "cg_update", "apply_F_combo", "SPARSE_DENSITY",
    "trial_map", "take_image", "residual_combo",
    # per-pixel weights on the data term (beyond the paper: inpainting)
    "Masked", "masked", "lipschitz_bound", "apply_mask", "data_gradient", "masked_cost_data",
]


# ---------------------------------------------------------------- helpers
def csr_lists(g):
    """CSR lists of ``g``'s rows: (ptr, idx) with idx[ptr[k]:ptr[k+1]] the
    columns ``c`` where ``g[k, c]``."""
    g = np.asarray(g, dtype=bool)
    ptr = np.zeros(g.shape[0] + 1, np.int64)
    ptr[1:] = np.cumsum(g.sum(axis=1))
    idx = np.nonzero(g)[1].astype(np.int64)
    return ptr, idx


def make_operator(f, g):
    """The :class:`Operator` named tuple consumed by the kernels (see :mod:`._operator`).

    ``Operator(taps_fwd, ptr_fwd, idx_fwd, taps_adj, ptr_adj, idx_adj)``: flipped,
    transposed filters with the per-channel list of maps for ``F z`` (eq. 1),
    the filters themselves with the per-map list of channels for ``F^T``.
    Inputs are not validated.
    """
    taps_fwd = np.ascontiguousarray(f[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
    pf, i_f = csr_lists(g.T)
    pa, ia = csr_lists(g)
    return Operator(taps_fwd, pf, i_f, np.ascontiguousarray(f), pa, ia)


def make_chain(chain, top_shape, dtype):
    """The :class:`Chain` (eq. 10's operator) of ``chain = [(f_l, g_l, s_{l-1}), ...,
    (f_1, g_1, 1)]`` (filters from the top layer down, ``s`` dividing each layer's
    output) for top-layer maps of shape ``top_shape``, with its work arrays.
    Inputs are not validated."""
    ops, scales, maps, pads = [], [], [], []
    K, M, N = top_shape
    for f, g, s in chain:
        f = np.asarray(f, dtype)
        K1, K0, h, w = f.shape
        ops.append(make_operator(f, np.asarray(g, bool)))
        scales.append(float(s))
        M, N = M - h + 1, N - w + 1
        maps.append(np.zeros((K0, M, N), dtype))
        pads.append(np.zeros((K0, M + 2 * (h - 1), N + 2 * (w - 1)), dtype))
    maps[-1] = pads[-1] = np.zeros((1, 1, 1), dtype)  # the bottom writes to the caller's
    return Chain(tuple(ops), np.array(scales), tuple(maps), tuple(pads))


def cg_workspace(rpad, like):
    """A :class:`~numbadn.kernels._cg.Workspace` for a plain CG solve (no tracked
    ``q``: it shares ``Ap``), with ``rpad`` and arrays shaped like ``like``."""
    Ap = np.empty_like(like)
    return Workspace(rpad, np.empty_like(like), np.empty_like(like), Ap, Ap)


def make_lowpass(f0, lam, psi):
    """The :class:`LowPass` operator ``lam F0^T F0 + 2 psi grad^T grad`` of the z0
    maps, ``f0`` of shape (K0, K0, s0, s0) acting channel by channel."""
    return LowPass(make_operator(f0, np.eye(f0.shape[0], dtype=bool)), float(lam), float(psi))


def new_rpad(K0, P, Q, h, w, dtype):
    """Zero work buffer of shape (K0, P+2(h-1), Q+2(w-1)) for ``F z``."""
    return np.zeros((K0, P + 2 * (h - 1), Q + 2 * (w - 1)), dtype)


#: Table resolution (points per unit of the normalised variable) and length.
LP_TABLE_STEP = 1.0 / 1024
LP_TABLE_SIZE = 1 << 16


@functools.lru_cache(maxsize=64)
def lp_table(p):
    """The normalised lookup table for ``0 < p < 1``: an :class:`LpTable`
    ``(table, w_t, dw)``.

    ``table[k] = argmin_u 1/2 (u - w)^2 + u^p`` at ``w = w_t + k dw`` (the
    nonzero branch, found by Newton's method), ``w_t`` the threshold below
    which the minimiser is zero.  One table serves every ``beta`` (see
    :mod:`._shrink`); built once per ``p`` and cached.
    """
    p = float(p)
    w_t = lp_threshold(p)
    table = np.empty(LP_TABLE_SIZE, np.float64)
    lp_build_table(p, w_t, LP_TABLE_STEP, table)
    table.setflags(write=False)
    return LpTable(table, w_t, LP_TABLE_STEP)


def table_for(p):
    """The :class:`LpTable` the kernels take for ``p``: :func:`lp_table` for
    ``p < 1``, an unused placeholder for ``p = 1`` (eq. 8 needs no table)."""
    return lp_table(p) if p < 1.0 else LpTable(np.zeros(2), 0.0, 1.0)


