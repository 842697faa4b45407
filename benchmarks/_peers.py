"""The head-to-head's peers: FISTA in PyTorch and SPORCO's ``ConvBPDNMaskDcpl`` on eq. 2,
each with a check that its convolutions are eq. 1's (numbadn's ``conv_valid`` /
``conv_full``).  Both libraries are optional and imported inside the functions.

Split from :mod:`benchmarks.headtohead`, which re-exports these names.
"""
from __future__ import annotations

import os
import time

import numpy as np

from numbadn.ops import conv_full, conv_valid


def torch_fista(y, f, lam=1.0, n_iter=100, n_threads=None, trace=None):
    """FISTA on eq. 2 as a PyTorch user would write it (CPU).

    ``F z``: ``conv2d`` of the maps with the flipped filters (conv2d
    correlates), giving the valid convolution; ``F^T r``: ``conv_transpose2d``
    with the same weight.  Step ``1/L`` with ``L = lam ||F||^2`` from 50 power
    iterations.  ``trace(k, seconds, z)`` is called after iteration k with the
    cumulative iteration time (its own time excluded); returning True stops.

    y : (1, P, Q) float32, f : (K1, 1, h, w) float32 -> z (K1, P+h-1, Q+w-1).
    """
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(n_threads or os.cpu_count())
    K1, K0, h, w = f.shape
    with torch.inference_mode():
        yt = torch.from_numpy(y)[None]                                   # (1, K0, P, Q)
        wt = torch.from_numpy(np.ascontiguousarray(
            f[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)))                  # (K0, K1, h, w)
        shape = (1, K1, y.shape[1] + h - 1, y.shape[2] + w - 1)
        v = torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=yt.dtype)
        for _ in range(50):
            v = F.conv_transpose2d(F.conv2d(v, wt), wt)
            v /= v.norm()
        L = lam * float((F.conv_transpose2d(F.conv2d(v, wt), wt) * v).sum())
        z = torch.zeros(shape, dtype=yt.dtype)
        x, t, elapsed = z.clone(), 1.0, 0.0
        for k in range(n_iter):
            t0 = time.perf_counter()
            grad = lam * F.conv_transpose2d(F.conv2d(x, wt) - yt, wt)
            z_new = F.softshrink(x - grad / L, 1.0 / L)
            t_new = 0.5 * (1.0 + (1.0 + 4.0 * t * t) ** 0.5)
            x = z_new + ((t - 1.0) / t_new) * (z_new - z)
            z, t = z_new, t_new
            elapsed += time.perf_counter() - t0
            if trace is not None and trace(k + 1, elapsed, z[0].numpy()):
                break
    return z[0].numpy()


def torch_conventions(f):
    """Check the PyTorch operators against numbadn's ``conv_valid``/``conv_full``."""
    import torch
    import torch.nn.functional as F
    rng = np.random.default_rng(3)
    K1, K0, h, w = f.shape
    z = rng.standard_normal((K1, 20 + h - 1, 18 + w - 1)).astype(np.float32)
    r = rng.standard_normal((K0, 20, 18)).astype(np.float32)
    wt = torch.from_numpy(np.ascontiguousarray(f[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)))
    with torch.inference_mode():
        Fz = F.conv2d(torch.from_numpy(z)[None], wt)[0].numpy()
        FTr = F.conv_transpose2d(torch.from_numpy(r)[None], wt)[0].numpy()
    ref_v, ref_f = conv_valid(z, f), conv_full(r, f)
    return {"forward_rel_err": float(np.abs(Fz - ref_v).max() / np.abs(ref_v).max()),
            "adjoint_rel_err": float(np.abs(FTr - ref_f).max() / np.abs(ref_f).max())}


def sporco_cbpdn_mask(y, f, lam=1.0, n_iter=100, n_threads=None, trace=None,
                      return_solver=False):
    """SPORCO ``ConvBPDNMaskDcpl`` on the non-circular eq. 2.

    SPORCO convolves circularly: ``s[n] = sum_m d[m] x[n - m]`` on the array
    size.  With the image placed at offset (h-1, w-1) of a zero array of
    size (P+h-1, Q+w-1) and the mask W = 1 on it, ``W (D x - s)`` is exactly
    ``F z - y`` with ``z = x`` (no wrap-around reaches the masked-in pixels).
    SPORCO weighs ``1/2 ||W(Dx - s)||^2 + lmbda ||x||_1``, so
    ``lmbda = 1 / lam``.  Automatic rho (AutoRho enabled, the class's
    settings otherwise), float32 as the data.  ``trace(k, seconds, z)`` as
    for :func:`torch_fista` (seconds from the start of ``solve``, the
    callback's own time excluded).
    """
    import sporco.fft
    from sporco.admm import cbpdn

    sporco.fft.pyfftw_threads = n_threads or os.cpu_count()
    K1, K0, h, w = f.shape
    S = np.pad(y[0], ((h - 1, 0), (w - 1, 0)))
    W = np.zeros_like(S)
    W[h - 1:, w - 1:] = 1.0
    D = np.ascontiguousarray(f[:, 0].transpose(1, 2, 0))             # (h, w, K1)
    state = {"t0": 0.0, "excluded": 0.0}

    def callback(solver):
        t_in = time.perf_counter()
        elapsed = t_in - state["t0"] - state["excluded"]
        stop = trace(solver.k + 1, elapsed, _sporco_maps(solver.getmin()))
        state["excluded"] += time.perf_counter() - t_in
        return stop

    opt = cbpdn.ConvBPDNMaskDcpl.Options({
        "Verbose": False, "MaxMainIter": n_iter, "RelStopTol": 0.0, "FastSolve": True,
        "AutoRho": {"Enabled": True},
        "Callback": callback if trace is not None else None})
    solver = cbpdn.ConvBPDNMaskDcpl(D, S, 1.0 / lam, W, opt)
    state["t0"] = time.perf_counter()
    z = _sporco_maps(solver.solve())
    return (z, solver) if return_solver else z


def _sporco_maps(Y1):
    """SPORCO's (N1, N2, 1, 1, K1) coefficient array -> numbadn's (K1, N1, N2)."""
    return np.ascontiguousarray(Y1[:, :, 0, 0, :].transpose(2, 0, 1))


def sporco_conventions(f):
    """SPORCO's ``reconstruct`` of random maps vs numbadn's ``conv_valid`` of them."""
    rng = np.random.default_rng(3)
    K1, K0, h, w = f.shape
    y = rng.standard_normal((K0, 20, 18)).astype(np.float32)
    z = rng.standard_normal((K1, 20 + h - 1, 18 + w - 1)).astype(np.float32)
    _, solver = sporco_cbpdn_mask(y, f, n_iter=1, return_solver=True, n_threads=1)
    X = np.ascontiguousarray(z.transpose(1, 2, 0))[:, :, None, None, :]
    theirs = np.asarray(solver.reconstruct(X)).squeeze()[h - 1:, w - 1:]
    mine = conv_valid(z, f)[0]
    return {"reconstruction_rel_err": float(np.abs(mine - theirs).max() / np.abs(mine).max())}
