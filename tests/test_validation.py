"""Bad arguments to the public kernel fronts give the package's own ValueError or
TypeError naming the argument, never a numba typing error from inside a kernel."""
import numba.core.errors
import numpy as np
import pytest

from numbadn.ops import (apply_A, cg_solve, conv_full, conv_valid, filter_grad, lp_shrink,
                             soft_shrink)

rng = np.random.default_rng(30)
K1, K0, P, Q, h, w = 3, 2, 6, 7, 3, 4
Z = rng.standard_normal((K1, P + h - 1, Q + w - 1))
F = rng.standard_normal((K1, K0, h, w))
R = rng.standard_normal((K0, P, Q))
G = np.array([[True, False], [True, True], [False, True]])
V = rng.standard_normal((4, 5))


def _with(a, index, value):
    a = a.copy()
    a[index] = value
    return a


NAN_Z = _with(Z, (0, 1, 2), np.nan)
INF_F = _with(F, (1, 0, 0, 0), np.inf)
NAN_R = _with(R, (1, 2, 3), np.nan)
INF_V = _with(V, (0, 0), -np.inf)

# (id, call, exception type, regex that the message must match: it names the argument)
CASES = [
    # wrong number of dimensions
    ("conv_valid z 2-D", lambda: conv_valid(Z[0], F), ValueError, r"^z must have 3 dim"),
    ("conv_valid z 4-D", lambda: conv_valid(Z[None], F), ValueError, r"^z must have 3 dim"),
    ("conv_valid f 3-D", lambda: conv_valid(Z, F[:, 0]), ValueError, r"^f must have 4 dim"),
    ("conv_full r 2-D", lambda: conv_full(R[0], F), ValueError, r"^r must have 3 dim"),
    ("apply_A z 2-D", lambda: apply_A(Z[0], F), ValueError, r"^z must have 3 dim"),
    ("cg_solve b 2-D", lambda: cg_solve(Z[0], F), ValueError, r"^b must have 3 dim"),
    ("filter_grad r 4-D", lambda: filter_grad(Z, R[None]), ValueError, r"^r must have 3 dim"),
    ("filter_grad z 2-D", lambda: filter_grad(Z[0], R), ValueError, r"^z must have 3 dim"),
    ("conv_valid f 0-D", lambda: conv_valid(Z, 1.0), ValueError, r"^f must have 4 dim"),
    # mismatched K1 / K0
    ("conv_valid K1", lambda: conv_valid(Z[:2], F), ValueError, r"f has 3 feature maps but z has 2"),
    ("conv_full K0", lambda: conv_full(np.concatenate([R, R]), F), ValueError,
     r"f has 2 input channel\(s\) but r has 4"),
    ("apply_A K1", lambda: apply_A(Z[:1], F), ValueError, r"but z has 1"),
    ("cg_solve K1", lambda: cg_solve(Z[:2], F), ValueError, r"but b has 2"),
    ("filter_grad K via g", lambda: filter_grad(Z, R, G.T), ValueError, r"^g must have shape"),
    # filters larger than the maps
    ("conv_valid small z rows", lambda: conv_valid(Z[:, :h - 1], F), ValueError,
     r"^z maps of size .* smaller than the 3x4 filters"),
    ("conv_valid small z cols", lambda: conv_valid(Z[:, :, :w - 1], F), ValueError,
     r"^z maps of size .* smaller"),
    ("apply_A small z", lambda: apply_A(Z[:, :2, :2], F), ValueError, r"^z maps of size"),
    ("cg_solve small b", lambda: cg_solve(Z[:, :2, :], F), ValueError, r"^b maps of size"),
    ("filter_grad z smaller than r", lambda: filter_grad(R[:, :3, :3], Z[:2]),
     ValueError, r"^z .* must be larger than r"),
    ("filter_grad wrong h", lambda: filter_grad(Z, R, h=5), ValueError, r"imply 3x4 filters"),
    # NaN / inf
    ("conv_valid z NaN", lambda: conv_valid(NAN_Z, F), ValueError, r"^z contains NaN"),
    ("conv_valid f inf", lambda: conv_valid(Z, INF_F), ValueError, r"^f contains inf"),
    ("conv_full r NaN", lambda: conv_full(NAN_R, F), ValueError, r"^r contains NaN"),
    ("apply_A z NaN", lambda: apply_A(NAN_Z, F), ValueError, r"^z contains NaN"),
    ("cg_solve b NaN", lambda: cg_solve(NAN_Z, F), ValueError, r"^b contains NaN"),
    ("cg_solve z0 NaN", lambda: cg_solve(Z, F, z0=NAN_Z), ValueError, r"^z0 contains NaN"),
    ("filter_grad r NaN", lambda: filter_grad(Z, NAN_R), ValueError, r"^r contains NaN"),
    ("lp_shrink v inf", lambda: lp_shrink(INF_V, 1.0, 0.5), ValueError, r"^v contains inf"),
    ("soft_shrink v NaN", lambda: soft_shrink(_with(V, (1, 1), np.nan), 1.0), ValueError,
     r"^v contains NaN"),
    # integer and complex dtypes
    ("conv_valid z int", lambda: conv_valid(Z.astype(np.int64), F), TypeError,
     r"^z must be float32 or float64, got dtype int64"),
    ("conv_valid f int32", lambda: conv_valid(Z, F.astype(np.int32)), TypeError,
     r"^f must be float32 or float64"),
    ("conv_valid z complex", lambda: conv_valid(Z.astype(complex), F), TypeError,
     r"^z must be real"),
    ("conv_full f complex", lambda: conv_full(R, F.astype(np.complex64)), TypeError,
     r"^f must be real"),
    ("conv_full r bool", lambda: conv_full(R > 0, F), TypeError, r"^r must be float32 or float64"),
    ("apply_A z uint8", lambda: apply_A(Z.astype(np.uint8), F), TypeError, r"^z must be float"),
    ("cg_solve b int", lambda: cg_solve(Z.astype(int), F), TypeError, r"^b must be float"),
    ("cg_solve z0 complex", lambda: cg_solve(Z, F, z0=Z.astype(complex)), TypeError,
     r"^z0 must be real"),
    ("filter_grad r int", lambda: filter_grad(Z, R.astype(np.int16)), TypeError,
     r"^r must be float"),
    ("lp_shrink v int", lambda: lp_shrink(np.arange(5), 1.0, 0.5), TypeError,
     r"^v must be float32 or float64"),
    ("soft_shrink v complex", lambda: soft_shrink(V + 1j, 1.0), TypeError, r"^v must be real"),
    ("conv_valid z object", lambda: conv_valid(Z.astype(object), F), TypeError,
     r"^z must be a real floating-point array"),
    ("conv_valid z str", lambda: conv_valid("abc", F), TypeError, r"^z must be a real"),
    ("conv_valid z None", lambda: conv_valid(None, F), TypeError, r"^z is required"),
    # g of the wrong shape or with non-boolean values
    ("conv_valid g transposed", lambda: conv_valid(Z, F, G.T), ValueError,
     r"^g must have shape \(K1, K0\) = \(3, 2\)"),
    ("conv_full g 1-D", lambda: conv_full(R, F, G.ravel()), ValueError, r"^g must have shape"),
    ("apply_A g wrong rows", lambda: apply_A(Z, F, G[:2]), ValueError, r"^g must have shape"),
    ("cg_solve g wrong shape", lambda: cg_solve(Z, F, np.ones((3, 3), bool)), ValueError,
     r"^g must have shape"),
    ("conv_valid g values 2", lambda: conv_valid(Z, F, G.astype(int) * 2), TypeError,
     r"^g must be a boolean"),
    ("conv_valid g float", lambda: conv_valid(Z, F, G.astype(float) * 0.5), TypeError,
     r"^g must be a boolean"),
    ("conv_full g negative", lambda: conv_full(R, F, -G.astype(int)), TypeError,
     r"^g must be a boolean"),
    ("filter_grad g float", lambda: filter_grad(Z, R, G.astype(float)), TypeError,
     r"^g must be a boolean"),
    ("apply_A g str", lambda: apply_A(Z, F, np.full((K1, K0), "x")), TypeError,
     r"^g must be a boolean"),
    # alpha
    ("apply_A alpha negative", lambda: apply_A(Z, F, alpha=-0.1), ValueError,
     r"^alpha must be a finite non-negative number"),
    ("apply_A alpha NaN", lambda: apply_A(Z, F, alpha=float("nan")), ValueError, r"^alpha must"),
    ("apply_A alpha inf", lambda: apply_A(Z, F, alpha=np.inf), ValueError, r"^alpha must"),
    ("apply_A alpha str", lambda: apply_A(Z, F, alpha="1"), TypeError, r"^alpha must be a real"),
    ("apply_A alpha array", lambda: apply_A(Z, F, alpha=np.ones(2)), TypeError, r"^alpha must"),
    ("cg_solve alpha negative", lambda: cg_solve(Z, F, alpha=-1), ValueError, r"^alpha must"),
    # the other cg_solve arguments
    ("cg_solve z0 shape", lambda: cg_solve(Z, F, z0=Z[:, 1:]), ValueError,
     r"^z0 must have the shape of b"),
    ("cg_solve n_iter negative", lambda: cg_solve(Z, F, n_iter=-1), ValueError, r"^n_iter must be"),
    ("cg_solve n_iter float", lambda: cg_solve(Z, F, n_iter=2.5), TypeError,
     r"^n_iter must be an integer"),
    ("cg_solve tol negative", lambda: cg_solve(Z, F, tol=-1e-3), ValueError, r"^tol must"),
    ("cg_solve tol NaN", lambda: cg_solve(Z, F, tol=np.nan), ValueError, r"^tol must"),
    # p outside (0, 1]
    ("lp_shrink p 0", lambda: lp_shrink(V, 1.0, 0.0), ValueError, r"^p must be in \(0, 1\]"),
    ("lp_shrink p 1.5", lambda: lp_shrink(V, 1.0, 1.5), ValueError, r"^p must be in \(0, 1\]"),
    ("lp_shrink p -1", lambda: lp_shrink(V, 1.0, -1), ValueError, r"^p must be in \(0, 1\]"),
    ("lp_shrink p NaN", lambda: lp_shrink(V, 1.0, float("nan")), ValueError, r"^p must be in"),
    ("lp_shrink p inf", lambda: lp_shrink(V, 1.0, np.inf), ValueError, r"^p must be in"),
    ("lp_shrink p str", lambda: lp_shrink(V, 1.0, "0.5"), TypeError, r"^p must be a real"),
    ("lp_shrink p None", lambda: lp_shrink(V, 1.0, None), TypeError, r"^p must be a real"),
    ("lp_shrink p True", lambda: lp_shrink(V, 1.0, True), TypeError, r"^p must be a real"),
    # beta <= 0
    ("lp_shrink beta 0", lambda: lp_shrink(V, 0.0, 0.5), ValueError,
     r"^beta must be a finite positive number"),
    ("lp_shrink beta negative", lambda: lp_shrink(V, -2.0, 0.5), ValueError, r"^beta must"),
    ("lp_shrink beta NaN", lambda: lp_shrink(V, np.nan, 0.5), ValueError, r"^beta must"),
    ("soft_shrink beta 0", lambda: soft_shrink(V, 0), ValueError, r"^beta must"),
    ("soft_shrink beta negative", lambda: soft_shrink(V, -1e-3), ValueError, r"^beta must"),
    ("soft_shrink beta inf", lambda: soft_shrink(V, np.inf), ValueError, r"^beta must"),
    ("soft_shrink beta str", lambda: soft_shrink(V, "1"), TypeError, r"^beta must be a real"),
]


@pytest.mark.parametrize("call, exc, match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_argument_raises_an_error_naming_it(call, exc, match):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert not isinstance(info.value, numba.core.errors.NumbaError), info.value
    assert isinstance(info.value, exc), f"{type(info.value).__name__}: {info.value}"
    assert info.match(match)


def test_good_arguments_of_every_accepted_kind_pass():
    # the boundary cases of the checks above are accepted
    assert conv_valid(Z, F, G.astype(np.int8)).shape == (K0, P, Q)     # 0/1 integers as g
    assert conv_valid(Z[:, :h, :w], F).shape == (K0, 1, 1)              # maps the filter size
    assert apply_A(Z, F, alpha=0).shape == Z.shape                      # alpha = 0
    assert cg_solve(Z, F, n_iter=0, tol=0)[0].shape == Z.shape
    assert lp_shrink(V, 1e-9, 1).shape == V.shape                        # p = 1 (int)
    assert lp_shrink(V, np.float32(2), np.float64(0.3)).shape == V.shape
    assert filter_grad(Z, R, h=h, w=w).shape == F.shape
    assert conv_valid(Z.tolist(), F.tolist()).dtype == np.float64       # nested lists
