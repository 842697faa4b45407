"""What building the documentation needs, checked before anything is imported.

``conf.py`` and ``build.py`` call :func:`check` first, so a machine without the
``docs`` extra gets one message naming it, not a traceback from inside an example.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

#: (module imported by the build or a gallery example, the distribution that provides it)
NEEDED = (
    ("sphinx", "sphinx"),
    ("numpydoc", "numpydoc"),
    ("sphinx_gallery", "sphinx-gallery"),
    ("sphinxarg", "sphinx-argparse"),
    ("myst_parser", "myst-parser"),
    ("pydata_sphinx_theme", "pydata-sphinx-theme"),
    ("sklearn", "scikit-learn"),          # examples: DN features in a scikit-learn pipeline
    ("distributed", "dask[distributed]"),  # examples: learning on a local Dask cluster
    ("zarr", "zarr"),
    ("mathjax", "django-static-mathjax"),  # MathJax 3's files, served with the pages
)


def mathjax_file():
    """The self-contained MathJax 3 build (TeX input, SVG output) that django-static-mathjax
    installs, so the pages need no CDN."""
    spec = importlib.util.find_spec("mathjax")
    for root in spec.submodule_search_locations or ():
        path = Path(root) / "static" / "mathjax" / "es5" / "tex-svg.js"
        if path.is_file():
            return path
    raise MissingExtra("building the numbadn documentation needs MathJax's tex-svg.js from "
                       "django-static-mathjax (the 'docs' extra); it is not where that package "
                       "puts it: reinstall it with pip install -e '.[docs]'")


class MissingExtra(RuntimeError):
    """The ``docs`` extra is not (wholly) installed."""


def missing():
    """The distributions of :data:`NEEDED` whose module cannot be found, in order."""
    out = []
    for module, dist in NEEDED:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found and dist not in out:
            out.append(dist)
    return out


def check():
    """Raise :class:`MissingExtra`, naming the extra and what is missing, if anything is."""
    gone = missing()
    if gone:
        raise MissingExtra(
            "building the numbadn documentation needs the 'docs' extra, which is not "
            f"installed here (missing: {', '.join(gone)}); install it with "
            "pip install -e '.[docs]' (from a checkout) or pip install 'numbadn[docs]'")
