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
