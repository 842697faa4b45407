"""Build the documentation: ``python docs/build.py [SPHINX OPTIONS]``.

Runs ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are
errors; the gallery's examples are executed), after checking that the ``docs``
extra is installed, and then checks that no page loads a script or a stylesheet
from another site (the pages must work offline: MathJax is served from ``_static``).
Extra arguments go to sphinx-build (e.g. ``-j 2``, or
``-D plot_gallery=0`` to skip running the examples while editing text).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _deps import MissingExtra, check  # noqa: E402

#: ``<script src=...>`` and ``<link href=...>`` that point at another site.
_REMOTE = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)=["']((?:https?:)?//[^"']+)""",
                     re.IGNORECASE)


def remote_assets(html_dir):
    """``(page, url)`` for every script or stylesheet a built page loads from another site."""
    out = []
    for page in sorted(Path(html_dir).rglob("*.html")):
        for url in _REMOTE.findall(page.read_text(encoding="utf-8", errors="replace")):
            out.append((str(page.relative_to(html_dir)), url))
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        check()
    except MissingExtra as e:
        print(f"docs/build.py: error: {e}", file=sys.stderr)
        return 2
    from sphinx.cmd.build import build_main
    out = HERE / "_build" / "html"
    rc = build_main(["-W", "--keep-going", "-b", "html", *argv, str(HERE), str(out)])
    if rc == 0:
        remote = remote_assets(out)
        if remote:
            page, url = remote[0]
            print(f"docs/build.py: error: {len(remote)} page asset(s) load from another site, "
                  f"so the docs do not work offline (first: {page} loads {url})", file=sys.stderr)
            return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
