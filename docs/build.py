"""Build the documentation: ``python docs/build.py [SPHINX OPTIONS]``.

Runs ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are
errors; the gallery's examples are executed), after checking that the ``docs``
extra is installed.  Extra arguments go to sphinx-build (e.g. ``-j 2``, or
``-D plot_gallery=0`` to skip running the examples while editing text).
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _deps import MissingExtra, check  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        check()
    except MissingExtra as e:
        print(f"docs/build.py: error: {e}", file=sys.stderr)
        return 2
    from sphinx.cmd.build import build_main
    return build_main(["-W", "--keep-going", "-b", "html", *argv,
                       str(HERE), str(HERE / "_build" / "html")])


if __name__ == "__main__":
    sys.exit(main())
