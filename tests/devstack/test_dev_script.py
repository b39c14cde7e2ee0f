"""scripts/dev.py, behind `make run` and `make test`: the Python it accepts and what it says.

The supported Pythons are stated three times (scripts/dev.py, pyproject.toml, the README);
these tests hold them to one another, and run the script under a Python that is too old when
the machine has one.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.conftest import pytest_terminal_summary
from tests.fixtures.browser import INSTALL_HINT, NO_CHROMIUM

ROOT = Path(__file__).resolve().parents[2]


def load_dev_script():
    spec = importlib.util.spec_from_file_location("dev_script", ROOT / "scripts" / "dev.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dev = load_dev_script()


@pytest.mark.parametrize("version", [(3, 11, 0), (3, 12, 7), (3, 13, 1)])
def test_supported_pythons_pass(version):
    assert dev.python_problem(version) is None


@pytest.mark.parametrize(
    ("version", "says"),
    [((3, 10, 13), "3.10.13 (older)"), ((3, 14, 0), "3.14.0 (newer than ccportal is tested with)")],
)
def test_an_unsupported_python_gets_one_sentence_naming_the_supported_ones(version, says):
    problem = dev.python_problem(version)
    assert problem is not None and "\n" not in problem
    assert "Python 3.11, 3.12, 3.13" in problem and says in problem
    assert "make run PYTHON=python3.13" in problem


def test_pyproject_and_readme_state_the_same_pythons_as_the_script():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    oldest, newest = dev.OLDEST, dev.NEWEST
    assert project["requires-python"] == f">={oldest[0]}.{oldest[1]},<{newest[0]}.{newest[1] + 1}"
    classifiers = {c for c in project["classifiers"] if c.startswith("Programming Language")}
    listed = {f"Programming Language :: Python :: 3.{m}" for m in range(oldest[1], newest[1] + 1)}
    assert listed <= classifiers
    assert "Python 3.11, 3.12 or 3.13" in (ROOT / "README.md").read_text()


def old_python() -> str | None:
    """A Python 3.8-3.10 that runs (pyenv's shims name versions that are not active)."""
    pyenv = Path.home() / ".pyenv" / "versions"
    found = [shutil.which(f"python3.{minor}") for minor in (10, 9, 8)]
    found += [str(p) for p in sorted(pyenv.glob("3.*/bin/python"), reverse=True)]
    for python in filter(None, found):
        version = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[1])"], capture_output=True, text=True
        )
        if version.returncode == 0 and 8 <= int(version.stdout) <= 10:
            return python
    return None


def test_a_too_old_python_is_told_what_to_do_before_anything_is_installed(tmp_path):
    python = old_python()
    if python is None:
        pytest.skip("no Python older than 3.11 on this machine")
    venv = tmp_path / "venv"

    result = subprocess.run(
        [python, str(ROOT / "scripts" / "dev.py"), "--venv", str(venv), "run"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert re.fullmatch(r"\[ccportal\] ccportal runs on Python 3\.11, [^\n]+\n", result.stdout)
    assert "Traceback" not in result.stderr
    assert not venv.exists()


class FakeReporter:
    """What pytest_terminal_summary reads of pytest's terminal reporter."""

    def __init__(self, skip_reasons):
        self.stats = {"skipped": [type("Report", (), {"longrepr": r})() for r in skip_reasons]}
        self.lines = []

    def write_line(self, line, **markup):
        self.lines.append(line)


def test_the_suite_says_once_how_to_install_chromium_when_browser_tests_were_skipped():
    reporter = FakeReporter([("tests/x.py", 3, f"Skipped: {NO_CHROMIUM}")] * 4)
    pytest_terminal_summary(reporter)
    assert reporter.lines == [INSTALL_HINT]
    assert "sudo apt install chromium" in INSTALL_HINT

    quiet = FakeReporter([("tests/x.py", 3, "Skipped: no Python older than 3.11")])
    pytest_terminal_summary(quiet)
    assert quiet.lines == []
