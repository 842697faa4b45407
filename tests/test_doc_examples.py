"""The Python examples of the user guide's Python API page (docs/user_guide/python_api.md,
moved there from the README) run as written, with no deprecated name, and print the
numbers the page states."""
import re
import warnings
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "user_guide" / "python_api.md"


def _blocks(section_start, section_end):
    text = PAGE.read_text()
    section = text[text.index(section_start):text.index(section_end)]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def _run(code, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the examples write ckpt.npz and model.npz
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        exec(compile(code, str(PAGE), "exec"), {"__name__": "__doc_example__"})
    return capsys.readouterr().out


def test_the_python_api_example_runs_as_written(tmp_path, monkeypatch, capsys):
    api = _blocks("# Python API", "## scikit-learn conventions")
    assert len(api) == 1
    out = _run(api[0], tmp_path, monkeypatch, capsys)
    assert (tmp_path / "model.npz").exists() and out.count("\n") >= 3


@pytest.mark.slow
def test_the_pipeline_example_runs_as_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    pipe = _blocks("## scikit-learn conventions", "## Many images, many machines (Dask)")
    assert len(pipe) == 1 and "make_pipeline" in pipe[0]
    out = _run(pipe[0], tmp_path, monkeypatch, capsys)
    accuracy = float(re.search(r"natural vs city: ([0-9.]+)", out).group(1))
    said = float(re.search(r"# ([0-9.]+) \(chance", pipe[0]).group(1))
    assert accuracy == pytest.approx(said, abs=0.005)  # the number the page states
