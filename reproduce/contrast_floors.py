"""Diagnostic (not a paper item): the trade-off between contrast-normalisation floors.

``numbadn.preprocess.contrast_normalize`` divides each pixel by its local
standard deviation, floored at ``std_floor``.  A lower floor evens the local
contrast and whitens the spectrum more, but amplifies noise more.  This script
measures that on the built-in ``natural`` and ``city`` crops, per floor from 1
(the toolbox's colour path: nothing divided) down to 1/255 (its grey path,
numbadn's default ``'toolbox'``), each the mean over crops:

* *spread*: the coefficient of variation of the output's local std (Gaussian
  window of sigma 3; lower: contrast more even);
* *flatness*: the spectral flatness of the output's Hann-windowed power
  spectrum, DC left out (higher: whiter);
* *noise gain*: the relative change of the output before its final rescale
  when Gaussian noise of std 1/255 is added to the input (lower: more robust);
* *divided*: the fraction of pixels whose local std exceeds the floor.

The crops themselves get a row of spread and flatness.  Which floor the paper's
items favour is measured by ``contrast_choice.py``.  Writes
``figures/contrast_floors.json`` (``--quick``: ``figures/quick/``; the same
crops either way: it takes seconds).

Example::

    python reproduce/contrast_floors.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

#: The floors of the trade-off table: (label, std_floor, or a factor of the mean local std).
TRADEOFF_FLOORS = (("1 (toolbox colour)", 1.0), ("2 x mean local std", ("x mean", 2.0)),
                   ("0.05", 0.05), ("mean local std", "mean"), ("median local std", "median"),
                   ("0.5 x mean local std", ("x mean", 0.5)), ("0.01", 0.01),
                   ("1/255 (toolbox grey)", "toolbox"))


def local_std_spread(y, sigma=3.0):
    """Coefficient of variation of the local std of ``y`` (Gaussian window)."""
    from scipy import ndimage
    m = ndimage.gaussian_filter(y, sigma)
    ls = np.sqrt(np.maximum(ndimage.gaussian_filter(y * y, sigma) - m * m, 0.0))
    return float(ls.std() / ls.mean())


def spectral_flatness(y):
    """Geometric over arithmetic mean of the Hann-windowed power spectrum (DC left out)."""
    w = np.outer(np.hanning(y.shape[0]), np.hanning(y.shape[1]))
    p = np.abs(np.fft.fft2((y - y.mean()) * w)) ** 2
    p = p.ravel()[1:]
    p = p[p > 0]
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def floor_tradeoff(images, seed=0):
    """Rows of the trade-off table (see the module doc) over ``images`` (2-D, [0, 1])."""
    from numbadn.preprocess import contrast_normalize
    rng = np.random.default_rng(seed)
    rows = {}
    noise = [rng.normal(0.0, 1 / 255, x.shape) for x in images]
    for label, floor in TRADEOFF_FLOORS:
        sp, fl, ng, dv = [], [], [], []
        for x, e in zip(images, noise):
            f = floor
            if isinstance(floor, tuple):
                _, info = contrast_normalize(x, std_floor="mean", return_info=True)
                f = floor[1] * float(info.std_floor[0])
            y, i = contrast_normalize(x, std_floor=f, return_info=True)
            yn, j = contrast_normalize(np.clip(x + e, 0.0, 1.0), std_floor=f, return_info=True)
            v, vn = y * i.scale + i.offset, yn * j.scale + j.offset
            sp.append(local_std_spread(y))
            fl.append(spectral_flatness(y))
            ng.append(float(np.linalg.norm(vn - v) / np.linalg.norm(v)))
            dv.append(float((i.divisor > i.std_floor[0]).mean()))
        rows[label] = dict(spread=float(np.mean(sp)), flatness=float(np.mean(fl)),
                           noise_gain=float(np.mean(ng)), divided=float(np.mean(dv)))
    rows["the crops themselves"] = dict(
        spread=float(np.mean([local_std_spread(x) for x in images])),
        flatness=float(np.mean([spectral_flatness(x) for x in images])))
    return rows


def tradeoff_rows(rep, table):
    for label, r in table.items():
        what = label if label == "the crops themselves" else f"floor {label}"
        rep.row(f"{what}: spread / flatness / noise gain / divided",
                ours=" / ".join(f"{r[k]:.3f}" if k in r else "-"
                                for k in ("spread", "flatness", "noise_gain", "divided")))


def builtin_crops():
    """The built-in ``natural`` and ``city`` crops (grey, float64) and their description."""
    from numbadn.data import describe, load_images
    ims = [im for name in _common.SETS for im in load_images(name, dtype=np.float64)]
    return ims, "; ".join(describe(name) for name in _common.SETS)


def main(argv=None):
    args = _common.parser(__doc__).parse_args(argv)
    _common.set_threads(args)
    ims, desc = builtin_crops()
    print(f"crops: {desc}")
    rep = _common.Report("contrast_floors", "diagnostic: contrast normalisation floors")
    table = floor_tradeoff(ims, seed=args.seed)
    tradeoff_rows(rep, table)
    rep.setting(crops=len(ims), noise_std="1/255", spread_sigma=3.0)
    rep.finish(args, extra=dict(floors=table, crops=desc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
