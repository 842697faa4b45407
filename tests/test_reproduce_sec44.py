"""``reproduce/sec44_denoising.py``: its verdicts and its held-out test photographs.

The full run takes many minutes; these check the parts a reader must trust
without it: each claim's verdict follows the paired test over the test
photographs (three-valued), the pairs of each protocol measure what the
protocol says, and a photograph the model was trained on never becomes a
test photograph.
"""
import argparse

import numpy as np
import pytest

import _common
import sec44_denoising as s44
from numbadn.denoise import DEFAULT_PASSES, PAPER_SNR, raw_image
from numbadn.plot import snr_db


def _report(noisy, l1, l2, blur):
    rep = _common.Report("t", "t")
    per = {"noisy": np.asarray(noisy), "DN layer 1": np.asarray(l1),
           "DN layer 2": np.asarray(l2), "Gaussian blur": np.asarray(blur)}
    mean = {k: float(v.mean()) for k, v in per.items()}
    methods = {k: dict(param=1.0) for k in per if k != "noisy"}
    s44.report_protocol(rep, "raw", mean, per, methods, PAPER_SNR, len(noisy), DEFAULT_PASSES)
    return {c["claim"]: c["verdict"] for c in rep.claims}, rep


def test_verdicts_are_three_valued_from_the_paired_test():
    rng = np.random.default_rng(0)
    noisy = 14 + rng.normal(0, 0.3, 12)
    # layer 1: +3 dB on every photograph; layer 2: -1 dB on every one;
    # blur: layer 1 +-0.5 dB at random (no difference to find)
    l1 = noisy + 3 + rng.normal(0, 0.1, 12)
    l2 = noisy - 1 + rng.normal(0, 0.1, 12)
    blur = l1 + np.where(np.arange(12) % 2 == 0, 0.5, -0.5) + rng.normal(0, 0.05, 12)
    v, rep = _report(noisy, l1, l2, blur)
    assert v["[raw] layer 1 raises the SNR of the test photographs"] == "holds"
    assert v["[raw] layer 2 raises the SNR of the test photographs"] == "does not hold"
    assert v["[raw] layer 2 beats layer 1 (paper: 18.01 vs 16.31 dB)"] == "does not hold"
    assert v["[raw] layer 1 gains at least the paper's +2.47 dB"] == "holds"
    assert v["[raw] layer 2 gains at least the paper's +4.17 dB"] == "does not hold"
    assert v["[raw] layer 1 beats a tuned Gaussian blur"] == "not supported"
    assert all("Wilcoxon signed-rank" in c["test"] and "12 test photographs" in c["test"]
               for c in rep.claims)


def test_two_photographs_can_never_be_significant():
    v, _ = _report([14.0, 14.1], [20.0, 21.0], [10.0, 9.0], [15.0, 15.0])
    assert set(v.values()) == {"not supported"}


def test_pairs_of_each_protocol_measure_the_input_snr_it_states():
    rng = np.random.default_rng(1)
    from scipy import ndimage
    cleans = [raw_image(ndimage.gaussian_filter(rng.random((64, 64)), 1.5)) for _ in range(2)]
    for protocol in ("raw", "highpass"):
        pairs = s44.make_pairs(protocol, cleans, 13.84, np.random.default_rng(2))
        for clean, (target, noisy, to_target) in zip(cleans, pairs):
            got = s44.snr_of((target, noisy, to_target), noisy)
            assert got == snr_db(target, to_target(noisy))
            if protocol == "highpass":
                assert abs(got - 13.84) < 1e-3 and target.shape == (1, 60, 60)
            else:  # the clean raw image itself; noise set for 13.84 dB, then clipped
                assert np.array_equal(target, clean) and np.array_equal(to_target(noisy), noisy)
                assert 13.84 - 0.5 < got < 13.84 + 1.5


@pytest.mark.skipif(not _common.full_sets_available(), reason="needs Debian's opencv-doc")
def test_a_photograph_the_model_was_trained_on_is_no_test_photograph(capsys):
    args = argparse.Namespace(test_images=None, quick=False)
    names = [n for n, _ in s44.test_images(args, 32, "natural-full: baboon.jpg x3, camera x2")]
    assert "baboon.jpg" not in names and "skimage:camera" not in names
    assert "butterfly.jpg" in names
    assert "baboon.jpg dropped" in capsys.readouterr().out


@pytest.mark.skipif(not _common.full_sets_available(), reason="needs the photograph packages")
def test_validation_photographs_are_neither_trained_on_nor_test_photographs():
    import _denoising
    from numbadn.data import PHOTOGRAPHS
    files = {where.rsplit("/", 1)[-1] for _, where in _denoising.validation_photos()}
    trained = {rel.rsplit("/", 1)[-1] for s in ("natural", "city")
               for _, _, rel, _ in PHOTOGRAPHS[s]}
    tests = {n.split(":")[-1] for n in _denoising.TEST_PHOTOS}
    stems = {f.rsplit(".", 1)[0] for f in files}
    assert len(files) >= 4
    assert not files & trained
    assert not stems & {t.rsplit(".", 1)[0] for t in tests}
    args = argparse.Namespace(quick=False, images=None)
    crops, text = _denoising.validation_images(args, 64, 8)
    assert len(crops) == 8 and all(c.shape == (1, 64, 64) for c in crops)
    assert "never trained on" in text
    # two crops of one photograph are different places of it, not copies
    assert len({c.tobytes() for c in crops}) == 8


def test_spread_crops_are_evenly_spaced_along_the_longer_axis():
    import _denoising
    im = np.arange(40 * 100, dtype=np.float32).reshape(1, 40, 100)
    a, b, c = _denoising.spread_crops(im, 32, 3)
    assert a.shape == (1, 32, 32)
    np.testing.assert_array_equal(a, im[:, 4:36, 0:32])
    np.testing.assert_array_equal(b, im[:, 4:36, 34:66])
    np.testing.assert_array_equal(c, im[:, 4:36, 68:100])
    (m,) = _denoising.spread_crops(im.transpose(0, 2, 1), 32, 1)
    np.testing.assert_array_equal(m, im.transpose(0, 2, 1)[:, 34:66, 4:36])
