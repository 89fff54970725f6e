"""The README's recipes run as written (against the sandbox), in order, in one shell each."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def recipe_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("### Recipes", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


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
