"""The data control of Fig. 7 / 8: are the city photographs more horizontal/vertical?

The paper's orientation claims (Fig. 7: natural-scene layer-1 filters "evenly
distributed over orientation"; Fig. 8: city filters prefer horizontal and
vertical) can only be judged on training sets whose *photographs* differ that
way.  This module measures it before any training:

* per pixel of a grey crop, the gradient of a Gaussian of sigma 1 px
  (``scipy.ndimage.gaussian_filter`` with ``order=1``: nearly isotropic, unlike
  a 2-tap difference, and blind to the 8x8 JPEG block grid below its scale),
  4 px trimmed at each border;
* its energy ``gx^2 + gy^2`` and orientation; the **share** of the energy
  within :data:`BAND` degrees of horizontal or vertical (1/3 for orientations
  spread evenly);
* per photograph, pooled over all its crops; per set, the mean over
  photographs (each photograph weighs the same);
* a 95% percentile bootstrap interval that resamples photographs, not crops
  (crops of one photograph are not independent).

The control holds when the city interval lies entirely above the natural one.
"""
from __future__ import annotations

import numpy as np

import _stats as S

#: Half-width of the horizontal / vertical bands, degrees (as ``_orientation.HV_BAND``).
BAND = 15.0
#: Scale of the Gaussian derivative, pixels.
SIGMA = 1.0
#: Bootstrap resamples of the photographs.
N_BOOT = 10000


def hv_share(crops, band=BAND, sigma=SIGMA):
    """Share of the gradient energy of ``crops`` (2-D arrays) within ``band``
    degrees of horizontal or vertical, pooled over the crops."""
    from scipy import ndimage
    t = int(np.ceil(4 * sigma))
    num = den = 0.0
    for c in crops:
        c = np.asarray(c, dtype=np.float64).reshape(c.shape[-2:])
        gx = ndimage.gaussian_filter(c, sigma, order=(0, 1))[t:-t, t:-t]
        gy = ndimage.gaussian_filter(c, sigma, order=(1, 0))[t:-t, t:-t]
        e = gx * gx + gy * gy
        th = np.degrees(np.arctan2(gy, gx)) % 90.0  # 0 and 90 both cardinal
        near = (th <= band) | (th >= 90.0 - band)
        num += float(e[near].sum())
        den += float(e.sum())
    return num / den if den > 0 else float("nan")


def set_control(photos, *, n_boot=N_BOOT, seed=0):
    """Control statistic of one set.

    Parameters
    ----------
    photos : dict of str to list of ndarray
        Photograph -> its crops (``numbadn.data.crops_by_photograph``).

    Returns
    -------
    dict
        ``per_photo`` (label -> share), ``mean`` (mean over photographs),
        ``ci`` (95% bootstrap interval over photographs), ``n_photos``,
        ``n_crops``.
    """
    per = {k: hv_share(v) for k, v in photos.items() if len(v)}
    vals = np.array(list(per.values()))
    rng = np.random.default_rng(seed)
    boot = vals[rng.integers(0, len(vals), size=(n_boot, len(vals)))].mean(axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return dict(per_photo=per, mean=float(vals.mean()), ci=(float(lo), float(hi)),
                n_photos=len(vals), n_crops=int(sum(len(v) for v in photos.values())))


def control(sources, *, seed=0):
    """``{set: set_control(...)}`` for ``sources`` = {set name: numbadn.data source}
    (a ``-full`` / ``-heldout`` source; anything else is treated as one
    photograph per image, which is said in the result as ``per_image``)."""
    from numbadn.data import crops_by_photograph, load_images
    out = {}
    for name, src in sources.items():
        try:
            photos = crops_by_photograph(src, dtype=np.float64)
            per_image = False
        except ValueError:
            ims = load_images(src, dtype=np.float64)
            photos = {str(i): [im] for i, im in enumerate(ims)}
            per_image = True
        out[name] = set_control(photos, seed=seed)
        out[name]["per_image"] = per_image
        out[name]["source"] = src if isinstance(src, str) else str(src)
    return out


def verdict(ctl, hi="city", lo="natural"):
    """True when the ``hi`` set's 95% interval lies entirely above the ``lo`` set's."""
    return ctl[hi]["ci"][0] > ctl[lo]["ci"][1]


def summary(ctl):
    """One line per set: mean share and interval."""
    return [f"{k}: hv share {v['mean']:.3f} [95% {v['ci'][0]:.3f}, {v['ci'][1]:.3f}] over "
            f"{v['n_photos']} {'images' if v.get('per_image') else 'photographs'} "
            f"({v['n_crops']} crops)" for k, v in ctl.items()]


def control_outcome(ctl):
    """``_stats.Outcome`` of the control from ``control``'s result."""
    n, c = ctl["natural"], ctl["city"]
    if verdict(ctl):
        outcome = "holds"
    elif c["ci"][1] < n["ci"][0]:
        outcome = "does not hold"
    else:
        outcome = "not supported"
    units = "images" if c.get("per_image") else "photographs"
    test = (f"share of gradient energy within {BAND:.0f} deg of H/V, mean over "
            f"{units}: city {c['mean']:.3f} [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] vs natural "
            f"{n['mean']:.3f} [{n['ci'][0]:.3f}, {n['ci'][1]:.3f}], 95% percentile bootstrap "
            f"intervals over {c['n_photos']} vs {n['n_photos']} {units} ({N_BOOT} "
            "resamples); holds when the intervals do not overlap")
    return S.Outcome(outcome, test, effect=c["mean"] - n["mean"])
