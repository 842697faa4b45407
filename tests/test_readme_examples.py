"""The README's Python examples run as written, with no deprecated name."""
import re
import warnings
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(section_start, section_end):
    text = README.read_text()
    section = text[text.index(section_start):text.index(section_end)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _run(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the examples write ckpt.npz and model.npz
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    return capsys.readouterr().out


def test_the_python_api_example_runs_as_written(tmp_path, monkeypatch, capsys):
    api = _blocks("## Python API", "### scikit-learn conventions")
    assert len(api) == 1
    out = _run(api[0], tmp_path, monkeypatch, capsys)
    assert (tmp_path / "model.npz").exists() and out.count("\n") >= 3


@pytest.mark.slow
def test_the_pipeline_example_runs_as_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    pipe = _blocks("### scikit-learn conventions", "### Many images, many machines (Dask)")
    assert len(pipe) == 1 and "make_pipeline" in pipe[0]
    out = _run(pipe[0], tmp_path, monkeypatch, capsys)
    accuracy = float(re.search(r"natural vs city: ([0-9.]+)", out).group(1))
    said = float(re.search(r"# ([0-9.]+) \(chance", pipe[0]).group(1))
    assert accuracy == pytest.approx(said, abs=0.005)  # the number the README states
