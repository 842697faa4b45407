"""One Deconvolutional Network layer that infers and learns (section 3, Algorithm 1)."""
from __future__ import annotations

import numbers
import time

import numpy as np

from . import _validation as V
from . import connectivity as C
from ._jit import check_n_threads, threads
from .inference import cost as _cost
from .inference import infer as _infer
from .inference import infer_lowfreq
from .kernels import conv_valid
from .solvers._steps import sum_abs_p
from .solvers.filters import normalize_planes, update_filters
from .solvers.z0 import grad_energy, low_pass, uniform_filter
from .solvers.options import parse

__all__ = ["DeconvLayer", "as_image_list", "LazyImages"]


class LazyImages:
    """A sequence of images computed on demand (``get(i)``), for :meth:`DeconvLayer.fit`
    on inputs too large to hold in memory (e.g. the maps of the layer below)."""

    def __init__(self, n, get):
        self.n = n
        self.get = get

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.get(i)

UPDATES = ("online", "batch")
#: Largest filter bank a layer may hold (1 GiB): a typo in ``filter_size`` is an
#: error on the size, not a ``MemoryError``.
MAX_FILTER_BYTES = 2 ** 30


def as_image_list(images, in_channels, dtype, name="images"):
    """Images as a list of C-contiguous (K0, P, Q) arrays of ``dtype``.

    Accepts one (P, Q) or (K0, P, Q) array, an (n, K0, P, Q) array, or a list
    of (P, Q) / (K0, P, Q) arrays of possibly different sizes.
    """
    if isinstance(images, np.ndarray) and images.ndim == 4:
        items = list(images)
    elif isinstance(images, np.ndarray):
        items = [images]
    elif isinstance(images, (list, tuple)):
        items = list(images)
    else:
        raise TypeError(f"{name} must be an array or a list of arrays, got {type(images).__name__}")
    if not items:
        raise ValueError(f"{name} is empty: give at least one image")
    out = []
    for i, im in enumerate(items):
        nm = f"{name}[{i}]" if len(items) > 1 else name
        a = V.as_float_array(nm, im, (2, 3), dtype)
        if a.ndim == 2:
            a = a[None]
        if a.shape[0] != in_channels:
            raise ValueError(
                f"{nm} has {a.shape[0]} channel(s) but the layer has in_channels="
                f"{in_channels}: expected shape ({in_channels}, P, Q)"
                + (" or (P, Q)" if in_channels == 1 else ""))
        out.append(a)
    return out


class DeconvLayer:
    """A single Deconvolutional Network layer (eqs. 1-9, Algorithm 1).

    Each input ``y_c`` (``c < K0``) is modelled as ``sum_k g[k, c] z_k (*)
    f_kc`` with sparse feature maps ``z_k`` of size ``(P+h-1, Q+w-1)``.

    Parameters
    ----------
    in_channels : int
        ``K0``: image channels, or maps of the layer below.
    n_maps : int
        ``K1``: feature maps of this layer (layer 1 of the paper: 9).
    filter_size : int or (int, int)
        ``H`` (section 4: 7).
    lam : float
        ``lambda`` of eq. 2 (section 4: 1).
    p : float in (0, 1]
        Sparsity exponent (section 4: 1).
    connectivity : None, str or ndarray of bool (n_maps, in_channels)
        ``g`` of eq. 3; ``None`` is full (layer 1).  Names as in
        :func:`numbadn.connectivity.make`.
    dtype : float32 or float64
        Filters and maps (float32 by default).
    seed : int
        Filter initialisation (``randn``, each plane normalised).
    solver : str
        Inference solver (``"continuation"``, the paper's, by default).
    solver_options : dict, optional
        Options of ``solver`` (see :func:`numbadn.infer`).
    update : {"online", "batch"}
        ``"online"``: update the filters after every image, as the authors'
        toolbox does ("batch updates don't work well" in its comments);
        ``"batch"``: once per epoch after all images (Algorithm 1 as printed).
        Online is the default (reproduce/online_vs_batch.py, 20 food crops, 3
        epochs, 6 held-out): its training cost is lower at every epoch; on
        held-out crops at ``lam = 10`` its filters give a 3.5% lower eq. 2
        optimum and a 2.3% lower continuation cost than batch; at ``lam = 1``
        the two tie on the continuation cost and batch is 0.8% lower on the
        optimum.
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

    Attributes
    ----------
    filters : ndarray of shape (n_maps, in_channels, h, w)
        Unit-norm planes (the scale ambiguity between ``f`` and ``z`` is
        removed by normalising each connected plane ``f[k, c]`` to unit L2
        norm after every update).
    connectivity : ndarray of bool, shape (n_maps, in_channels)
    history_ : list of dict
        Per epoch: ``epoch``, ``cost`` (sum over images of eq. 3 right after
        each image's inference) and ``seconds``.
    """

    def __init__(self, in_channels, n_maps, filter_size=7, lam=1.0, p=1.0,
                 connectivity=None, dtype=np.float32, seed=0, solver="continuation",
                 solver_options=None, update="online", filter_cg_iters=2,
                 lowfreq=False, psi=1.0, warm_start=True):
        self.in_channels = V.check_int("in_channels", in_channels, 1)
        self.n_maps = V.check_int("n_maps", n_maps, 1)
        if isinstance(filter_size, numbers.Integral) and not isinstance(filter_size, bool):
            filter_size = (int(filter_size), int(filter_size))
        if (not isinstance(filter_size, (tuple, list)) or len(filter_size) != 2):
            raise TypeError(f"filter_size must be an int or a pair (h, w), got {filter_size!r}")
        self.filter_size = (V.check_int("filter_size", filter_size[0], 1),
                            V.check_int("filter_size", filter_size[1], 1))
        n_bytes = (self.n_maps * self.in_channels * self.filter_size[0] * self.filter_size[1]
                   * np.dtype(dtype if dtype in (np.float32, np.float64, "float32", "float64")
                              else np.float64).itemsize)
        if n_bytes > MAX_FILTER_BYTES:
            raise ValueError(
                f"filter_size {self.filter_size} with n_maps={self.n_maps} and in_channels="
                f"{self.in_channels} needs {n_bytes / 2 ** 30:,.1f} GiB of filters; at most "
                f"{MAX_FILTER_BYTES / 2 ** 30:g} GiB are allowed")
        seed = V.check_int("seed", seed, 0)
        self.lam = V.check_positive("lam", lam)
        self.p = V.check_p(p)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype must be float32 or float64, got {self.dtype}")
        if connectivity is None:
            g = C.full(self.n_maps, self.in_channels)
        elif isinstance(connectivity, str):
            g = C.make(connectivity, self.n_maps, self.in_channels, seed=seed)
        else:
            g = C.validate(connectivity, self.n_maps, self.in_channels)
        self.connectivity = g
        self.seed = seed
        if not isinstance(solver, str):
            raise TypeError(f"solver must be a string, got {solver!r}")
        if solver_options is not None and not isinstance(solver_options, dict):
            raise TypeError(f"solver_options must be a dict, got {type(solver_options).__name__}")
        self.solver = solver
        self.solver_options = dict(solver_options or {})
        parse(solver, self.solver_options)  # validate early
        if update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
        self.update = update
        self.filter_cg_iters = V.check_int("filter_cg_iters", filter_cg_iters, 1)
        self.lowfreq = bool(lowfreq)
        self.warm_start = bool(warm_start)
        if self.update == "batch" and not self.warm_start:
            raise ValueError("update='batch' needs warm_start=True: the batch filter step "
                             "uses every image's maps")
        self.psi = V.check_positive("psi", psi, allow_zero=True)
        rng = np.random.default_rng(self.seed)
        h, w = self.filter_size
        f = rng.standard_normal((self.n_maps, self.in_channels, h, w)).astype(self.dtype)
        self.filters = normalize_planes(f, g)
        self.history_ = []
        self._maps = None
        self._low = None
        self._pos = [0, 0, 0.0, 0.0]

    # ------------------------------------------------------------------ API
    def _images(self, images, name="images"):
        ims = as_image_list(images, self.in_channels, self.dtype, name)
        h, w = self.filter_size
        for i, y in enumerate(ims):
            if y.shape[1] < 1 or y.shape[2] < 1:
                raise ValueError(f"{name}[{i}] is empty")
        return ims

    def infer(self, image, *, z0=None, n_threads=None, return_stats=False,
              zlow0=None, return_lowfreq=False, **options):
        """Feature maps of one image (P, Q) / (K0, P, Q), or a batch (n, K0, P, Q).

        Minimises eq. 2/3 with this layer's filters; options override the
        layer's solver options (``solver=`` picks another solver).  With
        ``lowfreq`` the z0 maps are solved jointly (one image at a time) and
        ``return_lowfreq=True`` returns ``(z, zlow)``.
        """
        solver = options.pop("solver", self.solver)
        opts = dict(self.solver_options) if solver == self.solver else {}
        opts.update(options)
        y = V.as_float_array("image", image, (2, 3, 4), self.dtype)
        if y.ndim == 2:
            y = y[None]
        if self.lowfreq:
            if return_stats:
                raise ValueError("return_stats is not available with lowfreq=True")
            with threads(n_threads):
                if isinstance(y, np.ndarray) and y.ndim == 4:
                    out = [infer_lowfreq(yi, self.filters, self.connectivity, lam=self.lam,
                                         p=self.p, psi=self.psi, solver=solver,
                                         z0=None if z0 is None else z0[i],
                                         zlow0=None if zlow0 is None else zlow0[i], **opts)
                           for i, yi in enumerate(y)]
                    z, zl = np.stack([o[0] for o in out]), np.stack([o[1] for o in out])
                else:
                    z, zl = infer_lowfreq(y, self.filters, self.connectivity, lam=self.lam,
                                          p=self.p, psi=self.psi, solver=solver, z0=z0,
                                          zlow0=zlow0, **opts)
            return (z, zl) if return_lowfreq else z
        return _infer(y, self.filters, self.connectivity, lam=self.lam, p=self.p,
                      solver=solver, z0=z0, n_threads=n_threads,
                      return_stats=return_stats, **opts)

    def reconstruct(self, z, zlow=None):
        """``sum_k g[k, c] z_k (*) f_kc`` (eq. 1): (K1, M, N) -> (K0, P, Q).

        With ``zlow`` (the z0 maps of a ``lowfreq`` layer) their low-pass image
        is added.
        """
        z = np.asarray(z)
        if z.ndim == 4:
            return np.stack([self.reconstruct(zi, None if zlow is None else zlow[i])
                             for i, zi in enumerate(z)])
        out = conv_valid(z, self.filters, self.connectivity)
        if zlow is not None:
            out += low_pass(np.asarray(zlow, out.dtype), uniform_filter(
                self.in_channels, self.filter_size[0], out.dtype))
        return out

    def cost(self, image, z, zlow=None):
        """Eq. 2/3 of ``z`` for ``image`` with this layer's filters.

        With ``zlow`` (z0 maps), the data term is taken against ``image`` minus
        their low-pass image and ``psi ||grad zlow||^2`` is added.
        """
        y = image[None] if np.ndim(image) == 2 else image
        if zlow is None:
            return _cost(y, z, self.filters, self.connectivity, lam=self.lam, p=self.p)
        f0 = uniform_filter(self.in_channels, self.filter_size[0], y.dtype)
        yy = y - low_pass(np.asarray(zlow, y.dtype), f0)
        return (_cost(yy, z, self.filters, self.connectivity, lam=self.lam, p=self.p)
                + self.psi * grad_energy(zlow))

    def score(self, images, n_threads=None):
        """Total eq. 3 cost after inferring every image afresh (lower is better)."""
        ims = self._images(images)
        total = 0.0
        for y in ims:
            if self.lowfreq:
                z, zl = self.infer(y, n_threads=n_threads, return_lowfreq=True)
                total += self.cost(y, z, zl)
            else:
                total += self.cost(y, self.infer(y, n_threads=n_threads))
        return total

    def fit(self, images, epochs=3, *, verbose=True, n_threads=None, callback=None,
            on_image=None, desc="layer", _resume=False):
        """Learn the filters (Algorithm 1).

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
        images : array or list of arrays
            (P, Q) or (K0, P, Q) arrays (sizes may differ), or (n, K0, P, Q).
        epochs : int
            ``E`` (section 4: 3).
        verbose : bool
            tqdm progress bar with epoch, image and running cost.
        callback : callable, optional
            ``callback(layer, epoch, cost)`` after each epoch; returning True stops.
        on_image : callable, optional
            ``on_image(layer, epoch_done)`` after every image (online updates)
            and every epoch; :class:`numbadn.DeconvNet` uses it to write
            checkpoints.  ``layer.training_state()`` then describes the exact
            position, and a fit resumed from it ends with the same filters.

        Returns
        -------
        self
        """
        ims = images if isinstance(images, LazyImages) else self._images(images)
        epochs = V.check_int("epochs", epochs, 0)
        n_threads = check_n_threads(n_threads)
        if not _resume or self._maps is None or len(self._maps) != len(ims):
            # a new fit starts afresh: every image's maps from zero, position 0
            # (the filters and the history carry on)
            self._pos = [0, 0, 0.0, 0.0]
            self._maps = [None] * len(ims)
            self._low = [None] * len(ims)
        done = self._pos[0] * len(ims) + self._pos[1]
        bar = _progress(epochs * len(ims), verbose, desc, initial=done)
        try:
            with threads(n_threads):
                while self._pos[0] < epochs:
                    epoch = self._pos[0]
                    t0 = time.perf_counter() - self._pos[3]
                    total = self._epoch(ims, epoch, bar, n_threads, on_image, t0)
                    self.history_.append({"epoch": len(self.history_) + 1, "cost": total,
                                          "seconds": time.perf_counter() - t0})
                    self._pos = [epoch + 1, 0, 0.0, 0.0]
                    if on_image is not None:
                        on_image(self, True)
                    if callback is not None and callback(self, epoch, total):
                        break
        finally:
            bar.close()
        return self

    # ------------------------------------------------------------ internals
    def _epoch(self, ims, epoch, bar, n_threads, on_image, t0):
        g = self.connectivity
        same = not isinstance(ims, LazyImages) and len({y.shape for y in ims}) == 1
        if self.update == "batch" and same and len(ims) > 1 and not self.lowfreq:
            Z0 = None if self._maps[0] is None else np.stack(self._maps)
            Z = self.infer(np.stack(ims), z0=Z0, n_threads=n_threads)
            self._maps = list(Z)
            total = _cost(np.stack(ims), Z, self.filters, g, lam=self.lam, p=self.p)
            bar.update(len(ims))
            bar.set_postfix(epoch=epoch + 1, cost=f"{total:.4g}")
        else:
            total = self._pos[2]
            for i in range(self._pos[1], len(ims)):
                y = ims[i]
                if self.lowfreq:
                    z, zl = self.infer(y, z0=self._maps[i], zlow0=self._low[i],
                                       n_threads=n_threads, return_lowfreq=True)
                else:
                    z, zl = self.infer(y, z0=self._maps[i], n_threads=n_threads), None
                target = self._target(i, y, zl)
                # one residual F z - target serves the cost and the filter gradient
                r = conv_valid(z, self.filters, self.connectivity) - target
                total += (0.5 * self.lam * float(np.vdot(r, r)) + _sum_abs_p(z, self.p)
                          + (self.psi * grad_energy(zl) if zl is not None else 0.0))
                if self.update == "online":
                    self._update_filters([z], [target], [r])
                if self.warm_start:
                    self._maps[i], self._low[i] = z, zl
                if self.update == "online":
                    self._pos = [epoch, i + 1, total, time.perf_counter() - t0]
                    if on_image is not None:
                        on_image(self, False)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, image=i + 1, cost=f"{total:.4g}")
        if self.update == "batch":
            self._update_filters(self._maps, [self._target(i, y) for i, y in enumerate(ims)])
        return total

    def training_state(self):
        """Everything a resumed :meth:`fit` needs: a dict of arrays and numbers."""
        state = {"pos": list(self._pos), "history": list(self.history_),
                 "maps": self._maps, "low": self._low}
        return state

    def restore_training_state(self, state):
        """Inverse of :meth:`training_state` (then call ``fit(..., _resume=True)``)."""
        self._pos = list(state["pos"])
        self.history_ = list(state["history"])
        self._maps = list(state["maps"])
        self._low = list(state["low"])

    def _target(self, i, y, zl=None):
        """What the filters must explain: ``y`` less the z0 low-pass image."""
        zl = self._low[i] if zl is None else zl
        if not self.lowfreq or zl is None:
            return y
        f0 = uniform_filter(self.in_channels, self.filter_size[0], y.dtype)
        return np.ascontiguousarray(y - low_pass(zl, f0))

    def _update_filters(self, zs, ys, residuals=None):
        f = update_filters(self.filters, self.connectivity, zs, ys, self.filter_cg_iters,
                           residuals)
        self.filters = normalize_planes(f, self.connectivity)

    @property
    def maps_(self):
        """Feature maps of the training images from the last epoch."""
        return self._maps


def _sum_abs_p(z, p):
    """``sum |z|^p`` in float64 (one njit pass; no float64 copy of the maps)."""
    return float(sum_abs_p(z, float(p)))


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix(self, **kw):
        pass

    def close(self):
        pass


def _progress(total, verbose, desc, initial=0):
    if not verbose:
        return _NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="img", leave=True, initial=initial)
