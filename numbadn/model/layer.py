"""One Deconvolutional Network layer that infers and learns (section 3, Algorithm 1)."""
from __future__ import annotations

import time

import numpy as np

from .. import _validation as V
from .._jit import check_n_threads, threads
from .._params import ParamsMixin, n_jobs_to_threads, not_fitted, rng_from
from ..ops import conv_valid
from ..solvers.options import make_solver
from ..solvers.filters import normalize_planes, update_filters
from ..solvers.inference import cost as _cost
from ..solvers.inference import infer as _infer
from ..solvers.inference import infer_lowfreq as _infer_lowfreq
from ..solvers.z0 import grad_energy, low_pass, uniform_filter
from ._checks import check_layer_params, params_equal, resolve_connectivity
from ._images import LazyImages, as_image_list, check_masks, stack_if_same
from .training import TrainingState, check_callback, image_stats, progress, sum_abs_p

__all__ = ["DeconvLayer"]


class DeconvLayer(ParamsMixin):
    """A single Deconvolutional Network layer (eqs. 1-9, Algorithm 1).

    Each input ``y_c`` (``c < K0``) is modelled as ``sum_k g[k, c] z_k (*)
    f_kc`` with sparse feature maps ``z_k`` of size ``(P+h-1, Q+w-1)``.

    The layer follows scikit-learn's estimator conventions (without importing
    it): the constructor stores its arguments as given and :meth:`fit` checks
    them; ``get_params`` / ``set_params``, ``clone``, ``fit(X)`` returning
    ``self``, ``transform`` (the feature maps), ``inverse_transform`` (eq. 1),
    ``score`` (higher is better).  The fitted attributes (ending in ``_``)
    exist only after :meth:`fit`, :meth:`initialize`, :meth:`from_filters` or
    loading a model; every method that uses the filters needs them
    (``NotFittedError`` before).

    Parameters
    ----------
    in_channels : int
        ``K0``: image channels, or maps of the layer below.
    n_maps : int
        ``K1``: feature maps of this layer (layer 1 of the paper: 9).
    filter_size : int or (int, int)
        ``H`` (section 4: 7), or ``(h, w)``.
    lam : float
        ``lambda`` of eq. 2 (section 4: 1).
    p : float in (0, 1]
        Sparsity exponent (section 4: 1).
    connectivity : None, str or ndarray of bool (n_maps, in_channels)
        ``g`` of eq. 3; ``None`` is full (layer 1).  Names as in
        :func:`numbadn.connectivity.make`; the table used is
        ``connectivity_``.
    dtype : float32 or float64
        Filters and maps (float32 by default).
    random_state : int, None or numpy.random.Generator
        Filter initialisation (``randn``, each plane normalised) and
        ``connectivity="random_pairs"``.  ``None``: fresh entropy.
    solver : {"continuation", "fista"}, Continuation or Fista
        Inference solver, a name or an object (``"continuation"``, the paper's,
        by default).
    solver_options : dict, optional
        Options of ``solver``, overriding its own (see :class:`numbadn.Continuation`
        and :class:`numbadn.Fista`).
    update : {"online", "batch"}
        ``"online"``: update the filters after every image, as the authors'
        toolbox does ("batch updates don't work well" in its comments);
        ``"batch"``: once per epoch after all images (Algorithm 1 as printed).
        Online is the default (reproduce/online_vs_batch.py compares them).
    filter_cg_iters : int
        CG steps per filter update (toolbox: 2).
    lowfreq : bool
        Add the paper's z0 maps (section 3.3): one low-frequency map per input
        channel joined by a uniform ``h x h`` filter with an l2 gradient prior
        of weight ``psi``, so raw (not high-passed) images can be modelled.
        Layer 1 only, in the paper.
    psi : float
        Weight of the z0 gradient prior (toolbox: 1).
    warm_start : bool
        Keep every training image's maps between epochs and start its next
        inference from them (the toolbox's choice).  ``False`` keeps no maps
        (memory independent of the number of images); needs online updates.
        (Not scikit-learn's ``warm_start``: every :meth:`fit` of a fitted layer
        continues from its filters unless ``n_maps``, ``in_channels``,
        ``filter_size``, ``dtype`` or ``connectivity`` changed since;
        :func:`sklearn.base.clone` gives a fresh layer.)
    epochs : int
        ``E`` of :meth:`fit` (section 4: 3).
    n_jobs : int or None
        Numba threads: ``None`` numba's default (every core), ``-1`` every
        core, ``-2`` all but one, ``n > 0`` at most ``n``.
    verbose : bool
        A tqdm progress bar with the running cost in :meth:`fit`.

    Attributes
    ----------
    filters_ : ndarray of shape (n_maps, in_channels, h, w)
        The learned filters, unit-norm planes (the scale ambiguity between
        ``f`` and ``z`` is removed by normalising each connected plane
        ``f[k, c]`` after every update).
    connectivity_ : ndarray of bool, shape (n_maps, in_channels)
        ``g`` of eq. 3 as a table (``connectivity`` resolved).
    n_features_in_ : int
        ``K0``, the channels of each training image (``X.shape[1]`` of an
        ``(n, K0, P, Q)`` array).
    history_ : list of dict
        Per epoch: ``epoch``, ``cost`` (sum over images of eq. 3 right after
        each image's inference) and ``seconds``.
    maps_ : list of ndarray
        Feature maps of the training images from the last epoch.
    """

    _FITTED = ("filters_", "connectivity_", "n_features_in_", "history_", "maps_")

    def __init__(self, in_channels=1, n_maps=9, filter_size=7, lam=1.0, p=1.0,
                 connectivity=None, dtype=np.float32, random_state=0, solver="continuation",
                 solver_options=None, update="online", filter_cg_iters=2,
                 lowfreq=False, psi=1.0, warm_start=True, epochs=3, n_jobs=None,
                 verbose=True):
        self.in_channels = in_channels
        self.n_maps = n_maps
        self.filter_size = filter_size
        self.lam = lam
        self.p = p
        self.connectivity = connectivity
        self.dtype = dtype
        self.random_state = random_state
        self.solver = solver
        self.solver_options = solver_options
        self.update = update
        self.filter_cg_iters = filter_cg_iters
        self.lowfreq = lowfreq
        self.psi = psi
        self.warm_start = warm_start
        self.epochs = epochs
        self.n_jobs = n_jobs
        self.verbose = verbose

    @classmethod
    def from_filters(cls, filters, **params):
        """A fitted layer with the given filters (e.g. learned elsewhere).

        Parameters
        ----------
        filters : ndarray of shape (n_maps, in_channels, h, w)
            The filters, used as given (not normalised).
        **params
            The layer's parameters (see :class:`DeconvLayer`);
            ``n_maps``, ``in_channels``, ``filter_size`` and ``dtype`` default
            to those of ``filters`` and must agree with them when given.

        Returns
        -------
        DeconvLayer
            Fitted: ``filters_`` holds ``filters`` (in ``dtype``), ``history_``
            is empty.
        """
        f = V.as_float_array("filters", filters, 4)
        K1, K0, h, w = f.shape
        params = {"n_maps": K1, "in_channels": K0, "filter_size": (h, w),
                  "dtype": f.dtype, **params}
        layer = cls(**params)
        p = layer._checked()
        want = (p["n_maps"], p["in_channels"]) + p["filter_size"]
        if f.shape != want:
            raise ValueError(f"filters has shape {f.shape} but the parameters give "
                             f"(n_maps, in_channels, h, w) = {want}")
        layer._start(p, np.ascontiguousarray(f, p["dtype"]))
        return layer

    # ----------------------------------------------------- estimator protocol
    def __sklearn_is_fitted__(self):
        return "filters_" in self.__dict__

    @property
    def maps_(self):
        """Feature maps of the training images from the last epoch."""
        self._check_fitted("maps_")
        return self._state.maps

    def _checked(self):
        """The parameters checked, in canonical form (see :func:`check_layer_params`)."""
        return check_layer_params(self.get_params(deep=False))

    def _check_fitted(self, what):
        if "filters_" not in self.__dict__:
            raise not_fitted(self, f"fit(X) before {what}")

    def _threads(self, n_jobs):
        """Numba threads for a call given ``n_jobs`` (None: the layer's)."""
        return n_jobs_to_threads(self.n_jobs if n_jobs is None else n_jobs)

    def _start(self, p, filters=None):
        """Fitted state at the start of training: ``connectivity_`` resolved, the
        given ``filters`` or ``random_state``'s (``randn``, unit planes)."""
        K1, K0, (h, w) = p["n_maps"], p["in_channels"], p["filter_size"]
        g = resolve_connectivity(self.connectivity, K1, K0, p["random_state"])
        if filters is None:
            rng = rng_from(p["random_state"])
            f = rng.standard_normal((K1, K0, h, w)).astype(p["dtype"])
            filters = normalize_planes(f, g)
        self.connectivity_ = g
        self.filters_ = filters
        self.n_features_in_ = K0
        self.history_ = []
        self._state = TrainingState()
        self._connectivity_given = self.connectivity

    def initialize(self):
        """Make the layer fitted where training starts, and return it.

        An unfitted layer (or one whose ``n_maps``, ``in_channels``,
        ``filter_size``, ``dtype`` or ``connectivity`` changed since it was
        fitted) gets its parameters checked, ``connectivity_`` resolved, the
        random initial filters drawn from ``random_state`` (``randn``, each
        plane normalised) and an empty ``history_``; a fitted one is left as it
        is.  :meth:`fit` starts with it; training loops outside the class
        (:func:`numbadn.distributed.fit`) call it.

        Returns
        -------
        self
        """
        p = self._checked()
        want = (p["n_maps"], p["in_channels"]) + p["filter_size"]
        if not ("filters_" in self.__dict__ and self.filters_.shape == want
                and self.filters_.dtype == p["dtype"]
                and params_equal(self.connectivity, self._connectivity_given)):
            self._start(p)
        return self

    # ------------------------------------------------------------------ API
    def _images(self, images, name="images", K0=None, dtype=None):
        if K0 is None:
            K0, dtype = self.filters_.shape[1], self.filters_.dtype
        ims = as_image_list(images, K0, dtype, name)
        for i, y in enumerate(ims):
            if y.shape[1] < 1 or y.shape[2] < 1:
                raise ValueError(f"{name}[{i}] is empty")
        return ims

    def infer(self, image, *, z0=None, zlow0=None, n_jobs=None, callback=None, mask=None,
              **options):
        """Feature maps of one image (P, Q) / (K0, P, Q), or of a batch: an
        (n, K0, P, Q) array or a list of images.

        Minimises eq. 2/3 with the fitted filters; options override the
        layer's solver options (``solver=`` picks another solver).  A list of
        images is always a batch (never the channels of one image): its maps
        come back as an (n, K1, M, N) array when the images share a size, else
        as a list.  With ``lowfreq`` the z0 maps are solved jointly (one image
        at a time); :meth:`infer_lowfreq` returns them too.

        Parameters
        ----------
        image : array_like or list of arrays
            ``(P, Q)`` or ``(K0, P, Q)``; a batch as ``(n, K0, P, Q)`` or a list.
        z0 : ndarray, optional
            Start from these maps (``(K1, M, N)``, or one per image of a batch)
            instead of zeros.
        zlow0 : ndarray, optional
            Start of the z0 maps (``lowfreq`` layers only).
        n_jobs : int, optional
            Threads for this call, as the constructor's ``n_jobs`` (default: the
            layer's).
        callback : callable, optional
            ``callback(stats)`` is called after every solver iteration with a
            :class:`numbadn.IterationStats` (cost, sparsity, residual, time,
            ...; the same fields for every solver); returning True stops that
            image's solve.  Not with ``lowfreq``.
        mask : array_like, optional
            Per-pixel weights ``W`` in [0, 1] of the image's shape (or without
            its channel axis), 0 for a missing pixel (beyond the paper): the data
            term becomes ``lam/2 ||W (F z - y)||^2`` (and the z0 maps' too), so
            :meth:`reconstruct` fills the missing pixels.  A batch takes one
            mask per image; masked images are solved one after another.
        **options
            Solver options overriding the layer's (``solver="fista"`` or
            ``solver=Fista(...)``, ``beta_inc=10``, ...; see
            :class:`numbadn.Continuation` and :class:`numbadn.Fista`).

        Returns
        -------
        z : ndarray of shape (K1, P+h-1, Q+w-1), (n, K1, M, N), or list
            The feature maps (a list for a batch of images of different sizes).
        """
        return self._infer(image, z0, zlow0, n_jobs, callback, options, mask)[0]

    def infer_lowfreq(self, image, *, z0=None, zlow0=None, n_jobs=None, mask=None, **options):
        """Feature maps and z0 maps (section 3.3) of one image or a batch, solved
        jointly; a ``lowfreq`` layer only.

        Parameters
        ----------
        image, z0, zlow0, n_jobs, mask, **options
            As for :meth:`infer`.

        Returns
        -------
        z : ndarray of shape (K1, P+h-1, Q+w-1), (n, K1, M, N), or list
            The feature maps.
        zlow : ndarray of shape (K0, P+h-1, Q+w-1), (n, K0, M, N), or list
            The z0 maps (their low-pass image is ``reconstruct``'s ``zlow`` part).
        """
        self._check_fitted("infer_lowfreq(image)")
        if not self._checked()["lowfreq"]:
            raise ValueError("infer_lowfreq needs a layer with lowfreq=True (the z0 maps); "
                             "use infer")
        return self._infer(image, z0, zlow0, n_jobs, None, options, mask)

    def _infer(self, image, z0, zlow0, n_jobs, callback, options, mask=None):
        """``(z, zlow)``: the maps, and the z0 maps of a ``lowfreq`` layer (else None)."""
        self._check_fitted("infer(image)")
        if isinstance(image, (list, tuple)):
            return self._infer_list(image, z0, zlow0, n_jobs, callback, options, mask)
        p = self._checked()
        f, g = self.filters_, self.connectivity_
        K0 = f.shape[1]
        n_threads = self._threads(n_jobs)
        options = dict(options)
        solver = options.pop("solver", p["solver"])
        if solver is p["solver"] or solver == p["solver"]:
            options = {**(p["solver_options"] or {}), **options}
        solver = make_solver(solver, options)  # another solver: without the layer's options
        y = V.as_float_array("image", image, (2, 3, 4), f.dtype)
        if y.ndim == 2:
            y = y[None]
        if y.shape[-3] != K0:
            batch = " pass a list of images or an (n, 1, P, Q) array for a batch;" \
                if K0 == 1 and y.ndim == 3 else ""
            raise ValueError(
                f"image has {y.shape[-3]} channel(s) (shape {y.shape}) but the layer has "
                f"in_channels={K0}:{batch} expected shape "
                f"({K0}, P, Q)" + (" or (P, Q)" if K0 == 1 else ""))
        W = V.check_mask(mask, y.shape, y.dtype)
        if not p["lowfreq"]:
            if zlow0 is not None:
                raise ValueError("zlow0 is for a layer with lowfreq=True (the z0 maps)")
            return _infer(y, f, g, lam=p["lam"], p=p["p"], solver=solver, z0=z0,
                          n_threads=n_threads, callback=callback, mask=W), None
        if callback is not None:
            raise ValueError("callback is not available with lowfreq=True")
        kw = dict(lam=p["lam"], p=p["p"], psi=p["psi"], solver=solver)
        with threads(n_threads):
            if y.ndim == 4:
                out = [_infer_lowfreq(yi, f, g, z0=None if z0 is None else z0[i],
                                      zlow0=None if zlow0 is None else zlow0[i],
                                      mask=None if W is None else W[i], **kw)
                       for i, yi in enumerate(y)]
                return np.stack([o[0] for o in out]), np.stack([o[1] for o in out])
            return _infer_lowfreq(y, f, g, z0=z0, zlow0=zlow0, mask=W, **kw)

    def _infer_list(self, images, z0, zlow0, n_jobs, callback, options, masks=None):
        """:meth:`_infer` of a list of images: one stacked batch when they share a
        size (and no callback), else one image at a time."""
        ims = self._images(images, "image")
        if masks is not None and len(masks) != len(ims):
            raise ValueError(f"mask must give one mask per image: {len(ims)} images, "
                             f"{len(masks)} masks")
        if len({y.shape for y in ims}) == 1 and callback is None:
            z0 = None if z0 is None else np.stack(list(z0))
            zlow0 = None if zlow0 is None else np.stack(list(zlow0))
            if masks is not None:
                masks = np.stack([V.check_mask(m, y.shape, y.dtype, f"mask[{i}]")
                                  for i, (m, y) in enumerate(zip(masks, ims))])
            return self._infer(np.stack(ims), z0, zlow0, n_jobs, None, options, masks)
        out = []
        for i, y in enumerate(ims):
            cb = None if callback is None else _with_image(callback, i)
            out.append(self._infer(y, None if z0 is None else z0[i],
                                   None if zlow0 is None else zlow0[i], n_jobs, cb, options,
                                   None if masks is None else masks[i]))
        zl = [o[1] for o in out]
        return stack_if_same([o[0] for o in out]), \
            (None if zl[0] is None else stack_if_same(zl))

    def _lowpass(self, zlow, dtype):
        """The image of the z0 maps: ``zlow`` filtered by the uniform ``h x h`` filter."""
        K0, h = self.filters_.shape[1], self.filters_.shape[2]
        return low_pass(np.asarray(zlow, dtype), uniform_filter(K0, h, dtype))

    def reconstruct(self, z, *, zlow=None):
        """``sum_k g[k, c] z_k (*) f_kc`` (eq. 1): (K1, M, N) -> (K0, P, Q).

        Parameters
        ----------
        z : ndarray of shape (K1, M, N) or (n, K1, M, N), or list of arrays
            Feature maps of one image or of a batch.
        zlow : ndarray, optional
            The z0 maps of a ``lowfreq`` layer: their low-pass image is added.

        Returns
        -------
        ndarray of shape (K0, M-h+1, N-w+1) or (n, K0, ...), or list
            The reconstructed image(s).
        """
        self._check_fitted("reconstruct(z)")
        if isinstance(z, (list, tuple)):
            if not len(z):
                raise ValueError("z is an empty list: expected maps of shape (K1, M, N) or a "
                                 "list of them")
            return stack_if_same([self.reconstruct(zi, zlow=None if zlow is None else zlow[i])
                                  for i, zi in enumerate(z)])
        z = np.asarray(V.refuse_masked("z", z))
        if z.ndim == 4:
            return np.stack([self.reconstruct(zi, zlow=None if zlow is None else zlow[i])
                             for i, zi in enumerate(z)])
        out = conv_valid(z, self.filters_, self.connectivity_)
        if zlow is not None:
            out += self._lowpass(V.refuse_masked("zlow", zlow), out.dtype)
        return out

    def cost(self, image, z, *, zlow=None):
        """Eq. 2/3 of ``z`` for ``image`` with the fitted filters.

        Parameters
        ----------
        image : ndarray of shape (P, Q) or (K0, P, Q)
            The input ``y``.
        z : ndarray of shape (K1, P+h-1, Q+w-1)
            Its feature maps.
        zlow : ndarray, optional
            z0 maps: the data term is taken against ``image`` minus their
            low-pass image and ``psi ||grad zlow||^2`` is added.

        Returns
        -------
        float
            The cost.
        """
        self._check_fitted("cost(image, z)")
        p = self._checked()
        f, g = self.filters_, self.connectivity_
        y = image[None] if np.ndim(image) == 2 else image
        if zlow is None:
            return _cost(y, z, f, g, lam=p["lam"], p=p["p"])
        yy = y - self._lowpass(zlow, y.dtype)
        return _cost(yy, z, f, g, lam=p["lam"], p=p["p"]) + p["psi"] * grad_energy(zlow)

    def mean_cost(self, images, *, n_jobs=None):
        """Mean eq. 3 cost per image after inferring every image afresh with the
        fitted filters (lower is better; :meth:`score` is its negative).

        Parameters
        ----------
        images : array or list of arrays
            ``(P, Q)`` / ``(K0, P, Q)`` images, or an ``(n, K0, P, Q)`` array.
        n_jobs : int, optional
            Threads for this call (default: the layer's ``n_jobs``).

        Returns
        -------
        float
            The mean cost per image.
        """
        self._check_fitted("mean_cost(images)")
        ims = self._images(images)
        total = 0.0
        for y in ims:
            z, zl = self._infer(y, None, None, n_jobs, None, {})
            total += self.cost(y, z, zlow=zl)
        return total / len(ims)

    def score(self, X, y=None, *, n_jobs=None):
        """Negative mean eq. 3 cost per image (scikit-learn's "higher is better").

        Parameters
        ----------
        X : array or list of arrays
            The images, as for :meth:`transform`.
        y : ignored
            (Unsupervised; scikit-learn's signature.)
        n_jobs : int, optional
            Threads for this call (default: the layer's ``n_jobs``).

        Returns
        -------
        float
            ``-mean_cost(X)``.
        """
        self._check_fitted("score(X)")
        return -self.mean_cost(X, n_jobs=n_jobs)

    def transform(self, X):
        """Feature maps of every image of ``X`` (inferred with the fitted filters).

        Parameters
        ----------
        X : array or list of arrays
            A list of images ((P, Q) or (K0, P, Q)) or an (n, K0, P, Q) array;
            one 2-D or 3-D array is one image.

        Returns
        -------
        ndarray of shape (n, K1, P+h-1, Q+w-1), or list
            A list of (K1, M, N) arrays when the images differ in size.
        """
        self._check_fitted("transform(X)")
        ims = self._images(X, "X")
        return self.infer(ims)

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X).transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)

    def inverse_transform(self, Z):
        """Reconstructed images (eq. 1) from maps as :meth:`transform` returns them.

        Parameters
        ----------
        Z : ndarray of shape (n, K1, M, N) or (K1, M, N), or list of arrays
            Feature maps.

        Returns
        -------
        ndarray of shape (n, K0, M-h+1, N-w+1), or list
            The images.
        """
        self._check_fitted("inverse_transform(Z)")
        dt, K1 = self.filters_.dtype, self.filters_.shape[0]
        if isinstance(Z, (list, tuple)):
            return self.reconstruct([V.as_float_array(f"Z[{i}]", z, 3, dt)
                                     for i, z in enumerate(Z)])
        Z = V.as_float_array("Z", Z, (3, 4), dt)
        if Z.shape[-3] != K1:
            raise ValueError(f"Z has {Z.shape[-3]} maps but the layer has n_maps="
                             f"{K1}: expected shape (n, {K1}, M, N)")
        return self.reconstruct(Z)

    def fit(self, X, y=None, *, epochs=None, verbose=None, n_jobs=None, callback=None,
            masks=None):
        """Learn the filters (Algorithm 1); returns ``self``.

        Per epoch and image: infer ``z`` warm-started from that image's maps
        of the previous epoch (zeros at first; beta restarts at ``beta0``),
        then (``update="online"``) take ``filter_cg_iters`` CG steps on the
        filter sub-problem (eq. 9) and normalise every plane.  With
        ``update="batch"`` the filter step comes once per epoch, after all
        images, and the images are inferred in parallel when they share a size.

        The parameters are checked here.  An unfitted layer starts from the
        random filters of :meth:`initialize`; a fitted one continues from its
        filters and ``history_``.  Every call starts each image's maps from
        zero (no warm start from the images of an earlier call, whose sizes
        may differ).

        Parameters
        ----------
        X : array or list of arrays
            (P, Q) or (K0, P, Q) arrays (sizes may differ), or (n, K0, P, Q).
        y : ignored
            (scikit-learn's signature.)
        epochs, verbose, n_jobs : optional
            Override the layer's ``epochs``, ``verbose`` and ``n_jobs`` for this call.
        callback : callable, optional
            ``callback(stats)`` after every image with a
            :class:`numbadn.IterationStats` (``epoch``, ``image``, the image's
            eq. 3 ``cost``, ``sparsity`` and ``residual`` of its maps, ``time``
            since the epoch began); returning True stops at the end of the
            epoch.
        masks : list of array_like, optional
            One per image: per-pixel weights ``W`` in [0, 1] of the image's shape
            (or without its channel axis), 0 for a missing pixel (beyond the
            paper).  Inference and the filter step (eq. 9) then use the data term
            ``lam/2 ||W (F z - y)||^2``: only the observed pixels teach the filters.

        Returns
        -------
        self
        """
        return self._fit(X, epochs=epochs, verbose=verbose, n_jobs=n_jobs, callback=callback,
                         masks=masks)

    def _fit(self, X, *, epochs=None, verbose=None, n_jobs=None, callback=None,
             on_image=None, desc="layer", state=None, warm_start=None, masks=None):
        """:meth:`fit` with the hooks a network's fit needs.

        ``on_image(layer, epoch_done)`` is called after every image (online
        updates) and every epoch (the network writes checkpoints there;
        :meth:`training_state` then describes the exact position).  ``state``
        (a :class:`TrainingState`) continues the interrupted fit it describes
        on the same images, ending with the same filters as the uninterrupted
        fit; without it (or for another number of images) the fit starts
        afresh.  ``desc`` labels the progress bar; ``warm_start=False``
        overrides the parameter for this fit (low-memory training).
        """
        p = self._checked()
        ims = X if isinstance(X, LazyImages) else \
            self._images(X, K0=p["in_channels"], dtype=p["dtype"])
        masks = check_masks(masks, ims)
        epochs = V.check_int("epochs", p["epochs"] if epochs is None else epochs, 0)
        verbose = p["verbose"] if verbose is None else verbose
        n_threads = check_n_threads(self._threads(n_jobs))
        per_image = check_callback(callback)
        warm_start = p["warm_start"] if warm_start is None else warm_start
        self.initialize()
        # a new fit starts afresh: every image's maps from zero, position 0
        # (the filters and the history carry on)
        if state is None or not state.fits(len(ims)):
            state = TrainingState.start(len(ims))
        self._state = state
        bar = progress(epochs * len(ims), verbose, desc,
                       initial=state.epoch * len(ims) + state.image)
        try:
            with threads(n_threads):
                while state.epoch < epochs:
                    epoch = state.epoch
                    t0 = time.perf_counter() - state.seconds
                    total, stop = self._run_epoch(p, state, ims, bar, n_threads, on_image, t0,
                                                  per_image, warm_start, masks)
                    self.history_.append({"epoch": len(self.history_) + 1, "cost": total,
                                          "seconds": time.perf_counter() - t0})
                    state.epoch, state.image, state.cost, state.seconds = epoch + 1, 0, 0.0, 0.0
                    if on_image is not None:
                        on_image(self, True)
                    if stop:
                        break
        finally:
            bar.close()
        return self

    def _run_epoch(self, p, state, ims, bar, n_threads, on_image, t0, per_image, warm_start,
                   masks=None):
        """One epoch of :meth:`fit` from ``state`` (updated as images are done);
        returns the epoch's summed eq. 3 cost and whether a callback asked to stop.
        ``masks``: the images' checked weights (beyond the paper), or None."""
        epoch = state.epoch
        g = self.connectivity_
        lam, pp = p["lam"], p["p"]
        stop = False
        same = not isinstance(ims, LazyImages) and len({y.shape for y in ims}) == 1
        if p["update"] == "batch" and same and len(ims) > 1 and not p["lowfreq"]:
            Z0 = None if state.maps[0] is None else np.stack(state.maps)
            Wb = None if masks is None else np.stack(masks)
            Z = self.infer(np.stack(ims), z0=Z0, n_jobs=n_threads, mask=Wb)
            state.maps = list(Z)
            total = _cost(np.stack(ims), Z, self.filters_, g, lam=lam, p=pp, mask=Wb)
            bar.update(len(ims))
            bar.set_postfix(epoch=epoch + 1, cost=f"{total:.4g}", refresh=False)
            if per_image is not None:
                for i, (y, z) in enumerate(zip(ims, Z)):
                    r = conv_valid(z, self.filters_, g) - y
                    if masks is not None:
                        r *= masks[i]
                    c = 0.5 * lam * float(np.vdot(r, r)) + sum_abs_p(z, pp)
                    stop |= bool(per_image(image_stats(epoch, i, t0, c, z, r, y)))
        else:
            total = state.cost
            for i in range(state.image, len(ims)):
                y = ims[i]
                W = None if masks is None else masks[i]
                z, zl = self._infer(y, state.maps[i], state.low[i], n_threads, None, {}, W)
                target = self._target(state, i, y, zl)
                # one residual F z - target serves the cost and the filter gradient
                r = conv_valid(z, self.filters_, g) - target
                rw = r if W is None else W * r
                c = (0.5 * lam * float(np.vdot(rw, rw)) + sum_abs_p(z, pp)
                     + (p["psi"] * grad_energy(zl) if zl is not None else 0.0))
                total += c
                if per_image is not None:
                    stop |= bool(per_image(image_stats(epoch, i, t0, c, z, rw, target)))
                if p["update"] == "online":
                    self._update_filters(p, [z], [target], [r], None if W is None else [W])
                if warm_start:
                    state.maps[i], state.low[i] = z, zl
                if p["update"] == "online":
                    state.image, state.cost = i + 1, total
                    state.seconds = time.perf_counter() - t0
                    if on_image is not None:
                        on_image(self, False)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, image=i + 1, cost=f"{total:.4g}", refresh=False)
        if p["update"] == "batch":
            self._update_filters(p, state.maps,
                                 [self._target(state, i, y) for i, y in enumerate(ims)],
                                 masks=masks)
        return total, stop

    def _target(self, state, i, y, zl=None):
        """What the filters must explain: ``y`` less the z0 low-pass image."""
        zl = state.low[i] if zl is None else zl
        if zl is None:
            return y
        return np.ascontiguousarray(y - self._lowpass(zl, y.dtype))

    def _update_filters(self, p, zs, ys, residuals=None, masks=None):
        g = self.connectivity_
        f = update_filters(self.filters_, g, zs, ys, p["filter_cg_iters"], residuals, masks)
        self.filters_ = normalize_planes(f, g)

    def training_state(self):
        """Where the current (or last) :meth:`fit` stands.

        Returns
        -------
        TrainingState
            What a checkpoint records to resume the fit exactly.
        """
        self._check_fitted("training_state()")
        return self._state


def _with_image(callback, i):
    """``callback`` with the ``image`` field of its stats set to ``i``."""
    return lambda st: callback(st._replace(image=i))
