"""The solver drivers are written once over an operator interface:
each operator against a dense reference (tests/naive.py), the drivers on the
top-down chain against textbook loops on the dense matrix, and the statistics and
callback path against the fast path (the same loop, so the same bits)."""
from __future__ import annotations

import numpy as np
import pytest

import naive
from numbadn.kernels import (apply_adjoint, apply_forward, apply_gram, make_chain, make_lowpass,
                             new_rpad)
from numbadn.solvers import Continuation, Fista, infer
from numbadn.solvers.topdown import chain_norm2, infer_chain, project_down, project_up
from numbadn.solvers.z0 import uniform_filter


def rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def three_layers():
    """A chain of three layers with sparse connectivity and scales, and its dense ``D``."""
    f1 = rand((3, 2, 3, 3), 1)
    f2 = rand((4, 3, 2, 3), 2)
    f3 = rand((5, 4, 3, 2), 3)
    g1 = np.ones((3, 2), bool)
    g2 = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]], bool)
    g3 = rand((5, 4), 4) > 0
    g3[:, 0] = True
    chain = [(f3, g3, 1.7), (f2, g2, 0.6), (f1, g1, 1.0)]
    top = (5, 11, 10)
    M, N = top[1:]
    D = None
    for f, g, s in chain:
        F = naive.dense_F(f, g, M, N) / s
        D = F if D is None else F @ D
        M, N = M - f.shape[2] + 1, N - f.shape[3] + 1
    return chain, top, D, (2, M, N)


def pad(y_shape, h, w):
    return new_rpad(y_shape[0], y_shape[1], y_shape[2], h, w, np.float64)


def test_the_chain_operator_is_the_dense_filter_chain_with_an_exact_adjoint():
    chain, top, D, yshape = three_layers()
    ch = make_chain(chain, top, np.float64)
    z = rand(top, 5)
    rp = pad(yshape, 3, 3)
    apply_forward(ch, z, rp, True)
    y = rp[:, 2:-2, 2:-2]
    np.testing.assert_allclose(y.ravel(), D @ z.ravel(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y, project_down(z, chain), rtol=1e-10, atol=1e-12)
    r = rand(yshape, 6)
    rp[...] = 0.0
    rp[:, 2:-2, 2:-2] = r
    out = np.empty(top)
    apply_adjoint(ch, rp, out, True)
    np.testing.assert_allclose(out.ravel(), D.T @ r.ravel(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out, project_up(r, chain), rtol=1e-10, atol=1e-12)
    # the gram product is D^T D + alpha I and returns <z, A z>
    A = D.T @ D + 0.3 * np.eye(D.shape[1])
    rp[...] = 0.0
    zAz = apply_gram(ch, z, out, rp, 0.3, True)
    np.testing.assert_allclose(out.ravel(), A @ z.ravel(), rtol=1e-10, atol=1e-12)
    assert zAz == pytest.approx(z.ravel() @ A @ z.ravel(), rel=1e-10)
    # the bound FISTA uses is an upper bound of ||D||^2
    assert np.linalg.norm(D, 2) ** 2 <= chain_norm2(chain) * (1 + 1e-9)


def test_the_z0_operator_is_its_dense_normal_matrix():
    K0, M, N, s0, lam, psi = 2, 7, 6, 3, 1.5, 0.4
    f0 = uniform_filter(K0, s0, np.float64)
    F0 = naive.dense_F(f0, np.eye(K0, dtype=bool), M, N)
    Dg = naive.dense_grad(K0, M, N)
    A = lam * F0.T @ F0 + 2 * psi * Dg.T @ Dg
    z = rand((K0, M, N), 7)
    out = np.empty_like(z)
    apply_gram(make_lowpass(f0, lam, psi), z, out, pad((K0, M - s0 + 1, N - s0 + 1), s0, s0),
               0.0, True)
    np.testing.assert_allclose(out.ravel(), A @ z.ravel(), rtol=1e-10, atol=1e-12)


def test_top_down_continuation_is_the_textbook_scheme_on_the_dense_chain():
    chain, top, D, yshape = three_layers()
    y = rand(yshape, 8)
    z0 = rand(top, 9) * (rand(top, 10) > 1.0)
    lam, sol = 2.0, Continuation(beta_max=1e3, cg_iters=3)
    betas, cg_iters = sol.betas(), sol.cg_iters
    z = z0.ravel().copy()
    DTD = D.T @ D
    for beta in betas:
        a = beta / lam
        x = naive.soft_shrink(z, beta)
        z = naive.cg_dense(DTD + a * np.eye(z.size), D.T @ y.ravel() + a * x, z, cg_iters)
    got = infer_chain(y, chain, z0, lam=lam, p=1.0, solver=sol)
    np.testing.assert_allclose(got.ravel(), z, rtol=1e-8, atol=1e-10)


def test_top_down_fista_is_textbook_fista_with_restart_on_the_dense_chain():
    chain, top, D, yshape = three_layers()
    y = rand(yshape, 11)
    lam, n = 3.0, 25
    L = lam * chain_norm2(chain)
    z = np.zeros(D.shape[1])
    v, t = z.copy(), 1.0
    for _ in range(n):
        zn = naive.soft_shrink(v - lam * D.T @ (D @ v - y.ravel()) / L, L)
        tn = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        d = zn - z
        if (v - zn) @ d > 0:     # gradient restart (O'Donoghue & Candes)
            tn, mom = 1.0, 0.0
        else:
            mom = (t - 1) / tn
        v = zn + mom * d
        z, t = zn, tn
    got = infer_chain(y, chain, np.zeros(top), lam=lam, p=1.0,
                      solver=Fista(max_iter=n, tol=0.0, lipschitz="spectral"))
    np.testing.assert_allclose(got.ravel(), z, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("solver", ["continuation", "fista"])
@pytest.mark.parametrize("p", [1.0, 0.8])
def test_statistics_and_callbacks_run_the_fast_paths_loop(solver, p):
    rng = np.random.default_rng(12)
    y = rng.standard_normal((1, 14, 13)).astype(np.float32)
    f = rng.standard_normal((3, 1, 5, 5)).astype(np.float32)
    z = infer(y, f, lam=4.0, p=p, solver=solver)
    zs, st = infer(y, f, lam=4.0, p=p, solver=solver, return_stats=True)
    np.testing.assert_array_equal(zs, z)            # the same bits, not just close
    # stopping from the callback after k iterations is the solve cut at k
    k = 3
    seen = []
    zc = infer(y, f, lam=4.0, p=p, solver=solver,
               callback=lambda s: seen.append(s.iteration) or s.iteration >= k)
    assert seen == list(range(k + 1))
    if solver == "continuation":
        betas = Continuation().betas()
        ref = infer(y, f, lam=4.0, p=p, beta_max=betas[k - 1] * 1.5)   # the first k betas
        assert len(Continuation(beta_max=betas[k - 1] * 1.5).betas()) == k
    else:
        ref = infer(y, f, lam=4.0, p=p, solver="fista", max_iter=k)
    np.testing.assert_array_equal(zc, ref)


@pytest.mark.parametrize("solver", ["continuation", "fista"])
def test_top_down_solvers_check_shapes_before_the_kernels_run(solver):
    def solve(y, chain, z):
        return infer_chain(y, chain, z, solver=solver)

    chain, top, D, yshape = three_layers()
    y = rand(yshape, 13)
    with pytest.raises(ValueError, match=r"^y must have shape \(2, 6, 5\)"):
        solve(y[:, 1:], chain, np.zeros(top))
    with pytest.raises(ValueError, match="^z has 4 maps, the top filters 5"):
        solve(y, chain, np.zeros((4,) + top[1:]))
    with pytest.raises(ValueError, match="feed filters of shape"):
        solve(y, chain[1:] + chain[:1], np.zeros(top))


@pytest.mark.parametrize("p", [1.0, 0.8])
def test_fista_backtracking_is_textbook_beck_teboulle_on_the_dense_operator(p):
    """The default step rule (``lipschitz="backtracking"``): FISTA with backtracking
    (Beck & Teboulle 2009, section 4) and gradient restart, from L = spectral
    bound / 16, written out with the dense matrix of F; p < 1 through the same
    proximal table as the driver (naive.lp_min would differ at the table's rounding)."""
    from numbadn.ops import lp_shrink
    from numbadn.solvers.options import BACKTRACK_START
    from numbadn.solvers.options import spectral_norm2
    rng = np.random.default_rng(21)
    K1, K0, h, w, P, Q = 3, 2, 4, 3, 7, 9
    f = rng.standard_normal((K1, K0, h, w))
    g = np.ones((K1, K0), bool)
    y = rng.standard_normal((K0, P, Q))
    lam, n = 2.0, 30
    F = naive.dense_F(f, g, P + h - 1, Q + w - 1)
    L = lam * spectral_norm2(f, g) / BACKTRACK_START

    def data(x):
        return 0.5 * lam * float(((F @ x - y.ravel()) ** 2).sum())

    z = np.zeros(F.shape[1])
    zp, t, m, grew = z.copy(), 1.0, 0.0, 0
    for _ in range(n):
        v = z + m * (z - zp)
        grad = lam * F.T @ (F @ v - y.ravel())
        while True:
            x = lp_shrink(v - grad / L, L, p)
            bound = data(v) + grad @ (x - v) + 0.5 * L * ((x - v) ** 2).sum()
            if data(x) <= bound + 1e-6 * abs(bound):
                break
            L *= 2.0
            grew += 1
        tn = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
        if (v - x) @ (x - z) > 0:
            tn, m = 1.0, 0.0
        else:
            m = (t - 1) / tn
        zp, z, t = z, x, tn
    assert grew > 0  # the search did run
    got = infer(y, f, lam=lam, p=p, solver="fista", max_iter=n, tol=0.0)
    np.testing.assert_allclose(got.ravel(), z, rtol=1e-7, atol=1e-9)
