"""Model files: save, load and checkpoints of a :class:`DeconvNet`, in one portable
``.npz`` (arrays and a JSON header), and the schema every file read is checked against."""
from __future__ import annotations

import hashlib
import json
import math
import os

import numpy as np

from .. import _files as F
from ._checks import MAX_FILTER_BYTES, check_layer_params
from .layer import DeconvLayer
from .sampling import N_BINS
from .training import TrainingState

__all__ = ["FORMAT_VERSION", "save", "load", "read", "write_checkpoint", "restore_checkpoint",
           "image_ids", "settings_differences", "SettingsDiffer", "TrainingSetDiffers"]

#: Version of the saved-model format; files of another version are refused.
FORMAT_VERSION = 1
_MAGIC = "numbadn-model"
_LAYER_PARAMS = ("in_channels", "n_maps", "filter_size", "lam", "p", "seed", "solver",
                 "solver_options", "update", "filter_cg_iters", "lowfreq", "psi", "warm_start")


def layer_params(layer):
    """A layer's settings as the model file records them (``random_state`` under
    the file's key ``seed``: the int, or null for None or a Generator)."""
    p = check_layer_params(layer.get_params(deep=False))
    d = {k: p["random_state" if k == "seed" else k] for k in _LAYER_PARAMS}
    if not isinstance(d["seed"], int):
        d["seed"] = None
    d["filter_size"] = list(d["filter_size"])
    d["dtype"] = str(p["dtype"])
    if not isinstance(d["solver"], str):  # a solver object: its name and options
        d["solver_options"] = {**d["solver"].to_dict(), **(d["solver_options"] or {})}
        d["solver"] = d["solver"].name
    return d


def layer_from_file(d, filters=None, **kw):
    """A layer from a model file's settings (``seed`` -> ``random_state``), fitted
    with ``filters`` if given."""
    d = dict(d)
    d["random_state"] = d.pop("seed")
    d["filter_size"] = tuple(d["filter_size"])
    if filters is None:
        return DeconvLayer(**d, **kw)
    return DeconvLayer.from_filters(filters, **d, **kw)


def _filters_and_table(layer):
    """``(filters_, connectivity_)`` of a fitted layer; of an unfitted one (a layer
    of a network not trained yet), those its fit would start from."""
    if not hasattr(layer, "filters_"):
        layer = DeconvLayer(**layer.get_params(deep=False)).initialize()
    return layer.filters_, layer.connectivity_


def header_of(net):
    """The JSON header of ``net``'s model file."""
    return {"format": _MAGIC, "version": FORMAT_VERSION,
            "layers": [layer_params(la) for la in net.layers],
            "scales": [float(s) for s in getattr(net, "scales_", [])],
            "trained": getattr(net, "trained_", 0),
            "history": [getattr(la, "history_", []) for la in net.layers], "meta": net.meta}


def arrays_of(net):
    """The arrays of ``net``'s model file: filters, connectivity, activation statistics."""
    arrs = {}
    for i, la in enumerate(net.layers):
        arrs[f"f{i}"], arrs[f"g{i}"] = _filters_and_table(la)
    for i, (freq, hist, edges) in enumerate(getattr(net, "stats_", [])):
        arrs[f"freq{i}"], arrs[f"hist{i}"], arrs[f"edges{i}"] = freq, hist, edges
    return arrs


def save(net, path, *, overwrite=False):
    """Write ``net`` to one portable ``.npz`` file (arrays + a JSON header).

    Parameters
    ----------
    net : DeconvNet
        The network.
    path : str or path-like
        The file, written atomically (temp file, ``fsync``, rename).
    overwrite : bool, default False
        Replace an existing file at ``path``; without it an existing file is a
        ``FileExistsError``.
    """
    if not isinstance(overwrite, (bool, np.bool_)):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    path = os.fspath(path)
    if not overwrite and os.path.lexists(path):
        raise FileExistsError(f"{F.shown(path)} exists: not replaced; pass overwrite=True to "
                              "replace it")
    atomic_savez(path, header_of(net), arrays_of(net))


def load(cls, path):
    """A ``cls`` (:class:`DeconvNet`) read from a file that :func:`save` wrote (or a checkpoint).

    The file is untrusted input: it is checked whole against the format's
    schema first (see :func:`read`), and anything wrong is one
    ``ValueError`` naming the file and the member.

    Parameters
    ----------
    cls : type
        :class:`DeconvNet` (or a subclass).
    path : str or path-like
        The file.

    Returns
    -------
    cls
        The network.
    """
    header, arrs = read(path)
    return from_file(cls, header, arrs, os.fspath(path))


def from_file(cls, header, arrs, path="model"):
    """A ``cls`` built from a checked header and its arrays (see :func:`read`).

    The trained layers (and the layer a checkpoint was written in) are fitted
    with the file's filters; the others are not fitted: their fit starts from
    their ``random_state``, as it would have in the run that wrote the file.
    """
    ck = header.get("checkpoint")
    n_fitted = max(int(header["trained"]), ck["layer"] + 1 if ck is not None else 0)
    layers = []
    for i, d in enumerate(header["layers"]):
        d = dict(d)
        dt = np.dtype(d.pop("dtype"))
        f = np.ascontiguousarray(arrs[f"f{i}"], dtype=dt) if i < n_fitted else None
        try:
            la = layer_from_file(d, f, connectivity=arrs[f"g{i}"], dtype=dt)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path} is not a readable numbadn model file: member "
                             f"'g{i}' {exc}") from None
        if f is not None:
            la.history_ = list(header["history"][i])
        layers.append(la)
    net = cls(layers)
    net.meta = dict(header.get("meta", {}))
    net.scales_ = list(header["scales"])
    net.trained_ = int(header["trained"])
    net.stats_ = [(arrs[f"freq{i}"], arrs[f"hist{i}"], arrs[f"edges{i}"])
                  for i in range(net.trained_)]
    return net


def write_checkpoint(net, path, layer):
    """Write ``net`` and, while ``layer`` trains, its :class:`TrainingState` (position,
    costs, warm starts) to ``path``.

    Parameters
    ----------
    net : DeconvNet
        The network being trained.
    path : str or path-like
        The checkpoint file, written atomically.
    layer : DeconvLayer or None
        The layer of ``net`` being trained; None at a layer boundary.
    """
    header = header_of(net)
    arrs = arrays_of(net)
    if layer is not None:
        st = layer.training_state()
        li = net.layers.index(layer)
        header["checkpoint"] = {
            "layer": li, "pos": st.pos, "history": list(layer.history_),
            "n_images": len(st.maps),
            "maps_shapes": [None if m is None else list(m.shape[1:]) for m in st.maps],
            "low_shapes": [None if m is None else list(m.shape[1:]) for m in st.low],
            "image_sha256": list(net._image_ids)}
        for i, (m, lo) in enumerate(zip(st.maps, st.low)):
            if m is not None:
                arrs[f"maps{i}"] = m
            if lo is not None:
                arrs[f"low{i}"] = lo
    else:
        header["meta"] = dict(header["meta"], image_sha256=list(net._image_ids))
    atomic_savez(path, header, arrs)


def restore_checkpoint(net, path, n_images):
    """Load the checkpoint at ``path`` into ``net`` (filters, scales, statistics) after
    checking its settings and training images.

    Parameters
    ----------
    net : DeconvNet
        The network to restore into; its settings must be those of the checkpoint.
    path : str or path-like
        The checkpoint.
    n_images : int
        Training images now.

    Returns
    -------
    dict or None
        ``None`` at a layer boundary, else ``{"layer": l, "state": TrainingState}``
        for the layer being trained.
    """
    header, arrs = read(path)
    saved = from_file(type(net), header, arrs, path)
    diff = settings_differences(saved, net)
    if diff:
        raise SettingsDiffer(path, diff)
    ck = header.get("checkpoint")
    ids = ck["image_sha256"] if ck is not None else header["meta"].get("image_sha256")
    if ids is not None and list(ids) != list(net._image_ids):
        raise TrainingSetDiffers(path, ids, net._image_ids,
                                 header["meta"].get("images"), net.meta.get("images"))
    if ck is not None and ck["n_images"] != n_images:  # pragma: no cover - ids differ first
        raise ValueError(f"checkpoint {path} was written for {ck['n_images']} images, "
                         f"not {n_images}")
    for la, sl in zip(net.layers, saved.layers):
        if hasattr(sl, "filters_"):
            la.initialize()
            la.filters_, la.history_ = sl.filters_, sl.history_
    net.scales_, net.stats_, net.trained_ = saved.scales_, saved.stats_, saved.trained_
    if ck is None:
        return None
    net.layers[ck["layer"]].history_ = list(ck["history"])
    epoch, image, cost, seconds = ck["pos"]
    state = TrainingState(epoch=epoch, image=image, cost=cost, seconds=seconds,
                          maps=[arrs.get(f"maps{i}") for i in range(n_images)],
                          low=[arrs.get(f"low{i}") for i in range(n_images)])
    return {"layer": ck["layer"], "state": state}


def image_ids(images, masks=None):
    """SHA-256 of each training image (dtype, shape and values), and of its mask
    when one is given: what identifies the training set in a checkpoint.

    Parameters
    ----------
    images : sequence of ndarray
        The training images.
    masks : sequence of ndarray, optional
        Their per-pixel weights (checked, one per image); a masked image's
        digest covers its weights too, so a resume with other masks is refused.

    Returns
    -------
    list of str
        One hexadecimal digest per image.
    """
    out = []
    for i, y in enumerate(images):
        h = hashlib.sha256(f"{y.dtype.str}{y.shape}".encode())
        h.update(np.ascontiguousarray(y).tobytes())
        if masks is not None:
            h.update(b"mask")
            h.update(np.ascontiguousarray(masks[i]).tobytes())
        out.append(h.hexdigest())
    return out


def settings_differences(old, new):
    """The layer settings in which two networks differ.

    Parameters
    ----------
    old, new : DeconvNet
        The networks.

    Returns
    -------
    list of (str, value, value)
        ``(setting, old value, new value)``: one entry per setting (``lam``,
        ``n_maps``, ...), with one value when every layer shares it, else the
        list per layer.
    """
    a = [layer_params(la) for la in old.layers]
    b = [layer_params(la) for la in new.layers]
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
    """A checkpoint was written with other settings.

    Parameters
    ----------
    path : str
        The checkpoint.
    differences : list of (str, value, value)
        As :func:`settings_differences` returns them.
    """

    def __init__(self, path, differences):
        self.path, self.differences = path, differences
        said = "; ".join(f"{k} was {a!r}, now {b!r}" for k, a, b in differences)
        super().__init__(f"checkpoint {path} was written with other settings: {said}; "
                         "train with the same settings or remove it")


class TrainingSetDiffers(ValueError):
    """A checkpoint was written for another training set.

    Parameters
    ----------
    path : str
        The checkpoint.
    old_ids, new_ids : list of str
        SHA-256 of each training image, recorded and now.
    old_name, new_name : str, optional
        Descriptions of the two training sets, for the message.
    """

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


def atomic_savez(path, header, arrs):
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


#: Deepest nesting of lists and objects a header may have (``meta`` included).
MAX_DEPTH = 32
#: Range of the scales between layers (``scales``); outside it the top-down chain
#: of eqs. 10-12 overflows or divides by zero.
SCALE_RANGE = (1e-12, 1e12)
#: Least 2-norm of a filter: filters are normalised to unit norm (Algorithm 1),
#: and a zero filter divides by zero in the projections of eq. 12.
MIN_FILTER_NORM = 1e-6


def _check_depth(header):
    """Refuse lists and objects nested deeper than :data:`MAX_DEPTH` (iteratively,
    so the check itself cannot overflow the stack)."""
    stack = [(header, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, (dict, list)):
            if d > MAX_DEPTH:
                raise _err(f"nests lists or objects {MAX_DEPTH + 1} or more levels deep; "
                           f"at most {MAX_DEPTH} are allowed")
            stack.extend((x, d + 1) for x in (v.values() if isinstance(v, dict) else v))


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
    params = {("random_state" if k == "seed" else k): v for k, v in d.items() if k != "dtype"}
    params.update(connectivity=None, dtype=np.dtype(d["dtype"]), epochs=3, n_jobs=None,
                  verbose=True)
    try:  # every range check of fit, on a layer with filters of bounded size
        check_layer_params(params)
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
        if not SCALE_RANGE[0] <= v <= SCALE_RANGE[1]:
            raise _err(f"scales[{j}] must be from {SCALE_RANGE[0]:g} to {SCALE_RANGE[1]:g}, "
                       f"got {v!r}")
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


def _check_arrays(arrs, n_layers, trained):
    """What the header cannot say about the arrays: every connected filter plane
    has a norm of at least :data:`MIN_FILTER_NORM` (they are unit-norm, Algorithm
    1), and the activation histograms are counts (>= 0)."""
    for i in range(n_layers):
        f, g = arrs[f"f{i}"], arrs[f"g{i}"]
        norms = np.sqrt(np.sum(np.square(f, dtype=np.float64), axis=(2, 3)))
        bad = np.argwhere(g & (norms < MIN_FILTER_NORM))
        if len(bad):
            k1, k0 = (int(v) for v in bad[0])
            raise F.MemberError(f"f{i}", f"plane ({k1}, {k0}) has norm {norms[k1, k0]:.3g}: "
                                f"connected filter planes are unit-norm (at least "
                                f"{MIN_FILTER_NORM:g})")
    for i in range(trained):
        if (arrs[f"hist{i}"] < 0).any() or (arrs[f"freq{i}"] < 0).any():
            raise F.MemberError(f"hist{i}", "holds negative counts or frequencies")


def read(path):
    """Header and arrays of a model or checkpoint file, the whole file checked
    against the schema (:func:`_check_header`): only the members the header
    declares, each of its dtype and shape, finite, and no member decompressed
    beyond the size its shape allows.  Anything else is one ``ValueError`` that
    names the file and the member.

    Parameters
    ----------
    path : str or path-like
        A model or checkpoint file.

    Returns
    -------
    header : dict
        The JSON header.
    arrays : dict of str to ndarray
        The arrays, by member name.
    """
    path = os.fspath(path)
    name = F.shown(path)
    with F.open_regular(path, "model file") as fh:
        return _read(fh, name)


def _read(fh, path):
    try:
        zf, infos = F.open_members(fh)
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
            except RecursionError:
                raise _err(f"nests JSON deeper than Python can read (the schema allows "
                           f"{MAX_DEPTH} levels)") from None
            _check_depth(header)
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
            _check_arrays(arrs, len(header["layers"]), header["trained"])
    except F.MemberError as exc:
        raise ValueError(f"{path} is not a readable numbadn model file: member "
                         f"{exc.member!r} {exc}") from None
    return header, arrs
