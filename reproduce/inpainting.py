"""Inpainting with masked data terms -- BEYOND THE PAPER (the paper has no inpainting).

Held-out photographs (section 4.4's test photographs, never used for training),
centre crops on the toolbox's raw scale (mean removed, [-1, 1]), with two kinds of
missing pixels: 50% at random, and a centred block (a quarter of each side). The
natural model of section 4.1 fills them (``numbadn.inpaint``): its maps are inferred
against the observed pixels only, ``lam/2 ||W (F z - y)||^2 + |z|_1`` with ``W = 0``
at a missing pixel, the z0 maps at layer 1, layer 2 top-down against the masked image.

Compared on the same images and masks, scored on the missing pixels only (SNR and
PSNR in dB on the [-1, 1] scale):

- SPORCO's ``ConvBPDNMaskDcpl`` (ADMM, the mask-decoupled convolutional BPDN;
  optional: skipped with a message when sporco is not installed) on exactly the
  problem numbadn's sparse part solves: the same layer-1 filters, the same
  ``lambda`` (SPORCO's ``lmbda = 1 / lam``: its cost is ours divided by ``lam``), the
  same target (the image less a masked low-pass image: the z0 maps of section 3.3
  solved alone against the observed pixels), the maps of numbadn's "valid" size
  (the image is padded by h-1 with W = 0 there, so SPORCO's circular convolution is
  the same linear operator). Beside it numbadn's FISTA on that same problem.
- the z0 low-pass alone (the smooth fill the sparse part adds to);
- scikit-image's biharmonic inpainting (``skimage.restoration.inpaint_biharmonic``).

lambda is tuned per layer and per kind of mask, as section 4.4 tunes it for denoising:
the best mean SNR on the missing pixels over a grid (``LAM_GRID``), on validation crops
of the built-in ``city`` photographs (never seen by the natural model, and not the
test photographs); layer 1 first, then layer 2 with layer 1 at its value.  The SPORCO
and FISTA comparison uses layer 1's tuned lambda.

Times are wall-clock seconds per image on this machine (shared, 2 cores when the
numbers in figures/inpainting.json were written), compilation excluded (one warm-up).

Writes figures/inpainting.json and figures/inpainting.png (figures/quick/ with --quick).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


#: lambda grid of the tuning (numbadn.inpaint.DEFAULT_LAM is 40 / 80).
LAM_GRID = (1.25, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0)
LAM_GRID_QUICK = (20.0, 80.0, 320.0)


def validation_crops(size, n):
    """Centre crops of ``n`` built-in city photographs on the raw scale."""
    from numbadn.data import load_images
    from numbadn.denoise import raw_image
    import _denoising as sec44
    ims = load_images("city")
    idx = np.linspace(0, len(ims) - 1, n).astype(int)
    return [raw_image(sec44.centre_crop(ims[i], size)) for i in idx]


def tune_lams(net, crops, kind, grid, seed):
    """Layer 1's then layer 2's lambda for masks of ``kind``: the best mean SNR on
    the missing pixels of the crops; returns ({1: lam1, 2: lam2}, {layer: {lam: snr}})."""
    import _denoising as sec44
    from numbadn.inpaint import inpaint, missing_snr
    pairs = []
    for j, c in enumerate(crops):
        W = masks_for(c.shape[1:], seed + 100 + j)[kind][None].astype(np.float32)
        pairs.append((c, (c * W).astype(np.float32), W))
    best, scores = {}, {}
    for layer in (1, 2):
        best[layer], scores[layer] = sec44.best_of(
            f"layer-{layer} lambda for {kind}", grid,
            lambda lam, layer=layer: np.mean([
                missing_snr(c, inpaint(net, y, W, [layer], lam={**best, layer: lam})[layer], W)
                for c, y, W in pairs]))
    return best, scores


def masks_for(shape, seed):
    from numbadn.inpaint import box_mask, random_mask
    return {"random 50%": random_mask(shape, 0.5, seed), "block": box_mask(shape, 0.25)}


def lowpass_only(net, y, W, lam):
    """The z0 maps of section 3.3 alone against the observed pixels: the smooth image."""
    from numbadn.solvers.z0 import low_pass, solve_z0, uniform_filter
    K0, P, Q = y.shape
    s0 = net.layers[0].filters_.shape[2]
    f0 = uniform_filter(K0, s0, y.dtype)
    zl = np.zeros((K0, P + s0 - 1, Q + s0 - 1), y.dtype)
    solve_z0(y, f0, lam, net.layers[0].psi, zl, 200, mask=np.ascontiguousarray(W))
    return low_pass(zl, f0)


def sporco_fill(f, target, W, lam, max_iter):
    """SPORCO ConvBPDNMaskDcpl on ``lam/2 ||W (F z - target)||^2 + |z|_1``; returns
    (reconstruction F z of the image's size, seconds) or None without sporco."""
    try:
        from sporco.admm import cbpdn
    except ImportError:
        return None
    K1, _, h, w = f.shape
    P, Q = target.shape[1:]
    D = np.ascontiguousarray(np.moveaxis(f[:, 0].astype(np.float64), 0, -1))  # (h, w, K1)
    S = np.zeros((P + h - 1, Q + w - 1))
    M = np.zeros_like(S)
    S[h - 1:, w - 1:] = target[0]
    M[h - 1:, w - 1:] = W[0]
    opt = cbpdn.ConvBPDNMaskDcpl.Options({"Verbose": False, "MaxMainIter": max_iter,
                                         "RelStopTol": 1e-4, "AutoRho": {"Enabled": True}})
    t0 = time.perf_counter()
    b = cbpdn.ConvBPDNMaskDcpl(D, S, 1.0 / lam, M, opt=opt, dimK=0)
    b.solve()
    rec = np.asarray(b.reconstruct()).squeeze()
    sec = time.perf_counter() - t0
    return rec[h - 1:, w - 1:][None].astype(np.float32), sec


def main(argv=None):
    ap = _common.parser(__doc__)
    ap.add_argument("--size", type=int, default=None, help="crop side (default 96; quick 48)")
    ap.add_argument("--n-images", type=int, default=None, help="test photographs (default 6; "
                                                               "quick 2)")
    args = ap.parse_args(argv)
    _common.set_threads(args)
    import _denoising as sec44
    from numbadn.inpaint import DEFAULT_LAM, inpaint, missing_psnr, missing_snr
    from numbadn.solvers import infer

    size = args.size or (48 if args.quick else 96)
    n_images = args.n_images or (2 if args.quick else 6)
    print("BEYOND THE PAPER: inpainting with masked data terms (the paper has no inpainting)")
    full = _common.FIGURES / "models" / "natural.npz"
    if args.quick and full.exists():  # the section 4.1 model, when it is there
        import numbadn
        net = numbadn.DeconvNet.load(str(full))
    else:
        net = _common.load_model(args, "natural")
    args.test_images = None
    tests = sec44.test_images(args, size, str(net.meta.get("images", "")))[:n_images]
    f1 = np.ascontiguousarray(net.layers[0].filters_)
    max_iter = 100 if args.quick else 300
    try:
        import skimage.restoration as skr
    except ImportError:
        skr = None
        print("scikit-image is not installed: the biharmonic column is skipped "
              "(pip install scikit-image)")
    try:
        import sporco  # noqa: F401
        have_sporco = True
    except ImportError:
        have_sporco = False
        print("sporco is not installed: the SPORCO column is skipped (pip install sporco)")
    # warm-up: compile the masked drivers once, outside the timings
    warm = tests[0][1][:, :24, :24]
    inpaint(net, warm, masks_for(warm.shape[1:], 0)["random 50%"], [1, 2])
    infer(warm, f1, lam=DEFAULT_LAM[1], solver="fista", mask=np.ones(warm.shape[1:], np.float32))

    crops = validation_crops(size, 2 if args.quick else 6)
    grid = LAM_GRID_QUICK if args.quick else LAM_GRID
    print(f"tuning lambda on {len(crops)} city crops (grid {', '.join(f'{g:g}' for g in grid)})")
    tuned = {kind: tune_lams(net, crops, kind, grid, args.seed) for kind in ("random 50%",
                                                                              "block")}
    rows, shown = [], []
    for i, (name, clean) in enumerate(tests):
        for kind, m in masks_for(clean.shape[1:], args.seed + i).items():
            lams = tuned[kind][0]
            lam1 = lams[1]
            W = m[None].astype(np.float32)
            y = (clean * W).astype(np.float32)
            row = {"image": name, "mask": kind, "missing": float((m == 0).mean())}

            def score(key, filled, sec):
                row[key] = {"snr_db": missing_snr(clean, filled, W),
                            "psnr_db": missing_psnr(clean, filled, W), "seconds": sec}

            for layer in (1, 2):
                t0 = time.perf_counter()
                filled = inpaint(net, y, W, [layer], lam=lams)[layer]
                score(f"numbadn layer {layer}", filled, time.perf_counter() - t0)
                if layer == 2 and i < 2:
                    shown.append((name, kind, clean, y, W, filled))
            # the same sparse problem for numbadn's FISTA and SPORCO's ADMM
            low = lowpass_only(net, y, W, lam1)
            target = np.ascontiguousarray(y - low * W)
            score("z0 low-pass only", np.where(W > 0, y, low), 0.0)
            t0 = time.perf_counter()
            z = infer(target, f1, lam=lam1, solver="fista", mask=W, max_iter=max_iter, tol=1e-4)
            rec = net.layers[0].reconstruct(z)
            score("numbadn FISTA (same problem as SPORCO)", np.where(W > 0, y, rec + low),
                  time.perf_counter() - t0)
            if have_sporco:
                res = sporco_fill(f1, target, W, lam1, max_iter)
                score("SPORCO ConvBPDNMaskDcpl", np.where(W > 0, y, res[0] + low), res[1])
            if skr is not None:
                t0 = time.perf_counter()
                bh = skr.inpaint_biharmonic(clean[0].astype(np.float64) * m, m == 0)
                score("biharmonic (scikit-image)", np.where(W > 0, y, bh[None]),
                      time.perf_counter() - t0)
            rows.append(row)
            print(f"{name:22s} {kind:10s} " + "  ".join(
                f"{k}: {v['snr_db']:.2f} dB" for k, v in row.items() if isinstance(v, dict)))

    methods = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    summary = {}
    for kind in ("random 50%", "block"):
        rs = [r for r in rows if r["mask"] == kind]
        summary[kind] = {k: {s: float(np.mean([r[k][s] for r in rs]))
                             for s in ("snr_db", "psnr_db", "seconds")} for k in methods}
        print(f"\nmean over {len(rs)} images, {kind} (SNR / PSNR on the missing pixels, "
              "seconds per image):")
        for k in methods:
            v = summary[kind][k]
            print(f"  {k:42s} {v['snr_db']:6.2f} dB  {v['psnr_db']:6.2f} dB  "
                  f"{v['seconds']:7.2f} s")
    out = _common.out_dir(args)
    fig_path = out / "inpainting.png"
    _figure(shown, fig_path)
    data = dict(beyond_the_paper=True, item="Inpainting with masked data terms (beyond the paper)",
                settings=dict(model="natural", size=size, images=[n for n, _ in tests],
                              lam_default={str(k): v for k, v in DEFAULT_LAM.items()},
                              lam_tuned={kind: {str(k): v for k, v in t[0].items()}
                                         for kind, t in tuned.items()},
                              lam_grid=list(grid), validation=f"{len(crops)} city crops",
                              validation_snr={kind: {str(la): {str(k): v for k, v in sc.items()}
                                                     for la, sc in t[1].items()}
                                              for kind, t in tuned.items()},
                              fista_and_sporco_max_iter=max_iter,
                              sporco_lmbda={kind: 1.0 / t[0][1] for kind, t in tuned.items()},
                              quick=bool(args.quick),
                              sporco="installed" if have_sporco else "not installed: skipped",
                              biharmonic="scikit-image" if skr is not None else "skipped",
                              machine="shared 2-core machine (timings noisy)"),
                summary=summary, rows=rows, figure=str(fig_path.name))
    (out / "inpainting.json").write_text(json.dumps(data, indent=1))
    print(f"wrote {out / 'inpainting.json'} and {fig_path}")
    return 0


def _figure(shown, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from numbadn.inpaint import missing_snr
    fig, axes = plt.subplots(len(shown), 3, figsize=(6.6, 2.3 * len(shown)), squeeze=False)
    for row, (name, kind, clean, y, W, filled) in zip(axes, shown):
        lo, hi = float(clean.min()), float(clean.max())
        masked = np.where(W > 0, y, lo)
        for ax, img, title in zip(row, (clean, masked, filled),
                                  ("original", f"{kind} missing",
                                   f"filled, layer 2: {missing_snr(clean, filled, W):.1f} dB")):
            ax.imshow(img[0], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(f"{name}\n{title}" if title == "original" else title, fontsize=8)
            ax.set_axis_off()
    fig.suptitle("Inpainting (beyond the paper): natural model, SNR on the missing pixels",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
