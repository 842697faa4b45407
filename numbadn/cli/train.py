"""``numbadn train``: photographs to training images, the network trained and
checkpointed, a finished or interrupted run reported with how to resume."""
from __future__ import annotations

import os
import shlex
import signal
import sys
import time
import warnings

from ._common import (MAX_SEED, MAX_SIDE, _agg, _check_float, _check_int, _guard, _mode,
                      _pixel_filters, _prepare, _record, _sizes, _writing)

#: Upper bounds of the train options (the model file's own bounds where it has one).
MAX_EPOCHS, MAX_ITER, MAX_IMAGES, MAX_LAM = 1000, 100_000, 10 ** 6, 1e6
MAX_MAPS, MAX_LAYERS, MAX_CHECKPOINT_EVERY = 4096, 16, 1e9


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


def _training_images(args, source, source_text):
    """Load, resize/tile and describe the training images (printed)."""
    from ..data import exif_orientation, load_images, resize_and_tile
    size, crop = _train_geometry(args)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        try:
            photos = load_images(source, grey=not args.color)
        except ValueError as exc:
            if not said:
                raise
            # every file unreadable: one line that says so, not one warning per file
            raise ValueError(f"{exc}: {len(said)} file(s) could not be decoded (the first: "
                             f"{str(said[0].message).split(': ', 1)[-1]})") from None
    for w in said:  # some files unreadable: each is a warning line, training goes on
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    ims, small = [], 0
    for im in photos:
        got = resize_and_tile(im, size=size, crop=crop)
        if crop is not None and not got and (min(im.shape[-2:]) < crop if size is None
                                             else size < crop):
            small += 1
        ims.extend(got)
    print(f"images: {source_text}")
    turned = _turned(source, exif_orientation)
    print(f"  read {len(photos)} photograph(s) ({_sizes(photos)}), {_mode(args.color)}"
          + (f"; {turned} turned upright by their EXIF orientation" if turned else ""))
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


def _turned(source, exif_orientation):
    """How many of the files of ``source`` carry an EXIF orientation other than 1."""
    from ..data import _BUILTIN_NAMES, _FULL_NAMES, _resolve_files
    if isinstance(source, str) and source in _BUILTIN_NAMES + _FULL_NAMES:
        return 0
    return sum(exif_orientation(f) not in (None, 1) for f in _resolve_files(source))


def _parse_maps(text):
    items = text.split(",")
    if any(not t.strip() for t in items):
        raise ValueError(f"--maps must be comma-separated integers like 9,45 with none empty, "
                         f"got {text!r}")
    try:
        maps = tuple(int(t) for t in items)
    except ValueError:
        raise ValueError(f"--maps must be comma-separated integers like 9,45, got {text!r}") from None
    if min(maps) < 1 or max(maps) > MAX_MAPS:
        raise ValueError(f"--maps must list positive map counts (from 1 to {MAX_MAPS}), "
                         f"got {text!r}")
    if len(maps) > MAX_LAYERS:
        raise ValueError(f"--maps lists {len(maps)} layers; at most {MAX_LAYERS}")
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
    """Every option in its stated range, before anything is read or created."""
    _check_int("--epochs", args.epochs, 1, MAX_EPOCHS)
    _check_int("--n-images", args.n_images, 0, MAX_IMAGES, what=" (0: all)")
    _check_float("--checkpoint-every", args.checkpoint_every, lo=0.0, hi=MAX_CHECKPOINT_EVERY)
    _check_float("--lam", args.lam, positive=True, hi=MAX_LAM)
    _check_float("--p", args.p, hi=1.0, positive=True)
    _check_int("--filter-size", args.filter_size, 1, 255)
    _check_int("--max-iter", args.max_iter, 1, MAX_ITER)
    _check_int("--size", args.size, 0, MAX_SIDE, what=" (0 keeps the sizes)")
    _check_int("--crop", args.crop, 0, MAX_SIDE, what=" (0: no crops)")
    _check_int("--seed", args.seed, 0, MAX_SEED)
    _check_int("--threads", args.threads, 1)
    if args.resume and args.force:
        raise ValueError("--resume continues the run in --out and --force replaces it: give "
                         "one of them")
    if not args.paper:
        _parse_maps(args.maps)
    _train_geometry(args)


#: The files a training run writes into --out besides the figures.
_RUN_FILES = ("model.npz", "checkpoint.npz")


def _check_out(args):
    """What --out holds, checked before anything is created: a finished model or a
    checkpoint is the user's unless --resume or --force says otherwise; any other
    file in the way of the outputs that numbadn did not write needs --force."""
    from .._files import shown
    out = args.out
    model, ckpt = (os.path.join(out, n) for n in _RUN_FILES)
    if not args.force and not args.resume:
        if os.path.exists(ckpt):
            raise ValueError(f"--out {shown(out)} holds the checkpoint of an interrupted run "
                             f"({shown(ckpt)}): add --resume to continue it, or --force to "
                             "start over (the checkpoint and that run's files are removed)")
        if os.path.exists(model):
            raise ValueError(f"--out {shown(out)} holds a finished run ({shown(model)}): not "
                             "replaced; choose another --out, or add --force to train again "
                             "(that run's model and figures are removed)")
    for path in (model, ckpt):
        if os.path.lexists(path) and not os.path.isfile(path):
            raise ValueError(f"--out {shown(out)}: {shown(path)} is not a regular file; "
                             "choose another --out")
    if not args.force and os.path.isdir(out):
        from .._files import wrote_it
        for name in os.listdir(out):
            if name.startswith("layer") and name.endswith("_filters.png") and \
                    not wrote_it(os.path.join(out, name), "train"):
                raise ValueError(f"--out {shown(out)} holds {name}, which numbadn train did "
                                 "not write: not replaced; choose another --out, or add "
                                 "--force")


def _clear_old_run(args):
    """Remove the previous run's outputs in --out together (model, checkpoint,
    figures): never a new model beside an old run's figures.  Only with --force,
    or figures of a run whose model is gone."""
    from .._files import forget, read_record, wrote_it
    out = args.out
    old = [os.path.join(out, n) for n in os.listdir(out)
           if n.startswith("layer") and n.endswith("_filters.png")]
    old = [p for p in old if args.force or wrote_it(p, "train")]
    if args.force:
        old += [os.path.join(out, n) for n in _RUN_FILES]
        old += [os.path.join(out, n) for n, e in read_record(out).items()
                if isinstance(e, dict) and e.get("command") == "train"]
    gone = []
    for p in dict.fromkeys(old):
        if os.path.isfile(p):
            with _writing(p):
                os.unlink(p)
            gone.append(p)
    forget(gone)
    if gone:
        print(f"{args.out}: removed the previous run's {', '.join(os.path.basename(p) for p in gone)}")


def _cmd_train(args):
    _check_train_args(args)
    from .._files import FolderLock
    from ..data import describe
    source_text = describe(args.images)  # the source exists, before --out is created
    _guard(args.out, args, file=False)
    # an existing --out is locked before it is looked at (another run may be writing it);
    # a new one is created only once everything is checked
    lock = FolderLock(args.out) if os.path.isdir(args.out) else None
    done = False
    try:
        _check_out(args)
        if lock is None:
            lock = FolderLock(args.out)
        rc = _train_locked(args, source_text)
        done = True
        return rc
    finally:
        if lock is not None:
            lock.release() if done else lock.remove_if_unused()


def _resume_command(args):
    argv = [a for a in (args.argv or []) if a != "--resume"]
    if "--out" not in argv and not any(a.startswith("--out=") for a in argv):
        argv += ["--out", args.out]
    return "numbadn " + " ".join(shlex.quote(a) for a in argv) + " --resume"


def _train_locked(args, source_text):
    _agg()
    from .. import plot
    from ..model import DeconvNet

    maps = (9, 45, 150) if args.paper else _parse_maps(args.maps)
    ckpt = os.path.join(args.out, "checkpoint.npz")
    model = os.path.join(args.out, "model.npz")
    finished = args.resume and not os.path.exists(ckpt) and os.path.exists(model)
    if args.resume and not os.path.exists(ckpt) and not finished:
        raise ValueError(f"--resume: there is no checkpoint {ckpt} (nor a finished model) to "
                         "resume from; run without --resume to start training")
    if not args.resume:
        _clear_old_run(args)
    source = args.images
    ims, size, crop = _training_images(args, source, source_text)
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
                "images": source_text, "n_images": len(ys), "color": bool(args.color),
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
        net.fit(ys, epochs=args.epochs, verbose=not args.quiet, n_jobs=args.threads,
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
    with _writing(model):
        net.save(model, overwrite=True)
    _record(args, [model])
    if os.path.exists(ckpt):
        os.unlink(ckpt)
    print(f"trained {len(maps)} layer(s) in {time.perf_counter() - t0:.1f} s")
    for i, la in enumerate(net.layers, start=1):
        costs = ", ".join(f"{h['cost']:.1f}" for h in la.history_)
        print(f"  layer {i}: {la.n_maps} maps, cost per epoch {costs}")
        path = os.path.join(args.out, f"layer{i}_filters.png")
        with _writing(path):
            plot.filter_grid(_pixel_filters(net, i),
                             title=f"layer-{i} filters in pixel space ({source})", path=path)
        _record(args, [path])
        print(f"  wrote {path}")
    print(f"wrote {model}")
    return 0
