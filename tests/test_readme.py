"""The recipes (docs/recipes.md) run as written (against the sandbox), in order, in one shell
each; the README's links all lead somewhere."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RECIPES = ROOT / "docs" / "recipes.md"


def recipe_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", RECIPES.read_text(), re.S)


def test_the_readme_is_read_in_five_minutes_and_its_links_lead_somewhere() -> None:
    text = README.read_text()
    assert len(text.encode()) <= 8 * 1024  # the reference lives in docs/
    for page in ROOT.glob("*.md"):
        for target in re.findall(r"\]\((?!https?:)([^)#]+)", page.read_text()):
            assert (page.parent / target).exists(), (page.name, target)
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\((?!https?:)([^)#]+)", page.read_text()):
            assert (page.parent / target).exists(), (page.name, target)


def test_the_readme_has_recipes() -> None:
    assert len(recipe_blocks()) == 5


def test_the_recipes_run_as_written(tmp_path: Path) -> None:
    bin_dir = str(Path(sys.executable).parent)
    if not Path(bin_dir, "phonectl").exists():
        pytest.skip("phonectl is not installed beside this Python")
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"]}
    for block in recipe_blocks():
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{block}\n--- stderr:\n{done.stderr}"
    renumbered = (tmp_path / "renumbered.csv").read_text()
    assert "+7 495 342 22 13" in renumbered  # the sed really changed a number
    assert (tmp_path / "mobiles.txt").read_text() == "+1 425 555 0110\n"  # --query's recipe
    assert "would-update" not in (tmp_path / f"apply-{_today()}.json").read_text()
    fixes = (tmp_path / "e164-fixes.csv").read_text()
    assert ",+74953422213," in fixes  # lint fixed the renumbered number


def _today() -> str:
    import datetime

    return datetime.date.today().isoformat()
