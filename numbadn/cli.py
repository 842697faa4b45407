"""The ``numbadn`` command line (also ``python -m numbadn``).

The CLI holds no numerics: it parses arguments, calls the package and prints.
Every error is one line on stderr and a non-zero exit code.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np


def _cmd_bench(args):
    from .bench import main as bench_main
    argv = []
    if args.quick:
        argv.append("--quick")
    if args.threads:
        argv += ["--threads", args.threads]
    if args.json:
        argv += ["--json", args.json]
    return bench_main(argv)


def _cmd_demo(args):
    """Train one layer on built-in photographs and save its filters."""
    import matplotlib
    matplotlib.use("Agg")
    from . import DeconvLayer, plot
    from .data import describe, load_images
    from .preprocess import contrast_normalize

    ims = load_images(args.images, size=(100, 100))
    if args.n_images:
        ims = ims[:args.n_images]
    print(f"images: {describe(args.images)}; using {len(ims)}")
    ys = [contrast_normalize(im) for im in ims]
    layer = DeconvLayer(1, args.maps, filter_size=args.filter_size, lam=args.lam, p=args.p,
                        solver=args.solver)
    layer.fit(ys, epochs=args.epochs, verbose=not args.quiet)
    for h in layer.history_:
        print(f"epoch {h['epoch']}: cost {h['cost']:.2f} ({h['seconds']:.1f} s)")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "layer1_filters.png")
    plot.filter_grid(layer.filters[:, 0], title=f"layer-1 filters ({args.images})", path=path)
    np.save(os.path.join(args.out, "layer1_filters.npy"), layer.filters)
    print(f"wrote {path}")
    return 0


def build_parser():
    ap = argparse.ArgumentParser(
        prog="numbadn",
        description="Deconvolutional Networks (Zeiler et al., CVPR 2010) on multicore CPUs.")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser("bench", help="kernel GFLOP/s and inference timings beside the paper's",
                       description="Measure kernel GFLOP/s (fraction of a measured FMA peak) and "
                                   "the paper's inference schedule on 150x150 images.")
    b.add_argument("--quick", action="store_true", help="fewer sizes and repeats")
    b.add_argument("--threads", help="comma-separated thread counts (default: 1 and all)")
    b.add_argument("--json", help="also write the figures to this JSON file")
    b.set_defaults(func=_cmd_bench)

    d = sub.add_parser("demo", help="train one layer on built-in photographs",
                       description="Train a single DN layer (Algorithm 1) on contrast-normalised "
                                   "built-in photographs and write its filter figure.")
    d.add_argument("--images", default="food", help="built-in set, folder or file (default: food)")
    d.add_argument("--n-images", type=int, default=0, help="use only the first N images")
    d.add_argument("--maps", type=int, default=9, help="feature maps K1 (paper: 9)")
    d.add_argument("--filter-size", type=int, default=7, help="filter size H (paper: 7)")
    d.add_argument("--lam", type=float, default=1.0, help="lambda of eq. 2 (paper: 1)")
    d.add_argument("--p", type=float, default=1.0, help="sparsity exponent (paper: 1)")
    d.add_argument("--epochs", type=int, default=3, help="epochs E (paper: 3)")
    d.add_argument("--solver", default="continuation", choices=["continuation", "fista"])
    d.add_argument("--out", default="numbadn-out", help="output folder (default: numbadn-out)")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_demo)
    return ap


def main(argv=None):
    ap = build_parser()
    args = ap.parse_args(argv)
    if not getattr(args, "func", None):
        ap.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("numbadn: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        print(f"numbadn {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
