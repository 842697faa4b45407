"""The CI script of the source tree (`.ci/run`) agrees with the README and the package.

These tests read files of the repository, so `.ci/check_wheel` does not copy this file
next to the installed wheel.
"""
import re
from pathlib import Path

from numbadn import data

ROOT = Path(__file__).resolve().parents[1]
CI = (ROOT / ".ci" / "run").read_text()


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text().splitlines()
    test_cmd = next(line for line in readme[:6] if "pytest" in line).split("#")[0].strip()
    assert test_cmd in CI


def test_ci_installs_every_debian_package_of_the_full_sets():
    line = re.search(r'PHOTO_PACKAGES="([^"]+)"', CI).group(1).split()
    assert sorted(line) == sorted(data.DEBIAN_PACKAGES)


def test_wheel_check_copies_no_test_that_reads_the_source_tree():
    copied = re.search(r'cp "\$src"/tests/naive.py(.*?)"\$tmp/tests/"',
                       (ROOT / ".ci" / "check_wheel").read_text(), re.S).group(1)
    for name in re.findall(r'tests/(\w+\.py)', copied):
        text = (ROOT / "tests" / name).read_text()
        assert '".ci"' not in text and "README.md" not in text, name


def test_slow_marker_is_registered_and_the_default_run_keeps_the_slow_tests():
    tomllib = __import__("pytest").importorskip("tomllib")
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("slow:") for m in ini["markers"])
    # the README's command runs every test: nothing deselects the slow ones by default
    assert "not slow" not in ini.get("addopts", "") and "-m" not in ini.get("addopts", "").split()
    marked = [p.name for p in (ROOT / "tests").glob("test_*.py") if "pytest.mark.slow" in p.read_text()]
    assert "test_distributed.py" in marked

