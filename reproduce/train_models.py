"""Train the two 3-layer models of section 4.1 once; every figure script shares them.

The paper: "we trained a separate 3 layer model for each dataset, using an
identical architecture": layer 1 has 9 maps fully connected to the image,
layer 2 has 45 maps (9 on single layer-1 maps, 36 on pairs), layer 3 has 150
maps on random pairs of layer-2 maps; ``H = 7, lambda = 1, p = 1, beta0 = 1,
beta_inc = 6, beta_max = 1e5, E = 3``, 100x100 training images.

Protocol (the authors' toolbox where the paper is silent):

* images: every non-blank 100x100 crop of the ``food-full`` and ``city-full``
  photographs (Debian's ``opencv-doc``; ``numbadn.data``), or the built-in
  crops where that package is missing, or ``--images``;
* preprocessing: grey, ``numbadn.preprocess.contrast_normalize`` (local
  contrast normalisation, 5x5 Gaussian of sigma 1.591, 'valid': 96x96, zero
  mean, range of width 2: the toolbox's scale);
* learning: Algorithm 1 with online filter updates after every image and warm
  starts across epochs (the toolbox's choices), the maps ``z`` (not the shrunk
  ``x``) passed up, scaled by one scalar per layer to a range of about [-1, 1]
  (the toolbox rescales them to [-1, 1]).

``--quick`` trains the same architecture on 8 built-in crops for 1 epoch.
Writes ``<out>/models/{food,city}.npz`` and prints the training cost per epoch.

Example::

    python reproduce/train_models.py            # full: both sets, the paper's settings
    python reproduce/train_models.py --quick    # CI
    python reproduce/train_models.py --images food=~/fruit_100_100,city=~/city_100_100
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

#: Section 4 / 4.1.
PAPER = dict(n_maps=(9, 45, 150), filter_size=7, lam=1.0, p=1.0, epochs=3, crop=100)
QUICK = dict(n_images=8, epochs=1)
#: At most this many crops per set, spread evenly over the set (the paper does
#: not say how many images it used; city-full has 530 crops, whose warm-start
#: maps (4.9 GiB) would force low-memory mode and 10x the training time).
MAX_IMAGES = 150


def training_images(args, name):
    """(list of contrast-normalised crops, description) for set ``name``."""
    from numbadn.data import describe, load_images
    from numbadn.preprocess import contrast_normalize
    src = _common.image_source(args, name)
    quick = getattr(args, "quick", False)
    if quick and not getattr(args, "images", None):
        src = name  # the bundled crops: no extra package in CI
    crop = None if src in (name, f"{name}-full") else (PAPER["crop"], PAPER["crop"])
    ims = load_images(src, crop=crop)
    if quick:
        ims = ims[:QUICK["n_images"]]
    elif len(ims) > MAX_IMAGES:
        import numpy as np
        ims = [ims[i] for i in np.linspace(0, len(ims) - 1, MAX_IMAGES).astype(int)]
    ys = [contrast_normalize(im) for im in ims]
    return ys, f"{describe(src)}; {len(ys)} crops used (at most {MAX_IMAGES}, evenly spread)"


def train_one(args, name, verbose=True):
    """Train and save the model of set ``name``; returns the net."""
    import numbadn
    _common.set_threads(args)
    ys, desc = training_images(args, name)
    epochs = QUICK["epochs"] if args.quick else PAPER["epochs"]
    net = numbadn.DeconvNet.paper(1, n_maps=PAPER["n_maps"], filter_size=PAPER["filter_size"],
                                  lam=PAPER["lam"], p=PAPER["p"], random_state=args.seed)
    net.meta = {"preprocess": "contrast_normalize", "images": desc, "n_images": len(ys),
                "set": name, "epochs": epochs, "quick": bool(args.quick)}
    path = _common.model_path(args, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = path.with_name(f"{name}.checkpoint.npz")
    if verbose:
        print(f"[{name}] {desc}; {len(ys)} images of {ys[0].shape[-2]}x{ys[0].shape[-1]}, "
              f"{epochs} epoch(s), maps {PAPER['n_maps']}")
    t0 = time.perf_counter()
    net.fit(ys, epochs=epochs, verbose=verbose, checkpoint=str(ckpt), resume=True)
    net.meta["train_seconds"] = time.perf_counter() - t0
    net.save(str(path), overwrite=True)
    if ckpt.exists():
        ckpt.unlink()
    if verbose:
        for i, la in enumerate(net.layers, 1):
            print(f"[{name}] layer {i}: cost per epoch "
                  + ", ".join(f"{h['cost']:.1f}" for h in la.history_))
        print(f"[{name}] wrote {path} ({net.meta['train_seconds']:.0f} s)")
    return net


def main(argv=None):
    ap = _common.parser(__doc__)
    ap.add_argument("--sets", default="food,city", help="which sets (default food,city)")
    ap.add_argument("--force", action="store_true", help="retrain even if the model exists")
    args = ap.parse_args(argv)
    for name in args.sets.split(","):
        path = _common.model_path(args, name)
        if path.exists() and not args.force:
            print(f"[{name}] {path} exists (--force to retrain)")
            continue
        train_one(args, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
