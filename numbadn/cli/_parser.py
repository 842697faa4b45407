"""The argument parser of every command (each ``--help`` has an example)."""
from __future__ import annotations

import argparse

import sys

from ..bench import add_arguments as add_bench_arguments
from ._common import MAX_SEED, MAX_SIDE, integer, number
from .commands import (MAX_BUSY, MAX_LAM, MAX_PASSES, MAX_SAMPLES, SNR_RANGE, _cmd_bench,
                       _cmd_denoise, _cmd_infer, _cmd_reconstruct, _cmd_show)
from .train import (DEFAULT_CROP, MAX_CHECKPOINT_EVERY, MAX_EPOCHS, MAX_ITER, MAX_MAPS,
                    _cmd_train)

#: What --force says in every writing command's help.
FORCE_HELP = ("replace existing files in the way of the outputs; without it numbadn replaces "
              "only the files it wrote itself in an earlier run of this command (recorded in "
              "the folder's .numbadn-outputs.json) and refuses anything else. Input files are "
              "never written over")


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit code 2)."""

    def error(self, message):
        print(f"{self.prog}: error: {message} (see '{self.prog} --help')", file=sys.stderr)
        raise SystemExit(2)


def build_parser():
    from .. import __version__
    raw = argparse.RawDescriptionHelpFormatter
    ap = Parser(
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
            p.add_argument("--threads", type=integer, default=None,
                           help="numba threads, >= 1 (default: all cores; more than the "
                                "cores are capped)")

    def force(p):
        p.add_argument("--force", action="store_true", help=FORCE_HELP)

    def model_image_layer(p):
        p.add_argument("model", help="model file written by 'numbadn train'")
        p.add_argument("image", help="image file")
        p.add_argument("--layer", type=integer, default=None,
                       help="layer, from 1 to the model's trained layers (default: top)")
        p.add_argument("--bottom-up", action="store_true",
                       help="infer layer by layer only (no top-down eqs. 10-11)")

    def one_image(p):
        p.add_argument("--size", type=integer, default=None,
                       help=f"resize the image to cover SIZE x SIZE and keep its centre, "
                            f"1 to {MAX_SIDE} (default: full size)")

    t = sub.add_parser("train", help="train a network (default: 2 layers on built-in photos)",
                       formatter_class=raw,
                       description="Train a Deconvolutional Network bottom-up (Algorithm 1 per "
                                   "layer) and write the model and its filter figures. With no "
                                   "arguments: 2 layers (9 and 45 maps) on the built-in 'natural' "
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
    t.add_argument("images", nargs="?", default="natural",
                   help="built-in set (natural, city, natural-full, city-full), folder or image file "
                        "(default: natural)")
    t.add_argument("--maps", default="9,45",
                   help=f"maps per layer, comma-separated, each 1 to {MAX_MAPS} (default 9,45; "
                        "paper 9,45,150)")
    t.add_argument("--paper", action="store_true", help="the paper's 3 layers: 9,45,150 maps")
    t.add_argument("--epochs", type=integer, default=3,
                   help=f"epochs per layer, 1 to {MAX_EPOCHS} (paper: 3)")
    t.add_argument("--lam", type=number, default=1.0,
                   help=f"lambda of eq. 2, > 0 and <= {MAX_LAM:g} (paper: 1)")
    t.add_argument("--p", type=number, default=1.0, help="sparsity exponent in (0, 1] (paper: 1)")
    t.add_argument("--filter-size", type=integer, default=7,
                   help="filter size H, 1 to 255 (paper: 7)")
    t.add_argument("--solver", default="continuation", choices=["continuation", "fista"],
                   help="inference solver (paper: continuation)")
    t.add_argument("--max-iter", type=integer, default=50,
                   help=f"FISTA iterations, 1 to {MAX_ITER} (with --solver fista)")
    t.add_argument("--update", default="online", choices=["online", "batch"],
                   help="filter updates per image (toolbox) or per epoch (Algorithm 1)")
    g = t.add_argument_group("images (default: 100x100 grey crops of each photograph)")
    g.add_argument("--crop", type=integer, default=None,
                   help=f"tile each photograph into CROP x CROP crops (0 to {MAX_SIDE}), blank "
                        f"ones skipped "
                        f"(default: {DEFAULT_CROP}, the paper's size, unless --size or "
                        f"--full-size; 0: no tiling)")
    g.add_argument("--size", type=integer, default=None,
                   help=f"resize each photograph to cover SIZE x SIZE (0 to {MAX_SIDE}) and keep "
                        "its centre (then tiled only if --crop is given; 0 keeps the sizes)")
    g.add_argument("--full-size", action="store_true",
                   help="train on every photograph at its own size (no crops, no resizing)")
    g.add_argument("--color", "--colour", dest="color", action="store_true",
                   help="keep RGB: layer 1 takes 3 input channels (default: grey)")
    g.add_argument("--n-images", type=integer, default=0,
                   help="use only the first N images (default 0: all)")
    t.add_argument("--lowfreq", action="store_true",
                   help="add the z0 low-frequency maps to layer 1 and train on raw images")
    t.add_argument("--no-normalize", action="store_true", help="skip contrast normalisation")
    t.add_argument("--seed", type=integer, default=0,
                   help=f"filter initialisation seed, 0 to {MAX_SEED}")
    t.add_argument("--out", default="numbadn-out",
                   help="output folder (default: numbadn-out). A folder holding a finished "
                        "model or a checkpoint is refused unless --resume or --force; image "
                        "folders skip numbadn output folders inside them")
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz left by an interrupted run")
    t.add_argument("--force", action="store_true",
                   help="start over in an --out that holds a finished model or a checkpoint: "
                        "the previous run's model, checkpoint and figures are removed together "
                        "first; other files in the way of the outputs are replaced")
    t.add_argument("--checkpoint-every", type=number, default=120.0,
                   help=f"seconds between checkpoints within an epoch, 0 to "
                        f"{MAX_CHECKPOINT_EVERY:g} (default 120)")
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
    model_image_layer(i)
    i.add_argument("--out", help="maps to this .npy or .npz file, or into this folder as "
                                 "IMAGE_layerL_maps.npy (default: not written)")
    i.add_argument("--plot", help="also plot the image beside its maps to this figure")
    force(i)
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
    model_image_layer(r)
    r.add_argument("--out", help="output figure (default: IMAGE_reconstruction.png)")
    force(r)
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
    d.add_argument("--snr", type=number, default=13.84,
                   help=f"input SNR in dB, {SNR_RANGE[0]:g} to {SNR_RANGE[1]:g} (paper: 13.84)")
    d.add_argument("--seed", type=integer, default=0, help=f"noise seed, 0 to {MAX_SEED}")
    d.add_argument("--lam", default=None,
                   help=f"lambda per layer for denoising, each > 0 and <= {MAX_LAM:g}, e.g. "
                        "5,20 (one value: every layer; "
                        "default: numbadn.denoise.DEFAULT_LAM, tuned by "
                        "reproduce/sec44_denoising.py)")
    d.add_argument("--passes", type=integer, default=None,
                   help=f"warm-started inference passes at every layer, 1 to {MAX_PASSES} "
                        "(default: the "
                        "authors' toolbox, numbadn.denoise.DEFAULT_PASSES: 7 at layer 1, 1 "
                        "above; 1: a single solve)")
    d.add_argument("--out", help="output figure (default: denoise.png)")
    force(d)
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
    s.add_argument("--layer", type=integer, default=None, help="only this layer")
    s.add_argument("--samples", type=integer, default=0,
                   help=f"also draw N samples per layer (Fig. 3), 0 to {MAX_SAMPLES}")
    s.add_argument("--out", help="one image file (by its ending) or a folder (default: .)")
    force(s)
    s.set_defaults(func=_cmd_show)

    from .inpaint import add_parser as add_inpaint
    add_inpaint(sub, raw, common, force, one_image)

    b = sub.add_parser("bench", help="kernel GFLOP/s and inference timings beside the paper's",
                       formatter_class=raw,
                       description="Measure kernel GFLOP/s (fraction of a measured FMA peak) and "
                                   "the paper's inference schedule on 150x150 images.",
                       epilog="example:\n  numbadn bench --quick --threads 1,2 --json bench.json")
    add_bench_arguments(b)
    force(b)
    b.epilog += (f"\n\n--threads counts are 1 to 1024, --busy 0 to {MAX_BUSY}; "
                 "every option and the --json path are checked before anything is measured.")
    b.set_defaults(func=_cmd_bench)
    return ap
