"""Top-down inference through several layers (section 3.3, eqs. 10-12).

The top layer's maps are mapped to the image by the chain of filters below,

.. math:: D_l z_l = F^1 ( F^2 ( \\cdots F^l z_l / s_{l-1} \\cdots ) / s_1 )

(``s_j`` the scale of layer j's maps when they were fed to layer j+1), and
eq. 10, ``lam/2 ||D_l z_l - y||^2 + sum |z_l|^p``, is minimised over ``z_l``
with the top layer's solver (:func:`infer_chain`): the paper's continuation
scheme with CG on the chain (the default) or FISTA, ``D_l^T`` being the chain of
adjoint (full) convolutions.  Both are the one-layer drivers run on the chain
operator (:class:`numbadn.kernels.Chain`), which :func:`project_down` and
:func:`project_up` apply.
"""
from __future__ import annotations

import numpy as np

from .. import _validation as V
from ..kernels import apply_adjoint, apply_forward, make_chain, masked, new_rpad
from .options import chain_norm2, make_prior, make_solver, masked_plan

__all__ = ["project_down", "project_up", "chain_norm2", "infer_chain", "alternate"]


def _chain_arrays(chain, first, name):
    """Validate ``first`` (maps or image) and ``chain``; return (chain, first) in one dtype."""
    first = V.as_float_array(name, first, 3)
    fs = [V.check_filters(f) for f, _, _ in chain]
    if not fs:
        raise ValueError("chain must hold at least one (f, g, s)")
    dt = V.common_dtype(first, *fs)
    for (f, _, _), f2 in zip(chain[:-1], fs[1:]):
        if f.shape[1] != f2.shape[0]:
            raise ValueError(f"chain: filters of shape {f.shape} feed filters of shape {f2.shape}")
    chain = [(f.astype(dt, copy=False), V.check_connectivity(g, f.shape[0], f.shape[1]), float(s))
             for f, (_, g, s) in zip(fs, chain)]
    return chain, np.ascontiguousarray(first, dt)


def _image_shape(chain, z):
    """The shape of ``D z`` (checked: ``z`` has the top filters' maps and room for them)."""
    K, M, N = z.shape
    if K != chain[0][0].shape[0]:
        raise ValueError(f"z has {K} maps, the top filters {chain[0][0].shape[0]}")
    for f, _, _ in chain:
        M, N = M - f.shape[2] + 1, N - f.shape[3] + 1
        if M < 1 or N < 1:
            raise ValueError(f"z of shape {z.shape} is smaller than the chain's filters")
    return chain[-1][0].shape[1], M, N


def project_down(z, chain):
    """``D z``: apply ``[(f_l, g_l, s_{l-1}), ..., (f_1, g_1, 1)]`` top to bottom (each
    layer's valid convolution, eq. 1, then the division by its scale), with the
    :class:`~numbadn.kernels.Chain` the solvers use.

    Parameters
    ----------
    z : ndarray of shape (K_l, M, N)
        Top-layer maps.
    chain : list of (f, g, s)
        Filters from the top layer down.

    Returns
    -------
    ndarray of shape (K0, P, Q)
    """
    chain, z = _chain_arrays(chain, z, "z")
    K0, M, N = _image_shape(chain, z)
    h, w = chain[-1][0].shape[2:]
    rpad = new_rpad(K0, M, N, h, w, z.dtype)
    apply_forward(make_chain(chain, z.shape, z.dtype), z, rpad, True)
    return rpad[:, h - 1:h - 1 + M, w - 1:w - 1 + N].copy()


def project_up(r, chain):
    """``D^T r``: the adjoint of :func:`project_down` (each layer's full convolution
    with the flipped filters, footnote 3, from the bottom up).

    Parameters
    ----------
    r : ndarray of shape (K0, P, Q)
        An image-shaped residual.
    chain : list of (f, g, s)
        Filters from the top layer down.

    Returns
    -------
    ndarray of shape (K_l, M, N)
    """
    chain, r = _chain_arrays(chain, r, "r")
    K0, P, Q = r.shape
    if K0 != chain[-1][0].shape[1]:
        raise ValueError(f"r has {K0} channels, the bottom filters {chain[-1][0].shape[1]}")
    M, N = P, Q
    for f, _, _ in chain:
        M, N = M + f.shape[2] - 1, N + f.shape[3] - 1
    h, w = chain[-1][0].shape[2:]
    rpad = new_rpad(K0, P, Q, h, w, r.dtype)
    rpad[:, h - 1:h - 1 + P, w - 1:w - 1 + Q] = r
    out = np.empty((chain[0][0].shape[0], M, N), r.dtype)
    apply_adjoint(make_chain(chain, out.shape, r.dtype), rpad, out, True)
    return out


def _chain_problem(y, chain, z, mask=None):
    """``(Chain, image, maps copy, W)`` in one dtype for the njit drivers, the shapes
    checked (the kernels do not); with a ``mask``, the operator ``W D`` and the
    image ``W y`` (:class:`numbadn.kernels.Masked`)."""
    chain, z = _chain_arrays(chain, z, "z")
    shape = _image_shape(chain, z)
    y = V.as_float_array("y", y, 3, z.dtype)
    if y.shape != shape:
        raise ValueError(f"y must have shape {shape} (D z for z of shape {z.shape}), "
                         f"got {y.shape}")
    z = z.copy()
    W = V.check_mask(mask, y.shape, y.dtype)
    ch = masked(make_chain(chain, z.shape, z.dtype), W)
    return ch, (y if W is None else W * y), z, W



def infer_chain(y, chain, z, *, lam=1.0, p=1.0, solver="continuation", mask=None, **options):
    """Eq. 10 from the warm start ``z``: the one-layer solver on the chain, with CG on
    the chain for the continuation scheme (section 3.3: "using conjugate gradient
    descent in both").

    Parameters
    ----------
    y : ndarray of shape (K0, P, Q)
        The image.
    chain : list of (f, g, s)
        Filters from the top layer down (see :func:`project_down`).
    z : ndarray
        Top-layer maps (warm start); not modified.
    lam, p : float
        The top layer's ``lambda`` and ``p``.
    solver : {"continuation", "fista"}, Continuation or Fista
        The solver (a name or an object); FISTA's step bound on the chain is
        :func:`chain_norm2` (see :class:`~numbadn.solvers.Fista`).
    mask : ndarray like y (or (P, Q)), optional
        Per-pixel weights ``W`` in [0, 1] (0: missing; beyond the paper): eq. 10's
        data term becomes ``lam/2 ||W (D z - y)||^2`` (CG on
        ``(D^T W^2 D + beta/lam I) z = D^T W^2 y + beta/lam x``).
    **options
        Options of the solver, overriding its own.

    Returns
    -------
    ndarray
        The new top-layer maps.
    """
    prior = make_prior(lam, p)
    sol = make_solver(solver, options)
    ch, y, z, W = _chain_problem(y, chain, z, mask)
    sol.solve_chain(ch, y, z, prior, masked_plan(sol.chain_plan(chain, prior.lam), W))
    return z


def alternate(target, chain, z, eq11, *, prior, solver, n_alternations=2, step=None,
              mask=None):
    """Section 3.3's top-down inference of the top layer's maps, from ``z``.

    ``n_alternations`` times eq. 10 (reconstruct ``target`` through ``chain``, the
    filters of every layer below) then eq. 11 (``eq11(z)``: the top layer's own
    inference from the maps of the layer below, warm-started at ``z``), ending with
    eq. 10.  Eq. 10 is solved with the top layer's solver, options and all
    (:func:`infer_chain`).

    Parameters
    ----------
    target : ndarray of shape (K0, P, Q)
        The image.
    chain : list of (f, g, s)
        Filters from the top layer down (see :func:`project_down`).
    z : ndarray
        Top-layer maps to start from.
    eq11 : callable
        ``eq11(z)``: the top layer's inference from the maps below, warm-started at ``z``.
    prior : Prior
        The top layer's ``(lam, p, table)`` (:func:`~numbadn.solvers.make_prior`).
    solver : Continuation or Fista
        The top layer's solver.
    n_alternations : int, default 2
        Alternations of eq. 10 and eq. 11.
    step : callable, optional
        ``step()`` after every solve.
    mask : ndarray like target (or (P, Q)), optional
        Per-pixel weights of ``target`` in [0, 1] for eq. 10 (beyond the paper);
        ``eq11`` sees the maps below, which the caller inferred with the mask.

    Returns
    -------
    ndarray
        The top-layer maps.
    """
    plan = solver.chain_plan(chain, prior.lam)

    def eq10(z):
        ch, y, z, W = _chain_problem(target, chain, z, mask)
        solver.solve_chain(ch, y, z, prior, masked_plan(plan, W))
        return z

    if step is None:
        def step():
            pass
    for _ in range(n_alternations):
        z = eq10(z)
        step()
        z = eq11(z)
        step()
    z = eq10(z)
    step()
    return z
