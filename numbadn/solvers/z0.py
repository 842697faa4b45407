"""The z0 low-frequency maps of section 3.3 (last paragraph).

An extra map ``z0_c`` per input channel of layer 1 joins the image through a
constant uniform filter ``f0 = ones(s0, s0) / s0`` and carries an l2 prior on
its gradients, so the cost of layer 1 becomes

.. math:: \\frac{\\lambda}{2} \\sum_c \\| \\sum_k z_k \\oplus f_{kc} + z_{0,c} \\oplus f_0 - y_c \\|^2
          + \\sum_k |z_k|^p + \\psi \\sum_c \\|\\nabla z_{0,c}\\|^2

With ``z`` fixed the z0 problem is quadratic: CG on
``(lam F0^T F0 + 2 psi D^T D) z0 = lam F0^T (y - F z)``, where ``D`` stacks
the horizontal and vertical forward differences ``[1 -1]`` (the toolbox's
prior, ``psi = 1``).  Following the authors' toolbox, this CG solve runs inside
every beta step of the continuation scheme, alternating with the z update.
"""
from __future__ import annotations

import numpy as np

from ..kernels import (LowPass, adjoint_of_input, cg_solve, cg_workspace, make_lowpass, masked,
                       new_rpad)
from ..ops import conv_valid


def uniform_filter(K0, s0, dtype):
    """``f0``: ``ones / s0`` on the diagonal (channel c -> c), as the toolbox.

    Parameters
    ----------
    K0 : int
        Input channels.
    s0 : int
        Filter size (the layer's).
    dtype : numpy dtype
        Floating type.

    Returns
    -------
    ndarray of shape (K0, K0, s0, s0)
    """
    f0 = np.zeros((K0, K0, s0, s0), dtype)
    for c in range(K0):
        f0[c, c] = 1.0 / s0
    return f0


def grad_energy(z0):
    """``||grad z0||^2`` (both directions).

    Parameters
    ----------
    z0 : ndarray of shape (K0, M, N)
        z0 maps.

    Returns
    -------
    float
    """
    return float((np.diff(z0, axis=2) ** 2).sum() + (np.diff(z0, axis=1) ** 2).sum())


def solve_z0(r, f0, lam, psi, z0, n_iter=20, mask=None):
    """CG on the z0 normal equations given the residual target ``r = y - F z``:
    the CG driver of the one-layer solver (:func:`numbadn.kernels.cg_solve`)
    on the :class:`~numbadn.kernels.LowPass` operator.

    Parameters
    ----------
    r : ndarray of shape (K0, P, Q)
    f0 : ndarray of shape (K0, K0, s0, s0)
    lam, psi : float
    z0 : ndarray of shape (K0, P+s0-1, Q+s0-1)
        Warm start; updated in place and returned.
    n_iter : int, default 20
        CG steps.
    mask : ndarray of shape (K0, P, Q), optional
        Per-pixel weights ``W`` in [0, 1] in ``z0``'s dtype, checked by the caller
        (beyond the paper): the data term is ``lam/2 ||W (F0 z0 - r)||^2``, the
        normal matrix ``lam F0^T W^2 F0 + 2 psi D^T D``.

    Returns
    -------
    ndarray
        ``z0``, updated.
    """
    dt = z0.dtype
    lp = make_lowpass(np.asarray(f0, dt), lam, psi)
    r = np.ascontiguousarray(r, dtype=dt)
    if mask is not None:
        lp = LowPass(masked(lp.op, mask), lp.lam, lp.psi)
        r = mask * r
    z = np.ascontiguousarray(z0)
    K0, P, Q = r.shape
    rpad = new_rpad(K0, P, Q, f0.shape[2], f0.shape[3], dt)
    b = np.empty_like(z)
    adjoint_of_input(lp, r, b, rpad, True)
    b *= dt.type(lam)
    cg_solve(lp, z, b, 0.0, n_iter, 0.0, cg_workspace(rpad, z), True)
    if z is not z0:
        z0[...] = z
    return z0


def low_pass(z0, f0):
    """``F0 z0``: the low-frequency image the z0 maps carry.

    Parameters
    ----------
    z0 : ndarray of shape (K0, M, N)
        z0 maps.
    f0 : ndarray of shape (K0, K0, s0, s0)
        :func:`uniform_filter`.

    Returns
    -------
    ndarray of shape (K0, M-s0+1, N-s0+1)
    """
    return conv_valid(z0, f0, np.eye(f0.shape[0], dtype=bool))
