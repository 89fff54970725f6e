"""Sign-in against a local HTTPS login host with the real MSAL and a real keyring backend:
device flow, the warm path, silent refresh, cron without a terminal, status, logout, and a
cache that survives capped, missing, hanging and damaged keyrings."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import select_keyring_backend
from login_host import TENANT_ID, USERNAME, LoginHostFixture
from support import (
    EXAMPLE_PHONE_ID,
    Run,
    bearer,
    graph_calls,
    run_on_terminal,
    run_phonectl,
    unexpected_warning,
)

from phonectl.config import config_path
from phonectl.sandbox.server import GraphEmulator
from phonectl.settings import Flags, load_settings

UPDATE = ("update", EXAMPLE_PHONE_ID, "--type", "mobile", "-o", "json")


@pytest.fixture
def signed_out_graph(graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch) -> GraphEmulator:
    """The Graph emulator, with no PHONECTL_ACCESS_TOKEN: tokens must come from sign-in."""
    monkeypatch.delenv("PHONECTL_ACCESS_TOKEN")
    return graph


def use_keyring(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", backend)
    select_keyring_backend()


def login(phonectl: Run, *args: str) -> str:
    """Sign in through the test login host; what login said on stderr."""
    result = phonectl("auth", "login", *args)
    assert result.exit_code == 0, result.stderr
    assert "enter the code PHN-CTL1" in result.stderr
    assert f"Signed in as {USERNAME} (tenant {TENANT_ID})" in result.stderr
    assert result.stdout == ""
    return result.stderr


def test_login_then_a_warm_command_calls_only_graph_once(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    host = login_host.host
    login(phonectl)
    assert len(host.calls("/devicecode")) == 1
    assert len(host.calls("/token")) == 1
    host.seen.clear()

    result = phonectl(*UPDATE)
    assert result.exit_code == 0, result.stderr
    assert host.seen == []  # no discovery, no token call: the warm path never meets MSAL
    (call,) = graph_calls(signed_out_graph)
    assert call.credential == bearer(host.issued_access_tokens[-1])


def test_login_remembers_its_settings_for_later_runs(
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    said = login(phonectl, "--tenant", "contoso.onmicrosoft.com", "--scope", "User.ReadWrite.All")
    remembered = json.loads(config_path().read_text())
    assert remembered["tenant"] == "contoso.onmicrosoft.com"
    assert remembered["client_id"] == login_host.client_id
    assert remembered["scopes"] == ["User.ReadWrite", "User.ReadWrite.All"]
    assert remembered["account"]["username"] == USERNAME
    # Loopback hosts (this test's login host, a `sandbox serve`) are never remembered, and
    # login says so: a later run against them would hand tokens to whoever listens there.
    assert "authority_host" not in remembered and "graph_url" not in remembered
    assert f"Not remembered: authority_host {login_host.host.url} (loopback)" in said
    assert f"Not remembered: graph_url {signed_out_graph.url} (loopback)" in said
    assert "Remembered for later runs: cloud global, tenant contoso.onmicrosoft.com" in said
    assert stat.S_IMODE(config_path().stat().st_mode) == 0o600
    # Discovery is asked under the domain typed; Entra answers with endpoints under the GUID.
    (discovery,) = login_host.host.calls("/openid-configuration")
    assert discovery.path.startswith("/contoso.onmicrosoft.com/")
    assert login_host.host.calls("/token")[0].path.startswith(f"/{TENANT_ID}/")
    # A later run needs neither the client id nor the tenant in its environment.
    monkeypatch.delenv("PHONECTL_CLIENT_ID")
    login_host.host.seen.clear()
    assert phonectl(*UPDATE).exit_code == 0
    assert login_host.host.seen == []


def test_an_expired_access_token_is_refreshed_silently_and_persisted(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    host = login_host.host
    host.behaviour.access_token_lifetime = 10  # inside the 5-minute margin: always stale
    login(phonectl)
    for round_ in (1, 2):
        issued = host.issued_refresh_tokens[-1]
        result = phonectl(*UPDATE)
        assert result.exit_code == 0, result.stderr
        refreshes = host.calls("/token", grant_type="refresh_token")
        assert len(refreshes) == round_
        # Each refresh redeems the newest refresh token: the one the previous run was given
        # (at login, or by its own refresh) was persisted, not the first one kept.
        assert refreshes[-1].form["refresh_token"] == issued
    assert graph_calls(signed_out_graph)[-1].credential == bearer(host.issued_access_tokens[-1])
    assert host.calls("/devicecode") == [host.calls("/devicecode")[0]]  # only the login's


def test_no_cache_and_no_terminal_exits_3_at_once_without_a_device_code(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture
) -> None:
    started = time.monotonic()
    done = run_phonectl(*UPDATE)
    elapsed = time.monotonic() - started
    assert done.returncode == 3
    assert elapsed < 2
    assert "phonectl auth login" in done.stderr
    assert login_host.host.seen == []
    assert graph_calls(signed_out_graph) == []


@pytest.mark.parametrize(
    ("outcome", "error"), [("declined", "authorization_declined"), ("expired", "expired_token")]
)
def test_a_declined_or_expired_device_flow_exits_3(
    login_host: LoginHostFixture, phonectl: Run, outcome: str, error: str
) -> None:
    login_host.host.behaviour.device_outcome = outcome
    result = phonectl("auth", "login")
    assert result.exit_code == 3
    assert f"sign-in failed: {error}" in result.stderr
    assert not config_path().exists()


def test_device_flow_waits_through_pending_polls(
    login_host: LoginHostFixture, phonectl: Run
) -> None:
    login_host.host.behaviour.pending_polls = 2
    login(phonectl)
    assert len(login_host.host.calls("/token")) == 3


def test_status_reports_a_usable_cached_sign_in(
    login_host: LoginHostFixture, phonectl: Run
) -> None:
    login(phonectl, "--scope", "User.ReadWrite.All")
    login_host.host.seen.clear()
    result = phonectl("auth", "status", "-o", "json")
    assert result.exit_code == 0, result.stderr
    report = result.json()
    assert report["account"] == USERNAME
    assert report["tenant"] == TENANT_ID
    assert report["cloud"] == "global"
    assert report["scopes"] == ["User.ReadWrite", "User.ReadWrite.All"]
    assert report["tokenSource"] == "cache"
    assert report["accessTokenExpires"].startswith("20")
    assert report["cache"] == "keyring keyrings.alt.file.PlaintextKeyring"
    assert report["usable"] is True
    assert login_host.host.seen == []
    table = phonectl("auth", "status")
    assert "Token from     the token cache\n" in table.stdout  # in words, like a phone's card
    assert "Unattended     yes\n" in table.stdout


def test_status_refreshes_and_exits_3_when_the_refresh_token_is_dead(
    login_host: LoginHostFixture, phonectl: Run
) -> None:
    login_host.host.behaviour.access_token_lifetime = 10
    login(phonectl)
    assert phonectl("auth", "status", "-o", "json").json()["tokenSource"] == "refresh"
    login_host.host.valid_refresh_tokens.clear()  # 90 days unused, or revoked
    result = phonectl("auth", "status", "-o", "json")
    assert result.exit_code == 3
    assert result.json()["usable"] is False
    assert "phonectl auth login" in result.stderr


def test_status_without_any_sign_in_exits_3(login_host: LoginHostFixture, phonectl: Run) -> None:
    result = phonectl("auth", "status", "-o", "json")
    assert result.exit_code == 3
    assert result.json()["tokenSource"] is None


def test_status_names_an_environment_token(phonectl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    # header.payload.signature with exp = 2000000000
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", "e30.eyJleHAiOiAyMDAwMDAwMDAwfQ.sig")
    report = phonectl("auth", "status", "-o", "json").json()
    assert report["tokenSource"] == "env"
    assert report["accessTokenExpires"] == "2033-05-18T03:33:20+00:00"


def test_logout_removes_the_account_and_its_tokens(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    login(phonectl)
    result = phonectl("auth", "logout")
    assert result.exit_code == 0
    assert f"Signed out of {USERNAME}" in result.stderr
    assert "account" not in json.loads(config_path().read_text())
    keyring_file = Path(os.environ["XDG_DATA_HOME"]) / "python_keyring" / "keyring_pass.cfg"
    assert "token-cache" not in keyring_file.read_text()
    assert phonectl(*UPDATE).exit_code == 3
    assert phonectl("auth", "status").exit_code == 3


def test_the_token_cache_file_is_private_and_remembered(
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    cache_file = tmp_path / "cron" / "phonectl-tokens.json"
    monkeypatch.setenv("PHONECTL_TOKEN_CACHE", str(cache_file))
    login(phonectl)
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    assert "RefreshToken" in cache_file.read_text()
    monkeypatch.delenv("PHONECTL_TOKEN_CACHE")  # login remembered where it is
    assert phonectl(*UPDATE).exit_code == 0
    report = phonectl("auth", "status", "-o", "json").json()
    assert report["cache"] == f"file {cache_file}"


@pytest.mark.parametrize("damage", ["not json at all", '{"AccessToken": [1, 2]}'])
def test_a_damaged_cache_file_is_a_warning_and_counts_as_empty(
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    damage: str,
) -> None:
    cache_file = tmp_path / "tokens.json"
    monkeypatch.setenv("PHONECTL_TOKEN_CACHE", str(cache_file))
    login(phonectl)
    cache_file.write_text(damage)
    result = phonectl(*UPDATE)
    assert result.exit_code == 3
    assert result.stderr.count("warning: the token cache is unreadable") == 1  # said once
    assert "Traceback" not in result.stderr
    assert graph_calls(signed_out_graph) == []


def test_a_damaged_keyring_entry_is_a_warning_and_counts_as_empty(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    import keyring

    login(phonectl)
    header = json.loads(keyring.get_password("phonectl", "token-cache") or "{}")
    keyring.set_password("phonectl", f"token-cache.{header['generation']}.0", "tampered")
    result = phonectl(*UPDATE)
    assert result.exit_code == 3
    assert "does not match its checksum" in result.stderr


def test_a_size_capped_keyring_holds_the_cache_in_chunks(
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keyring

    use_keyring(monkeypatch, "keyring_backends.CappedKeyring")
    login(phonectl)
    header = json.loads(keyring.get_password("phonectl", "token-cache") or "{}")
    assert header["chunks"] >= 3  # an MSAL cache is several KB; Windows keeps 1280 chars
    login_host.host.seen.clear()
    assert phonectl(*UPDATE).exit_code == 0
    assert login_host.host.seen == []


def test_without_a_keyring_backend_the_message_points_at_a_cache_file(
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_keyring(monkeypatch, "keyring.backends.fail.Keyring")
    for args in (("auth", "login"), UPDATE):
        result = phonectl(*args)
        assert result.exit_code == 3
        assert "no OS keyring is available" in result.stderr
        assert "PHONECTL_TOKEN_CACHE" in result.stderr
    assert login_host.host.seen == []


def test_a_hanging_keyring_times_out_with_a_clear_message(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture
) -> None:
    started = time.monotonic()
    done = run_phonectl(
        *UPDATE,
        env={
            "PYTHON_KEYRING_BACKEND": "keyring_backends.HangingKeyring",
            "PHONECTL_KEYRING_TIMEOUT": "0.3",
        },
    )
    assert done.returncode == 3
    assert "the OS keyring did not answer within 0.3 s" in done.stderr
    assert time.monotonic() - started < 10


def test_two_processes_refreshing_at_once_refresh_once_and_keep_the_cache_whole(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    host = login_host.host
    host.behaviour.access_token_lifetime = 10
    login(phonectl)
    host.behaviour.access_token_lifetime = 3600
    host.behaviour.token_delay = 0.3  # both processes are waiting while one refreshes
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "phonectl", *UPDATE],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0, 0], results
    # The second waited for the lock, then found the first one's fresh token.
    assert len(host.calls("/token", grant_type="refresh_token")) == 1
    assert phonectl("auth", "status", "-o", "json").json()["tokenSource"] == "cache"


def test_no_client_id_exits_2_saying_how_to_register_one(
    login_host: LoginHostFixture, phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHONECTL_CLIENT_ID")
    result = phonectl("auth", "login")
    assert result.exit_code == 2
    assert "register a public-client app" in result.stderr
    assert login_host.host.seen == []


def test_no_token_byte_reaches_any_output(
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = login_host.host
    host.behaviour.access_token_lifetime = 10
    monkeypatch.setenv("PHONECTL_DEBUG", "1")
    outputs = [phonectl("auth", "login")]
    outputs += [phonectl(*UPDATE), phonectl("auth", "status", "-o", "json"), phonectl("get", "x")]
    text = "".join(r.stdout + r.stderr for r in outputs)
    secrets = host.issued_access_tokens + sorted(host.valid_refresh_tokens)
    assert len(secrets) >= 4
    for secret in secrets:
        assert secret not in text
        assert secret not in config_path().read_text()


def test_settings_precedence_is_flag_env_file_default() -> None:
    remembered = {"tenant": "file.example", "cloud": "usgov", "client_id": "from-file"}
    from_file = load_settings(Flags(), {}, remembered, warn=unexpected_warning)
    assert (from_file.tenant, from_file.cloud.value, from_file.client_id) == (
        "file.example",
        "usgov",
        "from-file",
    )
    assert from_file.authority == "https://login.microsoftonline.us/file.example"
    env = {"PHONECTL_TENANT": "env.example", "PHONECTL_CLOUD": "china"}
    from_env = load_settings(Flags(), env, remembered, warn=unexpected_warning)
    assert (from_env.tenant, from_env.cloud.value) == ("env.example", "china")
    from_flag = load_settings(
        Flags(tenant="flag.example"), env, remembered, warn=unexpected_warning
    )
    assert from_flag.tenant == "flag.example"
    assert load_settings(Flags(), {}, {}, warn=unexpected_warning).tenant == "organizations"


def test_browser_login_uses_pkce_on_a_loopback_redirect(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture
) -> None:
    # A trailing & makes webbrowser start it in the background, as a real browser runs.
    browser = f"{sys.executable} {Path(__file__).parent / 'fake_browser.py'} %s &"
    done = run_phonectl("auth", "login", "--browser", env={"BROWSER": browser})
    assert done.returncode == 0, done.stderr
    assert f"Signed in as {USERNAME}" in done.stderr
    host = login_host.host
    assert len([s for s in host.seen if s.path.endswith("/authorize")]) == 1
    (redeem,) = host.calls("/token", grant_type="authorization_code")
    assert redeem.form["redirect_uri"].startswith("http://localhost:")
    assert redeem.form["code_verifier"]  # checked against the challenge by the host
    assert host.calls("/devicecode") == []
    assert run_phonectl(*UPDATE).returncode == 0


def test_a_command_at_a_terminal_signs_in_with_a_device_code(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture
) -> None:
    code, screen = run_on_terminal(list(UPDATE))
    assert code == 0, screen
    assert b"enter the code PHN-CTL1" in screen
    assert b'"type": "mobile"' in screen
    assert len(login_host.host.calls("/devicecode")) == 1
    # The sign-in was remembered: the next run, without a terminal, needs no one.
    assert run_phonectl(*UPDATE).returncode == 0
    assert len(login_host.host.calls("/devicecode")) == 1


def test_the_warm_path_never_imports_msal(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    from test_completion_and_start import imported_heavy

    login(phonectl)
    heavy = imported_heavy(["get", EXAMPLE_PHONE_ID, "-o", "json"])
    assert "requests" in heavy
    assert "msal" not in heavy


def test_the_warm_path_works_with_a_login_host_that_sends_no_account_info(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    login_host.host.behaviour.send_account_info = False  # no id_token, no client_info
    assert phonectl("auth", "login").exit_code == 0
    login_host.host.seen.clear()
    assert phonectl(*UPDATE).exit_code == 0
    assert login_host.host.seen == []


def test_cached_tokens_serve_only_the_tenant_and_login_host_they_were_issued_by(
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login(phonectl, "--tenant", "contoso.onmicrosoft.com")
    assert phonectl("auth", "status", "-o", "json").json()["tokenSource"] == "cache"
    # The same account asked for in another tenant: the cached token is not for it.
    monkeypatch.setenv("PHONECTL_TENANT", "fabrikam.onmicrosoft.com")
    assert phonectl("auth", "status", "-o", "json").json()["tokenSource"] != "cache"
    # The same login host under another name is another environment (as another cloud is).
    monkeypatch.delenv("PHONECTL_TENANT")
    port = login_host.host.server_address[1]
    monkeypatch.setenv("PHONECTL_AUTHORITY_HOST", f"https://127.0.0.1:{port}")
    assert phonectl("auth", "status", "-o", "json").json()["tokenSource"] != "cache"


def test_a_login_host_that_stalls_ends_in_the_timeout_not_a_hang(
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login_host.host.behaviour.access_token_lifetime = 10  # always stale: every run refreshes
    login(phonectl)
    login_host.host.behaviour.token_delay = 5
    monkeypatch.setenv("PHONECTL_TIMEOUT", "0.5")
    result = phonectl("auth", "status")
    assert result.exit_code == 3
    assert "no answer within 0.5 s" in result.stderr
    update = phonectl(*UPDATE)
    assert update.exit_code == 6
    assert graph_calls(signed_out_graph) == []


def test_login_host_requests_carry_phonectls_user_agent(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    from phonectl import __version__

    login(phonectl)
    agents = {seen.user_agent for seen in login_host.host.seen}
    assert agents == {f"phonectl/{__version__}"}


def test_a_failed_save_of_refreshed_tokens_is_a_warning_and_the_command_runs(
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    phonectl: Run,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    login_host.host.behaviour.access_token_lifetime = 10  # every run refreshes
    login(phonectl)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring_backends.ReadOnlyKeyring")
    select_keyring_backend()
    result = phonectl(*UPDATE)
    assert result.exit_code == 0, result.stderr
    assert "warning: could not save the refreshed sign-in" in result.stderr
    assert "the keyring is read-only" in result.stderr
    assert len(graph_calls(signed_out_graph)) == 1


def test_without_a_keyring_status_points_at_a_cache_file_and_logout_has_nothing_to_do(
    phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_keyring(monkeypatch, "keyring.backends.fail.Keyring")
    status = phonectl("auth", "status")
    assert status.exit_code == 3
    assert "hint: set PHONECTL_TOKEN_CACHE" in status.stderr  # not 'auth login': that fails too
    logout = phonectl("auth", "logout")
    assert logout.exit_code == 0, logout.stderr
    assert "no keyring here and no PHONECTL_TOKEN_CACHE, so no tokens were kept" in logout.stderr


def test_status_at_a_terminal_does_not_claim_no_one_is_there(login_host: LoginHostFixture) -> None:
    code, screen = run_on_terminal(["auth", "status"], {"PHONECTL_TOKEN_CACHE": "/nonexistent/c"})
    assert code == 3
    assert b"not signed in, or the sign-in has expired" in screen
    assert b"no one is at a terminal" not in screen
    import re

    assert re.search(rb"Unattended *\x1b\[0m +no: a person must sign in\r\n", screen)


def test_a_sandbox_left_on_in_the_environment_says_so(
    phonectl: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHONECTL_SANDBOX", "1")
    result = phonectl("auth", "status")
    assert result.exit_code == 0
    assert "warning: PHONECTL_SANDBOX is set: using the built-in emulator" in result.stderr
    explicit = phonectl("--sandbox", "list", "-o", "tsv")
    assert explicit.exit_code == 0
    assert explicit.stderr == ""  # asked for on the command line: nothing to warn about


def http_workers() -> set[object]:
    import threading

    return {thread for thread in threading.enumerate() if thread.name == "http"}


def test_a_finished_command_leaves_no_http_worker_running(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture, phonectl: Run
) -> None:
    """Each HTTP session (MSAL's and Graph's) is closed and its workers joined before the
    command returns. A worker still asleep when Python shuts down, and woken then, raced the
    shutdown: Python 3.13.0 aborted `auth login` with "double free or corruption"."""
    # Workers an earlier test in this process left busy (a request past its deadline on a
    # hostile server ends on its own socket timeout) are not this test's.
    earlier = http_workers()
    login_host.host.behaviour.access_token_lifetime = 10  # every run refreshes through MSAL
    login(phonectl)
    assert http_workers() - earlier == set()
    assert phonectl(*UPDATE).exit_code == 0
    assert login_host.host.calls("/token", grant_type="refresh_token")  # MSAL's session ran
    assert http_workers() - earlier == set()
    assert phonectl("auth", "status").exit_code == 0
    assert http_workers() - earlier == set()
