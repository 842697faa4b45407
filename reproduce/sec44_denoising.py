"""Section 4.4: denoising with a 2-layer model (13.84 dB -> 16.31 dB -> 18.01 dB).

Protocols (the authors' toolbox where the paper is silent; :mod:`numbadn.denoise`;
the paper does not say which of the toolbox's two it used, so both are run):

``raw`` (``CONTRAST_NORMALIZE=0`` in ``recon.m``)
    test images raw: grey, mean removed, rescaled to [-1, 1]; white Gaussian
    noise for an input SNR of 13.84 dB, clipped to the clean range; the z0
    low-frequency maps on at layer 1 (section 3.3); reconstruction F1 z1 +
    f0 * z0 (layer 2: bottom-up, then top-down eqs. 10-11, eq. 12 + f0 * z0)
    against the clean raw image;
``highpass`` (``CONTRAST_NORMALIZE=1``)
    the same noise model on the raw image, then clean and noisy image both
    contrast-normalised (``numbadn.preprocess.contrast_normalize``, as the
    training crops), z0 off, the SNR measured on the contrast-normalised images
    (one scale: ``numbadn.denoise.highpass_pair``), the noise set so that this
    input SNR is 13.84 dB.

Shared by both:

* model: the natural model of section 4.1 (``reproduce/train_models.py``),
  filters learned on contrast-normalised crops;
* test images: grey centre crops of photographs never used for training
  (:data:`TEST_PHOTOS`: OpenCV samples and scikit-image's public-domain / CC0
  ones; any whose name the model's training description mentions is dropped);
* SNR = 10 log10(var(clean) / mse), the toolbox's ``compute_snr.m``;
* inference passes: the toolbox's warm-started passes in reconstruction mode
  (``maxepochs`` 7 at layer 1, 1 above, ``numbadn.denoise.DEFAULT_PASSES``) and,
  for comparison, a single pass (full mode);
* the paper's solver (continuation, 7 betas, 2 CG steps each), and FISTA run
  towards the optimum of the same cost (full mode, one pass) to see whether
  the solver explains a difference;
* lambda per layer, the Gaussian blur's sigma and the total-variation weight
  (scikit-image, optional) are each tuned per protocol and pass count on
  validation photographs (best mean SNR over a grid): 8 crops, two each, of the
  natural-heldout photographs that are not test photographs (robin, lake, tree,
  chelsea: never trained on, read at their own resolution like the test
  photographs; ``_denoising.validation_photos``), or crops of the training
  photographs where those are not installed; never on the test images, and
  then applied unchanged to the test images;
* verdicts: a two-sided Wilcoxon signed-rank test over the test photographs
  (paired SNRs), alpha 0.05 (``_stats.wilcoxon``): *holds* / *does not hold*
  when the difference is significant in / against the paper's direction, *not
  supported* otherwise.  With n photographs no two-sided p below 2 / 2^n is
  possible (the settings print it): with 2 (``--quick``) nothing can be
  significant.

Writes ``sec44_denoising.json`` (every SNR, the tuning grids) and
``sec44_denoising.png`` (clean / noisy / blur / TV / layer 1 / layer 2 for each
protocol).

Examples::

    python reproduce/sec44_denoising.py            # full: both protocols, passes, solvers
    python reproduce/sec44_denoising.py --quick    # 2 photographs, toolbox passes, continuation
    python reproduce/sec44_denoising.py --protocol highpass --test-images my_photos/
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402
import _stats  # noqa: E402
from _denoising import (TEST_PHOTOS, centre_crop, make_pairs, snr_of,  # noqa: E402,F401
                        test_images, tune, validation_images)

#: Tuning grids per protocol: lambda, the blur's sigma, the TV weight.  On
#: high-passed images the noise is most of the fine detail, so the best
#: settings lie towards weak smoothing / a heavy data term.
LAM_GRID = {"raw": (2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0),
            "highpass": (20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, 2560.0, 5120.0,
                         10240.0)}
LAM_GRID_QUICK = {"raw": (10.0, 40.0, 160.0), "highpass": (40.0, 160.0, 640.0)}
BLUR_GRID = {"raw": (0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.25, 1.5),
             "highpass": (0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7)}
TV_GRID = {"raw": (0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2),
           "highpass": (0.001, 0.002, 0.0035, 0.005, 0.0075, 0.01, 0.015, 0.02)}
#: Test photographs shown per protocol in the figure.
FIG_ROWS = 4
#: The paper's SNR gains (dB) over the 13.84 dB input.
PAPER_GAIN = {1: 16.31 - 13.84, 2: 18.01 - 13.84}


def blur(noisy, s):
    return ndimage.gaussian_filter(noisy, (0, s, s))


def tv(noisy, w):
    from skimage.restoration import denoise_tv_chambolle
    return denoise_tv_chambolle(noisy[0], weight=w)[None].astype(noisy.dtype)


def have_tv():
    try:
        import skimage.restoration  # noqa: F401
        return True
    except ImportError:
        print("scikit-image is not installed: the total-variation baseline is skipped "
              "(pip install 'numbadn[reproduce]')")
        return False


def main(argv=None):
    ap = _common.parser(__doc__)
    ap.add_argument("--test-images", default=None,
                    help="folder or file of test photographs (default: photographs never "
                         "used for training, TEST_PHOTOS)")
    ap.add_argument("--size", type=int, default=None,
                    help="side of the centre crops (default 128; quick 96)")
    ap.add_argument("--snr", type=float, default=13.84, help="input SNR in dB (paper 13.84)")
    ap.add_argument("--protocol", choices=("raw", "highpass", "both"), default="both",
                    help="the toolbox's raw + z0 protocol, its contrast-normalised one, or "
                         "both (default)")
    ap.add_argument("--solvers", default=None,
                    help="comma-separated: continuation (the paper's), fista "
                         "(default: both; quick: continuation)")
    ap.add_argument("--no-single-pass", action="store_true",
                    help="skip the one-pass comparison (default: run it, except in --quick)")
    args = ap.parse_args(argv)
    _common.set_threads(args)
    from numbadn.denoise import DEFAULT_PASSES, PAPER_SNR, denoise

    size = args.size or (96 if args.quick else 128)
    solvers = (args.solvers or ("continuation" if args.quick else "continuation,fista")).split(",")
    bad = [s for s in solvers if s not in ("continuation", "fista")]
    if bad:
        raise SystemExit(f"--solvers: unknown solver {bad[0]!r} (continuation, fista)")
    protocols = ("raw", "highpass") if args.protocol == "both" else (args.protocol,)
    single = not (args.quick or args.no_single_pass)
    net = _common.load_model(args, "natural")
    trained_on = str(net.meta.get("images", ""))
    rep = _common.Report("sec44_denoising", "Section 4.4 (denoising)")
    rng = np.random.default_rng(args.seed)
    tests = test_images(args, size, trained_on)
    val, val_text = validation_images(args, size, 2 if args.quick else 8)
    names = [n for n, _ in tests]
    n_test = len(tests)
    lam_grids = LAM_GRID_QUICK if args.quick else LAM_GRID
    toolbox = {k: v for k, v in DEFAULT_PASSES.items() if k <= 2}
    rep.setting(model=trained_on or "?", test_images=names, size=size, snr_in=args.snr,
                protocols=list(protocols),
                noise="Gaussian on the raw image, clipped to the clean range",
                snr="10 log10(var(clean)/mse) (toolbox compute_snr.m)",
                passes=dict(toolbox=toolbox, single=1 if single else None),
                lam_grid={p: list(lam_grids[p]) for p in protocols},
                tuned_on=val_text,
                test=f"two-sided Wilcoxon signed-rank over the {n_test} test photographs, "
                     f"alpha {_stats.ALPHA:g}; smallest possible p {2 / 2 ** n_test:.2g}")

    def dn(noisy, layer, lam, solver, passes, protocol):
        """Reconstruction from ``layer`` with every layer's solver set to ``solver``."""
        for la in net.layers:
            la.solver = solver
        return denoise(net, noisy, [layer], lam=lam, passes=passes, protocol=protocol,
                       n_jobs=args.threads)[layer]

    configs = [("continuation", toolbox, "")]  # (solver, passes, tag): the primary first
    if single:
        configs.append(("continuation", 1, " (1 pass)"))
    if "fista" in solvers:
        configs.append(("fista", 1, " (fista)"))
    if "continuation" not in solvers:
        configs = [c for c in configs if c[0] != "continuation"]

    results, figs = {}, {}
    for protocol in protocols:
        print(f"== protocol {protocol}: tuning on {val_text} ({size}x{size})", flush=True)
        val_pairs = make_pairs(protocol, val, args.snr, rng)
        test_pairs = make_pairs(protocol, [c for _, c in tests], args.snr, rng)
        methods = {}
        lam_grid = lam_grids[protocol]
        b, bs = tune("blur sigma", BLUR_GRID[protocol], blur, val_pairs)
        methods["Gaussian blur"] = dict(run=lambda n, b=b: blur(n, b), param=b, grid=bs)
        if have_tv():
            w, ws = tune("TV weight", TV_GRID[protocol], tv, val_pairs)
            methods["total variation"] = dict(run=lambda n, w=w: tv(n, w), param=w, grid=ws)
        for solver, passes, tag in configs:
            def run1(n, lam, solver=solver, passes=passes):
                return dn(n, 1, {1: lam}, solver, passes, protocol)
            l1, s1 = tune(f"layer-1 lambda{tag}", lam_grid, run1, val_pairs)

            def run2(n, lam, l1=l1, solver=solver, passes=passes):
                return dn(n, 2, {1: l1, 2: lam}, solver, passes, protocol)
            l2, s2 = tune(f"layer-2 lambda{tag} (layer 1 at {l1:g})", lam_grid, run2,
                          val_pairs)
            methods[f"DN layer 1{tag}"] = dict(run=lambda n, l1=l1, r=run1: r(n, l1),
                                               param=l1, grid=s1)
            methods[f"DN layer 2{tag}"] = dict(run=lambda n, l2=l2, r=run2: r(n, l2),
                                               param=l2, grid=s2)

        print(f"denoising {n_test} test photographs ({protocol})", flush=True)
        table, recs = {}, {}
        for (name, _), pr in zip(tests, test_pairs):
            table[name] = {"noisy": snr_of(pr, pr[1])}
            recs[name] = {}
            for m, spec in methods.items():
                r = spec["run"](pr[1])
                table[name][m] = snr_of(pr, r)
                recs[name][m] = pr[2](r)
            print(f"  {name:18s} " + "  ".join(f"{k} {v:.2f}" for k, v in table[name].items()),
                  flush=True)
        cols = ["noisy", *methods]
        mean = {m: float(np.mean([table[n][m] for n in names])) for m in cols}
        per = {m: np.array([table[n][m] for n in names]) for m in cols}
        results[protocol] = dict(per_image=table, mean=mean, tuned={
            m: dict(param=s["param"], validation_snr=s["grid"]) for m, s in methods.items()})
        figs[protocol] = (test_pairs, recs, table)
        report_protocol(rep, protocol, mean, per, methods, PAPER_SNR, n_test, toolbox)

    # Investigation, not the protocol: lambda chosen per test image with the clean image in
    # hand (an oracle no real denoiser has) -- separates "lambda tuned elsewhere" from "the
    # model cannot do better on this image at any lambda".  Raw protocol, toolbox passes.
    oracle = None
    if "raw" in protocols and "continuation" in solvers and not args.quick:
        oracle = {1: {}, 2: {}}
        lam1 = results["raw"]["tuned"]["DN layer 1"]["param"]
        pairs = make_pairs("raw", [c for _, c in tests], args.snr, np.random.default_rng(
            args.seed + 1))
        for (name, _), pr in zip(tests, pairs):
            for layer in (1, 2):
                oracle[layer][name] = max(
                    snr_of(pr, dn(pr[1], layer, {1: lam1 if layer == 2 else lam, 2: lam},
                                  "continuation", toolbox, "raw")) - snr_of(pr, pr[1])
                    for lam in lam_grids["raw"])
        for layer in (1, 2):
            rep.row(f"[raw] oracle: DN layer {layer}, best lambda per test image "
                    f"(gain in dB, mean)", ours=float(np.mean(list(oracle[layer].values()))),
                    note="investigation only: lambda picked with the clean image")

    out = _common.out_dir(args)
    path = out / "sec44_denoising.png"
    figure(figs, path)
    rep.figure(path)
    rep.finish(args, extra=dict(protocols=results, oracle_best_gain_per_image=oracle))
    return 0


def report_protocol(rep, protocol, mean, per, methods, paper, n_test, toolbox):
    """Rows and claims of one protocol (its primary configuration: continuation,
    the toolbox's passes)."""
    P = f"[{protocol}] "
    units = "test photographs"
    rep.row(P + "input SNR (dB)", paper=paper["input"], ours=mean["noisy"])
    for m in methods:
        ref = {"DN layer 1": paper[1], "DN layer 2": paper[2]}.get(m)
        rep.row(P + f"{m} (dB, mean)", paper=ref, ours=mean[m],
                note=f"tuned parameter {methods[m]['param']:g}")
    for layer in (1, 2):
        rep.row(P + f"layer-{layer} gain (dB)", paper=PAPER_GAIN[layer],
                ours=mean[f"DN layer {layer}"] - mean["noisy"])
    for layer in (1, 2):
        one = f"DN layer {layer} (1 pass)"
        if one in per:
            o = _stats.wilcoxon(per[f"DN layer {layer}"], per[one], units=units,
                                what="SNR differences (dB)")
            rep.row(P + f"layer {layer}: toolbox passes ({toolbox}) minus 1 pass (dB, mean)",
                    ours=mean[f"DN layer {layer}"] - mean[one], note=o.test)

    def claim(text, a, b, shift=0.0, evid=""):
        o = _stats.wilcoxon(np.asarray(a) - shift, b, units=units, what="SNR differences (dB)")
        rep.claim(P + text, o.verdict, evid, o.test)

    d1, d2, dn_ = per["DN layer 1"], per["DN layer 2"], per["noisy"]
    claim("layer 1 raises the SNR of the test photographs", d1, dn_,
          evid=f"gain {mean['DN layer 1'] - mean['noisy']:+.2f} dB on average")
    claim("layer 2 raises the SNR of the test photographs", d2, dn_,
          evid=f"gain {mean['DN layer 2'] - mean['noisy']:+.2f} dB on average")
    claim("layer 2 beats layer 1 (paper: 18.01 vs 16.31 dB)", d2, d1,
          evid=f"{mean['DN layer 2']:.2f} vs {mean['DN layer 1']:.2f} dB on average")
    for layer, d in ((1, d1), (2, d2)):
        claim(f"layer {layer} gains at least the paper's +{PAPER_GAIN[layer]:.2f} dB",
              d - dn_, None, PAPER_GAIN[layer],
              evid=f"{float(np.mean(d - dn_)):+.2f} dB on average")
    if "DN layer 2 (fista)" in per:
        claim("with FISTA (towards the optimum) layer 2 beats layer 1",
              per["DN layer 2 (fista)"], per["DN layer 1 (fista)"],
              evid=f"{mean['DN layer 2 (fista)']:.2f} vs {mean['DN layer 1 (fista)']:.2f} dB")
    for base in ("Gaussian blur", "total variation"):
        if base in per:
            claim(f"layer 1 beats a tuned {base}", d1, per[base],
                  evid=f"{mean['DN layer 1']:.2f} vs {mean[base]:.2f} dB")


def figure(figs, path):
    """One block of rows per protocol (its first :data:`FIG_ROWS` test photographs):
    clean / noisy / each method, SNR in the titles."""
    from matplotlib.figure import Figure
    rows = [(p, i) for p, (pairs, _, _) in figs.items() for i in range(min(FIG_ROWS, len(pairs)))]
    first = next(iter(figs.values()))[1]
    cols = ["clean", "noisy", *next(iter(first.values())).keys()]
    fig = Figure(figsize=(1.7 * len(cols), 1.85 * len(rows) + 0.3))
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    for r, (protocol, i) in enumerate(rows):
        pairs, recs, table = figs[protocol]
        name = list(table)[i]
        target, noisy, to_target = pairs[i]
        lo, hi = float(target.min()), float(target.max())
        panels = {"clean": target, "noisy": to_target(noisy), **recs[name]}
        for j, c in enumerate(cols):
            ax = axes[r, j]
            ax.set_axis_off()
            if c not in panels:
                continue
            ax.imshow(panels[c][0], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            if c == "clean":
                title = f"[{protocol}] {name}"
            else:  # method names only over each protocol's first row
                title = (f"{c}\n" if i == 0 else "") + f"{table[name][c]:.2f} dB"
            ax.set_title(title, fontsize=6)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.97, wspace=0.04, hspace=0.3)
    fig.savefig(path, dpi=80)


if __name__ == "__main__":
    raise SystemExit(main())
