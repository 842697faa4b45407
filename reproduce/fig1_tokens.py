"""Fig. 1(b): selected layer-3 filters in pixel space, the "tokens" of Marr's primal sketch.

Paper: Fig. 1(b) shows "selected filters from the 3rd layer of our
Deconvolutional Network", beside Marr's tokens (Fig. 2-4 of *Vision*: edge
junctions, corners, bars, parallel groupings); section 4.1 names layer-3
filters that are blobs, boxes, T-junctions and parallel or converging lines,
and the caption of Fig. 7 notes "their increasing complexity with each layer".
The paper picked its filters by eye; here a rule computed from the data picks
them.

The rule.  For every layer-3 filter of both models, projected to pixels
(``net.pixel_filters(3)``), take its orientation energy ``e(theta)``
(``_orientation.angular_energy``: 2-degree bins, structure at
``theta``), smooth it circularly (Gaussian, sigma 5 degrees) and find

* the anisotropy ``max e / mean e`` (1 for a blob or noise);
* the main orientation (the maximum) and the second orientation: the
  largest local maximum at least 30 degrees from the main one, with its
  strength ``s2 = e(second) / e(main)`` (0 when there is none).

A filter is *oriented* when its anisotropy is at least 1.5 (a blob has 1, a
cross of two thin lines about 1.6), and a *token* (two distinct orientations: a
corner, a junction, a cross, a box) when it is oriented and ``s2`` is at least
0.5.  The figure shows, per model, the 8 filters of highest ``s2`` among the
layer-3 filters that are oriented and used (firing frequency over the training
set at least the median of the layer, ``net.stats_``), labelled as in Fig. 7/8
(row letter, column number).  White noise is not structure, yet a random
filter's angular spectrum is lumpy: the share of 500 white-noise filters of
each size that pass as tokens is printed as the baseline the shares of the
learned filters should exceed.  The share of tokens among the filters of
layers 1, 2 and 3 tests the caption's "increasing complexity with each layer":
it holds when both steps (1 to 2, 2 to 3) rise significantly (Fisher's exact
test over filters, two-sided, each at alpha 0.025), does not hold when a step
falls significantly, and is not supported otherwise (``_stats``).  That the
figure has its 8 tokens to show is a count, checked exactly.

Examples::

    python reproduce/fig1_tokens.py --quick
    python reproduce/fig1_tokens.py                # the full models
    python reproduce/fig1_tokens.py --per-set 12
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _stats as S  # noqa: E402
from _orientation import (angular_energy, filter_labels, grid_columns,  # noqa: E402
                          orientation_angles, smooth_circular)

#: Smoothing of the orientation profile, in 2-degree bins (sigma 5 degrees).
SMOOTH_BINS = 2.5
#: Least angle between the two orientations of a token, degrees.
MIN_SEPARATION = 30.0
#: Least anisotropy ``max e / mean e`` of an oriented filter (a blob or a flat spectrum: 1).
MIN_ANISOTROPY = 1.5
#: White-noise filters drawn for the baseline.
N_NOISE = 500
#: Least ``s2`` for a token.
MIN_S2 = 0.5
#: Filters shown per model.
PER_SET = 8


def orientation_peaks(e, *, min_sep=MIN_SEPARATION, sigma_bins=SMOOTH_BINS):
    """Main and second orientation of each orientation profile.

    Parameters
    ----------
    e : array_like of shape (n, n_angles) or (n_angles,)
        Orientation energy over [0, 180) degrees (``angular_energy``).

    Returns
    -------
    theta1, theta2 : ndarray of shape (n,)
        Main and second orientation in degrees (``theta2`` is NaN where the
        smoothed profile has no local maximum ``min_sep`` or more from the main).
    s2 : ndarray of shape (n,)
        Second peak's height over the main one's (0 where there is none).
    anisotropy : ndarray of shape (n,)
        ``max / mean`` of the smoothed profile.
    """
    e = np.atleast_2d(np.asarray(e, dtype=np.float64))
    n, m = e.shape
    a = orientation_angles(m)
    p = smooth_circular(e, sigma_bins)
    i1 = p.argmax(axis=1)
    top = p[np.arange(n), i1]
    aniso = top / np.maximum(p.mean(axis=1), 1e-300)
    is_max = (p >= np.roll(p, 1, axis=1)) & (p > np.roll(p, -1, axis=1))
    d = np.abs(a[None, :] - a[i1][:, None])
    d = np.minimum(d, 180.0 - d)
    cand = np.where(is_max & (d >= min_sep), p, -np.inf)
    i2 = cand.argmax(axis=1)
    has = np.isfinite(cand[np.arange(n), i2])
    s2 = np.where(has, cand[np.arange(n), i2] / np.maximum(top, 1e-300), 0.0)
    theta2 = np.where(has, a[i2], np.nan)
    return a[i1], theta2, s2, aniso


def noise_token_share(h, w, *, n=N_NOISE, seed=0):
    """Share of ``n`` white-noise (h, w) filters that :func:`is_token` passes."""
    rng = np.random.default_rng(seed)
    t1, t2, s2, an = orientation_peaks(angular_energy(rng.standard_normal((n, h, w))))
    return float(is_token(s2, an).mean())


def is_token(s2, aniso, min_aniso=MIN_ANISOTROPY):
    """Oriented (anisotropy >= ``min_aniso``) with a second orientation of at
    least MIN_S2 of the main one (see the module doc)."""
    return (np.asarray(aniso) >= min_aniso) & (np.asarray(s2) >= MIN_S2)


def select(s2, aniso, freq, k, min_aniso=MIN_ANISOTROPY):
    """Indices of the ``k`` filters of highest ``s2`` among those with
    anisotropy >= ``min_aniso`` and firing frequency >= the median, and how
    many were eligible."""
    s2, aniso, freq = map(np.asarray, (s2, aniso, freq))
    ok = (aniso >= min_aniso) & (freq >= np.median(freq))
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(-s2[idx], kind="stable")]
    return order[:k], int(ok.sum())


def draw(picks, path):
    from matplotlib.figure import Figure
    sets = list(picks)
    n = max(len(v) for v in picks.values())
    fig = Figure(figsize=(1.5 * n + 0.9, 1.85 * len(sets) + 0.9), dpi=100)
    axes = fig.subplots(len(sets), n, squeeze=False)
    fig.subplots_adjust(left=0.8 / fig.get_figwidth(), right=0.99, bottom=0.02,
                        top=1 - 0.8 / fig.get_figheight(), wspace=0.08, hspace=0.35)
    for i, s in enumerate(sets):
        for j in range(n):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= len(picks[s]):
                ax.set_axis_off()
                continue
            p = picks[s][j]
            ax.imshow(p["filter"], cmap="gray", interpolation="nearest")
            ax.set_title(f"{p['label']}: {p['theta1']:.0f}/{p['theta2']:.0f} deg\n"
                         f"s2 {p['s2']:.2f}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{s} (Fig. {7 if s == 'natural' else 8})", fontsize=10)
    fig.suptitle("Fig. 1(b): layer-3 filters with two strong orientations (rule: used, "
                 f"anisotropy >= {MIN_ANISOTROPY},\nhighest second-orientation strength s2; "
                 "label: main/second orientation, 0 = horizontal)", fontsize=10)
    fig.savefig(path, dpi=100)


def main(argv=None):
    ap = _common.parser(__doc__)
    ap.add_argument("--per-set", type=int, default=PER_SET,
                    help=f"filters shown per model (default {PER_SET})")
    args = ap.parse_args(argv)
    _common.set_threads(args)
    out = _common.out_dir(args)
    rep = _common.Report("fig1_tokens", "Fig. 1(b)")
    rep.setting(smooth_deg=2 * SMOOTH_BINS, min_separation_deg=MIN_SEPARATION,
                min_anisotropy=MIN_ANISOTROPY, min_s2=MIN_S2, per_set=args.per_set)
    picks, extra, noise = {}, {}, {}
    for s in _common.SETS:
        net = _common.load_model(args, s)
        shares, counts, per_layer = [], [], []
        for li in range(1, net.trained_ + 1):
            pf = net.pixel_filters(li)[:, 0]
            if pf.shape[-2:] not in noise:
                noise[pf.shape[-2:]] = noise_token_share(*pf.shape[-2:], seed=args.seed)
            t1, t2, s2, an = orientation_peaks(angular_energy(pf))
            shares.append(float(is_token(s2, an).mean()))
            counts.append([int(is_token(s2, an).sum()), int(len(pf))])
            per_layer.append((pf, t1, t2, s2, an, noise[pf.shape[-2:]]))
        extra[s] = {"token_share_per_layer": shares, "tokens_of_filters_per_layer": counts,
                    "noise_token_share_per_layer": [p[5] for p in per_layer]}
        rep.row(f"{s}: share of token filters, layers 1..{len(shares)}",
                paper="rises with the layer", ours=[round(x, 3) for x in shares],
                note="white noise of the same sizes: " + ", ".join(
                    f"{p[5]:.2f}" for p in per_layer))
        if net.trained_ < 3:
            continue
        pf, t1, t2, s2, an, _ = per_layer[2]
        freq = net.stats_[2][0]
        idx, n_ok = select(s2, an, freq, args.per_set)
        labels = filter_labels(len(pf), grid_columns(len(pf)))
        picks[s] = [dict(label=labels[i], index=int(i), theta1=float(t1[i]), theta2=float(t2[i]),
                         s2=float(s2[i]), anisotropy=float(an[i]), firing=float(freq[i]),
                         filter=pf[i]) for i in idx]
        n_tok = int(is_token(s2, an).sum())
        extra[s].update(eligible=n_ok, chosen=[{k: v for k, v in p.items() if k != "filter"}
                                               for p in picks[s]], n_tokens_layer3=n_tok)
        rep.row(f"{s}: layer-3 filters eligible (used, oriented)", ours=n_ok,
                note=f"of {len(pf)} (anisotropy >= {MIN_ANISOTROPY}); "
                     f"tokens (s2 >= {MIN_S2}): {n_tok}")
        rep.row(f"{s}: chosen", ours=", ".join(
            f"{p['label']} ({p['theta1']:.0f}/{p['theta2']:.0f} deg, s2 {p['s2']:.2f})"
            for p in picks[s]))
    if picks:
        path = out / "fig1_tokens.png"
        draw(picks, path)
        rep.figure(path)
    for s in _common.SETS:
        cnt = extra[s]["tokens_of_filters_per_layer"]
        text = (f"Fig. 7 caption, {s}: filters grow more complex with each layer "
                "(proxy: the share with two distinct orientations rises, layer 1 < 2 < 3)")
        ev = ", ".join(f"layer {i + 1} {k}/{n} = {k / n:.3f}" for i, (k, n) in enumerate(cnt))
        if len(cnt) < 3:
            o = S.not_judged(f"the model has {len(cnt)} trained layers, not 3")
        else:
            # each step by Fisher's exact test over filters, at alpha/2 (two steps)
            o = S.combine([S.fisher(*cnt[i + 1], *cnt[i], alpha=S.ALPHA / 2,
                                    what=f"token shares, layer {i + 2} vs {i + 1},")
                           for i in range(2)], "layer 1 < 2 < 3:")
        rep.claim(text, o.verdict, ev, o.test)
        if s in picks:
            n_ok = sum(p["s2"] >= MIN_S2 for p in picks[s])
            o = S.exact(len(picks[s]) == args.per_set and n_ok == len(picks[s]),
                        f"exact count of the chosen filters with s2 >= {MIN_S2}")
            rep.claim(f"Fig. 1(b), {s}: there are {args.per_set} used layer-3 filters with two "
                      "distinct orientations (corners, junctions) to show", o.verdict,
                      f"{n_ok} of the {len(picks[s])} chosen have s2 >= {MIN_S2}", o.test)
    rep.finish(args, extra=extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
