"""The multi-layer Deconvolutional Network (sections 3.1, 3.3, 4.1; Fig. 2-3)."""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import numpy as np

from . import _validation as V
from .layer import DeconvLayer, LazyImages, as_image_list
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
    d = {k: getattr(layer, k) for k in _LAYER_PARAMS}
    d["filter_size"] = list(d["filter_size"])
    d["dtype"] = str(layer.dtype)
    return d


class DeconvNet:
    """A stack of :class:`DeconvLayer` trained bottom-up (eq. 3, Algorithm 1 per layer).

    Layer ``l + 1`` takes as input the maps that layer ``l`` infers for each
    training image, multiplied by one scale ``s_l`` per layer (chosen so that
    the inputs span about [-1, 1] like the contrast-normalised images; a
    single scalar keeps the top-down chain of eqs. 10-12 linear and the maps
    sparse, unlike a per-image mean removal).

    Parameters
    ----------
    layers : list of DeconvLayer
        Bottom to top; ``layers[l].in_channels`` must equal
        ``layers[l-1].n_maps``.

    Attributes
    ----------
    layers : list of DeconvLayer
    scales_ : list of float
        ``s_l`` for every trained layer.
    trained_ : int
        Number of layers trained so far.
    """

    def __init__(self, layers):
        if not isinstance(layers, (list, tuple)) or not layers:
            raise ValueError("layers must be a non-empty list of DeconvLayer")
        for i, layer in enumerate(layers):
            if not isinstance(layer, DeconvLayer):
                raise TypeError(f"layers[{i}] must be a DeconvLayer, got {type(layer).__name__}")
            if i and layer.in_channels != layers[i - 1].n_maps:
                raise ValueError(
                    f"layers[{i}] has in_channels={layer.in_channels} but layers[{i - 1}] has "
                    f"n_maps={layers[i - 1].n_maps}: they must match")
            if i and layer.lowfreq:
                raise ValueError(f"layers[{i}]: lowfreq (the z0 maps) is for layer 1 only")
        self.layers = list(layers)
        #: Free-form metadata saved with the model (e.g. the preprocessing used).
        self.meta = {}
        self.scales_ = []
        self.stats_ = []
        self.trained_ = 0

    @classmethod
    def paper(cls, in_channels=1, *, n_maps=(9, 45, 150), filter_size=7, lam=1.0, p=1.0,
              seed=0, lowfreq=False, **layer_kwargs):
        """The paper's architecture (section 4.1).

        9 layer-1 maps fully connected to the image; 45 layer-2 maps, 9 on
        single layer-1 maps and 36 on pairs; 150 layer-3 maps on random pairs
        of layer-2 maps; ``H = 7, lambda = 1, p = 1``, the continuation
        schedule ``beta0 = 1, beta_inc = 6, beta_max = 1e5``; ``E = 3``
        (the default of :meth:`fit`).  ``n_maps`` may be shortened to fewer
        layers, e.g. ``(9, 45)``; layer 2 uses singles and pairs when its map
        count is ``K1 + C(K1, 2)``, random pairs otherwise.  ``lowfreq`` adds
        the z0 maps to layer 1 (section 3.3); other keywords go to every layer.
        """
        layers = []
        k_in = in_channels
        for i, k in enumerate(n_maps):
            if i == 0:
                conn = None
            elif i == 1 and k == k_in + k_in * (k_in - 1) // 2:
                conn = "singles_and_pairs"
            else:
                conn = "random_pairs"
            layers.append(DeconvLayer(k_in, k, filter_size=filter_size, lam=lam, p=p,
                                      connectivity=conn, seed=seed + i,
                                      lowfreq=lowfreq and i == 0, **layer_kwargs))
            k_in = k
        return cls(layers)

    # ------------------------------------------------------------------ fit
    def fit(self, images, epochs=3, *, verbose=True, n_threads=None, checkpoint=None,
            resume=False, checkpoint_every=300.0, low_memory=None,
            memory_budget=MEMORY_BUDGET):
        """Train every layer in turn, bottom-up (section 3.1).

        Parameters
        ----------
        images : array or list of arrays
            Training images, (P, Q) or (K0, P, Q) each (already preprocessed).
        epochs : int
            Epochs per layer (``E = 3``).
        checkpoint : str, optional
            Path of a checkpoint written atomically (temp file, then rename)
            after every epoch and every ``checkpoint_every`` seconds within one.
        resume : bool
            Continue from ``checkpoint`` if it exists; the resumed run ends with
            the same filters as an uninterrupted one.
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
        ims = as_image_list(images, self.layers[0].in_channels, self.layers[0].dtype)
        epochs = V.check_int("epochs", epochs, 0)
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
        state = None
        if resume:
            if checkpoint is None:
                raise ValueError("resume=True needs checkpoint=PATH")
            if os.path.exists(checkpoint):
                state = self._restore_checkpoint(checkpoint, len(ims))
        last = [time.monotonic()]

        def hook(layer, epoch_done):
            if checkpoint is None:
                return
            if epoch_done or time.monotonic() - last[0] >= checkpoint_every:
                self._write_checkpoint(checkpoint, layer)
                last[0] = time.monotonic()

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
            layer.fit(inputs, epochs, verbose=verbose, n_threads=n_threads, on_image=hook,
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
                self._write_checkpoint(checkpoint, None)
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
              n_threads=None, return_lowfreq=False):
        """Feature maps of ``layer`` (1-based; ``None``: the top) for one image.

        Layer 1 is inferred from the image (eq. 2), each higher layer from
        the scaled maps below (eq. 3).  With ``top_down`` and ``layer >= 2``,
        the top maps then alternate ``n_alternations`` times between eq. 10
        (reconstruct the image through every filter below) and eq. 11
        (reconstruct the maps of the layer below), ending with eq. 10
        (section 3.3), each solved with the top layer's solver: the
        continuation scheme with CG on the chain of filters (the paper's), or
        FISTA (``topdown_iters`` iterations at most on eq. 10).

        Returns
        -------
        z : ndarray of shape (K_l, M_l, N_l)
        zlow : ndarray, only with ``return_lowfreq`` (layer 1 with z0 maps)
        """
        layer = self._layer_index(layer)
        y = as_image_list(image, self.layers[0].in_channels, self.layers[0].dtype, "image")[0]
        if layer > 1 and self.trained_ < layer - 1:
            raise ValueError(f"layer {layer} needs layers 1..{layer - 1} trained first "
                             f"(trained: {self.trained_})")
        l1 = self.layers[0]
        zlow = None
        if l1.lowfreq:
            z, zlow = l1.infer(y, n_threads=n_threads, return_lowfreq=True)
        else:
            z = l1.infer(y, n_threads=n_threads)
        u = z
        for li in range(1, layer):
            u = z * z.dtype.type(self.scales_[li - 1])
            z = self.layers[li].infer(u, n_threads=n_threads)
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
                z = lay.infer(u, z0=z, n_threads=n_threads)
            z = eq10(z)
        return (z, zlow) if return_lowfreq else z

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

    def sample(self, layer=None, n=1, *, size=100, seed=0, keep=SAMPLE_KEEP):
        """Draw images from the model (Fig. 3).

        For each layer-``layer`` feature, the number of activations follows its
        firing frequency over the training set and their values are drawn by
        inverse-CDF sampling from its 100-bin activation histogram; the
        ``keep`` largest in magnitude are kept and projected to pixels.

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
        rng = np.random.default_rng(seed)
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
        """Read a model written by :meth:`save` (or a checkpoint)."""
        header, arrs = _read(path)
        return cls._from(header, arrs)

    @classmethod
    def _from(cls, header, arrs):
        layers = []
        for i, d in enumerate(header["layers"]):
            d = dict(d)
            dt = np.dtype(d.pop("dtype"))
            la = DeconvLayer(connectivity=arrs[f"g{i}"], dtype=dt, **d)
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
            header["checkpoint"] = {"layer": li, "pos": st["pos"], "history": st["history"],
                                    "n_images": len(st["maps"])}
            for i, (m, lo) in enumerate(zip(st["maps"], st["low"])):
                if m is not None:
                    arrs[f"maps{i}"] = m
                if lo is not None:
                    arrs[f"low{i}"] = lo
        _atomic_savez(path, header, arrs)

    def _restore_checkpoint(self, path, n_images):
        header, arrs = _read(path)
        saved = DeconvNet._from(header, arrs)
        mine = [_layer_params(la) for la in self.layers]
        if [_layer_params(la) for la in saved.layers] != mine:
            raise ValueError(f"checkpoint {path} was written by a network with other settings; "
                             "remove it or train with the same settings")
        for la, sl in zip(self.layers, saved.layers):
            la.filters, la.history_ = sl.filters, sl.history_
        self.scales_, self.stats_, self.trained_ = saved.scales_, saved.stats_, saved.trained_
        ck = header.get("checkpoint")
        if ck is None:
            return None
        if ck["n_images"] != n_images:
            raise ValueError(f"checkpoint {path} was written for {ck['n_images']} images, "
                             f"not {n_images}")
        la = self.layers[ck["layer"]]
        la.restore_training_state({
            "pos": ck["pos"], "history": ck["history"],
            "maps": [arrs.get(f"maps{i}") for i in range(n_images)],
            "low": [arrs.get(f"low{i}") for i in range(n_images)]})
        return {"layer": ck["layer"]}


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
    """Write ``arrs`` and the JSON ``header`` to ``path`` via a temp file and rename."""
    path = os.fspath(path)
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".numbadn-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, __header__=np.array(json.dumps(header)), **arrs)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _read(path):
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrs = {k: npz[k] for k in npz.files}
        header = json.loads(str(arrs.pop("__header__")))
    except Exception as exc:
        raise ValueError(f"{path} is not a readable numbadn model file ({exc})") from None
    if header.get("format") != _MAGIC:
        raise ValueError(f"{path} is not a numbadn model file")
    if header.get("version") != FORMAT_VERSION:
        raise ValueError(f"{path} has model format version {header.get('version')}; this "
                         f"numbadn reads version {FORMAT_VERSION}")
    return header, arrs
