"""``numbadn inpaint`` (beyond the paper): fill missing pixels of a grey photograph."""
from __future__ import annotations

import os

import numpy as np

from ._common import (MAX_SEED, MAX_SIDE, _agg, _check_float, _check_int, _check_layer, _check_not_flat,
                      _guard, _load_model, _load_one, _record, _sizes, _writing)


def add_parser(sub, raw, common, force, one_image):
    """The ``inpaint`` sub-command (called by :func:`numbadn.cli._parser.build_parser`)."""
    from ._common import integer, number
    p = sub.add_parser("inpaint", help="fill missing pixels of an image (beyond the paper)",
                       formatter_class=raw,
                       description="Inpainting, beyond the paper: infer the maps against the "
                                   "observed pixels only (data term lam/2 ||W (F z - y)||^2, W "
                                   "0 at a missing pixel; z0 maps at layer 1, top-down above) "
                                   "and fill the missing pixels from the reconstruction. The "
                                   "missing pixels come from --mask (a picture: dark = missing), "
                                   "--missing (a random fraction) or --box (a centred block). "
                                   "Writes the filled image and a figure original / masked / "
                                   "filled; prints the SNR on the missing pixels.",
                       epilog="examples:\n"
                              "  numbadn inpaint run1/model.npz photo.png --missing 0.5\n"
                              "  numbadn inpaint run1/model.npz photo.png --mask holes.png "
                              "--out filled.png --plot fig.png")
    p.add_argument("model", help="model file written by 'numbadn train' (grey)")
    p.add_argument("image", help="image file")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--mask", help="mask picture of the image's size: pixels darker than "
                                    "half grey are missing")
    how.add_argument("--missing", type=number, default=None,
                     help="drop this fraction of the pixels at random, in [0, 1)")
    how.add_argument("--box", type=number, nargs="?", const=0.25, default=None,
                     help="drop a centred block of this fraction of each side "
                          "(default 0.25)")
    p.add_argument("--layer", type=integer, default=None,
                   help="fill from this layer (default: the top trained layer)")
    p.add_argument("--lam", type=number, default=None,
                   help="lambda of every layer (default: numbadn.inpaint.DEFAULT_LAM)")
    p.add_argument("--seed", type=integer, default=0, help=f"seed of --missing, 0 to {MAX_SEED}")
    p.add_argument("--out", help="filled image (default: IMAGE_filled.png)")
    p.add_argument("--plot", help="figure original / masked / filled "
                                  "(default: IMAGE_inpainting.png)")
    force(p)
    one_image(p)
    common(p)
    p.set_defaults(func=_cmd_inpaint, bottom_up=False)
    return p


def _cmd_inpaint(args):
    _agg()
    import matplotlib.pyplot as plt

    from .. import plot
    from ..inpaint import box_mask, inpaint, missing_psnr, missing_snr, random_mask, raw_observed
    _check_int("--size", args.size, 1, MAX_SIDE)
    _check_int("--seed", args.seed, 0, MAX_SEED)
    if args.missing is not None:
        _check_float("--missing", args.missing, lo=0.0, hi=0.99)
    if args.box is not None:
        _check_float("--box", args.box, lo=0.01, hi=0.99)
    if args.lam is not None:
        _check_float("--lam", args.lam, positive=True)
    stem = os.path.splitext(os.path.basename(args.image))[0]
    out = args.out or stem + "_filled.png"
    fig_path = args.plot or stem + "_inpainting.png"
    plot.image_format(out)
    plot.image_format(fig_path)
    if os.path.abspath(out) == os.path.abspath(fig_path):
        raise ValueError(f"--out and --plot name the same file {out}: give two names")
    net = _load_model(args.model)
    _check_layer(args, net)
    if net.layers[0].in_channels != 1:
        raise ValueError(f"{args.model} takes {net.layers[0].in_channels} input channels: "
                         "inpaint works on grey images; use a grey model")
    inputs = [args.model, args.image] + ([args.mask] if args.mask else [])
    _guard(out, args, inputs)
    _guard(fig_path, args, inputs, what="--plot")
    img = _load_one(args.image)
    _check_not_flat(args.image, img)
    if args.size:
        from ..data import resize_and_tile
        img = resize_and_tile(img, size=args.size)[0]
    img = np.asarray(img, np.float32)
    if args.mask:
        m = np.asarray(_load_one(args.mask), np.float32)
        if m.shape != img.shape:
            raise ValueError(f"--mask {args.mask} is {_sizes([m])} but the image is "
                             f"{_sizes([img])}: give a mask of the image's size")
        mask = (m >= 0.5 * (float(m.max()) if m.max() > 1 else 1.0)).astype(np.float32)
        what = f"mask {args.mask}"
    elif args.missing is not None:
        mask = random_mask(img.shape, args.missing, args.seed)
        what = f"{args.missing:g} of the pixels missing at random (seed {args.seed})"
    else:
        mask = box_mask(img.shape, args.box)
        what = f"a centred block of {args.box:g} of each side missing"
    if not (mask == 0).any():
        raise ValueError("the mask leaves no pixel missing: nothing to inpaint")
    if not mask.any():
        raise ValueError("the mask leaves no pixel observed: nothing to inpaint from")
    layer = args.layer or net.trained_
    y, mean, scale = raw_observed(img, mask)
    clean = ((img - mean) / scale)[None].astype(np.float32)
    print(f"image {args.image}: {_sizes([img])} grey; {what} ({(mask == 0).mean():.1%}); "
          f"raw protocol (observed mean removed, scaled to [-1, 1]), z0 maps at layer 1, "
          f"filled from layer {layer}")
    filled = inpaint(net, y, mask, [layer], lam=args.lam, n_jobs=args.threads)[layer]
    print(f"layer {layer}: on the missing pixels SNR {missing_snr(clean, filled, mask):.2f} dB, "
          f"PSNR {missing_psnr(clean, filled, mask):.2f} dB (against the original)")
    with _writing(out):
        plt.imsave(out, np.clip(filled[0] * scale + mean, 0.0, 1.0), cmap="gray", vmin=0.0,
                   vmax=1.0)
    with _writing(fig_path):
        plot.denoising(clean, {"masked": np.where(mask > 0, clean[0], clean.min()),
                               f"filled, layer {layer}": filled},
                       path=fig_path, title=f"{os.path.basename(args.image)}: {what}")
    _record(args, [out, fig_path])
    print(f"wrote {out} and {fig_path}")
    return 0
