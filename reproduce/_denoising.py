"""Section 4.4's denoising protocol, shared by ``sec44_denoising.py`` and
``contrast_choice.py``: the held-out test photographs, validation crops of the
training photographs, noisy pairs of each protocol, the SNR of an estimate, and
the tuning of one parameter by mean validation SNR.
"""
from __future__ import annotations

import numpy as np

import _common

#: Held-out test photographs: OpenCV samples (``opencv-doc``) and scikit-image
#: images (``skimage:NAME``; ``astronaut`` and ``rocket`` public domain,
#: ``camera`` CC0) that no training set of numbadn's uses.
TEST_PHOTOS = ("baboon.jpg", "butterfly.jpg", "messi5.jpg", "squirrel_cls.jpg",
               "rubberwhale1.png", "HappyFish.jpg", "aloeL.jpg", "chicky_512.png",
               "graf1.png", "box_in_scene.png", "board.jpg", "basketball1.png",
               "skimage:astronaut", "skimage:camera", "skimage:rocket")


def centre_crop(im, s):
    P, Q = im.shape[-2:]
    s = min(s, P, Q)
    i, j = (P - s) // 2, (Q - s) // 2
    return im[..., i:i + s, j:j + s]


def _load_photo(name):
    """One test photograph, grey in [0, 1] (None when its package is not installed)."""
    from numbadn.data import OPENCV_DOC_EXAMPLES, load_images
    if name.startswith("skimage:"):
        try:
            import skimage.data
        except ImportError:
            return None
        from numbadn.preprocess import to_grey
        a = np.asarray(getattr(skimage.data, name.split(":", 1)[1])(), np.float32) / 255.0
        return to_grey(np.moveaxis(a, -1, 0)) if a.ndim == 3 else a
    path = OPENCV_DOC_EXAMPLES / "data" / name
    return load_images(str(path))[0] if path.exists() else None


def test_images(args, size, trained_on=""):
    """[(name, raw clean image)] never used for training."""
    from numbadn.data import load_images
    from numbadn.denoise import raw_image
    if args.test_images:
        ims = load_images(args.test_images)
        names = [f"{args.test_images}[{i}]" for i in range(len(ims))]
    elif _common.full_sets_available():
        names, ims = [], []
        for n in TEST_PHOTOS:
            stem = n.split(":")[-1].rsplit(".", 1)[0]
            if stem.lower() in trained_on.lower():
                print(f"  test photograph {n} dropped: the model's training set names it")
                continue
            im = _load_photo(n)
            if im is not None:
                names.append(n)
                ims.append(im)
            if args.quick and len(ims) == 2:
                break
    else:  # no opencv-doc: crops of the city photographs, never seen by the natural model
        ims = load_images("city")[:2 if args.quick else 6]
        names = [f"city[{i}]" for i in range(len(ims))]
    return [(n, raw_image(centre_crop(im, size))) for n, im in zip(names, ims)]


def validation_images(args, size, n):
    """Crops of the training photographs (the natural set), for tuning only."""
    from numbadn.data import load_images
    from numbadn.denoise import raw_image
    src = "natural" if args.quick else _common.image_source(args, "natural")
    ims = load_images(src)
    idx = np.linspace(0, len(ims) - 1, n).astype(int)
    return [raw_image(centre_crop(ims[i], size)) for i in idx]


def _same(x):
    return x


def make_pairs(protocol, cleans, snr, rng):
    """[(target, noisy, to_target)] for ``protocol``: the SNR of an estimate ``r``
    of ``noisy`` is ``snr_db(target, to_target(r))``."""
    from numbadn.denoise import add_noise, highpass_pair
    if protocol == "raw":
        return [(c, add_noise(c, snr, rng), _same) for c in cleans]
    return [highpass_pair(c, snr, rng) for c in cleans]


def snr_of(pair, estimate):
    from numbadn.plot import snr_db
    target, _, to_target = pair
    return snr_db(target, to_target(estimate))


def tune(name, grid, run, pairs):
    """Best grid value by mean SNR over the pairs; returns (best, {value: mean})."""
    scores = {}
    for v in grid:
        scores[v] = float(np.mean([snr_of(pr, run(pr[1], v)) for pr in pairs]))
    best = max(scores, key=scores.get)
    print(f"  tuned {name}: {best:g} (validation SNR "
          + ", ".join(f"{k:g}: {s:.2f}" for k, s in scores.items()) + ")", flush=True)
    return best, scores
