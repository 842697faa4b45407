"""The multi-layer Deconvolutional Network (sections 3.1, 3.3, 4.1; Fig. 2-3):
training bottom-up and inference top-down.  Its files: :mod:`numbadn.model.io`;
its samples and activation statistics: :mod:`numbadn.model.sampling`."""
from __future__ import annotations

import contextlib
import os
import time

import numpy as np

from .. import _validation as V
from .._params import (ParamsMixin, check_n_jobs, check_random_state, n_jobs_to_threads,
                       not_fitted)
from ..solvers import make_prior, make_solver
from ..solvers.topdown import alternate, project_down
from ..solvers.z0 import low_pass, uniform_filter
from . import io as _io
from . import sampling as _sampling
from ._checks import check_layer_params
from ._images import LazyImages, as_image_list, check_masks, stack_if_same
from .io import image_ids
from .layer import DeconvLayer
from .sampling import SAMPLE_KEEP, ActivationStats
from .training import TrainingInterrupted, choose_low_memory, deferred_signals, held_bytes

__all__ = ["DeconvNet", "MEMORY_BUDGET"]

#: ``fit(low_memory=None)`` trains in low-memory mode when warm starts and held
#: inputs would need more than this many bytes (2 GiB).
MEMORY_BUDGET = 2 * 2 ** 30


def _check_net_params(layers, layer=None, top_down=True, epochs=3, n_jobs=None,
                     verbose=True):
    """Check :class:`DeconvNet`'s parameters (``layers`` must chain)."""
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
    (``get_params``, ``clone``, ``Pipeline``): the constructor stores its
    arguments as given and :meth:`fit` checks them; ``fit(X)`` returns
    ``self``, ``transform(X)`` gives the maps of layer ``layer``,
    ``inverse_transform`` projects them to pixels (eq. 12), ``score`` is the
    negative mean cost.  The fitted attributes exist only after :meth:`fit`
    or :meth:`load`; :meth:`infer`, :meth:`cost`, :meth:`transform` and the
    other methods that use the filters need them (``NotFittedError`` before).

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
    stats_ : list of (ndarray, ndarray, ndarray)
        Per trained layer: each map's firing frequency, activation histogram
        and its bin edges (what :meth:`sample` draws from).
    """

    _FITTED = ("trained_", "scales_", "stats_", "filters_", "n_features_in_")

    def __init__(self, layers, *, layer=None, top_down=True, epochs=3, n_jobs=None,
                 verbose=True):
        self.layers = layers
        self.layer = layer
        self.top_down = top_down
        self.epochs = epochs
        self.n_jobs = n_jobs
        self.verbose = verbose

    @property
    def meta(self):
        """Free-form metadata saved with the model (e.g. the preprocessing used); a
        dict, empty until set."""
        return self.__dict__.setdefault("_meta", {})

    @meta.setter
    def meta(self, value):
        self._meta = dict(value)

    def __sklearn_is_fitted__(self):
        return self._n_trained() > 0

    def _n_trained(self):
        """Layers trained so far (0 before :meth:`fit`)."""
        return self.__dict__.get("trained_", 0)

    def _check_fitted(self, what):
        if not self._n_trained():
            raise not_fitted(self, f"fit(X) before {what}")

    @property
    def filters_(self):
        self._check_fitted("filters_")
        return [la.filters_ for la in self.layers[:self.trained_]]

    @property
    def n_features_in_(self):
        self._check_fitted("n_features_in_")
        return self.layers[0].n_features_in_

    def _images(self, X, name="X"):
        """``X`` as a list of (K0, P, Q) arrays of layer 1's dtype."""
        l1 = self.layers[0]
        if hasattr(l1, "filters_"):
            K0, dt = l1.filters_.shape[1], l1.filters_.dtype
        else:
            p = check_layer_params(l1.get_params(deep=False))
            K0, dt = p["in_channels"], p["dtype"]
        return as_image_list(X, K0, dt, name)

    @classmethod
    def paper(cls, in_channels=1, *, n_maps=(9, 45, 150), filter_size=7, lam=1.0, p=1.0,
              random_state=0, lowfreq=False, layer=None, top_down=True, epochs=3,
              n_jobs=None, verbose=True, **layer_kwargs):
        """The paper's architecture (section 4.1).

        9 layer-1 maps fully connected to the image; 45 layer-2 maps, 9 on
        single layer-1 maps and 36 on pairs; 150 layer-3 maps on random pairs
        of layer-2 maps; ``H = 7, lambda = 1, p = 1``, the continuation
        schedule ``beta0 = 1, beta_inc = 6, beta_max = 1e5``; ``E = 3``.

        Parameters
        ----------
        in_channels : int, default 1
            ``K0``: 1 for grey images, 3 for colour.
        n_maps : tuple of int, default (9, 45, 150)
            Maps per layer; may be shortened to fewer layers, e.g. ``(9, 45)``.
            Layer 2 uses singles and pairs when its map count is
            ``K1 + C(K1, 2)``, random pairs otherwise.
        filter_size : int, default 7
            ``H``, every layer's filter size.
        lam, p : float
            Every layer's ``lambda`` and ``p`` (eq. 2).
        random_state : int, numpy.random.Generator or None, default 0
            Layer ``l`` (0-based) gets ``random_state + l`` (an int; a Generator
            is shared, None stays None).
        lowfreq : bool, default False
            Add the z0 maps to layer 1 (section 3.3).
        layer, top_down, epochs, n_jobs, verbose
            The network's parameters (see :class:`DeconvNet`).
        **layer_kwargs
            Passed to every :class:`DeconvLayer`.

        Returns
        -------
        DeconvNet
            Untrained.
        """
        random_state = check_random_state(random_state)
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
    def fit(self, X, y=None, *, epochs=None, verbose=None, n_jobs=None, checkpoint=None,
            resume=False, checkpoint_every=300.0, low_memory=None,
            memory_budget=MEMORY_BUDGET, callback=None, masks=None):
        """Train every layer in turn, bottom-up (section 3.1); returns ``self``.

        Parameters
        ----------
        X : array or list of arrays
            Training images, (P, Q) or (K0, P, Q) each (already preprocessed),
            or an (n, K0, P, Q) array.
        y : ignored
            (scikit-learn's signature.)
        epochs, verbose, n_jobs : optional
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
            (each layer's fit runs as with ``warm_start=False``; the layers'
            parameters are left as they are), and each higher layer's
            inputs are recomputed through the layers below when needed instead
            of being held (costs one bottom-up inference per image and epoch).
            False: hold them (the paper's Algorithm 1 warm-starts every image's
            maps across epochs).  None (default): False unless that would
            hold more than ``memory_budget`` bytes (:meth:`held_bytes`; the
            paper's 3 layers need ~20 MiB per 150x150 image), then True, said
            on stderr when ``verbose``.
        memory_budget : int
            Bytes for the automatic choice (default :data:`MEMORY_BUDGET`, 2 GiB).
        checkpoint_every : float, default 300
            Seconds between checkpoints within an epoch.
        masks : list of array_like, optional
            One per image (None for a whole one): per-pixel weights ``W`` in
            [0, 1] of the image's shape (or without its channel axis), 0 for a
            missing pixel (beyond the paper).  Layer 1 learns with the data term
            ``lam/2 ||W (F z - y)||^2`` (see :meth:`DeconvLayer.fit`); every
            higher layer learns from layer-1 maps inferred with the same
            weights (those maps cover the whole image, so the layers above need
            no mask).  A checkpoint records the masks with the images.

        Returns
        -------
        self
        """
        _check_net_params(**self.get_params(deep=False))
        ims = self._images(X, "images")
        masks = check_masks(masks, ims)
        epochs = V.check_int("epochs", self.epochs if epochs is None else epochs, 0)
        verbose = self.verbose if verbose is None else verbose
        n_threads = n_jobs_to_threads(self.n_jobs if n_jobs is None else n_jobs)
        low_memory = choose_low_memory(self, ims, low_memory, memory_budget, verbose)
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
        self._image_ids = image_ids(ims, masks)
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

        with deferred_signals(stop) if checkpoint is not None else contextlib.nullcontext():
            return self._fit_layers(ims, epochs, verbose, n_threads, low_memory, state, hook,
                                    checkpoint, callback, masks)

    def _fit_layers(self, ims, epochs, verbose, n_threads, low_memory, state, hook,
                    checkpoint, callback=None, masks=None):
        """The layers trained in turn from ``trained_`` (a resumed fit continues the
        layer that ``state`` names: ``{"layer": l, "state": TrainingState}``).

        ``hook(layer, epoch_done)`` writes checkpoints (the layers' ``on_image``;
        ``hook(None, True)`` at each layer boundary); with ``low_memory`` each
        higher layer's inputs are recomputed when needed instead of held, and
        no layer keeps warm starts.  ``masks`` (checked weights, or None) weight
        layer 1's data term and the layer-1 inference of every higher layer's inputs.
        """
        inputs = ims

        def mask(i):
            return None if masks is None else masks[i]

        for li, layer in enumerate(self.layers):
            if li < self.trained_:
                continue
            if li and low_memory:
                inputs = LazyImages(len(ims), lambda i, li=li: self._bottom_up_one(
                    ims[i], li, n_threads, mask(i)))
            elif li:
                inputs = [self._bottom_up_one(y, li, n_threads, mask(i))
                          for i, y in enumerate(ims)]
            resuming = state is not None and state["layer"] == li
            layer._fit(inputs, epochs=epochs, verbose=verbose, n_jobs=n_threads,
                       on_image=hook, callback=callback,
                       desc=f"layer {li + 1}/{len(self.layers)}",
                       state=state["state"] if resuming else None,
                       warm_start=False if low_memory else None,
                       masks=masks if li == 0 else None)
            # the maps of the last epoch give the scale and the firing statistics
            # (no second inference pass); without warm starts, one streaming pass
            maps = layer.maps_ if epochs and layer.maps_ and layer.maps_[0] is not None \
                else None
            acc = ActivationStats(layer.filters_.shape[0], seed=li)
            for i in range(len(inputs)):
                acc.add(maps[i] if maps is not None else
                        layer.infer(inputs[i], n_jobs=n_threads,
                                    mask=mask(i) if li == 0 else None))
            self.scales_.append(acc.scale())
            self.stats_.append(acc.histograms())
            self.trained_ = li + 1
            del maps
            st = layer.training_state()
            st.maps = st.low = None  # free the warm starts
            if checkpoint is not None:
                hook(None, True)  # a checkpoint at the layer boundary (and a pending stop)
        return self

    def held_bytes(self, shapes):
        """Peak bytes that warm starts and held inputs take in :meth:`fit` without
        ``low_memory`` (see :func:`numbadn.model.training.held_bytes`).

        Parameters
        ----------
        shapes : iterable of tuple
            The (K0, P, Q) shape of every training image.

        Returns
        -------
        int
            Bytes.
        """
        return held_bytes(self, shapes)

    def _bottom_up_one(self, y, upto, n_threads, mask=None):
        """Scaled maps of layer ``upto`` (0-based count of layers below) for one
        image: the input of layer ``upto + 1`` (``mask`` weights layer 1's data term)."""
        u = y
        for li in range(upto):
            u = self.layers[li].infer(u, n_jobs=n_threads, mask=mask if li == 0 else None) \
                * u.dtype.type(self.scales_[li])
        return np.ascontiguousarray(u)

    # ------------------------------------------------------------ inference
    def _layer_index(self, layer):
        if layer is None:
            layer = self._n_trained() or len(self.layers)
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
            raise TypeError(f"layer must be an int from 1 to {len(self.layers)}, got {layer!r}")
        if not 1 <= layer <= len(self.layers):
            raise ValueError(f"layer must be from 1 to {len(self.layers)}, got {layer}")
        return int(layer)

    def _chain(self, layer):
        """``(f, g, s)`` from ``layer`` (1-based) down to layer 1 (see topdown)."""
        if self._n_trained() < layer - 1:
            raise ValueError(f"layer {layer} needs layers 1..{layer - 1} trained first "
                             f"(trained: {self._n_trained()})")
        chain = []
        for li in range(layer - 1, -1, -1):
            s = self.scales_[li - 1] if li else 1.0
            chain.append((self.layers[li].filters_, self.layers[li].connectivity_, s))
        return chain

    def infer(self, image, *, layer=None, top_down=True, n_alternations=2,
              n_jobs=None, on_step=None, passes=1, mask=None):
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
        FISTA, with that solver's options (e.g. ``Fista(max_iter=50)``: at most 50
        iterations per solve of eq. 10 as of eq. 11).

        Parameters
        ----------
        image : array_like or list of arrays
            ``(P, Q)`` or ``(K0, P, Q)``, or a batch.
        layer : int, optional
            1-based; default the last trained layer.
        top_down : bool, default True
            Alternate eqs. 10 and 11 after the bottom-up pass (``layer >= 2``).
        n_alternations : int, default 2
            Alternations between eq. 10 and eq. 11.
        n_jobs : int, optional
            Threads for this call, as the constructor's ``n_jobs`` (default: the
            network's).
        on_step : callable, optional
            ``on_step(done, total)`` is called after every step (each layer's
            bottom-up inference, each solve of eq. 10 or 11), e.g. for a
            progress bar on a large image.
        passes : int or sequence of int, default 1
            An int for every layer, or one per layer from layer 1: solve each
            layer's eq. 2 / 3 that many times, each pass warm-started from the
            last one's maps (and z0 maps) with the solver's schedule restarted:
            the authors' toolbox in reconstruction mode, whose epochs
            (``maxepochs``, ``train_recon_layer.m``) re-run inference on the
            same image.  ``passes=1`` is the single solve from zero maps.
        mask : array_like, optional
            Per-pixel weights ``W`` in [0, 1] of the image (or without its channel
            axis; one per image for a batch), 0 for a missing pixel (beyond the
            paper): layer 1's data term (eq. 2, with the z0 maps) and eq. 10's
            become ``lam/2 ||W (. - y)||^2``; the layers above see the maps below,
            which cover the whole image.  :meth:`reconstruct` then fills the
            missing pixels (inpainting).

        Returns
        -------
        z : ndarray of shape (K_l, M_l, N_l), (n, K_l, M_l, N_l), or list
            The maps (a list for a batch of images of different sizes).
        """
        return self._infer(image, layer, top_down, n_alternations, n_jobs,
                           on_step, passes, mask)[0]

    def infer_lowfreq(self, image, *, layer=None, top_down=True, n_alternations=2,
                      n_jobs=None, on_step=None, passes=1, mask=None):
        """The maps of :meth:`infer` and layer 1's z0 maps (section 3.3), for a
        network whose layer 1 has ``lowfreq``.

        Parameters
        ----------
        image, layer, top_down, n_alternations, n_jobs, on_step, passes, mask
            As for :meth:`infer`.

        Returns
        -------
        z : ndarray of shape (K_l, M_l, N_l), (n, K_l, M_l, N_l), or list
            The maps of layer ``layer``.
        zlow : ndarray of shape (K0, M_1, N_1), (n, K0, M_1, N_1), or list
            Layer 1's z0 maps.
        """
        if not check_layer_params(self.layers[0].get_params(deep=False))["lowfreq"]:
            raise ValueError("infer_lowfreq needs layer 1 with lowfreq=True (the z0 maps); "
                             "use infer")
        return self._infer(image, layer, top_down, n_alternations, n_jobs,
                           on_step, passes, mask)

    def _infer(self, image, layer, top_down, n_alternations, n_jobs, on_step,
               passes, mask=None):
        """``(z, zlow)``: the maps of ``layer`` and layer 1's z0 maps (None without)."""
        self._check_fitted("infer(image)")
        if isinstance(image, (list, tuple)) or (isinstance(image, np.ndarray)
                                                and image.ndim == 4):
            ims = self._images(list(image), "image")
            if mask is not None and len(mask) != len(ims):
                raise ValueError(f"mask must give one mask per image: {len(ims)} images, "
                                 f"{len(mask)} masks")
            out = [self._infer(y, layer, top_down, n_alternations, n_jobs, on_step, passes,
                               None if mask is None else mask[i])
                   for i, y in enumerate(ims)]
            zl = [o[1] for o in out]
            return stack_if_same([o[0] for o in out]), \
                (None if zl[0] is None else stack_if_same(zl))
        layer = self._layer_index(layer)
        n_threads = n_jobs_to_threads(self.n_jobs if n_jobs is None else n_jobs)
        y = self._images(image, "image")[0]
        if layer > 1 and self.trained_ < layer - 1:
            raise ValueError(f"layer {layer} needs layers 1..{layer - 1} trained first "
                             f"(trained: {self.trained_})")
        passes = self._passes(passes, layer)
        W = V.check_mask(mask, y.shape, y.dtype)
        n_steps = sum(passes) + (2 * n_alternations + 1 if top_down and layer > 1 else 0)
        done = [0]

        def step():
            done[0] += 1
            if on_step is not None:
                on_step(done[0], n_steps)

        l1 = self.layers[0]
        low = check_layer_params(l1.get_params(deep=False))["lowfreq"]

        def first(z0, zlow0):
            if low:
                return l1.infer_lowfreq(y, z0=z0, zlow0=zlow0, n_jobs=n_threads, mask=W)
            return l1.infer(y, z0=z0, n_jobs=n_threads, mask=W), None

        z, zlow = first(None, None)
        step()
        for _ in range(passes[0] - 1):
            z, zlow = first(z, zlow)
            step()
        u = z
        for li in range(1, layer):
            u = z * z.dtype.type(self.scales_[li - 1])
            z = self.layers[li].infer(u, n_jobs=n_threads)
            step()
            for _ in range(passes[li] - 1):
                z = self.layers[li].infer(u, z0=z, n_jobs=n_threads)
                step()
        if top_down and layer > 1:
            lay = self.layers[layer - 1]
            p = check_layer_params(lay.get_params(deep=False))
            target = y if zlow is None else np.ascontiguousarray(y - self._lowpass(zlow))
            z = alternate(target, self._chain(layer), z,
                          lambda z: lay.infer(u, z0=z, n_jobs=n_threads),
                          prior=make_prior(p["lam"], p["p"]),
                          solver=make_solver(p["solver"], p["solver_options"]),
                          n_alternations=n_alternations, step=step, mask=W)
        return z, zlow

    @staticmethod
    def _passes(passes, layer):
        """``passes`` as one count per layer 1..``layer`` (each >= 1)."""
        if isinstance(passes, (list, tuple)):
            if len(passes) < layer:
                raise ValueError(f"passes must give a count for each of layers 1..{layer}, "
                                 f"got {len(passes)}: {passes!r}")
            return [V.check_int(f"passes[{i}]", n, minimum=1)
                    for i, n in enumerate(passes[:layer])]
        return [V.check_int("passes", passes, minimum=1)] * layer

    # ------------------------------------------------- estimator interface
    def _fitted_layer(self, what):
        self._check_fitted(what)
        layer = self._layer_index(self.layer)
        if layer > self.trained_:
            raise not_fitted(self, f"fit(X) (layer {layer} of layer={self.layer!r} is not "
                                   f"trained; trained: {self.trained_}) before {what}")
        return layer

    def transform(self, X):
        """Feature maps of layer ``layer`` for every image of ``X``.

        Layers >= 2 are inferred top-down unless ``top_down=False``.

        Parameters
        ----------
        X : array or list of arrays
            A list of images ((P, Q) or (K0, P, Q)) or an (n, K0, P, Q) array;
            one 2-D or 3-D array is one image.

        Returns
        -------
        ndarray of shape (n, K, M, N), or list
            A list when the images differ in size.
        """
        layer = self._fitted_layer("transform(X)")
        ims = self._images(X, "X")
        return self.infer(ims, layer=layer, top_down=self.top_down)

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X).transform(X)``."""
        return self.fit(X, y, **fit_params).transform(X)

    def inverse_transform(self, Z):
        """Images reconstructed (eq. 12) from maps of layer ``layer`` as
        :meth:`transform` returns them.

        Parameters
        ----------
        Z : ndarray of shape (n, K, M, N) or (K, M, N), or list of arrays
            Feature maps of layer ``layer``.

        Returns
        -------
        ndarray of shape (n, K0, P, Q), or list
            The images.
        """
        layer = self._fitted_layer("inverse_transform(Z)")
        if isinstance(Z, (list, tuple)) or np.ndim(Z) == 4:
            return stack_if_same([self.reconstruct(z, layer=layer) for z in Z])
        return self.reconstruct(Z, layer=layer)

    def cost(self, image, z, *, zlow=None, layer=None):
        """Eq. 10's cost of layer-``layer`` maps ``z`` for ``image``:
        ``lam_l/2 ||R_l z - y||^2 + sum |z|^p_l`` with ``R_l`` the projection
        to pixels (eq. 12) and ``lam_l, p_l`` the layer's.

        Parameters
        ----------
        image : ndarray of shape (P, Q) or (K0, P, Q)
            The image ``y``.
        z : ndarray of shape (K_l, M_l, N_l)
            Maps of layer ``layer``.
        zlow : ndarray, optional
            z0 maps: their image is subtracted from ``image`` first.
        layer : int, optional
            1-based; default the last trained layer.

        Returns
        -------
        float
            The cost.
        """
        self._check_fitted("cost(image, z)")
        layer = self._layer_index(layer)
        la = check_layer_params(self.layers[layer - 1].get_params(deep=False))
        y = self._images(image, "image")[0]
        r = self.reconstruct(z, zlow=zlow, layer=layer).astype(np.float64) - y
        zz = np.abs(np.asarray(z, np.float64))
        return float(0.5 * la["lam"] * np.vdot(r, r) + (zz ** la["p"]).sum())

    def mean_cost(self, X, *, layer=None, n_jobs=None):
        """Mean eq. 10 cost per image (:meth:`cost`) after inferring layer
        ``layer`` (default: the ``layer`` parameter, else the top) for each
        image of ``X``, top-down unless ``top_down=False``; lower is better.

        Parameters
        ----------
        X : array or list of arrays
            The images, as for :meth:`transform`.
        layer : int, optional
            1-based.
        n_jobs : int, optional
            Threads for this call (default: the network's ``n_jobs``).

        Returns
        -------
        float
            The mean cost per image.
        """
        self._check_fitted("mean_cost(X)")
        layer = self._layer_index(self.layer if layer is None else layer)
        ims = self._images(X, "X")
        total = 0.0
        for y in ims:
            z, zlow = self._infer(y, layer, self.top_down, 2, n_jobs, None, 1)
            total += self.cost(y, z, zlow=zlow, layer=layer)
        return total / len(ims)

    def score(self, X, y=None, *, n_jobs=None):
        """Negative :meth:`mean_cost` (scikit-learn's "higher is better").

        Parameters
        ----------
        X : array or list of arrays
            The images, as for :meth:`transform`.
        y : ignored
            (Unsupervised; scikit-learn's signature.)
        n_jobs : int, optional
            Threads for this call (default: the network's ``n_jobs``).

        Returns
        -------
        float
            ``-mean_cost(X)``.
        """
        layer = self._fitted_layer("score(X)")
        return -self.mean_cost(X, layer=layer, n_jobs=n_jobs)

    def _lowpass(self, zlow):
        """The image of layer 1's z0 maps (see :meth:`DeconvLayer.reconstruct`)."""
        K0, h = self.layers[0].filters_.shape[1:3]
        dt = self.layers[0].filters_.dtype
        return low_pass(np.asarray(zlow, dt), uniform_filter(K0, h, dt))

    def reconstruct(self, z, *, zlow=None, layer=None):
        """Project layer-``layer`` maps down to the image (eq. 12); adds the z0 image if given.

        Parameters
        ----------
        z : ndarray of shape (K_l, M_l, N_l)
            Maps of layer ``layer``.
        zlow : ndarray, optional
            z0 maps of layer 1, whose low-pass image is added.
        layer : int, optional
            1-based; default the last trained layer.

        Returns
        -------
        ndarray of shape (K0, P, Q)
            The image.
        """
        self._check_fitted("reconstruct(z)")
        layer = self._layer_index(layer)
        chain = self._chain(layer)
        f = chain[0][0]
        z = V.as_float_array("z", z, 3, f.dtype)
        if z.shape[0] != f.shape[0]:
            raise ValueError(f"z has {z.shape[0]} maps but layer {layer} has {f.shape[0]}")
        out = project_down(z, chain)
        if zlow is not None:
            out = out + self._lowpass(zlow)
        return out

    def pixel_filters(self, layer=None):
        """Layer-``layer`` filters projected to pixel space (Fig. 1, 7, 8).

        A single 1 at the centre of one map, all else zero, reconstructed down
        through every layer (as the authors' toolbox does) and cropped to the
        combined support ``H = 1 + sum_l (h_l - 1)``.

        Parameters
        ----------
        layer : int, optional
            1-based; default the top layer.

        Returns
        -------
        ndarray of shape (K_l, K0, H, W)
        """
        self._check_fitted("pixel_filters()")
        layer = self._layer_index(layer)
        chain = self._chain(layer)
        H = 1 + sum(f.shape[2] - 1 for f, _, _ in chain)
        W = 1 + sum(f.shape[3] - 1 for f, _, _ in chain)
        K = chain[0][0].shape[0]
        f1 = chain[-1][0]
        dt = f1.dtype
        out = np.zeros((K, f1.shape[1], H, W), dt)
        for k in range(K):
            z = np.zeros((K, 2 * H - 1, 2 * W - 1), dt)
            z[k, H - 1, W - 1] = 1.0
            out[k] = project_down(z, chain)
        return out

    def sample(self, layer=None, n=1, *, size=100, random_state=0, keep=SAMPLE_KEEP):
        """Draw images from the model (Fig. 3).

        For each layer-``layer`` feature, the number of activations follows its
        firing frequency over the training set and their values are drawn by
        inverse-CDF sampling from its 100-bin activation histogram; the
        ``keep`` largest in magnitude are kept and projected to pixels.

        Parameters
        ----------
        layer : int, optional
            1-based; default the top layer.
        n : int, default 1
            Number of images.
        size : int, default 100
            Side of each image in pixels.
        random_state : int, numpy.random.Generator or None, default 0
            The random numbers.
        keep : int
            Activations kept per sample, the largest in magnitude.

        Returns
        -------
        ndarray of shape (n, K0, size, size)
        """
        self._check_fitted("sample()")
        layer = self._layer_index(layer)
        if self.trained_ < layer:
            raise ValueError(f"layer {layer} is not trained yet (trained: {self.trained_})")
        return _sampling.sample(self.stats_[layer - 1], self._chain(layer), n, size=size,
                                random_state=random_state, keep=keep)

    # ------------------------------------------------------------ save/load
    def save(self, path, *, overwrite=False):
        """Write the model to one portable ``.npz`` file (arrays + a JSON header).

        Parameters
        ----------
        path : str or path-like
            The file, written atomically.
        overwrite : bool, default False
            Replace an existing file at ``path`` (atomically); without it an
            existing file is a ``FileExistsError`` naming it.
        """
        _io.save(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save` (or a checkpoint).

        The file is untrusted input: it is checked whole against the format's
        schema first (see :func:`numbadn.model.io.read`), and anything wrong is
        one ``ValueError`` naming the file and the member.

        Parameters
        ----------
        path : str or path-like
            A model or checkpoint file.

        Returns
        -------
        DeconvNet
        """
        return _io.load(cls, path)

    def _write_checkpoint(self, path, layer):
        _io.write_checkpoint(self, path, layer)

    def _restore_checkpoint(self, path, n_images):
        return _io.restore_checkpoint(self, path, n_images)
