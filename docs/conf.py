"""Sphinx configuration of the numbadn documentation (build: ``python docs/build.py``)."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _deps import MissingExtra, check, mathjax_file  # noqa: E402

try:  # one message naming the 'docs' extra, before any import below can fail
    check()
    _MATHJAX_JS = mathjax_file()
except MissingExtra as e:
    from sphinx.errors import ConfigError  # sphinx prints a ConfigError as one message
    raise ConfigError(str(e)) from None

import _api  # noqa: E402

import numbadn  # noqa: E402

# Examples learn filters with numba's threads; two threads is what CI's 2 cores have.
os.environ.setdefault("MPLBACKEND", "Agg")

project = "numbadn"
author = "the numbadn developers"
copyright = "2026, the numbadn developers"
version = release = numbadn.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "sphinxarg.ext",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_templates", "examples/README.rst", "**/README.md"]
templates_path = ["_templates"]
default_role = "code"  # `x` is code, as in the README
smartquotes = False  # keeps the parser's "--help" from becoming an en dash
nitpicky = False

# --- API reference: one page per public module, one per public name (docs/_api.py)
_api.write_pages(HERE / "api")
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
autodoc_typehints = "none"  # numpydoc sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# Every public function and method says what it takes and what it gives: numpydoc
# reports a missing Parameters entry (PR01) or Returns section (RT01) as a warning,
# which the -W build turns into an error.
numpydoc_validation_checks = {"PR01", "RT01"}
numpydoc_validation_exclude = {
    r"\.__init__$", r"\.__\w+__$",
    # sklearn's protocol methods, documented once on the classes' pages
    r"\.get_params$", r"\.set_params$", r"\.fit_transform$",
    # named tuples' and dataclasses' generated members
    r"\._asdict$", r"\._replace$", r"\._make$", r"\.count$", r"\.index$",
    # Modules whose docstrings do not all have their Parameters / Returns sections
    # yet: remove a line when its module is complete, and the build keeps it so.
    r"^numbadn\.kernels\.",
}


def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's metadata-routing setters (set_fit_request, ...) that its
    # BaseEstimator adds to numbadn's estimators: documented by scikit-learn.
    if name.startswith("set_") and name.endswith("_request") or name == "set_output":
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)

# --- gallery: every example in docs/examples runs during the build
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
    "image_scrapers": ("_scraper",),  # docs/_scraper.py: numbadn.plot's pyplot-free figures
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "write_computation_times": False,
    "min_reported_time": 1,
}

# --- markdown (docs/scaling.md is written in it)
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

# --- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"numbadn {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
# MathJax from the 'docs' extra (django-static-mathjax ships MathJax 3's files), not a CDN:
# the pages show their equations offline.  tex-svg.js is one self-contained file (the TeX
# input and the SVG output with its glyphs, no web fonts), copied into _static/mathjax/.
_MATHJAX = HERE / "_build" / "mathjax_static"
(_MATHJAX / "mathjax").mkdir(parents=True, exist_ok=True)
shutil.copy2(_MATHJAX_JS, _MATHJAX / "mathjax" / "tex-svg.js")
mathjax_path = "mathjax/tex-svg.js"
html_static_path = [str(_MATHJAX)]
html_show_sourcelink = False
html_sidebars = {"index": [], "getting_started": []}

intersphinx_mapping = {}  # nothing is downloaded at build time
