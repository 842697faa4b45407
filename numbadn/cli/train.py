"""``numbadn train``: photographs to training images, the network trained and
checkpointed, a finished or interrupted run reported with how to resume."""
from __future__ import annotations

import os
import shlex
import signal
import sys
import time

from ._common import (_agg, _check_float, _check_int, _mode, _pixel_filters, _prepare,
                      _sizes)


#: Side of the training crops by default (section 4: "100x100 images").
DEFAULT_CROP = 100


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
    from ..data import describe, load_images, resize_and_tile
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


def _parse_maps(text):
    try:
        maps = tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise ValueError(f"--maps must be comma-separated integers like 9,45, got {text!r}") from None
    if not maps or min(maps) < 1:
        raise ValueError(f"--maps must list positive map counts, got {text!r}")
    return maps


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
    from .._files import FolderLock
    with FolderLock(args.out):
        return _train_locked(args)


def _resume_command(args):
    argv = [a for a in (args.argv or []) if a != "--resume"]
    if "--out" not in argv and not any(a.startswith("--out=") for a in argv):
        argv += ["--out", args.out]
    return "numbadn " + " ".join(shlex.quote(a) for a in argv) + " --resume"


def _train_locked(args):
    _agg()
    from .. import plot
    from ..data import describe
    from ..model import DeconvNet

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
        from ..model import DeconvNet, SettingsDiffer, settings_differences
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
    from ..model import SettingsDiffer, TrainingInterrupted
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
