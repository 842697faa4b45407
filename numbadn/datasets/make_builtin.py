"""Rebuild numbadn's built-in image sets ``natural`` and ``city`` from the photographs.

This is a plain script, not imported by the package; it documents and
reproduces where every bundled crop comes from.  The crops stand in for the
paper's two training sets of 100x100 photographs (Zeiler et al., CVPR 2010,
section 4): fruit and vegetable scenes, and urban scenes.

Needs, on a Debian 12 machine::

    apt-get install opencv-doc lomiri-wallpapers-16.04   # the photographs

then, from the repository root::

    python numbadn/datasets/make_builtin.py            # rewrites natural/ and city/
    python numbadn/datasets/make_builtin.py --check    # compare, write nothing

What it does, for every photograph listed in ``SETS`` below:

1. read it with Pillow and convert to grey, ITU-R BT.601 luma on [0, 1]
   floats (``numbadn.data`` / ``numbadn.preprocess.to_grey``); the natural
   photographs scaled as the ``"natural-full"`` set scales them (shorter side
   at most ``numbadn.data.FULL_SHORT_SIDE``, Lanczos), the city ones at their
   own resolution;
2. cut a centred grid of non-overlapping 100x100 tiles and drop the blank
   ones (std < ``numbadn.data.MIN_CROP_STD`` or fine detail <
   ``numbadn.data.MIN_CROP_DETAIL``) -- exactly the tiles that the
   ``"natural-full"`` / ``"city-full"`` sources cut on the fly;
3. keep the ``n`` tiles of highest standard deviation (the ones with the
   most object outlines rather than halftone grain or plain wall), stored in
   raster order;
4. write each as an 8-bit greyscale PNG named ``<photo>_y<row>_x<col>.png``,
   (row, col) being its top-left corner in the photograph.

The output is deterministic: same photographs, same PNG files.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root, for numbadn.data

from numbadn import data  # noqa: E402

#: set name -> list of (photo stem, (set, label) of numbadn.data.PHOTOGRAPHS or a
#: path relative to opencv-doc's examples, number of crops to keep).  The
#: natural photographs are the permissively licensed ones of the
#: "natural-full" set (CC0, CC-BY-4.0, OpenCV's Apache-2.0 / BSD-3-Clause).
SETS = {
    "natural": [
        ("seeding", ("natural", "seeding"), 4),
        ("aitzgorri", ("natural", "aitzgorri"), 3),
        ("picosdeeuropa", ("natural", "picosdeeuropa"), 3),
        ("life", ("natural", "life"), 4),
        ("sunset", ("natural", "sunset"), 3),
        ("fig", ("natural", "fig"), 5),
        ("fruits", ("natural", "fruits"), 4),
    ],
    "city": [
        ("building", "data/building.jpg", 5),
        ("home", "data/home.jpg", 3),
        ("leuvenA", "data/leuvenA.jpg", 6),
        *[(f"scenetext0{i}", f"text/scenetext0{i}.jpg", 2) for i in range(1, 7)],
    ],
}


def read_grey(where):
    """Photograph -> float64 grey (P, Q) in [0, 1]: a PHOTOGRAPHS entry as the
    -full sets read it (scaled to data.FULL_SHORT_SIDE), or an opencv-doc file at
    its own resolution (the city crops)."""
    if isinstance(where, tuple):
        key, label = where
        files = dict(data._full_files(f"{key}-full"))
        return data._read_photograph(files[label], True)
    path = data.OPENCV_DOC_EXAMPLES / where
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run 'apt-get install opencv-doc'")
    img = data._read_image(path, grey=True)
    if img is None:
        raise SystemExit(f"{path} could not be decoded")
    return img


def build(name):
    """Return {file name: uint8 crop} for one set."""
    out = {}
    for stem, where, n in SETS[name]:
        img = read_grey(where)
        tiles = data._grid_crops(img)
        if len(tiles) < n:
            raise SystemExit(f"{where}: only {len(tiles)} non-blank crops, {n} wanted")
        best = sorted(tiles, key=lambda t: -float(t[2].std()))[:n]
        for r, c, tile in sorted(best, key=lambda t: (t[0], t[1])):
            u8 = np.clip(np.rint(tile * 255.0), 0, 255).astype(np.uint8)
            out[f"{stem}_y{r:04d}_x{c:04d}.png"] = u8
        print(f"  {name}: {str(where):24s} {len(tiles):3d} non-blank crops, kept {n}")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="compare with the bundled files instead of writing them")
    args = ap.parse_args(argv)
    status = 0
    for name in SETS:
        crops = build(name)
        folder = HERE / name
        if args.check:
            have = {p.name: np.asarray(Image.open(p)) for p in folder.glob("*.png")}
            same = have.keys() == crops.keys() and all(
                np.array_equal(have[k], v) for k, v in crops.items())
            print(f"{name}: {'identical' if same else 'DIFFERENT'} ({len(crops)} crops)")
            status |= not same
            continue
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.png"):
            old.unlink()
        for fname, u8 in crops.items():
            Image.fromarray(u8).save(folder / fname, optimize=True)
        kb = sum(p.stat().st_size for p in folder.glob("*.png")) / 1024
        print(f"{name}: wrote {len(crops)} crops to {folder} ({kb:.0f} KB)")
    return status


if __name__ == "__main__":
    sys.exit(main())
