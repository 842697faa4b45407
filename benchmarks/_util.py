"""What the benchmarks share: fresh child processes, versions, the machine, JSON."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numba
import numpy as np

#: The repository root (``benchmarks/`` lives in it).
ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "figures"
CHILD = Path(__file__).resolve().parent / "child.py"


def child_env(extra=None):
    """This process's environment, the repository root first on ``PYTHONPATH`` (so a
    child finds ``numbadn`` and ``benchmarks`` in a checkout without ``pip install``),
    and ``extra`` (e.g. ``{"NUMBA_NUM_THREADS": "1"}``) on top."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def run_child(what, *args, env=None):
    """Run ``python benchmarks/child.py WHAT ARGS...`` in the environment
    :func:`child_env` (``env``) and return (the JSON of its last stdout line, its stderr)."""
    proc = subprocess.run([sys.executable, str(CHILD), what, *map(str, args)],
                          capture_output=True, text=True, env=child_env(env))
    if proc.returncode != 0:
        raise RuntimeError(f"child {what} {' '.join(map(str, args))} (env {env}) failed with "
                           f"exit status {proc.returncode}:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def peer_versions():
    """``{"torch": version or None, "sporco": version or None}``."""
    out = {}
    for name in ("torch", "sporco"):
        try:
            out[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001 - any import failure means "not installed"
            out[name] = None
    return out


def versions():
    import numbadn
    return dict(python=platform.python_version(), numpy=np.__version__,
                numba=numba.__version__, numbadn=numbadn.__version__, **peer_versions())


def threading_layer():
    try:
        return numba.threading_layer()
    except ValueError:
        return None


def machine(load_start, loads):
    """Platform, CPUs, numba threads and the load averages of the run (``loads``: named
    ``os.getloadavg()`` readings; the end is read here)."""
    load_end = os.getloadavg()
    return dict(platform=platform.platform(), processor=platform.processor(),
                cpu_count=os.cpu_count() or 1, numba_threads=numba.config.NUMBA_NUM_THREADS,
                threading_layer=threading_layer(), loadavg_start=list(load_start),
                loadavg_end=list(load_end), loadavg=dict(loads, end=list(load_end)))


def default_out(args):
    """``--out``, else ``figures/`` (full runs) or ``figures/quick/`` (``--quick``,
    ``--smoke``): a short run never overwrites the committed results."""
    if args.out:
        return Path(args.out)
    return FIGURES / "quick" if args.quick or args.smoke else FIGURES


def to_jsonable(x):
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return x


def write_json(result, path):
    with open(path, "w") as fh:
        json.dump(to_jsonable(result), fh, indent=1)
