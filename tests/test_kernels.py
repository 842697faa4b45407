"""The convolution, operator and CG kernels against the references in ``naive.py``.

``conv_valid`` is ``F z`` (eq. 1), ``conv_full`` its adjoint ``F^T`` (footnote 3),
``apply_A`` the ``A z`` product of eqs. 6-7, ``cg_solve`` the z sub-problem
(eq. 6) and ``filter_grad`` the gradient of eq. 9 for one image.
"""
import numba
import numpy as np
import pytest

import naive
from numbadn.ops import apply_A, cg_solve, conv_full, conv_valid, filter_grad, lp_shrink

# (K1, K0, P, Q, h, w): odd, non-square shapes.  The kernel has a SIMD path for
# 7-tap filter rows (row pairs, then a last odd row) and a generic loop over the
# taps for every other width, so w runs over 1..9 (7 and its neighbours
# included) and h covers 1, 3, 5, 7, 9, with odd and even row counts.
SHAPES = [
    (1, 1, 5, 6, 1, 1),
    (2, 1, 9, 7, 3, 2),
    (3, 3, 8, 11, 1, 3),
    (4, 1, 12, 10, 5, 4),
    (5, 3, 7, 13, 7, 5),
    (6, 3, 10, 14, 2, 6),
    (7, 1, 11, 9, 9, 7),
    (3, 3, 6, 37, 4, 8),
    (2, 3, 13, 5, 9, 9),
    (7, 3, 1, 1, 3, 5),   # a 1x1 image
]
SHAPE_IDS = ["K1={}_K0={}_P={}_Q={}_h={}_w={}".format(*s) for s in SHAPES]

# float32 results are checked elementwise against RTOL32 times the same sum
# taken over absolute values (the natural scale of each rounding error).
RTOL = {np.float32: 1e-4, np.float64: 1e-10}


def _sparse_g(rng, K1, K0):
    """Random connectivity with roughly half the entries set; a map or a
    channel may be left with no connection at all."""
    return rng.random((K1, K0)) < 0.5


def _problem(shape, dtype, seed, sparse):
    K1, K0, P, Q, h, w = shape
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((K1, P + h - 1, Q + w - 1)).astype(dtype)
    f = rng.standard_normal((K1, K0, h, w)).astype(dtype)
    r = rng.standard_normal((K0, P, Q)).astype(dtype)
    g = _sparse_g(rng, K1, K0) if sparse else None
    return z, f, r, g


def _assert_close_scaled(got, ref, scale, rtol):
    """``|got - ref| <= rtol * (scale + 1e-3 max(scale))`` elementwise, ``scale``
    being the same sum over absolute values; returns the max error over that scale."""
    tol = rtol * (scale + 1e-3 * scale.max() + 1e-30)
    err = np.abs(got.astype(np.float64) - ref)
    assert (err <= tol).all(), f"max scaled error {np.max(err / tol) * rtol:.3g} > {rtol:g}"
    return float(np.max(err / (scale + 1e-3 * scale.max() + 1e-30)))


# ---------------------------------------------------------------- conv_valid / conv_full
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True], ids=["g=None", "g=sparse"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_conv_valid_matches_scipy_convolve2d(shape, sparse, dtype):
    z, f, _, g = _problem(shape, dtype, 1, sparse)
    got = conv_valid(z, f, g)
    K1, K0, P, Q, h, w = shape
    assert got.shape == (K0, P, Q) and got.dtype == dtype
    _assert_close_scaled(got, naive.conv_valid(z, f, g), naive.conv_valid_abs(z, f, g),
                         RTOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sparse", [False, True], ids=["g=None", "g=sparse"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_conv_full_matches_scipy_flipped_full_convolution(shape, sparse, dtype):
    _, f, r, g = _problem(shape, dtype, 2, sparse)
    got = conv_full(r, f, g)
    K1, K0, P, Q, h, w = shape
    assert got.shape == (K1, P + h - 1, Q + w - 1) and got.dtype == dtype
    _assert_close_scaled(got, naive.conv_full(r, f, g), naive.conv_full_abs(r, f, g),
                         RTOL[dtype])


def test_unconnected_channels_and_maps_give_exact_zeros():
    rng = np.random.default_rng(3)
    z = rng.standard_normal((3, 9, 8))
    f = rng.standard_normal((3, 2, 3, 4))
    g = np.array([[True, False], [True, False], [False, False]])
    y = conv_valid(z, f, g)
    assert (y[1] == 0).all() and np.abs(y[0]).max() > 0
    zt = conv_full(rng.standard_normal((2, 7, 5)), f, g)
    assert (zt[2] == 0).all() and np.abs(zt[:2]).max() > 0


@pytest.mark.parametrize("dz, df", [(np.float32, np.float64), (np.float64, np.float32)])
def test_mixed_dtypes_compute_in_float64(dz, df):
    shape = (3, 2, 6, 7, 3, 4)
    z, f, r, g = _problem(shape, np.float64, 4, True)
    z, f, r = z.astype(dz), f.astype(df), r.astype(dz)
    y = conv_valid(z, f, g)
    assert y.dtype == np.float64
    _assert_close_scaled(y, naive.conv_valid(z, f, g), naive.conv_valid_abs(z, f, g), 1e-10)
    zt = conv_full(r, f, g)
    assert zt.dtype == np.float64
    _assert_close_scaled(zt, naive.conv_full(r, f, g), naive.conv_full_abs(r, f, g), 1e-10)
    assert apply_A(z, f, g, 0.5).dtype == np.float64
    assert filter_grad(z, r.astype(df), g).dtype == np.float64


def test_non_contiguous_inputs_give_the_same_result():
    z, f, r, g = _problem((3, 2, 8, 9, 3, 5), np.float64, 5, True)
    zs = np.asfortranarray(z)
    fs = f[:, :, ::-1, :][:, :, ::-1, :]          # a view with negative strides, same values
    big = np.zeros((2, 2 * 8, 9))
    big[:, ::2] = r
    rs = big[:, ::2]                              # strided view
    np.testing.assert_array_equal(conv_valid(zs, fs, g), conv_valid(z, f, g))
    np.testing.assert_array_equal(conv_full(rs, fs, g), conv_full(r, f, g))


@pytest.mark.parametrize("sparse", [False, True], ids=["g=None", "g=sparse"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_conv_full_is_adjoint_of_conv_valid(shape, sparse):
    z, f, r, g = _problem(shape, np.float64, 6, sparse)
    Fz = conv_valid(z, f, g)
    FTr = conv_full(r, f, g)
    lhs = float(np.sum(Fz * r))
    rhs = float(np.sum(z * FTr))
    scale = np.linalg.norm(Fz) * np.linalg.norm(r) + np.linalg.norm(z) * np.linalg.norm(FTr)
    assert abs(lhs - rhs) <= 1e-12 * scale + 1e-300


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bigger_image_matches_scipy(dtype):
    # K1 = 9 maps of a 3-channel 60x70 image with 7x7 filters, sparse g.
    shape = (9, 3, 60, 70, 7, 7)
    z, f, r, g = _problem(shape, dtype, 7, True)
    g[0] = True
    _assert_close_scaled(conv_valid(z, f, g), naive.conv_valid(z, f, g),
                         naive.conv_valid_abs(z, f, g), RTOL[dtype])
    _assert_close_scaled(conv_full(r, f, g), naive.conv_full(r, f, g),
                         naive.conv_full_abs(r, f, g), RTOL[dtype])


# ---------------------------------------------------------------- apply_A
A_SHAPES = [(1, 1, 5, 4, 1, 1), (3, 2, 4, 5, 3, 2), (2, 3, 3, 6, 2, 5), (4, 1, 6, 3, 3, 3)]


@pytest.mark.parametrize("alpha", [0.0, 0.37])
@pytest.mark.parametrize("sparse", [False, True], ids=["g=None", "g=sparse"])
@pytest.mark.parametrize("shape", A_SHAPES, ids=[str(s) for s in A_SHAPES])
def test_apply_A_matches_dense_FtF_plus_alpha_I(shape, sparse, alpha):
    z, f, _, g = _problem(shape, np.float64, 8, sparse)
    K1, M, N = z.shape
    A = naive.dense_A(f, g, M, N, alpha)
    ref = (A @ z.ravel()).reshape(z.shape)
    got = apply_A(z, f, g, alpha)
    assert got.shape == z.shape and got.dtype == np.float64
    scale = (np.abs(A) @ np.abs(z.ravel())).reshape(z.shape)
    _assert_close_scaled(got, ref, scale, 1e-12)
    # and A is F^T F + alpha I with F from conv_valid
    np.testing.assert_allclose(got, conv_full(conv_valid(z, f, g), f, g) + alpha * z,
                               rtol=1e-12, atol=1e-12 * np.abs(got).max())


def test_apply_A_float32_stays_float32():
    z, f, _, g = _problem((3, 2, 5, 6, 3, 4), np.float32, 9, True)
    got = apply_A(z, f, g, 0.25)
    assert got.dtype == np.float32
    A = naive.dense_A(f, g, z.shape[1], z.shape[2], 0.25)
    ref = (A @ z.astype(np.float64).ravel()).reshape(z.shape)
    scale = (np.abs(A) @ np.abs(z.astype(np.float64).ravel())).reshape(z.shape)
    _assert_close_scaled(got, ref, scale, 1e-4)


# ---------------------------------------------------------------- filter_grad
G_SHAPES = [(1, 1, 4, 5, 1, 1), (3, 2, 5, 4, 3, 2), (2, 3, 4, 6, 2, 5), (4, 1, 3, 7, 4, 3)]


@pytest.mark.parametrize("sparse", [False, True], ids=["g=None", "g=sparse"])
@pytest.mark.parametrize("shape", G_SHAPES, ids=[str(s) for s in G_SHAPES])
def test_filter_grad_matches_dense_Z_transpose_r(shape, sparse):
    z, f, r, g = _problem(shape, np.float64, 10, sparse)
    got = filter_grad(z, r, g)
    assert got.shape == f.shape and got.dtype == np.float64
    ref = naive.filter_grad(z, r, g)
    K1, K0, P, Q, h, w = shape
    Z = naive.dense_Z(z, g if g is not None else np.ones((K1, K0), bool), h, w, K0)
    scale = (np.abs(Z.T) @ np.abs(r.ravel())).reshape(f.shape)
    _assert_close_scaled(got, ref, scale, 1e-12)
    if g is not None:
        assert (got[~g] == 0).all()


def test_filter_grad_matches_finite_differences_of_the_reconstruction_cost():
    shape = (3, 2, 5, 6, 3, 2)
    z, f, _, g = _problem(shape, np.float64, 11, True)
    g[0, 0] = True
    y = np.random.default_rng(12).standard_normal((2, 5, 6))
    r = conv_valid(z, f, g) - y
    got = filter_grad(z, r, g)
    ref = naive.filter_grad_fd(z, y, f, g)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())
    assert (got[~g] == 0).all()


@pytest.mark.parametrize("sparse", [False, True], ids=["g=None", "g=sparse"])
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_filter_grad_is_adjoint_of_conv_valid_in_f(shape, sparse):
    # <conv_valid(z, df, g), r> = <df, filter_grad(z, r, g)> for every df
    z, df, r, g = _problem(shape, np.float64, 13, sparse)
    G = filter_grad(z, r, g)
    Fdf = conv_valid(z, df, g)
    lhs = float(np.sum(Fdf * r))
    rhs = float(np.sum(df * G))
    scale = np.linalg.norm(Fdf) * np.linalg.norm(r) + np.linalg.norm(df) * np.linalg.norm(G)
    assert abs(lhs - rhs) <= 1e-12 * scale + 1e-300
    if g is not None:
        assert (G[~g] == 0).all()


def test_filter_grad_float32_stays_float32():
    z, _, r, g = _problem((3, 2, 6, 5, 3, 3), np.float32, 14, True)
    got = filter_grad(z, r, g)
    assert got.dtype == np.float32
    ref = naive.filter_grad(z, r, g)
    scale = naive.filter_grad(np.abs(z), np.abs(r), g)
    _assert_close_scaled(got, ref, scale, 1e-4)


# ---------------------------------------------------------------- cg_solve
CG_SHAPE = (3, 2, 6, 5, 3, 4)


def _cg_problem(seed=15):
    z, f, _, g = _problem(CG_SHAPE, np.float64, seed, True)
    g[:, 0] = True
    b = np.random.default_rng(seed + 1).standard_normal(z.shape)
    return b, f, g


def _true_rel_res(z, b, f, g, alpha):
    K1, M, N = b.shape
    A = naive.dense_A(f, g, M, N, alpha)
    return np.linalg.norm(b.ravel() - A @ z.ravel()) / np.linalg.norm(b)


@pytest.mark.parametrize("alpha", [0.05, 1.0])
def test_cg_solve_matches_numpy_linalg_solve(alpha):
    b, f, g = _cg_problem()
    ref = naive.solve(b, f, g, alpha)
    z, rel_res = cg_solve(b, f, g, alpha, n_iter=1000, tol=1e-12)
    assert z.shape == b.shape and z.dtype == np.float64
    assert rel_res <= 1e-12
    true = _true_rel_res(z, b, f, g, alpha)
    assert true <= 1e-11, true                          # the recursion did not drift
    assert abs(true - rel_res) <= 1e-11
    np.testing.assert_allclose(z, ref, rtol=0, atol=1e-9 * np.abs(ref).max())


def test_cg_solve_reports_the_true_residual_when_it_stops_early():
    b, f, g = _cg_problem()
    z, rel_res = cg_solve(b, f, g, 0.1, n_iter=5, tol=0.0)
    true = _true_rel_res(z, b, f, g, 0.1)
    assert rel_res > 1e-6          # really stopped early (CG residuals need not decrease)
    assert abs(true - rel_res) <= 1e-10 * true + 1e-14
    # n_iter = 0 returns the start and its exact residual
    z0 = np.random.default_rng(16).standard_normal(b.shape)
    z, rel_res = cg_solve(b, f, g, 0.1, z0=z0, n_iter=0)
    np.testing.assert_array_equal(z, z0)
    assert rel_res == pytest.approx(_true_rel_res(z0, b, f, g, 0.1), rel=1e-12)


def test_cg_solve_warm_start_at_the_solution_returns_immediately():
    b, f, g = _cg_problem()
    alpha = 0.2
    sol = naive.solve(b, f, g, alpha)
    z0 = sol.copy()
    z, rel_res = cg_solve(b, f, g, alpha, z0=z0, n_iter=50, tol=1e-8)
    np.testing.assert_array_equal(z0, sol)       # z0 is not modified
    np.testing.assert_array_equal(z, sol)        # no CG step was taken
    assert rel_res <= 1e-12


def test_cg_solve_zero_rhs_gives_zero():
    b, f, g = _cg_problem()
    z, rel_res = cg_solve(np.zeros_like(b), f, g, 0.3)
    assert (z == 0).all() and rel_res == 0.0


def test_cg_solve_float32_stays_float32():
    b, f, g = _cg_problem()
    z, rel_res = cg_solve(b.astype(np.float32), f.astype(np.float32), g, 0.5,
                          n_iter=200, tol=1e-4)
    assert z.dtype == np.float32 and rel_res <= 1e-4
    assert _true_rel_res(z, b, f, g, 0.5) <= 1e-3


# ---------------------------------------------------------------- determinism
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_the_thread_count(dtype):
    z, f, r, g = _problem((9, 3, 30, 41, 5, 7), dtype, 17, True)
    g[:, 0] = True

    def run():
        zz, res = cg_solve(z, f, g, 0.1, n_iter=10, tol=0.0)
        return [conv_valid(z, f, g), conv_full(r, f, g), apply_A(z, f, g, 0.3),
                filter_grad(z, r, g), zz, np.array(res),
                lp_shrink(z, 10.0, 0.5), lp_shrink(z, 10.0, 1.0)]

    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(2)
        two = run()
    finally:
        numba.set_num_threads(old)
    for a, b in zip(one, two):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
