"""Masked data terms ``lam/2 ||W (F z - y)||^2 + |z|^p`` (beyond the paper).

The masked operator ``D = W F`` against the dense ``diag(W) F`` built from
``tests/naive.py``; the masked normal equations of eq. 6 against
``numpy.linalg.solve``; ``W = 1`` against the unmasked machine code, bit for bit,
through whole solves of both drivers.
"""
from __future__ import annotations

import numpy as np
import pytest

import naive
from numbadn.kernels import (ContinuationPlan, FistaPlan, Masked, apply_adjoint, apply_forward,
                             apply_gram, cg_solve, continuation_solve, data_gradient, fista_run,
                             fista_work, lipschitz_bound, make_chain, make_operator, masked,
                             new_rpad, power_norm2, workspace)
from numbadn.solvers import make_prior

RTOL = {np.float32: 2e-4, np.float64: 1e-10}


def rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def problem(dtype, seed=0, K1=3, K0=2, P=7, Q=6, h=3, w=4, binary=False):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((K1, K0, h, w)).astype(dtype)
    g = rng.random((K1, K0)) < 0.7
    g[:, 0] = True
    z = rng.standard_normal((K1, P + h - 1, Q + w - 1)).astype(dtype)
    y = rng.standard_normal((K0, P, Q)).astype(dtype)
    W = (rng.random((K0, P, Q)) < 0.6) if binary else rng.random((K0, P, Q))
    W = W.astype(dtype)
    W[0, 0, 0] = 1.0
    return f, g, z, y, W


def dense_masked(f, g, W, M, N):
    """``diag(W) F``, dense."""
    return W.ravel()[:, None].astype(np.float64) * naive.dense_F(f, g, M, N)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_forward_and_adjoint_are_the_dense_diag_w_f_and_its_transpose(dtype):
    f, g, z, y, W = problem(dtype, 1)
    K1, K0, h, w = f.shape
    D = dense_masked(f, g, W, *z.shape[1:])
    op = Masked(make_operator(f, g), W)
    rp = new_rpad(K0, y.shape[1], y.shape[2], h, w, dtype)
    apply_forward(op, z, rp, True)
    got = rp[:, h - 1:h - 1 + y.shape[1], w - 1:w - 1 + y.shape[2]]
    np.testing.assert_allclose(got.ravel(), D @ z.ravel().astype(np.float64),
                               rtol=RTOL[dtype], atol=RTOL[dtype] * 10)
    rp[...] = 0
    rp[:, h - 1:h - 1 + y.shape[1], w - 1:w - 1 + y.shape[2]] = y
    out = np.empty_like(z)
    apply_adjoint(op, rp, out, True)
    np.testing.assert_allclose(out.ravel(), D.T @ y.ravel().astype(np.float64),
                               rtol=RTOL[dtype], atol=RTOL[dtype] * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_masked_gram_is_the_dense_masked_normal_matrix(dtype, alpha):
    f, g, z, y, W = problem(dtype, 2)
    K1, K0, h, w = f.shape
    F = naive.dense_F(f, g, *z.shape[1:])
    A = F.T @ (W.ravel().astype(np.float64)[:, None] ** 2 * F) + alpha * np.eye(F.shape[1])
    out = np.empty_like(z)
    zAz = apply_gram(Masked(make_operator(f, g), W), z,
                     out, new_rpad(K0, y.shape[1], y.shape[2], h, w, dtype), alpha, True)
    ref = A @ z.ravel().astype(np.float64)
    np.testing.assert_allclose(out.ravel(), ref, rtol=RTOL[dtype], atol=RTOL[dtype] * 10)
    if alpha:
        assert zAz == pytest.approx(float(z.ravel() @ ref), rel=RTOL[dtype] * 10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_masked_gradient_is_f_transpose_of_the_masked_residual(dtype):
    """0/1 mask: ``F^T (W (F z - y))``, the gradient of ``1/2 ||W (F z - y)||^2``;
    checked against the dense matrices and against finite differences of that cost."""
    f, g, z, y, W = problem(dtype, 3, binary=True)
    K1, K0, h, w = f.shape
    F = naive.dense_F(f, g, *z.shape[1:])
    z64, y64, W64 = (a.astype(np.float64).ravel() for a in (z, y, W))
    ref = F.T @ (W64 * (F @ z64 - y64))
    out = np.empty_like(z)
    res2 = data_gradient(Masked(make_operator(f, g), W), (W * y).astype(dtype), z, out,
                         new_rpad(K0, y.shape[1], y.shape[2], h, w, dtype), True)
    np.testing.assert_allclose(out.ravel(), ref, rtol=RTOL[dtype], atol=RTOL[dtype] * 100)
    assert res2 == pytest.approx(float(np.sum((W64 * (F @ z64 - y64)) ** 2)), rel=RTOL[dtype])
    if dtype == np.float64:     # central differences of the masked cost along a direction
        d = rand(z.shape, 4)
        e = 1e-6
        cost = [0.5 * np.sum((W64 * (F @ (z64 + s * e * d.ravel()) - y64)) ** 2)
                for s in (1, -1)]
        assert (cost[0] - cost[1]) / (2 * e) == pytest.approx(float(out.ravel() @ d.ravel()),
                                                             rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cg_solves_the_masked_normal_equations_of_eq6(dtype):
    f, g, z, y, W = problem(dtype, 5, P=6, Q=5)
    K1, K0, h, w = f.shape
    alpha = 0.5
    F = naive.dense_F(f, g, *z.shape[1:])
    W2 = W.ravel().astype(np.float64)[:, None] ** 2
    A = F.T @ (W2 * F) + alpha * np.eye(F.shape[1])
    b = rand(z.shape, 6).astype(dtype)
    ref = np.linalg.solve(A, b.ravel().astype(np.float64))
    op = Masked(make_operator(f, g), W)
    x = np.zeros_like(b)
    res = cg_solve(op, x, b, alpha, 400, 1e-12 if dtype == np.float64 else 1e-6,
                   workspace(op, y, x), True)
    tol = 1e-8 if dtype == np.float64 else 2e-3
    assert res < (1e-10 if dtype == np.float64 else 1e-5)
    np.testing.assert_allclose(x.ravel(), ref, rtol=tol, atol=tol * np.abs(ref).max())


def test_the_step_bound_stays_valid_under_the_mask():
    f, g, z, y, W = problem(np.float64, 7)
    D = dense_masked(f, g, W, *z.shape[1:])
    F = naive.dense_F(f, g, *z.shape[1:])
    L = np.linalg.norm(F, 2) ** 2
    assert np.linalg.norm(D, 2) ** 2 <= lipschitz_bound(L, W) * (1 + 1e-12)
    assert lipschitz_bound(L, None) == L
    assert lipschitz_bound(L, np.ones_like(W)) == L
    assert lipschitz_bound(L, 0.5 * W / W.max()) == pytest.approx(0.25 * L)
    # power iteration on the masked operator finds ||W F||^2
    K1, K0, h, w = f.shape
    zz = rand(z.shape, 8)
    est = power_norm2(make_operator(f, g), zz, np.empty_like(zz),
                      new_rpad(K0, y.shape[1], y.shape[2], h, w, np.float64), 200, True)
    assert est == pytest.approx(L, rel=1e-6)


def test_no_mask_is_the_unmasked_operator_itself():
    f, g, *_ = problem(np.float64, 9)
    op = make_operator(f, g)
    assert masked(op, None) is op
    assert isinstance(masked(op, np.ones((2, 7, 6))), Masked)


def _solve_both(op, opm, y, ym, z0, solver, dtype):
    prior = make_prior(3.0, 1.0)
    out = []
    for o, yy in ((op, y), (opm, ym)):
        z = z0.copy()
        if solver == "continuation":
            plan = ContinuationPlan(np.array([1.0, 6.0, 36.0, 216.0]), 1, 2)
            continuation_solve(o, yy, z, prior, plan, workspace(o, yy, z), np.empty_like(z),
                               None, True)
        else:
            plan = FistaPlan(40.0, 30, 0.0, True, solver == "fista_bt")
            fista_run(o, yy, z, prior, plan, fista_work(o, yy, z), None, True)
        out.append(z)
    return out


@pytest.mark.parametrize("dtype", [np.float32])  # float64: the dense tests (compile time)
@pytest.mark.parametrize("solver", ["continuation", "fista", "fista_bt"])
def test_a_mask_of_ones_gives_the_unmasked_solution_bit_for_bit(dtype, solver):
    f, g, z, y, W = problem(dtype, 10, K1=4, K0=1, P=16, Q=15, h=5, w=5)
    op = make_operator(f, g)
    ones = np.ones_like(y)
    z0 = np.zeros_like(z)
    a, b = _solve_both(op, Masked(op, ones), y, ones * y, z0, solver, dtype)
    assert np.count_nonzero(a) > 0
    np.testing.assert_array_equal(a, b)
    # and with a warm start through the sparse scatter of FISTA's F v
    z0 = z * (np.abs(z) > 2.2)
    a, b = _solve_both(op, Masked(op, ones), y, ones * y, z0, solver, dtype)
    np.testing.assert_array_equal(a, b)
    # a real mask changes the solution (the test above is not vacuous)
    _, c = _solve_both(op, Masked(op, W), y, W * y, z0, solver, dtype)
    assert not np.array_equal(a, c)


def test_a_mask_of_ones_on_the_chain_is_the_chain_bit_for_bit():
    rng = np.random.default_rng(11)
    f1 = rng.standard_normal((3, 1, 3, 3))
    f2 = rng.standard_normal((4, 3, 3, 3))
    chain = [(f2, np.ones((4, 3), bool), 0.8), (f1, np.ones((3, 1), bool), 1.0)]
    top = (4, 14, 13)
    ch = make_chain(chain, top, np.float64)
    y = rng.standard_normal((1, 10, 9))
    z = rng.standard_normal(top)
    out_a, out_b = np.empty_like(z), np.empty_like(z)
    rp = new_rpad(1, 10, 9, 3, 3, np.float64)
    apply_gram(ch, z, out_a, rp, 0.4, True)
    apply_gram(Masked(ch, np.ones_like(y)), z, out_b, rp, 0.4, True)
    np.testing.assert_array_equal(out_a, out_b)
    # a real mask on the chain is diag(W) D
    W = (rng.random(y.shape) < 0.5).astype(np.float64)
    M, N = top[1:]
    D = None
    for f, gg, s in chain:
        F = naive.dense_F(f, gg, M, N) / s
        D = F if D is None else F @ D
        M, N = M - f.shape[2] + 1, N - f.shape[3] + 1
    DW = W.ravel()[:, None] * D
    apply_gram(Masked(ch, W), z, out_b, rp, 0.4, True)
    np.testing.assert_allclose(out_b.ravel(), DW.T @ DW @ z.ravel() + 0.4 * z.ravel(),
                               rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------ the solvers and the model
from numbadn import DeconvLayer  # noqa: E402
from numbadn.solvers import infer  # noqa: E402
from numbadn.solvers.inference import cost, infer_lowfreq  # noqa: E402
from numbadn.solvers.topdown import infer_chain  # noqa: E402


def image_problem(seed=20, P=18, Q=17, K1=4, h=5):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((K1, 1, h, h)).astype(np.float32)
    f /= np.linalg.norm(f.reshape(K1, -1), axis=1)[:, None, None, None]
    y = rng.standard_normal((1, P, Q)).astype(np.float32)
    W = (rng.random((P, Q)) < 0.5).astype(np.float32)
    return f, y, W


@pytest.mark.parametrize("solver", ["continuation", "fista"])
def test_infer_with_a_mask_of_ones_is_infer_without_bit_for_bit(solver):
    f, y, _ = image_problem()
    np.testing.assert_array_equal(infer(y, f, lam=5.0, solver=solver),
                                  infer(y, f, lam=5.0, solver=solver, mask=np.ones(y.shape[1:])))


@pytest.mark.parametrize("solver", ["continuation", "fista"])
def test_masked_inference_ignores_the_missing_pixels_and_lowers_the_masked_cost(solver):
    f, y, W = image_problem(21)
    z = infer(y, f, lam=5.0, solver=solver, mask=W)
    y2 = y + 10.0 * (1 - W) * np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    np.testing.assert_array_equal(z, infer(y2, f, lam=5.0, solver=solver, mask=W))
    # the masked cost of the masked solution is below that of the unmasked one
    zu = infer(y, f, lam=5.0, solver=solver)
    assert cost(y, z, f, lam=5.0, mask=W) < cost(y, zu, f, lam=5.0, mask=W)
    # and equals the dense formula
    r = W * (naive.conv_valid(z, f) - y)
    assert cost(y, z, f, lam=5.0, mask=W) == pytest.approx(
        2.5 * np.sum(r ** 2) + np.abs(z).sum(), rel=1e-5)


def test_masked_z0_maps_ignore_the_missing_pixels():
    f, y, W = image_problem(22)
    y2 = y + 10.0 * (1 - W) * np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    a = infer_lowfreq(y, f, lam=5.0, mask=W)
    b = infer_lowfreq(y2, f, lam=5.0, mask=W)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    ones = infer_lowfreq(y, f, lam=5.0, mask=np.ones_like(W))
    for u, v in zip(ones, infer_lowfreq(y, f, lam=5.0)):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("solver", ["continuation", "fista"])
def test_top_down_eq10_with_a_mask_ignores_the_missing_pixels(solver):
    rng = np.random.default_rng(23)
    f1 = rng.standard_normal((3, 1, 3, 3)).astype(np.float32)
    f2 = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    chain = [(f2, np.ones((4, 3), bool), 0.8), (f1, np.ones((3, 1), bool), 1.0)]
    y = rng.standard_normal((1, 12, 11)).astype(np.float32)
    W = (rng.random((12, 11)) < 0.5).astype(np.float32)
    z0 = np.zeros((4, 16, 15), np.float32)
    kw = dict(lam=3.0, solver=solver)
    if solver == "continuation":
        kw.update(beta0=1.0, beta_inc=6.0, beta_max=100.0)
    a = infer_chain(y, chain, z0, mask=W, **kw)
    b = infer_chain(y + 5 * (1 - W), chain, z0, mask=W, **kw)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(infer_chain(y, chain, z0, **kw),
                                  infer_chain(y, chain, z0, mask=np.ones_like(W), **kw))


@pytest.mark.parametrize("bad, match", [
    (np.ones((5, 5)), "mask has shape"),
    (np.full((18, 17), 1.5), r"\[0, 1\]"),
    (-np.ones((18, 17)), r"\[0, 1\]"),
    (np.zeros((18, 17)), "all zeros"),
    (np.where(np.eye(18, 17) > 0, np.nan, 1.0), "NaN"),
    (np.full((18, 17), np.inf), "inf"),
    (np.array([["a"] * 17] * 18), "mask must be a real array"),
])
def test_bad_masks_are_refused_with_a_message_naming_mask(bad, match):
    f, y, _ = image_problem()
    with pytest.raises((ValueError, TypeError), match=match):
        infer(y, f, mask=bad)


def test_a_numpy_masked_array_is_still_refused_as_an_image_and_as_a_mask():
    f, y, W = image_problem()
    with pytest.raises(TypeError, match="masked array"):
        infer(np.ma.masked_array(y, mask=np.zeros(y.shape, bool)), f)
    with pytest.raises(TypeError, match="mask is a numpy masked array"):
        infer(y, f, mask=np.ma.masked_array(W))


def test_learning_with_a_hole_recovers_the_filters_of_learning_on_whole_images():
    """Images made of two planted 5x5 filters, learning from a perturbed start:
    with a 9x9 hole in every image (at different places) and the mask, the filters
    end near those learnt on the whole images, and nearer than learning on the
    images with their holes zeroed and no mask."""
    rng = np.random.default_rng(30)
    K1, h, P = 2, 5, 24
    true = rng.standard_normal((K1, 1, h, h))
    true /= np.linalg.norm(true.reshape(K1, -1), axis=1)[:, None, None, None]
    ims, masks = [], []
    for i in range(10):
        z = np.zeros((K1, P + h - 1, P + h - 1))
        idx = rng.random(z.shape) < 0.03
        z[idx] = rng.standard_normal(idx.sum()) * 3
        ims.append(naive.conv_valid(z, true).astype(np.float32))
        m = np.ones((P, P), np.float32)
        a, b = rng.integers(0, P - 9, 2)
        m[a:a + 9, b:b + 9] = 0
        masks.append(m)
    init = (true + 0.08 * rng.standard_normal((K1, 1, h, h))).astype(np.float32)

    def learn(X, masks=None):
        layer = DeconvLayer.from_filters(init.copy(), lam=50.0, epochs=10, random_state=0,
                                         solver="fista", verbose=False)
        return layer.fit(X, masks=masks).filters_.astype(np.float64)

    def match(f):  # the worst over planted filters of the best |cosine| with a learnt one
        a = f.reshape(K1, -1)
        return np.abs(a @ true.reshape(K1, -1).T).max(axis=1).min()

    whole = learn(ims)
    holed = learn(ims, masks)
    zeroed = learn([y * m for y, m in zip(ims, masks)])
    assert match(init / np.linalg.norm(init.reshape(K1, -1), axis=1)[:, None, None, None]) < 0.95
    assert match(whole) > 0.999
    assert match(holed) > 0.999
    assert np.abs(holed - whole).max() < 0.5 * np.abs(zeroed - whole).max()


# ------------------------------------------------------------ the command line
def test_inpaint_command_writes_the_filled_image_and_the_figure(tmp_path, capsys):
    import os
    from pathlib import Path

    import matplotlib.pyplot as plt

    import numbadn
    from numbadn.cli import main
    d = Path(numbadn.__file__).parent / "datasets" / "natural"
    img = str(d / sorted(os.listdir(d))[0])
    assert main(["train", "--quiet", "--epochs", "1", "--n-images", "2", "--maps", "3,4",
                 "--size", "32", "--out", str(tmp_path / "run")]) == 0
    m = str(tmp_path / "run" / "model.npz")
    out, fig = tmp_path / "filled.png", tmp_path / "fig.png"
    assert main(["inpaint", m, img, "--missing", "0.5", "--size", "40", "--out", str(out),
                 "--plot", str(fig)]) == 0
    said = capsys.readouterr().out
    assert "on the missing pixels SNR" in said and "filled from layer 2" in said
    assert plt.imread(str(out)).shape[:2] == (40, 40) and fig.stat().st_size > 0
    # a mask picture: dark = missing; one of another size is refused naming --mask
    mask = np.ones((40, 40))
    mask[10:20, 10:20] = 0
    plt.imsave(str(tmp_path / "mask.png"), mask, cmap="gray", vmin=0, vmax=1)
    assert main(["inpaint", m, img, "--size", "40", "--mask", str(tmp_path / "mask.png"),
                 "--layer", "1", "--out", str(tmp_path / "f2.png"),
                 "--plot", str(tmp_path / "g2.png")]) == 0
    assert "(6.2%)" in capsys.readouterr().out
    assert main(["inpaint", m, img, "--mask", str(tmp_path / "mask.png"),
                 "--out", str(tmp_path / "f3.png"), "--plot", str(tmp_path / "g3.png")]) == 2
    assert "--mask" in capsys.readouterr().err


# ------------------------------------------------------------ the network
def _two_layer_net():
    from numbadn import DeconvNet
    return DeconvNet([DeconvLayer(1, 3, 5, lam=5.0, random_state=1, solver="fista"),
                      DeconvLayer(3, 4, 3, lam=5.0, random_state=2, solver="fista")],
                     epochs=2, verbose=False)


def _holed_images(n=3, P=20, seed=40):
    rng = np.random.default_rng(seed)
    ims, masks = [], []
    for _ in range(n):
        ims.append(rng.standard_normal((P, P)).astype(np.float32))
        m = np.ones((P, P), np.float32)
        a, b = rng.integers(0, P - 6, 2)
        m[a:a + 6, b:b + 6] = 0
        masks.append(m)
    return ims, masks


def test_network_fit_with_masks_of_ones_is_fit_without_bit_for_bit():
    ims, _ = _holed_images()
    plain = _two_layer_net().fit(ims)
    ones = _two_layer_net().fit(ims, masks=[np.ones_like(y) for y in ims])
    nones = _two_layer_net().fit(ims, masks=[None] * len(ims))
    for other in (ones, nones):
        for a, b in zip(plain.filters_, other.filters_):
            np.testing.assert_array_equal(a, b)
        assert plain.scales_ == other.scales_


def test_network_fit_with_masks_trains_layer1_as_the_layer_does_and_layer2_on_masked_maps():
    """Layer 1 of a masked network fit is DeconvLayer.fit with the same masks; layer 2
    is a layer fit on the scaled layer-1 maps inferred with those masks."""
    ims, masks = _holed_images()
    net = _two_layer_net().fit(ims, masks=masks)
    ref = _two_layer_net()
    l1 = ref.layers[0].fit(ims, epochs=2, masks=masks, verbose=False)
    np.testing.assert_array_equal(net.filters_[0], l1.filters_)
    s = np.float32(net.scales_[0])
    inputs = [np.ascontiguousarray(l1.infer(y, mask=m) * s) for y, m in zip(ims, masks)]
    l2 = ref.layers[1].fit(inputs, epochs=2, verbose=False)
    np.testing.assert_array_equal(net.filters_[1], l2.filters_)
    unmasked = _two_layer_net().fit(ims)
    assert not np.array_equal(unmasked.filters_[1], net.filters_[1])


def test_network_fit_refuses_bad_masks_and_a_resume_with_other_masks(tmp_path):
    from numbadn.model import TrainingSetDiffers
    ims, masks = _holed_images()
    with pytest.raises(ValueError, match="one mask per image: 3 images, 2 masks"):
        _two_layer_net().fit(ims, masks=masks[:2])
    with pytest.raises(TypeError, match="masks must be a list"):
        _two_layer_net().fit(ims, masks=5)
    with pytest.raises(ValueError, match=r"masks\[1\]"):
        _two_layer_net().fit(ims, masks=[masks[0], masks[1][:5], masks[2]])
    path = tmp_path / "ck.npz"
    _two_layer_net().fit(ims, masks=masks, checkpoint=path)
    with pytest.raises(TrainingSetDiffers):
        _two_layer_net().fit(ims, checkpoint=path, resume=True)
    resumed = _two_layer_net().fit(ims, masks=masks, checkpoint=path, resume=True)
    np.testing.assert_array_equal(resumed.filters_[1],
                                  _two_layer_net().fit(ims, masks=masks).filters_[1])


@pytest.mark.slow
def test_the_inpainting_script_tunes_lambda_inside_its_grid_and_fills_the_holes(tmp_path):
    """reproduce/inpainting.py --quick runs end to end; each layer's lambda is the best
    of its grid on the validation crops, and the fill beats leaving the holes at zero."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "reproduce" / "inpainting.py"
    subprocess.run([sys.executable, str(script), "--quick", "--n-images", "1",
                    "--out", str(tmp_path)], check=True, capture_output=True, text=True)
    d = json.loads((tmp_path / "inpainting.json").read_text())
    s = d["settings"]
    assert set(s["lam_tuned"]) == {"random 50%", "block"}
    for kind, tuned in s["lam_tuned"].items():
        for layer in ("1", "2"):
            scores = {float(k): v for k, v in s["validation_snr"][kind][layer].items()}
            assert sorted(scores) == sorted(s["lam_grid"])
            assert tuned[layer] == max(scores, key=scores.get)
        assert s["sporco_lmbda"][kind] == pytest.approx(1.0 / tuned["1"])
    # zeros in the holes score 10 log10(var / mean square) <= about 0 dB on the raw
    # scale; the masked layers' fill of 50% random holes must be well above it
    for layer in ("numbadn layer 1", "numbadn layer 2"):
        assert d["summary"]["random 50%"][layer]["snr_db"] > 3.0
    assert (tmp_path / "inpainting.png").stat().st_size > 10_000
