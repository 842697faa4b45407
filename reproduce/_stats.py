"""Three-valued verdicts from stated tests: what every reproduction script uses to judge a claim.

A claim of the paper is judged by a test at level ``alpha`` (0.05 unless a
script says why not) and gets one of :data:`VERDICTS`:

``holds``
    the difference in the claimed direction is significant;
``does not hold``
    the opposite difference is significant;
``not supported``
    no significant difference either way (which is *not* evidence against the
    paper: the data could not tell);
``not judged``
    the data lacks the property the claim needs (a control failed), so no test
    was run.

The rule is the usual three-decision rule: a two-sided test (or a two-sided
``1 - alpha`` interval) decides whether there is a difference, and the sign of
the observed effect says which way.  Each helper returns an :class:`Outcome`
whose ``test`` string names the test, its sidedness, the level and the p value
or interval, ready for ``Report.claim(text, o.verdict, evidence, o.test)``.

The tests (scipy where it has them, exact enumeration otherwise):

* :func:`binomial` -- exact binomial test of a count against a share;
* :func:`fisher` -- Fisher's exact test of two shares (k1/n1 vs k2/n2);
* :func:`bootstrap_diff` -- percentile bootstrap interval of a difference of
  means, medians or shares, resampling units (images, filters, crops), paired
  or independent;
* :func:`mann_whitney` -- two independent samples;
* :func:`wilcoxon` and :func:`sign_test` -- paired samples;
* :func:`exact` -- a structural fact checked exactly (no sampling involved).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The four verdicts a claim can get (see module doc).
VERDICTS = ("holds", "does not hold", "not supported", "not judged")

#: The level every test uses unless a script states a reason for another.
ALPHA = 0.05

#: Bootstrap resamples (percentile intervals at 0.05 need a few thousand).
N_BOOT = 10_000


@dataclass(frozen=True)
class Outcome:
    """A verdict and the test that gave it.

    ``effect`` is signed in the claimed direction (positive: the way the
    paper says); ``p`` is the two-sided p value (None for an interval or an
    exact check); ``ci`` the interval of the effect where one was computed.
    """

    verdict: str
    test: str
    effect: float = float("nan")
    p: float | None = None
    ci: tuple | None = None


def check_verdict(verdict, name="verdict"):
    """``verdict`` if it is one of :data:`VERDICTS`, else ValueError naming ``name``."""
    if not isinstance(verdict, str) or verdict not in VERDICTS:
        raise ValueError(f"{name} must be one of {', '.join(repr(v) for v in VERDICTS)}; "
                         f"got {verdict!r} ({type(verdict).__name__})")
    return verdict


def _check_alpha(alpha):
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1); got {alpha!r}")
    return float(alpha)


def decide(effect, p=None, alpha=ALPHA):
    """The verdict from a signed effect and a two-sided p value, or from an interval.

    Parameters
    ----------
    effect : float or (lo, hi)
        Either the observed effect, signed so that positive is the claimed
        direction (only its sign is used), together with ``p``; or a two-sided
        ``1 - alpha`` interval ``(lo, hi)`` of that effect, with ``p=None``.
    p : float or None
        Two-sided p value of "no difference".
    alpha : float
        Level.

    Returns
    -------
    str
        "holds" if significant in the claimed direction (p < alpha and effect
        > 0, or lo > 0), "does not hold" if significant the other way (p <
        alpha and effect < 0, or hi < 0), else "not supported".
    """
    alpha = _check_alpha(alpha)
    if p is None:
        try:
            lo, hi = (float(v) for v in effect)
        except (TypeError, ValueError):
            raise ValueError("decide: without p, effect must be an interval (lo, hi); "
                             f"got {effect!r}") from None
        if not lo <= hi:
            raise ValueError(f"decide: interval must have lo <= hi; got ({lo}, {hi})")
        return "holds" if lo > 0 else "does not hold" if hi < 0 else "not supported"
    p = float(p)
    if not 0 <= p <= 1:
        raise ValueError(f"decide: p must be in [0, 1]; got {p}")
    effect = float(effect)
    if p < alpha and effect > 0:
        return "holds"
    if p < alpha and effect < 0:
        return "does not hold"
    return "not supported"


def _fmt_p(p):
    return f"p = {p:.2g}" if p >= 1e-4 else "p < 1e-4"


def exact(holds, what="exact check"):
    """A structural fact checked exactly (shapes, counts, settings): holds or does not."""
    return Outcome("holds" if holds else "does not hold", f"{what} (no sampling)",
                   effect=1.0 if holds else -1.0)


def not_judged(reason):
    """No test: the data lacks what the claim needs (``reason`` says which control failed)."""
    return Outcome("not judged", f"not tested: {reason}")


# ------------------------------------------------------------------ binomial / Fisher
def binom_pvalue(k, n, p0=0.5, alternative="two-sided"):
    """Exact binomial p value of ``k`` successes in ``n`` trials against share ``p0``.

    ``alternative``: "two-sided" (scipy's rule: sum of the outcomes no more
    likely than ``k``), "greater" (P[X >= k]) or "less" (P[X <= k]).
    """
    from scipy.stats import binomtest
    k, n = int(k), int(n)
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"binomial test needs 0 <= k <= n and n >= 1; got k={k}, n={n}")
    if not 0 < p0 < 1:
        raise ValueError(f"binomial test needs p0 in (0, 1); got {p0}")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative must be 'two-sided', 'greater' or 'less'; "
                         f"got {alternative!r}")
    return float(binomtest(k, n, p0, alternative=alternative).pvalue)


def binomial(k, n, p0=0.5, *, direction=+1, alpha=ALPHA, what="share"):
    """Is the share ``k/n`` above (``direction=+1``) or below (-1) ``p0``, as claimed?

    Exact two-sided binomial test; the verdict's direction is the sign of
    ``k/n - p0`` times ``direction``.
    """
    p = binom_pvalue(k, n, p0)
    eff = direction * (k / n - p0)
    return Outcome(decide(eff, p, alpha),
                   f"exact binomial test of {what} {k}/{n} = {k / n:.3g} vs {p0:.3g}, "
                   f"two-sided, alpha {alpha:.3g}: {_fmt_p(p)}", effect=eff, p=p)


def fisher(k1, n1, k2, n2, *, alpha=ALPHA, what="shares"):
    """Is the share ``k1/n1`` above ``k2/n2``, as claimed?  Fisher's exact test, two-sided."""
    from scipy.stats import fisher_exact
    for name, (k, n) in (("k1/n1", (k1, n1)), ("k2/n2", (k2, n2))):
        if n < 1 or not 0 <= k <= n:
            raise ValueError(f"fisher: {name} needs 0 <= k <= n and n >= 1; got {k}/{n}")
    p = float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)
    eff = k1 / n1 - k2 / n2
    return Outcome(decide(eff, p, alpha),
                   f"Fisher exact test of {what} {k1}/{n1} = {k1 / n1:.3g} vs "
                   f"{k2}/{n2} = {k2 / n2:.3g}, two-sided, alpha {alpha:.3g}: {_fmt_p(p)}",
                   effect=eff, p=p)


# ------------------------------------------------------------------ bootstrap
def _stat_fn(stat):
    if callable(stat):
        return stat
    if stat in ("mean", "share"):
        return lambda x, axis=-1: np.mean(x, axis=axis)
    if stat == "median":
        return lambda x, axis=-1: np.median(x, axis=axis)
    raise ValueError(f"stat must be 'mean', 'median', 'share' or a function; got {stat!r}")


def _units(x, name):
    x = np.asarray(x, dtype=float).ravel()
    if x.size < 2:
        raise ValueError(f"{name} needs at least 2 units to resample; got {x.size}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} has non-finite values")
    return x


def bootstrap_diff(a, b=None, *, stat="mean", paired=False, alpha=ALPHA, n_boot=N_BOOT,
                   seed=0, units="units", what=None):
    """Percentile bootstrap interval of ``stat(a) - stat(b)``, resampling units.

    Parameters
    ----------
    a, b : array_like of shape (n_a,), (n_b,)
        One value per unit (image, filter, crop), oriented so that ``a > b``
        is the claimed direction.  ``b=None`` bootstraps ``stat(a)`` against 0.
        For a share, pass 0/1 values and ``stat="share"``.
    stat : "mean", "median", "share" or callable(x, axis=-1)
    paired : bool
        Resample pairs ``(a[i], b[i])`` together (``a`` and ``b`` the same
        units under two conditions); else each sample on its own.
    alpha, n_boot, seed
        Two-sided ``1 - alpha`` interval from ``n_boot`` resamples of a
        ``numpy.random.default_rng(seed)``.
    units : str
        What a unit is, for the test description ("images", "filters").

    Returns
    -------
    Outcome
        ``effect`` the observed difference, ``ci`` its interval, verdict by
        :func:`decide` on the interval.
    """
    alpha = _check_alpha(alpha)
    f = _stat_fn(stat)
    a = _units(a, "a")
    rng = np.random.default_rng(seed)
    if b is None:
        obs = float(f(a))
        boots = f(a[rng.integers(0, a.size, (n_boot, a.size))], axis=-1)
        n_desc = f"{a.size} {units}"
    else:
        b = _units(b, "b")
        obs = float(f(a) - f(b))
        if paired:
            if a.size != b.size:
                raise ValueError(f"paired bootstrap needs a and b of one length; "
                                 f"got {a.size} and {b.size}")
            idx = rng.integers(0, a.size, (n_boot, a.size))
            boots = f(a[idx], axis=-1) - f(b[idx], axis=-1)
            n_desc = f"{a.size} paired {units}"
        else:
            boots = (f(a[rng.integers(0, a.size, (n_boot, a.size))], axis=-1)
                     - f(b[rng.integers(0, b.size, (n_boot, b.size))], axis=-1))
            n_desc = f"{a.size} vs {b.size} {units}"
    lo, hi = (float(v) for v in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    sname = stat if isinstance(stat, str) else getattr(stat, "__name__", "statistic")
    what = what or (f"difference of {sname}s" if b is not None else sname)
    return Outcome(decide((lo, hi), None, alpha),
                   f"bootstrap over {n_desc} ({n_boot} resamples, percentile), {what} "
                   f"{obs:.3g}, {100 * (1 - alpha):g}% CI [{lo:.3g}, {hi:.3g}]",
                   effect=obs, ci=(lo, hi))


# ------------------------------------------------------------------ rank tests
def mann_whitney(a, b, *, alpha=ALPHA, units="units", what="values"):
    """Are ``a`` larger than ``b``, as claimed?  Two-sided Mann-Whitney U test (scipy).

    The effect is the common-language effect size P[a > b] + P[a = b]/2 - 1/2.
    """
    from scipy.stats import mannwhitneyu
    a, b = _units(a, "a"), _units(b, "b")
    res = mannwhitneyu(a, b, alternative="two-sided")
    p = float(res.pvalue)
    eff = float(res.statistic) / (a.size * b.size) - 0.5
    return Outcome(decide(eff, p, alpha),
                   f"Mann-Whitney U test of {what} over {a.size} vs {b.size} {units}, "
                   f"two-sided, alpha {alpha:.3g}: P[a > b] = {eff + 0.5:.3g}, {_fmt_p(p)}",
                   effect=eff, p=p)


def wilcoxon(a, b=None, *, alpha=ALPHA, units="units", what="differences"):
    """Are the paired differences ``a - b`` (or ``a``) positive, as claimed?

    Two-sided Wilcoxon signed-rank test (scipy; exact for small samples
    without ties).  Zero differences are dropped (scipy's "wilcox" rule); the
    effect is the median difference.
    """
    from scipy.stats import wilcoxon as _w
    d = _units(a, "a") if b is None else _units(a, "a") - _units(b, "b")
    eff = float(np.median(d))
    if not np.any(d != 0):
        return Outcome("not supported", f"Wilcoxon signed-rank test of {what} over {d.size} "
                       f"{units}: every difference is 0", effect=0.0, p=1.0)
    p = float(_w(d, alternative="two-sided").pvalue)
    return Outcome(decide(eff, p, alpha),
                   f"Wilcoxon signed-rank test of {what} over {d.size} {units}, two-sided, "
                   f"alpha {alpha:.3g}: median {eff:.3g}, {_fmt_p(p)}", effect=eff, p=p)


def sign_test(a, b=None, *, alpha=ALPHA, units="units", what="differences"):
    """Are the paired differences ``a - b`` (or ``a``) mostly positive, as claimed?

    Exact two-sided sign test: binomial test of the positive count among the
    nonzero differences against 1/2.
    """
    d = _units(a, "a") if b is None else _units(a, "a") - _units(b, "b")
    pos, n = int(np.sum(d > 0)), int(np.sum(d != 0))
    if n == 0:
        return Outcome("not supported", f"sign test of {what} over {d.size} {units}: "
                       "every difference is 0", effect=0.0, p=1.0)
    p = binom_pvalue(pos, n, 0.5)
    eff = pos / n - 0.5
    return Outcome(decide(eff, p, alpha),
                   f"exact sign test of {what}: {pos} of {n} nonzero {units} positive, "
                   f"two-sided, alpha {alpha:.3g}: {_fmt_p(p)}", effect=eff, p=p)



# ------------------------------------------------------------------ composite claims
def equivalent(x, target, margin, *, stat="mean", alpha=ALPHA, n_boot=N_BOOT, seed=0,
               units="units", what=None):
    """Is ``stat(x)`` equal to ``target`` within ``margin``, as claimed ("evenly", "no change")?

    An equivalence claim cannot be shown by failing to reject "no difference",
    so it is judged by two bootstrap intervals (resampling the units of ``x``):

    * holds if the two-sided ``1 - 2 alpha`` interval lies inside ``target +-
      margin`` (two one-sided tests at ``alpha``, TOST);
    * does not hold if the ``1 - alpha`` interval excludes ``target`` (a
      significant departure) while the first rule fails;
    * else not supported.
    """
    alpha = _check_alpha(alpha)
    if not margin > 0:
        raise ValueError(f"margin must be positive; got {margin!r}")
    f = _stat_fn(stat)
    x = _units(x, "x")
    rng = np.random.default_rng(seed)
    boots = f(x[rng.integers(0, x.size, (n_boot, x.size))], axis=-1)
    obs = float(f(x))
    lo2, hi2 = (float(v) for v in np.quantile(boots, [alpha, 1 - alpha]))
    lo, hi = (float(v) for v in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    if target - margin < lo2 and hi2 < target + margin:
        verdict = "holds"
    elif lo > target or hi < target:
        verdict = "does not hold"
    else:
        verdict = "not supported"
    what = what or (stat if isinstance(stat, str) else "statistic")
    return Outcome(verdict,
                   f"equivalence by bootstrap over {x.size} {units} ({n_boot} resamples): "
                   f"{what} {obs:.3g}, {100 * (1 - 2 * alpha):g}% CI [{lo2:.3g}, {hi2:.3g}] "
                   f"vs {target:.3g} +- {margin:g} (TOST, alpha {alpha:.3g}); "
                   f"{100 * (1 - alpha):g}% CI [{lo:.3g}, {hi:.3g}]",
                   effect=obs - target, ci=(lo, hi))


def combine(outcomes, what="all of"):
    """One verdict for a claim made of parts that must all hold ("1 < 2 < 3").

    Holds if every part holds; does not hold if some part does not; not
    judged if some part is not judged; else not supported.  Run the parts at
    ``alpha / len(outcomes)`` (Bonferroni), so that "does not hold" -- any part
    significant the wrong way -- keeps the level ``alpha``.
    """
    outcomes = list(outcomes)
    if not outcomes:
        raise ValueError("combine needs at least one outcome")
    vs = [o.verdict for o in outcomes]
    verdict = ("not judged" if "not judged" in vs else "does not hold" if "does not hold" in vs
               else "holds" if all(v == "holds" for v in vs) else "not supported")
    return Outcome(verdict, f"{what} {len(outcomes)} parts (each Bonferroni-corrected): "
                   + "; ".join(f"[{o.verdict}] {o.test}" for o in outcomes))


def within_bound(value, bound, *, tolerance, what="value", why=""):
    """Is a measured ``value`` at most ``bound``, as claimed, beyond measurement drift?

    For single measurements without repeats to test (a median timing): holds if
    ``value * tolerance <= bound``, does not hold if ``value >= bound *
    tolerance``, else not supported.  ``tolerance`` (> 1) is the drift the
    measurement is known to have; ``why`` says where it comes from.
    """
    if not tolerance > 1:
        raise ValueError(f"tolerance must be > 1; got {tolerance!r}")
    value, bound = float(value), float(bound)
    verdict = ("holds" if value * tolerance <= bound else
               "does not hold" if value >= bound * tolerance else "not supported")
    return Outcome(verdict, f"{what} {value:.3g} against the bound {bound:.3g} with a "
                   f"tolerance of x{tolerance:g}" + (f" ({why})" if why else "")
                   + "; a margin rule, not a significance test",
                   effect=float(np.log(bound / value)) if value > 0 and bound > 0 else float("nan"))


def too_few(n, units="units", need=2):
    """No test possible on ``n`` units (fewer than ``need``): not supported, and why."""
    return Outcome("not supported", f"not tested: {n} {units}, a test needs at least {need}")


def per_class_accuracy(y, pred):
    """Mean over classes of the fraction of each class's test images recognised
    (Table 1's score; scikit-learn's ``balanced_accuracy_score``)."""
    return float(np.mean([np.mean(pred[y == k] == k) for k in np.unique(y)]))
