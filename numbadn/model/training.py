"""Training a layer (Algorithm 1): where a fit stands, the epoch loop, and what
training reports (callbacks, progress bar) or stops it (signals); a network's
layers in turn, and the memory they hold (the low-memory choice)."""
from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
import time

import numpy as np

from ..solvers.inference import IterationStats
from ..solvers.inference import cost as _cost
from ..kernels import conv_valid
from ..kernels._steps import sum_abs_p
from ..solvers.z0 import grad_energy
from ._checks import LazyImages
from .sampling import ActivationStats

__all__ = ["TrainingState", "TrainingInterrupted", "run_epoch", "fit_layers", "check_callback", "progress",
           "deferred_signals", "held_bytes", "choose_low_memory"]


@dataclasses.dataclass
class TrainingState:
    """Where a :meth:`DeconvLayer.fit` stands: enough to resume it exactly.

    Parameters
    ----------
    epoch : int
        Epochs completed in this fit.
    image : int
        Images of the current epoch done (online updates; 0 at an epoch's end).
    cost : float
        Eq. 3 cost summed over those images.
    seconds : float
        Time spent in the current epoch.
    maps, low : list of (ndarray or None), or None
        Every training image's maps and z0 maps from its last inference: the
        warm starts of the next epoch (None before the image's first one, and
        without ``warm_start``).
    """

    epoch: int = 0
    image: int = 0
    cost: float = 0.0
    seconds: float = 0.0
    maps: list | None = None
    low: list | None = None

    @classmethod
    def start(cls, n_images):
        """The state of a fit on ``n_images`` images that has not begun.

        Parameters
        ----------
        n_images : int
            Training images.

        Returns
        -------
        TrainingState
        """
        return cls(maps=[None] * n_images, low=[None] * n_images)

    @property
    def pos(self):
        """``[epoch, image, cost, seconds]``, as a checkpoint records it."""
        return [self.epoch, self.image, self.cost, self.seconds]

    def fits(self, n_images):
        """Whether this state belongs to a fit on ``n_images`` images.

        Parameters
        ----------
        n_images : int
            Training images.

        Returns
        -------
        bool
        """
        return self.maps is not None and len(self.maps) == n_images


def run_epoch(layer, state, ims, bar, n_threads, on_image, t0, per_image=None, masks=None):
    """One epoch of ``layer.fit`` from ``state`` (updated as images are done).

    Parameters
    ----------
    layer : DeconvLayer
        The layer being trained; its filters are updated.
    state : TrainingState
        Where the fit stands; the epoch starts at ``state.image``.
    ims : list of ndarray or LazyImages
        The training images (K0, P, Q).
    bar : tqdm or a stand-in
        Progress bar, advanced per image.
    n_threads : int
        Threads.
    on_image : callable or None
        ``on_image(layer, False)`` after every image (online updates).
    t0 : float
        ``time.perf_counter()`` at the start of the epoch.
    per_image : callable, optional
        The callback, ``per_image(stats)`` after every image.
    masks : list of (ndarray or None), optional
        Per-pixel weights of the images in [0, 1], checked (beyond the paper):
        inference and eq. 9 with ``||W_i (F z_i - y_i)||^2``.

    Returns
    -------
    total : float
        Eq. 3 cost summed over the epoch's images.
    stop : bool
        Whether a callback asked to stop.
    """
    epoch = state.epoch
    g = layer.connectivity
    stop = False
    same = not isinstance(ims, LazyImages) and len({y.shape for y in ims}) == 1
    if layer.update == "batch" and same and len(ims) > 1 and not layer.lowfreq:
        Z0 = None if state.maps[0] is None else np.stack(state.maps)
        Wb = None if masks is None else np.stack(masks)
        Z = layer.infer(np.stack(ims), z0=Z0, n_threads=n_threads, mask=Wb)
        state.maps = list(Z)
        total = _cost(np.stack(ims), Z, layer.filters, g, lam=layer.lam, p=layer.p, mask=Wb)
        bar.update(len(ims))
        bar.set_postfix(epoch=epoch + 1, cost=f"{total:.4g}")
        if per_image is not None:
            for i, (y, z) in enumerate(zip(ims, Z)):
                r = conv_valid(z, layer.filters, g) - y
                if masks is not None:
                    r *= masks[i]
                c = 0.5 * layer.lam * float(np.vdot(r, r)) + _sum_abs_p(z, layer.p)
                stop |= bool(per_image(_image_stats(epoch, i, t0, c, z, r, y)))
    else:
        total = state.cost
        for i in range(state.image, len(ims)):
            y = ims[i]
            W = None if masks is None else masks[i]
            if layer.lowfreq:
                z, zl = layer.infer(y, z0=state.maps[i], zlow0=state.low[i],
                                    n_threads=n_threads, return_lowfreq=True, mask=W)
            else:
                z, zl = layer.infer(y, z0=state.maps[i], n_threads=n_threads, mask=W), None
            target = layer._target(i, y, zl)
            # one residual F z - target serves the cost and the filter gradient
            r = conv_valid(z, layer.filters, layer.connectivity) - target
            rw = r if W is None else W * r
            c = (0.5 * layer.lam * float(np.vdot(rw, rw)) + _sum_abs_p(z, layer.p)
                 + (layer.psi * grad_energy(zl) if zl is not None else 0.0))
            total += c
            if per_image is not None:
                stop |= bool(per_image(_image_stats(epoch, i, t0, c, z, rw, target)))
            if layer.update == "online":
                layer._update_filters([z], [target], [r], None if W is None else [W])
            if layer.warm_start:
                state.maps[i], state.low[i] = z, zl
            if layer.update == "online":
                state.image, state.cost = i + 1, total
                state.seconds = time.perf_counter() - t0
                if on_image is not None:
                    on_image(layer, False)
            bar.update(1)
            bar.set_postfix(epoch=epoch + 1, image=i + 1, cost=f"{total:.4g}")
    if layer.update == "batch":
        layer._update_filters(state.maps, [layer._target(i, y) for i, y in enumerate(ims)],
                              masks=masks)
    return total, stop


def _image_stats(epoch, i, t0, c, z, r, y):
    ny = float(np.linalg.norm(y))
    return IterationStats(epoch=epoch + 1, image=i, iteration=i + 1,
                          time=time.perf_counter() - t0, cost=float(c),
                          sparsity=1.0 - np.count_nonzero(z) / z.size,
                          residual=float(np.linalg.norm(r)) / ny if ny > 0 else float("nan"),
                          cg_residual=float("nan"))


def check_callback(callback):
    """``callback`` of :meth:`DeconvLayer.fit`, checked.

    Parameters
    ----------
    callback : callable or None
        Called as ``callback(stats)`` with an :class:`IterationStats` after
        every image.

    Returns
    -------
    callable or None
        ``callback``.
    """
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    return callback


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


def progress(total, verbose, desc, initial=0):
    """A tqdm progress bar over images, or a silent stand-in.

    Parameters
    ----------
    total : int
        Images in all.
    verbose : bool
        False: the stand-in.
    desc : str
        Label.
    initial : int, default 0
        Images already done (a resumed fit).

    Returns
    -------
    tqdm or a stand-in with the same ``update``, ``set_postfix`` and ``close``
    """
    if not verbose:
        return _NoBar()
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, unit="img", leave=True, initial=initial)


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by SIGINT or SIGTERM after writing ``checkpoint``.

    Parameters
    ----------
    signum : int
        The signal.
    checkpoint : str
        The checkpoint file written.
    """

    def __init__(self, signum, checkpoint):
        super().__init__(f"{signal.Signals(signum).name}: checkpoint written to {checkpoint}")
        self.signum, self.checkpoint = signum, checkpoint


@contextlib.contextmanager
def deferred_signals(state):
    """SIGINT and SIGTERM set ``state["signal"]`` (training stops at the next
    consistent point and writes a checkpoint); a second one stops at once.
    Only in the main thread; elsewhere signals keep their handlers.

    Parameters
    ----------
    state : dict
        Gets ``"signal"`` (the signal number) when one arrives.

    Yields
    ------
    None
    """
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


def fit_layers(net, ims, epochs, verbose, n_threads, low_memory, state, hook,
               checkpoint, callback=None):
    """The layers of :meth:`DeconvNet.fit` trained in turn from ``net.trained_`` (a
    resumed fit continues the layer that ``state`` names).

    Parameters
    ----------
    net : DeconvNet
        The network; its layers, ``scales_``, ``stats_`` and ``trained_`` change.
    ims : list of ndarray
        The training images.
    epochs, verbose, n_threads
        As for :meth:`DeconvLayer.fit`.
    low_memory : bool
        Recompute each higher layer's inputs when needed instead of holding them.
    state : dict or None
        ``{"layer": l, "state": TrainingState}`` of a resumed fit.
    hook : callable or None
        ``hook(layer, epoch_done)``: the checkpoint writer (``on_image`` of
        :meth:`DeconvLayer.fit`); ``hook(None, True)`` at each layer boundary.
    checkpoint : str or None
        The checkpoint path (None: no checkpoints).
    callback : callable, optional
        Passed to every layer's fit.

    Returns
    -------
    DeconvNet
        ``net``.
    """
    inputs = ims
    for li, layer in enumerate(net.layers):
        if li < net.trained_:
            continue
        if li and low_memory:
            inputs = LazyImages(len(ims), lambda i, li=li: net._bottom_up_one(
                ims[i], li, n_threads))
        elif li:
            inputs = [net._bottom_up_one(y, li, n_threads) for y in ims]
        resuming = state is not None and state["layer"] == li
        layer.fit(inputs, epochs=epochs, verbose=verbose, n_threads=n_threads,
                  on_image=hook, callback=callback,
                  desc=f"layer {li + 1}/{len(net.layers)}",
                  state=state["state"] if resuming else None)
        # the maps of the last epoch give the scale and the firing statistics
        # (no second inference pass); without warm starts, one streaming pass
        maps = layer.maps_ if epochs and layer.maps_ and layer.maps_[0] is not None \
            else None
        acc = ActivationStats(layer.n_maps, seed=li)
        for i in range(len(inputs)):
            acc.add(maps[i] if maps is not None else
                    layer.infer(inputs[i], n_threads=n_threads))
        net.scales_.append(acc.scale())
        net.stats_.append(acc.histograms())
        net.trained_ = li + 1
        del maps
        st = layer.training_state()
        st.maps = st.low = None  # free the warm starts
        if checkpoint is not None:
            hook(None, True)  # a checkpoint at the layer boundary (and a pending stop)
    return net


def held_bytes(net, shapes):
    """Peak bytes that warm starts and held inputs take in :meth:`DeconvNet.fit`
    without ``low_memory``, for images of the given (K0, P, Q) shapes.

    Training layer ``l`` holds every image's maps of layer ``l`` (warm
    starts, ``(K_l, P+h-1, Q+w-1)``) and, above layer 1, its inputs (the
    scaled maps of layer ``l-1``); the largest layer sets the peak.  Maps
    of layer ``l`` keep the size of the layer's input plus ``h-1, w-1``.

    Parameters
    ----------
    net : DeconvNet
        The network.
    shapes : iterable of tuple
        The (K0, P, Q) shape of every training image.

    Returns
    -------
    int
        Bytes.
    """
    peak = 0
    sizes = [tuple(s[-2:]) for s in shapes]
    for li, la in enumerate(net.layers):
        h, w = la.filter_size
        item = np.dtype(la.dtype).itemsize
        maps = sum(la.n_maps * (P + h - 1) * (Q + w - 1) for P, Q in sizes) \
            if la.warm_start else 0
        held = sum(la.in_channels * P * Q for P, Q in sizes) if li else 0
        peak = max(peak, (maps + held) * item)
        sizes = [(P + h - 1, Q + w - 1) for P, Q in sizes]
    return peak


def choose_low_memory(net, ims, low_memory, memory_budget, verbose):
    """``low_memory`` of :meth:`DeconvNet.fit` decided: None becomes True when
    ``net.held_bytes`` of ``ims`` exceeds ``memory_budget`` and every layer
    updates online (said on stderr when ``verbose``).  When True, every layer
    gets ``warm_start=False`` (a layer with batch updates is a ``ValueError``).

    Parameters
    ----------
    net : DeconvNet
        The network about to be trained.
    ims : list of ndarray
        The training images.
    low_memory : bool or None
        The choice asked for (None: automatic).
    memory_budget : int
        Bytes.
    verbose : bool
        Say an automatic choice on stderr.

    Returns
    -------
    bool
        The choice made.
    """
    if low_memory is None:
        need = net.held_bytes([y.shape for y in ims])
        low_memory = need > memory_budget and all(
            la.update == "online" for la in net.layers)
        if low_memory and verbose:
            print(f"numbadn: warm starts and inputs of {len(ims)} images would hold "
                  f"{need / 2 ** 30:.1f} GiB (budget {memory_budget / 2 ** 30:.1f} GiB): "
                  "training in low-memory mode (low_memory=False to override)",
                  file=sys.stderr)
    if low_memory:
        for i, la in enumerate(net.layers):
            if la.update != "online":
                raise ValueError(f"low_memory needs online filter updates; layers[{i}] "
                                 f"has update={la.update!r}")
            la.warm_start = False
    return low_memory
