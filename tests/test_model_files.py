"""Model files are untrusted input: every crafted or damaged
file is one ``ValueError`` naming the file and the member, raised before anything
large is decompressed or allocated."""
import copy
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from numbadn import DeconvNet
from numbadn.cli import main


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A trained 2-layer model (2 and 3 maps, 5x5 filters): its header and arrays."""
    rng = np.random.default_rng(0)
    net = DeconvNet.paper(n_maps=(2, 3), filter_size=5).fit(
        list(rng.standard_normal((2, 12, 12))), epochs=1, verbose=False)
    path = tmp_path_factory.mktemp("good") / "model.npz"
    net.save(path)
    with np.load(path) as npz:
        arrs = {k: npz[k] for k in npz.files}
    header = json.loads(str(arrs.pop("__header__")))
    return path, header, arrs


def write(path, header, arrs, compress=False):
    raw = header if isinstance(header, str) else json.dumps(header)
    (np.savez_compressed if compress else np.savez)(path, __header__=np.array(raw), **arrs)
    return path


def _h(fn):
    def mutate(header, arrs):
        header = copy.deepcopy(header)
        fn(header)
        return header, arrs
    return mutate


def _a(fn):
    def mutate(header, arrs):
        arrs = dict(arrs)
        fn(arrs)
        return header, arrs
    return mutate


def _set(d, keys, value):
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value


# (case, mutation, member named, words in the message)
CASES = [
    ("beta_inc barely above 1 (minutes, GBs)",
     _h(lambda h: _set(h, ["layers", 0, "solver_options"], {"beta_inc": 1.0000001})),
     "__header__", "beta values"),
    ("filter_size 4000x4000", _h(lambda h: _set(h, ["layers", 0, "filter_size"], [4000, 4000])),
     "__header__", "filter_size must be from 1 to 255"),
    ("header is a JSON list", lambda h, a: ([h], a), "__header__", "must be a JSON object"),
    ("header is not JSON", lambda h, a: ("{not json", a), "__header__", "is not JSON"),
    ("unknown header key", _h(lambda h: _set(h, ["extra"], 1)), "__header__", "unknown key"),
    ("unknown layer key", _h(lambda h: _set(h, ["layers", 1, "bias"], 0)), "__header__",
     "layers[1] has unknown key"),
    ("missing layer key", _h(lambda h: h["layers"][0].pop("lam")), "__header__",
     "layers[0] lacks"),
    ("negative lam", _h(lambda h: _set(h, ["layers", 0, "lam"], -1.0)), "__header__", "lam"),
    ("p of 2", _h(lambda h: _set(h, ["layers", 1, "p"], 2.0)), "__header__", "p must be"),
    ("lam a string", _h(lambda h: _set(h, ["layers", 0, "lam"], "1")), "__header__", "lam"),
    ("unknown solver", _h(lambda h: _set(h, ["layers", 0, "solver"], "magic")), "__header__",
     "unknown solver"),
    ("unknown solver option", _h(lambda h: _set(h, ["layers", 0, "solver_options"], {"x": 1})),
     "__header__", "does not take option"),
    ("cg_iters 10^9", _h(lambda h: _set(h, ["layers", 0, "solver_options"], {"cg_iters": 10**9})),
     "__header__", "cg_iters must be at most"),
    ("float16 dtype", _h(lambda h: _set(h, ["layers", 0, "dtype"], "float16")), "__header__",
     "dtype"),
    ("NaN scale", _h(lambda h: _set(h, ["scales", 0], float("nan"))), "__header__", "scales[0]"),
    ("zero scale", _h(lambda h: _set(h, ["scales", 1], 0.0)), "__header__", "scales[1]"),
    ("trained beyond the layers", _h(lambda h: _set(h, ["trained"], 5)), "__header__", "trained"),
    ("9000 maps", _h(lambda h: _set(h, ["layers", 1, "n_maps"], 9000)), "__header__", "n_maps"),
    ("layers that do not chain", _h(lambda h: _set(h, ["layers", 1, "in_channels"], 7)),
     "__header__", "in_channels"),
    ("history not a list", _h(lambda h: _set(h, ["history"], {"a": 1})), "__header__",
     "history"),
    ("format of another program", _h(lambda h: _set(h, ["format"], "other")), "__header__",
     "not a numbadn model"),
    ("another version", _h(lambda h: _set(h, ["version"], 99)), "__header__", "version 99"),
    ("missing f1", _a(lambda a: a.pop("f1")), "f1", "is missing"),
    ("missing histogram", _a(lambda a: a.pop("hist0")), "hist0", "is missing"),
    ("f0 5x5 where the header says 7",
     _h(lambda h: _set(h, ["layers", 0, "filter_size"], [7, 7])), "f0", "has shape"),
    ("complex filters", _a(lambda a: a.update(f0=a["f0"].astype(np.complex64))), "f0", "dtype"),
    ("float64 filters in a float32 model", _a(lambda a: a.update(f0=a["f0"].astype(np.float64))),
     "f0", "dtype"),
    ("3-D f1", _a(lambda a: a.update(f1=a["f1"][:, 0])), "f1", "has shape"),
    ("NaN in a filter", _a(lambda a: a["f0"].__setitem__((0, 0, 0, 0), np.nan)), "f0", "NaN"),
    ("inf in the edges", _a(lambda a: a["edges1"].__setitem__((0, 0), np.inf)), "edges1", "NaN"),
    ("int connectivity", _a(lambda a: a.update(g0=a["g0"].astype(np.int64))), "g0", "dtype"),
    ("a map with no input", _a(lambda a: a["g1"].__setitem__(0, False)), "g1", "no input"),
    ("histogram of the wrong width", _a(lambda a: a.update(hist0=a["hist0"][:, :50])), "hist0",
     "has shape"),
    ("an unused member", _a(lambda a: a.update(junk=np.zeros(10))), "junk", "not a member"),
    ("a pickled object array", _a(lambda a: a.update(f0=np.array([object()] * 4, object))),
     "f0", "dtype object"),
]


@pytest.mark.parametrize("case, mutate, member, words", CASES, ids=[c[0] for c in CASES])
def test_a_bad_model_file_is_one_value_error_naming_file_and_member(good, tmp_path, case,
                                                                    mutate, member, words):
    _, header, arrs = good
    h, a = mutate(copy.deepcopy(header), {k: v.copy() for k, v in arrs.items()})
    path = write(tmp_path / "bad.npz", h, a)
    with pytest.raises(ValueError) as e:
        DeconvNet.load(path)
    msg = str(e.value)
    assert str(path) in msg and f"member '{member}'" in msg and words in msg, msg


def test_the_good_file_loads(good):
    assert DeconvNet.load(good[0]).trained_ == 2


def test_a_huge_unused_member_is_refused_without_decompressing_it(good, tmp_path):
    """A small file carrying a large unused member (zeros compress 1000:1) is refused
    from the zip headers alone."""
    _, header, arrs = good
    path = write(tmp_path / "bomb.npz", header, dict(arrs, junk=np.zeros(2 ** 23)),
                 compress=True)
    assert path.stat().st_size < 2 ** 20
    tracemalloc.start()
    with pytest.raises(ValueError, match="member 'junk'"):
        DeconvNet.load(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * 2 ** 20


def test_a_member_larger_than_its_declared_shape_is_refused_before_reading(good, tmp_path):
    _, header, arrs = good
    h = copy.deepcopy(header)
    h["layers"][0]["filter_size"] = [7, 7]
    big = dict(arrs, f0=np.zeros((2, 1, 300, 300), np.float32))
    path = write(tmp_path / "big.npz", h, big, compress=True)
    with zipfile.ZipFile(path) as zf:
        assert zf.getinfo("f0.npy").file_size > 2 * 49 * 4 + 4096
    with pytest.raises(ValueError, match="member 'f0' holds .* bytes uncompressed"):
        DeconvNet.load(path)


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, b"PK\x03\x04broken"])
def test_files_that_are_not_archives_are_refused(tmp_path, content):
    path = tmp_path / "x.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable numbadn model file"):
        DeconvNet.load(path)


def test_the_cli_reports_a_crafted_model_in_one_line(good, tmp_path, capsys):
    _, header, arrs = good
    h = copy.deepcopy(header)
    h["layers"][0]["solver_options"] = {"beta_inc": 1.0000001}
    path = write(tmp_path / "slow.npz", h, arrs)
    assert main(["show", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "slow.npz" in err[0] and "__header__" in err[0]
