"""The pure functions of reproduce/fig1_tokens.py, fig2_architecture.py,
fig3_samples.py and fig7_fig8_filters.py against independent references."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

import _orientation as orient
import fig1_tokens as f1
import fig2_architecture as f2
import fig3_samples as f3
from numbadn import connectivity


def gabor(theta_deg, size=21, freq=0.2, sigma=None):
    """Lines at ``theta_deg`` anticlockwise from horizontal *as displayed*
    (row 0 at the top): written in row/column terms, independently of the
    code under test.  Along the lines, (d col, d row) = (cos t, -sin t)."""
    sigma = size / 5 if sigma is None else sigma
    row, col = np.mgrid[0:size, 0:size].astype(float)
    row -= (size - 1) / 2
    col -= (size - 1) / 2
    t = np.deg2rad(theta_deg)
    across = col * np.sin(t) + row * np.cos(t)     # constant along (cos t, -sin t)
    return np.cos(2 * np.pi * freq * across) * np.exp(-(row ** 2 + col ** 2) / (2 * sigma ** 2))


def circ_diff(a, b):
    d = np.abs(np.asarray(a) - np.asarray(b)) % 180.0
    return np.minimum(d, 180.0 - d)


# ------------------------------------------------------------ orientation measure
@pytest.mark.parametrize("theta", [0, 15, 30, 45, 60, 90, 110, 135, 160, 175])
@pytest.mark.parametrize("size", [7, 19])
def test_dominant_orientation_of_a_gabor_is_its_angle(theta, size):
    e = orient.angular_energy(gabor(theta, size, freq=0.25))
    dom, coh, _ = orient.harmonics(e)
    assert circ_diff(dom[0], theta) < 1.0
    assert coh[0] > 0.5


def test_dominant_orientation_agrees_with_skimage_structure_tensor():
    from skimage.feature import structure_tensor
    rng = np.random.default_rng(1)
    for theta in rng.uniform(0, 180, 12):
        img = gabor(theta, size=41, freq=0.12, sigma=7)
        Arr, Arc, Acc = structure_tensor(img, sigma=1.0, order="rc")
        # screen coordinates: gx = d/dcol, gy = -d/drow
        jxx, jyy, jxy = Acc.sum(), Arr.sum(), -Arc.sum()
        grad = np.rad2deg(0.5 * np.arctan2(2 * jxy, jxx - jyy))
        ref = (grad + 90.0) % 180.0
        dom = orient.harmonics(orient.angular_energy(img))[0][0]
        assert circ_diff(dom, ref) < 2.0
        assert circ_diff(dom, theta) < 2.0


def test_hv_fraction_of_isotropic_filters_is_one_third():
    row, col = np.mgrid[0:15, 0:15] - 7.0
    r2 = row ** 2 + col ** 2
    blob = np.exp(-r2 / 8.0)
    dog = np.exp(-r2 / 4.0) - 0.5 * np.exp(-r2 / 16.0)
    for f in (blob, dog):
        assert orient.hv_fraction(orient.angular_energy(f)) == pytest.approx(1 / 3, abs=0.01)
    noise = np.random.default_rng(0).standard_normal((400, 7, 7))
    assert orient.hv_fraction(orient.angular_energy(noise)) == pytest.approx(1 / 3, abs=0.02)
    assert orient.cardinal_bias(orient.angular_energy(noise)) == pytest.approx(0.0, abs=0.03)


def test_hv_mask_covers_a_third_of_the_orientations():
    assert orient.hv_mask().mean() == pytest.approx(1 / 3)
    a = orient.orientation_angles()
    ref = [min(x, 180 - x, abs(x - 90)) <= 15 for x in a]
    assert list(orient.hv_mask()) == ref


def test_hv_fraction_and_c4_of_cardinal_and_diagonal_gratings():
    hv = orient.angular_energy(np.stack([gabor(0, 31, 0.2), gabor(90, 31, 0.2)]))
    diag = orient.angular_energy(np.stack([gabor(45, 31, 0.2), gabor(135, 31, 0.2)]))
    assert orient.hv_fraction(hv) > 0.9
    assert orient.hv_fraction(diag) < 0.05
    assert orient.cardinal_bias(hv) > 0.8
    assert orient.cardinal_bias(diag) < -0.8


def test_hv_fraction_normalise_counts_each_filter_once():
    e = np.zeros((2, 90))
    e[0, 0] = 100.0    # horizontal, strong
    e[1, 22] = 1.0     # 44 degrees, weak
    assert orient.hv_fraction(e, normalise=True) == pytest.approx(0.5)
    assert orient.hv_fraction(e, normalise=False) == pytest.approx(100 / 101)


def test_hv_null_equals_rotating_each_profile_by_its_own_shift():
    rng = np.random.default_rng(3)
    e = rng.random((5, 90)) ** 4
    null = orient.hv_null(e, n_draws=50, seed=7)
    shifts = np.random.default_rng(7).integers(0, 90, size=(50, 5))
    for d in range(50):
        rolled = np.stack([np.roll(e[i], shifts[d, i]) for i in range(5)])
        assert null[d] == pytest.approx(orient.hv_fraction(rolled), abs=1e-12)


def test_hv_null_of_many_filters_centres_on_one_third():
    e = orient.angular_energy(np.stack([gabor(t, 15, 0.25) for t in range(0, 180, 20)]))
    null = orient.hv_null(e, n_draws=2000, seed=0)
    assert null.mean() == pytest.approx(1 / 3, abs=0.01)


def test_filter_labels_follow_the_grid_of_fig7():
    labels = orient.filter_labels(150, orient.grid_columns(150))
    assert labels[0] == "A1" and labels[14] == "A15" and labels[15] == "B1"
    assert labels[149] == "J15"
    assert orient.grid_columns(9) == 3 and orient.grid_columns(45) == 7


def test_per_source_splits_crops_in_the_described_order():
    desc = "x: 5 crops (a.jpg x2, b.png x3)"
    assert orient.per_source(desc, [1, 3, 10, 10, 40]) == {"a.jpg": 2.0, "b.png": 20.0}
    assert orient.per_source(desc, [1, 2]) == {}


def test_random_patches_come_from_the_images():
    ims = [np.arange(100.0).reshape(10, 10), 1000 + np.arange(100.0).reshape(10, 10)]
    p = orient.random_patches(ims, 20, 4, seed=0)
    for q in p:
        base = ims[0] if q[0, 0] < 1000 else ims[1]
        r, c = divmod(int(q[0, 0]) % 1000, 10)
        np.testing.assert_array_equal(q, base[r:r + 4, c:c + 4])
    assert np.all(orient.random_patches(ims, 5, 4, seed=0, which=1) >= 1000)


# ------------------------------------------------------------ tokens (fig. 1)
def bar(theta_deg, size=25, width=1.5):
    """A line through the centre at ``theta_deg`` (as displayed)."""
    row, col = np.mgrid[0:size, 0:size].astype(float) - (size - 1) / 2
    t = np.deg2rad(theta_deg)
    dist = np.abs(col * np.sin(t) + row * np.cos(t))
    along = np.abs(col * np.cos(t) - row * np.sin(t))
    return np.exp(-dist ** 2 / (2 * width ** 2)) * (along < size / 2 - 3)


def test_orientation_peaks_of_a_cross_finds_both_lines():
    e = orient.angular_energy(bar(20) + bar(80))
    t1, t2, s2, an = f1.orientation_peaks(e)
    found = sorted([t1[0], t2[0]])
    assert circ_diff(found[0], 20) < 4 and circ_diff(found[1], 80) < 4
    assert s2[0] > 0.6


def test_orientation_peaks_of_a_gabor_has_no_strong_second_orientation():
    e = orient.angular_energy(gabor(30, 25, 0.2))
    t1, t2, s2, an = f1.orientation_peaks(e)
    assert circ_diff(t1[0], 30) < 2
    assert s2[0] < 0.2
    assert an[0] > 5


def test_tokens_are_crosses_not_blobs_or_gratings():
    row, col = np.mgrid[0:25, 0:25] - 12.0
    blob = np.exp(-(row ** 2 + col ** 2) / 10.0)
    for f, want in ((blob, False), (gabor(30, 25, 0.2), False), (bar(0) + bar(60), True),
                    (bar(10) + bar(100), True)):
        t1, t2, s2, an = f1.orientation_peaks(orient.angular_energy(f))
        assert bool(f1.is_token(s2, an)[0]) is want


def test_select_ranks_by_s2_among_used_oriented_filters():
    s2 = np.array([0.9, 0.8, 0.7, 0.6, 0.95])
    an = np.array([5.0, 5.0, 1.0, 5.0, 5.0])
    freq = np.array([0.1, 0.3, 0.3, 0.2, 0.01])  # median 0.2: filter 4 unused
    idx, n_ok = f1.select(s2, an, freq, 2)
    assert list(idx) == [1, 3] and n_ok == 2


# ------------------------------------------------------------ connectivity (fig. 2)
def naive_counts(g):
    rows = [[c for c in range(g.shape[1]) if g[k, c]] for k in range(g.shape[0])]
    pairs = [tuple(r) for r in rows if len(r) == 2]
    return dict(singles=sum(len(r) == 1 for r in rows), pairs=len(pairs),
                distinct_pairs=len(set(pairs)), degrees=sorted(len(r) for r in rows),
                used=len({c for r in rows for c in r}), ones=sum(len(r) for r in rows))


@pytest.mark.parametrize("g", [connectivity.full(9, 1), connectivity.singles_and_pairs(9),
                               connectivity.random_pairs(150, 45, seed=2),
                               connectivity.random_pairs(40, 6, seed=0)])
def test_connectivity_counts_match_a_row_by_row_count(g):
    c = f2.connectivity_counts(g)
    ref = naive_counts(g)
    assert c["n_maps"] == g.shape[0] and c["n_inputs"] == g.shape[1]
    assert c["n_singles"] == ref["singles"] and c["n_pairs"] == ref["pairs"]
    assert c["distinct_pairs"] == ref["distinct_pairs"]
    assert c["inputs_used"] == ref["used"]
    assert c["fraction"] == pytest.approx(ref["ones"] / g.size)
    assert sum(c["inputs_per_map"].values()) == g.shape[0]
    assert sorted(d for d, n in c["inputs_per_map"].items() for _ in range(n)) == ref["degrees"]


def test_paper_checks_hold_for_the_papers_tables_and_fail_for_others():
    ok = [f2.connectivity_counts(connectivity.full(9, 1)),
          f2.connectivity_counts(connectivity.singles_and_pairs(9)),
          f2.connectivity_counts(connectivity.random_pairs(150, 45, seed=2))]
    assert all(h for _, h, _ in f2.paper_checks(ok))
    g2 = connectivity.singles_and_pairs(9).copy()
    g2[9 + 35] = False
    g2[9 + 35, [0, 1]] = True        # pair (0, 1) twice, (7, 8) missing
    assert not f2.connectivity_counts(g2)["all_pairs"]
    bad = [f2.connectivity_counts(connectivity.full(8, 1)), f2.connectivity_counts(g2),
           f2.connectivity_counts(connectivity.full(150, 45))]
    assert not any(h for _, h, _ in f2.paper_checks(bad))
    assert set(combinations(range(9), 2)) == {
        tuple(np.flatnonzero(r)) for r in connectivity.singles_and_pairs(9)[9:]}


# ------------------------------------------------------------ samples (fig. 3)
def test_effective_features():
    assert f3.effective_features(np.full(45, 0.02)) == pytest.approx(45)
    assert f3.effective_features([0.3, 0, 0]) == pytest.approx(1)
    p = np.array([0.5, 0.25, 0.25])
    assert f3.effective_features(p * 0.1) == pytest.approx(np.exp(-(p * np.log(p)).sum()))


def test_mean_frequency_of_a_cosine_is_its_frequency():
    x = np.arange(100)
    img = np.cos(2 * np.pi * 0.2 * x)[None, :] * np.ones((100, 1))
    assert f3.mean_frequency(img[None]) == pytest.approx(0.2)
    diag = np.cos(2 * np.pi * (0.1 * x[None, :] + 0.1 * x[:, None]))
    assert f3.mean_frequency(diag[None]) == pytest.approx(np.hypot(0.1, 0.1))
