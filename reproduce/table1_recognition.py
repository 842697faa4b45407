"""Table 1: recognition with DN descriptors and spatial pyramid matching, beside dense SIFT.

The paper (section 4.3, footnotes 4-5): a 2-layer DN (8 layer-1 maps; 36
layer-2 maps on single layer-1 maps and every pair; p = 0.8, lambda_1 = 10,
lambda_2 = 1) learned on the natural and city images; dense descriptors from
the absolute activations (16x16 patches every 2 pixels, pooled by 4, 4x4
cells per layer-1 map = 128-D, 2x2 per layer-2 map = 144-D); k-means into
1000 words; a 3-level spatial pyramid; an SVM on the histogram-intersection
kernel; DN-(1+2) concatenates both layers' pyramids.  Caltech-101, 15 and 30
training images per class, 10 splits: DN-(1+2) 58.6% / 66.9%, dense SIFT
(Lazebnik et al.) 56.4% / 64.6%.

Protocol here (numbadn.recognition, numbadn.labelled):

* model: footnote 4's network trained (3 epochs) on every non-blank 100x100
  crop of the natural-full and city-full photographs (the stand-ins of the
  paper's natural and city sets; ``--images`` for your own), saved in
  ``<out>/models/table1.npz`` and reused when there;
* data: Caltech-101 cannot be had offline, so by default Fashion-MNIST
  (Debian's dataset-fashion-mnist, test file), 130 random images per class as
  the pool (Caltech's classes hold 31-800, median about 60), each 28x28 image
  upsampled 3x (bicubic) to 84x84 so that a 16x16 patch covers 19% of its
  side (Caltech at 150x150: 11%); ``--caltech DIR`` runs the real data set
  (150x150 grey, every class), ``--folder DIR`` any folder-per-class tree;
* splits: per class and split, a random permutation: the first 15 / 30
  images train, the next 50 after the first 30 test (the same test images
  for both training sizes); 10 splits;
* DN-(1+2) concatenates the pyramids of DN-1 and DN-2 (the same vocabularies);
* descriptors once per image (layer 2 with top-down inference) as the
  authors' toolbox builds them (``numbadn.recognition.DNDescriptors``
  defaults): each DN descriptor rescaled to [0, 1] and normalised as SIFT
  (``rescale_row_0_1.m``, ``sp_normalize_sift``, called by
  ``SPM/ConvDescriptors/GenerateConcatenatedDescriptors.m``), and four
  layer-2 descriptors per patch, 2x2 cells of 4x4 pixels (``make_descriptors.m``
  with gridSize [2 2] after pooling by 4); then per split and feature type:
  k-means (1000 words, Forgy initialisation, 30 Lloyd iterations at most) on
  at most 100,000 training descriptors, pyramid (1x1, 2x2, 4x4; Lazebnik's
  weights 1/4, 1/4, 1/2), SVC(C=10) on the precomputed intersection kernel;
* a diagnostic row beside the paper's (same splits, not in the paper):
  DN-(1+2) from the raw descriptors numbadn used before (pooled sums, one
  layer-2 descriptor of 2x2 cells of 8x8 pixels per patch);
* score: mean over classes of the per-class recognition rate (the Caltech
  convention), mean and standard deviation over the splits;
* verdicts: two-sided Wilcoxon signed-rank tests of the per-split accuracy
  differences (paired over the 10 splits) at level 0.05: "holds" if the
  claimed direction is significant, "does not hold" if the opposite is,
  "not supported" if neither.  "DN-(1+2) is the best DN feature" needs
  DN-(1+2) above both DN-1 and DN-2: two tests, each at 0.025 (Bonferroni).

``--quick``: 4 classes, 45 images each, 2 splits, 15 test images per class,
100 words, and the quick model (built-in crops, 1 epoch).

Example::

    python reproduce/table1_recognition.py --quick
    python reproduce/table1_recognition.py                   # Fashion-MNIST stand-in
    python reproduce/table1_recognition.py --caltech ~/data/101_ObjectCategories --cache /tmp/c101
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _stats  # noqa: E402

#: Table 1 (mean, std over 10 splits; Lazebnik's 15-image std is not given).
PAPER = {"dn-1": {15: (57.7, 1.0), 30: (65.8, 1.3)},
         "dn-2": {15: (57.0, 0.8), 30: (65.5, 1.0)},
         "dn-1+2": {15: (58.6, 0.7), 30: (66.9, 1.1)},
         "sift": {15: (56.4, None), 30: (64.6, 0.7)}}
LABELS = {"dn-1": "DN-1 (KM)", "dn-2": "DN-2 (KM)", "dn-1+2": "DN-(1+2) (KM)",
          "sift": "dense SIFT (Lazebnik et al.)"}
FEATURES = ("dn-1", "dn-2", "dn-1+2", "sift")
#: A diagnostic beside the paper's rows (same splits): DN-(1+2) from the raw descriptors
#: numbadn used before it followed the toolbox (no normalisation, one layer-2 descriptor of
#: 2x2 cells of 8x8 pixels per patch); it measures what the toolbox's descriptors change.
DIAGNOSTIC = "dn-1+2 raw"
RAW = dict(normalize="none", geometry="patch")
ALPHA = 0.05
FULL = dict(per_class=130, n_classes=None, n_splits=10, n_test=50, train_sizes=(15, 30),
            n_words=1000, epochs=3, C=10.0, max_descriptors=100_000)
QUICK = dict(per_class=45, n_classes=4, n_splits=2, n_test=15, train_sizes=(15, 30),
             n_words=100, epochs=1, C=10.0, max_descriptors=20_000)


# ------------------------------------------------------------------ model
def model_file(args):
    return _common.out_dir(args) / "models" / "table1.npz"


def get_model(args, cfg):
    """Footnote 4's network, trained on the natural and city crops unless saved
    (with the contrast normalisation that the descriptors use)."""
    import numbadn
    from numbadn.preprocess import DEFAULT_STD_FLOOR
    path = model_file(args)
    if path.exists():
        net = numbadn.DeconvNet.load(str(path))
        if net.meta.get("std_floor") == DEFAULT_STD_FLOOR:
            print(f"model: {path} ({net.meta.get('images', '')})")
            return net
        print(f"model: {path} was trained with std_floor={net.meta.get('std_floor')!r}, "
              f"the descriptors use {DEFAULT_STD_FLOOR!r}: training it again")
    from numbadn.data import describe, load_images
    from numbadn.recognition import DNDescriptors
    ims, desc = [], []
    for name in _common.SETS:
        src = name if args.quick and not args.images else _common.image_source(args, name)
        crop = None if src in (name, f"{name}-full") else (100, 100)
        got = load_images(src, crop=crop)
        if args.quick and not args.images:
            got = got[:8]
        ims += got
        desc.append(f"{describe(src)}" + (f" ({len(got)} used)" if args.quick else ""))
    print(f"model: training footnote 4's network on {len(ims)} crops, {cfg['epochs']} epoch(s)")
    t0 = time.perf_counter()
    dn = DNDescriptors(epochs=cfg["epochs"], verbose=True, random_state=args.seed).fit(ims)
    net = dn.model_
    net.meta.update(images="; ".join(desc), n_images=len(ims), epochs=cfg["epochs"],
                    train_seconds=time.perf_counter() - t0, quick=bool(args.quick),
                    trained_by="reproduce/table1_recognition.py")
    path.parent.mkdir(parents=True, exist_ok=True)
    net.save(str(path), overwrite=True)
    print(f"model: wrote {path} ({net.meta['train_seconds']:.0f} s)")
    return net


# ------------------------------------------------------------------- data
def get_data(args, cfg):
    from numbadn import labelled as L
    if args.caltech:
        data = L.load_caltech101(args.caltech)
        what = f"Caltech-101 at {args.caltech}: {len(data.class_names)} classes, 150x150 grey"
    elif args.folder:
        data = L.load_folder(args.folder, size=L.CALTECH_SIZE)
        what = f"folder {args.folder}: {len(data.class_names)} classes, 150x150 grey"
    else:
        data = L.load_fashion_mnist(per_class=cfg["per_class"], seed=args.seed)
        what = (f"Fashion-MNIST (Debian dataset-fashion-mnist, t10k), {cfg['per_class']} random "
                f"images per class, 28x28 upsampled 3x (bicubic) to {L.FASHION_SIZE}x"
                f"{L.FASHION_SIZE}")
    if cfg["n_classes"]:
        keep = np.flatnonzero(data.labels < cfg["n_classes"])
        data = data.subset(keep)._replace(class_names=data.class_names[:cfg["n_classes"]])
        what += f"; first {cfg['n_classes']} classes"
    return data, what


class Store:
    """Descriptors of each image, computed once: in memory, or as .npz files in ``cache``."""

    def __init__(self, data, extractors, cache=None):
        self.data, self.extractors, self.cache = data, extractors, cache
        self.mem = {}
        self.seconds = {}
        self.n_computed = 0
        if cache:
            Path(cache).mkdir(parents=True, exist_ok=True)

    def _path(self, i):
        return Path(self.cache) / f"{i:06d}.npz"

    def get(self, idx):
        from numbadn.recognition import ImageDescriptors
        missing = [i for i in idx if i not in self.mem
                   and not (self.cache and self._path(i).exists())]
        if missing:
            ims = [self.data.images[i] for i in missing]
            parts = []
            for name, ext in self.extractors.items():
                t0 = time.perf_counter()
                parts.append(ext.transform(ims))
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
                for k, v in getattr(ext, "timings_", {}).items():
                    self.seconds[f"{name}:{k}"] = self.seconds.get(f"{name}:{k}", 0.0) + v
            self.n_computed += len(missing)
            for j, i in enumerate(missing):
                d = parts[0][j]
                for p in parts[1:]:
                    d = d.merge(p[j])
                if self.cache:
                    tmp = self._path(i).with_suffix(".tmp.npz")
                    np.savez(tmp, **d.to_arrays())
                    tmp.replace(self._path(i))
                else:
                    self.mem[i] = d
        out = []
        for i in idx:
            if i in self.mem:
                out.append(self.mem[i])
            else:
                with np.load(self._path(i)) as z:
                    out.append(ImageDescriptors.from_arrays(dict(z)))
        return out


# --------------------------------------------------------------- verdicts
def claims(acc, results, n):
    """Table 1's claims at ``n`` training images per class: (text, verdict, evidence,
    test), from paired two-sided Wilcoxon signed-rank tests over the splits."""
    out = []
    a, b = np.array(acc["dn-1+2"][n]), np.array(acc["sift"][n])
    o = _stats.wilcoxon(a, b, alpha=ALPHA, units="splits",
                        what="DN-(1+2) minus dense SIFT accuracy")
    d = a - b
    out.append((f"DN-(1+2) beats dense SIFT with {n} training images per class", o.verdict,
                f"{results['dn-1+2'][n]['mean']:.1f}% vs {results['sift'][n]['mean']:.1f}%: "
                f"{d.mean():+.1f} points (paper "
                f"{PAPER['dn-1+2'][n][0] - PAPER['sift'][n][0]:+.1f}), DN-(1+2) ahead on "
                f"{(d > 0).sum()} of {d.size} splits", o.test))
    outs = [_stats.wilcoxon(a, np.array(acc[f][n]), alpha=ALPHA / 2, units="splits",
                            what=f"DN-(1+2) minus {f.upper()} accuracy")
            for f in ("dn-1", "dn-2")]
    vs = [x.verdict for x in outs]
    verdict = ("holds" if vs == ["holds", "holds"] else
               "does not hold" if "does not hold" in vs else "not supported")
    out.append((f"concatenating both layers' pyramids is the best DN feature ({n} per class)",
                verdict, ", ".join(f"{f} {results[f][n]['mean']:.1f}%"
                                   for f in ("dn-1", "dn-2", "dn-1+2")),
                "holds if both tests favour DN-(1+2), does not hold if either favours the "
                "other feature (Bonferroni, 2 tests): " + "; ".join(x.test for x in outs)))
    return out


# ------------------------------------------------------------------- plot
def plot(path, results, sizes, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(sizes), figsize=(5.2 * len(sizes), 3.8), sharey=True)
    axes = np.atleast_1d(axes)
    x = np.arange(len(FEATURES))
    for ax, n in zip(axes, sizes):
        ours = [results[f][n] for f in FEATURES]
        pap = [PAPER[f][n] for f in FEATURES]
        ax.bar(x - 0.2, [p[0] for p in pap], 0.4, yerr=[p[1] or 0 for p in pap],
               color="#bbbbbb", label="paper (Caltech-101)", capsize=3)
        ax.bar(x + 0.2, [o["mean"] for o in ours], 0.4, yerr=[o["std"] for o in ours],
               color=["#d62728", "#2ca02c", "#1f77b4", "#7f7f7f"], label="numbadn (this run)",
               capsize=3)
        for xi, o in zip(x, ours):
            ax.text(xi + 0.2, o["mean"] + o["std"] + 0.5, f"{o['mean']:.1f}", ha="center",
                    fontsize=8)
        ax.set_xticks(x)
        ax.set_xticklabels(["DN-1", "DN-2", "DN-(1+2)", "SIFT"])
        ax.set_title(f"{n} training images per class")
        ax.set_ylabel("mean per-class accuracy (%)")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------- main
def main(argv=None):
    ap = _common.parser(__doc__)
    ap.add_argument("--caltech", default=None, help="Caltech-101 folder (101_ObjectCategories)")
    ap.add_argument("--folder", default=None, help="any folder-per-class tree of photographs")
    ap.add_argument("--cache", default=None,
                    help="keep descriptors as .npz files here instead of in memory "
                         "(bounded memory for Caltech-101)")
    ap.add_argument("--splits", type=int, default=None, help="number of splits (default 10)")
    args = ap.parse_args(argv)
    cfg = dict(QUICK if args.quick else FULL)
    if args.splits:
        cfg["n_splits"] = args.splits
    _common.set_threads(args)
    from numbadn import labelled as L
    from sklearn.svm import SVC

    from numbadn.recognition import (DenseSIFT, DNDescriptors, SPMClassifier,
                                     intersection_kernel)

    rep = _common.Report("table1_recognition", "Table 1")
    net = get_model(args, cfg)
    data, what = get_data(args, cfg)
    sizes = cfg["train_sizes"]
    sp = {n: L.splits(data.labels, n, n_test=cfg["n_test"], n_splits=cfg["n_splits"],
                      seed=args.seed, reserve=max(sizes)) for n in sizes}
    used = np.unique(np.concatenate([np.concatenate(s) for s in sp[max(sizes)]]))
    print(f"data: {what}; {len(data.class_names)} classes, {len(used)} images used over "
          f"{cfg['n_splits']} splits")
    store = Store(data, {"dn": DNDescriptors(model=net, verbose=True).fit(),
                         "sift": DenseSIFT(verbose=True).fit()}, cache=args.cache)
    t0 = time.perf_counter()
    store.get(list(used))
    t_desc = time.perf_counter() - t0
    ips = store.n_computed / max(store.seconds.get("dn", 1e-9), 1e-9)
    print(f"descriptors: {store.n_computed} images, DN {store.seconds.get('dn', 0):.0f} s "
          f"({ips:.1f} images/s), SIFT {store.seconds.get('sift', 0):.0f} s")

    acc = {f: {n: [] for n in sizes} for f in FEATURES + (DIAGNOSTIC,)}
    stage = {}
    for s in range(cfg["n_splits"]):
        for n in sizes:
            tr, te = sp[n][s]
            Dtr, Dte = store.get(list(tr)), store.get(list(te))
            pyr = {}
            for f in FEATURES + (DIAGNOSTIC,):
                if f == "dn-1+2":
                    # the concatenated pyramids of DN-1 and DN-2 (their very vocabularies):
                    # what SPMClassifier("dn-1+2", vocabularies=...) computes, without
                    # quantising every descriptor a second time
                    t0 = time.perf_counter()
                    Htr = np.hstack([pyr["dn-1"][0], pyr["dn-2"][0]])
                    Hte = np.hstack([pyr["dn-1"][1], pyr["dn-2"][1]])
                    svc = SVC(kernel="precomputed", C=cfg["C"]).fit(intersection_kernel(Htr),
                                                                   data.labels[tr])
                    pred = svc.predict(intersection_kernel(Hte, Htr))
                    stage["svm"] = stage.get("svm", 0.0) + time.perf_counter() - t0
                    acc[f][n].append(100 * _stats.per_class_accuracy(data.labels[te], pred))
                    continue
                clf = SPMClassifier(f.split()[0], n_words=cfg["n_words"], C=cfg["C"],
                                    max_descriptors=cfg["max_descriptors"],
                                    random_state=args.seed * 1000 + s)
                xtr, xte = Dtr, Dte
                if f == DIAGNOSTIC:
                    xtr = [d.with_options(**RAW) for d in Dtr]
                    xte = [d.with_options(**RAW) for d in Dte]
                clf.fit(xtr, data.labels[tr])
                Hte = clf.pyramids(xte)
                pyr[f] = (clf.train_pyramids_, Hte)
                pred = clf.svc_.predict(intersection_kernel(Hte, clf.train_pyramids_))
                acc[f][n].append(100 * _stats.per_class_accuracy(data.labels[te], pred))
                for k, v in clf.timings_.items():
                    stage[k] = stage.get(k, 0.0) + v
            print(f"split {s + 1}/{cfg['n_splits']}, {n} training images per class: "
                  + ", ".join(f"{f} {acc[f][n][-1]:.1f}%" for f in acc), flush=True)
    results = {f: {n: dict(mean=float(np.mean(acc[f][n])), std=float(np.std(acc[f][n])),
                           splits=acc[f][n]) for n in sizes} for f in acc}

    for f in FEATURES:
        for n in sizes:
            p = PAPER[f][n]
            rep.row(f"{LABELS[f]}, {n} train/class",
                    paper=f"{p[0]:.1f}" + (f" +- {p[1]:.1f}" if p[1] else "") + "%",
                    ours=f"{results[f][n]['mean']:.1f} +- {results[f][n]['std']:.1f}%")
    for n in sizes:
        r = results[DIAGNOSTIC][n]
        rep.row(f"diagnostic: DN-(1+2), raw descriptors (numbadn before), {n} train/class",
                paper=None, ours=f"{r['mean']:.1f} +- {r['std']:.1f}%",
                note="not in the paper: unnormalised, one layer-2 descriptor per patch")
    for n in sizes:
        for text, verdict, evidence, test in claims(acc, results, n):
            rep.claim(text, verdict, evidence, test)
    total = t_desc + sum(stage.values())
    dn_t = store.seconds.get("dn", 0.0)
    inf, pool = store.seconds.get("dn:inference", 0.0), store.seconds.get("dn:pooling", 0.0)
    shares = {"DN descriptors: inference": dn_t * inf / max(inf + pool, 1e-9),
              "DN descriptors: pooling": dn_t * pool / max(inf + pool, 1e-9),
              "dense SIFT": store.seconds.get("sift", 0.0),
              "k-means": stage.get("kmeans", 0.0), "quantisation + pyramids":
              stage.get("quantize", 0.0), "intersection kernel": stage.get("kernel", 0.0),
              "SVM": stage.get("svm", 0.0)}
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    held = sum(d.nbytes() for d in store.mem.values()) / 2 ** 20
    print(f"memory: peak {peak:.0f} MiB; descriptors held {held:.0f} MiB "
          f"({'in memory' if not args.cache else 'in ' + args.cache})")
    print("time: " + ", ".join(f"{k} {v:.0f} s ({100 * v / total:.0f}%)"
                               for k, v in shares.items()))
    rep.setting(data=what, model=net.meta.get("images", ""), splits=cfg["n_splits"],
                descriptors="the toolbox's: rescale_row_0_1 + sp_normalize_sift, four 2x2-cell "
                            "layer-2 descriptors per patch",
                contrast=f"std_floor={net.meta.get('std_floor')!r}",
                n_test=cfg["n_test"], n_words=cfg["n_words"], levels=3, C=cfg["C"],
                max_descriptors=cfg["max_descriptors"], top_down=True,
                score="mean per-class accuracy over the test images, mean +- std over splits")
    out = _common.out_dir(args)
    fig = out / "table1_recognition.png"
    short = ("Caltech-101" if args.caltech else f"folder {args.folder}" if args.folder
             else "Fashion-MNIST stand-in")
    plot(fig, results, sizes, f"Table 1: paper (Caltech-101) vs numbadn ({short}, "
                              f"{cfg['n_splits']} splits)")
    rep.figure(fig)
    rep.finish(args, extra=dict(results=results, paper=PAPER, data=what,
                                classes=data.class_names,
                                descriptors=dict(images=store.n_computed, images_per_second=ips,
                                                 seconds=store.seconds, held_mib=held),
                                peak_memory_mib=peak,
                                time_seconds=shares, total_seconds=total))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
