"""What :mod:`numbadn.distributed` keeps on disk and in the workers' memory:
Zarr arrays, the maps' two buffers (with each worker's in-memory copies), and
the checkpoint of a fit."""
from __future__ import annotations

import os
import threading

import numpy as np

#: Name of the checkpoint file :func:`fit` writes into its store.
CHECKPOINT = "checkpoint.npz"
_CKPT_VERSION = 1


def _open(path, **kw):
    import zarr
    return zarr.open_array(store=os.fspath(path), **kw)


def _create(path, shape, dtype, chunk0=1):
    """A new Zarr array, one chunk per image, uncompressed (maps and images are
    dense floats: compression saves little and costs time on every read and
    write; measured in ``docs/scaling.md``)."""
    import zarr
    chunks = (chunk0,) + tuple(shape[1:])
    if hasattr(zarr, "create_array"):  # zarr 3
        return zarr.create_array(store=os.fspath(path), shape=shape, chunks=chunks,
                                 dtype=np.dtype(dtype), compressors=None, overwrite=True)
    return zarr.open_array(store=os.fspath(path), mode="w", shape=shape, chunks=chunks,
                           dtype=np.dtype(dtype), compressor=None)


# ------------------------------------------------------ worker-side maps
_CACHE = {}
_CACHE_LOCK = threading.Lock()


def _maps_path(store, buf):
    return os.path.join(os.fspath(store), f"maps{buf}")


def _runs(idx):
    """``idx`` cut into runs of consecutive indices: [(start, stop, positions), ...]."""
    out, a = [], 0
    for b in range(1, len(idx) + 1):
        if b == len(idx) or idx[b] != idx[b - 1] + 1:
            out.append((idx[a], idx[b - 1] + 1, range(a, b)))
            a = b
    return out


def _read_rows(path, idx):
    """Rows ``idx`` of the Zarr array at ``path``, one read per run of consecutive
    indices (zarr spends about 3 ms on every call: one call per image cost as
    much as layer 1's inference; measured in ``docs/scaling.md``)."""
    from ._warm import stage
    a = _open(path, mode="r")
    out = [None] * len(idx)
    with stage("zarr_read", len(idx)):
        for i0, i1, pos in _runs(list(idx)):
            block = np.asarray(a[i0:i1])
            for p, z in zip(pos, block):
                out[p] = z
    return out


def _write_rows(path, idx, zs):
    """Rows ``idx`` of the Zarr array at ``path`` set to ``zs``, one write per run of
    consecutive indices."""
    from ._warm import stage
    a = _open(path, mode="r+")
    with stage("zarr_write", len(idx)):
        for i0, i1, pos in _runs(list(idx)):
            a[i0:i1] = np.stack([zs[p] for p in pos])


def _read_maps(store, buf, run, epoch, idx):
    """Maps of images ``idx`` at ``epoch``: from this worker's memory when it
    wrote them, else from Zarr (a task rescheduled after a worker died)."""
    out, missing = {}, []
    with _CACHE_LOCK:
        for i in idx:
            hit = _CACHE.get((os.fspath(store), i))
            if hit is not None and hit[0] == run and hit[1] == epoch:
                out[i] = hit[2]
            else:
                missing.append(i)
    if missing:
        for i, z in zip(missing, _read_rows(_maps_path(store, buf), missing)):
            out[i] = z
    return [out[i] for i in idx]


def _write_maps(store, buf, run, epoch, idx, zs):
    _write_rows(_maps_path(store, buf), idx, zs)
    if run is None:  # keep_maps_in_memory=False
        return
    with _CACHE_LOCK:
        if any(v[0] != run for v in _CACHE.values()):
            _CACHE.clear()  # memory for one fit at a time: an older run's maps go
        for i, z in zip(idx, zs):
            _CACHE[(os.fspath(store), i)] = (run, epoch, z)


def _clear_cache():
    with _CACHE_LOCK:
        n = len(_CACHE)
        _CACHE.clear()
    return n


# ------------------------------------------------------------ one fit per store
#: The file that marks a store as in use by a running fit.
LOCK = "fit.lock"


class _store_lock:
    """``store/fit.lock`` while a fit runs: a second fit on the same store (which
    would overwrite the inputs and maps the first one reads) is refused, naming
    the first one.  A lock left by a dead process on this host is taken over."""

    def __init__(self, store):
        self.path = os.path.join(os.fspath(store), LOCK)

    def __enter__(self):
        import json
        import socket
        import time
        me = dict(host=socket.gethostname(), pid=os.getpid(),
                  started=time.strftime("%Y-%m-%d %H:%M:%S"))
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    with open(self.path) as fh:
                        other = json.load(fh)
                except (OSError, ValueError):
                    other = {}
                if other.get("host") == me["host"] and not _alive(other.get("pid")):
                    os.remove(self.path)  # its fit died without cleaning up
                    continue
                raise RuntimeError(
                    f"{os.path.dirname(self.path)} is in use by another fit (host "
                    f"{other.get('host', '?')}, pid {other.get('pid', '?')}, started "
                    f"{other.get('started', '?')}): give another store, wait for it to "
                    f"end, or delete {self.path} if that fit is no longer running") from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self.me = me
            return self
        raise RuntimeError(f"could not take {self.path}")  # pragma: no cover - a race

    def __exit__(self, *exc):
        try:
            os.remove(self.path)
        except OSError:
            pass


def _alive(pid):
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


# ------------------------------------------------------------ checkpoints
def _save(path, layer, epoch, settings):
    import json
    tmp = f"{path}.{os.getpid()}.tmp.npz"
    np.savez(tmp, filters=layer.filters_, epoch=np.int64(epoch),
             header=np.array(json.dumps(dict(version=_CKPT_VERSION, settings=settings,
                                             history=layer.history_))))
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _restore(path, layer, settings):
    import json
    with np.load(path, allow_pickle=False) as d:
        header = json.loads(str(d["header"]))
        if header.get("version") != _CKPT_VERSION:
            raise ValueError(f"{path}: checkpoint version {header.get('version')}, expected "
                             f"{_CKPT_VERSION}")
        old = header["settings"]
        diff = [f"{k} was {old.get(k)!r}, now {v!r}" for k, v in settings.items()
                if old.get(k) != v]
        if diff:
            raise ValueError(f"{path} was written with other settings: " + "; ".join(diff))
        f = d["filters"]
        if f.shape != layer.filters_.shape:
            raise ValueError(f"{path}: filters of shape {f.shape}, layer has "
                             f"{layer.filters_.shape}")
        layer.filters_ = f.astype(layer.filters_.dtype)
        layer.history_ = list(header["history"])
        return int(d["epoch"])


def _checkpoint_inputs_match(store, iid):
    import json
    path = os.path.join(store, CHECKPOINT)
    if not os.path.exists(path):
        return True  # nothing to resume: fit starts afresh anyway
    with np.load(path, allow_pickle=False) as d:
        return json.loads(str(d["header"]))["settings"].get("inputs", "") == iid
