"""Building the docs without the 'docs' extra fails with one message naming it."""
import importlib.util
import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def deps(monkeypatch):
    deps = _load("_deps")
    monkeypatch.syspath_prepend(str(DOCS))
    return deps


def _without(monkeypatch, deps, *modules):
    # every other module counts as installed, whatever this venv holds
    def find_spec(name, *args, **kwargs):
        return None if name in modules else object()
    monkeypatch.setattr(deps.importlib.util, "find_spec", find_spec)


def test_missing_extra_is_named_with_every_missing_package(monkeypatch, deps):
    _without(monkeypatch, deps, "sphinx_gallery", "sklearn")
    assert deps.missing() == ["sphinx-gallery", "scikit-learn"]
    with pytest.raises(deps.MissingExtra) as e:
        deps.check()
    msg = str(e.value)
    assert "'docs' extra" in msg and "sphinx-gallery" in msg and "scikit-learn" in msg
    assert "pip install -e '.[docs]'" in msg and "\n" not in msg


def test_build_script_prints_one_line_and_exits_2_without_the_extra(monkeypatch, deps, capsys):
    _without(monkeypatch, deps, "sphinx", "numpydoc")
    build = _load("build")
    monkeypatch.setattr(build, "check", deps.check)
    assert build.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'docs' extra" in err[0] and "sphinx, numpydoc" in err[0]


def test_docs_extra_in_pyproject_installs_what_the_check_asks_for(deps):
    tomllib = pytest.importorskip("tomllib")
    meta = tomllib.loads((DOCS.parent / "pyproject.toml").read_text())
    extra = meta["project"]["optional-dependencies"]["docs"]
    names = {re.split(r"[<>=!~ ]", req)[0] for req in extra}
    assert {dist for _, dist in deps.NEEDED} <= names


def test_build_finds_pages_that_load_assets_from_another_site(tmp_path):
    build = _load("build")
    (tmp_path / "api").mkdir()
    (tmp_path / "index.html").write_text(
        '<script src="_static/mathjax/tex-svg.js"></script><link rel="stylesheet" href="_static/a.css">'
        '<a href="https://example.org/">a link is fine</a>')
    assert build.remote_assets(tmp_path) == []
    (tmp_path / "api" / "x.html").write_text(
        '<script defer="defer" src="https://cdn.example.org/mathjax/tex-chtml.js"></script>\n'
        "<link rel='stylesheet' href='//fonts.example.org/f.css'>")
    assert build.remote_assets(tmp_path) == [
        ("api/x.html", "https://cdn.example.org/mathjax/tex-chtml.js"),
        ("api/x.html", "//fonts.example.org/f.css")]


def test_the_docs_serve_mathjax_from_the_docs_extra_not_a_cdn(deps):
    pytest.importorskip("mathjax")
    js = deps.mathjax_file()
    assert js.name == "tex-svg.js" and js.stat().st_size > 100_000
    conf = (DOCS / "conf.py").read_text()
    assert re.search(r'^mathjax_path = "mathjax/tex-svg\.js"$', conf, re.M)


def test_readme_links_into_the_docs_and_every_local_link_exists():
    readme = (DOCS.parent / "README.md").read_text()
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    local = [t for t in targets if not t.startswith(("http://", "https://", "#"))]
    assert sum(t.startswith("docs/") for t in local) >= 5
    missing = [t for t in local if not (DOCS.parent / t).exists()]
    assert missing == []


def test_docs_pages_moved_from_the_readme_are_in_a_toctree():
    for page, index in (("user_guide/python_api.md", "user_guide/index.rst"),
                        ("user_guide/results.md", "user_guide/index.rst"),
                        ("user_guide/inpainting.md", "user_guide/index.rst"),
                        ("layout.md", "index.rst"), ("developing.md", "index.rst")):
        assert (DOCS / page).is_file(), page
        entry = Path(page).relative_to(Path(index).parent).with_suffix("")
        assert re.search(rf"^   {re.escape(str(entry))}$", (DOCS / index).read_text(), re.M), page

