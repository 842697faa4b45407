"""The package's layers are one-way: kernels -> solvers -> model -> front ends.

Read from the source with ``ast`` (nothing is imported): every ``import`` of a
numbadn module inside ``numbadn/`` must point at its own layer or one below, and no
module outside ``numbadn/kernels/`` (package, tests, benchmarks, reproduce) may
import a private kernels module (``numbadn.kernels._x``): the kernels package
exports what the others need.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "numbadn"

#: Rank of each top-level part of the package; an import may only go to a rank
#: at most its own (the same rank: modules of one layer may use each other).
RANK = {
    "_numba_cache": 0, "_jit": 0, "_validation": 0, "_params": 0, "_files": 0,
    "connectivity": 0,
    "kernels": 1,
    "ops": 2,
    "solvers": 3,
    "model": 4,
    "data": 5, "preprocess": 5, "plot": 5, "_figures": 5, "denoise": 5, "recognition": 5,
    "distributed": 5, "labelled": 5, "datasets": 5, "bench": 5, "inpaint": 5,
    "cli": 6, "__main__": 7, "__init__": 8,
}


def _module(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, mod=None):
    """Absolute names of the numbadn modules (or names in them) ``path`` imports
    (``mod``: its module name, for relative imports)."""
    mod = mod or _module(path)
    pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                tgt = ".".join(base + ([node.module] if node.module else []))
            else:
                tgt = node.module or ""
            if tgt.split(".")[0] != "numbadn":
                continue
            for a in node.names:  # a module of that package, or a name in it
                sub = f"{tgt}.{a.name}"
                out.append(sub if _is_module(sub) else tgt)
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names if a.name.split(".")[0] == "numbadn"]
    return out


def _is_module(name):
    f = ROOT.joinpath(*name.split("."))
    return f.with_suffix(".py").exists() or (f / "__init__.py").exists()


def _part(name):
    parts = name.split(".")
    if len(parts) == 1:
        return "__init__"
    return parts[1]


def _package_files():
    return sorted(PKG.rglob("*.py"))


def test_every_part_of_the_package_has_a_rank():
    parts = {_part(_module(p)) if p.name != "__init__.py" or p.parent != PKG else "__init__"
             for p in _package_files()}
    assert parts <= set(RANK), sorted(parts - set(RANK))


def _upward(path, src, mod=None):
    """The imports of ``path`` (in layer ``src``) that go up a layer."""
    bad = []
    for name in _imports(path, mod):
        dst = _part(name)
        if dst == "__init__":  # ``import numbadn`` / ``from numbadn import x``: the
            # front ends may (the Dask workers check the version they run)
            if src != "__init__" and RANK[src] < RANK["data"]:
                bad.append(name)
        elif RANK[dst] > RANK[src]:
            bad.append(name)
    return bad


@pytest.mark.parametrize("path", _package_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_import_goes_up_a_layer(path):
    src = "__init__" if path == PKG / "__init__.py" else _part(_module(path))
    assert not _upward(path, src), f"{path.relative_to(ROOT)} ({src}): {_upward(path, src)}"


def _private_kernel_imports(path, mod=None):
    bad = []
    for name in _imports(path, mod):
        parts = name.split(".")
        if len(parts) >= 3 and parts[1] == "kernels" and parts[2].startswith("_"):
            bad.append(name)
    return bad


@pytest.mark.parametrize("folder", ["numbadn", "tests", "benchmarks", "reproduce", "docs"])
def test_nothing_outside_the_kernels_imports_a_private_kernels_module(folder):
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        if PKG / "kernels" in path.parents or "_build" in path.parts or ".venv" in path.parts:
            continue
        bad = _private_kernel_imports(path)
        if bad:
            found[str(path.relative_to(ROOT))] = bad
    assert not found, found


def test_the_checks_see_an_upward_and_a_private_import(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import numpy as np\n"
                     "from ..model import DeconvLayer\n"
                     "from numbadn.kernels._steps import cost\n"
                     "from . import _conv\n")
    assert _upward(probe, "kernels", "numbadn.kernels.probe") == ["numbadn.model"]
    assert _upward(probe, "cli", "numbadn.cli.probe") == []
    assert _private_kernel_imports(probe, "numbadn.kernels.probe") == [
        "numbadn.kernels._steps", "numbadn.kernels._conv"]
    assert _private_kernel_imports(probe, "numbadn.solvers.probe") == [
        "numbadn.kernels._steps"]
