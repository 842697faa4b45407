"""One Deconvolutional Network layer that infers and learns (section 3, Algorithm 1)."""
from __future__ import annotations

import time

import numpy as np

from .. import _validation as V
from .._jit import check_n_threads, threads
from .._params import (ParamsMixin, n_jobs_to_threads, not_fitted, rng_from)
from ..solvers.inference import cost as _cost
from ..solvers.inference import infer as _infer
from ..solvers.inference import infer_lowfreq
from ..kernels import conv_valid
from ..solvers.filters import normalize_planes, update_filters
from ..solvers.z0 import grad_energy, low_pass, uniform_filter
from ._batch import infer_list
from ._checks import LazyImages, as_image_list, check_layer_params, params_equal, stack_if_same
from .training import TrainingState, check_callback, progress, run_epoch

__all__ = ["DeconvLayer"]


class DeconvLayer(ParamsMixin):
    """A single Deconvolutional Network layer (eqs. 1-9, Algorithm 1).

    Each input ``y_c`` (``c < K0``) is modelled as ``sum_k g[k, c] z_k (*)
    f_kc`` with sparse feature maps ``z_k`` of size ``(P+h-1, Q+w-1)``.

    The layer follows scikit-learn's estimator conventions (without importing
    it): ``get_params`` / ``set_params``, ``clone``, ``fit(X)`` returning
    ``self``, ``transform`` (the feature maps), ``inverse_transform`` (eq. 1),
    ``score`` (higher is better), fitted attributes ending in ``_``.

    Parameters
    ----------
    in_channels : int
        ``K0``: image channels, or maps of the layer below.
    n_maps : int
        ``K1``: feature maps of this layer (layer 1 of the paper: 9).
    filter_size : int or (int, int)
        ``H`` (section 4: 7); kept as the pair ``(h, w)``.
    lam : float
        ``lambda`` of eq. 2 (section 4: 1).
    p : float in (0, 1]
        Sparsity exponent (section 4: 1).
    connectivity : None, str or ndarray of bool (n_maps, in_channels)
        ``g`` of eq. 3; ``None`` is full (layer 1).  Names as in
        :func:`numbadn.connectivity.make`.  Kept as the boolean matrix.
    dtype : float32 or float64
        Filters and maps (float32 by default); kept as a ``numpy.dtype``.
    random_state : int, None or numpy.random.Generator
        Filter initialisation (``randn``, each plane normalised) and
        ``connectivity="random_pairs"``.  ``None``: fresh entropy.
    solver : str
        Inference solver (``"continuation"``, the paper's, by default).
    solver_options : dict, optional
        Options of ``solver`` (see :func:`numbadn.infer`).
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
        (Not scikit-learn's ``warm_start``: every :meth:`fit` continues from
        the current filters; :func:`sklearn.base.clone` gives a fresh layer.)
    epochs : int
        ``E`` of :meth:`fit` (section 4: 3).
    n_jobs : int or None
        Numba threads: ``None`` numba's default (every core), ``-1`` every
        core, ``-2`` all but one, ``n > 0`` at most ``n``.
    verbose : bool
        A tqdm progress bar with the running cost in :meth:`fit`.
    seed : int
        Deprecated name of ``random_state``.

    Attributes
    ----------
    filters_ : ndarray of shape (n_maps, in_channels, h, w)
        The learned filters, unit-norm planes (the scale ambiguity between
        ``f`` and ``z`` is removed by normalising each connected plane
        ``f[k, c]`` after every update).  ``NotFittedError`` before :meth:`fit`.
    filters : ndarray
        The current filters: the random initialisation before :meth:`fit`
        (what :meth:`infer`, :meth:`reconstruct` and :meth:`cost` use), the
        learned ones after.  Assigning filters makes the layer fitted.
    n_features_in_ : int
        ``K0``, the channels of each training image (``X.shape[1]`` of an
        ``(n, K0, P, Q)`` array).
    history_ : list of dict
        Per epoch: ``epoch``, ``cost`` (sum over images of eq. 3 right after
        each image's inference) and ``seconds``.
    maps_ : list of ndarray
        Feature maps of the training images from the last epoch.
    """

    def __init__(self, in_channels=1, n_maps=9, filter_size=7, lam=1.0, p=1.0,
                 connectivity=None, dtype=np.float32, random_state=0, solver="continuation",
                 solver_options=None, update="online", filter_cg_iters=2,
                 lowfreq=False, psi=1.0, warm_start=True, epochs=3, n_jobs=None,
                 verbose=True):
        params = dict(in_channels=in_channels, n_maps=n_maps, filter_size=filter_size,
                      lam=lam, p=p, connectivity=connectivity, dtype=dtype,
                      random_state=random_state, solver=solver, solver_options=solver_options,
                      update=update, filter_cg_iters=filter_cg_iters, lowfreq=lowfreq, psi=psi,
                      warm_start=warm_start, epochs=epochs, n_jobs=n_jobs, verbose=verbose)
        for k, v in check_layer_params(params).items():
            setattr(self, k, v)
        self._connectivity_spec = connectivity
        self._filters = None
        self._fitted = False
        self._history = []
        self._state = TrainingState()

    # ----------------------------------------------------- estimator protocol
    def _set_own_params(self, params):
        old = self.get_params(deep=False)
        new = {**old, **params}
        if "connectivity" not in params and any(
                new[k] is not old[k] for k in ("in_channels", "n_maps", "random_state")):
            new["connectivity"] = self._connectivity_spec  # re-derived for the new shape
        checked = check_layer_params(new)
        shape = ("in_channels", "n_maps", "filter_size", "dtype", "connectivity")
        changed = any(not params_equal(checked[k], old[k]) for k in shape)
        for k, v in checked.items():
            setattr(self, k, v)
        if "connectivity" in params:
            self._connectivity_spec = params["connectivity"]
        if changed or (not self._fitted and checked["random_state"] is not old["random_state"]):
            self._filters, self._fitted = None, False
            self._history, self._state = [], TrainingState()

    def _repr_default(self, name, value):
        if name == "connectivity":
            return isinstance(value, np.ndarray) and bool(value.all())
        if name == "filter_size":
            return value == (7, 7)
        if name == "dtype":
            return value == np.float32
        if name == "solver_options":
            return value == {}
        return False

    def __sklearn_is_fitted__(self):
        return self._fitted

    @property
    def filters(self):
        if self._filters is None:
            rng = rng_from(self.random_state)
            h, w = self.filter_size
            f = rng.standard_normal((self.n_maps, self.in_channels, h, w)).astype(self.dtype)
            self._filters = normalize_planes(f, self.connectivity)
        return self._filters

    @filters.setter
    def filters(self, f):
        self._filters = f
        self._fitted = True

    @property
    def filters_(self):
        if not self._fitted:
            raise not_fitted(self)
        return self._filters

    @filters_.setter
    def filters_(self, f):
        self.filters = f

    @property
    def n_features_in_(self):
        if not self._fitted:
            raise not_fitted(self)
        return self.in_channels

    @property
    def history_(self):
        return self._history

    @history_.setter
    def history_(self, h):
        self._history = h

    def _check_fitted(self, what):
        if not self._fitted:
            raise not_fitted(self, f"fit(X) before {what}")

    def _threads(self, n_threads):
        return n_jobs_to_threads(self.n_jobs) if n_threads is None else n_threads

    # ------------------------------------------------------------------ API
    def _images(self, images, name="images"):
        ims = as_image_list(images, self.in_channels, self.dtype, name)
        for i, y in enumerate(ims):
            if y.shape[1] < 1 or y.shape[2] < 1:
                raise ValueError(f"{name}[{i}] is empty")
        return ims

    def infer(self, image, *, z0=None, n_threads=None, return_stats=False,
              zlow0=None, return_lowfreq=False, callback=None, mask=None, **options):
        """Feature maps of one image (P, Q) / (K0, P, Q), or of a batch: an
        (n, K0, P, Q) array or a list of images.

        Minimises eq. 2/3 with this layer's current filters; options override
        the layer's solver options (``solver=`` picks another solver).  A list
        of images is always a batch (never the channels of one image): its maps
        come back as an (n, K1, M, N) array when the images share a size, else
        as a list.  With ``lowfreq`` the z0 maps are solved jointly (one image
        at a time) and ``return_lowfreq=True`` returns ``(z, zlow)``.

        Parameters
        ----------
        image : array_like or list of arrays
            ``(P, Q)`` or ``(K0, P, Q)``; a batch as ``(n, K0, P, Q)`` or a list.
        z0 : ndarray, optional
            Start from these maps (``(K1, M, N)``, or one per image of a batch)
            instead of zeros.
        n_threads : int, optional
            Threads for this call (default: the layer's ``n_jobs``).
        return_stats : bool, default False
            Also return the solver's statistics.
        zlow0 : ndarray, optional
            Start of the z0 maps (``lowfreq`` layers only).
        return_lowfreq : bool, default False
            Return ``(z, zlow)`` with the z0 maps (``lowfreq`` layers only).
        callback : callable, optional
            ``callback(stats)`` is called after every solver iteration with a
            :class:`numbadn.IterationStats` (cost, sparsity, residual, time,
            ...; the same fields for every solver); returning True stops that
            image's solve.
        mask : array_like, optional
            Per-pixel weights ``W`` in [0, 1] of the image's shape (or without
            its channel axis), 0 for a missing pixel (beyond the paper): the data
            term becomes ``lam/2 ||W (F z - y)||^2`` (and the z0 maps' too), so
            :meth:`reconstruct` fills the missing pixels.  A batch takes one
            mask per image.
        **options
            Solver options overriding the layer's (``solver="fista"``,
            ``beta_inc=10``, ...; see :class:`numbadn.solvers.ContinuationOptions`
            and :class:`numbadn.solvers.FistaOptions`).

        Returns
        -------
        z : ndarray of shape (K1, P+h-1, Q+w-1), (n, K1, M, N), or list
            The feature maps (a list for a batch of images of different sizes);
            followed by ``zlow`` with ``return_lowfreq`` and by the statistics
            with ``return_stats``.
        """
        if isinstance(image, (list, tuple)):
            if mask is not None:
                options = dict(options, mask=mask)
            return infer_list(self, image, z0, n_threads, return_stats, zlow0,
                              return_lowfreq, callback, options)
        n_threads = self._threads(n_threads)
        solver = options.pop("solver", self.solver)
        opts = dict(self.solver_options) if solver == self.solver else {}
        opts.update(options)
        y = V.as_float_array("image", image, (2, 3, 4), self.dtype)
        if y.ndim == 2:
            y = y[None]
        if y.shape[-3] != self.in_channels:
            batch = " pass a list of images or an (n, 1, P, Q) array for a batch;" \
                if self.in_channels == 1 and y.ndim == 3 else ""
            raise ValueError(
                f"image has {y.shape[-3]} channel(s) (shape {y.shape}) but the layer has "
                f"in_channels={self.in_channels}:{batch} expected shape "
                f"({self.in_channels}, P, Q)" + (" or (P, Q)" if self.in_channels == 1 else ""))
        if self.lowfreq:
            if return_stats or callback is not None:
                raise ValueError("return_stats and callback are not available with "
                                 "lowfreq=True")
            with threads(n_threads):
                if isinstance(y, np.ndarray) and y.ndim == 4:
                    W = V.check_mask(mask, y.shape, y.dtype)
                    out = [infer_lowfreq(yi, self.filters, self.connectivity, lam=self.lam,
                                         p=self.p, psi=self.psi, solver=solver,
                                         z0=None if z0 is None else z0[i],
                                         zlow0=None if zlow0 is None else zlow0[i],
                                         mask=None if W is None else W[i], **opts)
                           for i, yi in enumerate(y)]
                    z, zl = np.stack([o[0] for o in out]), np.stack([o[1] for o in out])
                else:
                    z, zl = infer_lowfreq(y, self.filters, self.connectivity, lam=self.lam,
                                          p=self.p, psi=self.psi, solver=solver, z0=z0,
                                          zlow0=zlow0, mask=mask, **opts)
            return (z, zl) if return_lowfreq else z
        return _infer(y, self.filters, self.connectivity, lam=self.lam, p=self.p,
                      solver=solver, z0=z0, n_threads=n_threads,
                      return_stats=return_stats, callback=callback, mask=mask, **opts)

    def reconstruct(self, z, zlow=None):
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
        if isinstance(z, (list, tuple)):
            if not len(z):
                raise ValueError("z is an empty list: expected maps of shape (K1, M, N) or a "
                                 "list of them")
            return stack_if_same([self.reconstruct(zi, None if zlow is None else zlow[i])
                                   for i, zi in enumerate(z)])
        z = np.asarray(V.refuse_masked("z", z))
        if z.ndim == 4:
            return np.stack([self.reconstruct(zi, None if zlow is None else zlow[i])
                             for i, zi in enumerate(z)])
        out = conv_valid(z, self.filters, self.connectivity)
        if zlow is not None:
            out += low_pass(np.asarray(V.refuse_masked("zlow", zlow), out.dtype), uniform_filter(
                self.in_channels, self.filter_size[0], out.dtype))
        return out

    def cost(self, image, z, zlow=None):
        """Eq. 2/3 of ``z`` for ``image`` with this layer's filters.

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
        y = image[None] if np.ndim(image) == 2 else image
        if zlow is None:
            return _cost(y, z, self.filters, self.connectivity, lam=self.lam, p=self.p)
        f0 = uniform_filter(self.in_channels, self.filter_size[0], y.dtype)
        yy = y - low_pass(np.asarray(zlow, y.dtype), f0)
        return (_cost(yy, z, self.filters, self.connectivity, lam=self.lam, p=self.p)
                + self.psi * grad_energy(zlow))

    def mean_cost(self, images, n_threads=None):
        """Mean eq. 3 cost per image after inferring every image afresh with the
        current filters (lower is better; :meth:`score` is its negative).

        Works before :meth:`fit` too (on the random initial filters).

        Parameters
        ----------
        images : array or list of arrays
            ``(P, Q)`` / ``(K0, P, Q)`` images, or an ``(n, K0, P, Q)`` array.
        n_threads : int, optional
            Threads for this call (default: the layer's ``n_jobs``).

        Returns
        -------
        float
            The mean cost per image.
        """
        ims = self._images(images)
        n_threads = self._threads(n_threads)
        total = 0.0
        for y in ims:
            if self.lowfreq:
                z, zl = self.infer(y, n_threads=n_threads, return_lowfreq=True)
                total += self.cost(y, z, zl)
            else:
                total += self.cost(y, self.infer(y, n_threads=n_threads))
        return total / len(ims)

    def score(self, X, y=None, n_threads=None):
        """Negative mean eq. 3 cost per image (scikit-learn's "higher is better").

        Parameters
        ----------
        X : array or list of arrays
            The images, as for :meth:`transform`.
        y : ignored
            (Unsupervised; scikit-learn's signature.)
        n_threads : int, optional
            Threads for this call (default: the layer's ``n_jobs``).

        Returns
        -------
        float
            ``-mean_cost(X)``.
        """
        self._check_fitted("score(X)")
        return -self.mean_cost(X, n_threads=n_threads)

    def transform(self, X):
        """Feature maps of every image of ``X`` (inferred with the learned filters).

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
        if isinstance(Z, (list, tuple)):
            return self.reconstruct([V.as_float_array(f"Z[{i}]", z, 3, self.dtype)
                                     for i, z in enumerate(Z)])
        Z = V.as_float_array("Z", Z, (3, 4), self.dtype)
        if Z.shape[-3] != self.n_maps:
            raise ValueError(f"Z has {Z.shape[-3]} maps but the layer has n_maps="
                             f"{self.n_maps}: expected shape (n, {self.n_maps}, M, N)")
        return self.reconstruct(Z)

    def fit(self, X, y=None, epochs=None, *, verbose=None, n_threads=None, callback=None,
            on_image=None, desc="layer", state=None, masks=None):
        """Learn the filters (Algorithm 1); returns ``self``.

        Per epoch and image: infer ``z`` warm-started from that image's maps
        of the previous epoch (zeros at first; beta restarts at ``beta0``),
        then (``update="online"``) take ``filter_cg_iters`` CG steps on the
        filter sub-problem (eq. 9) and normalise every plane.  With
        ``update="batch"`` the filter step comes once per epoch, after all
        images, and the images are inferred in parallel when they share a size.

        Every call starts afresh: each image's maps from zero (no warm start
        from the images of an earlier call, whose sizes may differ); the
        filters and ``history_`` carry on from where they are.

        Parameters
        ----------
        X : array or list of arrays
            (P, Q) or (K0, P, Q) arrays (sizes may differ), or (n, K0, P, Q).
        y : ignored
            (scikit-learn's signature.)
        epochs, verbose, n_threads : optional
            Override the layer's ``epochs``, ``verbose`` and ``n_jobs`` for this call.
        callback : callable, optional
            ``callback(stats)`` after every image with a
            :class:`numbadn.IterationStats` (``epoch``, ``image``, the image's
            eq. 3 ``cost``, ``sparsity`` and ``residual`` of its maps, ``time``
            since the epoch began); returning True stops at the end of the
            epoch.
        on_image : callable, optional
            ``on_image(layer, epoch_done)`` after every image (online updates)
            and every epoch; :class:`numbadn.DeconvNet` uses it to write
            checkpoints.  ``layer.training_state()`` then describes the exact
            position, and a fit resumed from it ends with the same filters.
        state : TrainingState, optional
            Continue the interrupted fit that ``state`` describes (from
            :meth:`training_state`, e.g. read back from a checkpoint) on the same
            images; it ends with the same filters as the uninterrupted fit.
            Without it (or for another number of images) the fit starts afresh.
        desc : str, default "layer"
            Label of the progress bar.
        masks : list of array_like, optional
            One per image: per-pixel weights ``W`` in [0, 1] of the image's shape
            (or without its channel axis), 0 for a missing pixel (beyond the
            paper).  Inference and the filter step (eq. 9) then use the data term
            ``lam/2 ||W (F z - y)||^2``: only the observed pixels teach the filters.

        Returns
        -------
        self
        """
        ims = X if isinstance(X, LazyImages) else self._images(X)
        if masks is not None:
            if isinstance(ims, LazyImages):
                raise ValueError("masks need the images in memory, not LazyImages")
            if len(masks) != len(ims):
                raise ValueError(f"masks must give one mask per image: {len(ims)} images, "
                                 f"{len(masks)} masks")
            masks = [V.check_mask(np.ones(y.shape, y.dtype) if m is None else m, y.shape,
                                  y.dtype, f"masks[{i}]")
                     for i, (m, y) in enumerate(zip(masks, ims))]
        epochs = V.check_int("epochs", self.epochs if epochs is None else epochs, 0)
        verbose = self.verbose if verbose is None else verbose
        n_threads = check_n_threads(self._threads(n_threads))
        per_image = check_callback(callback)
        # a new fit starts afresh: every image's maps from zero, position 0
        # (the filters and the history carry on)
        if state is None or not state.fits(len(ims)):
            state = TrainingState.start(len(ims))
        self._state = state
        bar = progress(epochs * len(ims), verbose, desc,
                       initial=state.epoch * len(ims) + state.image)
        self.filters = self.filters  # the initial filters (or those given) are now the model's
        try:
            with threads(n_threads):
                while state.epoch < epochs:
                    epoch = state.epoch
                    t0 = time.perf_counter() - state.seconds
                    total, stop = run_epoch(self, state, ims, bar, n_threads, on_image, t0,
                                            per_image, masks)
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

    # ------------------------------------------------------------ internals
    def training_state(self):
        """Where the current (or last) :meth:`fit` stands.

        Returns
        -------
        TrainingState
            Pass it as ``fit(..., state=)`` to resume.
        """
        return self._state

    @property
    def maps_(self):
        """Feature maps of the training images from the last epoch."""
        return self._state.maps

    def _target(self, i, y, zl=None):
        """What the filters must explain: ``y`` less the z0 low-pass image."""
        zl = self._state.low[i] if zl is None else zl
        if not self.lowfreq or zl is None:
            return y
        f0 = uniform_filter(self.in_channels, self.filter_size[0], y.dtype)
        return np.ascontiguousarray(y - low_pass(zl, f0))

    def _update_filters(self, zs, ys, residuals=None, masks=None):
        f = update_filters(self.filters, self.connectivity, zs, ys, self.filter_cg_iters,
                           residuals, masks)
        self.filters = normalize_planes(f, self.connectivity)
