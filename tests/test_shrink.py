"""The x sub-problem of eq. 4: ``soft_shrink`` (eq. 8) and the ``|x|^p`` table
(ref. [11]) against the exact 1-D minimisation in ``naive.py``."""
import numpy as np
import pytest

import naive
from numbadn.kernels import lp_table
from numbadn.ops import lp_shrink, soft_shrink

PS = [0.5, 0.6, 2.0 / 3.0, 0.8, 0.9, 0.99]
BETAS = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5]
TINY = 1e-30


def _table_end(p, beta):
    """The largest |v| the table covers at this beta (past it lp_shrink runs Newton)."""
    table, w_t, dw = lp_table(p)
    return beta ** (-1.0 / (2.0 - p)) * (w_t + (table.size - 1) * dw)


def _test_values(p, beta):
    """0, tiny, around the threshold, moderate, large, and around and past the
    end of the table; both signs."""
    vt = naive.lp_threshold(beta, p)
    end = _table_end(p, beta)
    v = [0.0, 1e-300, 1e-12, 1e-6]
    v += [vt * s for s in (0.5, 0.9, 0.99, 0.999, 0.99999, 1.00001, 1.001, 1.01, 1.1,
                           1.5, 2.0, 5.0, 20.0)]
    v += [1e-3, 0.01, 0.1, 0.5, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e4]
    v += [end * s for s in (0.999, 0.99999, 1.00001, 1.001, 1.5)]
    v = np.array(v)
    return np.concatenate([v, -v[1::3]])


# ---------------------------------------------------------------- the reference itself
@pytest.mark.parametrize("p", PS)
def test_naive_threshold_closed_form_agrees_with_exact_minimisation(p):
    # x^(2-p) = 2(1-p)/beta, v_t = x + p x^(p-1)/beta: check it on the reference
    # minimiser, which knows nothing about it, before using it anywhere.
    for beta in (1.0, 100.0, 1e4):
        vt = naive.lp_threshold(beta, p)
        assert naive.lp_min_1d(vt * (1 - 1e-6), beta, p)[0] == 0.0
        x, _ = naive.lp_min_1d(vt * (1 + 1e-6), beta, p)
        xt = (2 * (1 - p) / beta) ** (1 / (2 - p))
        assert x == pytest.approx(xt, rel=1e-3)


def test_naive_threshold_for_p_one_half_is_three_halves_beta_to_minus_two_thirds():
    for beta in BETAS:
        assert naive.lp_threshold(beta, 0.5) == pytest.approx(1.5 * beta ** (-2.0 / 3.0),
                                                              rel=1e-14)


# ---------------------------------------------------------------- soft_shrink (eq. 8)
@pytest.mark.parametrize("beta", [0.5, 1.0, 7.0, 1e3, 1e5])
def test_soft_shrink_is_eq_8(beta):
    rng = np.random.default_rng(20)
    v = np.concatenate([rng.standard_normal(500) * s for s in (1e-5, 1e-3, 0.1, 1, 10)])
    v = np.concatenate([v, [0.0, 1.0 / beta, -1.0 / beta, np.nextafter(1.0 / beta, 2),
                            np.nextafter(-1.0 / beta, -2)]])
    x = soft_shrink(v, beta)
    assert x.dtype == np.float64 and x.shape == v.shape
    np.testing.assert_array_equal(x, naive.soft_shrink(v, beta))
    np.testing.assert_array_equal(lp_shrink(v, beta, 1.0), x)
    # eq. 8 is the minimiser of beta/2 (x - v)^2 + |x| (a minimiser found from
    # cost values is good to about sqrt(machine eps) only)
    ref_x, ref_c = naive.lp_min(v[::25], beta, 1.0)
    np.testing.assert_allclose(x[::25], ref_x, rtol=1e-6, atol=1e-9 / beta)
    assert (naive.lp_cost(x, v, beta, 1.0)[::25] <= ref_c * (1 + 1e-12)).all()


def test_soft_shrink_float32_stays_float32():
    v = np.random.default_rng(21).standard_normal((4, 5, 6)).astype(np.float32)
    x = soft_shrink(v, 3.0)
    assert x.dtype == np.float32 and x.shape == v.shape
    ref = naive.soft_shrink(v, 3.0)
    assert np.all(np.abs(x - ref) <= 2 * np.finfo(np.float32).eps * (np.abs(v) + 1 / 3.0))
    assert (x[np.abs(v) <= np.float32(1 / 3.0)] == 0).all()


# ---------------------------------------------------------------- lp_shrink
@pytest.mark.parametrize("p", PS, ids=[f"p={p:.3g}" for p in PS])
def test_lp_shrink_reaches_the_exact_minimum_of_the_1d_cost(p):
    worst = 0.0
    for beta in BETAS:
        v = _test_values(p, beta)
        x = lp_shrink(v, beta, p)
        ref_x, ref_c = naive.lp_min(v, beta, p)
        c = naive.lp_cost(x, v, beta, p)
        excess = (c - ref_c) / np.maximum(ref_c, TINY)
        bad = excess > 1e-3
        assert not bad.any(), (
            f"beta={beta}: v={v[bad]}, lp_shrink={x[bad]}, exact={ref_x[bad]}, "
            f"cost={c[bad]} vs {ref_c[bad]}")
        # the reference is the minimum: lp_shrink never beats it by more than rounding
        assert (c >= ref_c * (1 - 1e-9) - TINY).all()
        worst = max(worst, float(excess.max()))
    assert worst <= 1e-3


@pytest.mark.parametrize("p", PS, ids=[f"p={p:.3g}" for p in PS])
def test_lp_shrink_matches_the_exact_minimiser_away_from_the_threshold(p):
    # Away from the threshold the minimiser is unique and depends smoothly on v,
    # so the interpolated table must be close in x too, not only in cost.
    for beta in BETAS:
        vt = naive.lp_threshold(beta, p)
        v = _test_values(p, beta)
        v = v[(np.abs(v) < 0.95 * vt) | (np.abs(v) > 1.05 * vt)]
        x = lp_shrink(v, beta, p)
        ref_x, _ = naive.lp_min(v, beta, p)
        np.testing.assert_allclose(x, ref_x, rtol=1e-5, atol=1e-9 * vt,
                                   err_msg=f"p={p}, beta={beta}")


@pytest.mark.parametrize("p", PS + [1.0])
def test_lp_shrink_is_odd(p):
    v = np.random.default_rng(22).standard_normal(2000) * np.logspace(-4, 2, 2000)
    for beta in (1.0, 1e3):
        np.testing.assert_array_equal(lp_shrink(-v, beta, p), -lp_shrink(v, beta, p))


@pytest.mark.parametrize("p", PS + [1.0])
def test_lp_shrink_float32_stays_float32(p):
    v = np.random.default_rng(23).standard_normal((3, 7, 5)) * 3
    x64 = lp_shrink(v, 10.0, p)
    x32 = lp_shrink(v.astype(np.float32), 10.0, p)
    assert x32.dtype == np.float32 and x32.shape == v.shape
    np.testing.assert_allclose(x32, x64, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", PS)
@pytest.mark.parametrize("beta", BETAS)
def test_lp_shrink_is_zero_below_the_threshold_and_jumps_above_it(p, beta):
    vt = naive.lp_threshold(beta, p)
    xt = (2 * (1 - p) / beta) ** (1 / (2 - p))      # the jump, see naive.lp_threshold
    below = vt * np.array([0.0, 1e-6, 0.5, 0.9, 0.999])
    above = vt * np.array([1.001, 1.1, 2.0, 10.0])
    for s in (1, -1):
        assert (lp_shrink(s * below, beta, p) == 0).all()
        x = lp_shrink(s * above, beta, p)
        assert (np.sign(x) == s).all()
        assert (np.abs(x) >= 0.99 * xt).all()
        assert (np.abs(x) <= vt * np.array([1.001, 1.1, 2.0, 10.0])).all()


@pytest.mark.parametrize("beta", BETAS)
def test_soft_shrink_is_zero_up_to_one_over_beta_and_nonzero_above(beta):
    v = np.array([0.0, 0.5, 0.999, 1.0, 1.001, 2.0]) / beta
    x = soft_shrink(np.concatenate([v, -v]), beta)
    assert (x[[0, 1, 2, 3, 6, 7, 8, 9]] == 0).all()
    assert (x[[4, 5]] > 0).all() and (x[[10, 11]] < 0).all()


@pytest.mark.parametrize("p", PS)
def test_lp_table_threshold_is_the_closed_form(p):
    # At beta = 1 the table's w_t is the threshold itself; p = 1/2 gives 3/2.
    table, w_t, dw = lp_table(p)
    assert w_t == pytest.approx(naive.lp_threshold(1.0, p), rel=1e-9)
    if p == 0.5:
        assert w_t == pytest.approx(1.5, rel=1e-12)
    assert table[0] == pytest.approx((2 * (1 - p)) ** (1 / (2 - p)), rel=1e-6)
    assert (np.diff(table) > 0).all()                # the nonzero branch increases with w


@pytest.mark.parametrize("shape", [(7,), (2, 3), (2, 3, 4), (1, 2, 3, 4)])
@pytest.mark.parametrize("p", [0.5, 1.0])
def test_lp_shrink_keeps_shape_and_leaves_v_alone(shape, p):
    v = np.random.default_rng(24).standard_normal(shape)
    v0 = v.copy()
    x = lp_shrink(v, 2.0, p)
    assert x.shape == shape and x is not v
    np.testing.assert_array_equal(v, v0)
    np.testing.assert_array_equal(x.ravel(), lp_shrink(v.ravel(), 2.0, p))


@pytest.mark.parametrize("p", [0.5, 1.0])
def test_lp_shrink_of_a_0d_array_is_0d(p):
    x = lp_shrink(np.float64(3.0), 1.0, p)
    assert np.shape(x) == ()
