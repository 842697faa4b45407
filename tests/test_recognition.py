"""numbadn.recognition (section 4.3, Table 1) against direct computations."""
from __future__ import annotations

import numpy as np
import pytest

import naive
from numbadn import recognition as R
from numbadn.recognition import _spm

sklearn = pytest.importorskip("sklearn")


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.fixture(scope="module")
def net():
    """Footnote 4's architecture, trained for one epoch on 6 built-in city crops."""
    from numbadn.data import load_images
    return R.DNDescriptors(epochs=1).fit(load_images("city")[:6]).model_


def stripes(n, vertical, size=40, seed=0):
    """Sinusoidal stripes of random period and phase, plus noise."""
    g = rng(seed)
    out = []
    r, c = np.mgrid[:size, :size]
    for _ in range(n):
        period = g.uniform(5, 8)
        t = (c if vertical else r) * 2 * np.pi / period + g.uniform(0, 2 * np.pi)
        im = 0.5 + 0.35 * np.sin(t) + 0.05 * g.standard_normal((size, size))
        out.append(np.clip(im, 0, 1).astype(np.float32))
    return out


# ----------------------------------------------------------------- kernels
@pytest.mark.parametrize("shape,cell,stride", [((3, 20, 20), 4, 2), ((2, 23, 17), 8, 2),
                                               ((1, 16, 16), 4, 4), ((2, 9, 11), 4, 1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_cells_is_the_sum_of_absolute_values_over_each_window(shape, cell, stride, dtype):
    z = rng(3).standard_normal(shape).astype(dtype)
    K, M, N = shape
    A, B = (M - cell) // stride + 1, (N - cell) // stride + 1
    out = np.empty((K, A, B), np.float32)
    _spm.pool_cells(z, cell, stride, out)
    ref = np.array([[[np.abs(z[k, a * stride:a * stride + cell, b * stride:b * stride + cell]).sum()
                      for b in range(B)] for a in range(A)] for k in range(K)])
    np.testing.assert_allclose(out, ref, rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_intersection_kernel_equals_the_direct_sum_of_minima(dtype):
    A = rng(4).random((7, 50)).astype(dtype)
    A[A < 0.6] = 0  # sparse, like pyramid histograms
    B = rng(5).random((5, 50)).astype(dtype)
    ref = np.minimum(A[:, None, :], B[None, :, :]).sum(-1)
    np.testing.assert_allclose(R.intersection_kernel(A, B), ref, rtol=1e-6)
    K = R.intersection_kernel(A)
    np.testing.assert_allclose(K, K.T)
    np.testing.assert_allclose(np.diag(K), A.sum(1), rtol=1e-6)


def test_intersection_kernel_rejects_negative_and_mismatched_histograms():
    with pytest.raises(ValueError, match="nonnegative"):
        R.intersection_kernel(-np.ones((2, 3)))
    with pytest.raises(ValueError, match="same number of columns"):
        R.intersection_kernel(np.ones((2, 3)), np.ones((2, 4)))


# ----------------------------------------------------------------- pyramid
def test_pyramid_weights_are_lazebniks():
    np.testing.assert_allclose(R.pyramid_weights(3), [1 / 4, 1 / 4, 1 / 2])
    np.testing.assert_allclose(R.pyramid_weights(4), [1 / 8, 1 / 8, 1 / 4, 1 / 2])
    np.testing.assert_allclose(R.pyramid_weights(1), [1.0])


def test_spatial_pyramid_counts_words_in_their_cells():
    n_words, shape = 5, (40, 60)
    pos = np.array([[1.0, 1.0], [39.0, 59.0], [25.0, 10.0], [5.0, 40.0]])
    words = np.array([0, 4, 2, 2])
    h = R.spatial_pyramid(words, pos, shape, n_words, levels=3)
    assert h.shape == (n_words * (1 + 4 + 16),)
    w = R.pyramid_weights(3)
    # direct: level l, cell (r * 2^l / 40, c * 2^l / 60)
    ref = []
    for l in range(3):
        s = 2 ** l
        lev = np.zeros((s * s, n_words))
        for (r, c), wd in zip(pos, words):
            lev[int(r * s / 40) * s + int(c * s / 60), wd] += 1
        ref.append(lev.ravel() * w[l] / len(words))
    np.testing.assert_allclose(h, np.concatenate(ref), rtol=1e-6)
    # each level sums to its weight
    sizes = [n_words * 4 ** l for l in range(3)]
    parts = np.split(h, np.cumsum(sizes)[:-1])
    np.testing.assert_allclose([p.sum() for p in parts], w, rtol=1e-6)


def test_spatial_pyramid_rejects_words_outside_the_vocabulary():
    with pytest.raises(ValueError, match="n_words"):
        R.spatial_pyramid(np.array([5]), np.zeros((1, 2)), (20, 20), 5)


# ------------------------------------------------------------- descriptors
def test_dn_descriptors_have_footnote5_dimensions_and_grid(net):
    dn = R.DNDescriptors(model=net).fit()
    assert dn.n_features_out_ == {"dn-1": 128, "dn-2": 144}
    ims = [rng(6).random((84, 84)).astype(np.float32), rng(7).random((50, 41)).astype(np.float32)]
    d84, d50 = dn.transform(ims)
    assert d84.grid == (35, 35) and d84["dn-1"].shape == (1225, 128)
    assert d84["dn-2"].shape == (4 * 1225, 144)               # the toolbox: 4 per patch
    assert d84.with_options(geometry="patch")["dn-2"].shape == (1225, 144)
    assert d50.grid == (18, 13) and d50["dn-1"].shape == (18 * 13, 128)
    np.testing.assert_allclose(d84.positions[0], [7.5, 7.5])
    np.testing.assert_allclose(d84.positions[36], [9.5, 9.5])  # row 1, column 1
    np.testing.assert_allclose(d84.locations("dn-2")[:4], [[3.5, 3.5], [3.5, 11.5],
                                                           [11.5, 3.5], [11.5, 11.5]])
    assert set(dn.timings_) == {"inference", "pooling"}


def _abs_maps(net, im):
    """|layer-1| and |layer-2| maps of a grey image, cropped to its extent."""
    from numbadn.preprocess import contrast_normalize
    y = contrast_normalize(im, mode="same")
    P, Q = im.shape
    z1 = np.abs(net.infer(y, layer=1))[:, 3:3 + P, 3:3 + Q]     # 7x7 filters: offset 3
    z2 = np.abs(net.infer(y, layer=2))[:, 6:6 + P, 6:6 + Q]     # two layers: offset 6
    return z1, z2


@pytest.mark.parametrize("stride", [2, 4])
@pytest.mark.parametrize("geometry", ["toolbox", "patch"])
@pytest.mark.parametrize("normalize", ["toolbox", "none"])
def test_dn_descriptors_match_the_toolbox_steps_done_patch_by_patch(net, stride, geometry,
                                                                     normalize):
    """tests/naive.py: dessimate_spread -> pool by 4 -> make_descriptors, then
    rescale_row_0_1 and sp_normalize_sift, one patch at a time."""
    im = rng(8).random((36, 30)).astype(np.float32)
    d = R.DNDescriptors(model=net, n_jobs=1, stride=stride, normalize=normalize,
                        geometry=geometry).fit().transform([im])[0]
    for layer, z in zip((1, 2), _abs_maps(net, im)):
        want, centres = naive.dn_descriptors(z.astype(np.float64), stride, layer, geometry)
        if normalize == "toolbox":
            want = naive.toolbox_normalize(want)
        name = f"dn-{layer}"
        got = d[name]
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5 if normalize == "toolbox"
                                   else 1e-4)
        np.testing.assert_allclose(d.locations(name), centres)


def test_the_toolbox_normalisation_of_a_descriptor():
    D = rng(20).gamma(1.0, 1.0, (50, 36)).astype(np.float32)
    D[1] = 3.0                         # constant: no contrast, zeros (the toolbox: NaN)
    D[2] = 0.0
    D[2, 5] = 7.0                      # a single peak: norm 1 after the rescale
    D[3, :] = 1.0
    D[3, :4] = 50.0                    # four large values: clipped at 0.2 then renormalised
    want = naive.toolbox_normalize(D)
    got = R.normalize_descriptors(D.copy())
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not got[1].any() and got[2, 5] == pytest.approx(1.0)
    np.testing.assert_allclose(np.linalg.norm(got[[0, 2, 3]], axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(got[3, :4], 0.5, rtol=1e-5)  # four equal maxima share the norm


def test_images_in_parallel_give_the_same_descriptors_as_one_at_a_time(net):
    ims = [rng(10 + i).random((30, 30)).astype(np.float32) for i in range(4)]
    a = R.DNDescriptors(model=net, n_jobs=1).fit().transform(ims)
    b = R.DNDescriptors(model=net, n_jobs=2).fit().transform(ims)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["dn-1"], y["dn-1"])
        np.testing.assert_array_equal(x["dn-2"], y["dn-2"])


def test_image_descriptors_round_trip_through_arrays(net):
    d = R.DNDescriptors(model=net).fit().transform([rng(9).random((20, 24)).astype(np.float32)])[0]
    e = R.ImageDescriptors.from_arrays(d.to_arrays())
    assert e.shape == d.shape and e.grid == d.grid
    np.testing.assert_array_equal(e["dn-2"], d["dn-2"])


def test_dense_sift_describes_a_16x16_patch():
    pytest.importorskip("cv2")
    im = rng(11).random((64, 64)).astype(np.float32)
    sift = R.DenseSIFT().fit()
    d = sift.transform([im])[0]
    assert d["sift"].shape == (len(d), 128) and d.grid == (25, 25)
    k = 12 * 25 + 12                       # centre (31.5, 31.5)
    far = im.copy()
    far[:12, :] = far[52:, :] = 0.5        # more than 16 px from the centre
    far[:, :12] = far[:, 52:] = 0.5
    near = im.copy()
    near[28:36, 28:36] = 1 - near[28:36, 28:36]
    np.testing.assert_array_equal(sift.transform([far])[0]["sift"][k], d["sift"][k])
    assert np.abs(sift.transform([near])[0]["sift"][k] - d["sift"][k]).sum() > 50


# -------------------------------------------------------------- classifier
@pytest.mark.parametrize("features", ["dn-1", "dn-2", "dn-1+2", "sift"])
def test_a_separable_problem_is_learned_perfectly(net, features):
    if features == "sift":
        pytest.importorskip("cv2")
        ext = R.DenseSIFT()
    else:
        ext = R.DNDescriptors(model=net)
    X = stripes(8, True, seed=1) + stripes(8, False, seed=2)
    y = np.array([0] * 8 + [1] * 8)
    Xt = stripes(5, True, seed=3) + stripes(5, False, seed=4)
    yt = np.array([0] * 5 + [1] * 5)
    clf = R.SPMClassifier(features, n_words=16, extractor=ext).fit(X, y)
    assert clf.score(Xt, yt) == 1.0
    assert clf.train_pyramids_.shape[1] == 16 * 21 * (2 if features == "dn-1+2" else 1)
    assert set(clf.timings_) >= {"descriptors", "kmeans", "quantize", "kernel", "svm"}


def test_clone_and_pipeline_work(net):
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline
    clf = R.SPMClassifier("dn-1", n_words=12, C=3.0)
    c2 = clone(clf)
    assert c2.get_params() == clf.get_params() and not hasattr(c2, "svc_")
    dn = R.DNDescriptors(model=net, layers=(1,))
    assert clone(dn).get_params()["layers"] == (1,)
    pipe = Pipeline([("dn", dn), ("spm", clf)])
    X = stripes(6, True, seed=5) + stripes(6, False, seed=6)
    y = np.array(["v"] * 6 + ["h"] * 6)
    Xt = stripes(4, True, seed=7) + stripes(4, False, seed=8)
    assert pipe.fit(X, y).score(Xt, np.array(["v"] * 4 + ["h"] * 4)) == 1.0
    assert clone(pipe).get_params()["spm__n_words"] == 12


# --------------------------------------------------------------- bad input
def test_bad_input_gets_a_clear_error(net):
    dn = R.DNDescriptors(model=net).fit()
    D = dn.transform(stripes(3, True))
    with pytest.raises(ValueError, match="one label per image"):
        R.SPMClassifier("dn-1", n_words=4).fit(D, [0, 1])
    with pytest.raises(ValueError, match="single class"):
        R.SPMClassifier("dn-1", n_words=4).fit(D, [0, 0, 0])
    with pytest.raises(ValueError, match="n_words=5000 needs at least 5000 descriptors"):
        R.SPMClassifier("dn-1", n_words=5000).fit(D, [0, 1, 1])
    with pytest.raises(ValueError, match="features must be one of"):
        R.SPMClassifier("hog").fit(D, [0, 1, 1])
    with pytest.raises(ValueError, match="has no \\['sift'\\] descriptors"):
        R.SPMClassifier("sift", n_words=4).fit(D, [0, 1, 1])
    with pytest.raises(ValueError, match="not fitted"):
        R.SPMClassifier().predict(D)
    with pytest.raises(ValueError, match="not fitted"):
        R.DNDescriptors(model=net).transform(stripes(1, True))
    with pytest.raises(ValueError, match="at least 16x16"):
        dn.transform([np.zeros((10, 40), np.float32)])
    with pytest.raises(ValueError, match="layers must be"):
        R.DNDescriptors(model=net, layers=(3,)).fit()
    with pytest.raises(ValueError, match="stride must divide"):
        R.DNDescriptors(model=net, stride=3).fit()
    with pytest.raises(TypeError, match="trained numbadn.DeconvNet"):
        R.DNDescriptors(model="model.npz").fit()
    with pytest.raises(ValueError, match="trained layer"):
        R.DNDescriptors(model=R.footnote4_net()).fit()
    with pytest.raises(ValueError, match="images is required"):
        R.DNDescriptors().fit()
    with pytest.raises(TypeError, match="float32 or float64"):
        dn.transform([np.zeros((20, 20), np.uint8)])


def test_colour_images_are_made_grey_and_said_so(net, capsys):
    dn = R.DNDescriptors(model=net).fit()
    grey = rng(12).random((24, 24)).astype(np.float32)
    colour = np.stack([grey] * 3)
    a, b = dn.transform([grey, colour])
    assert "1 colour image(s)" in capsys.readouterr().err
    np.testing.assert_allclose(a["dn-1"], b["dn-1"], rtol=1e-4, atol=1e-5)


def test_images_of_different_sizes_are_matched_on_their_own_grids(net):
    dn = R.DNDescriptors(model=net, layers=(1,)).fit()
    X = stripes(4, True, size=40, seed=9) + stripes(4, False, size=56, seed=10)
    D = dn.transform(X)
    assert {d.shape for d in D} == {(40, 40), (56, 56)}
    clf = R.SPMClassifier("dn-1", n_words=8).fit(D, [0] * 4 + [1] * 4)
    assert clf.train_pyramids_.shape == (8, 8 * 21)
    np.testing.assert_allclose(clf.train_pyramids_.sum(1), 1.0, rtol=1e-5)


def test_the_shipped_model_is_footnote4s():
    net = R.pretrained_model()
    assert net.trained_ == 2
    assert [la.n_maps for la in net.layers] == [8, 36]
    assert [la.lam for la in net.layers] == [10.0, 1.0]
    assert {la.p for la in net.layers} == {0.8}
    from numbadn.connectivity import singles_and_pairs
    np.testing.assert_array_equal(net.layers[1].connectivity_, singles_and_pairs(8))


def test_without_an_extractor_the_classifier_uses_the_shipped_model():
    X = stripes(5, True, seed=11) + stripes(5, False, seed=12)
    clf = R.SPMClassifier("dn-1", n_words=8).fit(X, [0] * 5 + [1] * 5)
    assert clf.extractor_.model_.trained_ == 2
    assert clf.score(stripes(3, True, seed=13), [0, 0, 0]) == 1.0


def test_options_are_views_of_the_same_cells_and_survive_the_round_trip(net):
    d = R.DNDescriptors(model=net).fit().transform([rng(14).random((30, 30)).astype(np.float32)])[0]
    raw = d.with_options(normalize="none", geometry="patch")
    assert raw._cells["dn-1"] is d._cells["dn-1"]
    assert (d.normalize, d.geometry) == ("toolbox", "toolbox")
    np.testing.assert_allclose(d["dn-1"], R.normalize_descriptors(raw["dn-1"]), rtol=1e-6)
    e = R.ImageDescriptors.from_arrays(raw.to_arrays())
    assert (e.normalize, e.geometry) == ("none", "patch")
    np.testing.assert_array_equal(e["dn-2"], raw["dn-2"])
    with pytest.raises(ValueError, match="normalize must be one of"):
        d.with_options(normalize="l2")
    with pytest.raises(ValueError, match="geometry must be one of"):
        R.DNDescriptors(model=net, geometry="square").fit()


def test_the_classifier_is_a_scikit_learn_classifier(net):
    from sklearn.base import is_classifier
    from sklearn.model_selection import cross_val_score
    assert is_classifier(R.SPMClassifier())
    D = R.DNDescriptors(model=net, layers=(1,)).fit().transform(
        stripes(6, True, seed=15) + stripes(6, False, seed=16))
    y = np.array([0] * 6 + [1] * 6)
    scores = cross_val_score(R.SPMClassifier("dn-1", n_words=8), D, y, cv=3)
    assert scores.tolist() == [1.0, 1.0, 1.0]


def test_given_vocabularies_skip_kmeans_and_concatenate_the_layers_pyramids(net):
    D = R.DNDescriptors(model=net).fit().transform(stripes(4, True, seed=17)
                                                   + stripes(4, False, seed=18))
    y = [0] * 4 + [1] * 4
    c1 = R.SPMClassifier("dn-1", n_words=8, random_state=1).fit(D, y)
    c2 = R.SPMClassifier("dn-2", n_words=8, random_state=2).fit(D, y)
    both = R.SPMClassifier("dn-1+2", n_words=8, vocabularies={**c1.vocabularies_,
                                                               **c2.vocabularies_}).fit(D, y)
    assert "kmeans" not in both.timings_
    np.testing.assert_array_equal(both.train_pyramids_,
                                  np.hstack([c1.train_pyramids_, c2.train_pyramids_]))
    np.testing.assert_array_equal(both.pyramids(D[:3]),
                                  np.hstack([c1.pyramids(D[:3]), c2.pyramids(D[:3])]))
    np.testing.assert_array_equal(c1.pyramids(D), c1.train_pyramids_)
    with pytest.raises(ValueError, match="expected"):
        R.SPMClassifier("dn-1", n_words=9, vocabularies=c1.vocabularies_).fit(D, y)
