"""The tiling of the convolution passes for many threads (so that 16 or more
threads each get work on the paper's layer shapes).

:func:`numbadn.kernels._conv.plan_tiles` is a pure function of the shapes and a
thread count, so the plan for 16 or 64 threads is checked here without those
threads; :func:`~numbadn.kernels._conv.corr_tiled` runs any plan on the threads
this machine has, and every plan must give the same bits as the one-thread plan
(and the scipy reference of ``naive.py``).  No timings: ``numbadn bench`` and
``benchmarks/device_check.sh`` measure the speed.
"""
import numpy as np
import pytest

import naive
from numbadn.bench import paper_layers
from numbadn.kernels import (ITEMS_PER_THREAD, LANES, MIN_TASKS, MIN_TASKS_NO_DOT, corr_plan,
                             corr_tiled, make_operator, new_rpad, plan_tiles, row_block)

THREADS = [1, 2, 3, 16, 64]


def _passes(K0, K1, g, P, h, dtype):
    """The three passes of the benchmarked kernels on one layer's shapes:
    conv_valid (``F z``), conv_full (``F^T r``) and the adjoint pass of ``A z``
    (``F^T r + alpha z`` with the fused dot product); ``(name, src, taps, out, ptr,
    oi0, dot)``."""
    f = np.zeros((K1, K0, h, h), dtype)
    op = make_operator(f, g)
    z = np.zeros((K1, P + h - 1, P + h - 1), dtype)
    rpad = new_rpad(K0, P, P, h, h, dtype)
    return [("conv_valid", z, op.taps_fwd, rpad, op.ptr_fwd, h - 1, False),
            ("conv_full", rpad, op.taps_adj, z, op.ptr_adj, 0, False),
            ("Az adjoint pass", rpad, op.taps_adj, z, op.ptr_adj, 0, True)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_threads", [16, 64])
def test_every_thread_gets_four_items_on_the_paper_layers_at_150px(n_threads, dtype):
    for name, K0, K1, g in paper_layers():
        for kern, src, taps, out, ptr, oi0, dot in _passes(K0, K1, g, 150, 7, dtype):
            rb, nc, items = corr_plan(src, taps, out, ptr, oi0, oi0, dot, n_threads)
            Ho = out.shape[1] - 2 * oi0
            assert items == out.shape[0] * -(-Ho // rb) * nc
            assert items >= ITEMS_PER_THREAD * n_threads, (name, kern, rb, nc, items)
            if dot:
                assert nc == 1  # the fused dot product is summed over whole rows


def test_the_plan_is_todays_row_blocks_where_those_fill_the_threads():
    """On 1 and 2 threads (and wherever the shape-only row blocks already give
    four items per thread) the plan is the row blocking the kernels had before
    tiling, so few threads run the same loops as before."""
    for name, K0, K1, g in paper_layers():
        for P in (100, 150):
            for kern, src, taps, out, ptr, oi0, dot in _passes(K0, K1, g, P, 7, np.float32):
                Ho = out.shape[1] - 2 * oi0
                old = row_block(out.shape[0], Ho, MIN_TASKS if dot else MIN_TASKS_NO_DOT)
                for nt in (1, 2):
                    rb, nc, _ = corr_plan(src, taps, out, ptr, oi0, oi0, dot, nt)
                    assert (rb, nc) == (old, 1), (name, kern, P, nt)


def test_a_plan_splits_columns_into_whole_simd_blocks():
    lanes = LANES["float32"]
    for nt in THREADS:
        for Wo in (1, 15, 16, 17, 150, 333):
            rb, nc, items = plan_tiles(1, 150, Wo, 9, 7, 7, lanes, 4, False, nt)
            assert rb >= 1 and 1 <= nc <= max(1, -(-Wo // lanes))
            assert items == -(-150 // rb) * nc


def _run_plan(src, taps, out_shape, ptr, idx, oi0, extra, ealpha, nt, par):
    """The pass under the plan for ``nt`` threads, into a buffer whose untouched
    entries stay NaN (so a tile that writes outside its range, or none, shows)."""
    out = np.full(out_shape, np.nan, src.dtype)
    d = corr_tiled(src, taps, out, ptr, idx, oi0, oi0, extra, ealpha, par, nt)
    return out, d


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(9, 1, 150, 150, 7, 7), (5, 3, 37, 61, 7, 7),
                                   (4, 2, 33, 70, 5, 3), (3, 2, 9, 40, 7, 7)],
                         ids=["layer1", "7x7-odd", "5x3", "short"])
def test_every_plan_gives_the_same_bits(shape, dtype):
    """Plans for 1..64 threads (run on this machine's threads, and serially) give
    identical outputs and dot products, equal to scipy to rounding; the border of
    the padded buffer is never written."""
    K1, K0, P, Q, h, w = shape
    rng = np.random.default_rng(3)
    f = rng.standard_normal((K1, K0, h, w)).astype(dtype)
    g = rng.random((K1, K0)) < 0.7
    g[:, 0] = True
    op = make_operator(f, g)
    z = rng.standard_normal((K1, P + h - 1, Q + w - 1)).astype(dtype)
    rpad = new_rpad(K0, P, Q, h, w, dtype)
    ref_fz = naive.conv_valid(z, f, g)
    rpad[:, h - 1:h - 1 + P, w - 1:w - 1 + Q] = ref_fz
    first = None
    for nt in THREADS:
        for par in (True, False):
            # F z into the interior of a padded buffer (border must stay NaN)
            fz, _ = _run_plan(z, op.taps_fwd, rpad.shape, op.ptr_fwd, op.idx_fwd, 0, z,
                              0.0, nt, par)
            fz_in = np.full(rpad.shape, np.nan, dtype)
            corr_tiled(z, op.taps_fwd, fz_in, op.ptr_fwd, op.idx_fwd, h - 1, w - 1, fz_in,
                       0.0, par, nt)
            inner = fz_in[:, h - 1:h - 1 + P, w - 1:w - 1 + Q]
            border = fz_in.copy()
            border[:, h - 1:h - 1 + P, w - 1:w - 1 + Q] = 0
            assert np.isnan(border).sum() == border.size - inner.size
            # F^T r, and F^T r + alpha z with its dot product
            ftr, _ = _run_plan(rpad, op.taps_adj, z.shape, op.ptr_adj, op.idx_adj, 0, z,
                               0.0, nt, par)
            az, d = _run_plan(rpad, op.taps_adj, z.shape, op.ptr_adj, op.idx_adj, 0, z,
                              0.3, nt, par)
            got = (inner.copy(), ftr, az, d)
            if first is None:
                first = got
                tol = 1e-4 if dtype == np.float32 else 1e-10
                scale = np.abs(ref_fz).max()
                np.testing.assert_allclose(inner, ref_fz, atol=tol * scale * 10)
                ref_ftr = naive.conv_full(rpad[:, h - 1:h - 1 + P, w - 1:w - 1 + Q], f, g)
                np.testing.assert_allclose(ftr, ref_ftr, atol=tol * np.abs(ref_ftr).max() * 10)
                ref_az = ref_ftr + 0.3 * z.astype(np.float64)
                assert abs(d - float((ref_az * z).sum())) <= tol * abs(d) * 10
            else:
                for a, b in zip(first, got):
                    np.testing.assert_array_equal(a, b, err_msg=f"plan for {nt} threads")
