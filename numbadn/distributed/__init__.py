"""Learning and inference over a Dask cluster (``pip install 'numbadn[dask]'``).

Per-image inference is independent and the filter sub-problem of eq. 9 needs
only sums over images, so both split over machines.  This module runs them on
`Dask's distributed scheduler <https://distributed.dask.org>`_ (a
``LocalCluster`` on one machine, or ``dask scheduler`` / ``dask worker`` on
many) and keeps everything that grows with the number of images on the
workers, in Zarr:

* :func:`transform` infers the maps of many images (arrays, a Dask array, or
  files loaded on the workers) and writes them to a Zarr array chunked per
  image; each map is bit-identical to ``model.infer(image)`` in one process.
* :func:`fit` learns a :class:`~numbadn.DeconvLayer`'s filters.  Each task
  infers a shard of images warm-started from their maps of the previous epoch
  (read from the worker's memory, or from Zarr when the task landed elsewhere)
  and writes the new maps to Zarr; maps never travel to the client.  The
  filter step (eq. 9) is CG on the normal equations ``sum_i Z_i^T Z_i f =
  sum_i Z_i^T y_i``, run on the client as an all-reduce: every CG product is
  one round of tasks that each return ``Z_i^T Z_i d`` summed over their shard
  (a filter-sized array), and the client adds the shards in shard order.  So
  ``update="batch"`` takes the same steps as ``DeconvLayer(update="batch")``
  in one process: the same filters up to float rounding, whatever the number
  of workers and the order in which they answer (bit for bit with one image
  per task).

The single-process default, online updates after every image, is a sequential
chain; two parallel approximations are offered: ``update="minibatch"`` (the
batch step after every ``batch_size`` images: 1 is online, ``n`` is batch) and
``update="averaged"`` (each of ``n_streams`` tasks runs online updates on its
own images from the shared filters for ``sync_every`` images; the client
averages the streams' filters in stream order and renormalises).

Faults: every task is a pure function of its arguments and of Zarr data that
no running task overwrites (maps alternate between two buffers, epoch ``e``
reads buffer ``(e-1) % 2`` and writes ``e % 2``), so when a worker dies Dask
recomputes its tasks elsewhere and the result is the same.  After every epoch
the client writes ``checkpoint.npz`` into the store (filters, epoch, history);
``fit(..., resume=True)`` continues from it with the workers' maps in Zarr,
without recomputing the warm-start chain.

Pitfalls this package avoids: numba threads times Dask threads oversubscribe
the cores (every task runs ``n_threads`` numba threads, 1 by default: run one
Dask thread per core); ``NUMBA_NUM_THREADS`` set in a worker's environment
after numba was imported is ignored (hence the per-task count); a model sent
to the workers is stripped of its warm-start maps; inputs are never
``scatter``-ed (scattered data dies with its worker): arrays are written to
Zarr once, files are loaded inside the tasks.

The store is a folder on a file system that the client and every worker see
(local disk for a ``LocalCluster``, NFS or similar for a real cluster).

The package:

* :mod:`._transform` -- :func:`transform`: maps of many images, inferred on the workers.
* :mod:`._fit` -- :func:`fit`: one layer's learning run (the update rules, the
  client's all-reduce, the tasks).
* :mod:`._network` -- :func:`fit_network`: every layer in turn, the next layer's
  inputs and the pooled statistics.
* :mod:`._sources` -- where the tasks find the images (arrays, Zarr, files) and
  their checks.
* :mod:`._store` -- Zarr arrays, the workers' in-memory maps, checkpoints.
* :mod:`._cluster` -- the Dask client and workers, and the models sent to them.
* :mod:`._warm` -- every worker checked and warmed when a call starts, the
  task size from the time per image measured there, the tasks' stage times.
"""
from ._fit import UPDATES, fit
from ._network import fit_network
from ._sources import load_image
from ._store import CHECKPOINT
from ._transform import transform

# private names reached as numbadn.distributed._x (tests, benchmarks/distributed.py)
from ._cluster import _client, _require, _slim, _workers  # noqa: F401,E402
from ._store import _clear_cache  # noqa: F401,E402

__all__ = ["fit", "fit_network", "transform", "load_image", "UPDATES", "CHECKPOINT"]
