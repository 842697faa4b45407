"""Top-down inference through several layers (section 3.3, eqs. 10-12).

The top layer's maps are mapped to the image by the chain of filters below,

.. math:: D_l z_l = F^1 ( F^2 ( \\cdots F^l z_l / s_{l-1} \\cdots ) / s_1 )

(``s_j`` the scale of layer j's maps when they were fed to layer j+1), and
eq. 10, ``lam/2 ||D_l z_l - y||^2 + sum |z_l|^p``, is minimised over ``z_l``
with the top layer's solver: the paper's continuation scheme with CG on the
chain (:func:`continuation_chain`, the default) or FISTA
(:func:`fista_chain`), ``D_l^T`` being the chain of adjoint (full)
convolutions.  Both are the one-layer drivers of :mod:`numbadn.kernels._steps`
run on the chain operator (:class:`numbadn.kernels.Chain`); :func:`project_down`
and :func:`project_up` are its plain Python form.
"""
from __future__ import annotations

import numpy as np

from ..kernels import _steps as S
from ..kernels import conv_full, conv_valid, make_chain, table_for
from .options import parse, spectral_norm2


def project_down(z, chain):
    """``D z``: apply ``[(f_l, g_l, s_{l-1}), ..., (f_1, g_1, 1)]`` top to bottom."""
    for f, g, s in chain:
        z = conv_valid(z, f, g)
        if s != 1.0:
            z = z / z.dtype.type(s)
    return z


def project_up(r, chain):
    """``D^T r``: the adjoint of :func:`project_down`."""
    for f, g, s in reversed(chain):
        if s != 1.0:
            r = r / r.dtype.type(s)
        r = conv_full(r, f, g)
    return r


def chain_norm2(chain):
    """Upper bound of ``||D||^2``: the product of the layers' spectral bounds."""
    out = 1.0
    for f, g, s in chain:
        out *= spectral_norm2(f, g) / (s * s)
    return out


def _chain_problem(y, chain, z, p):
    """``(Chain, image, maps copy, table)`` in ``z``'s dtype for the njit drivers."""
    z = np.array(z, copy=True, order="C")
    y = np.ascontiguousarray(y, dtype=z.dtype)
    return make_chain(chain, z.shape, z.dtype), y, z, table_for(p)


def fista_chain(y, chain, z, *, lam=1.0, p=1.0, max_iter=100, tol=1e-4):
    """FISTA (with adaptive restart) on eq. 10, warm-started from ``z``: the
    one-layer driver (:func:`numbadn.kernels._steps.fista_run`) on the chain.

    Parameters
    ----------
    y : ndarray of shape (K0, P, Q)
        The image.
    chain : list of (f, g, s)
        Filters from the top layer down (see :func:`project_down`).
    z : ndarray
        Top-layer maps (warm start); not modified.

    Returns
    -------
    ndarray
        The new top-layer maps.
    """
    ch, y, z, lpt = _chain_problem(y, chain, z, p)
    L = lam * chain_norm2(chain)
    S.fista_run(ch, y, z, L, lam, p, lpt, max_iter, tol, True, True,
                S.fista_work(ch, y, z), None)
    return z


def continuation_chain(y, chain, z, *, lam=1.0, p=1.0, betas=(1.0,), cg_iters=2,
                       inner_iters=1):
    """The paper's continuation scheme (eq. 4) on eq. 10, with CG on the chain:
    the one-layer driver (:func:`numbadn.kernels._steps.continuation_solve`).

    Per beta: the x sub-problem (eq. 8 / lookup table), then ``cg_iters`` CG
    steps on ``(D^T D + beta/lam I) z = D^T y + beta/lam x`` from the current
    ``z`` (section 3.3: "using conjugate gradient descent in both").

    Returns the new top-layer maps (``z`` is not modified).
    """
    ch, y, z, lpt = _chain_problem(y, chain, z, p)
    S.continuation_solve(ch, y, z, np.asarray(betas, np.float64), lam, p, lpt, inner_iters,
                         cg_iters, True, S.workspace(ch, y, z), np.empty_like(z), None)
    return z


def alternate(target, chain, z, eq11, *, lam, p, solver="continuation", solver_options=None,
              n_alternations=2, topdown_iters=50, step=None):
    """Section 3.3's top-down inference of the top layer's maps, from ``z``.

    ``n_alternations`` times eq. 10 (reconstruct ``target`` through ``chain``, the
    filters of every layer below) then eq. 11 (``eq11(z)``: the top layer's own
    inference from the maps of the layer below, warm-started at ``z``), ending with
    eq. 10.  Eq. 10 is solved with the top layer's solver: :func:`continuation_chain`
    with the ``solver_options`` of ``"continuation"``, else :func:`fista_chain` with
    at most ``topdown_iters`` iterations.  ``step()``, if given, after every solve.
    """
    if solver == "continuation":
        opts = parse("continuation", solver_options or {})

        def eq10(z):
            return continuation_chain(target, chain, z, lam=lam, p=p, betas=opts.betas(),
                                      cg_iters=opts.cg_iters, inner_iters=opts.inner_iters)
    else:
        def eq10(z):
            return fista_chain(target, chain, z, lam=lam, p=p, max_iter=topdown_iters)
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
