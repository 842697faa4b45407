"""reproduce/_control.py: the orientation control of Fig. 7 / 8 (are the city
photographs more horizontal/vertical than the natural ones?).

References: analytic gratings (all gradient energy at one known orientation),
concentric rings (every orientation equally), and scipy.stats.bootstrap for
the interval over photographs.
"""

import numpy as np
import pytest

import _control
import fig7_fig8_filters as F

N = 128


def grating(theta_deg, period=9.0, n=N):
    """Stripes whose *edges* run at ``theta_deg`` from horizontal (gradient normal to them)."""
    yy, xx = np.mgrid[:n, :n].astype(float)
    t = np.deg2rad(theta_deg)
    # distance across the stripes: along the normal (-sin t, cos t)
    return 0.5 + 0.4 * np.sin(2 * np.pi * (-xx * np.sin(t) + yy * np.cos(t)) / period)


def rings(n=257, period=7.0, disk=False):
    """Concentric rings; with ``disk``, faded out (smoothly) beyond the inscribed
    circle, so that every orientation has the same share of the energy (a
    square's corners would add diagonal ones)."""
    yy, xx = np.mgrid[:n, :n].astype(float) - n // 2
    r = np.hypot(xx, yy)
    a = 0.4 * np.cos(2 * np.pi * r / period)
    if disk:
        R = n // 2 - 8
        a = a * np.clip(np.cos(np.clip((r - (R - 24)) / 24, 0, 1) * np.pi / 2), 0, 1) ** 2
    return 0.5 + a


@pytest.mark.parametrize("theta, expected", [(0, 1), (90, 1), (8, 1), (98, 1), (172, 1),
                                             (45, 0), (30, 0), (60, 0), (135, 0), (120, 0)])
def test_share_of_a_grating_is_all_or_nothing_by_its_orientation(theta, expected):
    share = _control.hv_share([grating(theta)])
    assert share == pytest.approx(expected, abs=0.03), share


def test_share_of_concentric_rings_is_one_third():
    # every orientation equally: the bands of +-15 deg around 0 and 90 hold 60/180
    assert _control.hv_share([rings(disk=True)]) == pytest.approx(1 / 3, abs=0.02)


def test_share_pools_energy_over_crops():
    a, b = grating(0), 0.5 + 0.25 * (grating(45) - 0.5)  # b: a quarter of the amplitude
    ea = _control.hv_share([a])
    both = _control.hv_share([a, b])
    # energies scale with amplitude squared: b has (0.25)^2 of a's
    expect = (1.0 * 1 + 0.0 * 0.0625) / (1 + 0.0625)
    assert ea == pytest.approx(1, abs=0.03)
    assert both == pytest.approx(expect, abs=0.03)


def _photos(values, crops_each=3, seed=0):
    """Photographs whose crops mix a horizontal grating and rings so that the
    photograph's share is close to ``v``."""
    rng = np.random.default_rng(seed)
    out = {}
    for i, v in enumerate(values):
        crops = []
        for _ in range(crops_each):
            w = np.clip(v + rng.normal(0, 0.02), 0, 1)
            # energy weights: a fraction w of horizontal-edge energy, the rest even
            c = np.sqrt(w) * (grating(0, n=64) - 0.5) + np.sqrt(1 - w) * (rings(64) - 0.5)
            crops.append(c)
        out[f"p{i}"] = crops
    return out


def test_bootstrap_resamples_photographs_not_crops():
    vals = [0.3, 0.45, 0.5, 0.6, 0.7, 0.4, 0.55]
    photos = _photos(vals)
    one = _control.set_control(photos, n_boot=4000, seed=1)
    # ten times the crops of every photograph: same photographs, same interval
    more = {k: v * 10 for k, v in photos.items()}
    ten = _control.set_control(more, n_boot=4000, seed=1)
    assert one["n_photos"] == ten["n_photos"] == len(vals)
    assert ten["n_crops"] == 10 * one["n_crops"]
    assert ten["mean"] == pytest.approx(one["mean"], abs=1e-12)
    assert ten["ci"] == pytest.approx(one["ci"], abs=1e-12)


def test_interval_matches_scipy_bootstrap():
    stats = pytest.importorskip("scipy.stats")
    vals = np.random.default_rng(3).uniform(0.2, 0.8, 15)
    photos = _photos(vals, crops_each=1)
    ctl = _control.set_control(photos, n_boot=20000, seed=0)
    per = np.array(list(ctl["per_photo"].values()))
    assert ctl["mean"] == pytest.approx(per.mean())
    ref = stats.bootstrap((per,), np.mean, n_resamples=20000, method="percentile",
                          random_state=0).confidence_interval
    assert ctl["ci"][0] == pytest.approx(ref.low, abs=0.01)
    assert ctl["ci"][1] == pytest.approx(ref.high, abs=0.01)
    assert ctl["ci"][0] < ctl["mean"] < ctl["ci"][1]


def test_verdict_needs_the_intervals_apart():
    city = _control.set_control(_photos([0.7, 0.75, 0.8, 0.72, 0.78]), seed=0)
    nat = _control.set_control(_photos([0.3, 0.35, 0.33, 0.36, 0.31], seed=1), seed=0)
    assert _control.verdict({"city": city, "natural": nat})
    assert not _control.verdict({"city": nat, "natural": city})
    same = _control.set_control(_photos([0.3, 0.7, 0.5, 0.4, 0.6], seed=2), seed=0)
    assert not _control.verdict({"city": same, "natural": same})


def test_control_outcome_holds_only_with_the_intervals_apart():
    # fig7_fig8_filters turns the control into the _stats.Outcome that gates the
    # natural-vs-city claims (city_outcome: not judged unless it holds)
    city = _control.set_control(_photos([0.7, 0.75, 0.8, 0.72, 0.78]), seed=0)
    nat = _control.set_control(_photos([0.3, 0.35, 0.33, 0.36, 0.31], seed=1), seed=0)
    flat = _control.set_control(_photos([0.3, 0.7, 0.5, 0.4, 0.6], seed=2), seed=0)
    o = _control.control_outcome({"city": city, "natural": nat})
    assert o.verdict == "holds" and o.effect > 0
    assert "5 vs 5 photographs" in o.test and "do not overlap" in o.test
    assert _control.control_outcome({"city": nat, "natural": city}).verdict == "does not hold"
    o = _control.control_outcome({"city": flat, "natural": flat})
    assert o.verdict == "not supported"
    hv = {"city": [np.full(9, 0.6)], "natural": [np.full(9, 1 / 3)]}
    assert F.city_outcome(hv, 0, o).verdict == "not judged"
