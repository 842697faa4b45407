"""The ``numbadn`` command line (also ``python -m numbadn``).

The CLI holds no numerics: it parses arguments, calls the package and prints.
Exit codes: 0 done; 2 refused (bad option, bad or missing input, an output it
may not write, a locked folder): one line on stderr naming what and why;
1 an internal error (a bug: please report it; ``--debug`` shows the traceback);
128 + N stopped by signal N after writing a checkpoint.
"""
from __future__ import annotations

import sys
import warnings

from ._common import _check_int
from ._parser import build_parser

__all__ = ["main", "build_parser"]

#: Where each part lives: ``_parser`` (every flag), ``train``, ``commands`` (infer,
#: reconstruct, denoise, show, bench), ``_common`` (reading images and models, checks).

#: Exceptions that report a condition the user can change (exit code 2), not a bug.
EXPECTED = (ValueError, TypeError, OSError, ImportError, MemoryError)


def _message(exc):
    """The one line of an expected error."""
    from .._files import FolderInUse, reason, shown
    if isinstance(exc, MemoryError):
        return "out of memory: use smaller images (--size) or fewer maps"
    if isinstance(exc, OSError) and exc.errno is not None and exc.filename is not None \
            and not isinstance(exc, FolderInUse):
        return f"{shown(exc.filename)}: {reason(exc)}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return shown(text)


def main(argv=None):
    from .._files import FolderInUse
    ap = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    streams = [(s, getattr(s, "errors", None)) for s in (sys.stdout, sys.stderr)]
    for s, _ in streams:  # file names that are not UTF-8 print as their bytes
        try:
            s.reconfigure(errors="surrogateescape")
        except (AttributeError, ValueError):
            pass
    try:
        return _main(ap, argv, FolderInUse)
    finally:
        for s, errors in streams:
            try:
                s.reconfigure(errors=errors)
            except (AttributeError, ValueError, TypeError):
                pass


def _main(ap, argv, FolderInUse):
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2, one line)
        return exc.code if isinstance(exc.code, int) else 2
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
        if isinstance(exc, EXPECTED + (FolderInUse,)):
            print(f"numbadn {args.command}: error: {_message(exc)}", file=sys.stderr)
            return 2
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"numbadn {args.command}: internal error ({type(exc).__name__}): {msg} "
              "(a bug in numbadn: please report it with --debug's traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())

