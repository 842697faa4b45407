"""Train the two 3-layer models of section 4.1 once; every figure script shares them.

The paper: "we trained a separate 3 layer model for each dataset, using an
identical architecture": layer 1 has 9 maps fully connected to the image,
layer 2 has 45 maps (9 on single layer-1 maps, 36 on pairs), layer 3 has 150
maps on random pairs of layer-2 maps; ``H = 7, lambda = 1, p = 1, beta0 = 1,
beta_inc = 6, beta_max = 1e5, E = 3``, 100x100 training images.

Protocol (the authors' toolbox where the paper is silent):

* images: the non-blank 100x100 crops of the ``natural-full`` photographs
  (31 photographs of plants, fruit, animals and landscapes) and the
  ``city-full`` ones (15 of buildings and streets), from Debian's wallpaper and
  sample packages and scikit-learn (``numbadn.data.PHOTOGRAPHS``), at most
  :data:`MAX_IMAGES` per set evenly spread; or the built-in crops where those
  packages are missing, or ``--images``;
* the data control first: the share of gradient energy within 15 degrees of
  horizontal/vertical per set, with a 95% bootstrap interval over photographs
  (``_control.py``); the orientation claims of Fig. 7 / 8 can only be judged
  when the city interval lies above the natural one;
* preprocessing: grey, ``numbadn.preprocess.contrast_normalize`` (local
  contrast normalisation, 5x5 Gaussian of sigma 1.591, 'valid': 96x96, zero
  mean, range of width 2: the toolbox's scale), with the local std floored at
  the image's mean local std (``_common.SECTION41_STD_FLOOR``; why there);
* learning: Algorithm 1 with online filter updates after every image and warm
  starts across epochs (the toolbox's choices), the maps ``z`` (not the shrunk
  ``x``) passed up, scaled by one scalar per layer to a range of about [-1, 1]
  (the toolbox rescales them to [-1, 1]).

``--quick`` trains the same architecture on 8 built-in crops for 1 epoch.
Writes ``<out>/models/{natural,city}.npz`` and prints the control and the training
cost per epoch.

Example::

    python reproduce/train_models.py            # full: both sets, the paper's settings
    python reproduce/train_models.py --quick    # CI
    python reproduce/train_models.py --images natural=~/fruit_100_100,city=~/city_100_100
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
#: not say how many images it used; natural-full has 578 crops, city-full 311).
MAX_IMAGES = 320
#: Warm starts (the toolbox's choice) for MAX_IMAGES crops hold about 3 GiB;
#: allow that instead of falling back to low-memory mode (10x slower).
MEMORY_BUDGET = 5 * 2 ** 30


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
    ys = [contrast_normalize(im, std_floor=_common.SECTION41_STD_FLOOR) for im in ims]
    return ys, f"{describe(src)}; {len(ys)} crops used (at most {MAX_IMAGES}, evenly spread)"


def train_one(args, name, verbose=True):
    """Train and save the model of set ``name``; returns the net."""
    import numbadn
    _common.set_threads(args)
    ys, desc = training_images(args, name)
    epochs = QUICK["epochs"] if args.quick else PAPER["epochs"]
    net = numbadn.DeconvNet.paper(1, n_maps=PAPER["n_maps"], filter_size=PAPER["filter_size"],
                                  lam=PAPER["lam"], p=PAPER["p"], random_state=args.seed)
    net.meta = {"preprocess": f"contrast_normalize(std_floor={_common.SECTION41_STD_FLOOR!r})",
                "images": desc, "n_images": len(ys), "set": name, "epochs": epochs, "quick": bool(args.quick)}
    path = _common.model_path(args, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = path.with_name(f"{name}.checkpoint.npz")
    if verbose:
        print(f"[{name}] {desc}; {len(ys)} images of {ys[0].shape[-2]}x{ys[0].shape[-1]}, "
              f"{epochs} epoch(s), maps {PAPER['n_maps']}")
    t0 = time.perf_counter()
    if verbose:
        print(f"[{name}] warm starts hold {net.held_bytes([y.shape for y in ys]) / 2**30:.2f} GiB")
    net.fit(ys, epochs=epochs, verbose=verbose, checkpoint=str(ckpt), resume=True,
            memory_budget=MEMORY_BUDGET)
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


def data_control(args, verbose=True):
    """The control of ``_control.py`` on the training sources of both sets:
    ``(ctl, holds)``; ``holds`` is None when a set is missing."""
    import _control
    sources = {name: (_common.image_source(args, name) if not args.quick else name)
               for name in _common.SETS}
    ctl = _control.control(sources, seed=args.seed)
    holds = _control.verdict(ctl)
    if verbose:
        print("control (before training): share of gradient energy within "
              f"{_control.BAND:.0f} deg of horizontal/vertical (1/3 if even), mean over "
              "photographs, 95% bootstrap over photographs:")
        for line in _control.summary(ctl):
            print("  " + line)
        print(f"  city above natural, intervals apart: {'yes' if holds else 'NO'}"
              + ("" if holds else " -- the natural/city orientation claims cannot be judged "
                 "on these sets"))
    return ctl, holds


def main(argv=None):
    ap = _common.parser(__doc__)
    ap.add_argument("--sets", default="natural,city", help="which sets (default natural,city)")
    ap.add_argument("--force", action="store_true", help="retrain even if the model exists")
    args = ap.parse_args(argv)
    data_control(args)
    for name in args.sets.split(","):
        path = _common.model_path(args, name)
        if path.exists() and not args.force:
            print(f"[{name}] {path} exists (--force to retrain)")
            continue
        train_one(args, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
