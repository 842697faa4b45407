"""The ``numbadn`` command line (also ``python -m numbadn``).

The CLI holds no numerics: it parses arguments, calls the package and prints.
Every error is one line on stderr and a non-zero exit code (``--debug`` shows
the traceback).
"""
from __future__ import annotations

import sys
import warnings

from ._common import _check_int
from ._parser import build_parser

__all__ = ["main", "build_parser"]

#: Where each part lives: ``_parser`` (every flag), ``train``, ``commands`` (infer,
#: reconstruct, denoise, show, bench), ``_common`` (reading images and models, checks).


def main(argv=None):
    ap = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = ap.parse_args(argv)
    if not getattr(args, "func", None):
        ap.print_help()
        return 2
    args.argv = argv

    def one_line(message, category, filename, lineno, file=None, line=None):
        print(f"numbadn {args.command}: warning: {message}", file=sys.stderr)

    try:
        with warnings.catch_warnings():
            warnings.showwarning = one_line
            if getattr(args, "threads", None) is not None:
                _check_int("--threads", args.threads, 1)
            return args.func(args) or 0
    except KeyboardInterrupt:
        print("numbadn: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one line, never a traceback (unless --debug)
        if args.debug:
            raise
        kind = "" if isinstance(exc, (ValueError, TypeError, OSError)) else \
            f"internal error ({type(exc).__name__}): "
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"numbadn {args.command}: error: {kind}{msg}", file=sys.stderr)
        return 1




if __name__ == "__main__":
    raise SystemExit(main())

