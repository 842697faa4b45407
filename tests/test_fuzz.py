"""Property-based fuzzing of the command line, the model loader
and the Python API's array inputs.

Bounded by the ``ci`` profile of tests/conftest.py; ``--hypothesis-profile=long``
searches deeper.  The properties:

* CLI (random command, option values from each option's type and its extremes,
  NaN/inf strings, empty, unicode, non-UTF-8 and too-long paths, special files,
  collisions with inputs, the user's files and an earlier run): exit code 0 or
  2, one line on stderr for 2, never a traceback, never an input or a file
  outside the outputs changed, a user's file replaced only with ``--force``.
* Model loader (byte flips, truncations, member swaps of a real model file):
  a model or a ``ValueError`` naming the file, within 5 s and 64 MiB.
* API (dtypes, strides, shapes, non-finite values, masked arrays): a
  ``ValueError``/``TypeError`` naming the argument, or a finite result.
"""
import contextlib
import io
import os
import shutil
import signal
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import event, given, note  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import numbadn  # noqa: E402
from numbadn.cli import main  # noqa: E402

NATURAL = Path(numbadn.__file__).parent / "datasets" / "natural"
IMG = sorted(NATURAL.glob("*.png"))[0]


class Hang(BaseException):
    """Raised by the alarm: not an ``Exception``, so the CLI cannot report it as an error."""


@contextlib.contextmanager
def time_limit(seconds):
    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz") / "run"
    assert main(["train", "--quiet", "--epochs", "1", "--n-images", "2", "--maps", "2,3",
                 "--size", "24", "--checkpoint-every", "0", "--out", str(out)]) == 0
    return out / "model.npz"


# ---------------------------------------------------------------- the command line
USER = b"the user's own file\n"
NON_UTF8 = os.fsdecode(b"caf\xe9.png")

#: Values of each kind of option: extremes, non-numbers, and small valid ones only
#: (a large valid value would make an example slow, not wrong).
INTS = st.one_of(st.sampled_from(["0", "-1", "-2147483649", "99999999999999999999", "1e3",
                                  "", "nan", "inf", " 2", "0x10", "\u0663", "1_0", "abc"]),
                 st.integers(-3, 4).map(str))
FLOATS = st.one_of(st.sampled_from(["nan", "inf", "-inf", "1e308", "-1e308", "1e-400", "0",
                                    "-0", "1.0000001", "", "abc", "1e3", "0x1p3", "1,5"]),
                   st.floats(-100, 100, allow_nan=False).map(repr))
LISTS = st.one_of(st.sampled_from(["9,,45", ",", "", "2", "2,3", "0,4", "-1", "nan",
                                   "1e400", "2,99999", ",".join(["2"] * 17), "a,b"]),
                  st.lists(st.integers(-2, 4), min_size=1, max_size=3).map(
                      lambda v: ",".join(map(str, v))))
PATHS = st.sampled_from(["", "IN/model.npz", "IN/photo.png", "IN/user.txt", "IN/pipe",
                         "/dev/zero", "IN", "out", "out.png", "out.npy", "out.npz", "out.json",
                         "new/deep/x.png", "ünïcødé.png", NON_UTF8, "x" * 300 + ".png",
                         "denoise.png", "photo_reconstruction.png", "layer1_filters.png",
                         "out.xyz", "IN/user.txt/x.png", "with space.png",
                         "photo_filled.png", "IN/photo_filled.png"])

OPTIONS = {
    "train": {"--epochs": INTS, "--lam": FLOATS, "--p": FLOATS, "--filter-size": INTS,
              "--max-iter": INTS, "--crop": INTS, "--size": INTS, "--n-images": INTS,
              "--seed": INTS, "--checkpoint-every": FLOATS, "--maps": LISTS, "--out": PATHS,
              "--threads": INTS, "images": PATHS, "--force": None, "--resume": None,
              "--full-size": None, "--color": None, "--lowfreq": None},
    "infer": {"--layer": INTS, "--size": INTS, "--out": PATHS, "--plot": PATHS,
              "--threads": INTS, "model": PATHS, "image": PATHS, "--force": None},
    "reconstruct": {"--layer": INTS, "--size": INTS, "--out": PATHS, "--threads": INTS,
                    "model": PATHS, "image": PATHS, "--force": None},
    "denoise": {"--snr": FLOATS, "--seed": INTS, "--lam": LISTS, "--size": INTS, "--passes": INTS,
                "--out": PATHS, "model": PATHS, "image": PATHS, "--force": None},
    "show": {"--layer": INTS, "--samples": INTS, "--out": PATHS, "model": PATHS,
             "--force": None},
    "bench": {"--threads": LISTS, "--busy": INTS, "--json": PATHS, "--force": None},
    "inpaint": {"--missing": FLOATS, "--box": FLOATS, "--mask": PATHS, "--layer": INTS,
                "--lam": FLOATS, "--seed": INTS, "--size": INTS, "--out": PATHS,
                "--plot": PATHS, "--threads": INTS, "model": PATHS, "image": PATHS,
                "--force": None},
}
#: Cheap valid runs that the options above change.
BASE = {
    "train": ["train", "IN/photo.png", "--quiet", "--epochs", "1", "--maps", "2",
              "--size", "20", "--checkpoint-every", "0", "--out", "run"],
    "infer": ["infer", "IN/model.npz", "IN/photo.png", "--quiet", "--bottom-up", "--size",
              "24", "--out", "maps.npy"],
    "reconstruct": ["reconstruct", "IN/model.npz", "IN/photo.png", "--quiet", "--bottom-up",
                    "--size", "24", "--out", "rec.png"],
    "denoise": ["denoise", "IN/model.npz", "IN/photo.png", "--size", "24", "--out", "d.png"],
    "show": ["show", "IN/model.npz", "--out", "filters.png"],
    "bench": ["bench", "--contention-only", "--no-contention", "--json", "b.json"],
    "inpaint": ["inpaint", "IN/model.npz", "IN/photo.png", "--missing", "0.5", "--size", "24",
                "--out", "filled.png", "--plot", "fig.png"],
}
#: Files of the user in the working folder, under the names commands write by default.
SEEDED = ("denoise.png", "photo_reconstruction.png", "layer1_filters.png", "out.png",
          "maps.npy")


@st.composite
def command_lines(draw):
    cmd = draw(st.sampled_from(sorted(BASE)))
    argv = list(BASE[cmd])
    for opt in draw(st.lists(st.sampled_from(sorted(OPTIONS[cmd])), max_size=3, unique=True)):
        strategy = OPTIONS[cmd][opt]
        if strategy is None:
            argv.append(opt)
        elif opt.startswith("--"):
            argv += [opt, draw(strategy)]
        else:  # a positional argument: replace it where it stands
            pos = {"images": 1, "model": 1, "image": 2}[opt]
            argv[pos] = draw(strategy)
    return argv, draw(st.booleans())


def _sandbox(model_file):
    root = Path(tempfile.mkdtemp(prefix="numbadn-fuzz-"))
    src = root / "in"
    src.mkdir()
    shutil.copy(model_file, src / "model.npz")
    shutil.copy(IMG, src / "photo.png")
    (src / "user.txt").write_bytes(USER)
    os.mkfifo(src / "pipe")
    work = root / "work"
    work.mkdir()
    for name in SEEDED:
        (work / name).write_bytes(USER)
    return root, work


def _files(root):
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as fh:
                    out[p] = fh.read()
    return out


def _run(argv, work):
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(work)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_limit(120):
            rc = main(argv)
    finally:
        os.chdir(cwd)
    return rc, out.getvalue(), err.getvalue()


def _outputs(argv, work):
    """Absolute paths the command may write: its --out/--plot/--json values, and the
    working folder when it writes default names there."""
    outs = []
    for i, a in enumerate(argv[:-1]):
        if a in ("--out", "--plot", "--json"):
            outs.append(os.path.abspath(os.path.join(work, argv[i + 1])))
    if argv[0] in ("reconstruct", "denoise", "show") and "--out" not in argv:
        outs.append(str(work))
    return outs


def _under(path, outs):
    """``path`` is an output, inside an output folder, or numbadn's record of what it
    wrote beside an output file (:data:`numbadn._files.OUTPUTS_NAME`)."""
    from numbadn._files import OUTPUTS_NAME
    if os.path.basename(path) == OUTPUTS_NAME:
        return any(os.path.dirname(path) in (o, os.path.dirname(o)) for o in outs)
    return any(path == o or path.startswith(o.rstrip(os.sep) + os.sep) for o in outs)


@given(command_lines())
def test_cli_exit_code_one_line_no_traceback_and_nothing_of_the_user_changed(
        model_file, case):
    template, twice = case
    root, work = _sandbox(model_file)
    try:
        argv = [a.replace("IN", str(root / "in"), 1) if a.startswith("IN") else a
                for a in template]
        inputs = {os.path.abspath(os.path.join(work, a)) for a in argv[1:3]
                  if argv[0] in ("infer", "reconstruct", "denoise", "show", "inpaint")}
        outs = _outputs(argv, work)
        note(f"argv: {argv}")
        for attempt in range(2 if twice else 1):
            before = _files(root)
            rc, out, err = _run(argv, work)
            note(f"run {attempt + 1}: rc {rc}; stderr: {err!r}")
            event(f"{argv[0]} exit {rc}")
            lines = err.strip().splitlines()
            assert rc in (0, 2), (rc, err)
            assert "Traceback" not in err and "internal error" not in err
            if rc == 2:
                assert len(lines) == 1, lines
                assert lines[0].startswith(f"numbadn {argv[0]}: error: ") or \
                    lines[0].startswith("numbadn: error: "), lines
            after = _files(root)
            for path, data in before.items():
                changed = after.get(path) != data
                if not changed:
                    continue
                assert path not in inputs, f"input {path} changed"
                assert _under(path, outs), f"{path} outside the outputs {outs} changed"
                if data == USER:
                    assert "--force" in argv, f"the user's file {path} replaced without --force"
            new = set(after) - set(before)
            for path in new:
                assert _under(path, outs) or path.startswith(str(work) + os.sep), \
                    f"{path} written outside the outputs {outs}"
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------- the model loader
def _rezip(data, swap):
    """The model archive with the contents of two members exchanged."""
    src = zipfile.ZipFile(io.BytesIO(data))
    names = src.namelist()
    a, b = names[swap[0] % len(names)], names[swap[1] % len(names)]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for n in names:
            dst.writestr(n, src.read({a: b, b: a}.get(n, n)))
    return out.getvalue()


@st.composite
def damaged(draw, data):
    kind = draw(st.sampled_from(["flip", "truncate", "swap", "flip+truncate"]))
    out = bytearray(data)
    if "flip" in kind:
        for _ in range(draw(st.integers(1, 8))):
            i = draw(st.integers(0, len(out) - 1))
            out[i] ^= draw(st.integers(1, 255))
    if "truncate" in kind:
        out = out[:draw(st.integers(0, len(out) - 1))]
    if kind == "swap":
        out = _rezip(data, (draw(st.integers(0, 40)), draw(st.integers(0, 40))))
    return kind, bytes(out)


@pytest.fixture(scope="module")
def model_bytes(model_file):
    return model_file.read_bytes()


@given(st.data())
def test_a_damaged_model_file_is_a_value_error_naming_it_quickly(model_bytes, data):
    kind, blob = data.draw(damaged(model_bytes))
    fd, path = tempfile.mkstemp(suffix=".npz")
    with os.fdopen(fd, "wb") as fh:
        fh.write(blob)
    try:
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            with time_limit(30):
                net = numbadn.DeconvNet.load(path)
        except ValueError as exc:
            assert path in str(exc), str(exc)
            net = None
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        note(f"{kind}: {seconds:.2f} s, {peak / 2 ** 20:.1f} MiB")
        assert seconds < 5.0
        assert peak < 64 * 2 ** 20
        if net is not None:  # still a valid model: it must work
            y = np.random.default_rng(0).random((1, 20, 20))
            z = net.infer(y, layer=1)
            assert np.isfinite(z).all()
    finally:
        if tracemalloc.is_tracing():
            tracemalloc.stop()
        os.unlink(path)


# ---------------------------------------------------------------- the Python API's arrays
DTYPES = st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8,
                          np.bool_, np.complex64])


@st.composite
def arrays(draw):
    dtype = draw(DTYPES)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=12))
    elements = None
    if np.dtype(dtype).kind == "f":
        big = 1e6 if np.dtype(dtype).itemsize > 2 else 6e4
        elements = st.floats(-big, big, width=np.dtype(dtype).itemsize * 8) | st.sampled_from(
            [np.nan, np.inf, -np.inf, 0.0])
    a = draw(hnp.arrays(dtype, shape, elements=elements))
    view = draw(st.sampled_from(["plain", "reversed", "strided", "fortran", "masked",
                                 "list"]))
    if view == "reversed" and a.ndim:
        a = a[::-1]
    elif view == "strided" and a.ndim:
        a = a[..., ::2]
    elif view == "fortran":
        a = np.asfortranarray(a)
    elif view == "masked":
        a = np.ma.masked_array(a, mask=draw(hnp.arrays(np.bool_, a.shape)))
    elif view == "list":
        a = a.tolist()
    return view, a


@pytest.fixture(scope="module")
def api_net(model_file):
    return numbadn.DeconvNet.load(model_file)


@given(st.sampled_from(["contrast_normalize", "to_grey", "layer.infer", "layer.reconstruct",
                        "net.infer", "net.reconstruct", "plot.filter_grid", "snr_db"]),
       arrays())
def test_api_array_inputs_give_a_clear_error_or_a_finite_result(api_net, fn, case):
    from numbadn import plot
    from numbadn.preprocess import contrast_normalize, to_grey
    view, a = case
    layer = api_net.layers[0]
    call = {"contrast_normalize": lambda: contrast_normalize(a),
            "to_grey": lambda: to_grey(a),
            "layer.infer": lambda: layer.infer(a),
            "layer.reconstruct": lambda: layer.reconstruct(a),
            "net.infer": lambda: api_net.infer(a, layer=1, top_down=False),
            "net.reconstruct": lambda: api_net.reconstruct(a, layer=1),
            "plot.filter_grid": lambda: plot.filter_grid(a),
            "snr_db": lambda: plot.snr_db(a, np.ones(np.shape(a)))}[fn]
    try:
        with time_limit(60):
            out = call()
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        assert msg and "nopython" not in msg and "Traceback" not in msg, msg
        return
    if view == "masked":
        raise AssertionError(f"{fn} used a masked array's values")
    if fn == "plot.filter_grid":
        return
    if fn == "snr_db":  # +inf when the two agree exactly
        assert not np.isnan(out)
        return
    vals = out if isinstance(out, (list, tuple)) else [out]
    for v in vals:
        assert np.isfinite(np.asarray(v, dtype=np.float64)).all()
