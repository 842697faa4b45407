"""``numbadn infer``, ``reconstruct``, ``denoise``, ``show`` and ``bench``."""
from __future__ import annotations

import math
import os
import time

import numpy as np

from ._common import (MAX_SEED, MAX_SIDE, _agg, _bar, _check_float, _check_int, _check_layer,
                      _check_not_flat, _guard, _image_for_model, _load_model, _load_one,
                      _orientation_note, _pixel_filters, _record, _sizes, _writing)

#: Most samples per layer ``show --samples`` draws (each is one inference-sized
#: projection; 1000 take a few seconds on a 2-layer model).
MAX_SAMPLES = 1000
#: Range of ``denoise --snr`` in dB: below -20 dB the noise is 100 times the
#: signal, above 60 dB it is invisible in 8-bit images.
SNR_RANGE = (-20.0, 60.0)
#: Largest lambda ``denoise --lam`` takes.
MAX_LAM = 1e6
#: Most warm-started passes ``denoise --passes`` runs per layer (the toolbox uses 7).
MAX_PASSES = 100


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
        kw = dict(layer=layer, n_jobs=args.threads, top_down=top_down, on_step=on_step)
        z, zlow = net.infer_lowfreq(y, **kw) if low else (net.infer(y, **kw), None)
    finally:
        if bar is not None:
            bar.close()
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
        _guard(out, args, file=False)
        return os.path.join(out, name)
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".npy", ".npz"):
        raise ValueError(f"--out {out}: the maps are written as a .npy or .npz file, or into a "
                         f"folder; got {'no extension' if not ext else repr(ext)}")
    return out


def _check_common(args):
    """Options every model+image command has, checked before anything is read."""
    _check_int("--size", args.size, 1, MAX_SIDE)
    _check_int("--threads", args.threads, 1)


def _cmd_infer(args):
    _agg()
    from .. import plot
    _check_common(args)
    net = _load_model(args.model)
    _check_layer(args, net)
    inputs = (args.model, args.image)
    if args.plot:
        plot.image_format(args.plot)
        _guard(args.plot, args, inputs, what="--plot")
    out = _maps_path(args, args.layer or net.trained_)
    if out is not None:
        _guard(out, args, inputs)
        if args.plot and os.path.abspath(out) == os.path.abspath(args.plot):
            raise ValueError(f"--out and --plot name the same file {args.out}: give two names")
    y, z, zlow, layer = _infer(net, args)
    print(f"  {np.mean(np.abs(z) > 1e-3):.1%} of the entries above 1e-3; "
          f"{z.nbytes / 2 ** 20:.1f} MB as {z.dtype}")
    if out is None:
        print("  maps not written: give --out MAPS.npy, MAPS.npz (compressed) or a folder")
    else:
        with _writing(out):
            d = os.path.dirname(out)
            if d:
                os.makedirs(d, exist_ok=True)
            with open(out, "wb") as fh:  # the name as given (np.save would add .npy)
                if out.lower().endswith(".npz"):
                    np.savez_compressed(fh, z=z, **({} if zlow is None else {"zlow": zlow}))
                else:
                    np.save(fh, z)
        _record(args, [out])
        print(f"wrote {out} ({os.path.getsize(out) / 2 ** 20:.1f} MB)")
    if args.plot:
        with _writing(args.plot):
            plot.feature_maps(y if y.shape[0] == 3 else y[0], z, path=args.plot)
        _record(args, [args.plot])
        print(f"wrote {args.plot}")
    return 0


def _cmd_reconstruct(args):
    _agg()
    from .. import plot
    _check_common(args)
    net = _load_model(args.model)
    _check_layer(args, net)
    out = args.out or os.path.splitext(os.path.basename(args.image))[0] + "_reconstruction.png"
    plot.image_format(out)
    _guard(out, args, (args.model, args.image))
    _check_not_flat(args.image, _load_one(args.image))
    y, z, zlow, layer = _infer(net, args)
    rec = net.reconstruct(z, layer=layer, zlow=zlow)
    snr = plot.snr_db(y, rec)
    with _writing(out):
        plot.reconstructions([y], [rec], titles=[os.path.basename(args.image)], path=out)
    _record(args, [out])
    print(f"reconstruction from layer {layer}: SNR {snr:.2f} dB; wrote {out}")
    return 0


def _cmd_denoise(args):
    """Section 4.4 in the authors' protocol (numbadn.denoise)."""
    _agg()
    from .. import plot
    from ..denoise import DEFAULT_LAM, DEFAULT_PASSES, PAPER_SNR, add_noise, denoise, raw_image
    _check_float("--snr", args.snr, lo=SNR_RANGE[0], hi=SNR_RANGE[1])
    _check_int("--seed", args.seed, 0, MAX_SEED)
    _check_int("--passes", args.passes, 1, MAX_PASSES)
    _check_common(args)
    passes = DEFAULT_PASSES if args.passes is None else args.passes
    vals = _parse_floats("--lam", args.lam) if args.lam else None
    out = args.out or "denoise.png"
    plot.image_format(out)
    net = _load_model(args.model)
    lam = dict(DEFAULT_LAM)
    if vals:
        lam = {i + 1: v for i, v in enumerate(vals)} if len(vals) > 1 else \
            {layer: vals[0] for layer in range(1, net.trained_ + 1)}
    if net.layers[0].in_channels != 1:
        raise ValueError(f"{args.model} takes {net.layers[0].in_channels} input channels; "
                         "denoising (section 4.4) is on grey images: use a grey model")
    _guard(out, args, (args.model, args.image))
    img = _load_one(args.image)
    _check_not_flat(args.image, img)
    turned = _orientation_note(args.image)
    if args.size:
        from ..data import resize_and_tile
        print(f"image {args.image}: {_sizes([img])}{turned}, resized to "
              f"{args.size}x{args.size}")
        img = resize_and_tile(img, size=args.size)[0]
    else:
        print(f"image {args.image}: {_sizes([img])}{turned}, full size")
    clean = raw_image(img)
    noisy = add_noise(clean, args.snr, args.seed)
    lams = ", ".join(f"layer {k}: {v:g}" for k, v in sorted(lam.items())
                     if k <= net.trained_)
    npass = ", ".join(f"layer {k}: {passes.get(k, 1) if isinstance(passes, dict) else passes}"
                      for k in range(1, net.trained_ + 1))
    print(f"protocol: grey {clean.shape[2]}x{clean.shape[1]} image, mean removed, scaled to "
          f"[-1, 1]; Gaussian noise for {args.snr:g} dB, clipped to the clean range; z0 maps "
          f"at layer 1; {net.layers[0].solver} solver; lambda {lams}; warm-started "
          f"passes {npass}")
    print(f"noisy input: SNR {plot.snr_db(clean, noisy):.2f} dB (paper {PAPER_SNR['input']} dB)")
    recs = denoise(net, noisy, lam=lam, passes=passes, n_jobs=args.threads)
    panels = {"noisy": noisy}
    for layer, rec in recs.items():
        paper = PAPER_SNR.get(layer)
        ref = f" (paper {paper} dB)" if paper else ""
        print(f"layer {layer} reconstruction: SNR {plot.snr_db(clean, rec):.2f} dB{ref}")
        panels[f"layer {layer}"] = rec
    with _writing(out):
        plot.denoising(clean, panels, path=out, title=os.path.basename(args.image))
    _record(args, [out])
    print(f"wrote {out}")
    return 0


def _parse_floats(name, text, hi=MAX_LAM):
    """Comma-separated numbers, each > 0 and <= ``hi``; an empty item is refused."""
    items = text.split(",")
    if any(not t.strip() for t in items):
        raise ValueError(f"{name} must be comma-separated numbers like 10,40 with none empty, "
                         f"got {text!r}")
    try:
        vals = [float(t) for t in items]
    except ValueError:
        raise ValueError(f"{name} must be comma-separated numbers like 10,40, got {text!r}") \
            from None
    if min(vals) <= 0 or not all(math.isfinite(v) for v in vals):
        raise ValueError(f"{name} must list positive finite numbers, got {text!r}")
    if max(vals) > hi:
        raise ValueError(f"{name} must list numbers from > 0 to {hi:g}, got {text!r}")
    return vals


def _cmd_show(args):
    _agg()
    from .. import plot
    _check_int("--samples", args.samples, 0, MAX_SAMPLES)
    net = _load_model(args.model)
    _check_layer(args, net)
    if net.trained_ < 1:
        raise ValueError(f"{args.model} has no trained layer to show")
    layers = [args.layer] if args.layer else list(range(1, net.trained_ + 1))
    out = args.out
    # a name with a file ending is one file (everything stacked); else a folder
    one_file = out is not None and not os.path.isdir(out) and os.path.splitext(out)[1] != ""
    names = [f"layer{la}_filters" for la in layers] + \
        ([f"layer{la}_samples" for la in layers] if args.samples else [])
    if one_file:
        plot.image_format(out)
        if len(names) > 1 and plot.image_format(out) in ("pdf", "svg"):
            raise ValueError(f"cannot stack figures into {out}: give a raster file type "
                             "(.png, .jpg, .tif, .webp) or a folder")
        _guard(out, args, (args.model,))
    else:
        _guard(out or ".", args, file=False)
        for name in names:
            _guard(os.path.join(out or ".", f"{name}.png"), args, (args.model,))
    figures = []
    for layer in layers:
        figures.append((f"layer{layer}_filters", plot.filter_grid(
            _pixel_filters(net, layer), title=f"layer-{layer} filters")))
    if args.samples:
        bar = _bar(args.samples * len(layers) < 50, len(layers), f"{args.samples} samples per layer")
        for layer in layers:
            imgs = net.sample(layer, n=args.samples, random_state=0)
            if bar is not None:
                bar.update(1)
            imgs = imgs if imgs.shape[1] == 3 else imgs[:, 0]
            figures.append((f"layer{layer}_samples",
                            plot.samples(imgs, title=f"samples from layer {layer}")))
    if args.samples and bar is not None:
        bar.close()
    if one_file:
        with _writing(out):
            if len(figures) == 1:
                plot.save(figures[0][1], out, overwrite=True)
            else:
                plot.save_stacked([f for _, f in figures], out, overwrite=True)
        _record(args, [out])
        print(f"wrote {out} ({', '.join(name for name, _ in figures)})")
        return 0
    folder = out or "."
    for name, fig in figures:
        path = os.path.join(folder, f"{name}.png")
        with _writing(path):
            plot.save(fig, path, overwrite=True)
        _record(args, [path])
        print(f"wrote {path}")
    return 0


#: Most CPU-bound processes ``bench --busy`` starts.
MAX_BUSY = 256


def _cmd_bench(args):
    """Every option and the --json path are checked before anything is measured."""
    from ..bench import parse_threads, run
    if args.threads_list is not None:
        tc = parse_threads(args.threads_list)
        if max(tc) > 1024:
            raise ValueError(f"--threads must list counts from 1 to 1024, got {args.threads_list!r}")
    _check_int("--busy", args.busy, 0, MAX_BUSY)
    if args.json:
        _guard(args.json, args, what="--json")
    rc = run(args)
    if args.json:
        _record(args, [args.json])
    return rc
