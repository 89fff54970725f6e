"""phonectl as users run it: a separate process, its exit codes, its streams."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from support import EXAMPLE_PHONE_ID, run_phonectl

from phonectl.sandbox.server import Fault, GraphEmulator


@contextmanager
def sandbox_serve(*flags: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`phonectl sandbox serve` in the background and the URL it printed; Ctrl-C at the end."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "sandbox", "serve", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert serve.stdout is not None
        yield serve, serve.stdout.readline().strip()
    finally:
        serve.send_signal(signal.SIGINT)
        serve.communicate(timeout=20)


def test_sandbox_update_persists_until_reset() -> None:
    done = run_phonectl("--sandbox", "update", EXAMPLE_PHONE_ID, "--type", "mobile", "-o", "tsv")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{EXAMPLE_PHONE_ID}\tmobile\t+7 499 342 22 13\tCar Phone\torganization\n"
    again = run_phonectl("get", EXAMPLE_PHONE_ID, "-o", "tsv", env={"PHONECTL_SANDBOX": "1"})
    assert again.stdout.split("\t")[1] == "mobile"
    assert run_phonectl("sandbox", "reset").returncode == 0
    assert (
        run_phonectl("--sandbox", "get", EXAMPLE_PHONE_ID, "-o", "tsv").stdout.split("\t")[1]
        == "other"
    )
    data_home = Path(os.environ["XDG_DATA_HOME"])
    assert (data_home / "phonectl" / "sandbox.sqlite3").is_file()


def test_concurrent_sandbox_processes_beside_sandbox_serve_lose_no_write() -> None:
    with sandbox_serve() as (_, url):
        adds = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "phonectl",
                    "--sandbox",
                    "add",
                    "--number",
                    f"+1 555 01{n:02}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(6)
        ]
        through_serve = requests.post(
            f"{url}/beta/me/profile/phones",
            json={"number": "+1 555 0199"},
            headers={"Authorization": "Bearer t"},
            timeout=30,
        )
        assert through_serve.status_code == 201
        for add in adds:
            _, stderr = add.communicate(timeout=60)
            assert add.returncode == 0, stderr
    listed = run_phonectl("--sandbox", "list", "-o", "tsv")
    numbers = {line.split("\t")[2] for line in listed.stdout.splitlines()}
    assert {f"+1 555 01{n:02}" for n in range(6)} | {"+1 555 0199"} <= numbers


def test_version_comes_from_package_metadata() -> None:
    from importlib.metadata import version

    done = run_phonectl("--version")
    assert done.returncode == 0
    assert done.stdout.splitlines()[0] == f"phonectl {version('phonectl')}"


def test_usage_error_has_no_traceback_and_exits_2() -> None:
    done = run_phonectl("update", EXAMPLE_PHONE_ID, "--confidence", "lots")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ")
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_ctrl_c_exits_130_without_a_traceback(graph: GraphEmulator) -> None:
    graph.add_fault(Fault(status=None, delay=10))
    env = {**os.environ, "PHONECTL_GRAPH_URL": graph.url, "PHONECTL_ACCESS_TOKEN": "t"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "get", EXAMPLE_PHONE_ID],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 20
    while not graph.requests and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert out == ""


def test_ctrl_c_during_start_up_exits_130_without_a_traceback() -> None:
    # A real SIGINT, delivered the moment main() starts importing Typer. Python's own
    # Ctrl-C handling is put in place first: a process started in the background (a CI job,
    # nohup) inherits SIGINT ignored, and Python then installs no handler of its own.
    probe = (
        "import builtins, os, signal\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "real_import = builtins.__import__\n"
        "def importing(name, *args, **kwargs):\n"
        "    if name == 'typer':\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real_import(name, *args, **kwargs)\n"
        "builtins.__import__ = importing\n"
        "from phonectl.cli import run\n"
        "run()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "--sandbox", "list"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (130, "", "interrupted\n")


def test_sandbox_serve_prints_its_url_and_answers_like_graph() -> None:
    with sandbox_serve("--port", "0") as (serve, url):
        assert url.startswith("http://127.0.0.1:")
        reply = requests.get(
            f"{url}/beta/me/profile/phones/{EXAMPLE_PHONE_ID}",
            headers={"Authorization": "Bearer x"},
            timeout=5,
        )
        assert reply.json()["displayName"] == "Car Phone"
    assert serve.returncode == 130  # stopped with Ctrl-C


def test_no_command_prints_the_help_as_is_on_stderr() -> None:
    done = run_phonectl("auth")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("Usage: phonectl auth [OPTIONS] COMMAND [ARGS]...")
    assert "login" in done.stderr and "error:" not in done.stderr
