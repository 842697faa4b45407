"""Fig. 3: samples from layers 1-3 of the natural and the city model, projected to pixels.

Paper (section 4.1, Fig. 3): "Since our model is generative, we can sample
from it ... samples from the two different models from each level projected
down into pixel space.  The samples were drawn using the relative firing
frequencies of each feature from the training set."  Fig. 3 has rows of
samples per layer, fruit on top and city below.

Protocol: the models of ``reproduce/train_models.py`` (trained there if
missing); ``net.sample(layer, n, random_state=...)``: for each feature of the layer the
number of activations in a 100x100 sample is binomial with its firing
frequency over the training set, their values are drawn from its activation
histogram, the 100 largest in magnitude are kept (the authors' toolbox) and
projected down to pixels.  One figure, a row per (set, layer) as Fig. 3.

Numbers, all from the run: per layer the firing statistics the sampler uses
(mean frequency, the effective number of features ``exp(entropy)`` of the
relative frequencies, the activations drawn before the top-100 cut), and two
properties of the samples that Fig. 3 shows but the text does not state:

* ``hv``: the share of orientation energy within +-15 degrees of horizontal or
  vertical (``_orientation.angular_energy`` on 15x15 patches of the
  samples, energy-weighted; 1/3 for even orientations): city above natural;
* the mean spatial frequency ``sum r |Y(r)|^2 / sum |Y(r)|^2`` (cycle/pixel)
  of the samples: coarser structure (lower) at higher layers.

Both are tested over samples: 24 per (set, layer) (10 with ``--quick``; the
first ``--n`` are the ones shown), each sample's own ``hv`` (60 patches) and
mean frequency; Mann-Whitney tests, two-sided, Bonferroni over the layers or
steps of a claim, alpha 0.05 in all (``_stats``).

Examples::

    python reproduce/fig3_samples.py --quick
    python reproduce/fig3_samples.py               # the full models
    python reproduce/fig3_samples.py --n 8
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _stats as S  # noqa: E402
from _orientation import angular_energy, hv_fraction, random_patches  # noqa: E402

#: Samples per (set, layer) row.
N_SAMPLES = 6
#: Patches per row for the orientation measure.
N_PATCHES = 300
#: Samples per (set, layer) for the tests (the first ``--n`` are shown), quick / full.
N_TEST = {True: 10, False: 24}
#: Patches per sample for its own hv.
N_PATCHES_PER_SAMPLE = 60


def effective_features(freq):
    """``exp`` of the entropy of the relative firing frequencies (K when all fire
    equally often, 1 when one feature does all the firing)."""
    f = np.asarray(freq, dtype=np.float64)
    f = f[f > 0]
    if f.size == 0:
        return 0.0
    p = f / f.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def mean_frequency(imgs):
    """Power-weighted mean radial frequency (cycle/pixel) of (n, M, N) images,
    each with its mean removed (the DC term left out)."""
    imgs = np.asarray(imgs, dtype=np.float64)
    M, N = imgs.shape[-2:]
    fy = np.fft.fftfreq(M)[:, None]
    fx = np.fft.fftfreq(N)[None, :]
    r = np.hypot(fy, fx)
    P = np.abs(np.fft.fft2(imgs - imgs.mean(axis=(-2, -1), keepdims=True))) ** 2
    P = P.reshape(-1, M, N).sum(axis=0)
    return float((P * r).sum() / P.sum())


def draw(rows, path, n):
    from matplotlib.figure import Figure
    nr = len(rows)
    fig = Figure(figsize=(1.45 * n + 1.2, 1.45 * nr + 0.7), dpi=100)
    axes = fig.subplots(nr, n, squeeze=False)
    fig.subplots_adjust(left=1.0 / fig.get_figwidth(), right=0.99, bottom=0.02,
                        top=1 - 0.55 / fig.get_figheight(), wspace=0.04, hspace=0.06)
    for i, (label, imgs) in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(imgs[j], cmap="gray", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(label, fontsize=10)
    fig.suptitle("Fig. 3: samples from the natural (top) and city (bottom) models, layers 1-3, "
                 "projected to pixels", fontsize=11)
    fig.savefig(path, dpi=100)


def main(argv=None):
    ap = _common.parser(__doc__)
    ap.add_argument("--n", type=int, default=N_SAMPLES, help="samples per row (default 6)")
    args = ap.parse_args(argv)
    _common.set_threads(args)
    out = _common.out_dir(args)
    rep = _common.Report("fig3_samples", "Fig. 3")
    rep.setting(samples_per_row=args.n, size=100, seed=args.seed, patches=N_PATCHES)
    rows, res = [], {}
    for s in _common.SETS:
        net = _common.load_model(args, s)
        res[s] = []
        for li in range(1, net.trained_ + 1):
            n_all = max(args.n, N_TEST[bool(args.quick)])
            imgs = net.sample(li, n_all, random_state=args.seed + 100 * li)[:, 0]
            freq = net.stats_[li - 1][0]
            M = 100 + sum(net.layers[i].filters_.shape[2] - 1 for i in range(li))
            e = angular_energy(random_patches(list(imgs), N_PATCHES, 15, seed=args.seed))
            d = dict(layer=li, n_features=int(freq.size), mean_firing=float(freq.mean()),
                     effective_features=effective_features(freq),
                     drawn_per_sample=float(freq.clip(0, 1).sum() * M * M), kept=100,
                     hv=hv_fraction(e, normalise=False), mean_freq=mean_frequency(imgs),
                     n_samples=n_all,
                     hv_per_sample=[hv_fraction(angular_energy(random_patches(
                         list(imgs), N_PATCHES_PER_SAMPLE, 15, seed=args.seed + i, which=i)),
                         normalise=False) for i in range(n_all)],
                     mean_freq_per_sample=[mean_frequency(im[None]) for im in imgs])
            res[s].append(d)
            rows.append((f"{s}, layer {li}", imgs[:args.n]))
            rep.row(f"{s} layer {li}: effective / all features",
                    ours=f"{d['effective_features']:.1f} / {d['n_features']}",
                    note=f"mean firing frequency {d['mean_firing']:.4f}; "
                         f"{d['drawn_per_sample']:.0f} activations drawn, 100 kept")
            rep.row(f"{s} layer {li}: samples hv / mean freq",
                    ours=f"{d['hv']:.3f} / {d['mean_freq']:.3f}")
    path = out / "fig3_samples.png"
    draw(rows, path, args.n)
    rep.figure(path)
    L = min(len(res[s]) for s in _common.SETS)
    # per layer, city vs natural over samples (Mann-Whitney), each at alpha / L
    o = S.combine([S.mann_whitney(res["city"][i]["hv_per_sample"],
                                  res["natural"][i]["hv_per_sample"], alpha=S.ALPHA / L,
                                  units="samples", what=f"layer-{i + 1} hv, city vs natural,")
                   for i in range(L)], "every layer:")
    # gated, as fig7's natural-vs-city claims, on the photographs' control (_control.py)
    import _control
    srcs = {s: (s if args.quick and not args.images else _common.image_source(args, s))
            for s in _common.SETS}
    control = _control.control_outcome(_control.control(srcs, seed=args.seed))
    if control.verdict != "holds":
        o = S.not_judged(f"the control (city photographs more horizontal/vertical than "
                         f"natural) is {control.verdict}: {control.test}")
    rep.claim("(shown in Fig. 3, not stated) city samples are more horizontal/vertical "
              "than natural samples at every layer", o.verdict,
              "; ".join(f"layer {i + 1}: median city {np.median(res['city'][i]['hv_per_sample']):.3f}"
                        f" vs natural {np.median(res['natural'][i]['hv_per_sample']):.3f}"
                        for i in range(L)), o.test)
    for s in _common.SETS:
        mf = [d["mean_freq_per_sample"] for d in res[s]]
        if len(mf) < 2:
            o = S.not_judged("the model has one trained layer")
        else:  # each step l -> l+1 over samples (Mann-Whitney), at alpha / (L - 1)
            o = S.combine([S.mann_whitney(mf[i], mf[i + 1], alpha=S.ALPHA / (len(mf) - 1),
                                          units="samples",
                                          what=f"mean frequency, layer {i + 1} vs {i + 2},")
                           for i in range(len(mf) - 1)], "every step:")
        rep.claim(f"(shown in Fig. 3, not stated) {s}: higher layers give coarser samples "
                  "(mean spatial frequency falls with the layer)", o.verdict,
                  "medians " + ", ".join(f"layer {i + 1} {np.median(v):.3f}"
                                         for i, v in enumerate(mf)) + " cycle/px", o.test)
    rep.finish(args, extra=res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
