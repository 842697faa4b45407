"""Fig. 4: 1st and 2nd layer filters of the patch-based approach of Mairal et al.

Paper (section 4.2, Fig. 4): a patch-based sparse decomposition (SPAMS, 100
dictionary elements) of the natural images gives first-layer filters like the
DN's; a second layer learned on "the sparse output vectors from each image
patch ... arranged into a map over the image" gives filters that are "larger
in scale than the 1st layer filters, ... generally Gabor-like and do not show
the diverse edge conjunctions present in our 2nd layer filters": "merely
larger versions of the 1st layer filters".

Protocol:

* training crops: those of the DN model (``_common.training_images``:
  contrast-normalised 96x96 natural crops);
* layer 1: 100 atoms on 7x7 patches (the paper does not give the patch size;
  7x7 like the DN filters), online dictionary learning with the lasso
  (SPAMS ``trainDL`` mode 2 when ``import spams`` works, else scikit-learn),
  weight ``1.2/sqrt(49)`` times the median patch norm (Mairal et al.'s value
  for unit-norm patches);
* layer 2: the lasso codes of every 7x7 window form 100 maps over the image;
  100 atoms on their 7x7x100 blocks, same relative weight; each layer-2 atom
  is projected to pixels through the layer-1 atoms (13x13, like the DN's
  layer-2 pixel filters);
* DN: ``net.pixel_filters(1)`` and ``(2)`` of the section 4.1 natural model;
* numbers: orientation coherence of every pixel-space element (structure
  tensor ``(l1 - l2)/(l1 + l2)`` of the whole element: 1 for a grating or
  straight edge, low for corners, junctions, blobs), its spatial extent
  (energy-weighted RMS radius), and how well it is an enlarged copy of one
  layer-1 element of the same model (best normalised correlation with a
  layer-1 element resized to 7, 9, 11 or 13 px and slid over it); a claim
  about two sets of elements is judged over the elements by a two-sided
  Mann-Whitney test at alpha 0.05: holds when significant in the paper's
  direction, does not hold when significant the other way, else not
  supported (``_stats``).

Examples::

    python reproduce/fig4_patch_filters.py --quick
    python reproduce/fig4_patch_filters.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _patches as PB  # noqa: E402
import _stats as S  # noqa: E402

#: Training patches (layer 1, layer 2) and dictionary-learning mini-batches.
FULL = dict(n_patches1=50000, n_patches2=20000, n_iter=500)
QUICK = dict(n_patches1=10000, n_patches2=3000, n_iter=100)


def element_stats(elements, layer1=None):
    """Per-element coherence, extent and (given ``layer1``) best match to an
    enlarged layer-1 element."""
    out = dict(coherence=np.array([PB.coherence(e) for e in elements]),
               extent=np.array([PB.spatial_extent(e) for e in elements]))
    if layer1 is not None:
        out["match"] = np.array([PB.best_match(e, layer1) for e in elements])
    return out


def plot(path, p1, p2, d1, d2, stats):
    from matplotlib.figure import Figure
    fig = Figure(figsize=(13, 8.4))
    gs = fig.add_gridspec(2, 3, width_ratios=[1, 1, 0.9], height_ratios=[1, 0.75])
    panels = [(gs[0, 0], PB.montage(p1, 10), "patch-based layer 1 (100 atoms, 7x7)"),
              (gs[0, 1], PB.montage(p2, 10), "patch-based layer 2 in pixels (13x13)"),
              (gs[1, 0], PB.montage(d1, 9), "DN layer 1 (9 filters, 7x7)"),
              (gs[1, 1], PB.montage(d2, 9), "DN layer 2 in pixels (45, 13x13)")]
    for spec, img, title in panels:
        ax = fig.add_subplot(spec)
        ax.imshow(img, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    ax = fig.add_subplot(gs[0, 2])
    bins = np.linspace(0, 1, 11)
    for key, lab, col in (("patch2", "patch layer 2", "tab:blue"),
                          ("dn2", "DN layer 2", "tab:green")):
        ax.hist(stats[key]["coherence"], bins=bins, density=True, histtype="step", lw=2,
                color=col, label=f"{lab} (median {np.median(stats[key]['coherence']):.2f})")
    ax.set_xlabel("orientation coherence (1: one orientation)")
    ax.set_ylabel("density")
    ax.legend(fontsize=9, loc="upper left")
    ax.set_title("single orientation vs conjunctions", fontsize=11)
    ax = fig.add_subplot(gs[1, 2])
    names = ["patch L1", "patch L2", "DN L1", "DN L2"]
    keys = ["patch1", "patch2", "dn1", "dn2"]
    x = np.arange(4)
    ax.bar(x - 0.2, [np.median(stats[k]["coherence"]) for k in keys], 0.4, label="coherence")
    ax.bar(x + 0.2, [np.median(stats[k]["match"]) if "match" in stats[k] else 0 for k in keys],
           0.4, label="L2: match to an enlarged L1 element")
    ax.set_xticks(x, names)
    ax.set_ylabel("median over elements")
    ax.legend(fontsize=9, loc="upper left")
    ax.set_ylim(0, 1.15)
    fig.suptitle("Fig. 4: patch-based (Mairal et al.) layer-1/2 elements vs the DN's, natural",
                 fontsize=13)
    fig.savefig(path, dpi=100)


def main(argv=None):
    args, method = PB.parse_args(__doc__, argv)
    out = _common.out_dir(args)
    rep = _common.Report("fig4_patch_filters", "Fig. 4")
    cfg = QUICK if args.quick else FULL
    ys, desc = _common.training_images(args, "natural")
    print(f"[natural] {desc}")
    t0 = time.perf_counter()
    hier = PB.PatchHierarchy(seed=args.seed, method=method, **cfg).fit(ys)
    t_fit = time.perf_counter() - t0
    print(f"patch hierarchy learned in {t_fit:.0f} s: layer 1 lasso weight {hier.alpha1_:.3g} "
          f"({hier.layer1_active_:.1f} active atoms per patch), layer 2 weight "
          f"{hier.alpha2_:.3g} ({hier.layer2_active_:.1f} active)")
    p1, p2 = hier.pixel_atoms(1), hier.pixel_atoms(2)
    net = _common.load_model(args, "natural")
    d1, d2 = net.pixel_filters(1)[:, 0], net.pixel_filters(2)[:, 0]
    stats = {"patch1": element_stats(p1), "patch2": element_stats(p2, p1),
             "dn1": element_stats(d1), "dn2": element_stats(d2, d1)}
    med = {k: {m: float(np.median(v)) for m, v in s.items()} for k, s in stats.items()}

    rep.setting(images=desc, method=method, n_atoms=PB.N_ATOMS, patch=PB.PATCH,
                alpha_rel=PB.ALPHA_REL, alpha1=hier.alpha1_, alpha2=hier.alpha2_,
                active1=hier.layer1_active_, active2=hier.layer2_active_, **cfg)
    rep.row("patch layer-1 atoms", paper="100", ours=len(p1))
    rep.row("patch size", paper="not given", ours=f"{PB.PATCH}x{PB.PATCH}")
    for k, lab in (("patch1", "patch L1"), ("patch2", "patch L2"), ("dn1", "DN L1"),
                   ("dn2", "DN L2")):
        rep.row(f"{lab}: median coherence", ours=med[k]["coherence"])
    for k, lab in (("patch1", "patch L1"), ("patch2", "patch L2"), ("dn1", "DN L1"),
                   ("dn2", "DN L2")):
        rep.row(f"{lab}: median extent (px)", ours=med[k]["extent"])
    rep.row("patch L2: match to enlarged patch L1", paper="'merely larger versions'",
            ours=med["patch2"]["match"])
    rep.row("DN L2: match to enlarged DN L1", paper="edge conjunctions", ours=med["dn2"]["match"])
    # over elements (filters), two-sided Mann-Whitney at alpha 0.05 (_stats)
    o = S.mann_whitney(stats["patch2"]["extent"], stats["patch1"]["extent"], units="elements",
                       what="extent, patch L2 vs patch L1,")
    rep.claim("patch-based layer-2 elements are larger in scale than layer 1 (spatial extent)",
              o.verdict, f"median extent {med['patch2']['extent']:.2f} vs "
              f"{med['patch1']['extent']:.2f} px", o.test)
    o = S.mann_whitney(stats["patch2"]["coherence"], stats["dn2"]["coherence"],
                       units="elements", what="orientation coherence, patch L2 vs DN L2,")
    rep.claim("patch-based layer-2 elements are more Gabor-like (one orientation) than the "
              "DN's layer-2 elements (orientation coherence)", o.verdict,
              f"median orientation coherence {med['patch2']['coherence']:.3f} vs "
              f"{med['dn2']['coherence']:.3f}", o.test)
    o = S.mann_whitney(stats["patch2"]["match"], stats["dn2"]["match"], units="elements",
                       what="best match to an enlarged L1 element, patch L2 vs DN L2,")
    rep.claim("patch-based layer-2 elements are closer to enlarged layer-1 elements than "
              "the DN's are (best match)", o.verdict,
              f"median best match {med['patch2']['match']:.3f} vs {med['dn2']['match']:.3f}; "
              "the patch layer 1 offers 100 candidates, the DN's 9", o.test)
    png = out / "fig4_patch_filters.png"
    plot(png, p1, p2, d1, d2, stats)
    rep.figure(png)
    rep.finish(args, extra={"medians": med, "fit_seconds": t_fit,
                            "per_element": {k: {m: v for m, v in s.items()}
                                            for k, s in stats.items()}})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
