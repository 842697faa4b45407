"""``DeconvLayer``: learning one layer (Algorithm 1, eq. 9) and its public surface.

Filter recovery: 8 images of 64x64 are synthesised as ``conv_valid(z, f_true)``
from 4 known random unit-norm 7x7 filters and sparse spike maps (0.5 % density
per map, amplitudes +-[0.5, 1.5)); a 6-map layer is trained for 20 epochs
(lam = 10, online updates).  For each true filter the best learned match is
the maximum, over learned filters, shifts up to +-2 px and sign, of the
normalised cross-correlation.  Measured (run with ``-s``): mean best match
0.895 with the paper's continuation and 0.939 with FISTA (max_iter 50),
against 0.35 for random filters scored the same way.
"""
import time

import numpy as np
import pytest
from scipy.signal import correlate2d

from numbadn import DeconvLayer
from numbadn.ops import conv_valid


# ---------------------------------------------------------------- helpers
def unit(f):
    return f / np.sqrt((f ** 2).sum(axis=(-2, -1), keepdims=True))


def best_match(a, b, shift=2):
    """Max over shifts ``|dy|, |dx| <= shift`` and sign of the normalised
    cross-correlation of two (h, w) filters."""
    c = correlate2d(np.pad(a, shift), b, mode="valid")
    return float(np.abs(c).max() / (np.linalg.norm(a) * np.linalg.norm(b)))


def recovery(true, learned):
    """Mean over true filters of the best match among the learned ones."""
    return float(np.mean([max(best_match(t, l) for l in learned) for t in true]))


def synthetic(seed=1, K=4, n=8, size=64, h=7, density=0.005):
    """Images made from known sparse maps and known unit-norm filters."""
    rng = np.random.default_rng(seed)
    f = unit(rng.standard_normal((K, 1, h, h)))
    ims = []
    for _ in range(n):
        z = np.zeros((K, size + h - 1, size + h - 1))
        m = rng.random(z.shape) < density
        z[m] = rng.choice([-1.0, 1.0], m.sum()) * (0.5 + rng.random(m.sum()))
        ims.append(conv_valid(z, f)[0].astype(np.float32))
    return ims, f


@pytest.fixture(scope="module")
def planted():
    return synthetic()


def chance_level(true, n_learned, h=7, trials=20):
    """:func:`recovery` of random unit-norm filters (the same score, by chance)."""
    return float(np.mean([
        recovery(true, unit(np.random.default_rng(100 + s).standard_normal((n_learned, h, h))))
        for s in range(trials)]))


def assert_unit_planes(layer):
    f = layer.filters_.astype(np.float64)
    g = layer.connectivity_
    norms = np.sqrt((f ** 2).sum(axis=(2, 3)))
    np.testing.assert_allclose(norms[g], 1.0, rtol=1e-5)
    assert np.all(f[~g] == 0)


# ---------------------------------------------------------------- learning
@pytest.mark.parametrize("solver, options", [("continuation", {}),
                                             ("fista", {"max_iter": 50})])
def test_learning_recovers_planted_filters_well_above_chance(planted, solver, options):
    ims, f_true = planted
    layer = DeconvLayer(1, 6, 7, lam=10.0, solver=solver, solver_options=options,
                        random_state=0).initialize()
    before = recovery(f_true[:, 0], layer.filters_[:, 0])
    layer.fit(ims, epochs=20, verbose=False)
    after = recovery(f_true[:, 0], layer.filters_[:, 0])
    chance = chance_level(f_true[:, 0], 6)
    print(f"\n[{solver}] filter recovery: learned {after:.3f}, initial {before:.3f}, "
          f"chance {chance:.3f}; cost {layer.history_[0]['cost']:.1f} -> "
          f"{layer.history_[-1]['cost']:.1f}")
    assert chance < 0.5
    assert after > 0.8                    # measured 0.895 / 0.939
    assert after > chance + 0.3
    assert after > before + 0.3
    assert_unit_planes(layer)


def test_fit_lowers_the_cost(planted):
    ims, _ = planted
    ims = ims[:4]
    layer = DeconvLayer(1, 6, 7, lam=10.0, random_state=2).initialize()
    score0 = layer.mean_cost(ims)  # score() is -mean_cost (higher is better, scikit-learn's convention)
    out = layer.fit(ims, epochs=6, verbose=False)
    assert out is layer
    costs = [h["cost"] for h in layer.history_]
    assert [h["epoch"] for h in layer.history_] == list(range(1, 7))
    assert all(h["seconds"] >= 0 for h in layer.history_)
    assert costs[-1] < 0.9 * costs[0]
    assert all(b <= 1.02 * a for a, b in zip(costs, costs[1:]))  # non-increasing-ish
    assert layer.mean_cost(ims) < score0
    # a second fit continues the history
    layer.fit(ims, epochs=1, verbose=False)
    assert len(layer.history_) == 7 and layer.history_[-1]["epoch"] == 7


@pytest.mark.parametrize("update", ["online", "batch"])
@pytest.mark.parametrize("solver", ["continuation", "fista"])
def test_online_and_batch_updates_both_learn(planted, update, solver):
    ims, _ = planted
    layer = DeconvLayer(1, 4, 7, lam=10.0, update=update, solver=solver,
                        solver_options={"max_iter": 30} if solver == "fista" else None)
    layer.initialize()
    score0 = layer.mean_cost(ims[:3])  # score() is -mean_cost
    layer.fit(ims[:3], epochs=3, verbose=False)
    assert layer.mean_cost(ims[:3]) < score0
    assert len(layer.maps_) == 3 and layer.maps_[0].shape == (4, 70, 70)
    assert_unit_planes(layer)


def test_callback_can_stop_fit(planted):
    ims, _ = planted
    seen = []
    layer = DeconvLayer(1, 4, 7)
    # callback(stats) after every image; returning True stops at the end of the epoch
    layer.fit(ims[:2], epochs=5, verbose=False,
              callback=lambda st: seen.append((st.epoch, st.image)) or st.epoch == 2)
    assert seen == [(1, 0), (1, 1), (2, 0), (2, 1)] and len(layer.history_) == 2


def test_fit_is_deterministic(planted):
    ims, _ = planted
    a = DeconvLayer(1, 4, 7, random_state=5).fit(ims[:2], epochs=2, verbose=False)
    b = DeconvLayer(1, 4, 7, random_state=5).fit(ims[:2], epochs=2, verbose=False)
    np.testing.assert_array_equal(a.filters_, b.filters_)


# ---------------------------------------------------------------- image formats
@pytest.mark.parametrize("update", ["online", "batch"])
def test_every_image_format_is_accepted(update):
    rng = np.random.default_rng(3)
    im = rng.standard_normal((20, 24)).astype(np.float32)
    formats = {
        "(P,Q)": im,
        "(1,P,Q)": im[None],
        "(n,1,P,Q)": np.stack([im[None], im[None] * 0.5]),
        "list of sizes": [im, rng.standard_normal((17, 13)).astype(np.float32),
                          rng.standard_normal((1, 25, 19))],
    }
    for name, images in formats.items():
        layer = DeconvLayer(1, 3, 5, update=update, random_state=1)
        layer.fit(images, epochs=2, verbose=False)
        assert len(layer.history_) == 2, name
        assert layer.filters_.shape == (3, 1, 5, 5) and layer.filters_.dtype == np.float32
        assert np.isfinite(layer.filters_).all()
        assert_unit_planes(layer)
    assert [m.shape for m in layer.maps_] == [(3, 24, 28), (3, 21, 17), (3, 29, 23)]
    # infer and score take the same formats
    assert layer.infer(im).shape == (3, 24, 28)
    assert layer.infer(im[None]).shape == (3, 24, 28)
    assert layer.infer(np.stack([im[None]] * 2)).shape == (2, 3, 24, 28)
    assert np.isfinite(layer.score(formats["list of sizes"]))


# ---------------------------------------------------------------- connectivity
def test_filters_stay_unit_norm_and_zero_where_g_is_false():
    g = np.array([[1, 0], [0, 1], [1, 1]], bool)
    rng = np.random.default_rng(4)
    ims = [rng.standard_normal((2, 18, 21)).astype(np.float32) for _ in range(2)]
    for update in ("online", "batch"):
        layer = DeconvLayer(2, 3, 5, connectivity=g, update=update).initialize()
        assert_unit_planes(layer)
        layer.fit(ims, epochs=2, verbose=False)
        np.testing.assert_array_equal(layer.connectivity_, g)
        assert_unit_planes(layer)


def test_named_connectivity_singles_and_pairs():
    layer = DeconvLayer(3, 6, 5, connectivity="singles_and_pairs").initialize()
    g = layer.connectivity_
    assert g.shape == (6, 3) and g.sum(axis=1).tolist() == [1, 1, 1, 2, 2, 2]
    rng = np.random.default_rng(5)
    layer.fit(rng.standard_normal((3, 16, 15)), epochs=2, verbose=False)
    assert_unit_planes(layer)
    z = layer.infer(rng.standard_normal((3, 16, 15)).astype(np.float32))
    assert z.shape == (6, 20, 19) and z.dtype == np.float32


def test_infer_returns_maps_in_the_layers_dtype():
    layer = DeconvLayer(1, 3, 5).initialize()
    y = np.random.default_rng(8).standard_normal((12, 14))  # float64
    assert layer.infer(y).dtype == np.float32


# ---------------------------------------------------------------- reconstruct, dtype
def test_reconstruct_shapes_and_consistency_with_cost():
    rng = np.random.default_rng(6)
    layer = DeconvLayer(2, 4, (5, 3), connectivity=np.array(
        [[1, 0], [0, 1], [1, 1], [1, 0]], bool)).initialize()
    y = rng.standard_normal((2, 12, 17)).astype(np.float32)
    z = layer.infer(y)
    assert z.shape == (4, 16, 19)
    r = layer.reconstruct(z)
    assert r.shape == (2, 12, 17) and r.dtype == np.float32
    assert layer.reconstruct(np.stack([z, z])).shape == (2, 2, 12, 17)
    expect = 0.5 * layer.lam * np.sum((r.astype(np.float64) - y) ** 2) + np.abs(z).sum()
    assert layer.cost(y, z) == pytest.approx(expect, rel=1e-5)


def test_float64_layer_learns_in_float64(planted):
    ims, _ = planted
    layer = DeconvLayer(1, 4, 7, lam=10.0, dtype=np.float64)
    layer.fit(ims[:2], epochs=2, verbose=False)
    assert layer.filters_.dtype == np.float64
    assert layer.maps_[0].dtype == np.float64
    assert layer.infer(ims[0]).dtype == np.float64
    assert_unit_planes(layer)
    # float32 and float64 learn the same filters up to rounding
    l32 = DeconvLayer(1, 4, 7, lam=10.0).fit(ims[:2], epochs=2, verbose=False)
    np.testing.assert_allclose(l32.filters_, layer.filters_, atol=2e-3)


# ---------------------------------------------------------------- bad arguments
@pytest.mark.parametrize("kw, exc, match", [
    (dict(p=0.0), ValueError, r"\bp\b"),
    (dict(p=1.5), ValueError, r"\bp\b"),
    (dict(lam=0.0), ValueError, "lam"),
    (dict(update="stochastic"), ValueError, "update"),
    (dict(solver="admm"), ValueError, "solver"),
    (dict(solver_options={"max_iter": 5}), TypeError, "max_iter"),
    (dict(solver="fista", solver_options={"cg_iters": 5}), TypeError, "cg_iters"),
    (dict(dtype=np.int32), TypeError, "dtype"),
    (dict(filter_size=0), ValueError, "filter_size"),
    (dict(filter_size=(3, 3, 3)), TypeError, "filter_size"),
    (dict(connectivity=np.ones((2, 1), bool)), ValueError, r"\bg\b"),
    (dict(connectivity="singles_and_pairs"), ValueError, "singles_and_pairs"),
    (dict(connectivity="everything"), ValueError, "everything"),
    (dict(filter_cg_iters=0), ValueError, "filter_cg_iters"),
])
def test_bad_parameters_name_the_argument_when_fit_checks_them(kw, exc, match):
    args = dict(in_channels=1, n_maps=3, filter_size=5)
    args.update(kw)
    layer = DeconvLayer(**args)  # stored as given
    with pytest.raises(exc, match=match):
        layer.fit(np.ones((1, 1, 9, 9), np.float32), verbose=False)
    assert not hasattr(layer, "filters_")


def test_bad_counts_name_the_argument():
    with pytest.raises(ValueError, match="in_channels"):
        DeconvLayer(0, 3).initialize()
    with pytest.raises(ValueError, match="n_maps"):
        DeconvLayer(1, 0).initialize()
    with pytest.raises(TypeError, match="n_maps"):
        DeconvLayer(1, 2.5).initialize()


def test_bad_images_name_the_argument():
    layer = DeconvLayer(1, 3, 5)
    rng = np.random.default_rng(7)
    good = rng.standard_normal((12, 12)).astype(np.float32)
    with pytest.raises(ValueError, match=r"images.*channel.*in_channels=1"):
        layer.fit(rng.standard_normal((3, 12, 12)), verbose=False)
    with pytest.raises(ValueError, match=r"images\[1\].*channel"):
        layer.fit([good, rng.standard_normal((2, 12, 12))], verbose=False)
    with pytest.raises(ValueError, match=r"images.*empty"):
        layer.fit([], verbose=False)
    bad = good.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match=r"images.*NaN"):
        layer.fit(bad, verbose=False)
    with pytest.raises(ValueError, match=r"images\[1\].*NaN"):
        layer.fit([good, bad], verbose=False)
    with pytest.raises(TypeError, match=r"images.*int"):
        layer.fit(np.ones((12, 12), np.int64), verbose=False)
    with pytest.raises(ValueError, match=r"images.*dimensions"):
        layer.fit([np.ones(12, np.float32)], verbose=False)
    with pytest.raises(TypeError, match="images"):
        layer.fit("not an image", verbose=False)
    with pytest.raises(ValueError, match="epochs"):
        layer.fit(good, epochs=-1, verbose=False)
    layer.initialize()
    with pytest.raises(ValueError, match="channel"):
        layer.infer(rng.standard_normal((2, 12, 12)))
    with pytest.raises(ValueError, match=r"image.*NaN"):
        layer.infer(bad)
    with pytest.raises(TypeError, match="bogus"):
        layer.infer(good, bogus=1)
    with pytest.raises(ValueError, match=r"\bz\b"):
        layer.reconstruct(np.zeros((2, 16, 16)))
    # nothing was learned from the failed calls
    assert layer.history_ == []


def test_a_second_fit_starts_afresh_on_new_images_of_any_size():
    """A new ``fit`` keeps no maps of the previous images (no warm start
    from them, no error when their size differs); the filters carry on."""
    rng = np.random.default_rng(3)
    a = list(rng.standard_normal((2, 16, 16)))
    b = list(rng.standard_normal((2, 16, 16)))
    layer = DeconvLayer(1, 3, 5, random_state=1).fit(a, epochs=1, verbose=False)
    twin = DeconvLayer.from_filters(layer.filters_.copy(), random_state=1)
    layer.fit(b, epochs=1, verbose=False)
    twin.fit(b, epochs=1, verbose=False)
    np.testing.assert_array_equal(layer.filters_, twin.filters_)
    layer.fit(list(rng.standard_normal((2, 20, 18))), epochs=1, verbose=False)
    assert layer.maps_[0].shape == (3, 24, 22) and len(layer.history_) == 3


def test_the_progress_bar_in_a_log_redraws_seldom_but_ends_complete(capsys):
    """To a file or pipe (not a terminal) every redraw stays in the log: the bar of
    a fit redraws at most every LOG_INTERVAL seconds (postfix updates do not force
    one), and its last state, every image done, is always written."""
    import re

    from numbadn.model.training import LOG_INTERVAL
    rng = np.random.default_rng(0)
    ims = [rng.standard_normal((12, 12)).astype(np.float32) for _ in range(20)]
    t0 = time.perf_counter()
    DeconvLayer(1, 2, 3, epochs=2, random_state=0, solver="fista", verbose=True).fit(ims)
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err
    draws = [d for d in re.split(r"[\r\n]", err) if "img" in d]
    assert "40/40" in draws[-1]
    assert len(draws) <= 3 + seconds / LOG_INTERVAL, draws
