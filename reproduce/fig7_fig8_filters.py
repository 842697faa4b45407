"""Fig. 7 and 8: the filters of the two 3-layer models, and their orientations.

Paper (section 4.1, captions of Fig. 7 and 8): a 3-layer model trained on natural
scenes (Fig. 7) and one trained on city scenes (Fig. 8), filters shown per
layer in pixel space, rows lettered A-J and columns numbered 1-15.  "The first
layer in each model learns Gabor-style filters, although for the city images
they are not evenly distributed in orientation, preferring vertical and
horizontal structures"; Fig. 7: "the filters are evenly distributed over
orientation"; Fig. 8: "Note the predominance of horizontal and vertical
structures".

Protocol: the models of ``reproduce/train_models.py`` (trained there if
missing); ``net.pixel_filters(l)`` projects each layer-``l`` filter to pixels
(a single 1 in one map, reconstructed down through the layers).  One PNG per
set and layer (``fig7_natural_layer{1,2,3}.png``, ``fig8_city_layer{1,2,3}.png``)
and ``fig7_fig8_orientation.png``.

The orientation measure (``_orientation.angular_energy``).  Each pixel-space filter is
multiplied by a radial window (flat to half its radius, cosine taper to zero
at the edge centres + 1/2 pixel, so the square support adds no horizontal /
vertical leakage) and its Fourier transform is evaluated on a polar grid
(90 orientations in 2 degree steps x 32 radii in (0, 1/2] cycle/pixel, the
disc inside Nyquist).  The energy ``|F|^2 r dr`` at frequency direction
``theta + 90`` is the energy of structure (edges, bars, lines) *oriented at*
``theta``: ``e(theta)``, ``theta`` anticlockwise from horizontal as displayed.
An isotropic filter (a blob, white noise) has a flat ``e``.  From it:

* ``hv``: the fraction of the energy within +-15 degrees of horizontal or
  vertical (1/3 for evenly spread orientations), pooled over the filters of a
  layer, each filter normalised to unit energy (each filter counts once);
* ``c4``: the 4-fold (cardinal) harmonic ``sum e cos 4 theta / sum e``
  (+1 all horizontal/vertical, -1 all diagonal, 0 even);
* per filter, the dominant orientation ``arg(sum e exp(2 i theta)) / 2`` and
  the coherence ``|sum e exp(2 i theta)| / sum e`` (1 for one orientation, 0
  for none or several: the structure tensor's (l1 - l2) / (l1 + l2));
* a null distribution for ``hv`` under the hypothesis "orientation is
  uniform": every filter's ``e`` rotated by its own random angle (4000 draws),
  which keeps the filters' shapes and number, so the verdicts account for
  having only 9 layer-1 filters.

The control (``_control.py``, also printed by ``train_models.py`` before
training): are the city *photographs* more horizontal/vertical than the
natural ones?  Share of the gradient energy within 15 degrees of
horizontal/vertical, per photograph pooled over its crops, mean over
photographs, with a 95% percentile bootstrap interval per set that resamples
photographs (not crops); it holds when the city interval lies entirely above
the natural one.  The same share is shown for the held-out photographs.  The
15x15-patch measure of the filters applied to the training crops is kept as a
diagnostic row and plot.

Verdicts (``_stats``, alpha 0.05), over the filters of a layer, each with its
own ``hv`` (``_orientation.filter_hv``): natural is "evenly distributed" when the
bootstrap 90% interval of its mean per-filter ``hv`` lies inside 1/3 +- 0.1
(two one-sided tests), and not when the 95% interval excludes 1/3; city
"prefers horizontal and vertical" when its mean per-filter ``hv`` is
significantly above natural's and above 1/3 (bootstrap intervals of both, each at
alpha/2).  The city-vs-natural claims are *not judged* unless the control holds.
The rotation null (random rotations of each filter) is printed beside them.

Examples::

    python reproduce/fig7_fig8_filters.py --quick
    python reproduce/fig7_fig8_filters.py              # the full models
    python reproduce/fig7_fig8_filters.py --set city
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _stats as S  # noqa: E402
from _orientation import (HV_BAND, N_ANGLES, N_NULL, N_RADII, angular_energy,  # noqa: E402
                          cardinal_bias, filter_hv, filter_labels, grid_columns,
                          harmonics, hv_fraction, hv_null, orientation_angles, per_source,
                          random_patches, smooth_circular, unit_rows)

#: Side of the image patches of the data control.
PATCH = 15
#: Patches per set for the data control.
N_PATCHES = 400
FIG = {"natural": "fig7", "city": "fig8"}
#: "Evenly distributed": the mean per-filter hv within 1/3 +- this (an
#: orientation preference of under 30% over even), judged by TOST (``_stats``).
HV_MARGIN = 0.1


# ------------------------------------------------------------------ verdicts
def data_control(args, sets, extra, rep):
    """The control (``_control.py``) on the training photographs of both sets:
    a row per set (and per held-out set in full mode), its numbers in
    ``extra[set]["control"]``; returns an ``_stats.Outcome``: holds when the
    city 95% interval lies entirely above the natural one, does not hold when
    it lies entirely below, else not supported."""
    import _control
    srcs = {s: (s if args.quick and not args.images else _common.image_source(args, s))
            for s in sets}
    ctl = _control.control(srcs, seed=args.seed)
    for s in sets:
        c = ctl[s]
        units = "images" if c["per_image"] else "photographs"
        rep.row(f"{s} photographs: gradient energy within 15 deg of H/V",
                paper="city > natural" if s == "city" else None, ours=c["mean"],
                note=f"95% [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] over {c['n_photos']} {units} "
                     f"({c['n_crops']} crops); the control")
        extra[s]["control"] = dict(c)
    if not args.quick and not args.images and _common.full_sets_available():
        held = _control.control({s: f"{s}-heldout" for s in sets}, seed=args.seed)
        for s in sets:
            c = held[s]
            rep.row(f"{s} held-out photographs: same share", ours=c["mean"],
                    note=f"95% [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] over {c['n_photos']} "
                         "photographs never trained on")
            extra[s]["control_heldout"] = dict(c)
    return _control.control_outcome(ctl)


def city_outcome(hv, li, control):
    """City layer-``li`` filters more horizontal/vertical than natural's and than
    chance: both by bootstrap over filters at alpha/2; not judged unless the
    photographs' control holds."""
    if control.verdict != "holds":
        return S.not_judged(f"the control (city photographs more horizontal/vertical than "
                            f"natural) is {control.verdict}: {control.test}")
    c, f = np.asarray(hv["city"][li]), np.asarray(hv["natural"][li])
    return S.combine([S.bootstrap_diff(c, f, alpha=S.ALPHA / 2, units="filters",
                                       what="city - natural mean per-filter hv"),
                      S.bootstrap_diff(c - 1 / 3, alpha=S.ALPHA / 2, units="filters",
                                       what="city mean per-filter hv - 1/3")],
                     "city above natural and above chance:")


# ------------------------------------------------------------------ script
def layer_stats(e, seed):
    null = hv_null(e, seed=seed)
    dom, coh, _ = harmonics(e)
    return dict(hv=hv_fraction(e), c4=cardinal_bias(e), null_lo=float(np.quantile(null, 0.025)),
                null_hi=float(np.quantile(null, 0.975)), null_p95=float(np.quantile(null, 0.95)),
                null_mean=float(null.mean()), dominant=dom, coherence=coh)


def plot_orientation(stats, sets, n_layers, path, data_e=None):
    from matplotlib.figure import Figure
    colors = {"natural": "tab:green", "city": "tab:blue"}
    panels = n_layers + (1 if data_e else 0)
    fig = Figure(figsize=(4.2 * panels, 7.2), dpi=100)
    axes = fig.subplots(2, panels, squeeze=False)
    a = orientation_angles()
    for j in range(panels):
        ax = axes[0, j]
        if j < n_layers:
            title = f"layer {j + 1} filters (pixel space)"
            curves = {s: stats[s][j]["e"] for s in sets}
        else:
            title = f"control: {PATCH}x{PATCH} patches of the training images"
            curves = data_e
        for lo, hi in ((0, HV_BAND), (90 - HV_BAND, 90 + HV_BAND), (180 - HV_BAND, 180)):
            ax.axvspan(lo, hi, color="0.9", zorder=0)
        ax.axhline(1.0, color="0.5", ls="--", lw=1, label="even (uniform)")
        for s, e in curves.items():
            u = unit_rows(np.atleast_2d(e)).sum(axis=0)
            prof = smooth_circular(u / u.mean())
            hv = hv_fraction(e, normalise=j < n_layers)
            ax.plot(np.r_[a, 180.0], np.r_[prof, prof[0]], color=colors[s], lw=2,
                    label=f"{s}: hv = {hv:.2f}")
        ax.set_xlim(0, 180)
        ax.set_xticks([0, 45, 90, 135, 180])
        ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("orientation of structure (deg, 0 = horizontal)", fontsize=8)
        if j == 0:
            ax.set_ylabel("energy / mean (grey: +-15 deg of H/V)", fontsize=8)
        ax.legend(fontsize=8, loc="best", framealpha=0.9)
        # bottom row: per-filter dominant orientation vs coherence, and hv vs null
        ax = axes[1, j]
        if j < n_layers:
            for lo, hi in ((0, HV_BAND), (90 - HV_BAND, 90 + HV_BAND), (180 - HV_BAND, 180)):
                ax.axvspan(lo, hi, color="0.9", zorder=0)
            for s in sets:
                st = stats[s][j]
                ax.scatter(st["dominant"], st["coherence"], s=14 if j else 40,
                           color=colors[s], alpha=0.7 if j else 0.9, label=s)
            ax.set_xlim(0, 180)
            ax.set_xticks([0, 45, 90, 135, 180])
            ax.set_ylim(0, 1)
            ax.set_xlabel("dominant orientation of each filter (deg)", fontsize=8)
            if j == 0:
                ax.set_ylabel("coherence (1 = one orientation)", fontsize=8)
            ax.legend(fontsize=8)
        else:
            ax.set_axis_off()
            lines = ["hv (share within +-15 deg of H/V),", "null 95% interval (random rotations):", ""]
            for s in sets:
                for li in range(n_layers):
                    st = stats[s][li]
                    lines.append(f"{s} layer {li + 1}: {st['hv']:.3f}  "
                                 f"[{st['null_lo']:.3f}, {st['null_hi']:.3f}]")
            for s, e in (data_e or {}).items():
                lines.append(f"{s} image patches: {hv_fraction(e, normalise=False):.3f}")
            ax.text(0.0, 1.0, "\n".join(lines), va="top", family="monospace", fontsize=8,
                    transform=ax.transAxes)
    fig.suptitle("Orientation energy of the filters: natural (Fig. 7) vs city (Fig. 8); "
                 "uniform = 1, share within grey bands = 1/3", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    fig.savefig(path, dpi=100)


def main(argv=None):
    import numbadn.plot as nplot
    ap = _common.parser(__doc__)
    ap.add_argument("--set", default="both", choices=("natural", "city", "both"),
                    help="which model(s) (default both)")
    args = ap.parse_args(argv)
    _common.set_threads(args)
    out = _common.out_dir(args)
    sets = list(_common.SETS) if args.set == "both" else [args.set]
    rep = _common.Report("fig7_fig8_filters", "Fig. 7 and 8")
    rep.setting(orientation_bins=N_ANGLES, radii=N_RADII, hv_band_deg=HV_BAND,
                null_draws=N_NULL, window="radial cosine taper", patch=PATCH)
    stats, data_e, extra = {}, {}, {}
    for s in sets:
        net = _common.load_model(args, s)
        n_layers = net.trained_
        stats[s] = []
        extra[s] = {"model": net.meta.get("images", ""), "layers": []}
        for li in range(1, n_layers + 1):
            pf = net.pixel_filters(li)[:, 0]
            e = angular_energy(pf)
            st = layer_stats(e, seed=args.seed + li)
            st["e"] = e
            stats[s].append(st)
            ncols = grid_columns(len(pf))
            path = out / f"{FIG[s]}_{s}_layer{li}.png"
            nplot.filter_grid(pf, title=f"{FIG[s].replace('fig', 'Fig. ')}: {s} model, layer {li}"
                              f" ({len(pf)} filters, {pf.shape[-2]}x{pf.shape[-1]} px)",
                              path=path)
            rep.figure(path)
            labels = filter_labels(len(pf), ncols)
            extra[s]["layers"].append(dict(
                layer=li, n_filters=len(pf), size=list(pf.shape[-2:]), hv=st["hv"], c4=st["c4"],
                null_95=[st["null_lo"], st["null_hi"]],
                filters={lab: dict(dominant_deg=round(float(d), 1), coherence=round(float(c), 3))
                         for lab, d, c in zip(labels, st["dominant"], st["coherence"])}))
            rep.row(f"{s} layer {li}: hv share (+-15 deg)",
                    paper="city > 1/3, natural ~1/3" if li == 1 else None, ours=st["hv"],
                    note=f"null 95% [{st['null_lo']:.3f}, {st['null_hi']:.3f}], "
                         f"c4 {st['c4']:+.3f}")
        # data control
        ys, desc = _common.training_images(args, s)
        data_e[s] = angular_energy(random_patches(ys, N_PATCHES, PATCH, seed=args.seed))
        extra[s]["image_patches_hv"] = hv_fraction(data_e[s], normalise=False)
        extra[s]["image_patches_c4"] = float(harmonics(data_e[s].sum(axis=0))[2][0])
        rep.row(f"{s} image patches: hv share", ours=extra[s]["image_patches_hv"],
                note=f"control (energy-weighted), c4 {extra[s]['image_patches_c4']:+.3f}")
        # which crops carry it: hv of each crop (16 patches, coarse radial grid)
        crop_hv = np.array([hv_fraction(angular_energy(
            random_patches(ys, 16, PATCH, seed=args.seed + i, which=i), n_radii=8),
            normalise=False) for i in range(len(ys))])
        src = per_source(desc, crop_hv)
        extra[s]["crop_hv"] = crop_hv
        extra[s]["crop_hv_per_source"] = src
        rep.row(f"{s} crops with hv > 0.5", ours=float(np.mean(crop_hv > 0.5)),
                note="per source photograph: " + (", ".join(f"{k} {v:.2f}" for k, v in
                                                            src.items()) or "-"))
    n_layers = min(len(stats[s]) for s in sets)
    opath = out / "fig7_fig8_orientation.png"
    plot_orientation(stats, sets, n_layers, opath, data_e)
    rep.figure(opath)

    # verdicts (_stats): over filters (bootstrap of the mean per-filter hv), and
    # the city-vs-natural claims only where the photographs themselves differ so
    hv = {s: [filter_hv(st["e"]) for st in stats[s]] for s in sets}
    control = None
    if "natural" in stats and "city" in stats:
        control = data_control(args, sets, extra, rep)
    if "natural" in stats:
        f1 = stats["natural"][0]
        o = S.equivalent(hv["natural"][0], 1 / 3, HV_MARGIN, units="filters",
                         what="natural layer-1 mean per-filter hv")
        rep.claim("Fig. 7: natural layer-1 filters are evenly distributed over orientation",
                  o.verdict, f"hv {f1['hv']:.3f} vs uniform 1/3; central 95% of randomly "
                  f"rotated copies [{f1['null_lo']:.3f}, {f1['null_hi']:.3f}]", o.test)
    if "city" in stats:
        c1 = stats["city"][0]
        ev = (f"hv {c1['hv']:.3f}, 95th percentile of randomly rotated copies "
              f"{c1['null_p95']:.3f}")
        if "natural" in stats:
            f1 = stats["natural"][0]
            o = city_outcome(hv, 0, control)
            rep.claim("Fig. 8 / sec. 4.1: city layer-1 filters prefer horizontal and vertical "
                      "(more than natural's, and more than chance)", o.verdict,
                      ev + f"; natural {f1['hv']:.3f}", o.test)
            for li in range(1, n_layers):
                cs, fs = stats["city"][li], stats["natural"][li]
                o = city_outcome(hv, li, control)
                rep.claim(f"(also) city layer-{li + 1} pixel-space filters are more "
                          "horizontal/vertical than natural's", o.verdict,
                          f"city {cs['hv']:.3f} (95th pct of null {cs['null_p95']:.3f}) vs "
                          f"natural {fs['hv']:.3f}", o.test)
            cc, cn = extra["city"]["control"], extra["natural"]["control"]
            rep.claim("(control, not a paper claim) the city photographs are more horizontal/vertical "
                      "than the natural photographs", control.verdict,
                      f"gradient energy within 15 deg of H/V: city {cc['mean']:.3f} vs natural "
                      f"{cn['mean']:.3f}", control.test)
        else:
            o = S.bootstrap_diff(np.asarray(hv["city"][0]) - 1 / 3, units="filters",
                                 what="city layer-1 mean per-filter hv - 1/3")
            rep.claim("Fig. 8: city layer-1 filters prefer horizontal and vertical",
                      o.verdict, ev, o.test)
    rep.finish(args, extra=extra)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
