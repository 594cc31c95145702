"""The README's first screen gives the two commands that CI and a new user run."""

from __future__ import annotations

import re

from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
CI_RUN = (REPO_ROOT / ".ci" / "run").read_text(encoding="utf-8")
TEST_COMMAND = "python -m pip install -r requirements-dev.txt && python -m pytest"
RUN_COMMAND = "python -m pip install -r requirements.txt && python app.py"


def _first_screen() -> str:
    return "\n".join(README.splitlines()[:40])


def test_first_screen_has_both_commands():
    assert RUN_COMMAND in _first_screen()
    assert TEST_COMMAND in _first_screen()


def test_ci_runs_the_readme_test_command():
    ci_lines = [line.strip() for line in CI_RUN.splitlines() if "pytest" in line and not line.strip().startswith("#")]
    assert ci_lines, "no pytest line in .ci/run"
    # CI adds -q to pip only; the command itself is the README's.
    assert re.sub(r"\s-q\b", "", ci_lines[-1]) == TEST_COMMAND
