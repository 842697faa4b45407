"""scikit-learn's estimator conventions for DeconvLayer and DeconvNet.

numbadn does not import scikit-learn; these tests use it (a test extra) to check
that ``clone``, ``check_is_fitted`` and a ``Pipeline`` work with the duck-typed API.
"""
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.model_selection import StratifiedKFold, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import FunctionTransformer, StandardScaler  # noqa: E402
from sklearn.utils import estimator_checks as checks  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

from numbadn import DeconvLayer, DeconvNet, IterationStats, NotFittedError  # noqa: E402
from numbadn.data import load_images  # noqa: E402
from numbadn.preprocess import contrast_normalize  # noqa: E402

rng = np.random.default_rng(14)
IMS = [rng.standard_normal((14, 14)).astype(np.float32) for _ in range(3)]


def small_layer(**kw):
    kw.setdefault("verbose", False)
    return DeconvLayer(1, 4, 5, **kw)


def small_net(**kw):
    kw.setdefault("verbose", False)
    return DeconvNet.paper(n_maps=(3, 6), filter_size=5, epochs=1, **kw)


# ---------------------------------------------------------------- parameters
def test_get_params_returns_the_constructor_arguments_and_clone_copies_them():
    g = np.array([[1, 0], [0, 1], [1, 1]], bool)
    opts = {"beta_inc": 10.0}
    layer = DeconvLayer(2, 3, (5, 3), lam=2.5, p=0.8, connectivity=g, solver_options=opts,
                        random_state=7, epochs=2, n_jobs=1, verbose=False)
    params = layer.get_params()
    assert params["connectivity"] is g and params["solver_options"] is opts
    assert (params["lam"], params["p"], params["filter_size"]) == (2.5, 0.8, (5, 3))
    assert (params["random_state"], params["epochs"], params["n_jobs"]) == (7, 2, 1)
    assert "seed" not in params
    twin = clone(layer)  # scikit-learn checks that each value is kept as given
    assert twin is not layer and repr(twin) == repr(layer)
    np.testing.assert_array_equal(twin.initialize().filters_, layer.initialize().filters_)
    np.testing.assert_array_equal(twin.connectivity_, g)


def test_the_constructor_stores_its_arguments_as_given_and_fit_checks_them():
    layer = DeconvLayer(9, 45, 7, connectivity="singles_and_pairs", lam=0.0)
    assert layer.filter_size == 7 and layer.connectivity == "singles_and_pairs"
    assert layer.dtype is np.float32 and layer.solver_options is None
    assert set(vars(layer)) == set(layer.get_params())  # nothing else before fit
    with pytest.raises(ValueError, match="lam"):
        layer.fit(np.zeros((1, 9, 8, 8), np.float32))
    assert not hasattr(layer, "filters_")
    fitted = DeconvLayer(9, 45, 3, connectivity="singles_and_pairs", epochs=0,
                         verbose=False).fit(np.zeros((1, 9, 8, 8), np.float32))
    assert fitted.filter_size == 3 and fitted.connectivity == "singles_and_pairs"
    assert fitted.connectivity_.shape == (45, 9) and fitted.connectivity_.dtype == bool
    assert fitted.connectivity_.sum() == 9 + 2 * 36  # 9 singles, 36 pairs


@pytest.mark.parametrize("check", [
    checks.check_no_attributes_set_in_init,
    checks.check_do_not_raise_errors_in_init_or_set_params,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_estimator_cloneable,
    checks.check_estimator_repr,
    checks.check_parameters_default_constructible,
], ids=lambda c: c.__name__)
@pytest.mark.parametrize("make", [small_layer, small_net], ids=["layer", "net"])
def test_scikit_learns_own_checks_of_the_estimator_contract(check, make):
    if check is checks.check_parameters_default_constructible and make is small_net:
        pytest.skip("DeconvNet has a required argument, its layers")
    est = make()
    check(type(est).__name__, est)


def test_set_params_stores_values_and_checks_names_and_fit_checks_values():
    layer = small_layer()
    assert layer.set_params(lam=5.0, p=0.5) is layer and (layer.lam, layer.p) == (5.0, 0.5)
    layer.set_params(lam=0.0)  # stored; fit says what is wrong
    with pytest.raises(ValueError, match="lam"):
        layer.fit(IMS, epochs=1)
    with pytest.raises(ValueError, match=r"invalid parameter 'lambda'.*valid parameters.*lam"):
        layer.set_params(**{"lambda": 1.0})
    layer.set_params(lam=1.0, n_maps=6)
    assert layer.fit(IMS, epochs=0).filters_.shape == (6, 1, 5, 5)
    assert layer.connectivity_.shape == (6, 1)


def test_fit_continues_from_the_filters_unless_their_shape_changes():
    layer = small_layer().fit(IMS, epochs=1)
    f = layer.filters_.copy()
    layer.set_params(lam=3.0)
    np.testing.assert_array_equal(layer.fit(IMS, epochs=0).filters_, f)
    assert len(layer.history_) == 1  # the history carries on
    layer.set_params(filter_size=3)
    np.testing.assert_array_equal(layer.filters_, f)  # set_params changes no fitted state
    assert layer.fit(IMS, epochs=0).filters_.shape == (4, 1, 3, 3)
    assert layer.history_ == []  # a fresh start


def test_from_filters_makes_a_fitted_layer_with_those_filters():
    f = np.random.default_rng(0).standard_normal((4, 2, 3, 5)).astype(np.float32)
    layer = DeconvLayer.from_filters(f, lam=2.0, verbose=False)
    check_is_fitted(layer)
    assert (layer.n_maps, layer.in_channels, layer.filter_size) == (4, 2, (3, 5))
    np.testing.assert_array_equal(layer.filters_, f)
    assert layer.filters_.dtype == np.float32 and layer.history_ == []
    y = np.random.default_rng(1).standard_normal((2, 9, 9)).astype(np.float32)
    from numbadn.solvers.inference import infer
    np.testing.assert_array_equal(layer.infer(y), infer(y, f, lam=2.0))
    with pytest.raises(ValueError, match=r"filters has shape \(4, 2, 3, 5\) but the "
                                         r"parameters give .* \(4, 2, 7, 7\)"):
        DeconvLayer.from_filters(f, filter_size=7)
    assert DeconvLayer.from_filters(f, dtype=np.float64).filters_.dtype == np.float64


def test_nested_set_params_reaches_the_network_in_a_pipeline():
    pipe = make_pipeline(small_net(layer=2), FunctionTransformer())
    pipe.set_params(deconvnet__layer=1, deconvnet__top_down=False)
    net = pipe.named_steps["deconvnet"]
    assert (net.layer, net.top_down) == (1, False)
    net.set_params(layer=3)  # stored; fit says what is wrong
    with pytest.raises(ValueError, match="layer must be from 1 to 2"):
        net.fit(IMS)


def test_repr_shows_the_parameters_that_differ_from_the_defaults():
    assert repr(DeconvLayer()) == "DeconvLayer()"
    assert repr(DeconvLayer(1, 4, 5, lam=2.0)) == "DeconvLayer(n_maps=4, filter_size=5, lam=2.0)"
    assert repr(DeconvLayer(1, 4, (5, 3))) == "DeconvLayer(n_maps=4, filter_size=(5, 3))"
    r = repr(DeconvLayer(9, 45, connectivity="singles_and_pairs"))
    assert r == "DeconvLayer(in_channels=9, n_maps=45, connectivity='singles_and_pairs')"
    assert repr(small_net()).startswith("DeconvNet(layers=[DeconvLayer(n_maps=3, ")


# ---------------------------------------------------------------- fitting
def test_fitted_state_transform_and_inverse_transform_of_a_layer():
    layer = small_layer()
    z = np.zeros((4, 18, 18), np.float32)
    for call in (lambda: layer.transform(IMS), lambda: layer.score(IMS),
                 lambda: layer.inverse_transform(np.zeros((1, 4, 18, 18))),
                 lambda: layer.infer(IMS[0]), lambda: layer.mean_cost(IMS),
                 lambda: layer.cost(IMS[0], z), lambda: layer.reconstruct(z),
                 lambda: layer.filters_, lambda: layer.n_features_in_,
                 lambda: layer.history_, lambda: layer.maps_):
        with pytest.raises(NotFittedError, match="not fitted yet: call fit"):
            call()
    with pytest.raises(sklearn.exceptions.NotFittedError):
        check_is_fitted(layer)
    assert layer.fit(IMS) is layer
    check_is_fitted(layer)
    assert layer.n_features_in_ == 1 and layer.filters_.shape == (4, 1, 5, 5)
    Z = layer.transform(IMS)
    assert Z.shape == (3, 4, 18, 18)
    np.testing.assert_array_equal(Z[1], layer.infer(IMS[1]))
    R = layer.inverse_transform(Z)
    assert R.shape == (3, 1, 14, 14)
    np.testing.assert_array_equal(R[2], layer.reconstruct(Z[2]))
    assert layer.cost(IMS[2], Z[2]) == pytest.approx(
        0.5 * np.sum((R[2].astype(np.float64) - IMS[2]) ** 2)
        + np.abs(Z[2].astype(np.float64)).sum(), rel=1e-6)
    # images of different sizes: lists in and out
    mixed = [IMS[0], IMS[1][:10, :12]]
    Zs = layer.transform(mixed)
    assert isinstance(Zs, list) and [z.shape for z in Zs] == [(4, 18, 18), (4, 14, 16)]
    assert [r.shape for r in layer.inverse_transform(Zs)] == [(1, 14, 14), (1, 10, 12)]
    with pytest.raises(ValueError, match="Z has 3 maps but the layer has n_maps=4"):
        layer.inverse_transform(np.zeros((1, 3, 18, 18)))


def test_fit_transform_equals_fit_then_transform():
    a = small_layer(random_state=3).fit_transform(IMS)
    b = small_layer(random_state=3).fit(IMS).transform(IMS)
    np.testing.assert_array_equal(a, b)


def test_score_is_the_negative_mean_cost_and_rises_with_training():
    layer = small_layer(lam=10.0).fit(IMS, epochs=0)  # the initial filters, fitted
    before = layer.mean_cost(IMS)
    expect = np.mean([layer.cost(y[None], layer.infer(y)) for y in IMS])
    assert before == pytest.approx(expect, rel=1e-12)
    layer.fit(IMS, epochs=3)
    assert layer.score(IMS) == pytest.approx(-layer.mean_cost(IMS), rel=1e-12)
    assert layer.score(IMS) > -before


def test_clone_of_a_fitted_layer_is_unfitted_and_refits_to_the_same_filters():
    layer = small_layer(random_state=5).fit(IMS)
    twin = clone(layer)
    assert not hasattr(twin, "filters_") and not hasattr(twin, "history_")
    np.testing.assert_array_equal(twin.fit(IMS).filters_, layer.filters_)


def test_network_follows_the_same_conventions():
    net = small_net(layer=2)
    for call in (lambda: net.transform(IMS), lambda: net.infer(IMS[0]),
                 lambda: net.mean_cost(IMS), lambda: net.trained_, lambda: net.scales_,
                 lambda: net.reconstruct(np.zeros((6, 22, 22)))):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            call()
    assert net.fit(IMS) is net
    check_is_fitted(net)
    assert net.n_features_in_ == 1 and [f.shape[0] for f in net.filters_] == [3, 6]
    Z = net.transform(IMS)
    assert Z.shape == (3, 6, 22, 22)
    np.testing.assert_array_equal(Z[0], net.infer(IMS[0], layer=2))
    R = net.inverse_transform(Z)
    assert R.shape == (3, 1, 14, 14)
    np.testing.assert_array_equal(R[0], net.reconstruct(Z[0], layer=2))
    net.set_params(top_down=False)
    np.testing.assert_array_equal(net.transform(IMS)[1],
                                  net.infer(IMS[1], layer=2, top_down=False))
    assert net.score(IMS) == pytest.approx(-net.mean_cost(IMS), rel=1e-12)
    z = net.infer(IMS[0], layer=2, top_down=False)
    la = net.layers[1]
    r = net.reconstruct(z, layer=2).astype(np.float64) - IMS[0]
    expect = 0.5 * la.lam * np.sum(r ** 2) + np.abs(z.astype(np.float64)).sum()
    assert net.cost(IMS[0], z, layer=2) == pytest.approx(expect, rel=1e-9)
    twin = clone(net)
    assert not hasattr(twin, "trained_") and twin.layers[0] is not net.layers[0]
    assert not hasattr(twin.layers[0], "filters_")


# ---------------------------------------------------------------- random_state, n_jobs, verbose
def test_random_state_int_generator_and_none():
    def start(rs):  # the initial filters
        return small_layer(random_state=rs).initialize().filters_

    f = start(4)
    np.testing.assert_array_equal(start(4), f)
    assert not np.array_equal(start(5), f)
    np.testing.assert_array_equal(start(np.random.default_rng(4)),
                                  start(np.random.default_rng(4)))
    assert not np.array_equal(start(None), start(None))
    with pytest.raises(TypeError, match="random_state must be an int >= 0, None or a numpy"):
        start("4")
    with pytest.raises(ValueError, match="random_state must be >= 0"):
        start(-1)


def test_new_names_raise_no_deprecation_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        net = small_net(random_state=1, n_jobs=-1)
        net.fit(IMS).transform(IMS)
        net.sample(2, random_state=0)
        clone(net)
        small_layer(random_state=1).fit(IMS, epochs=1, callback=lambda st: None)


def test_a_second_positional_argument_is_y_and_ignored():
    # scikit-learn's fit(X, y): an int there is a label vector, not a number of epochs
    a = small_layer(epochs=1).fit(IMS, 5)
    assert len(a.history_) == 1
    with pytest.raises(TypeError, match="random_state|seed|unexpected keyword"):
        small_layer(seed=4)


def test_n_jobs_minus_one_and_one_give_the_same_filters():
    a = small_layer(n_jobs=1).fit(IMS).filters_
    b = small_layer(n_jobs=-1).fit(IMS).filters_
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(small_layer(n_jobs=1).fit(IMS, n_jobs=-1).filters_, a)
    with pytest.raises(ValueError, match="n_jobs must not be 0"):
        small_layer(n_jobs=0).fit(IMS)
    with pytest.raises(TypeError, match="n_jobs must be an int"):
        small_layer(n_jobs=1.5).fit(IMS)
    from numbadn._jit import max_threads
    from numbadn._params import n_jobs_to_threads
    assert n_jobs_to_threads(-1) == max_threads() and n_jobs_to_threads(3) == 3
    assert n_jobs_to_threads(None) is None and n_jobs_to_threads(-1000) == 1


def test_verbose_in_the_constructor_switches_the_progress_bar(capsys):
    small_layer(verbose=False).fit(IMS, epochs=1)
    assert "img" not in capsys.readouterr().err
    small_layer(verbose=True).fit(IMS, epochs=1)
    assert "img" in capsys.readouterr().err
    small_layer(verbose=True).fit(IMS, epochs=1, verbose=False)  # a call may override it
    assert "img" not in capsys.readouterr().err


# ---------------------------------------------------------------- lists are batches
def test_a_list_of_2d_images_is_a_batch_never_channels():
    layer = small_layer().fit(IMS, epochs=1)
    Z = layer.infer(IMS[:2])
    assert Z.shape == (2, 4, 18, 18)
    np.testing.assert_array_equal(Z[1], layer.infer(IMS[1]))
    mixed = layer.infer([IMS[0], IMS[1][:9]])
    assert isinstance(mixed, list) and mixed[1].shape == (4, 13, 18)
    with pytest.raises(ValueError, match=r"2 channel.*in_channels=1.*list of images"):
        layer.infer(np.stack(IMS[:2]))  # a 3-D array stays one image, and says so
    colour = DeconvLayer(3, 4, 5, verbose=False).initialize()
    with pytest.raises(ValueError, match=r"image\[0\] has 1 channel"):
        colour.infer(IMS)  # three grey images are not one colour image
    net = small_net().fit(IMS)
    assert net.infer(IMS[:2], layer=1).shape == (2, 3, 18, 18)


# ---------------------------------------------------------------- callbacks
@pytest.mark.parametrize("solver", ["continuation", "fista"])
def test_infer_callback_gets_the_same_named_stats_for_every_solver(solver):
    layer = small_layer(solver=solver, lam=5.0).initialize()
    seen = []
    z = layer.infer(IMS[0], callback=seen.append)
    assert all(isinstance(s, IterationStats) for s in seen) and len(seen) > 2
    assert [s.iteration for s in seen] == list(range(len(seen)))
    last = seen[-1]
    assert last.cost == pytest.approx(layer.cost(IMS[0][None], z), rel=1e-6)
    r = layer.reconstruct(z).astype(np.float64) - IMS[0]
    assert last.residual == pytest.approx(np.linalg.norm(r) / np.linalg.norm(IMS[0]), rel=1e-4)
    assert last.sparsity == pytest.approx(np.mean(z == 0))
    assert all(b.time >= a.time for a, b in zip(seen, seen[1:]))
    assert np.isnan(last.cg_residual) == (solver == "fista")
    np.testing.assert_allclose(z, layer.infer(IMS[0]), atol=1e-6)  # same result as without
    # returning True stops the solve
    stopped = []
    layer.infer(IMS[0], callback=lambda s: stopped.append(s) or s.iteration == 1)
    assert [s.iteration for s in stopped] == [0, 1]
    # a batch: one run per image, named by its index
    batch = []
    layer.infer(IMS[:2], callback=batch.append)
    assert {s.image for s in batch} == {0, 1}


def test_fit_callback_gets_stats_after_every_image_and_can_stop():
    seen = []
    layer = small_layer().fit(IMS, epochs=3, callback=lambda s: seen.append(s) or s.epoch == 2)
    assert [(s.epoch, s.image) for s in seen] == [(e, i) for e in (1, 2) for i in range(3)]
    assert len(layer.history_) == 2
    assert layer.history_[0]["cost"] == pytest.approx(sum(s.cost for s in seen[:3]), rel=1e-9)
    assert all(0 <= s.sparsity <= 1 and 0 < s.residual < 2 for s in seen)


# ---------------------------------------------------------------- a Pipeline
def _normalise(images):
    return [contrast_normalize(im) for im in images]


def _mean_abs(maps):
    return np.abs(maps).mean(axis=(2, 3))


def test_a_pipeline_of_preprocessing_network_pooling_and_a_classifier():
    natural, city = load_images("natural")[:8], load_images("city")[:8]
    X, y = natural + city, np.array([0] * 8 + [1] * 8)
    pipe = make_pipeline(FunctionTransformer(_normalise), small_net(layer=2, top_down=False),
                         FunctionTransformer(_mean_abs), StandardScaler(),
                         LogisticRegression(max_iter=1000))
    folds = list(StratifiedKFold(2).split(X, y))
    scores = cross_val_score(pipe, X, y, cv=folds)  # fits clones
    net = pipe.named_steps["deconvnet"]
    assert not hasattr(net, "trained_")  # cross_val_score fitted clones, not this one
    # each score is the accuracy of a pipeline fitted on the other fold
    for (train, test), score in zip(folds, scores):
        fold = clone(pipe).fit([X[i] for i in train], y[train])
        assert score == np.mean(fold.predict([X[i] for i in test]) == y[test])
    assert pipe.fit(X, y) is pipe and net.trained_ == 2
    features = pipe[:3].transform(X)
    np.testing.assert_array_equal(features, _mean_abs(net.transform(_normalise(X))))
    assert features.shape == (16, 6)
    assert pipe.predict(X).shape == (16,)
