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
  :data:`_common.MAX_IMAGES` per set evenly spread; or the built-in crops where those
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402


def main(argv=None):
    ap = _common.parser(__doc__)
    ap.add_argument("--sets", default="natural,city", help="which sets (default natural,city)")
    ap.add_argument("--force", action="store_true", help="retrain even if the model exists")
    args = ap.parse_args(argv)
    _common.data_control(args)
    for name in args.sets.split(","):
        path = _common.model_path(args, name)
        if path.exists() and not args.force:
            print(f"[{name}] {path} exists (--force to retrain)")
            continue
        _common.train_one(args, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
