"""Bad input to the model-level Python API: each case is the
package's own ValueError or TypeError naming the argument, never a bare
ZeroDivisionError, MemoryError, numba error or a silent NaN result."""
import numba.core.errors
import numpy as np
import pytest

import numbadn
from numbadn import DeconvLayer, DeconvNet, NotFittedError, cost, infer
from numbadn.data import load_images
from numbadn.preprocess import contrast_normalize

rng = np.random.default_rng(12)
Y = rng.standard_normal((1, 20, 20)).astype(np.float32)
F = rng.standard_normal((3, 1, 5, 5)).astype(np.float32)
F /= np.sqrt((F ** 2).sum(axis=(2, 3), keepdims=True))
Z = np.zeros((3, 24, 24), np.float32)
NATURAL = contrast_normalize(load_images("natural")[0])[None]       # a 96x96 crop
F9 = np.random.default_rng(0).standard_normal((9, 1, 7, 7)).astype(np.float32)


@pytest.fixture(scope="module")
def net():
    return DeconvNet.paper(n_maps=(2, 3), filter_size=5).fit(
        list(rng.standard_normal((2, 12, 12))), epochs=1, verbose=False)


def layer():
    return DeconvLayer(1, 3, 5).initialize()


# (id, call(net), exception, words in the message: the argument it names)
CASES = [
    ("infer y x 1e18 overflows to NaN", lambda n: infer(NATURAL * np.float32(1e18), F9),
     ValueError, "inference overflowed"),
    ("infer n_threads str", lambda n: infer(Y, F, n_threads="2"), TypeError, "n_threads"),
    ("infer n_threads 0", lambda n: infer(Y, F, n_threads=0), ValueError, "n_threads"),
    ("infer n_threads float", lambda n: infer(Y, F, n_threads=2.0), TypeError, "n_threads"),
    ("infer n_threads True", lambda n: infer(Y, F, n_threads=True), TypeError, "n_threads"),
    ("infer beta_inc 1.0000001", lambda n: infer(Y, F, beta_inc=1.0000001), ValueError,
     "beta values"),
    ("infer beta_inc 1", lambda n: infer(Y, F, beta_inc=1.0), ValueError, "beta_inc"),
    ("infer cg_iters 10^9", lambda n: infer(Y, F, cg_iters=10 ** 9), ValueError, "cg_iters"),
    ("infer max_iter 10^9", lambda n: infer(Y, F, solver="fista", max_iter=10 ** 9),
     ValueError, "max_iter"),
    ("infer restart str", lambda n: infer(Y, F, solver="fista", restart="no"), TypeError,
     "restart"),
    ("infer unknown solver", lambda n: infer(Y, F, solver="admm"), ValueError, "solver"),
    ("infer unknown option", lambda n: infer(Y, F, tol=1e-3), TypeError, "tol"),
    ("infer z0 wrong shape", lambda n: infer(Y, F, z0=Z[:, 1:]), ValueError, "z0 must have"),
    ("infer y NaN", lambda n: infer(np.full_like(Y, np.nan), F), ValueError, "y contains NaN"),
    ("infer y int", lambda n: infer(Y.astype(int), F), TypeError, "y must be float"),
    ("infer y complex", lambda n: infer(Y.astype(complex), F), TypeError, "y must be real"),
    ("infer y 2-D", lambda n: infer(Y[0], F), ValueError, "y must have 3 or 4 dimensions"),
    ("infer lam 0", lambda n: infer(Y, F, lam=0), ValueError, "lam"),
    ("infer p 2", lambda n: infer(Y, F, p=2), ValueError, "p must be in"),
    ("infer f channels", lambda n: infer(Y, np.ones((3, 2, 5, 5))), ValueError, "input channel"),
    ("cost z of the wrong shape", lambda n: cost(Y, Z[:, :10], F), ValueError,
     "z must have shape"),
    ("cost z None", lambda n: cost(Y, None, F), TypeError, "z is required"),
    ("cost z NaN", lambda n: cost(Y, np.full_like(Z, np.nan), F), ValueError, "z contains NaN"),
    ("layer cost z of the wrong shape", lambda n: layer().cost(Y, Z[:, :10]), ValueError,
     "z must have shape"),
    ("DeconvLayer filter_size 100000", lambda n: DeconvLayer(1, 1, filter_size=100000).initialize(),
     ValueError, "filter_size"),
    ("DeconvLayer filter_size 0", lambda n: DeconvLayer(1, 1, filter_size=0).initialize(), ValueError,
     "filter_size"),
    ("DeconvLayer n_maps 0", lambda n: DeconvLayer(1, 0).initialize(), ValueError, "n_maps"),
    ("DeconvLayer n_maps str", lambda n: DeconvLayer(1, "9").initialize(), TypeError, "n_maps"),
    ("DeconvLayer random_state -1", lambda n: DeconvLayer(1, 2, random_state=-1).initialize(), ValueError,
     "random_state"),
    ("DeconvLayer random_state float", lambda n: DeconvLayer(1, 2, random_state=1.5).initialize(),
     TypeError, "random_state"),
    ("DeconvLayer solver None", lambda n: DeconvLayer(1, 2, solver=None).initialize(), TypeError, "solver"),
    ("DeconvLayer solver_options list", lambda n: DeconvLayer(1, 2, solver_options=[1]).initialize(),
     TypeError, "solver_options"),
    ("DeconvLayer beta_inc 1.0000001",
     lambda n: DeconvLayer(1, 2, solver_options={"beta_inc": 1.0000001}).initialize(), ValueError,
     "beta values"),
    ("DeconvLayer lam NaN", lambda n: DeconvLayer(1, 2, lam=float("nan")).initialize(), ValueError, "lam"),
    ("DeconvLayer update", lambda n: DeconvLayer(1, 2, update="sometimes").initialize(), ValueError,
     "update"),
    ("DeconvLayer.fit n_jobs str", lambda n: layer().fit([Y[0]], n_jobs="2", verbose=False),
     TypeError, "n_jobs"),
    ("DeconvLayer.fit epochs -1", lambda n: layer().fit([Y[0]], epochs=-1, verbose=False),
     ValueError, "epochs"),
    ("DeconvLayer.infer n_jobs str", lambda n: layer().infer(Y, n_jobs="2"), TypeError,
     "n_jobs"),
    ("DeconvLayer.infer before fit", lambda n: DeconvLayer(1, 3, 5).infer(Y), NotFittedError,
     "call fit(X) before infer"),
    ("DeconvNet.fit checkpoint_every NaN",
     lambda n: DeconvNet.paper(n_maps=(2,)).fit([Y[0]], checkpoint_every=float("nan"),
                                                verbose=False), ValueError,
     "checkpoint_every"),
    ("DeconvNet.fit resume str", lambda n: DeconvNet.paper(n_maps=(2,)).fit(
        [Y[0]], resume="yes", verbose=False), TypeError, "resume"),
    ("DeconvNet.fit resume without checkpoint", lambda n: DeconvNet.paper(n_maps=(2,)).fit(
        [Y[0]], resume=True, verbose=False), ValueError, "checkpoint=PATH"),
    ("DeconvNet.fit n_jobs str", lambda n: DeconvNet.paper(n_maps=(2,)).fit(
        [Y[0]], n_jobs="2", verbose=False), TypeError, "n_jobs"),
    ("DeconvNet.infer layer 0", lambda n: n.infer(Y[0, :12, :12], layer=0), ValueError,
     "layer must be from 1"),
    ("DeconvNet.infer layer str", lambda n: n.infer(Y[0], layer="2"), TypeError, "layer"),
    ("DeconvNet.infer n_jobs 0", lambda n: n.infer(Y[0], n_jobs=0), ValueError,
     "n_jobs must not be 0"),
    ("DeconvNet.infer y x 1e30", lambda n: n.infer(Y[0] * np.float32(1e30), layer=1),
     ValueError, "overflowed"),
    ("DeconvNet.reconstruct maps", lambda n: n.reconstruct(np.zeros((5, 20, 20)), layer=1),
     ValueError, "maps"),
    ("DeconvNet.sample n 0", lambda n: n.sample(1, n=0), ValueError, "n must be"),
    ("DeconvNet.load folder", lambda n: DeconvNet.load("."), ValueError, "is a folder"),
    ("DeconvNet.load missing", lambda n: DeconvNet.load("no/such.npz"), FileNotFoundError,
     "does not exist"),
]


@pytest.mark.parametrize("call, exc, words", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_api_input_raises_an_error_naming_the_argument(net, call, exc, words):
    with pytest.raises(Exception) as info:
        call(net)
    assert not isinstance(info.value, numba.core.errors.NumbaError), info.value
    assert isinstance(info.value, exc), f"{type(info.value).__name__}: {info.value}"
    assert words in str(info.value), str(info.value)


@pytest.mark.parametrize("solver", ["continuation", "fista"])
def test_all_zero_filters_give_the_defined_answer_z_equal_zero(solver):
    """With F = 0 every z explains nothing; the optimum of eq. 2 is z = 0 (FISTA
    divided by ||F||^2 = 0 before)."""
    z = infer(Y, np.zeros_like(F), solver=solver)
    assert z.shape == Z.shape and not z.any()
    z, stats = infer(Y, np.zeros_like(F), solver=solver, return_stats=True)
    assert not z.any() and np.isfinite([s.cost for s in stats]).all()
    lay = DeconvLayer.from_filters(np.zeros((3, 1, 5, 5), np.float32), lowfreq=True,
                                   solver=solver)
    z, zl = lay.infer_lowfreq(Y)
    assert not z.any() and np.isfinite(zl).all()


def test_public_api_names_are_exported():
    assert {"infer", "cost", "DeconvLayer", "DeconvNet"} <= set(dir(numbadn))
