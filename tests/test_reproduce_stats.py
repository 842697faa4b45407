"""``reproduce/_stats.py`` (three-valued verdicts) against exact enumeration and scipy,
and ``Report.claim``'s validation of its verdict."""
from __future__ import annotations

import json
import math
from argparse import Namespace
from fractions import Fraction
from itertools import combinations, product

import numpy as np
import pytest

import _common
import _stats as S


# ------------------------------------------------------------------ decide
@pytest.mark.parametrize("effect, p, verdict", [
    (0.3, 0.01, "holds"), (-0.3, 0.01, "does not hold"), (0.3, 0.2, "not supported"),
    (-0.3, 0.2, "not supported"), (0.0, 0.001, "not supported"), (0.3, 0.05, "not supported"),
])
def test_decide_from_sign_and_p(effect, p, verdict):
    assert S.decide(effect, p, 0.05) == verdict


@pytest.mark.parametrize("ci, verdict", [
    ((0.01, 0.2), "holds"), ((-0.2, -0.01), "does not hold"), ((-0.1, 0.1), "not supported"),
    ((0.0, 0.3), "not supported"), ((-0.3, 0.0), "not supported"),
])
def test_decide_from_an_interval(ci, verdict):
    assert S.decide(ci) == verdict


@pytest.mark.parametrize("args, match", [
    (((0.1, -0.1),), "lo <= hi"), ((0.3,), "interval"), ((0.3, 1.5), "p must be"),
    ((0.3, 0.01, 0), "alpha"), ((0.3, 0.01, 1.0), "alpha"),
])
def test_decide_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        S.decide(*args)


# ------------------------------------------------------------------ binomial, Fisher
def _binom_two_sided_exact(k, n, p0):
    """P of the outcomes no more likely than k (exact rationals)."""
    p0 = Fraction(p0)
    pmf = [math.comb(n, i) * p0 ** i * (1 - p0) ** (n - i) for i in range(n + 1)]
    return float(sum(q for q in pmf if q <= pmf[k] * (1 + Fraction(1, 10 ** 7))))


@pytest.mark.parametrize("k, n, p0", [(7, 45, 0.25), (0, 10, 0.5), (10, 10, 0.5), (9, 12, 0.5),
                                      (3, 20, 0.1), (19, 150, 0.2)])
def test_binomial_p_value_is_the_exact_sum(k, n, p0):
    p0f = Fraction(p0).limit_denominator()
    assert S.binom_pvalue(k, n, p0) == pytest.approx(_binom_two_sided_exact(k, n, p0f), rel=1e-9)
    pmf = [math.comb(n, i) * p0f ** i * (1 - p0f) ** (n - i) for i in range(n + 1)]
    assert S.binom_pvalue(k, n, p0, "greater") == pytest.approx(float(sum(pmf[k:])), rel=1e-9)
    assert S.binom_pvalue(k, n, p0, "less") == pytest.approx(float(sum(pmf[:k + 1])), rel=1e-9)


def test_binomial_verdicts_and_bad_input():
    assert S.binomial(18, 20, 0.5).verdict == "holds"
    assert S.binomial(2, 20, 0.5).verdict == "does not hold"
    assert S.binomial(2, 20, 0.5, direction=-1).verdict == "holds"
    assert S.binomial(12, 20, 0.5).verdict == "not supported"
    assert "exact binomial" in S.binomial(12, 20).test
    with pytest.raises(ValueError, match="k <= n"):
        S.binom_pvalue(5, 4)
    with pytest.raises(ValueError, match="alternative"):
        S.binom_pvalue(2, 4, alternative="up")


def _fisher_exact_enumeration(k1, n1, k2, n2):
    """Two-sided Fisher p: hypergeometric tables with the margins, no more likely than ours."""
    m, n = k1 + k2, n1 + n2

    def prob(a):
        return Fraction(math.comb(n1, a) * math.comb(n2, m - a), math.comb(n, m))

    lo, hi = max(0, m - n2), min(n1, m)
    obs = prob(k1)
    return float(sum(prob(a) for a in range(lo, hi + 1)
                     if prob(a) <= obs * (1 + Fraction(1, 10 ** 7))))


@pytest.mark.parametrize("k1, n1, k2, n2", [(7, 45, 19, 150), (9, 10, 2, 10), (0, 5, 5, 5),
                                            (3, 8, 4, 9)])
def test_fisher_p_value_is_the_exact_enumeration(k1, n1, k2, n2):
    o = S.fisher(k1, n1, k2, n2)
    assert o.p == pytest.approx(_fisher_exact_enumeration(k1, n1, k2, n2), rel=1e-9)
    assert o.effect == pytest.approx(k1 / n1 - k2 / n2)


def test_fisher_calls_the_fig7_example_not_supported():
    # 7/45 vs 19/150 filters: a one-sided count once reported this "does not hold"
    o = S.fisher(7, 45, 19, 150)
    assert o.verdict == "not supported" and o.p > 0.05
    assert S.fisher(9, 10, 2, 10).verdict == "holds"
    assert S.fisher(2, 10, 9, 10).verdict == "does not hold"


# ------------------------------------------------------------------ bootstrap
def test_bootstrap_interval_matches_scipy_percentile_bootstrap():
    from scipy.stats import bootstrap
    rng = np.random.default_rng(3)
    a, b = rng.normal(0.4, 1, 40), rng.normal(0.0, 1, 60)
    o = S.bootstrap_diff(a, b, n_boot=20000, seed=1)
    ref = bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis),
                    method="percentile", n_resamples=20000, random_state=2,
                    vectorized=True).confidence_interval
    assert o.effect == pytest.approx(a.mean() - b.mean())
    width = ref.high - ref.low
    assert o.ci[0] == pytest.approx(ref.low, abs=0.05 * width)
    assert o.ci[1] == pytest.approx(ref.high, abs=0.05 * width)


def test_paired_bootstrap_matches_scipy_paired_bootstrap():
    from scipy.stats import bootstrap
    rng = np.random.default_rng(4)
    a = rng.normal(0, 1, 30)
    b = a - 0.2 + rng.normal(0, 0.3, 30)
    o = S.bootstrap_diff(a, b, stat="median", paired=True, n_boot=20000, seed=1)
    ref = bootstrap((a, b), lambda x, y, axis=-1: np.median(x, axis) - np.median(y, axis),
                    paired=True, method="percentile", n_resamples=20000, random_state=2,
                    vectorized=True).confidence_interval
    width = ref.high - ref.low
    assert o.ci[0] == pytest.approx(ref.low, abs=0.06 * width)
    assert o.ci[1] == pytest.approx(ref.high, abs=0.06 * width)


def test_bootstrap_of_tiny_sample_has_the_exact_bootstrap_quantiles():
    # all 3**3 resamples of 3 values are equally likely: the percentile interval of
    # many draws lands on the quantiles of that exact distribution
    a = np.array([0.0, 1.0, 5.0])
    means = np.sort([np.mean(c) for c in product(a, repeat=3)])
    o = S.bootstrap_diff(a, stat="mean", n_boot=200000, alpha=0.2, seed=0)
    cdf = lambda v: np.mean(means <= v + 1e-12)  # noqa: E731
    assert cdf(o.ci[0]) >= 0.1 - 0.01 and np.mean(means < o.ci[0] - 1e-12) <= 0.1 + 0.01
    assert cdf(o.ci[1]) >= 0.9 - 0.01 and np.mean(means < o.ci[1] - 1e-12) <= 0.9 + 0.01


def test_bootstrap_verdicts_and_shares():
    rng = np.random.default_rng(5)
    assert S.bootstrap_diff(rng.normal(1, 1, 50), rng.normal(0, 1, 50)).verdict == "holds"
    assert S.bootstrap_diff(rng.normal(0, 1, 50), rng.normal(1, 1, 50)).verdict == "does not hold"
    assert S.bootstrap_diff(rng.normal(0, 1, 50), rng.normal(0, 1, 50),
                            seed=2).verdict == "not supported"
    a = np.r_[np.ones(7), np.zeros(38)]
    b = np.r_[np.ones(19), np.zeros(131)]
    o = S.bootstrap_diff(a, b, stat="share", units="filters")
    assert o.verdict == "not supported" and "45 vs 150 filters" in o.test
    with pytest.raises(ValueError, match="paired"):
        S.bootstrap_diff([1, 2, 3], [1, 2], paired=True)
    with pytest.raises(ValueError, match="at least 2"):
        S.bootstrap_diff([1.0], [1, 2])
    with pytest.raises(ValueError, match="stat must be"):
        S.bootstrap_diff([1, 2], [1, 2], stat="mode")


def test_bootstrap_is_reproducible_under_a_seed():
    a, b = np.arange(10.0), np.arange(10.0) + 0.5
    assert S.bootstrap_diff(a, b, seed=7).ci == S.bootstrap_diff(a, b, seed=7).ci


# ------------------------------------------------------------------ rank tests
def test_mann_whitney_matches_permutation_enumeration():
    a = np.array([3.1, 4.7, 5.2, 6.0, 2.2])
    b = np.array([1.0, 2.5, 0.3, 1.9, 2.8, 0.7])
    pooled = np.r_[a, b]

    def u(x, y):
        return sum((xi > yi) + 0.5 * (xi == yi) for xi in x for yi in y)

    u_obs = u(a, b)
    mu = a.size * b.size / 2
    us = [u(pooled[list(c)], np.delete(pooled, list(c)))
          for c in combinations(range(pooled.size), a.size)]
    p_exact = np.mean([abs(x - mu) >= abs(u_obs - mu) - 1e-12 for x in us])
    o = S.mann_whitney(a, b)
    assert o.p == pytest.approx(p_exact, rel=1e-9)
    assert o.effect == pytest.approx(u_obs / (a.size * b.size) - 0.5)
    assert o.verdict == "holds" and S.mann_whitney(b, a).verdict == "does not hold"


def test_wilcoxon_matches_sign_flip_enumeration():
    d = np.array([0.5, -0.2, 1.1, 0.9, 0.35, 1.4, -0.05, 0.8])
    ranks = np.argsort(np.argsort(np.abs(d))) + 1.0
    t_obs = ranks[d > 0].sum()
    mu = ranks.sum() / 2
    ts = [sum(r for r, s in zip(ranks, signs) if s) for signs in product((0, 1), repeat=d.size)]
    p_exact = np.mean([abs(t - mu) >= abs(t_obs - mu) - 1e-12 for t in ts])
    o = S.wilcoxon(d)
    assert o.p == pytest.approx(p_exact, rel=1e-9)
    assert o.effect == pytest.approx(np.median(d))
    assert S.wilcoxon(d + 1, np.ones_like(d)).p == pytest.approx(o.p)
    assert S.wilcoxon(np.zeros(5)).verdict == "not supported"


def test_sign_test_is_the_binomial_of_the_signs():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0])
    b = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0])   # one tie, 9 positive
    o = S.sign_test(a, b)
    assert o.p == pytest.approx(2 / 2 ** 9, rel=1e-12)   # P[X = 0 or 9], X ~ B(9, 1/2)
    assert o.verdict == "holds" and S.sign_test(b, a).verdict == "does not hold"


def test_outcome_strings_name_test_level_and_p():
    o = S.mann_whitney([1, 2, 3, 4], [2, 3, 4, 5], units="filters")
    assert "Mann-Whitney" in o.test and "alpha 0.05" in o.test and "p = " in o.test
    assert S.exact(True).verdict == "holds" and "exact" in S.exact(False).test
    assert S.not_judged("the control fails").verdict == "not judged"


# ------------------------------------------------------------------ Report.claim
@pytest.mark.parametrize("bad", [True, False, 1, None, "hold", "Holds", "not_supported"])
def test_report_claim_rejects_anything_but_the_four_verdicts(bad):
    rep = _common.Report("x", "X")
    with pytest.raises(ValueError, match="verdict must be one of"):
        rep.claim("a claim", bad)


def test_report_claim_rejects_a_non_string_test():
    with pytest.raises(ValueError, match="test must be a string"):
        _common.Report("x", "X").claim("a claim", "holds", "", test=0.05)


def test_report_records_and_prints_verdict_and_test(tmp_path, capsys):
    rep = _common.Report("stats_probe", "Probe")
    o = S.fisher(7, 45, 19, 150)
    for v in S.VERDICTS[:-1]:
        rep.claim(f"claim {v}", v, "some evidence", o.test)
    rep.claim("a control fails", "not judged")
    rep.finish(Namespace(quick=True, out=str(tmp_path), images=None))
    text = capsys.readouterr().out
    assert "DOES NOT HOLD" in text and "NOT SUPPORTED" in text and "Fisher exact" in text
    d = json.loads((tmp_path / "stats_probe.json").read_text())
    assert [c["verdict"] for c in d["claims"]] == list(S.VERDICTS)
    assert all("holds" not in c for c in d["claims"])
    assert d["claims"][0]["test"] == o.test and d["claims"][3]["test"] == ""


def test_run_all_counts_every_verdict(tmp_path):
    import run_all
    d = dict(name="fig1_tokens", item="Fig. 1", quick=True, rows=[], figures=[],
             claims=[dict(claim=f"c{i}", verdict=v, evidence="", test="t")
                     for i, v in enumerate(["holds", "holds", "not supported", "not judged"])])
    (tmp_path / "fig1_tokens.json").write_text(json.dumps(d))
    text = run_all.write_index(tmp_path, quick=True).read_text()
    assert "2 hold, 0 do not hold, 1 not supported, 1 not judged of 4 claims" in text
    d["claims"][0] = dict(claim="old", holds=True, evidence="")
    (tmp_path / "fig1_tokens.json").write_text(json.dumps(d))
    with pytest.raises(SystemExit, match="rerun reproduce/fig1_tokens.py"):
        run_all.write_index(tmp_path)


# ------------------------------------------------------------------ composite
def test_equivalent_holds_inside_the_margin_and_fails_on_a_clear_departure():
    rng = np.random.default_rng(0)
    near = 1 / 3 + rng.normal(0, 0.05, 200)
    assert S.equivalent(near, 1 / 3, 0.05).verdict == "holds"
    far = 0.6 + rng.normal(0, 0.05, 50)
    assert S.equivalent(far, 1 / 3, 0.05).verdict == "does not hold"
    few = 1 / 3 + rng.normal(0, 0.3, 5)          # too few, too noisy to say
    assert S.equivalent(few, 1 / 3, 0.05).verdict == "not supported"
    with pytest.raises(ValueError, match="margin"):
        S.equivalent(near, 1 / 3, 0)


def test_equivalent_uses_the_two_one_sided_interval():
    # the 90% percentile interval must lie inside the margin: compare with the
    # quantiles of the same resamples computed here
    x = np.array([0.30, 0.35, 0.32, 0.29, 0.38, 0.33, 0.31, 0.36])
    o = S.equivalent(x, 1 / 3, 0.04, n_boot=5000, seed=3)
    rng = np.random.default_rng(3)
    boots = x[rng.integers(0, x.size, (5000, x.size))].mean(-1)
    lo2, hi2 = np.quantile(boots, [0.05, 0.95])
    assert (o.verdict == "holds") == (1 / 3 - 0.04 < lo2 and hi2 < 1 / 3 + 0.04)
    assert o.ci == pytest.approx(tuple(np.quantile(boots, [0.025, 0.975])))


@pytest.mark.parametrize("parts, verdict", [
    (["holds", "holds"], "holds"), (["holds", "not supported"], "not supported"),
    (["holds", "does not hold"], "does not hold"),
    (["not supported", "does not hold"], "does not hold"),
    (["holds", "not judged"], "not judged"),
])
def test_combine(parts, verdict):
    o = S.combine([S.Outcome(v, f"t{i}") for i, v in enumerate(parts)])
    assert o.verdict == verdict and "t0" in o.test and "t1" in o.test


@pytest.mark.parametrize("value, verdict", [(0.5, "holds"), (0.8, "holds"), (0.9, "not supported"),
                                            (1.1, "not supported"), (1.25, "does not hold"),
                                            (3.0, "does not hold")])
def test_within_bound_applies_the_tolerance_both_ways(value, verdict):
    assert S.within_bound(value, 1.0, tolerance=1.25).verdict == verdict
    with pytest.raises(ValueError, match="tolerance"):
        S.within_bound(value, 1.0, tolerance=1.0)


# ------------------------------------------------------------------ wiring in the scripts
def test_fig7_filter_hv_averages_to_the_pooled_share_and_gates_on_the_control():
    import _orientation as orient
    import fig7_fig8_filters as f78
    rng = np.random.default_rng(0)
    e = rng.random((45, orient.N_ANGLES)) * rng.random((45, 1))
    assert orient.filter_hv(e).mean() == pytest.approx(orient.hv_fraction(e))
    hv = {"city": [0.6 + 0.05 * rng.standard_normal(45)],
          "natural": [1 / 3 + 0.05 * rng.standard_normal(45)]}
    for control in ("not supported", "does not hold"):
        o = f78.city_outcome(hv, 0, S.Outcome(control, "control test"))
        assert o.verdict == "not judged" and "control test" in o.test
    assert f78.city_outcome(hv, 0, S.Outcome("holds", "c")).verdict == "holds"
    hv["natural"] = [hv["city"][0] + 0.2]
    assert f78.city_outcome(hv, 0, S.Outcome("holds", "c")).verdict == "does not hold"


def test_too_few_units_is_not_supported_and_says_why():
    o = S.too_few(1, "crops")
    assert o.verdict == "not supported" and "1 crops" in o.test


def test_contrast_floor_measures_match_their_definitions():
    import contrast_floors as CC
    rng = np.random.default_rng(5)
    # white noise: the power of each bin is exponential, whose geometric over arithmetic
    # mean is exp(-Euler's gamma) = 0.561; a smooth ramp is far from white
    white = np.mean([CC.spectral_flatness(rng.standard_normal((64, 64))) for _ in range(8)])
    assert white == pytest.approx(np.exp(-np.euler_gamma), abs=0.03)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    assert CC.spectral_flatness(np.sin(2 * np.pi * xx) + yy) < 0.05
    # stationary noise has an even local std; noise on one half only has a spread near 1
    even = rng.standard_normal((96, 96))
    half = even * (np.arange(96) < 48)[None, :]
    assert CC.local_std_spread(even) < 0.2 < 0.8 < CC.local_std_spread(half)
    ims = [x.astype(np.float64) for x in (rng.random((40, 40)), 0.5 + 0.05 * rng.random((40, 40)))]
    table = CC.floor_tradeoff(ims)
    # floor 1 never divides; the toolbox's grey floor divides nearly everything here
    assert table["1 (toolbox colour)"]["divided"] == 0.0
    assert table["1/255 (toolbox grey)"]["divided"] > 0.9

