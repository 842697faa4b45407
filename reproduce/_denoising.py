"""Section 4.4's denoising protocol, shared by ``sec44_denoising.py`` and
``contrast_choice.py``: the held-out test photographs, the validation photographs
(held out too, and not test photographs), noisy pairs of each protocol, the SNR of an estimate, and
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


def _stem(name):
    """A photograph's file name without folder, ``skimage:`` prefix or suffix."""
    return name.split(":")[-1].rsplit("/", 1)[-1].rsplit(".", 1)[0]


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
            if _stem(n).lower() in trained_on.lower():
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


def validation_photos():
    """[(name, path or ``skimage:NAME``)] of the natural-heldout photographs
    (:data:`numbadn.data.PHOTOGRAPHS`) that are not test photographs: natural
    scenes no training set uses, kept apart from the test set for tuning."""
    from numbadn.data import OPENCV_DOC_EXAMPLES, PHOTOGRAPHS
    stems = {_stem(n).lower() for n in TEST_PHOTOS}
    out = []
    for label, pkg, rel, _ in PHOTOGRAPHS["natural-heldout"]:
        if _stem(rel).lower() in stems:
            continue
        if pkg == "opencv-doc":
            out.append((label, str(OPENCV_DOC_EXAMPLES / rel)))
        elif pkg == "scikit-image":
            out.append((label, "skimage:" + _stem(rel)))
    return out


def spread_crops(im, s, count):
    """``count`` crops of side ``s`` evenly spaced along the longer axis of ``im``
    and centred on the other (one crop: the centre crop)."""
    P, Q = im.shape[-2:]
    s = min(s, P, Q)
    along, across = (Q, P) if Q >= P else (P, Q)
    starts = ([(along - s) // 2] if count == 1 else
              np.linspace(0, along - s, count).round().astype(int).tolist())
    c = (across - s) // 2
    if Q >= P:
        return [im[..., c:c + s, a:a + s] for a in starts]
    return [im[..., a:a + s, c:c + s] for a in starts]


def validation_images(args, size, n):
    """``(crops, description)``: ``n`` raw crops for tuning only.

    Crops of side ``size`` of the natural photographs of
    :func:`validation_photos` (never trained on, not test photographs, read at
    their own resolution as the test photographs are), ``ceil(n / m)`` per
    photograph of the ``m`` (:func:`spread_crops`); without the photograph
    packages, crops of the built-in natural training set.
    """
    from numbadn.data import load_images
    from numbadn.denoise import raw_image
    photos = validation_photos() if _common.full_sets_available() else []
    ims = []
    for label, where in photos:
        im = _load_photo(where) if where.startswith("skimage:") else load_images(where)[0]
        if im is not None:
            ims.append((label, im))
    if ims:
        per = -(-n // len(ims))
        crops = [c for _, im in ims for c in spread_crops(im, size, per)]
        # photograph-major order cut at n: take round-robin so every photograph counts
        order = [j * per + k for k in range(per) for j in range(len(ims))][:n]
        names = ", ".join(lab for lab, _ in ims[:min(n, len(ims))])
        return ([raw_image(crops[i]) for i in order],
                f"{n} crop{'s' * (n != 1)} ({min(per, n)} per photograph at most) of held-out natural "
                f"photographs never trained on and not test photographs ({names})")
    src = "natural" if args.quick else _common.image_source(args, "natural")
    all_ims = load_images(src)
    idx = np.linspace(0, len(all_ims) - 1, n).astype(int)
    return ([raw_image(centre_crop(all_ims[i], size)) for i in idx],
            f"{n} crops of the training photographs ({src})")


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


def best_of(name, grid, score):
    """The grid value of the highest ``score(value)``; prints every score, and a best
    value at either end of the grid as such.  Returns (best, {value: score})."""
    scores = {v: float(score(v)) for v in grid}
    best = max(scores, key=scores.get)
    edge = " (at the grid's edge)" if best in (min(grid), max(grid)) else ""
    print(f"  tuned {name}: {best:g}{edge} (validation SNR "
          + ", ".join(f"{k:g}: {s:.2f}" for k, s in scores.items()) + ")", flush=True)
    return best, scores


def tune(name, grid, run, pairs):
    """Best grid value by mean SNR over the pairs (:func:`best_of`); returns
    (best, {value: mean})."""
    return best_of(name, grid, lambda v: np.mean([snr_of(pr, run(pr[1], v)) for pr in pairs]))
