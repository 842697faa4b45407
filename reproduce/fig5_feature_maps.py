"""Fig. 5: convolutional vs sliding-window patch-based feature maps of one crop.

Paper (section 4.2, Fig. 5): (a) a crop of a natural image; (b) its sparse
convolutional decomposition: "smoothly varying feature maps that preserve
spatial locality"; (c) the patch-based decomposition with a sliding window,
each column the sparse vector of one x-location of the window: "As the
sliding window moves the latent representation is highly unstable, changing
rapidly across edges."

Protocol:

* crops: held-out natural crops the DN model was not trained on
  (``_patches.held_out_images``), contrast-normalised 96x96;
* (b) layer-1 maps of the section 4.1 natural model at the paper's
  ``lambda = 1`` with the paper's continuation solver (and, as a second
  view, FISTA: the exact optimum of the same cost);
* (c) lasso codes (100 atoms, 7x7, ``_patches``; SPAMS when importable) of
  every window along one row of the crop (the row with the most edge energy);
* numbers, for a shift of the input by one pixel (``x`` = columns 0..94 of
  the crop, ``x'`` = columns 1..95, so nothing is invented at the border;
  7 rows and columns at each border left out):

  - shift change of the DN maps ``||z(x') - shift(z(x))|| / ||z(x)||``: how
    far the maps are from just moving with the image;
  - window change of the patch codes ``||c(j+1) - c(j)|| / ||c(j)||``: the
    codes of windows one pixel apart on the same image (the shift of the
    window; the patch codes' own shift change is 0 by construction and is
    printed as a check);
  - neighbour change of the DN maps, the same formula as the window change
    applied to the maps (adjacent x-locations): the like-for-like reading of
    "smoothly varying".

Each claim is judged over the crops, paired (the DN and the patch codes on the
same crop): Wilcoxon signed-rank test of the difference, two-sided, alpha 0.05
(``_stats``).

Examples::

    python reproduce/fig5_feature_maps.py --quick
    python reproduce/fig5_feature_maps.py
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _patches as PB  # noqa: E402
import _stats as S  # noqa: E402

#: 8 held-out crops: the fewest for which a two-sided paired test over crops
#: can reach p < 0.05 with room (Wilcoxon's smallest p for n crops is 2 / 2**n).
#: Quick mode (CI) keeps one crop: its verdicts are "not supported" (too few to test).
FULL = dict(n_crops=8, n_patches1=50000, n_iter=500)
QUICK = dict(n_crops=1, n_patches1=10000, n_iter=100)
#: Rows and columns left out at each border of the compared maps (one filter).
MARGIN = 7


def edge_row(y, size):
    """The row of ``y`` whose ``size``-tall band holds the most gradient energy."""
    gy, gx = np.gradient(np.asarray(y, np.float64))
    e = (gx * gx + gy * gy).sum(1)
    band = np.convolve(e, np.ones(size), mode="valid")
    return int(np.argmax(band[MARGIN:-MARGIN]) + MARGIN)


def measure(layer, hier, y, solver):
    """The three changes (DN shift, DN neighbour, patch window) and the patch shift check."""
    x, xs = y[:, :-1], y[:, 1:]
    z, zs = layer.infer(x, solver=solver), layer.infer(xs, solver=solver)
    c, cs = hier.maps(x), hier.maps(xs)
    return dict(dn_shift=PB.shift_change(z, zs, MARGIN),
                dn_neighbour=PB.window_change(z, MARGIN),
                patch_window=PB.window_change(c, MARGIN),
                patch_shift=PB.shift_change(c, cs, MARGIN),
                dn_rms=float(np.sqrt(np.mean((layer.reconstruct(z)[0] - x) ** 2))),
                patch_rms=float(np.sqrt(np.mean((hier.reconstruct(c) - x) ** 2))),
                patch_active=float((c != 0).sum(0).mean()))


def plot(path, y, z, c, row, size, title):
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle
    K = len(z)
    fig = Figure(figsize=(13, 9))
    gs = fig.add_gridspec(2, 2, height_ratios=[1.6, 1], hspace=0.25, top=0.92, bottom=0.07)
    ax = fig.add_subplot(gs[0, 0])
    ax.imshow(y, cmap="gray", interpolation="nearest")
    col = y.shape[1] // 2
    ax.add_patch(Rectangle((col - 0.5, row - 0.5), size, size, fill=False, ec="lime", lw=2))
    ax.axhline(row + size / 2 - 0.5, color="lime", lw=0.8, ls=":")
    ax.set_title("(a) held-out crop, window (green)", fontsize=10)
    ax.axis("off")
    m = np.abs(z).max() or 1.0
    ncol = int(np.ceil(np.sqrt(K)))
    sub = gs[0, 1].subgridspec(-(-K // ncol), ncol, wspace=0.05, hspace=0.15)
    for k in range(K):
        ax = fig.add_subplot(sub[k // ncol, k % ncol])
        ax.imshow(z[k], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
        ax.axis("off")
        if k == ncol // 2:
            ax.set_title("(b) DN layer-1 feature maps (one colour scale)", fontsize=10)
    ax = fig.add_subplot(gs[1, 0])
    strip = c[:, row, :]
    m = np.abs(strip).max() or 1.0
    ax.imshow(strip, cmap="RdBu_r", vmin=-m, vmax=m, aspect="auto", interpolation="nearest")
    ax.set_xlabel("x-location of the window")
    ax.set_ylabel("dictionary element")
    ax.set_title("(c) patch-based codes along the row (one column per window)", fontsize=10)
    ax = fig.add_subplot(gs[1, 1])
    off = size // 2 + (z.shape[1] - y.shape[0]) // 2   # map row of the window's centre
    dstrip = z[:, row + off, :]
    m = np.abs(dstrip).max() or 1.0
    ax.imshow(dstrip, cmap="RdBu_r", vmin=-m, vmax=m, aspect="auto", interpolation="nearest")
    ax.set_xlabel("x-location in the maps")
    ax.set_ylabel("DN feature map")
    ax.set_title("(d) DN maps along the same row, for comparison", fontsize=10)
    fig.suptitle(title, fontsize=12, y=0.985)
    fig.savefig(path, dpi=100)


def main(argv=None):
    args, method = PB.parse_args(__doc__, argv)
    out = _common.out_dir(args)
    cfg = QUICK if args.quick else FULL
    rep = _common.Report("fig5_feature_maps", "Fig. 5")
    net = _common.load_model(args, "natural")
    layer = net.layers[0]
    train, tdesc = _common.training_images(args, "natural")
    hier = PB.PatchHierarchy(seed=args.seed, method=method, n_patches1=cfg["n_patches1"],
                             n_iter=cfg["n_iter"]).fit_layer1(train)
    ys, desc, _ = PB.held_out_images(args, "natural", cfg["n_crops"], seed=args.seed)
    print(f"[natural] dictionary on: {tdesc}\n[natural] test: {desc}")
    res = {s: [measure(layer, hier, y, s) for y in ys] for s in ("continuation", "fista")}
    mean = {s: {k: float(np.mean([r[k] for r in v])) for k in v[0]} for s, v in res.items()}
    cont, fista = mean["continuation"], mean["fista"]

    rep.setting(images=desc, dictionary_images=tdesc, method=method, lam=layer.lam,
                margin=MARGIN, patch=PB.PATCH, n_atoms=PB.N_ATOMS, alpha1=hier.alpha1_,
                **cfg)
    rep.row("DN shift change (continuation)", paper="stable", ours=cont["dn_shift"])
    rep.row("DN shift change (FISTA)", paper="stable", ours=fista["dn_shift"])
    rep.row("patch window change", paper="'highly unstable'", ours=cont["patch_window"])
    rep.row("patch shift change (check: 0)", ours=cont["patch_shift"])
    rep.row("DN neighbour change (continuation)", paper="'smoothly varying'",
            ours=cont["dn_neighbour"])
    rep.row("DN neighbour change (FISTA)", paper="'smoothly varying'", ours=fista["dn_neighbour"])
    rep.row("DN RMS error (continuation / FISTA)", ours=[cont["dn_rms"], fista["dn_rms"]])
    rep.row("patch RMS error, active atoms/window", ours=[cont["patch_rms"],
                                                          cont["patch_active"]])
    for key, text in (("dn_shift", "as the input shifts one pixel the DN maps ({s}) change "
                                    "less than the patch codes of the shifted window"),
                      ("dn_neighbour", "the DN maps ({s}) vary more smoothly across x than "
                                        "the patch codes (same neighbour measure on both)")):
        for s, m in mean.items():
            wins = sum(r[key] < r["patch_window"] for r in res[s])
            o = (S.wilcoxon([r["patch_window"] for r in res[s]], [r[key] for r in res[s]],
                            units="crops", what="patch window change - DN "
                            + {"dn_shift": "shift", "dn_neighbour": "neighbour"}[key]
                            + " change")
                 if len(res[s]) >= 2 else S.too_few(len(res[s]), "crop(s)"))
            rep.claim(text.format(s=s), o.verdict,
                      f"mean {m[key]:.3f} vs {m['patch_window']:.3f}; lower on {wins} of "
                      f"{len(res[s])} crops", o.test)

    y = ys[0]
    row = edge_row(y, PB.PATCH)
    z = layer.infer(y)
    c = hier.maps(y)
    png = out / "fig5_feature_maps.png"
    plot(png, y, z, c, row, PB.PATCH,
         f"Fig. 5: DN (lambda={layer.lam:g}, continuation) vs patch-based codes "
         f"({method}), natural")
    rep.figure(png)
    rep.finish(args, extra={"mean": mean, "per_crop": res, "row": row})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
