"""Keyrings that misbehave (tests/keyring_backends.py: raising every kind of exception,
answering bytes, chosen but unavailable, slow, hanging, refusing writes part way, a header
claiming absurd sizes): every command ends in one clear line and its documented exit code,
within the keyring timeout, and a failure never costs the sign-in already kept.

Each case runs phonectl as its own process, the backend chosen with PYTHON_KEYRING_BACKEND;
every backend keeps its data in keyrings.alt's plain file in the test's temp dir."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from login_host import USERNAME, LoginHostFixture
from support import EXAMPLE_PHONE_ID, Run, graph_calls, run_phonectl

from phonectl.config import config_path
from phonectl.sandbox.server import GraphEmulator

UPDATE = ("update", EXAMPLE_PHONE_ID, "--type", "mobile", "-o", "json")
# A guard against a hang, not a performance figure: every case ends far sooner.
HANG_GUARD_SECONDS = 30

FAILING_BACKENDS = {
    "keyring_backends.DBusErrorKeyring": "RuntimeError: org.freedesktop.DBus.Error",
    "keyring_backends.MissingFileKeyring": "FileNotFoundError: [Errno 2] No such file",
    "keyring_backends.LockedKeyring": "the collection is locked",
    "keyring_backends.OddErrorKeyring": "LookupError",
    "keyring_backends.BytesKeyring": "answered with bytes, not text",
    "keyring_backends.WrongTypeKeyring": "answered with dict, not text",
    "keyring_backends.UnavailableKeyring": "RuntimeError: this backend needs a desktop session",
    "keyring_backends.NoSuchKeyring": "AttributeError",
    "no_such_module.Keyring": "ModuleNotFoundError: No module named 'no_such_module'",
}


@pytest.fixture
def signed_in(
    graph: GraphEmulator,
    login_host: LoginHostFixture,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> GraphEmulator:
    """Signed in through the test login host, tokens in the (plain-file) keyring; Graph is
    the emulator, reached with the cached token only."""
    monkeypatch.delenv("PHONECTL_ACCESS_TOKEN")
    result = phonectl("auth", "login")
    assert result.exit_code == 0, result.stderr
    return graph


def keyring_entries() -> dict[str, str]:
    """phonectl's entries in the plain keyring file, as stored."""
    import configparser

    parser = configparser.RawConfigParser()
    parser.read(Path(os.environ["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg")
    return dict(parser["phonectl"]) if parser.has_section("phonectl") else {}


def with_backend(backend: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_phonectl(
        *args, env={"PYTHON_KEYRING_BACKEND": backend, **env}, timeout=HANG_GUARD_SECONDS
    )


def one_clear_error(done: subprocess.CompletedProcess[str], expected: str) -> None:
    assert "Traceback" not in done.stderr
    assert "internal error" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert expected in errors[0], done.stderr
    assert "hint: " in done.stderr and "PHONECTL_TOKEN_CACHE" in done.stderr


@pytest.mark.parametrize(("backend", "reason"), FAILING_BACKENDS.items())
def test_a_failing_keyring_is_one_line_and_exit_3_for_every_command(
    signed_in: GraphEmulator, login_host: LoginHostFixture, backend: str, reason: str
) -> None:
    for args in (UPDATE, ("auth", "status"), ("auth", "login")):
        done = with_backend(backend, *args)
        assert done.returncode == 3, (args, done.stderr)
        one_clear_error(done, reason)
    assert graph_calls(signed_in) == []
    # login found out before anyone was asked to sign in: only the fixture's device code.
    assert len(login_host.host.calls("/devicecode")) == 1
    status = with_backend(backend, "auth", "status", "-o", "json")
    assert status.returncode == 3
    assert json.loads(status.stdout)["usable"] is False


@pytest.mark.parametrize(("backend", "reason"), FAILING_BACKENDS.items())
def test_logout_through_a_failing_keyring_says_tokens_may_remain_and_keeps_the_account(
    signed_in: GraphEmulator, backend: str, reason: str
) -> None:
    stored = keyring_entries()
    assert len(stored) >= 2  # a header and its chunks
    done = with_backend(backend, "auth", "logout")
    assert done.returncode == 3
    one_clear_error(done, "the tokens could not be removed, and may remain in the keyring")
    assert reason in done.stderr
    assert "no tokens were kept" not in done.stderr
    assert keyring_entries() == stored
    assert json.loads(config_path().read_text())["account"]["username"] == USERNAME
    # Once the keyring works again, logout removes every entry, and then the account.
    again = with_backend("keyrings.alt.file.PlaintextKeyring", "auth", "logout")
    assert again.returncode == 0, again.stderr
    assert keyring_entries() == {}
    assert "account" not in json.loads(config_path().read_text())


@pytest.mark.parametrize(
    "args", [UPDATE, ("auth", "status"), ("auth", "logout"), ("auth", "login")], ids=" ".join
)
def test_a_hanging_keyring_ends_every_command_within_its_timeout(
    signed_in: GraphEmulator, args: tuple[str, ...]
) -> None:
    done = with_backend("keyring_backends.HangingKeyring", *args, PHONECTL_KEYRING_TIMEOUT="0.5")
    assert done.returncode == 3, done.stderr
    one_clear_error(done, "the OS keyring did not answer within 0.5 s")
    assert json.loads(config_path().read_text())["account"]["username"] == USERNAME


def test_the_keyring_timeout_bounds_a_whole_read_not_each_call(
    signed_in: GraphEmulator,
) -> None:
    """A cache of many chunks from a keyring that answers each call in 0.2 s: one read is
    many calls, and the timeout bounds them together."""
    import keyring

    header = json.loads(keyring.get_password("phonectl", "token-cache") or "{}")
    assert header["chunks"] >= 1
    done = with_backend("keyring_backends.SlowKeyring", *UPDATE, PHONECTL_KEYRING_TIMEOUT="0.5")
    assert done.returncode == 3, done.stderr
    one_clear_error(done, "the OS keyring did not answer within 0.5 s")
    # The same keyring, with time for its calls: the cache is whole, the command runs.
    patient = with_backend("keyring_backends.SlowKeyring", *UPDATE, PHONECTL_KEYRING_TIMEOUT="30")
    assert patient.returncode == 0, patient.stderr


@pytest.mark.parametrize("chunks", [10**8, 0, -1, "many", True, 1.5])
def test_a_header_claiming_absurd_chunks_is_a_damaged_cache_never_a_hang(
    signed_in: GraphEmulator, chunks: object
) -> None:
    import keyring

    header = json.loads(keyring.get_password("phonectl", "token-cache") or "{}")
    keyring.set_password("phonectl", "token-cache", json.dumps({**header, "chunks": chunks}))
    for args in (UPDATE, ("auth", "status")):
        done = with_backend("keyrings.alt.file.PlaintextKeyring", *args)
        assert done.returncode == 3, done.stderr
        assert "warning: the token cache is unreadable" in done.stderr
        assert "Traceback" not in done.stderr
    if chunks == 10**8:
        assert "claims 100000000 chunks" in done.stderr
    logout = with_backend("keyrings.alt.file.PlaintextKeyring", "auth", "logout")
    assert logout.returncode == 0, logout.stderr
    assert keyring_entries() == {}  # the chunks too, whatever the header claimed


def test_status_exits_3_not_1_when_the_refresh_cannot_even_take_its_lock(
    signed_in: GraphEmulator, login_host: LoginHostFixture, phonectl: Run, tmp_path: Path
) -> None:
    login_host.host.behaviour.access_token_lifetime = 10  # stale at once: status must refresh
    assert phonectl("auth", "logout").exit_code == 0
    assert phonectl("auth", "login").exit_code == 0
    not_a_dir = tmp_path / "cache-is-a-file"
    not_a_dir.write_text("")
    done = with_backend(
        "keyrings.alt.file.PlaintextKeyring", "auth", "status", XDG_CACHE_HOME=str(not_a_dir)
    )
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert str(not_a_dir) in done.stderr


def test_a_keyring_failing_during_a_refresh_is_its_own_error_not_a_sign_in_prompt(
    signed_in: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    host = login_host.host
    host.behaviour.access_token_lifetime = 10  # stale at once: the run must refresh
    assert phonectl("auth", "logout").exit_code == 0
    assert phonectl("auth", "login").exit_code == 0
    done = with_backend("keyring_backends.LocksMidRunKeyring", *UPDATE)
    assert done.returncode == 3, done.stderr
    one_clear_error(done, "the OS keyring failed: RuntimeError: org.freedesktop.DBus.Error")
    assert host.calls("/token", grant_type="refresh_token") == []
    assert graph_calls(signed_in) == []


@pytest.mark.parametrize(
    "backend", ["keyring_backends.SaveFailsKeyring", "keyring_backends.FailsMidWriteKeyring"]
)
def test_a_keyring_failing_while_refreshed_tokens_are_saved_is_a_warning_and_keeps_the_cache(
    signed_in: GraphEmulator, login_host: LoginHostFixture, phonectl: Run, backend: str
) -> None:
    host = login_host.host
    host.behaviour.access_token_lifetime = 10  # inside the 5-minute margin: every run refreshes
    assert phonectl("auth", "logout").exit_code == 0
    assert phonectl("auth", "login").exit_code == 0
    stored = keyring_entries()
    done = with_backend(backend, *UPDATE)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "warning: could not save the refreshed sign-in" in done.stderr
    assert json.loads(done.stdout)["type"] == "mobile"  # ran with the token it holds
    assert len(host.calls("/token", grant_type="refresh_token")) == 1
    # The cache kept before is whole, byte for byte: a failed save never damages it.
    assert keyring_entries() == stored


def test_after_a_failed_save_the_kept_sign_in_serves_the_next_run_as_entra_allows(
    signed_in: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    """Microsoft's identity platform does not revoke a refresh token when it is used
    (https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens), so the cache
    that a failed save left whole still signs the next run in."""
    host = login_host.host
    host.behaviour.access_token_lifetime = 10
    assert phonectl("auth", "logout").exit_code == 0
    assert phonectl("auth", "login").exit_code == 0
    failed = with_backend("keyring_backends.SaveFailsKeyring", *UPDATE)
    assert failed.returncode == 0, failed.stderr
    later = with_backend("keyrings.alt.file.PlaintextKeyring", *UPDATE)
    assert later.returncode == 0, later.stderr
    assert "warning" not in later.stderr


def test_a_large_token_cache_costs_bounded_memory(tmp_path: Path) -> None:
    """A 2.5 MB cache of 2,500 tokens: read, every token held as a secret, output redacted;
    the process stays small (each secret once, one search for all of them)."""
    tokens = {
        f"key-{n}": {
            "credential_type": "AccessToken",
            "secret": f"eyJ0eXAiOiJKV1QifQ.{n:06d}." + "x" * 960 + f"{n:06d}",
            "home_account_id": "someone",
            "environment": "login.microsoftonline.com",
            "client_id": "c",
            "realm": "r",
            "target": "User.ReadWrite",
            "expires_on": "9999999999",
        }
        for n in range(2500)
    }
    cache = tmp_path / "cache.json"
    cache.write_text(json.dumps({"AccessToken": tokens}))
    assert cache.stat().st_size > 2_500_000
    # A parent of its own reports the peak memory of its one child, phonectl.
    measure = (
        "import resource, subprocess, sys; "
        "code = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL).returncode; "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(code)"
    )
    status = (sys.executable, "-m", "phonectl", "auth", "status", "-o", "json")
    done = subprocess.run(
        [sys.executable, "-c", measure, *status],
        env={**os.environ, "PHONECTL_TOKEN_CACHE": str(cache)},
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    assert json.loads(done.stdout)["cache"] == f"file {cache}"
    assert "Traceback" not in done.stderr
    peak_kib = int(done.stderr.splitlines()[-1])
    assert peak_kib < 200 * 1024, peak_kib
