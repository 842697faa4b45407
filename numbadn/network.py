"""The multi-layer Deconvolutional Network (sections 3.1, 3.3, 4.1; Fig. 2-3)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import signal
import sys
import threading
import time

import numpy as np

from . import _files as F
from . import _validation as V
from ._params import (DEPRECATED, ParamsMixin, check_n_jobs, check_random_state,
                      deprecated_arg, n_jobs_to_threads, not_fitted)
from .layer import (MAX_FILTER_BYTES, DeconvLayer, LazyImages, _stack_if_same,
                    as_image_list)
from .solvers.options import parse
from .solvers.topdown import continuation_chain, fista_chain, project_down
from .solvers.z0 import low_pass, uniform_filter

__all__ = ["DeconvNet", "FORMAT_VERSION"]

#: Version of the saved-model format; files of another version are refused.
FORMAT_VERSION = 1
_MAGIC = "numbadn-model"
#: Histogram bins of each feature's activations (the toolbox's 100).
N_BINS = 100
#: Activations kept per sample (the toolbox keeps the ~100 largest).
SAMPLE_KEEP = 100

_LAYER_PARAMS = ("in_channels", "n_maps", "filter_size", "lam", "p", "seed", "solver",
                 "solver_options", "update", "filter_cg_iters", "lowfreq", "psi", "warm_start")
#: ``fit(low_memory=None)`` trains in low-memory mode when warm starts and held
#: inputs would need more than this many bytes (2 GiB).
MEMORY_BUDGET = 2 * 2 ** 30
#: Activation values kept per map for the sampling histograms (a uniform subsample
#: beyond this, so the statistics take bounded memory).
STATS_SAMPLE = 20000


def _layer_params(layer):
    """A layer's settings as the model file records them (``random_state`` under
    the file's key ``seed``: the int, or null for None or a Generator)."""
    d = {k: getattr(layer, "random_state" if k == "seed" else k) for k in _LAYER_PARAMS}
    if not isinstance(d["seed"], int):
        d["seed"] = None
    d["filter_size"] = list(d["filter_size"])
    d["dtype"] = str(layer.dtype)
    return d


def _layer_from_file(d, **kw):
    """A layer from a model file's settings (``seed`` -> ``random_state``)."""
    d = dict(d)
    d["random_state"] = d.pop("seed")
    return DeconvLayer(**d, **kw)


def _check_net_params(layers, layer=None, top_down=True, epochs=3, n_jobs=None,
                      verbose=True):
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("layers must be a non-empty list of DeconvLayer")
    for i, la in enumerate(layers):
        if not isinstance(la, DeconvLayer):
            raise TypeError(f"layers[{i}] must be a DeconvLayer, got {type(la).__name__}")
        if i and la.in_channels != layers[i - 1].n_maps:
            raise ValueError(
                f"layers[{i}] has in_channels={la.in_channels} but layers[{i - 1}] has "
                f"n_maps={layers[i - 1].n_maps}: they must match")
        if i and la.lowfreq:
            raise ValueError(f"layers[{i}]: lowfreq (the z0 maps) is for layer 1 only")
    if layer is not None:
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
            raise TypeError(f"layer must be an int from 1 to {len(layers)} or None, got "
                            f"{layer!r}")
        if not 1 <= layer <= len(layers):
            raise ValueError(f"layer must be from 1 to {len(layers)} or None, got {layer}")
    if not isinstance(top_down, (bool, np.bool_)):
        raise TypeError(f"top_down must be True or False, got {top_down!r}")
    V.check_int("epochs", epochs, 0)
    check_n_jobs(n_jobs)
    if not isinstance(verbose, (int, np.integer, np.bool_)):
        raise TypeError(f"verbose must be True/False (or an int level), got {verbose!r}")


class DeconvNet(ParamsMixin):
    """A stack of :class:`DeconvLayer` trained bottom-up (eq. 3, Algorithm 1 per layer).

    Layer ``l + 1`` takes as input the maps that layer ``l`` infers for each
    training image, multiplied by one scale ``s_l`` per layer (chosen so that
    the inputs span about [-1, 1] like the contrast-normalised images; a
    single scalar keeps the top-down chain of eqs. 10-12 linear and the maps
    sparse, unlike a per-image mean removal).

    Follows scikit-learn's estimator conventions without importing it
    (``get_params``, ``clone``, ``Pipeline``): ``fit(X)`` returns ``self``,
    ``transform(X)`` gives the maps of layer ``layer``, ``inverse_transform``
    projects them to pixels (eq. 12), ``score`` is the negative mean cost.

    Parameters
    ----------
    layers : list of DeconvLayer
        Bottom to top; ``layers[l].in_channels`` must equal
        ``layers[l-1].n_maps``.
    layer : int or None
        The layer (1-based) whose maps :meth:`transform` returns and
        :meth:`score` measures; None: the top.
    top_down : bool
        :meth:`transform` and :meth:`score` infer layers >= 2 top-down
        (eqs. 10-11, section 3.3); False: bottom-up only (faster).
    epochs : int
        Epochs per layer in :meth:`fit` (``E = 3``).
    n_jobs : int or None
        Numba threads (``-1`` every core; None: each layer's own ``n_jobs``).
    verbose : bool
        Progress bars in :meth:`fit`.

    Attributes
    ----------
    scales_ : list of float
        ``s_l`` for every trained layer.
    trained_ : int
        Number of layers trained so far.
    filters_ : list of ndarray
        The filters of every trained layer (``NotFittedError`` before :meth:`fit`).
    n_features_in_ : int
        ``K0``, the channels of each training image.
    """

    def __init__(self, layers, *, layer=None, top_down=True, epochs=3, n_jobs=None,
                 verbose=True):
        _check_net_params(layers, layer, top_down, epochs, n_jobs, verbose)
        self.layers = layers
        self.layer = layer
        self.top_down = top_down
        self.epochs = epochs
        self.n_jobs = n_jobs
        self.verbose = verbose
        #: Free-form metadata saved with the model (e.g. the preprocessing used).
        self.meta = {}
        self.scales_ = []
        self.stats_ = []
        self.trained_ = 0
        self._image_ids = []

    def _set_own_params(self, params):
        new = {**self.get_params(deep=False), **params}
        _check_net_params(**new)
        for k, v in params.items():
            setattr(self, k, v)

    def __sklearn_is_fitted__(self):
        return self.trained_ > 0

    @property
    def filters_(self):
        if not self.trained_:
            raise not_fitted(self)
        return [la.filters for la in self.layers[:self.trained_]]

    @property
    def n_features_in_(self):
        if not self.trained_:
            raise not_fitted(self)
        return self.layers[0].in_channels

    @classmethod
    def paper(cls, in_channels=1, *, n_maps=(9, 45, 150), filter_size=7, lam=1.0, p=1.0,
              random_state=0, lowfreq=False, layer=None, top_down=True, epochs=3,
              n_jobs=None, verbose=True, seed=DEPRECATED, **layer_kwargs):
        """The paper's architecture (section 4.1).

        9 layer-1 maps fully connected to the image; 45 layer-2 maps, 9 on
        single layer-1 maps and 36 on pairs; 150 layer-3 maps on random pairs
        of layer-2 maps; ``H = 7, lambda = 1, p = 1``, the continuation
        schedule ``beta0 = 1, beta_inc = 6, beta_max = 1e5``; ``E = 3``.
        ``n_maps`` may be shortened to fewer layers, e.g. ``(9, 45)``; layer 2
        uses singles and pairs when its map count is ``K1 + C(K1, 2)``, random
        pairs otherwise.  ``lowfreq`` adds the z0 maps to layer 1 (section
        3.3).  Layer ``l`` (0-based) gets ``random_state + l`` (an int; a
        Generator is shared, None stays None); ``layer``, ``top_down``,
        ``epochs``, ``n_jobs`` and ``verbose`` go to the network, other keywords
        to every layer.
        """
        random_state = check_random_state(deprecated_arg(
            "seed", seed, "random_state", random_state, 0, "DeconvNet.paper",
            check_random_state))
        layers = []
        k_in = in_channels
        for i, k in enumerate(n_maps):
            if i == 0:
                conn = None
            elif i == 1 and k == k_in + k_in * (k_in - 1) // 2:
                conn = "singles_and_pairs"
            else:
                conn = "random_pairs"
            rs = random_state + i if isinstance(random_state, int) else random_state
            layers.append(DeconvLayer(k_in, k, filter_size=filter_size, lam=lam, p=p,
                                      connectivity=conn, random_state=rs,
                                      lowfreq=lowfreq and i == 0, **layer_kwargs))
            k_in = k
        return cls(layers, layer=layer, top_down=top_down, epochs=epochs, n_jobs=n_jobs,
                   verbose=verbose)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, epochs=None, *, verbose=None, n_threads=None, checkpoint=None,
            resume=False, checkpoint_every=300.0, low_memory=None,
            memory_budget=MEMORY_BUDGET, callback=None):
        """Train every layer in turn, bottom-up (section 3.1); returns ``self``.

        Parameters
        ----------
        X : array or list of arrays
            Training images, (P, Q) or (K0, P, Q) each (already preprocessed),
            or an (n, K0, P, Q) array.
        y : ignored
            (scikit-learn's signature.)
        epochs, verbose, n_threads : optional
            Override the network's ``epochs`` (per layer), ``verbose`` and
            ``n_jobs`` for this call.
        callback : callable, optional
            Passed to every layer's :meth:`DeconvLayer.fit` in turn.
        checkpoint : str, optional
            Path of a checkpoint written atomically (temp file, then rename)
            after every epoch and every ``checkpoint_every`` seconds within one.
        resume : bool
            Continue from ``checkpoint`` if it exists; the resumed run ends with
            the same filters as an uninterrupted one.  The checkpoint must have
            the same settings (else ``ValueError`` naming each one that
            differs) and the same training images (SHA-256 of each, recorded
            in it).  Without ``resume`` every layer is trained afresh.

            With a ``checkpoint``, SIGINT (Ctrl-C) and SIGTERM stop training
            after the current image, write the checkpoint and raise
            :class:`TrainingInterrupted` (a ``KeyboardInterrupt``); a second
            signal stops at once.
        low_memory : bool or None
            True: memory independent of the number of images: no warm starts
            (every layer gets ``warm_start=False``), and each higher layer's
            inputs are recomputed through the layers below when needed instead
            of being held (costs one bottom-up inference per image and epoch).
            False: hold them (the paper's Algorithm 1 warm-starts every image's
            maps across epochs).  None (default): False unless that would
            hold more than ``memory_budget`` bytes (:meth:`held_bytes`; the
            paper's 3 layers need ~20 MiB per 150x150 image), then True, said
            on stderr when ``verbose``.
        memory_budget : int
            Bytes for the automatic choice (default :data:`MEMORY_BUDGET`, 2 GiB).
        """
        if isinstance(y, int) and not isinstance(y, bool) and epochs is None:
            import warnings
            warnings.warn("DeconvNet.fit(X, epochs) with epochs as the second positional "
                          "argument is deprecated (it is scikit-learn's y); use "
                          "fit(X, epochs=...) or DeconvNet(..., epochs=...)",
                          DeprecationWarning, stacklevel=2)
            epochs = y
        ims = as_image_list(X, self.layers[0].in_channels, self.layers[0].dtype)
        epochs = V.check_int("epochs", self.epochs if epochs is None else epochs, 0)
        verbose = self.verbose if verbose is None else verbose
        if n_threads is None:
            n_threads = n_jobs_to_threads(self.n_jobs)
        if low_memory is None:
            need = self.held_bytes([y.shape for y in ims])
            low_memory = need > memory_budget and all(
                la.update == "online" for la in self.layers)
            if low_memory and verbose:
                print(f"numbadn: warm starts and inputs of {len(ims)} images would hold "
                      f"{need / 2 ** 30:.1f} GiB (budget {memory_budget / 2 ** 30:.1f} GiB): "
                      "training in low-memory mode (low_memory=False to override)",
                      file=sys.stderr)
        if low_memory:
            for i, la in enumerate(self.layers):
                if la.update != "online":
                    raise ValueError(f"low_memory needs online filter updates; layers[{i}] "
                                     f"has update={la.update!r}")
                la.warm_start = False
        checkpoint_every = V.check_positive("checkpoint_every", checkpoint_every,
                                            allow_zero=True)
        if not isinstance(resume, (bool, np.bool_)):
            raise TypeError(f"resume must be True or False, got {resume!r}")
        if checkpoint is not None:
            checkpoint = os.fspath(checkpoint)
            if os.path.isdir(checkpoint):
                raise ValueError(f"checkpoint must be a file path, got the folder {checkpoint}")
        # a new fit starts afresh; a resumed one takes its state from the checkpoint
        self.trained_, self.scales_, self.stats_ = 0, [], []
        self._image_ids = image_ids(ims)
        state = None
        if resume:
            if checkpoint is None:
                raise ValueError("resume=True needs checkpoint=PATH")
            if os.path.exists(checkpoint):
                state = self._restore_checkpoint(checkpoint, len(ims))
        last = [time.monotonic()]
        stop = {}

        def hook(layer, epoch_done):
            if checkpoint is None:
                return
            if (epoch_done or stop.get("signal") is not None
                    or time.monotonic() - last[0] >= checkpoint_every):
                self._write_checkpoint(checkpoint, layer)
                last[0] = time.monotonic()
            if stop.get("signal") is not None:
                raise TrainingInterrupted(stop["signal"], checkpoint)

        with _deferred_signals(stop) if checkpoint is not None else contextlib.nullcontext():
            return self._fit_layers(ims, epochs, verbose, n_threads, low_memory, state, hook,
                                    checkpoint, callback)

    def _fit_layers(self, ims, epochs, verbose, n_threads, low_memory, state, hook,
                    checkpoint, callback=None):
        inputs = ims
        for li, layer in enumerate(self.layers):
            if li < self.trained_:
                continue
            if li and low_memory:
                inputs = LazyImages(len(ims), lambda i, li=li: self._bottom_up_one(
                    ims[i], li, n_threads))
            elif li:
                inputs = [self._bottom_up_one(y, li, n_threads) for y in ims]
            resuming = state is not None and state["layer"] == li
            layer.fit(inputs, epochs=epochs, verbose=verbose, n_threads=n_threads,
                      on_image=hook, callback=callback,
                      desc=f"layer {li + 1}/{len(self.layers)}", _resume=resuming)
            # the maps of the last epoch give the scale and the firing statistics
            # (no second inference pass); without warm starts, one streaming pass
            maps = layer.maps_ if epochs and layer.maps_ and layer.maps_[0] is not None \
                else None
            acc = _ActivationStats(layer.n_maps, seed=li)
            for i in range(len(inputs)):
                acc.add(maps[i] if maps is not None else
                        layer.infer(inputs[i], n_threads=n_threads))
            self.scales_.append(acc.scale())
            self.stats_.append(acc.histograms())
            self.trained_ = li + 1
            del maps
            layer._maps = layer._low = None  # free the warm starts
            if checkpoint is not None:
                hook(None, True)  # a checkpoint at the layer boundary (and a pending stop)
        return self

    def held_bytes(self, shapes):
        """Peak bytes that warm starts and held inputs take in :meth:`fit` without
        ``low_memory``, for images of the given (K0, P, Q) shapes.

        Training layer ``l`` holds every image's maps of layer ``l`` (warm
        starts, ``(K_l, P+h-1, Q+w-1)``) and, above layer 1, its inputs (the
        scaled maps of layer ``l-1``); the largest layer sets the peak.  Maps
        of layer ``l`` keep the size of the layer's input plus ``h-1, w-1``.
        """
        peak = 0
        sizes = [tuple(s[-2:]) for s in shapes]
        for li, la in enumerate(self.layers):
            h, w = la.filter_size
            item = np.dtype(la.dtype).itemsize
            maps = sum(la.n_maps * (P + h - 1) * (Q + w - 1) for P, Q in sizes) \
                if la.warm_start else 0
            held = sum(la.in_channels * P * Q for P, Q in sizes) if li else 0
            peak = max(peak, (maps + held) * item)
            sizes = [(P + h - 1, Q + w - 1) for P, Q in sizes]
        return peak

    def _bottom_up_one(self, y, upto, n_threads):
        """Scaled maps of layer ``upto`` (0-based count of layers below) for one
        image: the input of layer ``upto + 1``."""
        u = y
        for li in range(upto):
            u = self.layers[li].infer(u, n_threads=n_threads) * u.dtype.type(self.scales_[li])
        return np.ascontiguousarray(u)

    # ------------------------------------------------------------ inference
    def _layer_index(self, layer):
        if layer is None:
            layer = max(self.trained_, 1) if self.trained_ else len(self.layers)
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
            raise TypeError(f"layer must be an int from 1 to {len(self.layers)}, got {layer!r}")
        if not 1 <= layer <= len(self.layers):
            raise ValueError(f"layer must be from 1 to {len(self.layers)}, got {layer}")
        return int(layer)

    def _chain(self, layer):
        """``(f, g, s)`` from ``layer`` (1-based) down to layer 1 (see topdown)."""
        if self.trained_ < layer - 1:
            raise ValueError(f"layer {layer} needs layers 1..{layer - 1} trained first "
                             f"(trained: {self.trained_})")
        chain = []
        for li in range(layer - 1, -1, -1):
            s = self.scales_[li - 1] if li else 1.0
            chain.append((self.layers[li].filters, self.layers[li].connectivity, s))
        return chain

    def infer(self, image, layer=None, *, top_down=True, n_alternations=2, topdown_iters=50,
              n_threads=None, return_lowfreq=False, on_step=None):
        """Feature maps of ``layer`` (1-based; ``None``: the top) for one image, or
        for a batch: a list of images or an (n, K0, P, Q) array (maps as an
        (n, K, M, N) array, or a list when the sizes differ).

        Layer 1 is inferred from the image (eq. 2), each higher layer from
        the scaled maps below (eq. 3).  With ``top_down`` and ``layer >= 2``,
        the top maps then alternate ``n_alternations`` times between eq. 10
        (reconstruct the image through every filter below) and eq. 11
        (reconstruct the maps of the layer below), ending with eq. 10
        (section 3.3), each solved with the top layer's solver: the
        continuation scheme with CG on the chain of filters (the paper's), or
        FISTA (``topdown_iters`` iterations at most on eq. 10).

        ``on_step(done, total)``, if given, is called after every step (each
        layer's bottom-up inference, each solve of eq. 10 or 11), e.g. for a
        progress bar on a large image.

        Returns
        -------
        z : ndarray of shape (K_l, M_l, N_l)
        zlow : ndarray, only with ``return_lowfreq`` (layer 1 with z0 maps)
        """
        if isinstance(image, (list, tuple)) or (isinstance(image, np.ndarray)
                                                and image.ndim == 4):
            ims = as_image_list(list(image), self.layers[0].in_channels,
                                self.layers[0].dtype, "image")
            out = [self.infer(y, layer, top_down=top_down, n_alternations=n_alternations,
                              topdown_iters=topdown_iters, n_threads=n_threads,
                              return_lowfreq=return_lowfreq, on_step=on_step) for y in ims]
            if return_lowfreq:
                return (_stack_if_same([o[0] for o in out]),
                        _stack_if_same([o[1] for o in out]))
            return _stack_if_same(out)
        layer = self._layer_index(layer)
        if n_threads is None:
            n_threads = n_jobs_to_threads(self.n_jobs)
        y = as_image_list(image, self.layers[0].in_channels, self.layers[0].dtype, "image")[0]
        if layer > 1 and self.trained_ < layer - 1:
            raise ValueError(f"layer {layer} needs layers 1..{layer - 1} trained first "
                             f"(trained: {self.trained_})")
        n_steps = layer + (2 * n_alternations + 1 if top_down and layer > 1 else 0)
        done = [0]

        def step():
            done[0] += 1
            if on_step is not None:
                on_step(done[0], n_steps)

        l1 = self.layers[0]
        zlow = None
        if l1.lowfreq:
            z, zlow = l1.infer(y, n_threads=n_threads, return_lowfreq=True)
        else:
            z = l1.infer(y, n_threads=n_threads)
        step()
        u = z
        for li in range(1, layer):
            u = z * z.dtype.type(self.scales_[li - 1])
            z = self.layers[li].infer(u, n_threads=n_threads)
            step()
        if top_down and layer > 1:
            lay = self.layers[layer - 1]
            target = y if zlow is None else np.ascontiguousarray(y - self._lowpass(zlow))
            chain = self._chain(layer)
            if lay.solver == "continuation":
                opts = parse("continuation", lay.solver_options)

                def eq10(z):
                    return continuation_chain(target, chain, z, lam=lay.lam, p=lay.p,
                                              betas=opts.betas(), cg_iters=opts.cg_iters,
                                              inner_iters=opts.inner_iters)
            else:
                def eq10(z):
                    return fista_chain(target, chain, z, lam=lay.lam, p=lay.p,
                                       max_iter=topdown_iters)
            for _ in range(n_alternations):
                z = eq10(z)
                step()
                z = lay.infer(u, z0=z, n_threads=n_threads)
                step()
            z = eq10(z)
            step()
        return (z, zlow) if return_lowfreq else z

    # ------------------------------------------------- estimator interface
    def _fitted_layer(self, what):
        if not self.trained_:
            raise not_fitted(self, f"fit(X) before {what}")
        layer = self._layer_index(self.layer)
        if layer > self.trained_:
            raise not_fitted(self, f"fit(X) (layer {layer} of layer={self.layer!r} is not "
                                   f"trained; trained: {self.trained_}) before {what}")
        return layer

    def transform(self, X):
        """Feature maps of layer ``layer`` for every image of ``X``.

        ``X``: a list of images ((P, Q) or (K0, P, Q)) or an (n, K0, P, Q)
        array; one 2-D or 3-D array is one image.  Returns an (n, K, M, N)
        array, or a list when the images differ in size.  Layers >= 2 are
        inferred top-down unless ``top_down=False``.
        """
        layer = self._fitted_layer("transform(X)")
        ims = as_image_list(X, self.layers[0].in_channels, self.layers[0].dtype, "X")
        return self.infer(ims, layer, top_down=self.top_down)

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X).transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)

    def inverse_transform(self, Z):
        """Images reconstructed (eq. 12) from maps of layer ``layer`` as
        :meth:`transform` returns them."""
        layer = self._fitted_layer("inverse_transform(Z)")
        if isinstance(Z, (list, tuple)) or np.ndim(Z) == 4:
            return _stack_if_same([self.reconstruct(z, layer) for z in Z])
        return self.reconstruct(Z, layer)

    def cost(self, image, z, layer=None, *, zlow=None):
        """Eq. 10's cost of layer-``layer`` maps ``z`` for ``image``:
        ``lam_l/2 ||R_l z - y||^2 + sum |z|^p_l`` with ``R_l`` the projection
        to pixels (eq. 12) and ``lam_l, p_l`` the layer's (less the z0 image
        when ``zlow`` is given)."""
        layer = self._layer_index(layer)
        la = self.layers[layer - 1]
        y = as_image_list(image, self.layers[0].in_channels, self.layers[0].dtype,
                          "image")[0]
        r = self.reconstruct(z, layer, zlow=zlow).astype(np.float64) - y
        zz = np.abs(np.asarray(z, np.float64))
        return float(0.5 * la.lam * np.vdot(r, r) + (zz ** la.p).sum())

    def mean_cost(self, X, layer=None, n_threads=None):
        """Mean eq. 10 cost per image (:meth:`cost`) after inferring layer
        ``layer`` (default: the ``layer`` parameter, else the top) for each
        image of ``X``, top-down unless ``top_down=False``; lower is better."""
        layer = self._layer_index(self.layer if layer is None else layer)
        ims = as_image_list(X, self.layers[0].in_channels, self.layers[0].dtype, "X")
        low = self.layers[0].lowfreq
        total = 0.0
        for y in ims:
            out = self.infer(y, layer, top_down=self.top_down, n_threads=n_threads,
                             return_lowfreq=low)
            z, zlow = out if low else (out, None)
            total += self.cost(y, z, layer, zlow=zlow)
        return total / len(ims)

    def score(self, X, y=None, n_threads=None):
        """Negative :meth:`mean_cost` (scikit-learn's "higher is better"); ``y``
        is ignored."""
        layer = self._fitted_layer("score(X)")
        return -self.mean_cost(X, layer, n_threads=n_threads)

    def _lowpass(self, zlow):
        l1 = self.layers[0]
        return low_pass(np.asarray(zlow, l1.dtype), uniform_filter(l1.in_channels,
                                                                   l1.filter_size[0], l1.dtype))

    def reconstruct(self, z, layer=None, *, zlow=None):
        """Project layer-``layer`` maps down to the image (eq. 12); adds the z0 image if given."""
        layer = self._layer_index(layer)
        z = V.as_float_array("z", z, 3, self.layers[layer - 1].dtype)
        if z.shape[0] != self.layers[layer - 1].n_maps:
            raise ValueError(f"z has {z.shape[0]} maps but layer {layer} has "
                             f"{self.layers[layer - 1].n_maps}")
        out = project_down(z, self._chain(layer))
        if zlow is not None:
            out = out + self._lowpass(zlow)
        return out

    def pixel_filters(self, layer=None):
        """Layer-``layer`` filters projected to pixel space (Fig. 1, 7, 8).

        A single 1 at the centre of one map, all else zero, reconstructed down
        through every layer (as the authors' toolbox does) and cropped to the
        combined support ``H = 1 + sum_l (h_l - 1)``.

        Returns
        -------
        ndarray of shape (K_l, K0, H, W)
        """
        layer = self._layer_index(layer)
        H = 1 + sum(self.layers[i].filter_size[0] - 1 for i in range(layer))
        W = 1 + sum(self.layers[i].filter_size[1] - 1 for i in range(layer))
        K = self.layers[layer - 1].n_maps
        dt = self.layers[0].dtype
        out = np.zeros((K, self.layers[0].in_channels, H, W), dt)
        chain = self._chain(layer)
        for k in range(K):
            z = np.zeros((K, 2 * H - 1, 2 * W - 1), dt)
            z[k, H - 1, W - 1] = 1.0
            out[k] = project_down(z, chain)
        return out

    def sample(self, layer=None, n=1, *, size=100, random_state=0, keep=SAMPLE_KEEP,
               seed=DEPRECATED):
        """Draw images from the model (Fig. 3).

        For each layer-``layer`` feature, the number of activations follows its
        firing frequency over the training set and their values are drawn by
        inverse-CDF sampling from its 100-bin activation histogram; the
        ``keep`` largest in magnitude are kept and projected to pixels.
        ``random_state``: an int, None or a ``numpy.random.Generator``
        (``seed`` is its deprecated name).

        Returns
        -------
        ndarray of shape (n, K0, size, size)
        """
        layer = self._layer_index(layer)
        if self.trained_ < layer:
            raise ValueError(f"layer {layer} is not trained yet (trained: {self.trained_})")
        n = V.check_int("n", n, 1)
        size = V.check_int("size", size, 1)
        freq, hist, edges = self.stats_[layer - 1]
        M = size + sum(self.layers[i].filter_size[0] - 1 for i in range(layer))
        N = size + sum(self.layers[i].filter_size[1] - 1 for i in range(layer))
        K = freq.shape[0]
        random_state = check_random_state(deprecated_arg(
            "seed", seed, "random_state", random_state, 0, "DeconvNet.sample",
            check_random_state))
        rng = np.random.default_rng(random_state)
        dt = self.layers[0].dtype
        out = []
        for _ in range(n):
            z = np.zeros((K, M, N), dt)
            for k in range(K):
                cnt = rng.binomial(M * N, min(max(freq[k], 0.0), 1.0))
                if cnt == 0 or hist[k].sum() == 0:
                    continue
                cdf = np.cumsum(hist[k]) / hist[k].sum()
                b = np.searchsorted(cdf, rng.random(cnt))
                b = np.minimum(b, hist.shape[1] - 1)
                vals = edges[k, b] + rng.random(cnt) * (edges[k, b + 1] - edges[k, b])
                pos = rng.integers(0, M * N, cnt)
                z[k].reshape(-1)[pos] = vals
            flat = np.abs(z).reshape(-1)
            if np.count_nonzero(flat) > keep:
                thr = np.partition(flat, flat.size - keep)[flat.size - keep]
                z[np.abs(z) < thr] = 0
            out.append(project_down(z, self._chain(layer)))
        return np.stack(out)

    # ------------------------------------------------------------ save/load
    def _header(self):
        return {"format": _MAGIC, "version": FORMAT_VERSION,
                "layers": [_layer_params(la) for la in self.layers],
                "scales": [float(s) for s in self.scales_], "trained": self.trained_,
                "history": [la.history_ for la in self.layers], "meta": self.meta}

    def _arrays(self):
        arrs = {}
        for i, la in enumerate(self.layers):
            arrs[f"f{i}"] = la.filters
            arrs[f"g{i}"] = la.connectivity
        for i, (freq, hist, edges) in enumerate(self.stats_):
            arrs[f"freq{i}"], arrs[f"hist{i}"], arrs[f"edges{i}"] = freq, hist, edges
        return arrs

    def save(self, path):
        """Write the model to one portable ``.npz`` file (arrays + a JSON header)."""
        _atomic_savez(path, self._header(), self._arrays())

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save` (or a checkpoint).

        The file is untrusted input: it is checked whole against the format's
        schema first (see :func:`_read`), and anything wrong is one
        ``ValueError`` naming the file and the member.
        """
        header, arrs = _read(path)
        return cls._from(header, arrs, os.fspath(path))

    @classmethod
    def _from(cls, header, arrs, path="model"):
        layers = []
        for i, d in enumerate(header["layers"]):
            d = dict(d)
            dt = np.dtype(d.pop("dtype"))
            try:
                la = _layer_from_file(d, connectivity=arrs[f"g{i}"], dtype=dt)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{path} is not a readable numbadn model file: member "
                                 f"'g{i}' {exc}") from None
            la.filters = np.ascontiguousarray(arrs[f"f{i}"], dtype=dt)
            la.history_ = list(header["history"][i])
            layers.append(la)
        net = cls(layers)
        net.meta = dict(header.get("meta", {}))
        net.scales_ = list(header["scales"])
        net.trained_ = int(header["trained"])
        net.stats_ = [(arrs[f"freq{i}"], arrs[f"hist{i}"], arrs[f"edges{i}"])
                      for i in range(net.trained_)]
        return net

    def _write_checkpoint(self, path, layer):
        header = self._header()
        arrs = self._arrays()
        if layer is not None:
            st = layer.training_state()
            li = self.layers.index(layer)
            header["checkpoint"] = {
                "layer": li, "pos": st["pos"], "history": st["history"],
                "n_images": len(st["maps"]),
                "maps_shapes": [None if m is None else list(m.shape[1:]) for m in st["maps"]],
                "low_shapes": [None if m is None else list(m.shape[1:]) for m in st["low"]],
                "image_sha256": list(self._image_ids)}
            for i, (m, lo) in enumerate(zip(st["maps"], st["low"])):
                if m is not None:
                    arrs[f"maps{i}"] = m
                if lo is not None:
                    arrs[f"low{i}"] = lo
        else:
            header["meta"] = dict(header["meta"], image_sha256=list(self._image_ids))
        _atomic_savez(path, header, arrs)

    def _restore_checkpoint(self, path, n_images):
        header, arrs = _read(path)
        saved = DeconvNet._from(header, arrs, path)
        diff = settings_differences(saved, self)
        if diff:
            raise SettingsDiffer(path, diff)
        ck = header.get("checkpoint")
        ids = ck["image_sha256"] if ck is not None else header["meta"].get("image_sha256")
        if ids is not None and list(ids) != list(self._image_ids):
            raise TrainingSetDiffers(path, ids, self._image_ids,
                                     header["meta"].get("images"), self.meta.get("images"))
        if ck is not None and ck["n_images"] != n_images:  # pragma: no cover - ids differ first
            raise ValueError(f"checkpoint {path} was written for {ck['n_images']} images, "
                             f"not {n_images}")
        for la, sl in zip(self.layers, saved.layers):
            la.filters, la.history_ = sl.filters, sl.history_
        self.scales_, self.stats_, self.trained_ = saved.scales_, saved.stats_, saved.trained_
        if ck is None:
            return None
        la = self.layers[ck["layer"]]
        la.restore_training_state({
            "pos": ck["pos"], "history": ck["history"],
            "maps": [arrs.get(f"maps{i}") for i in range(n_images)],
            "low": [arrs.get(f"low{i}") for i in range(n_images)]})
        return {"layer": ck["layer"]}


def image_ids(images):
    """SHA-256 of each training image (dtype, shape and values): what identifies
    the training set in a checkpoint."""
    out = []
    for y in images:
        h = hashlib.sha256(f"{y.dtype.str}{y.shape}".encode())
        h.update(np.ascontiguousarray(y).tobytes())
        out.append(h.hexdigest())
    return out


def settings_differences(old, new):
    """``[(setting, old value, new value)]`` between two networks' layer settings:
    one entry per setting (``lam``, ``n_maps``, ...), with one value when every
    layer shares it, else the list per layer."""
    a = [_layer_params(la) for la in old.layers]
    b = [_layer_params(la) for la in new.layers]
    out = []
    if len(a) != len(b):
        out.append(("n_maps", [d["n_maps"] for d in a], [d["n_maps"] for d in b]))
        return out
    for key in ["n_maps"] + [k for k in a[0] if k != "n_maps"]:
        va, vb = [d[key] for d in a], [d[key] for d in b]
        if va == vb:
            continue
        if key in ("n_maps", "in_channels", "seed"):
            out.append((key, va, vb))
        else:
            one = all(v == va[0] for v in va) and all(v == vb[0] for v in vb)
            out.append((key, va[0] if one else va, vb[0] if one else vb))
    return out


class SettingsDiffer(ValueError):
    """A checkpoint was written with other settings; ``differences`` lists them."""

    def __init__(self, path, differences):
        self.path, self.differences = path, differences
        said = "; ".join(f"{k} was {a!r}, now {b!r}" for k, a, b in differences)
        super().__init__(f"checkpoint {path} was written with other settings: {said}; "
                         "train with the same settings or remove it")


class TrainingSetDiffers(ValueError):
    """A checkpoint was written for another training set."""

    def __init__(self, path, old_ids, new_ids, old_name=None, new_name=None):
        if len(old_ids) != len(new_ids):
            what = f"{len(old_ids)} images, now {len(new_ids)}"
        else:
            first = next(i for i, (a, b) in enumerate(zip(old_ids, new_ids)) if a != b)
            n = sum(a != b for a, b in zip(old_ids, new_ids))
            what = f"{n} of {len(new_ids)} images differ (the first: image {first + 1})"
        names = f" (was: {old_name}; now: {new_name})" if old_name and old_name != new_name \
            else ""
        super().__init__(f"checkpoint {path} was written for another training set: {what}"
                         f"{names}; resume with the same images or remove it")


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by SIGINT or SIGTERM after writing ``checkpoint``."""

    def __init__(self, signum, checkpoint):
        super().__init__(f"{signal.Signals(signum).name}: checkpoint written to {checkpoint}")
        self.signum, self.checkpoint = signum, checkpoint


@contextlib.contextmanager
def _deferred_signals(state):
    """SIGINT and SIGTERM set ``state["signal"]`` (training stops at the next
    consistent point and writes a checkpoint); a second one stops at once.
    Only in the main thread; elsewhere signals keep their handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        if state.get("signal") is not None:
            raise KeyboardInterrupt(f"{signal.Signals(signum).name} again: stopped at once")
        state["signal"] = signum
        print(f"numbadn: {signal.Signals(signum).name}: stopping after the current image to "
              "write a checkpoint (send it again to stop at once)", file=sys.stderr)

    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


class _ActivationStats:
    """Streaming statistics of one layer's maps over the training images.

    * the layer scale ``s = 1 / median_i max|z_i|`` (the next layer's inputs then
      span about [-1, 1]);
    * per map, the firing frequency (an activation "fires" when ``|z| > 1e-3
      max|z_i|`` of its image: continuation leaves tiny nonzero values that are
      not features) and a 100-bin histogram of the firing values, from a
      uniform subsample of at most ``STATS_SAMPLE`` values per map.
    """

    def __init__(self, K, seed=0):
        self.maxima = []
        self.counts = np.zeros(K)
        self.seen = np.zeros(K)
        self.total = 0
        self.values = [np.zeros(0) for _ in range(K)]
        self.rng = np.random.default_rng(seed)

    def add(self, z):
        top = float(np.abs(z).max())
        self.maxima.append(top)
        self.total += z[0].size
        thr = 1e-3 * top
        for k in range(z.shape[0]):
            v = z[k][np.abs(z[k]) > thr].astype(np.float64)
            self.counts[k] += v.size
            self._keep(k, v)

    def _keep(self, k, new):
        old, n_old, n_new = self.values[k], self.seen[k], new.size
        self.seen[k] += n_new
        if old.size + n_new <= STATS_SAMPLE:
            self.values[k] = np.concatenate([old, new])
            return
        take_new = min(n_new, self.rng.binomial(STATS_SAMPLE, n_new / (n_old + n_new)))
        take_old = min(old.size, STATS_SAMPLE - take_new)
        self.values[k] = np.concatenate([
            self.rng.choice(old, take_old, replace=False),
            self.rng.choice(new, take_new, replace=False)])

    def scale(self):
        m = float(np.median(self.maxima)) if self.maxima else 0.0
        return 1.0 / m if m > 0 else 1.0

    def histograms(self, n_bins=N_BINS):
        K = self.counts.shape[0]
        freq = self.counts / max(self.total, 1)
        hist = np.zeros((K, n_bins))
        edges = np.zeros((K, n_bins + 1))
        for k, vals in enumerate(self.values):
            if vals.size:
                lo, hi = vals.min(), vals.max()
                if hi <= lo:
                    hi = lo + 1e-12
                hist[k], edges[k] = np.histogram(vals, bins=n_bins, range=(lo, hi))
        return freq, hist, edges


def _atomic_savez(path, header, arrs):
    """Write ``arrs`` and the JSON ``header`` to ``path`` atomically (see
    :func:`numbadn._files.atomic_savez`: temp file, fsync, rename)."""
    F.atomic_savez(path, header, arrs)


# ---------------------------------------------------------------- the file schema
#: Bounds on what a model file may declare (checked before anything is allocated).
MAX_HEADER_BYTES = 16 * 2 ** 20
MAX_LAYERS = 16
MAX_MAPS = 4096
MAX_FILTER_SIZE = 255
MAX_MAP_BYTES = 2 ** 30
MAX_IMAGES = 10 ** 6
MAX_EPOCHS = 10 ** 6
_HEADER_KEYS = {"format", "version", "layers", "scales", "trained", "history", "meta"}
_CHECKPOINT_KEYS = {"layer", "pos", "history", "n_images", "maps_shapes", "low_shapes",
                    "image_sha256"}


def _err(msg):
    return F.MemberError("__header__", msg)


def _int(v, name, lo, hi):
    if isinstance(v, bool) or not isinstance(v, int):
        raise _err(f"{name} must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise _err(f"{name} must be from {lo} to {hi:,}, got {v:,}")
    return v


def _num(v, name, lo=-math.inf, positive=False):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise _err(f"{name} must be a finite number, got {v!r}")
    if v < lo or (positive and v <= 0):
        raise _err(f"{name} must be {'> 0' if positive else f'>= {lo}'}, got {v!r}")
    return v


def _list(v, name, n=None, max_len=MAX_EPOCHS):
    if not isinstance(v, list):
        raise _err(f"{name} must be a list, got {type(v).__name__}")
    if n is not None and len(v) != n:
        raise _err(f"{name} must have {n} entries, got {len(v)}")
    if len(v) > max_len:
        raise _err(f"{name} has {len(v):,} entries, more than {max_len:,}")
    return v


def _check_history(h, name):
    for j, e in enumerate(_list(h, name)):
        if not isinstance(e, dict) or set(e) != {"epoch", "cost", "seconds"}:
            raise _err(f"{name}[{j}] must be an object with epoch, cost, seconds, got {e!r}")
        _int(e["epoch"], f"{name}[{j}].epoch", 1, MAX_EPOCHS)
        _num(e["cost"], f"{name}[{j}].cost", 0.0)
        _num(e["seconds"], f"{name}[{j}].seconds", 0.0)


def _check_layer(i, d, k_prev):
    name = f"layers[{i}]"
    if not isinstance(d, dict):
        raise _err(f"{name} must be an object, got {type(d).__name__}")
    want = set(_LAYER_PARAMS) | {"dtype"}
    if set(d) != want:
        extra, missing = sorted(set(d) - want), sorted(want - set(d))
        raise _err(f"{name} has unknown key(s) {extra} and lacks {missing}" if extra and
                   missing else f"{name} has unknown key(s) {extra}" if extra else
                   f"{name} lacks key(s) {missing}")
    k0 = _int(d["in_channels"], f"{name}.in_channels", 1, MAX_MAPS)
    k1 = _int(d["n_maps"], f"{name}.n_maps", 1, MAX_MAPS)
    if k_prev is not None and k0 != k_prev:
        raise _err(f"{name}.in_channels is {k0} but layers[{i - 1}].n_maps is {k_prev}")
    fs = _list(d["filter_size"], f"{name}.filter_size", 2)
    h, w = (_int(v, f"{name}.filter_size", 1, MAX_FILTER_SIZE) for v in fs)
    if d["dtype"] not in ("float32", "float64"):
        raise _err(f"{name}.dtype must be 'float32' or 'float64', got {d['dtype']!r}")
    if k1 * k0 * h * w * np.dtype(d["dtype"]).itemsize > MAX_FILTER_BYTES:
        raise _err(f"{name}: {k1}x{k0}x{h}x{w} filters exceed {MAX_FILTER_BYTES:,} bytes")
    for key in ("lowfreq", "warm_start"):
        if not isinstance(d[key], bool):
            raise _err(f"{name}.{key} must be true or false, got {d[key]!r}")
    if not isinstance(d["solver_options"], dict):
        raise _err(f"{name}.solver_options must be an object, got {d['solver_options']!r}")
    params = {k: v for k, v in d.items() if k != "dtype"}
    try:  # every range check of the constructor, on a layer with filters of bounded size
        _layer_from_file(params, dtype=np.dtype(d["dtype"]))
    except (ValueError, TypeError) as exc:
        raise _err(f"{name}: {exc}") from None
    return k1, k0, h, w


def _check_header(header):
    """Check the whole JSON header; returns the shapes and dtypes every member must
    have: ``{name: (dtypes, shape)}``."""
    if not isinstance(header, dict):
        raise _err(f"must be a JSON object, got a {type(header).__name__}")
    if header.get("format") != _MAGIC:
        raise _err(f"format is {header.get('format')!r}, not {_MAGIC!r}: not a numbadn "
                   "model file")
    if header.get("version") != FORMAT_VERSION:
        raise _err(f"model format version {header.get('version')!r}; this numbadn reads "
                   f"version {FORMAT_VERSION}")
    keys = set(header)
    extra = keys - _HEADER_KEYS - {"checkpoint"}
    missing = _HEADER_KEYS - keys
    if extra or missing:
        raise _err(f"unknown key(s) {sorted(extra)}" if extra else
                   f"lacks key(s) {sorted(missing)}")
    layers = _list(header["layers"], "layers", max_len=MAX_LAYERS)
    if not layers:
        raise _err("layers is empty")
    shapes, k_prev, dims = {}, None, []
    for i, d in enumerate(layers):
        k1, k0, h, w = _check_layer(i, d, k_prev)
        dt = np.dtype(d["dtype"])
        shapes[f"f{i}"] = ([dt], (k1, k0, h, w))
        shapes[f"g{i}"] = ([np.bool_], (k1, k0))
        dims.append((k1, k0, dt))
        k_prev = k1
        if i and d["lowfreq"]:
            raise _err(f"layers[{i}].lowfreq: the z0 maps are for layer 1 only")
    n = len(layers)
    trained = _int(header["trained"], "trained", 0, n)
    for j, v in enumerate(_list(header["scales"], "scales", trained)):
        _num(v, f"scales[{j}]", positive=True)
    for i, h in enumerate(_list(header["history"], "history", n)):
        _check_history(h, f"history[{i}]")
    if not isinstance(header["meta"], dict):
        raise _err(f"meta must be an object, got {type(header['meta']).__name__}")
    for i in range(trained):
        k1 = dims[i][0]
        shapes[f"freq{i}"] = ([np.float64], (k1,))
        shapes[f"hist{i}"] = ([np.float64], (k1, N_BINS))
        shapes[f"edges{i}"] = ([np.float64], (k1, N_BINS + 1))
    ck = header.get("checkpoint")
    if ck is not None:
        if not isinstance(ck, dict) or set(ck) != _CHECKPOINT_KEYS:
            raise _err(f"checkpoint must be an object with keys {sorted(_CHECKPOINT_KEYS)}")
        li = _int(ck["layer"], "checkpoint.layer", trained, n - 1)
        n_im = _int(ck["n_images"], "checkpoint.n_images", 1, MAX_IMAGES)
        pos = _list(ck["pos"], "checkpoint.pos", 4)
        _int(pos[0], "checkpoint.pos[0] (epoch)", 0, MAX_EPOCHS)
        _int(pos[1], "checkpoint.pos[1] (image)", 0, n_im)
        _num(pos[2], "checkpoint.pos[2] (cost)", 0.0)
        _num(pos[3], "checkpoint.pos[3] (seconds)", 0.0)
        _check_history(ck["history"], "checkpoint.history")
        for j, hx in enumerate(_list(ck["image_sha256"], "checkpoint.image_sha256", n_im)):
            if not (isinstance(hx, str) and len(hx) == 64
                    and all(c in "0123456789abcdef" for c in hx)):
                raise _err(f"checkpoint.image_sha256[{j}] must be 64 hex digits, got {hx!r}")
        k1, k0, dt = dims[li]
        for key, kk in (("maps", k1), ("low", k0)):
            for j, shp in enumerate(_list(ck[f"{key}_shapes"], f"checkpoint.{key}_shapes",
                                          n_im)):
                if shp is None:
                    continue
                M, N = (_int(v, f"checkpoint.{key}_shapes[{j}]", 1, 2 ** 20)
                        for v in _list(shp, f"checkpoint.{key}_shapes[{j}]", 2))
                if kk * M * N * dt.itemsize > MAX_MAP_BYTES:
                    raise _err(f"checkpoint.{key}_shapes[{j}]: {kk}x{M}x{N} maps exceed "
                               f"{MAX_MAP_BYTES:,} bytes")
                shapes[f"{key}{j}"] = ([dt], (kk, M, N))
    return shapes


def _read(path):
    """Header and arrays of a model or checkpoint file, the whole file checked
    against the schema (:func:`_check_header`): only the members the header
    declares, each of its dtype and shape, finite, and no member decompressed
    beyond the size its shape allows.  Anything else is one ``ValueError`` that
    names the file and the member."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"model file {path} is a folder, not a file")
    try:
        zf, infos = F.open_members(path)
    except F.MemberError as exc:
        where = f" (member {exc.member!r})" if exc.member else ""
        raise ValueError(f"{path} is not a readable numbadn model file{where}: {exc}") \
            from None
    try:
        with zf:
            if "__header__" not in infos:
                raise _err("is missing: not a numbadn model file")
            raw = F.read_member(zf, infos["__header__"], "__header__", "U", (),
                                MAX_HEADER_BYTES)
            try:
                header = json.loads(str(raw))
            except ValueError as exc:
                raise _err(f"is not JSON ({exc})") from None
            shapes = _check_header(header)
            unknown = sorted(set(infos) - set(shapes) - {"__header__"})
            if unknown:
                raise F.MemberError(unknown[0], "is not a member of a numbadn model file "
                                                "with this header")
            arrs = {}
            for key, (dts, shp) in shapes.items():
                if key not in infos:
                    raise F.MemberError(key, "is missing")
                nbytes = int(np.prod(shp)) * max(np.dtype(d).itemsize for d in dts)
                arrs[key] = F.read_member(zf, infos[key], key, dts, shp, nbytes + 4096)
    except F.MemberError as exc:
        raise ValueError(f"{path} is not a readable numbadn model file: member "
                         f"{exc.member!r} {exc}") from None
    return header, arrs
