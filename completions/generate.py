"""Regenerate the shell completion scripts in this folder from phonectl's Typer app.

python completions/generate.py          # rewrite them
python completions/generate.py --check  # exit 1 if any is stale (tests run this)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = {"bash": "phonectl.bash", "zsh": "_phonectl", "fish": "phonectl.fish"}


def generated(shell: str) -> str:
    env = {**os.environ, "_PHONECTL_COMPLETE": f"source_{shell}"}
    done = subprocess.run(
        [sys.executable, "-m", "phonectl"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # Typer's zsh script starts with a blank line, and zsh's compinit reads a completion
    # file's first line for its #compdef tag: with a blank line first it ignores the file.
    text = done.stdout.lstrip("\n")
    if shell == "zsh":
        # Typer writes an apostrophe in a description as '' inside single quotes, which zsh
        # reads as one apostrophe only with RC_QUOTES: without it "the user's" loses it.
        text = text.replace(
            "_phonectl_completion() {\n",
            "_phonectl_completion() {\n  setopt local_options rc_quotes\n",
        )
    return text


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for shell, name in SCRIPTS.items():
        path = HERE / name
        text = generated(shell)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print(f"stale: {', '.join(stale)}; run python completions/generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
