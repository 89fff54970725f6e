"""Print pip constraints pinning each runtime dependency to the lowest version pyproject.toml
allows (`name>=X` -> `name==X`), so CI can prove those lower bounds really work."""

import re
import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
for requirement in project["project"]["dependencies"]:
    match = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^,;\s]*)", requirement)
    if match is None:
        sys.exit(f"no lower bound in {requirement!r}")
    print(f"{match[1]}=={match[2]}")
