"""What training needs besides the loops themselves (those are methods of
:class:`DeconvLayer` and :class:`DeconvNet`): where a fit stands, what training
reports (per-image statistics, callbacks, progress bar) or stops it (signals),
and the memory a network's fit holds (the low-memory choice)."""
from __future__ import annotations

import contextlib
import dataclasses
import signal
import sys
import threading
import time

import numpy as np

from ..kernels import sum_abs_p as _sum_abs_p_kernel
from ..solvers import IterationStats
from ._checks import check_layer_params

__all__ = ["TrainingState", "TrainingInterrupted", "image_stats", "sum_abs_p", "check_callback",
           "progress", "deferred_signals", "held_bytes", "choose_low_memory"]


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


def image_stats(epoch, i, t0, c, z, r, y):
    """The :class:`IterationStats` of image ``i`` in a fit: its eq. 3 cost ``c``,
    the sparsity of its maps ``z`` and the relative residual ``|r| / |y|``.

    Parameters
    ----------
    epoch : int
        The epoch, 0-based (the record's is 1-based).
    i : int
        Index of the image in the training set.
    t0 : float
        ``time.perf_counter()`` at the start of the epoch.
    c : float
        The image's cost (eq. 3).
    z : ndarray
        Its maps.
    r : ndarray
        Its reconstruction residual ``F z - y``.
    y : ndarray
        The image.

    Returns
    -------
    IterationStats
    """
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


def sum_abs_p(z, p):
    """``sum |z|^p`` in float64 (one njit pass; no float64 copy of the maps).

    Parameters
    ----------
    z : ndarray
        Feature maps (float32 or float64).
    p : float
        The exponent of the sparsity term.

    Returns
    -------
    float
    """
    return float(_sum_abs_p_kernel(z, float(p)))


#: Seconds between two redraws of a progress bar written to a file or pipe.
LOG_INTERVAL = 5.0


class _NoBar:
    def update(self, n=1):
        pass

    def set_postfix(self, refresh=True, **kw):
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
    # to a terminal the bar redraws in place; to a log file or pipe every redraw
    # is kept, so there it redraws at most every LOG_INTERVAL seconds
    tty = getattr(sys.stderr, "isatty", lambda: False)()
    return tqdm(total=total, desc=desc, unit="img", leave=True, initial=initial,
                mininterval=0.1 if tty else LOG_INTERVAL)


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
    for li, layer in enumerate(net.layers):
        la = check_layer_params(layer.get_params(deep=False))
        h, w = la["filter_size"]
        item = la["dtype"].itemsize
        maps = sum(la["n_maps"] * (P + h - 1) * (Q + w - 1) for P, Q in sizes) \
            if la["warm_start"] else 0
        held = sum(la["in_channels"] * P * Q for P, Q in sizes) if li else 0
        peak = max(peak, (maps + held) * item)
        sizes = [(P + h - 1, Q + w - 1) for P, Q in sizes]
    return peak


def choose_low_memory(net, ims, low_memory, memory_budget, verbose):
    """``low_memory`` of :meth:`DeconvNet.fit` decided: None becomes True when
    ``net.held_bytes`` of ``ims`` exceeds ``memory_budget`` and every layer
    updates online (said on stderr when ``verbose``).  True with a layer that
    updates in batches is a ``ValueError``.  The layers are left as they are
    (their fits are told to keep no warm starts).

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
    return low_memory
