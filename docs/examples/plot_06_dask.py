"""
Learning on a local Dask cluster
================================

:mod:`numbadn.distributed` learns a layer's filters on a Dask cluster: each worker
infers the maps of its images (kept in a Zarr store), and the batch filter update
of eq. 9 adds up filter-sized sums from every task in a fixed order, so it gives
the filters of one process.  Here on a ``LocalCluster`` of two single-threaded
workers on this machine; ``Client("tcp://HOST:8786")`` is all that changes on a
real cluster (see :doc:`/scaling`).
"""
import logging
import tempfile

import numpy as np
from distributed import Client, LocalCluster

import numbadn
from numbadn import distributed as D
from numbadn.data import load_images
from numbadn.plot import filter_grid
from numbadn.preprocess import contrast_normalize

ys = [contrast_normalize(im) for im in load_images("natural")[:8]]

if __name__ == "__main__":  # the workers are processes of their own
    store = tempfile.mkdtemp(prefix="numbadn-dask-")
    # dashboard on any free port; workers' logs (a heartbeat cut short at shutdown) hidden
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster, Client(cluster) as client:
        print(client)
        layer = D.fit(numbadn.DeconvLayer(1, 9, random_state=0), ys, epochs=2, store=store,
                      update="batch")
    print("cost per epoch:", [round(h["cost"], 3) for h in layer.history_])

    # The same learning in this process, Algorithm 1 as printed (update="batch"):
    # the filters agree up to float rounding.
    local = numbadn.DeconvLayer(1, 9, random_state=0, update="batch", epochs=2,
                                verbose=False).fit(ys)
    print(f"largest difference to one process: "
          f"{np.abs(layer.filters_ - local.filters_).max():.1e}")
    fig = filter_grid(layer.filters_, title="layer 1, learned on 2 Dask workers")
