"""Every test runs isolated: its own config, data and cache dirs, no PHONECTL_* from the
developer's shell, and (where it needs Graph) a real emulator on a loopback port."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from login_host import FakeLoginHost, LoginHostFixture
from support import TEST_TOKEN, Result, Run

from phonectl.cli import main
from phonectl.sandbox.server import GraphEmulator
from phonectl.sandbox.state import SandboxState

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def signal_handlers_kept() -> Iterator[None]:
    """Each test leaves SIGINT and SIGTERM as it found them. apply, run in process without
    cli.main (which puts its handlers back), ends ignoring both, so that nothing cuts its
    report short; every process a later test started would inherit the ignored SIGINT."""
    import signal

    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in kept.items():
        signal.signal(signum, handler)


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
    # A real keyring backend, keeping its file under the temp XDG_DATA_HOME; subprocesses
    # find the tests' own backends (keyring_backends.py) through PYTHONPATH.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("PYTHONPATH", str(TESTS_DIR))
    select_keyring_backend()
    return home


def select_keyring_backend() -> None:
    """Make this process's keyring follow PYTHON_KEYRING_BACKEND again (it loads it once)."""
    import keyring.core

    keyring.core.init_backend()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def login_host(
    ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LoginHostFixture]:
    """A local HTTPS login host, trusted through REQUESTS_CA_BUNDLE, and phonectl pointed at
    it with a client id."""
    ca_path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    host = FakeLoginHost(ca)
    threading.Thread(target=host.serve_forever, args=(0.005,), daemon=True).start()
    fixture = LoginHostFixture(host, ca_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_path))
    monkeypatch.setenv("PHONECTL_AUTHORITY_HOST", host.url)
    monkeypatch.setenv("PHONECTL_CLIENT_ID", fixture.client_id)
    yield fixture
    host.shutdown()
    host.server_close()


# Graph runs a batch's independent requests in no promised order; the emulator shuffles them.
# The suites that write through batches run under each of these seeds, so that phonectl
# cannot come to rely on one order (every other test uses seed 0, reproducibly).
ORDER_SENSITIVE_SUITES = ("test_apply", "test_round_trip")
BATCH_SEEDS = (1, 2, 3)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "graph" in metafunc.fixturenames and metafunc.module.__name__.startswith(
        ORDER_SENSITIVE_SUITES
    ):
        metafunc.parametrize("batch_seed", BATCH_SEEDS, ids=[f"seed{s}" for s in BATCH_SEEDS])


@pytest.fixture
def batch_seed() -> int:
    """The emulator's batch-order seed (parametrised for the suites above)."""
    return 0


@pytest.fixture
def graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_seed: int
) -> Iterator[GraphEmulator]:
    """A Graph emulator on 127.0.0.1, with phonectl pointed at it through the environment."""
    emulator = GraphEmulator(
        SandboxState(tmp_path / "graph-state.sqlite3"), shuffle_seed=batch_seed
    )
    emulator.start_in_thread()
    monkeypatch.setenv("PHONECTL_GRAPH_URL", emulator.url)
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", TEST_TOKEN)
    yield emulator
    emulator.shutdown()
    emulator.server_close()


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[GraphEmulator]:
    """An emulator on its own (phonectl not pointed at it), two phones a page."""
    server = GraphEmulator(SandboxState(tmp_path / "state.sqlite3"), page_size=2, shuffle_seed=0)
    server.start_in_thread()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def phonectl(capsys: pytest.CaptureFixture[str]) -> Iterator[Run]:
    """Run phonectl's main() in this process: real argument parsing, real HTTP."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return Result(code, out, err)

    yield run
