"""Spatial pyramid matching with a histogram-intersection SVM (section 4.3;
Lazebnik, Schmid and Ponce, CVPR 2006): pyramids, the kernel and the classifier."""
from __future__ import annotations

import math
import sys
import time

import numpy as np

from .. import _validation as V
from . import _spm
from .._params import check_random_state, rng_from
from ._common import FEATURES, Base, ClassifierMixin, NotFittedError, need
from .descriptors import DenseSIFT, DNDescriptors, ImageDescriptors, pretrained_model

__all__ = ["pyramid_weights", "spatial_pyramid", "intersection_kernel", "SPMClassifier"]


def pyramid_weights(levels):
    """Lazebnik et al.'s level weights (CVPR 2006, eq. 3) for ``levels`` levels.

    With ``L = levels - 1``: level 0 weighs ``1 / 2^L``, level ``l >= 1``
    weighs ``1 / 2^(L - l + 1)``; for 3 levels: 1/4, 1/4, 1/2.

    Parameters
    ----------
    levels : int
        Number of pyramid levels (at least 1).

    Returns
    -------
    ndarray of shape (levels,)
        The weight of each level, level 0 first.
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

    Parameters
    ----------
    words : array_like of int, shape (n,)
        Visual word of each descriptor, in ``[0, n_words)``.
    positions : array_like of shape (n, 2)
        Centre (row, column) of each descriptor, in image pixels.
    shape : (int, int)
        Image size (P, Q).
    n_words : int
        Vocabulary size.
    levels : int, default 3
        Pyramid levels (Lazebnik et al.'s L = 2).

    Returns
    -------
    ndarray of shape (n_words * (4**levels - 1) // 3,), float32
        The concatenated, weighted histograms.
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

    With pyramid histograms from :func:`spatial_pyramid` this is the pyramid
    match kernel of Lazebnik et al. (eq. 3).

    Parameters
    ----------
    A : array_like of shape (n, D)
        Nonnegative histograms, one per row.
    B : array_like of shape (m, D), optional
        Nonnegative histograms; default ``A``.

    Returns
    -------
    ndarray of shape (n, m), float64
        ``K[i, j]``.
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


def _squared_norms(centres):
    """``|c|^2`` of each centre (float64 sums), as float32."""
    return (centres.astype(np.float64) ** 2).sum(1).astype(np.float32)


def _nearest(X, centres, c2):
    """Index of the nearest centre of each row of X (squared Euclidean)."""
    return np.argmin(c2[None, :] - 2.0 * (X @ centres.T), axis=1)


class SPMClassifier(ClassifierMixin, Base):
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
    vocabularies : dict, optional
        Precomputed vocabularies by descriptor set, e.g. ``{"dn-1": C1, "dn-2":
        C2}`` with each ``C`` an (n_words, d) array: those sets skip k-means.
        A "dn-1+2" classifier given the vocabularies of a "dn-1" and a "dn-2"
        one concatenates exactly their pyramids.
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
                 max_descriptors=100_000, vocabularies=None, kmeans_iter=30, random_state=0,
                 n_jobs=None, verbose=False):
        self.features = features
        self.n_words = n_words
        self.levels = levels
        self.C = C
        self.extractor = extractor
        self.max_descriptors = max_descriptors
        self.vocabularies = vocabularies
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
        sets = self._sets()
        norms = {s: _squared_norms(self.vocabularies_[s]) for s in sets}
        rows = []
        for d in descs:
            parts = []
            for s in sets:
                C, c2 = self.vocabularies_[s], norms[s]
                parts.append(spatial_pyramid(_nearest(d[s], C, c2), d.locations(s), d.shape,
                                             C.shape[0], self.levels))
            rows.append(np.concatenate(parts))
        self._tick("quantize", t0)
        return np.stack(rows)

    # -- API
    def fit(self, X, y):
        """Learn the vocabularies and the SVM from training images (or their descriptors).

        Parameters
        ----------
        X : list of ndarray or list of ImageDescriptors
            Grey images (descriptors are computed with ``extractor``), or their
            descriptors.
        y : array_like of shape (n_images,)
            One label per image, at least two classes.

        Returns
        -------
        SPMClassifier
            This classifier, fitted (``vocabularies_``, ``svc_``, ``train_pyramids_``).
        """
        KMeans = need("sklearn.cluster", "SPMClassifier").KMeans
        SVC = need("sklearn.svm", "SPMClassifier").SVC
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
        rng = rng_from(check_random_state(self.random_state))
        per_image = max(1, math.ceil(self.max_descriptors / len(descs)))
        self.vocabularies_ = {}
        given = self.vocabularies or {}
        if not isinstance(given, dict):
            raise TypeError(f"vocabularies must be a dict of arrays by descriptor set, got "
                            f"{type(given).__name__}")
        for s in sets:
            if s in given:
                C = V.as_float_array(f"vocabularies[{s!r}]", given[s], 2).astype(np.float32)
                d = descs[0][s].shape[1]
                if C.shape != (n_words, d):
                    raise ValueError(f"vocabularies[{s!r}] has shape {C.shape}: expected "
                                     f"(n_words, d) = ({n_words}, {d})")
                self.vocabularies_[s] = C
                continue
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
            raise NotFittedError("this SPMClassifier is not fitted yet: call fit first")

    def pyramids(self, X):
        """The spatial pyramids of ``X`` with the fitted vocabularies.

        Parameters
        ----------
        X : list of ndarray or list of ImageDescriptors
            Grey images (descriptors are computed with ``extractor``), or their
            descriptors.

        Returns
        -------
        ndarray of shape (n_images, D), float32
            The pyramids of the descriptor sets, concatenated in order: the kernel's
            input (``train_pyramids_`` are the training images').
        """
        self._check_fitted()
        return self._pyramids(self._descriptors(X))

    def decision_function(self, X):
        """The SVM's decision values on the intersection kernel against the training images.

        Parameters
        ----------
        X : list of ndarray or list of ImageDescriptors
            Grey images (descriptors are computed with ``extractor``), or their
            descriptors.

        Returns
        -------
        ndarray of shape (n_images,) or (n_images, n_classes)
            As scikit-learn's ``SVC.decision_function`` (one-vs-rest shape).
        """
        return self.svc_.decision_function(self._test_kernel(X))

    def _test_kernel(self, X):
        self._check_fitted()
        if len(X) == 0:
            raise ValueError("X is empty")
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
        """Class label of each image.

        Parameters
        ----------
        X : list of ndarray or list of ImageDescriptors
            Grey images (descriptors are computed with ``extractor``), or their
            descriptors.

        Returns
        -------
        ndarray of shape (n_images,)
            The predicted labels (values of the training ``y``).
        """
        K = self._test_kernel(X)
        t0 = time.perf_counter()
        out = self.svc_.predict(K)
        self._tick("svm", t0)
        return out

    def score(self, X, y):
        """Accuracy: the fraction of ``X`` whose predicted label is ``y``.

        Parameters
        ----------
        X : list of ndarray or list of ImageDescriptors
            Grey images (descriptors are computed with ``extractor``), or their
            descriptors.
        y : array_like of shape (n_images,)
            The true labels.

        Returns
        -------
        float
            Between 0 and 1.
        """
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != len(X):
            raise ValueError(f"y must hold one label per image: X has {len(X)} images, "
                             f"y has shape {y.shape}")
        return float(np.mean(self.predict(X) == y))
