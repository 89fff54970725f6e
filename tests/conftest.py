"""Every test runs isolated: its own config, data and cache dirs, no PHONECTL_* from the
developer's shell, and (where it needs Graph) a real emulator on a loopback port."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import TEST_TOKEN, Result, Run

from phonectl.cli import main
from phonectl.sandbox.server import GraphEmulator
from phonectl.sandbox.state import SandboxState


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("PHONECTL_") or name in {"NO_COLOR", "FORCE_COLOR", "COLUMNS"}:
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    for var, sub in (
        ("XDG_CONFIG_HOME", "config"),
        ("XDG_DATA_HOME", "data"),
        ("XDG_CACHE_HOME", "cache"),
    ):
        monkeypatch.setenv(var, str(home / sub))
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def graph(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[GraphEmulator]:
    """A Graph emulator on 127.0.0.1, with phonectl pointed at it through the environment."""
    emulator = GraphEmulator(SandboxState(tmp_path / "graph-state.json"))
    emulator.start_in_thread()
    monkeypatch.setenv("PHONECTL_GRAPH_URL", emulator.url)
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", TEST_TOKEN)
    yield emulator
    emulator.shutdown()
    emulator.server_close()


@pytest.fixture
def phonectl(capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """Run phonectl's main() in this process: real argument parsing, real HTTP."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    yield run
