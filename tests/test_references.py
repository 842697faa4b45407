"""Direct references (tests/naive.py) for the filter update (eq. 9), the z0 maps
(section 3.3) and the top-down chains (eqs. 10-12), each checked against dense
linear algebra rather than only end to end."""
from __future__ import annotations

import numpy as np
import pytest

import naive
from numbadn.connectivity import singles_and_pairs
from numbadn.solvers.filters import update_filters
from numbadn.solvers.topdown import project_down, project_up
from numbadn.solvers.z0 import solve_z0, uniform_filter


def rand(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("g", [np.ones((3, 2), bool), singles_and_pairs(2)])
def test_two_cg_steps_of_the_filter_update_are_textbook_cg_on_eq9(g):
    K1, K0, h, w = g.shape[0], g.shape[1], 3, 2
    zs = [rand((K1, 9, 8), 1), rand((K1, 7, 10), 2)]
    ys = [rand((K0, 9 - h + 1, 8 - w + 1), 3), rand((K0, 7 - h + 1, 10 - w + 1), 4)]
    f = rand((K1, K0, h, w), 5) * np.repeat(g.ravel(), h * w).reshape(K1, K0, h, w)
    G, b, cols = naive.filter_normal_equations(zs, ys, g, h, w)
    for n_iter in (2, 5):
        ref = f.ravel().copy()
        ref[cols] = naive.cg_dense(G, b, f.ravel()[cols], n_iter)
        got = update_filters(f, g, zs, ys, n_iter=n_iter)
        np.testing.assert_allclose(got.ravel(), ref, rtol=1e-9, atol=1e-10)
        assert not got[~g].any()                      # unconnected planes stay zero


def test_the_filter_update_converges_to_eq9s_least_squares_filters():
    g = np.ones((2, 1), bool)
    h = w = 3
    zs = [rand((2, 10, 10), 6), rand((2, 12, 9), 7)]
    ys = [rand((1, 8, 8), 8), rand((1, 10, 7), 9)]
    G, b, cols = naive.filter_normal_equations(zs, ys, g, h, w)
    got = update_filters(np.zeros((2, 1, h, w)), g, zs, ys, n_iter=60)
    np.testing.assert_allclose(got.ravel(), np.linalg.solve(G, b), rtol=1e-7, atol=1e-9)


def test_the_z0_solve_converges_to_its_normal_equations():
    K0, P, Q, s0 = 2, 6, 5, 3
    lam, psi = 2.0, 0.7
    f0 = uniform_filter(K0, s0, np.float64)
    r = rand((K0, P, Q), 10)
    M, N = P + s0 - 1, Q + s0 - 1
    F0 = naive.dense_F(f0, np.eye(K0, dtype=bool), M, N)
    D = naive.dense_grad(K0, M, N)
    A = lam * F0.T @ F0 + 2 * psi * D.T @ D
    ref = np.linalg.solve(A, lam * F0.T @ r.ravel())
    got = solve_z0(r, f0, lam, psi, np.zeros((K0, M, N)), n_iter=400)
    np.testing.assert_allclose(got.ravel(), ref, rtol=1e-7, atol=1e-9)


def test_the_top_down_projection_is_the_filter_chain_and_its_adjoint_is_exact():
    f1 = rand((3, 1, 3, 3), 11)
    f2 = rand((4, 3, 2, 3), 12)
    g2 = np.array([[1, 0, 0], [0, 1, 1], [1, 1, 0], [0, 0, 1]], bool)
    s1 = 2.5
    chain = [(f2, g2, s1), (f1, np.ones((3, 1), bool), 1.0)]
    z = rand((4, 12, 11), 13)
    y = project_down(z, chain)
    ref = naive.conv_valid(naive.conv_valid(z, f2, g2) / s1, f1)
    np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)
    r = rand(y.shape, 14)
    lhs = float(np.vdot(y, r))
    rhs = float(np.vdot(z, project_up(r, chain)))
    assert lhs == pytest.approx(rhs, rel=1e-10)
