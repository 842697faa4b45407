"""reproduce/contrast_choice.py: the orientation statistic per floor, the paired
bootstrap of the two floors' gaps and the stated decision rules.

References: analytic gratings (all gradient energy at one known orientation),
``numbadn.preprocess.contrast_normalize`` called directly, and
``scipy.stats.bootstrap`` for the interval of the gap difference.
"""
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reproduce"))
import _control  # noqa: E402
import contrast_choice as C  # noqa: E402
from numbadn.preprocess import contrast_normalize  # noqa: E402


def grating(theta_deg, period=9.0, n=64, amp=0.4):
    yy, xx = np.mgrid[:n, :n].astype(float)
    t = np.deg2rad(theta_deg)
    return 0.5 + amp * np.sin(2 * np.pi * (-xx * np.sin(t) + yy * np.cos(t)) / period)


def test_normalised_applies_each_floor_and_leaves_raw_alone():
    rng = np.random.default_rng(0)
    photos = {"a": [rng.random((40, 40)), rng.random((40, 40))], "b": [rng.random((40, 40))]}
    assert C.normalised(photos, "raw") is photos
    for fl in C.FLOORS:
        got = C.normalised(photos, fl)
        assert list(got) == ["a", "b"] and [len(v) for v in got.values()] == [2, 1]
        for k in photos:
            for g, c in zip(got[k], photos[k]):
                np.testing.assert_array_equal(g, contrast_normalize(c, std_floor=fl))


def test_orientation_separates_cardinal_from_diagonal_gratings_with_every_floor():
    # city: horizontal / vertical stripes; natural: diagonal ones (share 1 vs 0)
    photos = {"city": {"h": [grating(0)], "v": [grating(90)], "h2": [grating(0, 7)]},
              "natural": {"d1": [grating(45)], "d2": [grating(135)], "d3": [grating(45, 7)]}}
    ori = C.orientation(photos, dict(n_boot=500), seed=0)
    for how in ("raw",) + C.FLOORS:
        row = ori[how]
        assert row["city"]["mean"] == pytest.approx(1, abs=0.05)
        assert row["natural"]["mean"] == pytest.approx(0, abs=0.05)
        assert row["city_minus_natural"] == pytest.approx(1, abs=0.1)
        assert row["holds"]
        assert row["city"]["n_photos"] == 3 and row["natural"]["n_crops"] == 3
    # the per-set statistic is _control's on the normalised crops
    direct = _control.set_control({k: [contrast_normalize(c, std_floor="mean") for c in v]
                                   for k, v in photos["city"].items()}, n_boot=500, seed=0)
    assert ori["mean"]["city"]["mean"] == pytest.approx(direct["mean"], rel=1e-12)


def test_gap_difference_matches_scipy_bootstrap_over_photographs():
    rng = np.random.default_rng(1)
    shares = {fl: {"city": rng.uniform(0.4, 0.6, 15), "natural": rng.uniform(0.3, 0.5, 29)}
              for fl in C.FLOORS}
    g = C.gap_difference(shares, 20000, seed=3)
    dc = shares["mean"]["city"] - shares["toolbox"]["city"]
    dn = shares["mean"]["natural"] - shares["toolbox"]["natural"]
    assert g["mean_minus_toolbox"] == pytest.approx(dc.mean() - dn.mean(), rel=1e-12)
    ref = stats.bootstrap((dc, dn), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                          n_resamples=20000, method="percentile", random_state=4,
                          vectorized=True).confidence_interval
    width = ref.high - ref.low
    assert g["lo"] == pytest.approx(ref.low, abs=0.05 * width)
    assert g["hi"] == pytest.approx(ref.high, abs=0.05 * width)


def test_gap_difference_of_identical_floors_is_exactly_zero():
    s = {"city": np.array([0.5, 0.6, 0.55]), "natural": np.array([0.3, 0.4])}
    g = C.gap_difference({"mean": s, "toolbox": s}, 1000, seed=0)
    assert (g["mean_minus_toolbox"], g["lo"], g["hi"]) == (0.0, 0.0, 0.0)


def _ori(gap_mean, gap_tool):
    return {"mean": {"city_minus_natural": gap_mean},
            "toolbox": {"city_minus_natural": gap_tool}}


def _rec(mean, tool):
    return {"mean": {"accuracy": {"dn-1": mean}}, "toolbox": {"accuracy": {"dn-1": tool}}}


def _den(mean, tool):
    return {"mean": {"mean": mean}, "toolbox": {"mean": tool}}


@pytest.mark.parametrize("ori, rec, den, expect", [
    # the mean floor must be ahead on every measurement to become the library default
    (_ori(0.2, 0.1), _rec([80, 81], [79, 80]), _den(16.0, 15.0), ("mean", "mean")),
    (_ori(0.2, 0.1), _rec([80, 79], [79, 80]), _den(16.0, 15.0), ("toolbox", "mean")),
    (_ori(0.2, 0.1), _rec([80, 81], [79, 80]), _den(15.0, 16.0), ("toolbox", "mean")),
    (_ori(0.2, 0.1), _rec([80, 81], [79, 80]), None, ("toolbox", "mean")),
    (_ori(0.2, 0.1), None, _den(16.0, 15.0), ("toolbox", "mean")),
    # the section 4.1 floor follows the orientation gap alone; a tie is not "ahead"
    (_ori(0.1, 0.2), _rec([80, 81], [79, 80]), _den(16.0, 15.0), ("toolbox", "toolbox")),
    (_ori(0.1, 0.1), _rec([80, 81], [79, 80]), _den(16.0, 15.0), ("toolbox", "toolbox")),
])
def test_decide_follows_the_stated_rules(ori, rec, den, expect):
    assert C.decide(ori, rec, den) == expect


@pytest.mark.slow
@pytest.mark.parametrize("script", ["contrast_choice", "contrast_floors"])
def test_the_scripts_outside_run_all_run_in_quick_mode(script, tmp_path):
    """run_all.py --quick (CI) does not run these two; a quick run here keeps them in
    step with the API (contrast_choice called denoise(n_threads=) after it became
    n_jobs=, and failed)."""
    import json
    import subprocess
    here = Path(__file__).resolve().parents[1] / "reproduce"
    subprocess.run([sys.executable, str(here / f"{script}.py"), "--quick", "--out",
                    str(tmp_path)], check=True, capture_output=True, text=True)
    d = json.loads((tmp_path / f"{script}.json").read_text())
    assert d["quick"] is True and d["rows"]
    if script == "contrast_choice":
        assert d["settings"]["choice"] in C.FLOORS
