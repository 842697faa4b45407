"""Dense descriptors of images (section 4.3, footnotes 4 and 5): from the feature
maps of a Deconvolutional Network (:class:`DNDescriptors`) and dense SIFT on the
same grid (:class:`DenseSIFT`), one :class:`ImageDescriptors` per image."""
from __future__ import annotations

import time
from importlib import resources

import numpy as np

from .. import _validation as V
from . import _spm
from ._common import (CELLS, FOOTNOTE4, GEOMETRY, NORMALIZE, PATCH, POOL, Base,
                      NotFittedError, grey_images, map_images, need, seed_of)

__all__ = ["ImageDescriptors", "DNDescriptors", "DenseSIFT", "pretrained_model",
           "footnote4_net", "normalize_descriptors"]


def normalize_descriptors(D):
    """The toolbox's normalisation of DN descriptors, row by row (float32, in place).

    Two steps, as ``SPM/ConvDescriptors/GenerateConcatenatedDescriptors.m``
    applies them to each layer's descriptors before the vocabulary is built:

    1. ``Helper/normalization/rescale_row_0_1.m``: subtract the row's minimum,
       divide by its new maximum (the row spans [0, 1]);
    2. Lazebnik's ``sp_normalize_sift`` (after Lowe): divide by the L2 norm,
       clip at 0.2, divide by the L2 norm again.

    ``sp_normalize_sift`` skips rows whose norm is at most 1; after step 1 that
    is only a row with a single nonzero (equal to 1), which is already what
    steps 2 would make of it, so every row goes through step 2 here.  A
    constant row (no contrast in the patch) has no maximum to divide by; the
    toolbox would make it NaN, here it becomes zeros.

    Parameters
    ----------
    D : ndarray of shape (n, d), float32
        Nonnegative descriptors (pooled ``|z|``), overwritten.

    Returns
    -------
    D
    """
    D -= D.min(axis=1, keepdims=True)
    mx = D.max(axis=1, keepdims=True)
    np.divide(D, mx, out=D, where=mx > 0)
    D[(mx <= 0)[:, 0]] = 0.0
    for clip in (0.2, None):
        nrm = np.sqrt((D.astype(np.float64) ** 2).sum(1, keepdims=True)).astype(np.float32)
        np.divide(D, nrm, out=D, where=nrm > 0)
        if clip is not None:
            np.minimum(D, clip, out=D)
    return D


class ImageDescriptors:
    """The dense descriptors of one image, one set per feature type.

    Patches of ``PATCH x PATCH`` pixels lie on a grid of ``stride`` pixels
    (raster order); :attr:`positions` are their centres in image pixels.
    DN descriptors are kept as their pooled cells (sums of ``|z|`` over 4x4
    pixels on the stride grid: 16x smaller than the descriptors, which
    overlap) and materialised on access: ``d["dn-1"]`` is an (n, 16 K1)
    float32 array, ``d["sift"]`` (n, 128); ``d["dn-2"]`` is (4 n, 4 K2) with
    the toolbox's geometry (four descriptors per patch) and (n, 4 K2) with
    ``geometry="patch"``.  :meth:`locations` gives each row's centre.

    Parameters
    ----------
    shape : (int, int)
        Image size (P, Q).
    stride : int
        Pixels between neighbouring patches.
    cells : dict of str to ndarray, optional
        Per DN feature (``"dn-1"``, ``"dn-2"``), the pooled cells: float32 of shape
        (K, (P - 4) // stride + 1, (Q - 4) // stride + 1), sums of ``|z|`` over 4x4 pixels.
    dense : dict of str to ndarray, optional
        Per other feature (``"sift"``), its descriptors: one row per patch of the grid.
    normalize : {"toolbox", "none"}, default "toolbox"
        How DN descriptors are normalised on access (see Attributes).
    geometry : {"toolbox", "patch"}, default "toolbox"
        How layer-2 descriptors are cut on access (see Attributes).

    Attributes
    ----------
    shape : (int, int)
        Image size (P, Q).
    stride : int
    grid : (int, int)
        Patches per column and per row; ``n = grid[0] * grid[1]``.
    normalize : {"toolbox", "none"}
        DN descriptors normalised as the toolbox does
        (:func:`normalize_descriptors`) or raw pooled sums.
    geometry : {"toolbox", "patch"}
        Layer-2 descriptors: the toolbox's four per patch or one per patch
        (see :class:`DNDescriptors`).
    """

    __slots__ = ("shape", "stride", "grid", "normalize", "geometry", "_cells", "_dense")

    def __init__(self, shape, stride, cells=None, dense=None, normalize="toolbox",
                 geometry="toolbox"):
        _check_choice("normalize", normalize, NORMALIZE)
        _check_choice("geometry", geometry, GEOMETRY)
        self.normalize, self.geometry = normalize, geometry
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

    def with_options(self, normalize=None, geometry=None):
        """The same descriptors seen with another normalisation or layer-2 geometry.

        Parameters
        ----------
        normalize : {"toolbox", "none"}, optional
            The normalisation; ``None``: keep this one's.
        geometry : {"toolbox", "patch"}, optional
            The layer-2 geometry; ``None``: keep this one's.

        Returns
        -------
        ImageDescriptors
            A view that shares this one's arrays.
        """
        return ImageDescriptors(self.shape, self.stride, self._cells, self._dense,
                                normalize=normalize or self.normalize,
                                geometry=geometry or self.geometry)

    @property
    def names(self):
        return tuple(self._cells) + tuple(self._dense)

    def __len__(self):
        return self.grid[0] * self.grid[1]

    def __contains__(self, name):
        return name in self._cells or name in self._dense

    def _per_patch(self, name):
        """Descriptors per patch in set ``name``: 4 for the toolbox's layer 2, else 1."""
        return 4 if name == "dn-2" and self.geometry == "toolbox" else 1

    def __getitem__(self, name):
        if name in self._dense:
            return np.array(self._dense[name], np.float32)
        if name not in self._cells:
            raise KeyError(f"no {name!r} descriptors here (have {list(self.names)})")
        cells = self._cells[name]
        s = POOL // self.stride                   # one 4-pixel cell, in grid steps
        K = cells.shape[0]
        if name == "dn-1":
            # footnote 5 / make_descriptors.m with gridSize [4 4]: one descriptor of the
            # patch's 4x4 pooled cells
            out = np.empty((len(self), K * 16), np.float32)
            _spm.gather_descriptors(cells, 4, s, out)
        elif self.geometry == "patch":
            # one descriptor of 2x2 cells of 8x8 pixels over the whole patch; an 8x8 sum
            # is the sum of four 4x4 cells
            c8 = cells[:, :-s, :-s] + cells[:, s:, :-s] + cells[:, :-s, s:] + cells[:, s:, s:]
            out = np.empty((len(self), K * 4), np.float32)
            _spm.gather_descriptors(np.ascontiguousarray(c8), 2, 2 * s, out)
        else:
            # the toolbox (make_descriptors.m with gridSize [2 2] on the patch's 4x4
            # pooled cells): four descriptors per patch, each 2x2 cells of 4x4 pixels
            # (8x8 pixels), at the patch's corners; every 8x8 block of the grid first,
            # then the four of each patch picked out
            Bf = cells.shape[2] - s
            full = np.empty(((cells.shape[1] - s) * Bf, K * 4), np.float32)
            _spm.gather_descriptors(cells, 2, s, full)
            out = full[self._sub_rows(Bf)]
        if self.normalize == "toolbox":
            normalize_descriptors(out)
        return out

    def _sub_rows(self, Bf):
        """Rows of the dense 8x8-block grid (Bf blocks a row) holding each patch's
        four corner blocks: patches in raster order, their blocks in raster order."""
        A, B = self.grid
        off = 2 * (POOL // self.stride)          # 8 pixels in grid steps
        a, b = np.meshgrid(np.arange(A), np.arange(B), indexing="ij")
        u, v = np.array([0, 0, 1, 1]) * off, np.array([0, 1, 0, 1]) * off
        return ((a.ravel()[:, None] + u) * Bf + (b.ravel()[:, None] + v)).ravel()

    @property
    def positions(self):
        """(n, 2) float array of patch centres (row, column), raster order."""
        c = (PATCH - 1) / 2.0
        r = np.arange(self.grid[0]) * self.stride + c
        q = np.arange(self.grid[1]) * self.stride + c
        rr, qq = np.meshgrid(r, q, indexing="ij")
        return np.stack([rr.ravel(), qq.ravel()], axis=1)

    def locations(self, name):
        """Where each row of ``self[name]`` lies in the image.

        Parameters
        ----------
        name : str
            A feature held here (``"dn-1"``, ``"dn-2"``, ``"sift"``).

        Returns
        -------
        ndarray of shape (rows, 2)
            Centre (row, column) of each descriptor, in the rows' order: the patch
            centres, or for the toolbox's layer 2 the centre of each 8x8-pixel
            descriptor (the patch centre -+ 4 pixels).
        """
        pos = self.positions
        if self._per_patch(name) == 1:
            return pos
        q = PATCH // 4
        off = np.array([[-q, -q], [-q, q], [q, -q], [q, q]], np.float64)
        return (pos[:, None, :] + off[None]).reshape(-1, 2)

    def merge(self, other):
        """These descriptors and ``other``'s in one object.

        Parameters
        ----------
        other : ImageDescriptors
            Descriptors of the same image on the same grid (e.g. dense SIFT beside DN).

        Returns
        -------
        ImageDescriptors
            Every feature of both, with this one's normalisation and geometry.
        """
        if other.shape != self.shape or other.stride != self.stride:
            raise ValueError("merge needs descriptors of the same image and grid")
        return ImageDescriptors(self.shape, self.stride, {**self._cells, **other._cells},
                                {**self._dense, **other._dense}, normalize=self.normalize,
                                geometry=self.geometry)

    def nbytes(self):
        return sum(a.nbytes for a in self._cells.values()) + \
            sum(a.nbytes for a in self._dense.values())

    # npz round trip (the reproduction script's cache)
    def to_arrays(self):
        arrs = {"shape": np.array(self.shape), "stride": np.array(self.stride),
                "normalize": np.array(self.normalize), "geometry": np.array(self.geometry)}
        arrs.update({f"cells:{k}": v for k, v in self._cells.items()})
        arrs.update({f"dense:{k}": v for k, v in self._dense.items()})
        return arrs

    @classmethod
    def from_arrays(cls, arrs):
        cells = {k[6:]: np.ascontiguousarray(v, np.float32)
                 for k, v in arrs.items() if k.startswith("cells:")}
        dense = {k[6:]: np.asarray(v) for k, v in arrs.items() if k.startswith("dense:")}
        return cls(tuple(arrs["shape"]), int(arrs["stride"]), cells, dense,
                   normalize=str(arrs["normalize"]), geometry=str(arrs["geometry"]))


def _check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def pretrained_model():
    """The DN of footnote 4 shipped with numbadn.

    Layer 1: 8 maps fully connected to the image; layer 2: 36 maps on single
    layer-1 maps and every pair; ``p = 0.8``, ``lambda_1 = 10``,
    ``lambda_2 = 1``, 7x7 filters, 3 epochs, learned (as in the paper) on
    natural and city photographs, not on a classification set: the
    ``food-full`` (numbadn's former fruit set) and ``city-full`` crops, trained by
    ``reproduce/table1_recognition.py`` (see ``model.meta``).

    Returns
    -------
    DeconvNet
        The trained 2-layer network, loaded from the package's data.
    """
    from ..model import DeconvNet
    path = resources.files("numbadn") / "datasets" / "models" / "footnote4.npz"
    with resources.as_file(path) as p:
        return DeconvNet.load(str(p))


def footnote4_net(random_state=0):
    """An untrained :class:`~numbadn.DeconvNet` with the architecture of footnote 4.

    Parameters
    ----------
    random_state : int, numpy.random.Generator or None, default 0
        Seed of the random initial filters (layer 2 takes the next seed).

    Returns
    -------
    DeconvNet
        Layer 1: 8 maps on the image; layer 2: 36 maps on single layer-1 maps and
        every pair; ``p = 0.8``, ``lambda = (10, 1)``, 7x7 filters (:data:`FOOTNOTE4`).
    """
    from ..model import DeconvLayer
    from ..model import DeconvNet
    k1, k2 = FOOTNOTE4["n_maps"]
    l1, l2 = FOOTNOTE4["lam"]
    seed = seed_of(random_state)
    return DeconvNet([
        DeconvLayer(1, k1, filter_size=FOOTNOTE4["filter_size"], lam=l1, p=FOOTNOTE4["p"],
                    random_state=seed),
        DeconvLayer(k1, k2, filter_size=FOOTNOTE4["filter_size"], lam=l2, p=FOOTNOTE4["p"],
                    connectivity="singles_and_pairs", random_state=seed + 1)])


class DNDescriptors(Base):
    """Dense descriptors from DN feature maps (footnotes 4 and 5).

    Each image is made grey, contrast-normalised (the toolbox's local
    normalisation, size kept: ``mode='same'``) and its feature maps inferred:
    layer 1 from the image (eq. 2), layer 2 from layer 1's maps with the
    top-down refinement of section 3.3 (eqs. 10-11) unless ``top_down`` is
    False.  The maps are cropped to the image's own extent, and from their
    absolute values the descriptors of footnote 5 are cut: 16x16 patches at a
    stride of ``stride`` pixels, pooled by 4 (sums over 4x4 pixel cells: the
    toolbox's ``dessimate_spread.m`` then ``Abs_Avg`` pooling, up to a scale
    the normalisation removes), the patch's 4x4 pooled cells on each layer-1
    map forming one descriptor (``16 K1`` = 128-D for 8 maps;
    ``make_descriptors.m`` with gridSize [4 4]).

    Layer 2 (``4 K2`` = 144-D for 36 maps), ``geometry``:

    * ``"toolbox"`` (default): ``make_descriptors.m`` with gridSize [2 2] on
      the patch's 4x4 pooled cells, as the toolbox's SPM code runs it: four
      descriptors per patch, each 2x2 cells of 4x4 pixels (an 8x8-pixel
      corner of the patch), located at their own centres for the pyramid;
    * ``"patch"``: one descriptor per patch, 2x2 cells of 8x8 pixels.

    Descriptor values, ``normalize``:

    * ``"toolbox"`` (default): every DN descriptor rescaled to [0, 1]
      (``rescale_row_0_1.m``) then Lazebnik's ``sp_normalize_sift`` (L2,
      clip at 0.2, L2), as ``GenerateConcatenatedDescriptors.m`` does before
      building the vocabulary (:func:`normalize_descriptors`);
    * ``"none"``: the raw pooled sums.

    The paper (footnote 5) states neither; both defaults follow the
    toolbox's files (GitHub ``jerrychang125/published``,
    ``reports/nus_cs5340/code/simple_feature_learning/SPM/ConvDescriptors``).
    Both are views: :meth:`ImageDescriptors.with_options` switches them
    without recomputing the maps.

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
    normalize : {"toolbox", "none"}, default "toolbox"
        Descriptor normalisation (above).
    geometry : {"toolbox", "patch"}, default "toolbox"
        Layer-2 descriptor geometry (above).
    std_floor : float or str, optional
        The local-std floor of :func:`numbadn.preprocess.contrast_normalize`
        used on each image (and on the training images when :meth:`fit`
        trains); ``None``: that function's default.
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

    def __init__(self, model=None, layers=(1, 2), top_down=True, stride=2,
                 normalize="toolbox", geometry="toolbox", std_floor=None, epochs=3,
                 n_jobs=None, verbose=False, random_state=0):
        self.model = model
        self.layers = layers
        self.top_down = top_down
        self.stride = stride
        self.normalize = normalize
        self.geometry = geometry
        self.std_floor = std_floor
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
        _check_choice("normalize", self.normalize, NORMALIZE)
        _check_choice("geometry", self.geometry, GEOMETRY)
        return layers

    def _contrast(self):
        from ..preprocess import DEFAULT_STD_FLOOR
        return DEFAULT_STD_FLOOR if self.std_floor is None else self.std_floor

    def _check_model(self, net, layers):
        from ..model import DeconvNet
        if not isinstance(net, DeconvNet):
            raise TypeError(f"model must be a trained numbadn.DeconvNet, got "
                            f"{type(net).__name__}")
        top = max(layers)
        trained = getattr(net, "trained_", 0)
        if trained < top or len(net.layers) < top:
            raise ValueError(f"model has {trained} trained layer(s); layers={layers} "
                             f"needs {top}")
        if net.layers[0].in_channels != 1:
            raise ValueError(f"model takes {net.layers[0].in_channels} input channels; "
                             f"descriptors are computed on grey images (1 channel)")

    def fit(self, images=None, y=None):
        """Use ``model`` or, without one, train footnote 4's network on ``images``.

        Parameters
        ----------
        images : list of ndarray, optional
            Grey (or colour, converted) float arrays in [0, 1], e.g.
            ``numbadn.data.load_images("natural-full") + load_images("city-full")``;
            needed only when ``model`` is None.
        y : ignored
            Unsupervised; present for scikit-learn's pipelines.

        Returns
        -------
        DNDescriptors
            This estimator, fitted (``model_``, ``layers_``, ``n_features_out_``).
        """
        layers = self._check_params()
        if self.model is not None:
            self._check_model(self.model, layers)
            self.model_ = self.model
        else:
            if images is None:
                raise ValueError("images is required when model is None: fit trains the "
                                 "network of footnote 4 on them")
            from ..preprocess import contrast_normalize
            ims = grey_images(images)
            V.check_int("epochs", self.epochs, 1)
            net = footnote4_net(self.random_state)
            fl = self._contrast()
            net.meta = {"preprocess": "contrast_normalize", "std_floor": fl,
                        "n_images": len(ims), "footnote4": True}
            net.fit([contrast_normalize(im, std_floor=fl) for im in ims], epochs=self.epochs,
                    verbose=bool(self.verbose))
            self.model_ = net
        net = self.model_
        self.n_features_out_ = {f"dn-{la}": net.layers[la - 1].n_maps * CELLS[f"dn-{la}"] ** 2
                                for la in layers}
        self.layers_ = layers
        return self

    def _one(self, img):
        from ..preprocess import contrast_normalize
        net = self.model_
        t0 = time.perf_counter()
        y = contrast_normalize(img, mode="same",
                               std_floor=self._contrast()).astype(net.layers[0].dtype)
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
            out = np.empty((z.shape[0], (P - POOL) // self.stride + 1,
                            (Q - POOL) // self.stride + 1), np.float32)
            _spm.pool_cells(np.ascontiguousarray(z), POOL, self.stride, out)
            cells[name] = out
        t2 = time.perf_counter()
        return ImageDescriptors((P, Q), self.stride, cells, normalize=self.normalize,
                                geometry=self.geometry), (t1 - t0, t2 - t1)

    def transform(self, images):
        """Dense descriptors of each image.

        Parameters
        ----------
        images : list of ndarray
            Grey (or colour, converted) float arrays in [0, 1], any sizes of at least
            16x16 pixels.

        Returns
        -------
        list of ImageDescriptors
            One per image, with the pooled cells of each layer in ``layers``.
        """
        if not hasattr(self, "model_"):
            raise NotFittedError("this DNDescriptors is not fitted yet: call fit (with "
                                 "model=... or training images) first")
        self._check_params()
        ims = grey_images(images)
        res = map_images(self._one, ims, self.n_jobs, self.verbose, "DN descriptors")
        self.timings_ = {"inference": sum(t[0] for _, t in res),
                         "pooling": sum(t[1] for _, t in res)}
        return [d for d, _ in res]

    def fit_transform(self, images, y=None):
        return self.fit(images, y).transform(images)


class DenseSIFT(Base):
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
        need("cv2", "DenseSIFT")
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
        ims = grey_images(images)
        res = map_images(self._one, ims, self.n_jobs, self.verbose, "dense SIFT")
        self.timings_ = {"sift": sum(t for _, t in res)}
        return [d for d, _ in res]

    def fit_transform(self, images, y=None):
        return self.fit(images, y).transform(images)
