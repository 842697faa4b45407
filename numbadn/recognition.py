"""Object recognition with Deconvolutional Network features (section 4.3, Table 1).

The paper's pipeline: infer the feature maps of a 2-layer DN whose filters
were learned on natural and city images (footnote 4), cut dense descriptors
out of the absolute activations (footnote 5), quantise them with k-means into
1000 visual words, build the spatial pyramid of Lazebnik et al. (CVPR 2006)
and classify with an SVM on the histogram-intersection kernel; DN-(1+2)
concatenates the pyramids of both layers before the kernel.  The baseline is
the same pyramid on dense SIFT.

* :class:`DNDescriptors`: images -> dense DN descriptors (a transformer).
* :class:`DenseSIFT`: images -> dense SIFT on the same grid (OpenCV).
* :class:`SPMClassifier`: descriptors (or images) -> class labels.
* :func:`spatial_pyramid`, :func:`intersection_kernel`, :func:`pyramid_weights`:
  the pieces, for use on their own.

Both estimators follow scikit-learn's conventions (parameters only in
``__init__``, fitted attributes ending in ``_``, ``get_params`` /
``set_params``, ``clone`` and ``Pipeline`` work).  scikit-learn (k-means, SVM)
and OpenCV (SIFT) are optional: ``pip install 'numbadn[recognition]'``.

Example
-------
>>> from numbadn.recognition import DNDescriptors, SPMClassifier, pretrained_model
>>> from sklearn.pipeline import make_pipeline                     # doctest: +SKIP
>>> clf = make_pipeline(DNDescriptors(model=pretrained_model()),
...                     SPMClassifier(features="dn-1+2"))          # doctest: +SKIP
>>> clf.fit(train_images, train_labels).score(test_images, test_labels)  # doctest: +SKIP
"""
from __future__ import annotations

import inspect
import math
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import numpy as np

from . import _validation as V
from ._jit import max_threads, threads
from .kernels import _spm

__all__ = ["DNDescriptors", "DenseSIFT", "SPMClassifier", "ImageDescriptors",
           "spatial_pyramid", "pyramid_weights", "intersection_kernel", "pretrained_model",
           "FOOTNOTE4", "PATCH", "POOL", "FEATURES"]

#: Footnote 5: 16x16 patches, activations pooled by a factor of 4.
PATCH = 16
POOL = 4
#: Footnote 4: the DN used for Caltech-101.
FOOTNOTE4 = dict(n_maps=(8, 36), lam=(10.0, 1.0), p=0.8, filter_size=7, epochs=3)
#: The feature types of Table 1 and the descriptor sets each one uses.
FEATURES = {"dn-1": ("dn-1",), "dn-2": ("dn-2",), "dn-1+2": ("dn-1", "dn-2"),
            "sift": ("sift",)}
#: Footnote 5's grouping: cells per side of a patch on layer 1 / layer 2 maps.
_CELLS = {"dn-1": 4, "dn-2": 2}
_EXTRA = "pip install 'numbadn[recognition]'"


def _need(module, what):
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ImportError(f"{what} needs the optional package {module.split('.')[0]!r}: "
                          f"{_EXTRA}") from None


try:  # scikit-learn's base classes when present (repr, tags, clone); ours otherwise
    from sklearn.base import BaseEstimator as _Base
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    class _Base:
        """``get_params`` / ``set_params`` by scikit-learn's convention (duck typing)."""

        @classmethod
        def _get_param_names(cls):
            sig = inspect.signature(cls.__init__)
            return sorted(p.name for p in sig.parameters.values() if p.name != "self")

        def get_params(self, deep=True):
            return {k: getattr(self, k) for k in self._get_param_names()}

        def set_params(self, **params):
            names = self._get_param_names()
            for k, v in params.items():
                if k not in names:
                    raise ValueError(f"invalid parameter {k!r} for {type(self).__name__}; "
                                     f"valid: {names}")
                setattr(self, k, v)
            return self

        def __repr__(self):
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
            return f"{type(self).__name__}({args})"


# ------------------------------------------------------------ descriptors
class ImageDescriptors:
    """The dense descriptors of one image, one set per feature type.

    Patches of ``PATCH x PATCH`` pixels lie on a grid of ``stride`` pixels
    (raster order); :attr:`positions` are their centres in image pixels.
    DN descriptors are kept as their pooled cells (16x smaller than the
    descriptors, which overlap) and materialised on access: ``d["dn-1"]`` is
    an (n, 16 K1) float32 array, ``d["dn-2"]`` (n, 4 K2), ``d["sift"]``
    (n, 128).

    Attributes
    ----------
    shape : (int, int)
        Image size (P, Q).
    stride : int
    grid : (int, int)
        Patches per column and per row; ``n = grid[0] * grid[1]``.
    """

    __slots__ = ("shape", "stride", "grid", "l2", "_cells", "_dense")

    def __init__(self, shape, stride, cells=None, dense=None, l2=False):
        self.l2 = bool(l2)
        self.shape = (int(shape[0]), int(shape[1]))
        self.stride = int(stride)
        self.grid = ((self.shape[0] - PATCH) // self.stride + 1,
                     (self.shape[1] - PATCH) // self.stride + 1)
        self._cells = dict(cells or {})
        self._dense = dict(dense or {})
        n = self.grid[0] * self.grid[1]
        for name, d in self._dense.items():
            if d.shape[0] != n:
                raise ValueError(f"{name} descriptors have {d.shape[0]} rows, the grid has {n}")

    def l2_normalised(self):
        """The same descriptors, each divided by its Euclidean norm on access
        (not in the paper; SIFT's are normalised by construction).  Shares
        the arrays."""
        return ImageDescriptors(self.shape, self.stride, self._cells, self._dense, l2=True)

    @property
    def names(self):
        return tuple(self._cells) + tuple(self._dense)

    def __len__(self):
        return self.grid[0] * self.grid[1]

    def __contains__(self, name):
        return name in self._cells or name in self._dense

    def __getitem__(self, name):
        if name in self._dense:
            out = np.array(self._dense[name], np.float32)
        elif name in self._cells:
            cells = self._cells[name]
            n_cells = _CELLS[name]
            step = (PATCH // n_cells) // self.stride
            out = np.empty((len(self), cells.shape[0] * n_cells * n_cells), np.float32)
            _spm.gather_descriptors(cells, n_cells, step, out)
        else:
            raise KeyError(f"no {name!r} descriptors here (have {list(self.names)})")
        if self.l2:
            out /= np.maximum(np.sqrt((out.astype(np.float64) ** 2).sum(1)), 1e-12)[:, None] \
                .astype(np.float32)
        return out

    @property
    def positions(self):
        """(n, 2) float array of patch centres (row, column), raster order."""
        c = (PATCH - 1) / 2.0
        r = np.arange(self.grid[0]) * self.stride + c
        q = np.arange(self.grid[1]) * self.stride + c
        rr, qq = np.meshgrid(r, q, indexing="ij")
        return np.stack([rr.ravel(), qq.ravel()], axis=1)

    def merge(self, other):
        """These descriptors and ``other``'s (same image) in one object."""
        if other.shape != self.shape or other.stride != self.stride:
            raise ValueError("merge needs descriptors of the same image and grid")
        return ImageDescriptors(self.shape, self.stride, {**self._cells, **other._cells},
                                {**self._dense, **other._dense}, l2=self.l2)

    def nbytes(self):
        return sum(a.nbytes for a in self._cells.values()) + \
            sum(a.nbytes for a in self._dense.values())

    # npz round trip (the reproduction script's cache)
    def to_arrays(self):
        arrs = {"shape": np.array(self.shape), "stride": np.array(self.stride),
                "l2": np.array(self.l2)}
        arrs.update({f"cells:{k}": v for k, v in self._cells.items()})
        arrs.update({f"dense:{k}": v for k, v in self._dense.items()})
        return arrs

    @classmethod
    def from_arrays(cls, arrs):
        cells = {k[6:]: np.ascontiguousarray(v, np.float32)
                 for k, v in arrs.items() if k.startswith("cells:")}
        dense = {k[6:]: np.asarray(v) for k, v in arrs.items() if k.startswith("dense:")}
        return cls(tuple(arrs["shape"]), int(arrs["stride"]), cells, dense,
                   l2=bool(arrs.get("l2", False)))


def _grey_images(images, name="images"):
    """Images as a list of 2-D float arrays; colour ones converted to grey (said once)."""
    from .preprocess import to_grey
    if isinstance(images, np.ndarray):
        if images.ndim == 2:
            items = [images]
        elif images.ndim == 3 and images.shape[0] != 3:
            items = list(images)  # a stack of grey images
        else:
            items = list(images) if images.ndim == 4 else [images]
    elif isinstance(images, (list, tuple)) or hasattr(images, "__getitem__"):
        items = images
    else:
        raise TypeError(f"{name} must be a list of images (2-D arrays), got "
                        f"{type(images).__name__}")
    n = len(items)
    if n == 0:
        raise ValueError(f"{name} is empty: give at least one image")
    out, n_colour = [], 0
    for i in range(n):
        a = V.as_float_array(f"{name}[{i}]", items[i], (2, 3))
        if a.ndim == 3:
            if a.shape[0] not in (1, 3) and a.shape[-1] in (3, 4):
                a = np.moveaxis(a[..., :3], -1, 0)
            if a.shape[0] not in (1, 3):
                raise ValueError(f"{name}[{i}] has shape {a.shape}: expected a grey (P, Q) "
                                 f"or colour (3, P, Q) image")
            a = to_grey(a)
            n_colour += 1
        if min(a.shape) < PATCH:
            raise ValueError(f"{name}[{i}] is {a.shape[0]}x{a.shape[1]}: descriptors need "
                             f"images of at least {PATCH}x{PATCH} pixels (footnote 5's patch)")
        out.append(a)
    if n_colour:
        print(f"numbadn.recognition: {n_colour} colour image(s) of {name} converted to grey "
              f"(ITU-R BT.601 luma; footnote 4 uses grey images)", file=sys.stderr)
    return out


def _n_workers(n_jobs):
    if n_jobs is None or n_jobs == -1:
        return max_threads()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, -1 or None, got {n_jobs!r}")
    return min(int(n_jobs), max_threads())


def _map_images(fn, items, n_jobs, verbose, desc):
    """``[fn(x) for x in items]``, images side by side on ``n_jobs`` threads.

    Each worker runs numba's kernels on one thread (the kernels release the
    GIL); small images scale better across images than inside one.  The
    first image runs alone (it may compile or load the kernels), and the
    threading layer must be thread-safe (OpenMP or TBB; numba's workqueue
    layer is not), else the images run one after another on every thread.
    """
    import numba
    from .layer import _progress
    n = len(items)
    bar = _progress(n, verbose, desc)
    out = [None] * n
    try:
        out[0] = fn(items[0])
        bar.update(1)
        workers = min(_n_workers(n_jobs), n - 1)
        safe = numba.threading_layer() in ("omp", "tbb") if workers > 1 else False
        if not safe:
            for i in range(1, n):
                out[i] = fn(items[i])
                bar.update(1)
            return out

        def one(i):
            with threads(1):
                return i, fn(items[i])
        with ThreadPoolExecutor(workers) as ex:
            for i, r in ex.map(one, range(1, n)):
                out[i] = r
                bar.update(1)
    finally:
        bar.close()
    return out


def pretrained_model():
    """The DN of footnote 4 shipped with numbadn.

    Layer 1: 8 maps fully connected to the image; layer 2: 36 maps on single
    layer-1 maps and every pair; ``p = 0.8``, ``lambda_1 = 10``,
    ``lambda_2 = 1``, 7x7 filters, 3 epochs, learned (as in the paper) on
    natural and city photographs, not on a classification set: the
    ``food-full`` and ``city-full`` crops, trained by
    ``reproduce/table1_recognition.py`` (see ``model.meta``).
    """
    from .network import DeconvNet
    path = resources.files("numbadn") / "datasets" / "models" / "footnote4.npz"
    with resources.as_file(path) as p:
        return DeconvNet.load(str(p))


def footnote4_net(random_state=0):
    """An untrained :class:`~numbadn.DeconvNet` with the architecture of footnote 4."""
    from .layer import DeconvLayer
    from .network import DeconvNet
    k1, k2 = FOOTNOTE4["n_maps"]
    l1, l2 = FOOTNOTE4["lam"]
    seed = _seed(random_state)
    return DeconvNet([
        DeconvLayer(1, k1, filter_size=FOOTNOTE4["filter_size"], lam=l1, p=FOOTNOTE4["p"],
                    seed=seed),
        DeconvLayer(k1, k2, filter_size=FOOTNOTE4["filter_size"], lam=l2, p=FOOTNOTE4["p"],
                    connectivity="singles_and_pairs", seed=seed + 1)])


def _seed(random_state):
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2 ** 31))
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise TypeError(f"random_state must be an int, None or a numpy Generator, "
                        f"got {random_state!r}")
    return int(random_state)


class DNDescriptors(_Base):
    """Dense descriptors from DN feature maps (footnotes 4 and 5).

    Each image is made grey, contrast-normalised (the toolbox's local
    normalisation, size kept: ``mode='same'``) and its feature maps inferred:
    layer 1 from the image (eq. 2), layer 2 from layer 1's maps with the
    top-down refinement of section 3.3 (eqs. 10-11) unless ``top_down`` is
    False.  The maps are cropped to the image's own extent, and from their
    absolute values the descriptors of footnote 5 are cut: 16x16 patches at a
    stride of ``stride`` pixels, pooled by 4 (sums over 4x4 pixel cells) and
    grouped in 4x4 cells on each layer-1 map (``16 K1`` = 128-D for 8 maps)
    and in 2x2 groups of 2x2 cells (8x8 pixels) on each layer-2 map
    (``4 K2`` = 144-D for 36 maps).

    Parameters
    ----------
    model : DeconvNet, optional
        A trained network (e.g. :func:`pretrained_model`).  ``None``:
        :meth:`fit` trains the network of footnote 4 on the images it is
        given (the paper uses natural and city photographs, not the
        classification set).
    layers : tuple of int, default (1, 2)
        Which layers' descriptors to compute (``"dn-1"``, ``"dn-2"``).
    top_down : bool, default True
        Refine layer-2 maps top-down (section 3.3); False: bottom-up only.
    stride : int, default 2
        Patch spacing in pixels (footnote 5: 2).
    epochs : int, default 3
        Epochs per layer when :meth:`fit` trains.
    n_jobs : int, optional
        Images processed side by side (``None`` or -1: every core numba may use).
    verbose : bool, default False
        Progress bars.
    random_state : int, None or numpy Generator, default 0
        Filter initialisation when :meth:`fit` trains.

    Attributes
    ----------
    model_ : DeconvNet
        The network used.
    n_features_out_ : dict
        Descriptor length per name, e.g. ``{"dn-1": 128, "dn-2": 144}``.
    timings_ : dict
        Seconds spent in ``inference`` and ``pooling`` by the last
        :meth:`transform` (summed over worker threads).
    """

    def __init__(self, model=None, layers=(1, 2), top_down=True, stride=2, epochs=3,
                 n_jobs=None, verbose=False, random_state=0):
        self.model = model
        self.layers = layers
        self.top_down = top_down
        self.stride = stride
        self.epochs = epochs
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.random_state = random_state

    def _check_params(self):
        layers = tuple(self.layers) if isinstance(self.layers, (list, tuple)) else None
        if not layers or any(la not in (1, 2) for la in layers) or len(set(layers)) != len(layers):
            raise ValueError(f"layers must be a non-empty tuple of distinct values from "
                             f"(1, 2), got {self.layers!r}")
        V.check_int("stride", self.stride, 1)
        if self.stride > POOL or POOL % self.stride:
            raise ValueError(f"stride must divide the pooling cell of {POOL} pixels "
                             f"(1, 2 or 4), got {self.stride}")
        return layers

    def _check_model(self, net, layers):
        from .network import DeconvNet
        if not isinstance(net, DeconvNet):
            raise TypeError(f"model must be a trained numbadn.DeconvNet, got "
                            f"{type(net).__name__}")
        top = max(layers)
        if net.trained_ < top or len(net.layers) < top:
            raise ValueError(f"model has {net.trained_} trained layer(s); layers={layers} "
                             f"needs {top}")
        if net.layers[0].in_channels != 1:
            raise ValueError(f"model takes {net.layers[0].in_channels} input channels; "
                             f"descriptors are computed on grey images (1 channel)")

    def fit(self, images=None, y=None):
        """Use ``model`` or, without one, train footnote 4's network on ``images``.

        ``images``: grey (or colour, converted) float arrays in [0, 1], e.g.
        ``numbadn.data.load_images("food-full") + load_images("city-full")``.
        ``y`` is ignored (unsupervised).
        """
        layers = self._check_params()
        if self.model is not None:
            self._check_model(self.model, layers)
            self.model_ = self.model
        else:
            if images is None:
                raise ValueError("images is required when model is None: fit trains the "
                                 "network of footnote 4 on them")
            from .preprocess import contrast_normalize
            ims = _grey_images(images)
            V.check_int("epochs", self.epochs, 1)
            net = footnote4_net(self.random_state)
            net.meta = {"preprocess": "contrast_normalize", "n_images": len(ims),
                        "footnote4": True}
            net.fit([contrast_normalize(im) for im in ims], epochs=self.epochs,
                    verbose=bool(self.verbose))
            self.model_ = net
        net = self.model_
        self.n_features_out_ = {f"dn-{la}": net.layers[la - 1].n_maps * _CELLS[f"dn-{la}"] ** 2
                                for la in layers}
        self.layers_ = layers
        return self

    def _one(self, img):
        from .preprocess import contrast_normalize
        net = self.model_
        t0 = time.perf_counter()
        y = contrast_normalize(img, mode="same").astype(net.layers[0].dtype)
        P, Q = y.shape
        maps = {}
        if 1 in self.layers_:
            maps["dn-1"] = net.infer(y, layer=1)
        if 2 in self.layers_:
            maps["dn-2"] = net.infer(y, layer=2, top_down=bool(self.top_down))
        t1 = time.perf_counter()
        cells = {}
        for name, z in maps.items():
            # crop the maps to the image's extent: (M - P) / 2 = offset of the image in them
            r = (z.shape[1] - P) // 2
            c = (z.shape[2] - Q) // 2
            z = z[:, r:r + P, c:c + Q]
            cell = PATCH // _CELLS[name]
            out = np.empty((z.shape[0], (P - cell) // self.stride + 1,
                            (Q - cell) // self.stride + 1), np.float32)
            _spm.pool_cells(np.ascontiguousarray(z), cell, self.stride, out)
            cells[name] = out
        t2 = time.perf_counter()
        return ImageDescriptors((P, Q), self.stride, cells), (t1 - t0, t2 - t1)

    def transform(self, images):
        """Dense descriptors of each image: a list of :class:`ImageDescriptors`."""
        if not hasattr(self, "model_"):
            raise ValueError("this DNDescriptors is not fitted yet: call fit (with model=... "
                             "or training images) first")
        self._check_params()
        ims = _grey_images(images)
        res = _map_images(self._one, ims, self.n_jobs, self.verbose, "DN descriptors")
        self.timings_ = {"inference": sum(t[0] for _, t in res),
                         "pooling": sum(t[1] for _, t in res)}
        return [d for d, _ in res]

    def fit_transform(self, images, y=None):
        return self.fit(images, y).transform(images)


class DenseSIFT(_Base):
    """Dense SIFT on the grid of :class:`DNDescriptors` (Lazebnik et al.'s baseline).

    OpenCV's SIFT descriptor at every patch centre: 4x4 cells of 4 pixels
    (a 16x16 patch: keypoint size 16/6, since OpenCV's cell width is 1.5x
    the size), upright (angle 0), on the image smoothed with OpenCV's
    sigma 1.6 (octave 0).  Images are grey [0, 1] floats, quantised to 8 bits.

    Parameters
    ----------
    stride : int, default 2
        Patch spacing in pixels (the DN descriptors' grid).
    n_jobs, verbose
        As :class:`DNDescriptors`.
    """

    def __init__(self, stride=2, n_jobs=None, verbose=False):
        self.stride = stride
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, images=None, y=None):
        V.check_int("stride", self.stride, 1)
        _need("cv2", "DenseSIFT")
        self.n_features_out_ = {"sift": 128}
        return self

    def _one(self, img):
        import cv2
        t0 = time.perf_counter()
        P, Q = img.shape
        d = ImageDescriptors((P, Q), self.stride)
        pos = d.positions
        kps = [cv2.KeyPoint(float(x), float(r), PATCH / 6.0, 0.0) for r, x in pos]
        u8 = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        sift = cv2.SIFT_create()
        kps2, desc = sift.compute(u8, kps)
        if desc is None or len(kps2) != len(kps):
            raise RuntimeError(f"OpenCV SIFT returned {0 if desc is None else len(kps2)} "
                               f"descriptors for {len(kps)} keypoints")
        # OpenCV's SIFT values are integers in [0, 255]: kept as bytes (4x smaller)
        d = ImageDescriptors((P, Q), self.stride,
                             dense={"sift": np.clip(np.rint(desc), 0, 255).astype(np.uint8)})
        return d, time.perf_counter() - t0

    def transform(self, images):
        if not hasattr(self, "n_features_out_"):
            self.fit()
        ims = _grey_images(images)
        res = _map_images(self._one, ims, self.n_jobs, self.verbose, "dense SIFT")
        self.timings_ = {"sift": sum(t for _, t in res)}
        return [d for d, _ in res]

    def fit_transform(self, images, y=None):
        return self.fit(images, y).transform(images)


# ------------------------------------------------------- spatial pyramid
def pyramid_weights(levels):
    """Lazebnik et al.'s level weights (CVPR 2006, eq. 3) for ``levels`` levels.

    With ``L = levels - 1``: level 0 weighs ``1 / 2^L``, level ``l >= 1``
    weighs ``1 / 2^(L - l + 1)``; for 3 levels: 1/4, 1/4, 1/2.
    """
    levels = V.check_int("levels", levels, 1)
    L = levels - 1
    return np.array([1.0 / 2 ** L] + [1.0 / 2 ** (L - l + 1) for l in range(1, L + 1)])


def spatial_pyramid(words, positions, shape, n_words, levels=3):
    """The weighted spatial-pyramid histogram of one image (Lazebnik et al. 2006).

    Level ``l`` splits the image into ``2^l x 2^l`` cells; each cell counts
    the words whose patch centre falls in it.  Each level's counts are
    divided by the number of descriptors (the level sums to 1) and multiplied
    by its weight from :func:`pyramid_weights`; levels are concatenated from
    0 up, cells in raster order, words within each cell.

    Returns
    -------
    ndarray of shape (n_words * (4**levels - 1) // 3,), float32
    """
    words = np.asarray(words)
    positions = np.asarray(positions, dtype=np.float64)
    if words.ndim != 1 or positions.shape != (words.size, 2):
        raise ValueError(f"words must be (n,) and positions (n, 2); got {words.shape} and "
                         f"{positions.shape}")
    if words.size and (words.min() < 0 or words.max() >= n_words):
        raise ValueError(f"words must lie in [0, n_words={n_words})")
    w = pyramid_weights(levels)
    out = []
    n = max(words.size, 1)
    for l in range(levels):
        s = 2 ** l
        r = np.minimum((positions[:, 0] * s / shape[0]).astype(np.int64), s - 1)
        c = np.minimum((positions[:, 1] * s / shape[1]).astype(np.int64), s - 1)
        cell = r * s + c
        h = np.bincount(cell * n_words + words, minlength=s * s * n_words)
        out.append(h * (w[l] / n))
    return np.concatenate(out).astype(np.float32)


def intersection_kernel(A, B=None):
    """Histogram-intersection kernel ``K[i, j] = sum_d min(A[i, d], B[j, d])``.

    ``A``: (n, D), ``B``: (m, D) nonnegative (default ``B = A``).  Returns
    (n, m) float64.  With pyramid histograms from :func:`spatial_pyramid`
    this is the pyramid match kernel of Lazebnik et al. (eq. 3).
    """
    A = V.as_float_array("A", A, 2)
    B = A if B is None else V.as_float_array("B", B, 2)
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"A and B must have the same number of columns, got {A.shape[1]} "
                         f"and {B.shape[1]}")
    if A.dtype != B.dtype:
        A, B = A.astype(np.float64), B.astype(np.float64)
    if (A < 0).any() or (B < 0).any():
        raise ValueError("histograms must be nonnegative")
    out = np.empty((A.shape[0], B.shape[0]), np.float64)
    _spm.intersection_kernel(A, B, out)
    return out


def _nearest(X, centres, c2):
    """Index of the nearest centre of each row of X (squared Euclidean)."""
    return np.argmin(c2[None, :] - 2.0 * (X @ centres.T), axis=1)


class SPMClassifier(_Base):
    """Spatial pyramid matching with a histogram-intersection SVM (section 4.3).

    ``fit`` learns one vocabulary of ``n_words`` k-means centres per
    descriptor set on a random sample of at most ``max_descriptors`` of the
    training images' descriptors (drawn evenly over the images), turns each
    image into its spatial pyramid (:func:`spatial_pyramid`), and trains
    ``SVC(kernel="precomputed", C=C)`` (one-vs-one) on the intersection
    kernel.  For ``"dn-1+2"`` the pyramids of both layers are concatenated
    before the kernel (the paper's DN-(1+2)).

    Parameters
    ----------
    features : {"dn-1", "dn-2", "dn-1+2", "sift"}, default "dn-1+2"
    n_words : int, default 1000
        Vocabulary size (the paper: 1000).
    levels : int, default 3
        Pyramid levels (1x1, 2x2, 4x4 cells: Lazebnik's L = 2).
    C : float, default 10.0
        SVM penalty.
    extractor : DNDescriptors or DenseSIFT, optional
        Used when ``fit``/``predict`` get images instead of
        :class:`ImageDescriptors`.  ``None``: ``DenseSIFT()`` for "sift",
        ``DNDescriptors(model=pretrained_model())`` for the DN features.
    max_descriptors : int, default 100000
        Size of the k-means sample.
    kmeans_iter : int, default 30
        Lloyd iterations at most, from one Forgy initialisation (``n_words``
        random descriptors as centres: k-means++ seeding of 1000 centres
        costs 3x the iterations themselves).
    random_state : int, None or numpy Generator, default 0
    n_jobs : int, optional
        Images processed side by side by the extractor.
    verbose : bool, default False

    Attributes
    ----------
    classes_ : ndarray
    vocabularies_ : dict
        (n_words, d) centres per descriptor set.
    train_pyramids_ : ndarray (n_train, D) float32
        The training images' pyramids (the kernel's columns at prediction).
    svc_ : sklearn.svm.SVC
    timings_ : dict
        Seconds in ``descriptors``, ``kmeans``, ``quantize``, ``kernel``,
        ``svm`` (accumulated over fit and predict calls).
    """

    def __init__(self, features="dn-1+2", n_words=1000, levels=3, C=10.0, extractor=None,
                 max_descriptors=100_000, kmeans_iter=30, random_state=0, n_jobs=None,
                 verbose=False):
        self.features = features
        self.n_words = n_words
        self.levels = levels
        self.C = C
        self.extractor = extractor
        self.max_descriptors = max_descriptors
        self.kmeans_iter = kmeans_iter
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # -- helpers
    def _sets(self):
        if self.features not in FEATURES:
            raise ValueError(f"features must be one of {list(FEATURES)}, got {self.features!r}")
        return FEATURES[self.features]

    def _tick(self, key, t0):
        self.timings_[key] = self.timings_.get(key, 0.0) + time.perf_counter() - t0

    def _descriptors(self, X, name="X"):
        """X as a list of ImageDescriptors holding every set this classifier needs."""
        sets = self._sets()
        if isinstance(X, (list, tuple)) and X and all(isinstance(d, ImageDescriptors) for d in X):
            for i, d in enumerate(X):
                missing = [s for s in sets if s not in d]
                if missing:
                    raise ValueError(f"{name}[{i}] has no {missing} descriptors (it has "
                                     f"{list(d.names)}); features={self.features!r}")
            return list(X)
        t0 = time.perf_counter()
        ext = self._extractor()
        out = ext.transform(X)
        self._tick("descriptors", t0)
        return out

    def _extractor(self):
        if getattr(self, "extractor_", None) is not None:
            return self.extractor_
        ext = self.extractor
        if ext is None:
            if self.features == "sift":
                ext = DenseSIFT(n_jobs=self.n_jobs, verbose=self.verbose)
            else:
                ext = DNDescriptors(model=pretrained_model(), n_jobs=self.n_jobs,
                                    verbose=self.verbose)
        if not hasattr(ext, "n_features_out_"):
            ext = ext.fit()
        self.extractor_ = ext
        return ext

    def _pyramids(self, descs):
        """(n, D) float32 pyramids (sets concatenated) of a list of ImageDescriptors."""
        t0 = time.perf_counter()
        rows = []
        for d in descs:
            pos = d.positions
            parts = []
            for s in self._sets():
                C, c2 = self.vocabularies_[s], self._c2[s]
                parts.append(spatial_pyramid(_nearest(d[s], C, c2), pos, d.shape,
                                             C.shape[0], self.levels))
            rows.append(np.concatenate(parts))
        self._tick("quantize", t0)
        return np.stack(rows)

    # -- API
    def fit(self, X, y):
        """Learn the vocabularies and the SVM from training images (or their descriptors).

        ``X``: list of grey images, or of :class:`ImageDescriptors`;
        ``y``: one label per image, at least two classes.
        """
        KMeans = _need("sklearn.cluster", "SPMClassifier").KMeans
        SVC = _need("sklearn.svm", "SPMClassifier").SVC
        sets = self._sets()
        n_words = V.check_int("n_words", self.n_words, 2)
        V.check_int("levels", self.levels, 1)
        V.check_positive("C", self.C)
        V.check_int("max_descriptors", self.max_descriptors, 1)
        V.check_int("kmeans_iter", self.kmeans_iter, 1)
        if len(X) == 0:
            raise ValueError("X is empty: give training images")
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != len(X):
            raise ValueError(f"y must hold one label per image: X has {len(X)} images, "
                             f"y has shape {y.shape}")
        classes = np.unique(y)
        if classes.size < 2:
            raise ValueError(f"y has a single class ({classes[0]!r}); a classifier needs "
                             f"at least two")
        self.timings_ = {}
        self.extractor_ = None
        descs = self._descriptors(X)
        rng = np.random.default_rng(_seed(self.random_state))
        per_image = max(1, math.ceil(self.max_descriptors / len(descs)))
        self.vocabularies_, self._c2 = {}, {}
        for s in sets:
            t0 = time.perf_counter()
            sample = []
            for d in descs:
                D = d[s]
                k = min(per_image, D.shape[0])
                sample.append(D[rng.choice(D.shape[0], k, replace=False)] if k < D.shape[0]
                              else D)
            sample = np.concatenate(sample)
            if sample.shape[0] < n_words:
                raise ValueError(
                    f"n_words={n_words} needs at least {n_words} descriptors; the "
                    f"{len(descs)} training image(s) give {sample.shape[0]} {s!r} "
                    f"descriptors: lower n_words or add images")
            if self.verbose:
                print(f"k-means: {n_words} words on {sample.shape[0]} {s} descriptors "
                      f"of {sample.shape[1]} dimensions", file=sys.stderr)
            km = KMeans(n_clusters=n_words, init="random", n_init=1,
                        max_iter=int(self.kmeans_iter),
                        random_state=int(rng.integers(2 ** 31))).fit(sample)
            C = km.cluster_centers_.astype(np.float32)
            self.vocabularies_[s] = C
            self._c2[s] = (C.astype(np.float64) ** 2).sum(1).astype(np.float32)
            self._tick("kmeans", t0)
        H = self._pyramids(descs)
        t0 = time.perf_counter()
        K = intersection_kernel(H)
        self._tick("kernel", t0)
        t0 = time.perf_counter()
        self.svc_ = SVC(kernel="precomputed", C=float(self.C)).fit(K, y)
        self._tick("svm", t0)
        self.classes_ = self.svc_.classes_
        self.train_pyramids_ = H
        return self

    def _check_fitted(self):
        if not hasattr(self, "svc_"):
            raise ValueError("this SPMClassifier is not fitted yet: call fit first")

    def decision_function(self, X):
        return self.svc_.decision_function(self._test_kernel(X))

    def _test_kernel(self, X):
        self._check_fitted()
        if len(X) == 0:
            raise ValueError("X is empty")
        if not hasattr(self, "_c2"):
            self._c2 = {s: (C.astype(np.float64) ** 2).sum(1).astype(np.float32)
                        for s, C in self.vocabularies_.items()}
        Ks = []
        chunk = 256  # bounded memory: descriptors of at most this many images at once
        for i in range(0, len(X), chunk):
            part = X[i:i + chunk]
            H = self._pyramids(self._descriptors(part))
            t0 = time.perf_counter()
            Ks.append(intersection_kernel(H, self.train_pyramids_))
            self._tick("kernel", t0)
        return np.concatenate(Ks)

    def predict(self, X):
        """Class label of each image (or :class:`ImageDescriptors`)."""
        K = self._test_kernel(X)
        t0 = time.perf_counter()
        out = self.svc_.predict(K)
        self._tick("svm", t0)
        return out

    def score(self, X, y):
        """Accuracy: the fraction of ``X`` whose predicted label is ``y``."""
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != len(X):
            raise ValueError(f"y must hold one label per image: X has {len(X)} images, "
                             f"y has shape {y.shape}")
        return float(np.mean(self.predict(X) == y))
