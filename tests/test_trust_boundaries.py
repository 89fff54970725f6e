"""Trust boundaries: whatever a hostile Graph, environment, file or terminal does, no secret
leaks, nothing hangs past its timeout, and every failure is one clear line and its exit code."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_server import HostileGraph, Tripwire, serve_hostile
from support import EXAMPLE_PHONE_ID, Result, Run, run_phonectl, wait_until

from phonectl.sandbox.server import GraphEmulator

TOKEN = "eyJ0eXAiOiJKV1QifQ.hostile-test-token.Zm9vYmFy"
# A guard against a hang, not a performance figure: every case ends far sooner.
HANG_GUARD_SECONDS = 20


@pytest.fixture
def hostile(monkeypatch: pytest.MonkeyPatch) -> Iterator[HostileGraph]:
    yield from serve_hostile(monkeypatch, TOKEN)


@pytest.fixture
def tripwire() -> Iterator[Tripwire]:
    wire = Tripwire()
    yield wire
    wire.close()


def clean(result: Result) -> None:
    """One clear error, no traceback, no raw terminal control, no token."""
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
    assert "\x1b" not in result.stderr + result.stdout
    assert TOKEN not in result.stderr + result.stdout


COMMANDS = [
    ["get", EXAMPLE_PHONE_ID],
    ["list"],
    ["list", "-o", "json"],
    ["update", EXAMPLE_PHONE_ID, "--type", "mobile"],
    ["update", EXAMPLE_PHONE_ID, "--type", "mobile", "-o", "tsv"],
    ["add", "--number", "+1 425 555 0100"],
    ["delete", EXAMPLE_PHONE_ID, "--yes"],
    ["--debug", "get", EXAMPLE_PHONE_ID],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_server_echoing_the_token_never_gets_it_printed(
    hostile: HostileGraph, phonectl: Run, args: list[str]
) -> None:
    result = phonectl(*args)
    assert result.exit_code == 1
    clean(result)
    assert "[redacted]" in result.stderr


def test_apply_never_prints_an_echoed_token_on_stdout_or_stderr(
    hostile: HostileGraph, phonectl: Run, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text(f"user,id,type\n,{EXAMPLE_PHONE_ID},home\n")
    for fmt in ("table", "json", "tsv"):
        result = phonectl("apply", str(rows), "-o", fmt)
        clean(result)
        assert result.exit_code == 1


@pytest.mark.parametrize(
    "token", ["abc\r\nX-Injected: 1", "tok en-1234567", "tok\x1ben-1234", "é" * 9]
)
def test_a_malformed_token_is_a_sign_in_error_and_never_echoed(
    hostile: HostileGraph, phonectl: Run, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", token)
    for args in (["get", EXAMPLE_PHONE_ID], ["auth", "status"]):
        result = phonectl(*args)
        assert result.exit_code == 3, args
        assert "not a usable bearer token" in result.stderr
        assert token not in result.stdout + result.stderr
    assert hostile.requests == []


def test_an_expired_environment_token_is_not_usable(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import json

    claims = base64.urlsafe_b64encode(json.dumps({"exp": 1_000_000_000}).encode()).decode()
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", f"eyJhbGciOiJub25lIn0.{claims.rstrip('=')}.sig")
    status = phonectl("auth", "status")
    assert status.exit_code == 3
    assert "expired at 2001-09-09" in status.stderr
    assert phonectl("get", EXAMPLE_PHONE_ID).exit_code == 3
    assert graph.requests == []


@pytest.mark.parametrize("exp", ["1e400", "1e20", "-1e20", '"soon"', "true", "[1]"])
def test_an_absurd_expiry_claim_is_no_expiry_not_a_crash(
    graph: GraphEmulator, phonectl: Run, monkeypatch: pytest.MonkeyPatch, exp: str
) -> None:
    import base64

    claims = base64.urlsafe_b64encode(f'{{"exp": {exp}}}'.encode()).decode().rstrip("=")
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", f"eyJhbGciOiJub25lIn0.{claims}.sig")
    status = phonectl("auth", "status", "-o", "json")
    assert status.exit_code == 0, status.stderr
    assert status.json()["accessTokenExpires"] is None  # no expiry, not a made-up one
    assert "Traceback" not in status.stderr


@pytest.mark.parametrize(
    "args", [["get", EXAMPLE_PHONE_ID], ["update", EXAMPLE_PHONE_ID, "--type", "home"]]
)
def test_redirects_are_never_followed_and_never_count_as_success(
    hostile: HostileGraph, tripwire: Tripwire, phonectl: Run, args: list[str]
) -> None:
    hostile.mode = "redirect"
    hostile.redirect_to = tripwire.url
    result = phonectl(*args)
    assert result.exit_code == 1
    assert "307, a redirect" in result.stderr
    clean(result)
    assert tripwire.connections == 0


def test_a_204_to_a_patch_is_success_and_the_phone_is_read_back(
    hostile: HostileGraph, phonectl: Run
) -> None:
    hostile.mode = "no-content-patch"
    result = phonectl("update", EXAMPLE_PHONE_ID, "--type", "home", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["number"] == "+1 425 555 0100"
    assert [method for method, _ in hostile.requests] == ["PATCH", "GET"]


def test_a_304_to_a_patch_is_not_success(hostile: HostileGraph, phonectl: Run) -> None:
    hostile.mode = "not-modified"
    result = phonectl("update", EXAMPLE_PHONE_ID, "--type", "home")
    assert result.exit_code == 1
    assert "status 304, which is not a result" in result.stderr


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("list", "a list, not an object"),
        ("string", "a string, not an object"),
        ("number", "a number, not an object"),
        ("null", "no body, not an object"),
        ("deep", "JSON nested beyond reason"),
    ],
)
def test_answers_of_the_wrong_shape_are_clean_errors(
    hostile: HostileGraph, phonectl: Run, mode: str, message: str
) -> None:
    hostile.mode = mode
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 1
    assert message in result.stderr
    clean(result)
    listed = phonectl("list")
    assert listed.exit_code == 1
    clean(listed)


def test_a_repeating_next_link_ends_the_command(hostile: HostileGraph, phonectl: Run) -> None:
    hostile.mode = "next-loop"
    result = phonectl("list")
    assert result.exit_code == 1
    assert "an @odata.nextLink that repeats" in result.stderr
    assert len(hostile.requests) == 2


def test_graph_text_reaches_the_terminal_escaped(hostile: HostileGraph, phonectl: Run) -> None:
    hostile.mode = "controls"
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 1
    clean(result)
    assert "\\x1b]0;pwned\\x07line one\\nerror: injected line\\r\\x1b[K\\u202eevil" in (
        result.stderr
    )
    assert "\u202e" not in result.stderr and "\x9b" not in result.stderr
    # Every line of the message starts as phonectl's own lines do.
    assert all(line.startswith(("error: ", "  ", "hint: ")) for line in result.stderr.splitlines())


@pytest.mark.parametrize("mode", ["drip", "drip-headers", "hang"])
def test_the_timeout_bounds_the_whole_request(hostile: HostileGraph, mode: str) -> None:
    hostile.mode = mode
    done = run_phonectl("get", EXAMPLE_PHONE_ID, env={"PHONECTL_TIMEOUT": "1"})
    assert done.returncode == 6, done.stderr
    assert "no answer within 1 s" in done.stderr


def _http_workers() -> int:
    import threading

    return sum(1 for thread in threading.enumerate() if thread.name == "http")


def test_requests_share_one_worker_and_one_past_its_deadline_is_left_behind(
    graph: GraphEmulator, hostile: HostileGraph
) -> None:
    import threading
    import time

    from phonectl.http import BoundedSession, DeadlineExceeded
    from phonectl.sandbox.server import Fault

    before = _http_workers()
    session = BoundedSession(timeout=0.5, user_agent="test")
    session.headers["Authorization"] = "Bearer test"
    phones = graph.url + "/beta/me/profile/phones"
    for _ in range(20):
        assert session.request("GET", phones).status_code == 200
    assert _http_workers() == before + 1

    hostile.mode = "drip"  # a byte every 0.25 s: the socket never times out, the deadline does
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        session.request("GET", hostile.url + "/beta/me/profile/phones")
    assert time.monotonic() - started < 2
    # The worker still reading the drip is not handed the next request: a fresh one is.
    assert session.request("GET", phones).status_code == 200
    assert _http_workers() == before + 2
    # Two senders at once (each answer takes 0.3 s): the idle worker and one more;
    # afterwards both are reused.
    graph.add_fault(Fault(status=None, delay=0.3, count=2))
    senders = [threading.Thread(target=session.request, args=("GET", phones)) for _ in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(HANG_GUARD_SECONDS)
    assert _http_workers() == before + 3
    for _ in range(10):
        assert session.request("GET", phones).status_code == 200
    assert _http_workers() == before + 3
    # Closed, the session ends its two idle workers (the one reading the drip ends with it).
    session.close()
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while _http_workers() > before + 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _http_workers() <= before + 1


def test_a_command_lets_its_workers_go_when_it_ends(graph: GraphEmulator, phonectl: Run) -> None:
    import time

    phonectl("list")
    before = _http_workers()
    for _ in range(10):
        assert phonectl("list").exit_code == 0
    # Each run's session ends its idle worker when the command closes it.
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while _http_workers() > before and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _http_workers() <= before


# Runs phonectl and reports that process's own peak RSS. From a small process in between:
# a child forked straight from pytest (hundreds of MiB by now) carries pytest's size into
# its own peak (Linux counts the memory it had before exec).
PEAK_RSS = """
import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
errors = child.stderr.read().decode(errors="replace")
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as out:
    json.dump({"code": os.waitstatus_to_exitcode(status), "stderr": errors,
               "peak_kib": usage.ru_maxrss}, out)
"""


def test_a_decompression_bomb_is_refused_without_exhausting_memory(
    hostile: HostileGraph, tmp_path: Path
) -> None:
    hostile.mode = "gzip-bomb"
    report = tmp_path / "peak.json"
    command = [sys.executable, "-m", "phonectl", "get", EXAMPLE_PHONE_ID]
    wrapped = [sys.executable, "-c", PEAK_RSS, str(report), *command]
    subprocess.run(wrapped, env=os.environ, timeout=HANG_GUARD_SECONDS, check=True)
    done = json.loads(report.read_text())
    assert done["code"] == 1
    assert "the answer is over 64 MiB" in done["stderr"]
    # A phonectl run is ~50 MiB; reading the whole 200 MiB bomb would take over 200 MiB.
    assert done["peak_kib"] / 1024 < 150


def test_an_answer_that_cannot_be_decompressed_is_exit_1_naming_it(
    hostile: HostileGraph, phonectl: Run
) -> None:
    hostile.mode = "corrupt-gzip"
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 1, result.stderr
    assert "the answer could not be decompressed" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr


def test_loopback_traffic_never_goes_through_a_proxy(
    graph: GraphEmulator, tripwire: Tripwire, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, tripwire.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert phonectl("get", EXAMPLE_PHONE_ID).exit_code == 0
    monkeypatch.delenv("PHONECTL_GRAPH_URL")
    assert phonectl("--sandbox", "get", EXAMPLE_PHONE_ID).exit_code == 0
    assert tripwire.connections == 0


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PHONECTL_TIMEOUT", "1e300", "out of range"),
        ("PHONECTL_TIMEOUT", "0", "out of range"),
        ("PHONECTL_TIMEOUT", "nan", "out of range"),
        ("PHONECTL_MAX_RETRIES", "99999999999999999999", "out of range"),
        ("PHONECTL_KEYRING_TIMEOUT", "0", "out of range"),
        ("PHONECTL_GRAPH_URL", "http://[::1", "not a plain http(s) URL"),
        ("PHONECTL_GRAPH_URL", "http://127.0.0.1:99999", "ports run from 1 to 65535"),
        ("PHONECTL_GRAPH_URL", "https://admin:hunter2@graph.example", "user name or password"),
        ("PHONECTL_GRAPH_URL", "http://graph.example.net:8080\\@127.0.0.1", "backslashes"),
        ("PHONECTL_GRAPH_URL", "https://graph.microsoft.com/?x=1", "query or fragment"),
        ("PHONECTL_AUTHORITY_HOST", "http://login.example", "plain http"),
        ("REQUESTS_CA_BUNDLE", "/nonexistent.pem", "does not exist"),
    ],
)
def test_bad_settings_are_usage_errors_before_anything_is_sent(
    graph: GraphEmulator,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    assert "hunter2" not in result.stderr
    clean(result)
    assert graph.requests == []


def test_directories_are_private_whatever_the_umask(tmp_path: Path) -> None:
    env = {"PHONECTL_TOKEN_CACHE": str(tmp_path / "deep" / "er" / "cache.json")}
    code = (
        "import os, sys\n"
        "os.umask(0)\n"
        "from phonectl.config import save_config\n"
        "from phonectl.token_store import FileStore\n"
        "from pathlib import Path\n"
        "save_config({'tenant': 't'})\n"
        "FileStore(Path(os.environ['PHONECTL_TOKEN_CACHE'])).write('{}')\n"
    )
    subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, check=True)
    home = Path(os.environ["XDG_CONFIG_HOME"]) / "phonectl"
    for directory in (home, tmp_path / "deep", tmp_path / "deep" / "er"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE((home / "config.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("where", ["config", "cache"])
def test_a_fifo_where_a_file_belongs_is_refused_not_waited_on(
    graph: GraphEmulator, tmp_path: Path, where: str
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    env = {"PHONECTL_GRAPH_URL": graph.url}
    if where == "config":
        config = Path(os.environ["XDG_CONFIG_HOME"]) / "phonectl"
        config.mkdir(parents=True)
        os.symlink(fifo, config / "config.json")
        done = run_phonectl("update", EXAMPLE_PHONE_ID, "--type", "home", "--dry-run", env=env)
        assert done.returncode == 2, done.stderr
    else:
        env |= {"PHONECTL_TOKEN_CACHE": str(fifo), "PHONECTL_ACCESS_TOKEN": ""}
        done = run_phonectl("auth", "status", env=env)
        assert done.returncode == 3, done.stderr
    assert "not a regular file" in done.stderr


def test_a_plaintext_keyring_is_used_only_when_chosen(tmp_path: Path) -> None:
    env = dict(os.environ)
    env.pop("PYTHON_KEYRING_BACKEND")  # keyrings.alt is installed: keyring would pick it
    env.pop("PHONECTL_ACCESS_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "phonectl", "auth", "status"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=HANG_GUARD_SECONDS,
    )
    assert done.returncode == 3
    assert "plain-text file" in done.stderr
    assert "PHONECTL_TOKEN_CACHE" in done.stderr


def test_arguments_that_are_not_utf8_are_usage_errors(graph: GraphEmulator) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "phonectl", "update", b"caf\xe9", "--type", "home"],
        capture_output=True,
        env=os.environ,
        check=False,
        timeout=HANG_GUARD_SECONDS,
    )
    assert done.returncode == 2
    assert b"not valid UTF-8" in done.stderr
    assert graph.requests == []


def test_with_stderr_closed_errors_never_reach_stdout(graph: GraphEmulator) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "phonectl", "get", "no-such-phone"],
        stdout=subprocess.PIPE,
        stderr=None,
        env=os.environ,
        check=False,
        timeout=HANG_GUARD_SECONDS,
        preexec_fn=lambda: os.close(2),
    )
    assert done.returncode == 5
    assert done.stdout == b""


@pytest.mark.parametrize("args", [["--version"], ["get", EXAMPLE_PHONE_ID]])
def test_a_full_stdout_is_reported_not_crashed_on(graph: GraphEmulator, args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "phonectl", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ,
            check=False,
            timeout=HANG_GUARD_SECONDS,
        )
    assert done.returncode == 1
    assert done.stderr == "error: could not write the output: No space left on device\n"


def test_sigterm_exits_143_without_a_traceback(hostile: HostileGraph) -> None:
    import signal

    hostile.mode = "hang"
    process = subprocess.Popen(
        [sys.executable, "-m", "phonectl", "get", EXAMPLE_PHONE_ID],
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ,
    )
    wait_until(lambda: hostile.requests, "phonectl is mid-request")
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=HANG_GUARD_SECONDS)
    assert process.returncode == 143
    assert err == "terminated\n"


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (lambda d: ["/dev/zero"], "not a regular file"),
        (lambda d: [str(d)], "is a directory"),
        (lambda d: [_write(d / "l1.csv", b"id,type\nx,caf\xe9\n")], "l1.csv:2: not valid utf-8"),
        (lambda d: [_write(d / "deep.jsonl", b"[" * 100_000 + b"]" * 100_000)], "nested"),
        (lambda d: [_write(d / "none.csv", b"")], "empty"),
    ],
)
def test_bad_apply_files_are_usage_errors(
    graph: GraphEmulator, phonectl: Run, tmp_path: Path, make_input: object, message: str
) -> None:
    args = make_input(tmp_path)  # type: ignore[operator]
    result = phonectl("apply", *args)
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr
    clean(result)
    assert graph.requests == []


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_apply_from_a_closed_stdin_is_a_usage_error(graph: GraphEmulator) -> None:
    done = run_phonectl("apply", "-", timeout=HANG_GUARD_SECONDS)
    assert done.returncode == 2, done.stderr
    done = run_phonectl("apply", "-", timeout=HANG_GUARD_SECONDS, preexec_fn=lambda: os.close(0))
    assert done.returncode == 2
    assert "stdin is closed" in done.stderr


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ('{"tenant": 5}', "'tenant' must be a str"),
        ('{"scopes": "User.Read"}', "'scopes' must be a list"),
        ('{"scopes": [1]}', "'scopes' must be a list of strings"),
        ('{"account": {"username": []}}', "'account' must map names to strings"),
        ("[1, 2]", "it must hold a JSON object"),
    ],
)
def test_config_values_of_the_wrong_type_are_usage_errors(
    graph: GraphEmulator, phonectl: Run, config: str, message: str
) -> None:
    from phonectl.config import config_path

    config_path().parent.mkdir(parents=True)
    config_path().write_text(config)
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 2
    assert message in result.stderr
    clean(result)


@pytest.mark.parametrize("config", ['{"a": ' * 50_000, "[" * 100_000 + "]" * 100_000, "\xff"])
def test_an_unreadable_config_is_a_warning_and_counts_as_empty(
    graph: GraphEmulator, phonectl: Run, config: str
) -> None:
    from phonectl.config import config_path

    config_path().parent.mkdir(parents=True)
    config_path().write_bytes(config.encode("latin-1"))
    result = phonectl("get", EXAMPLE_PHONE_ID)
    assert result.exit_code == 0
    assert "warning: ignoring the unreadable config file" in result.stderr
