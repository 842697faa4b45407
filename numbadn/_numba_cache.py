"""A guard against stale numba caches.

Numba keys a cached function on its own source file only: when a function it
calls changes in *another* file, the cached machine code is still loaded and
runs the old callee.  At import, :func:`guard` hashes every source file of the
package that imports numba (``kernels/``, ``_jit.py``, ``bench.py``) and, when
the hash differs from the one stamped beside the caches, deletes numbadn's
cache files (``__pycache__/*.nbi``, ``*.nbc``) before any kernel is loaded, so
that the next call compiles afresh.  Nobody has to remember to do it.

Where the package folder is read-only numba cannot cache there either
(it uses its user-wide cache folder instead); the guard then does nothing.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

STAMP = "numba-sources.sha256"
_IMPORTS_NUMBA = re.compile(rb"^\s*(import numba\b|from numba\b)", re.M)


def numba_sources(root):
    """The ``.py`` files under ``root`` that import numba, sorted."""
    return [f for f in sorted(Path(root).rglob("*.py"))
            if "__pycache__" not in f.parts and _IMPORTS_NUMBA.search(f.read_bytes())]


def sources_hash(root):
    """SHA-256 over the names and bytes of the numba source files under ``root``."""
    root = Path(root)
    h = hashlib.sha256()
    for f in numba_sources(root):
        h.update(str(f.relative_to(root)).encode())
        h.update(b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def guard(root=None):
    """Delete numbadn's numba caches if the sources changed since they were stamped.

    Returns the number of cache files removed (0 when nothing changed or the
    folder is not writable).
    """
    root = Path(root) if root is not None else Path(__file__).resolve().parent
    stamp = root / "__pycache__" / STAMP
    try:
        digest = sources_hash(root)
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return 0
        removed = 0
        for f in list(root.rglob("__pycache__/*.nbi")) + list(root.rglob("__pycache__/*.nbc")):
            try:
                f.unlink()
                removed += 1
            except FileNotFoundError:  # another process removed it first
                pass
        stamp.parent.mkdir(exist_ok=True)
        tmp = stamp.with_name(f".{STAMP}.{os.getpid()}.tmp")
        tmp.write_text(digest + "\n")
        os.replace(tmp, stamp)
        return removed
    except OSError:  # read-only install: numba caches elsewhere
        return 0
