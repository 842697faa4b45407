"""The fused solver passes (numbadn/kernels/_fused.py) against the unfused sequence.

Arrays a fused pass writes are computed by the same expressions as the unfused
kernels, so they are compared bit for bit.  The sums (restart test, backtracking
bound, CG's ||r||^2 and ||b||^2) are grouped per row or per map in another loop, so
LLVM's re-association (fastmath ``reassoc``) may round them differently in the
last bits: they are compared to a few ulps of the dtype.  Whole solves feed those
sums back into the iteration (CG's step ``rr / pAp``), so they agree to rounding.
Thread-count independence is checked bitwise, as for the other kernels.
"""
import numpy as np
import pytest

from benchmarks import fused as B
from numbadn._jit import max_threads, threads
from numbadn import kernels as S
from numbadn.kernels import (ContinuationPlan, FistaPlan, Prior, apply_adjoint, apply_F_combo,
                             make_operator, new_rpad, table_for)
from numbadn.kernels import fused as FU
from numbadn.solvers.options import power_bound

DTYPES = (np.float32, np.float64)
#: relative agreement of a sum computed in another grouping (a few ulps, summed
#: over ~10^4 terms)
SUM_RTOL = {np.float32: 1e-5, np.float64: 1e-12}
needs2 = pytest.mark.skipif(max_threads() < 2, reason="needs 2 numba threads")


def _problem(dtype, seed=0, K0=2, K1=5, P=26, Q=29, h=7):
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((K1, K0, h, h)).astype(dtype)
    f /= np.sqrt((f ** 2).sum(axis=(1, 2, 3), keepdims=True))
    g = np.ones((K1, K0), bool)
    g[0, 1] = False  # a missing connection: the CSR lists are not all full
    y = rng.standard_normal((K0, P, Q)).astype(dtype)
    return make_operator(f, g), y, f, g


def _state(op, y, dtype, density, seed=1):
    """z, zprev and the image buffers for one step, ``density`` of z nonzero."""
    rng = np.random.default_rng(seed)
    K1, h = op.taps_adj.shape[0], op.taps_adj.shape[2]
    shape = (K1, y.shape[1] + h - 1, y.shape[2] + h - 1)
    z = (rng.standard_normal(shape) * (rng.random(shape) < density)).astype(dtype)
    zp = (rng.standard_normal(shape) * (rng.random(shape) < density)).astype(dtype)
    return z, zp


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1.0, 0.8])
def test_adjoint_trial_pass_equals_adjoint_then_trial(dtype, p):
    op, y, _, _ = _problem(dtype)
    lpt = table_for(p)
    z, zp = _state(op, y, dtype, 0.5)
    h1 = op.taps_adj.shape[2] - 1
    rpad = new_rpad(y.shape[0], y.shape[1], y.shape[2], h1 + 1, h1 + 1, dtype)
    rpad[:, h1:-h1, h1:-h1] = np.random.default_rng(2).standard_normal(y.shape)
    m, lam, L = 0.4, 1.3, 7.0
    # unfused: adjoint pass, then the trial pass per map
    grad0 = np.empty_like(z)
    apply_adjoint(op, rpad, grad0, True)
    x0 = np.empty_like(z)
    part = np.empty((z.shape[0], 5))
    for k in range(z.shape[0]):
        S.trial_map(z, zp, grad0, x0, m, lam / L, L, p, lpt, part, k)
    # fused
    grad1 = np.empty_like(z)
    x1 = np.empty_like(z)
    K1, M = z.shape[0], z.shape[1]
    ng = -(-M // FU.SUM_ROWS)
    tsum = np.empty((K1 * ng, 5))
    tnnz = np.empty(K1 * ng, np.int64)
    FU.adjoint_trial(op, rpad, grad1, z, zp, x1, m, lam / L, L, p, lpt, tsum, tnnz, True)
    np.testing.assert_array_equal(grad1, grad0)
    np.testing.assert_array_equal(x1, x0)
    np.testing.assert_allclose(tsum.sum(axis=0), part.sum(axis=0), rtol=SUM_RTOL[dtype],
                               atol=SUM_RTOL[dtype] * np.abs(part).sum())
    rows = (x0 != 0).sum(axis=2)
    groups = [rows[k, i:i + FU.SUM_ROWS].sum() for k in range(K1)
              for i in range(0, M, FU.SUM_ROWS)]
    np.testing.assert_array_equal(tnnz, groups)
    # the retry from the stored gradient gives the same as the fused pass
    x2 = np.empty_like(z)
    tsum2 = np.empty_like(tsum)
    FU.trial(z, zp, grad1, x2, m, lam / L, L, p, lpt, tsum2, tnnz, True)
    np.testing.assert_array_equal(x2, x1)
    np.testing.assert_array_equal(tsum2, tsum)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("density", [0.5, 0.003], ids=["dense", "scattered"])
def test_forward_residual_pass_equals_forward_take_and_combo(dtype, density):
    op, y, _, _ = _problem(dtype)
    x, _ = _state(op, y, dtype, density)
    h1 = op.taps_adj.shape[2] - 1
    Fz = np.random.default_rng(3).standard_normal(y.shape).astype(dtype)
    m = 0.3
    # unfused: D x into rpad, take it out with ||D x - y||^2, then D v - y by linearity
    rpad0 = new_rpad(y.shape[0], y.shape[1], y.shape[2], h1 + 1, h1 + 1, dtype)
    scattered = apply_F_combo(op, x, 1.0, x, 0.0, x, rpad0, True, S.SPARSE_DENSITY)
    assert scattered == (density < 0.01)
    Fx0 = np.empty_like(y)
    sx0 = S.take_image(rpad0, Fx0, y, h1, h1)
    sv0 = S.residual_combo(rpad0, Fx0, 1.0 + m, Fz, -m, y, h1, h1)
    # fused
    rpad1 = new_rpad(y.shape[0], y.shape[1], y.shape[2], h1 + 1, h1 + 1, dtype)
    Fx1 = np.empty_like(y)
    fsum = np.empty((y.shape[0] * y.shape[1], 2))
    flags = (x != 0).any(axis=2)
    sx1, sv1 = FU.forward_residual(op, x, Fx1, Fz, y, rpad1, 1.0 + m, -m, fsum,
                                   int((x != 0).sum()), flags, True, S.SPARSE_DENSITY)
    np.testing.assert_array_equal(Fx1, Fx0)
    np.testing.assert_array_equal(rpad1, rpad0)
    np.testing.assert_allclose([sx1, sv1], [sx0, sv0], rtol=SUM_RTOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [1.0, 0.8])
def test_update_shrink_pass_equals_cg_update_then_shrink_residual(dtype, p):
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal((5, 20, 23)).astype(dtype) for _ in range(6)]
    lpt = table_for(p)
    a, alpha, beta2, lam = 0.3, 0.7, 4.2, 2.0
    z, r, pp, Ap, q, FTy = [u.copy() for u in arrays]
    S.cg_update(z, r, pp, Ap, q, a, alpha, True, np.empty(5), True)
    rr0, bb0 = S.shrink_residual(z, FTy, q, beta2 / lam, beta2, p, lpt, r, pp, True)
    z1, r1, pp1, Ap1, q1, FTy1 = [u.copy() for u in arrays]
    rr1, bb1 = FU.update_shrink(z1, r1, pp1, Ap1, q1, FTy1, a, alpha, beta2 / lam, beta2, p,
                                lpt, np.empty((5, 2)), True)
    for got, want in ((z1, z), (r1, r), (pp1, pp), (q1, q), (Ap1, Ap), (FTy1, FTy)):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose([rr1, bb1], [rr0, bb0], rtol=1e-12)


def _fista(dtype, fused, n_threads, par=True, p=1.0, iters=25):
    op, y, f, g = _problem(dtype)
    L0 = power_bound(f, g, y.shape) / 16
    z = np.zeros((f.shape[0], y.shape[1] + 6, y.shape[2] + 6), dtype)
    prior = Prior(1.0, p, table_for(p))
    plan = FistaPlan(L0, iters, 0.0, True, True)
    with threads(n_threads):
        if fused:
            out = FU.fista_bt_run_fused(op, y, z, prior, plan, FU.fused_fista_work(op, y, z),
                                        None, par)
        else:
            out = S.fista_bt_run(op, y, z, prior, plan, S.fista_work(op, y, z), None, par)
    return z, out


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_fista_with_backtracking_follows_the_unfused_run(dtype):
    z0, (it0, nf0) = _fista(dtype, False, 1)
    z1, (it1, nf1) = _fista(dtype, True, 1)
    assert (it1, nf1) == (it0, nf0)  # same iterations and the same trials
    assert nf0 > it0 + 1  # some trials were rejected: the retry path ran
    scale = np.abs(z0).max()
    np.testing.assert_allclose(z1, z0, rtol=0, atol=100 * np.finfo(dtype).eps * scale)
    assert 0.01 < (z1 != 0).mean() < 0.9


@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_continuation_follows_the_unfused_run(dtype):
    op, y, f, g = _problem(dtype)
    prior = Prior(1.0, 1.0, table_for(1.0))
    plan = ContinuationPlan(np.array([6.0 ** j for j in range(7)]), 1, 2)
    zs = []
    for solve in (S.continuation_solve, FU.continuation_solve_fused):
        z = np.zeros((f.shape[0], y.shape[1] + 6, y.shape[2] + 6), dtype)
        ws = S.workspace(op, y, z)
        solve(op, y, z, prior, plan, ws, np.empty_like(z), None, True)
        zs.append(z)
    scale = np.abs(zs[0]).max()
    np.testing.assert_allclose(zs[1], zs[0], rtol=0, atol=1e3 * np.finfo(dtype).eps * scale)


@needs2
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_drivers_do_not_depend_on_the_thread_count_or_the_path(dtype):
    z1, out1 = _fista(dtype, True, 1)
    z2, out2 = _fista(dtype, True, 2)
    z3, out3 = _fista(dtype, True, 2, par=False)  # the serial kernels of the batch path
    assert out1 == out2 == out3
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_array_equal(z1, z3)
    op, y, f, g = _problem(dtype)
    prior = Prior(1.0, 1.0, table_for(1.0))
    plan = ContinuationPlan(np.array([6.0 ** j for j in range(7)]), 1, 2)
    zs = []
    for nt, par in ((1, True), (2, True), (2, False)):
        z = np.zeros((f.shape[0], y.shape[1] + 6, y.shape[2] + 6), dtype)
        with threads(nt):
            FU.continuation_solve_fused(op, y, z, prior, plan, S.workspace(op, y, z),
                                        np.empty_like(z), None, par)
        zs.append(z)
    np.testing.assert_array_equal(zs[0], zs[1])
    np.testing.assert_array_equal(zs[0], zs[2])


def test_bytes_moved_match_a_hand_count():
    # K0 = 1 channel of 4x4, K1 = 2 maps, 3x3 filters: a map-sized array has
    # Z = 2 * 6 * 6 = 72 elements, an image I = 16, the padded buffer R = 8 * 8 = 64
    Z, I, R = 72, 16, 64
    assert B.array_sizes(1, 2, 4, 4, 3, 3) == {"Z": Z, "I": I, "R": R}
    hand = {
        # (Fz, Fzp, y -> rpad) (rpad -> grad) (z, zprev, grad -> x) (x) (x -> rpad)
        # (rpad, y -> Fx)
        "fista unfused": (3 * I + I) + (R + Z) + (3 * Z + Z) + Z + (Z + I) + (2 * I + I),
        # (rpad, z, zprev -> grad, x) (x, Fz, y -> Fx, rpad)
        "fista fused": (R + 2 * Z + 2 * Z) + (Z + 2 * I + 2 * I),
        # (z, FTy, q -> r, pp) + twice [(pp -> rpad) (rpad, pp -> Ap)
        # (z, r, pp, Ap, q -> z, r, q)] + (r, pp -> pp)
        "continuation unfused": 5 * Z + 2 * ((Z + I) + (R + 2 * Z) + 8 * Z) + 3 * Z,
        # the same less the x step and the second update, plus the fused pass
        # (z, pp, Ap, q, FTy -> z, q, r, pp)
        "continuation fused": 2 * ((Z + I) + (R + 2 * Z)) + 8 * Z + 3 * Z + 9 * Z,
    }
    for scheme, n in hand.items():
        rows, total = B.traffic(scheme, 1, 2, 4, 4, 3, 3, itemsize=4)
        assert total == 4 * n, scheme
        assert total == sum(r + w for _, r, w in rows)
    assert B.traffic("fista unfused", 1, 2, 4, 4, 3, 3, itemsize=8)[1] == 8 * hand[
        "fista unfused"]


def test_fused_passes_move_fewer_bytes_on_the_papers_layers():
    table = B.traffic_table(150)
    for layer in ("layer 1", "layer 2", "layer 3"):
        assert table[layer]["fista"]["ratio"] < 0.75
        assert table[layer]["continuation"]["ratio"] < 0.9


@pytest.mark.parametrize("solver", ["continuation", "fista"])
def test_solver_objects_run_the_fused_drivers_behind_their_flags(monkeypatch, solver):
    # the flags of numbadn.solvers.options pick the fused or unfused driver for one
    # image and for a batch (the batch path's serial kernels): same maps to rounding
    from numbadn import infer
    from numbadn.solvers import options as O
    op, y, f, g = _problem(np.float64)
    Y = np.stack([y, y[::-1].copy(), 0.5 * y])
    out = {}
    for fused in (False, True):
        monkeypatch.setattr(O, "FUSED_CONTINUATION", fused)
        monkeypatch.setattr(O, "FUSED_FISTA", fused)
        opts = {"max_iter": 30} if solver == "fista" else {}
        out[fused] = (infer(y, f, g, solver=solver, **opts),
                      infer(Y, f, g, solver=solver, **opts))
    for one, many in zip(out[True], out[False]):
        scale = np.abs(many).max()
        np.testing.assert_allclose(one, many, rtol=0, atol=1e3 * np.finfo(float).eps * scale)
        assert (one != 0).any()


def test_fused_defaults_are_continuation_on_fista_off():
    from numbadn.solvers import options as O
    assert (O.FUSED_CONTINUATION, O.FUSED_FISTA) == (True, False)
