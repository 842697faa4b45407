"""The ``numbadn`` command line (also ``python -m numbadn``).

The CLI holds no numerics: it parses arguments, calls the package and prints.
Every error is one line on stderr and a non-zero exit code (``--debug`` shows
the traceback).
"""
from __future__ import annotations

import argparse
import math
import os
import shlex
import signal
import sys
import time
import warnings

import numpy as np



# ---------------------------------------------------------------- helpers
def _prepare(images, normalize):
    """Contrast-normalise (the paper's preprocessing) and make every image (K0, P, Q)."""
    from .preprocess import contrast_normalize
    out = [contrast_normalize(im) for im in images] if normalize else images
    return [im[None] if im.ndim == 2 else im for im in out]


def _load_model(path):
    from .model import DeconvNet
    return DeconvNet.load(path)


def _load_one(path, size=None, color=False):
    from .data import load_images
    ims = load_images(path, size=size, grey=not color)
    if len(ims) != 1:
        print(f"note: {path} holds {len(ims)} images; using the first", file=sys.stderr)
    return ims[0]


#: Side of the training crops by default (section 4: "100x100 images").
DEFAULT_CROP = 100


def _sizes(arrs):
    """``"1024x768"`` (width x height) for one size, ``"100x100 each"``, or the
    commonest sizes with counts."""
    from collections import Counter
    c = Counter(f"{a.shape[-1]}x{a.shape[-2]}" for a in arrs)
    if len(c) == 1:
        return next(iter(c)) + (" each" if len(arrs) > 1 else "")
    top = ", ".join(k + (f" x{v}" if v > 1 else "") for k, v in c.most_common(3))
    return top + (f", ... ({len(c)} sizes)" if len(c) > 3 else "")


def _mode(color):
    return ("colour, RGB kept as 3 input channels (grey files repeated over them, any alpha "
            "dropped)" if color else
            "grey (colour converted to luma, ITU-R BT.601; any alpha dropped)")


def _train_geometry(args):
    """``(size, crop)`` for training: crops of 100 unless --size, --crop or --full-size."""
    if args.full_size and (args.crop or args.size):
        raise ValueError("--full-size trains on every photograph as it is: drop --crop and "
                         "--size, or --full-size")
    size = args.size or None
    if args.full_size:
        crop = None
    elif args.crop is not None:
        crop = args.crop or None
    else:
        crop = None if args.size is not None else DEFAULT_CROP
    return size, crop


def _training_images(args, source):
    """Load, resize/tile and describe the training images (printed)."""
    from .data import describe, load_images, resize_and_tile
    size, crop = _train_geometry(args)
    photos = load_images(source, grey=not args.color)
    ims, small = [], 0
    for im in photos:
        got = resize_and_tile(im, size=size, crop=crop)
        if crop is not None and not got and (min(im.shape[-2:]) < crop if size is None
                                             else size < crop):
            small += 1
        ims.extend(got)
    print(f"images: {describe(source)}")
    print(f"  read {len(photos)} photograph(s) ({_sizes(photos)}), {_mode(args.color)}")
    if size is not None:
        what = f"resized to cover {size}x{size}, centre kept"
    else:
        what = "kept at full size" if crop is None else ""
    if crop is not None:
        what = (what + "; " if what else "") + (
            f"tiled into {crop}x{crop} crops (blank crops and edges left out"
            + (f"; {small} photograph(s) smaller than {crop}x{crop} gave none" if small
               else "") + ")")
    if not ims:
        raise ValueError(f"--crop {crop}: no training images: the photographs ({_sizes(photos)})"
                         f" are smaller than {crop}x{crop} or blank; give a smaller --crop, "
                         "--size or --full-size")
    print(f"  {what}: {len(ims)} training image(s) of {_sizes(ims)}")
    return ims, size, crop


def _image_for_model(net, path, size, model_path):
    """One image read for ``net`` (grey or RGB as its layer 1 takes), resized with
    ``size``, preprocessed as the model was trained; what was done is printed."""
    K0 = net.layers[0].in_channels
    if K0 not in (1, 3):
        raise ValueError(f"{model_path} takes {K0} input channels: the command line reads "
                         "grey (1) or RGB (3) images")
    color = K0 == 3
    img = _load_one(path, color=color)
    orig = img
    if size:
        from .data import resize_and_tile
        img = resize_and_tile(img, size=size)[0]
    normalize = net.meta.get("preprocess") == "contrast_normalize"
    y = _prepare([img], normalize)[0]
    steps = [f"{'RGB' if color else 'grey'}"]
    steps.append(f"resized to {_sizes([img])}" if size else "full size")
    steps.append(f"contrast-normalised to {_sizes([y])}" if normalize else "not normalised")
    print(f"image {path}: {_sizes([orig])}; " + ", ".join(steps))
    return img, y


def _bar(quiet, total, desc):
    if quiet:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="step", leave=True)


def _agg():
    import matplotlib
    matplotlib.use("Agg")


def _parse_maps(text):
    try:
        maps = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ValueError(f"--maps must be comma-separated integers like 9,45, got {text!r}") from None
    if not maps or min(maps) < 1:
        raise ValueError(f"--maps must list positive map counts, got {text!r}")
    return maps


def _check_int(flag, v, lo, hi=None, what=""):
    if v is None:
        return v
    if v < lo or (hi is not None and v > hi):
        rng = f"from {lo} to {hi}" if hi is not None else f">= {lo}"
        raise ValueError(f"{flag} must be {rng}{what}, got {v}")
    return v


def _check_float(flag, v, lo=None, positive=False, hi=None):
    if not math.isfinite(v):
        raise ValueError(f"{flag} must be a finite number, got {v}")
    if positive and v <= 0:
        raise ValueError(f"{flag} must be positive, got {v:g}")
    if lo is not None and v < lo:
        raise ValueError(f"{flag} must be >= {lo:g}, got {v:g}")
    if hi is not None and v > hi:
        raise ValueError(f"{flag} must be <= {hi:g}, got {v:g}")
    return v


def _check_layer(args, net):
    if args.layer is not None:
        _check_int("--layer", args.layer, 1, net.trained_,
                   f" (the model has {net.trained_} trained layer(s))")


def _check_not_flat(path, img):
    if float(np.ptp(img)) == 0.0:
        raise ValueError(f"image {path} is flat (every pixel {float(img.flat[0]):g}): there "
                         "is nothing to reconstruct and its SNR is undefined")


#: The train options each setting of a model comes from (for "--lam was 1.0, now 20.0").
_FLAGS = {"n_maps": "--maps", "lam": "--lam", "p": "--p", "filter_size": "--filter-size",
          "solver": "--solver", "solver_options": "--max-iter", "update": "--update",
          "lowfreq": "--lowfreq", "seed": "--seed", "in_channels": "the image channels",
          "psi": "psi", "filter_cg_iters": "filter_cg_iters", "warm_start": "--low-memory",
          "dtype": "dtype"}


def _said(differences):
    out = []
    for key, old, new in differences:
        if key == "filter_size":
            old, new = old[0] if isinstance(old[0], int) else old, \
                new[0] if isinstance(new[0], int) else new
        if key == "n_maps":
            old, new = ",".join(map(str, old)), ",".join(map(str, new))
        if key == "seed":
            old, new = old[0], new[0]
        if key == "solver_options":
            old, new = (d.get("max_iter", "-") if isinstance(d, dict) else d
                        for d in (old, new))
        out.append(f"{_FLAGS.get(key, key)} was {old}, now {new}")
    return "; ".join(out)


# ---------------------------------------------------------------- commands
def _check_train_args(args):
    _check_int("--epochs", args.epochs, 1)
    _check_int("--n-images", args.n_images, 0, what=" (0: all)")
    _check_float("--checkpoint-every", args.checkpoint_every, lo=0.0)
    _check_float("--lam", args.lam, positive=True)
    _check_float("--p", args.p, hi=1.0, positive=True)
    _check_int("--filter-size", args.filter_size, 1, 255)
    _check_int("--max-iter", args.max_iter, 1)
    _check_int("--size", args.size, 0, what=" (0 keeps the sizes)")
    _check_int("--crop", args.crop, 0, what=" (0: no crops)")
    _check_int("--seed", args.seed, 0)


def _cmd_train(args):
    _check_train_args(args)
    from ._files import FolderLock
    with FolderLock(args.out):
        return _train_locked(args)


def _resume_command(args):
    argv = [a for a in (args.argv or []) if a != "--resume"]
    if "--out" not in argv and not any(a.startswith("--out=") for a in argv):
        argv += ["--out", args.out]
    return "numbadn " + " ".join(shlex.quote(a) for a in argv) + " --resume"


def _train_locked(args):
    _agg()
    from . import plot
    from .data import describe
    from .model import DeconvNet

    maps = (9, 45, 150) if args.paper else _parse_maps(args.maps)
    ckpt = os.path.join(args.out, "checkpoint.npz")
    model = os.path.join(args.out, "model.npz")
    finished = args.resume and not os.path.exists(ckpt) and os.path.exists(model)
    if args.resume and not os.path.exists(ckpt) and not finished:
        raise ValueError(f"--resume: there is no checkpoint {ckpt} (nor a finished model) to "
                         "resume from; run without --resume to start training")
    source = args.images
    ims, size, crop = _training_images(args, source)
    if args.n_images:
        if args.n_images > len(ims):
            raise ValueError(f"--n-images {args.n_images}: {source} holds only {len(ims)} images")
        ims = ims[:args.n_images]
    normalize = not args.lowfreq and not args.no_normalize
    ys = _prepare(ims, normalize)
    how = (f"contrast-normalised (the paper's preprocessing) to {_sizes(ys)}" if normalize
           else "raw, not normalised" + (" (--lowfreq: z0 maps model the low frequencies)"
                                         if args.lowfreq else ""))
    print(f"  {how}; training on {len(ys)} image(s) of {ys[0].shape[0]} channel(s)")
    solver_options = {"max_iter": args.max_iter} if args.solver == "fista" else {}
    net = DeconvNet.paper(3 if args.color else 1, n_maps=maps, filter_size=args.filter_size,
                          lam=args.lam, p=args.p,
                          random_state=args.seed, solver=args.solver, solver_options=solver_options,
                          update=args.update, lowfreq=args.lowfreq)
    net.meta = {"preprocess": "contrast_normalize" if normalize else "none",
                "images": describe(source), "n_images": len(ys), "color": bool(args.color),
                "crop": crop, "size": size}
    if finished:  # a finished run is reported and left alone
        from .model import DeconvNet, SettingsDiffer, settings_differences
        done = DeconvNet.load(model)
        diff = settings_differences(done, net)
        if diff:
            raise SettingsDiffer(model, diff)
        if done.meta.get("images") != net.meta["images"] or \
                done.meta.get("n_images") != len(ys):
            raise ValueError(f"--resume: the finished run in {args.out} was trained on "
                             f"{done.meta.get('n_images')} images of "
                             f"{done.meta.get('images')!r}, not on these")
        print(f"{args.out}: this run is finished ({model}, {done.trained_} layer(s) trained); "
              "nothing to resume. Use another --out, or drop --resume to train again")
        return 0
    from .model import SettingsDiffer, TrainingInterrupted
    t0 = time.perf_counter()
    try:
        net.fit(ys, epochs=args.epochs, verbose=not args.quiet, n_threads=args.threads,
                checkpoint=ckpt, resume=args.resume, checkpoint_every=args.checkpoint_every,
                low_memory=args.low_memory)
    except SettingsDiffer as exc:
        raise ValueError(f"--resume: checkpoint {exc.path} was written with other settings: "
                         f"{_said(exc.differences)}") from None
    except TrainingInterrupted as exc:
        name = signal.Signals(exc.signum).name
        print(f"numbadn train: interrupted ({name}); checkpoint written to {exc.checkpoint}; "
              f"resume with: {_resume_command(args)}", file=sys.stderr)
        return 128 + exc.signum
    net.save(model)
    if os.path.exists(ckpt):
        os.unlink(ckpt)
    print(f"trained {len(maps)} layer(s) in {time.perf_counter() - t0:.1f} s")
    for i, la in enumerate(net.layers, start=1):
        costs = ", ".join(f"{h['cost']:.1f}" for h in la.history_)
        print(f"  layer {i}: {la.n_maps} maps, cost per epoch {costs}")
        path = os.path.join(args.out, f"layer{i}_filters.png")
        plot.filter_grid(_pixel_filters(net, i),
                         title=f"layer-{i} filters in pixel space ({source})", path=path)
        print(f"  wrote {path}")
    print(f"wrote {model}")
    return 0


def _pixel_filters(net, layer):
    """Pixel-space filters to draw: RGB tiles for a colour model, else channel 0."""
    pf = net.pixel_filters(layer)
    return pf if pf.shape[1] == 3 else pf[:, 0]


def _infer(net, args):
    """Read the image, infer its maps (with a progress bar unless --quiet)."""
    img, y = _image_for_model(net, args.image, args.size, args.model)
    layer = args.layer or net.trained_
    top_down = layer > 1 and not args.bottom_up
    how = ("top-down (eqs. 10-11)" if top_down else
           "bottom-up (layer by layer, eq. 3)" if layer > 1 else "eq. 2")
    bar = _bar(args.quiet, layer + (5 if top_down else 0), f"layer {layer} maps, {how}")

    def on_step(done, total):
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    low = net.layers[0].lowfreq
    t0 = time.perf_counter()
    try:
        out = net.infer(y, layer=layer, n_threads=args.threads, return_lowfreq=low,
                        top_down=top_down, on_step=on_step)
    finally:
        if bar is not None:
            bar.close()
    z, zlow = out if low else (out, None)
    print(f"layer {layer} maps {z.shape}, {how}, in {time.perf_counter() - t0:.1f} s")
    return y, z, zlow, layer


def _maps_path(args, layer):
    """Where ``infer`` writes the maps: --out as a .npy/.npz file or a folder; None
    without --out."""
    out = args.out
    if out is None:
        return None
    name = os.path.splitext(os.path.basename(args.image))[0] + f"_layer{layer}_maps.npy"
    if os.path.isdir(out) or out.endswith(os.sep):
        return os.path.join(out, name)
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".npy", ".npz"):
        raise ValueError(f"--out {out}: the maps are written as a .npy or .npz file, or into a "
                         f"folder; got {'no extension' if not ext else repr(ext)}")
    return out


def _cmd_infer(args):
    _agg()
    from . import plot
    net = _load_model(args.model)
    _check_layer(args, net)
    if args.plot:
        plot.image_format(args.plot)
    out = _maps_path(args, args.layer or net.trained_)
    y, z, zlow, layer = _infer(net, args)
    print(f"  {np.mean(np.abs(z) > 1e-3):.1%} of the entries above 1e-3; "
          f"{z.nbytes / 2 ** 20:.1f} MB as {z.dtype}")
    if out is None:
        print("  maps not written: give --out MAPS.npy, MAPS.npz (compressed) or a folder")
    else:
        d = os.path.dirname(out)
        if d:
            os.makedirs(d, exist_ok=True)
        with open(out, "wb") as fh:  # the name as given (np.save would add .npy)
            if out.lower().endswith(".npz"):
                np.savez_compressed(fh, z=z, **({} if zlow is None else {"zlow": zlow}))
            else:
                np.save(fh, z)
        print(f"wrote {out} ({os.path.getsize(out) / 2 ** 20:.1f} MB)")
    if args.plot:
        plot.feature_maps(y if y.shape[0] == 3 else y[0], z, path=args.plot)
        print(f"wrote {args.plot}")
    return 0


def _cmd_reconstruct(args):
    _agg()
    from . import plot
    net = _load_model(args.model)
    _check_layer(args, net)
    out = args.out or os.path.splitext(os.path.basename(args.image))[0] + "_reconstruction.png"
    plot.image_format(out)
    _check_not_flat(args.image, _load_one(args.image))
    y, z, zlow, layer = _infer(net, args)
    rec = net.reconstruct(z, layer=layer, zlow=zlow)
    snr = plot.snr_db(y, rec)
    plot.reconstructions([y], [rec], titles=[os.path.basename(args.image)], path=out)
    print(f"reconstruction from layer {layer}: SNR {snr:.2f} dB; wrote {out}")
    return 0


def _cmd_denoise(args):
    """Section 4.4 in the authors' protocol (numbadn.denoise)."""
    _agg()
    from . import plot
    from .denoise import DEFAULT_LAM, PAPER_SNR, add_noise, denoise, raw_image
    _check_float("--snr", args.snr)
    net = _load_model(args.model)
    lam = dict(DEFAULT_LAM)
    if args.lam:
        vals = _parse_floats("--lam", args.lam)
        lam = {i + 1: v for i, v in enumerate(vals)} if len(vals) > 1 else \
            {layer: vals[0] for layer in range(1, net.trained_ + 1)}
    if net.layers[0].in_channels != 1:
        raise ValueError(f"{args.model} takes {net.layers[0].in_channels} input channels; "
                         "denoising (section 4.4) is on grey images: use a grey model")
    img = _load_one(args.image)
    _check_not_flat(args.image, img)
    out = args.out or "denoise.png"
    plot.image_format(out)
    if args.size:
        from .data import resize_and_tile
        print(f"image {args.image}: {_sizes([img])}, resized to {args.size}x{args.size}")
        img = resize_and_tile(img, size=args.size)[0]
    else:
        print(f"image {args.image}: {_sizes([img])}, full size")
    clean = raw_image(img)
    noisy = add_noise(clean, args.snr, args.seed)
    lams = ", ".join(f"layer {k}: {v:g}" for k, v in sorted(lam.items())
                     if k <= net.trained_)
    print(f"protocol: grey {clean.shape[2]}x{clean.shape[1]} image, mean removed, scaled to "
          f"[-1, 1]; Gaussian noise for {args.snr:g} dB, clipped to the clean range; z0 maps "
          f"at layer 1; {net.layers[0].solver} solver; lambda {lams}")
    print(f"noisy input: SNR {plot.snr_db(clean, noisy):.2f} dB (paper {PAPER_SNR['input']} dB)")
    recs = denoise(net, noisy, lam=lam, n_threads=args.threads)
    panels = {"noisy": noisy}
    for layer, rec in recs.items():
        paper = PAPER_SNR.get(layer)
        ref = f" (paper {paper} dB)" if paper else ""
        print(f"layer {layer} reconstruction: SNR {plot.snr_db(clean, rec):.2f} dB{ref}")
        panels[f"layer {layer}"] = rec
    plot.denoising(clean, panels, path=out, title=os.path.basename(args.image))
    print(f"wrote {out}")
    return 0


def _parse_floats(name, text):
    try:
        vals = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers like 10,40, got {text!r}") \
            from None
    if not vals or min(vals) <= 0 or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{name} must list positive finite numbers, got {text!r}")
    return vals


def _cmd_show(args):
    _agg()
    from . import plot
    _check_int("--samples", args.samples, 0)
    net = _load_model(args.model)
    _check_layer(args, net)
    if net.trained_ < 1:
        raise ValueError(f"{args.model} has no trained layer to show")
    layers = [args.layer] if args.layer else list(range(1, net.trained_ + 1))
    out = args.out
    # a name with a file ending is one file (everything stacked); else a folder
    one_file = out is not None and not os.path.isdir(out) and os.path.splitext(out)[1] != ""
    if one_file:
        plot.image_format(out)
    figures = []
    for layer in layers:
        figures.append((f"layer{layer}_filters", plot.filter_grid(
            _pixel_filters(net, layer), title=f"layer-{layer} filters")))
    if args.samples:
        for layer in layers:
            imgs = net.sample(layer, n=args.samples, random_state=0)
            imgs = imgs if imgs.shape[1] == 3 else imgs[:, 0]
            figures.append((f"layer{layer}_samples",
                            plot.samples(imgs, title=f"samples from layer {layer}")))
    if one_file:
        if len(figures) == 1:
            plot.save(figures[0][1], out)
        else:
            plot.save_stacked([f for _, f in figures], out)
        print(f"wrote {out} ({', '.join(name for name, _ in figures)})")
        return 0
    folder = out or "."
    for name, fig in figures:
        path = os.path.join(folder, f"{name}.png")
        plot.save(fig, path)
        print(f"wrote {path}")
    return 0


def _cmd_bench(args):
    from .bench import main as bench_main
    argv = ["--quick"] if args.quick else []
    if args.threads_list:
        from .bench import parse_threads
        parse_threads(args.threads_list)
        argv += ["--threads", args.threads_list]
    for flag in ("no_contention", "contention_only"):
        if getattr(args, flag):
            argv.append("--" + flag.replace("_", "-"))
    if args.busy is not None:
        argv += ["--busy", str(args.busy)]
    if args.json:
        argv += ["--json", args.json]
    return bench_main(argv)


# ---------------------------------------------------------------- parser
def build_parser():
    from . import __version__
    raw = argparse.RawDescriptionHelpFormatter
    ap = argparse.ArgumentParser(
        prog="numbadn", formatter_class=raw,
        description="Deconvolutional Networks (Zeiler et al., CVPR 2010) on multicore CPUs. "
                    "Run 'numbadn COMMAND --help' for each command.",
        epilog="examples:\n"
               "  numbadn train                                  # 2 layers on built-in photos\n"
               "  numbadn train my_photos/ --color --out run1    # your photographs, in colour\n"
               "  numbadn show run1/model.npz --out filters.png")
    ap.add_argument("--version", action="version", version=f"numbadn {__version__}")
    ap.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    def common(p, threads=True):
        if threads:
            p.add_argument("--threads", type=int, default=None,
                           help="numba threads (default: all cores)")

    def one_image(p):
        p.add_argument("--size", type=int, default=None,
                       help="resize the image to cover SIZE x SIZE and keep its centre "
                            "(default: full size)")

    t = sub.add_parser("train", help="train a network (default: 2 layers on built-in photos)",
                       formatter_class=raw,
                       description="Train a Deconvolutional Network bottom-up (Algorithm 1 per "
                                   "layer) and write the model and its filter figures. With no "
                                   "arguments: 2 layers (9 and 45 maps) on the built-in 'food' "
                                   "photographs, the paper's settings otherwise.\n\n"
                                   "Photographs of any size and mode are tiled into 100x100 "
                                   "crops (the paper's training images; blank crops skipped) "
                                   "and converted to grey unless you say otherwise (--crop, "
                                   "--size, --full-size, --color); what was done is printed.",
                       epilog="examples:\n"
                              "  numbadn train\n"
                              "  numbadn train my_photos/ --crop 100 --maps 9,45 --out run1\n"
                              "  numbadn train my_photos/ --color --size 200 --crop 100\n"
                              "  numbadn train city --paper --out city3")
    t.add_argument("images", nargs="?", default="food",
                   help="built-in set (food, city, food-full, city-full), folder or image file "
                        "(default: food)")
    t.add_argument("--maps", default="9,45",
                   help="maps per layer, comma-separated (default 9,45; paper 9,45,150)")
    t.add_argument("--paper", action="store_true", help="the paper's 3 layers: 9,45,150 maps")
    t.add_argument("--epochs", type=int, default=3, help="epochs per layer (paper: 3)")
    t.add_argument("--lam", type=float, default=1.0, help="lambda of eq. 2 (paper: 1)")
    t.add_argument("--p", type=float, default=1.0, help="sparsity exponent in (0, 1] (paper: 1)")
    t.add_argument("--filter-size", type=int, default=7, help="filter size H (paper: 7)")
    t.add_argument("--solver", default="continuation", choices=["continuation", "fista"],
                   help="inference solver (paper: continuation)")
    t.add_argument("--max-iter", type=int, default=50, help="FISTA iterations (with --solver fista)")
    t.add_argument("--update", default="online", choices=["online", "batch"],
                   help="filter updates per image (toolbox) or per epoch (Algorithm 1)")
    g = t.add_argument_group("images (default: 100x100 grey crops of each photograph)")
    g.add_argument("--crop", type=int, default=None,
                   help=f"tile each photograph into CROP x CROP crops, blank ones skipped "
                        f"(default: {DEFAULT_CROP}, the paper's size, unless --size or "
                        f"--full-size; 0: no tiling)")
    g.add_argument("--size", type=int, default=None,
                   help="resize each photograph to cover SIZE x SIZE and keep its centre "
                        "(then tiled only if --crop is given; 0 keeps the sizes)")
    g.add_argument("--full-size", action="store_true",
                   help="train on every photograph at its own size (no crops, no resizing)")
    g.add_argument("--color", "--colour", dest="color", action="store_true",
                   help="keep RGB: layer 1 takes 3 input channels (default: grey)")
    g.add_argument("--n-images", type=int, default=0, help="use only the first N images")
    t.add_argument("--lowfreq", action="store_true",
                   help="add the z0 low-frequency maps to layer 1 and train on raw images")
    t.add_argument("--no-normalize", action="store_true", help="skip contrast normalisation")
    t.add_argument("--seed", type=int, default=0, help="filter initialisation seed")
    t.add_argument("--out", default="numbadn-out", help="output folder (default: numbadn-out)")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz left by an interrupted run")
    t.add_argument("--checkpoint-every", type=float, default=120.0,
                   help="seconds between checkpoints within an epoch (default 120)")
    t.add_argument("--low-memory", action=argparse.BooleanOptionalAction, default=None,
                   help="memory independent of the number of images: no warm starts, "
                        "higher layers' inputs recomputed on the fly (default: only when "
                        "warm starts would take over 2 GiB)")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    common(t)
    t.set_defaults(func=_cmd_train)

    i = sub.add_parser("infer", help="feature maps of an image", formatter_class=raw,
                       description="Infer the feature maps of one image with a trained model "
                                   "(top-down for layers >= 2, section 3.3; --bottom-up skips "
                                   "that and is several times faster) and save them where "
                                   "--out says (.npy, compressed .npz, or a folder). The "
                                   "image is read grey or RGB as the model takes it, at full "
                                   "size unless --size.",
                       epilog="examples:\n"
                              "  numbadn infer run1/model.npz photo.jpg --layer 2 "
                              "--out maps.npy --plot maps.png\n"
                              "  numbadn infer run1/model.npz big.jpg --bottom-up --out "
                              "maps/")
    i.add_argument("model", help="model file written by 'numbadn train'")
    i.add_argument("image", help="image file")
    i.add_argument("--layer", type=int, default=None, help="layer, from 1 (default: top)")
    i.add_argument("--bottom-up", action="store_true",
                   help="infer layer by layer only (no top-down eqs. 10-11)")
    i.add_argument("--out", help="maps to this .npy or .npz file, or into this folder as "
                                 "IMAGE_layerL_maps.npy (default: not written)")
    i.add_argument("--plot", help="also plot the image beside its maps to this figure")
    one_image(i)
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    common(i)
    i.set_defaults(func=_cmd_infer)

    r = sub.add_parser("reconstruct", help="reconstruct an image from one layer (eq. 12)",
                       formatter_class=raw,
                       description="Infer an image's maps at one layer and project them back to "
                                   "pixels (eq. 12); prints the SNR and writes a figure in the "
                                   "format its name ends with (.png, .jpg, .pdf, ...).",
                       epilog="example:\n"
                              "  numbadn reconstruct run1/model.npz photo.jpg --layer 2 "
                              "--out rec.jpg")
    r.add_argument("model")
    r.add_argument("image")
    r.add_argument("--layer", type=int, default=None, help="layer, from 1 (default: top)")
    r.add_argument("--bottom-up", action="store_true",
                   help="infer layer by layer only (no top-down eqs. 10-11)")
    r.add_argument("--out", help="output figure (default: IMAGE_reconstruction.png)")
    one_image(r)
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    common(r)
    r.set_defaults(func=_cmd_reconstruct)

    d = sub.add_parser("denoise", help="denoise an image with each layer (section 4.4)",
                       formatter_class=raw,
                       description="Add Gaussian noise at a given SNR to a grey photograph "
                                   "(raw, scaled to [-1, 1], as the authors' toolbox), "
                                   "reconstruct it from every layer with the z0 maps and print "
                                   "the SNRs beside the paper's (13.84 dB -> 16.31 dB with "
                                   "layer 1 -> 18.01 dB with layer 2).",
                       epilog="example:\n  numbadn denoise numbadn-out/model.npz photo.png "
                              "--snr 13.84 --lam 10,40 --out denoise.png")
    d.add_argument("model")
    d.add_argument("image")
    d.add_argument("--snr", type=float, default=13.84, help="input SNR in dB (paper: 13.84)")
    d.add_argument("--seed", type=int, default=0, help="noise seed")
    d.add_argument("--lam", default=None,
                   help="lambda per layer for denoising, e.g. 10,40 (one value: every layer; "
                        "default: numbadn.denoise.DEFAULT_LAM, tuned by "
                        "reproduce/sec44_denoising.py)")
    d.add_argument("--out", help="output figure (default: denoise.png)")
    one_image(d)
    common(d)
    d.set_defaults(func=_cmd_denoise)

    s = sub.add_parser("show", help="plot a model's filters in pixel space", formatter_class=raw,
                       description="Plot each layer's filters projected to pixel space with the "
                                   "paper's A1..J15 labels (Fig. 7-8), and optionally samples. "
                                   "--out with a file ending (.png, .jpg, ...) writes that one "
                                   "file, every figure stacked; otherwise it is a folder.",
                       epilog="examples:\n"
                              "  numbadn show run1/model.npz --out filters.png\n"
                              "  numbadn show run1/model.npz --samples 4 --out figures/")
    s.add_argument("model")
    s.add_argument("--layer", type=int, default=None, help="only this layer")
    s.add_argument("--samples", type=int, default=0, help="also draw N samples per layer (Fig. 3)")
    s.add_argument("--out", help="one image file (by its ending) or a folder (default: .)")
    s.set_defaults(func=_cmd_show)

    b = sub.add_parser("bench", help="kernel GFLOP/s and inference timings beside the paper's",
                       formatter_class=raw,
                       description="Measure kernel GFLOP/s (fraction of a measured FMA peak) and "
                                   "the paper's inference schedule on 150x150 images.",
                       epilog="example:\n  numbadn bench --quick --threads 1,2 --json bench.json")
    b.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    b.add_argument("--threads", dest="threads_list",
                   help="comma-separated thread counts (default: 1 and all)")
    b.add_argument("--json", help="also write the figures to this JSON file")
    b.add_argument("--no-contention", action="store_true",
                   help="skip the measurement beside CPU-bound processes")
    b.add_argument("--contention-only", action="store_true",
                   help="only the measurement beside CPU-bound processes (issue 12)")
    b.add_argument("--busy", type=int, default=None,
                   help="CPU-bound processes started beside the calls (default: CPUs + 1)")
    b.set_defaults(func=_cmd_bench)
    return ap


def main(argv=None):
    ap = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(argv)
    if not getattr(args, "func", None):
        ap.print_help()
        return 2
    args.argv = argv

    def one_line(message, category, filename, lineno, file=None, line=None):
        print(f"numbadn {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line
            if getattr(args, "threads", None) is not None:
                _check_int("--threads", args.threads, 1)
            return args.func(args) or 0
    except KeyboardInterrupt:
        print("numbadn: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, never a traceback (unless --debug)
        if args.debug:
            raise
        kind = "" if isinstance(exc, (ValueError, TypeError, OSError)) else \
            f"internal error ({type(exc).__name__}): "
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"numbadn {args.command}: error: {kind}{msg}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
