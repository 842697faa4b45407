"""The Dask side of :mod:`numbadn.distributed`: the client, the workers, how
tasks' results are added, and the models sent to the workers."""
from __future__ import annotations


import numpy as np

from ..model import DeconvLayer, DeconvNet


def _require():
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
        import zarr  # noqa: F401
    except ImportError as e:  # pragma: no cover - exercised only without the extra
        raise ImportError("numbadn.distributed needs Dask and Zarr: "
                          "pip install 'numbadn[dask]'") from e


def _client(client):
    _require()
    from distributed import Client, get_client
    if client is None:
        try:
            return get_client()
        except ValueError:
            raise ValueError("client is None and no Dask client is running: pass client="
                             "distributed.Client(...) (e.g. Client(LocalCluster()))") from None
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    return client


def _workers(client):
    """Addresses of the cluster's workers, sorted (every one: recent
    ``scheduler_info`` lists 5 unless told otherwise)."""
    import inspect
    kw = {"n_workers": -1} if "n_workers" in inspect.signature(
        client.scheduler_info).parameters else {}
    return sorted(client.scheduler_info(**kw)["workers"])


def _gather(client, futs):
    """``client.gather(futs)``; a lost scheduler is named as such (Dask reports it
    as cancelled futures or a closed connection)."""
    import concurrent.futures
    try:
        return client.gather(futs)
    except (concurrent.futures.CancelledError, OSError, TimeoutError) as e:
        if client.status == "running" and not isinstance(e, OSError):
            raise
        addr = getattr(client.scheduler, "address", None) or "?"
        raise ConnectionError(
            f"lost the Dask scheduler {addr} ({type(e).__name__}: {e}): the work of the "
            "current round is lost; the store keeps what was complete (for fit, the "
            "checkpoint of the last finished epoch: rerun with resume=True once the "
            "scheduler is back)") from e


def _identity(x):
    return x


def _chunks(seq, size):
    seq = list(seq)
    return [seq[a:a + size] for a in range(0, len(seq), size)]


def _sum_in_order(*parts):
    """``parts[0] + parts[1] + ...`` from zeros, in the order given; for
    ``(costs, array)`` pairs the costs are concatenated in that order."""
    if isinstance(parts[0], tuple):
        return (np.concatenate([p[0] for p in parts]), _sum_in_order(*[p[1] for p in parts]))
    out = np.zeros_like(parts[0])
    for p in parts:
        out += p
    return out


def _nbytes(part):
    return sum(_nbytes(p) for p in part) if isinstance(part, tuple) else part.nbytes


# ------------------------------------------------------------------ models
def _slim(model):
    """A copy of a layer or network for the workers: its parameters and fitted
    filters and statistics; no warm-start maps, no history, no training-set ids."""
    if isinstance(model, DeconvNet):
        params = {k: v for k, v in model.get_params(deep=False).items() if k != "layers"}
        net = DeconvNet([_slim(la) for la in model.layers], **params)
        for k in ("trained_", "scales_", "stats_"):
            if hasattr(model, k):
                setattr(net, k, getattr(model, k))
        net.meta = model.meta
        return net
    params = model.get_params(deep=False)
    if not hasattr(model, "filters_"):
        return DeconvLayer(**params)
    return DeconvLayer.from_filters(np.array(model.filters_),
                                    **{**params, "connectivity": model.connectivity_})


def _first(model):
    return model.layers[0] if isinstance(model, DeconvNet) else model


def _in_channels(model):
    la = _first(model)
    return la.filters_.shape[1] if hasattr(la, "filters_") else la.in_channels


def _out_shape(model, layer, in_shape):
    """(K, M, N) of the maps of ``layer`` for inputs of shape (K0, P, Q)."""
    layers = model.layers[:layer] if isinstance(model, DeconvNet) else [model]
    P, Q = in_shape[1:]
    for la in layers:
        h, w = la.filters_.shape[2:]
        P, Q = P + h - 1, Q + w - 1
    return (layers[-1].filters_.shape[0], P, Q)


def _model_dtype(model):
    la = _first(model)
    return la.filters_.dtype if hasattr(la, "filters_") else np.dtype(la.dtype)
