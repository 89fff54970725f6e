"""Sign-in against a login host that answers as Microsoft Entra ID publishes (tests/
login_host.py): warm runs for every spelling of the tenant, one refresh when a token
expires or Graph refuses it (401), --debug showing the login host's calls, Entra's refusals
in its own words, and cached tokens sent only to the Graph root they were obtained for.
Everything runs as real processes, counting the requests each double received."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from login_host import OTHER_TENANT_DOMAIN, TENANT_DOMAIN, TENANT_ID, LoginHostFixture
from support import EXAMPLE_PHONE_ID, add_users, bearer, graph_calls, run_phonectl, sent_token

from phonectl.sandbox.server import Fault, GraphEmulator

GET = ("get", EXAMPLE_PHONE_ID, "-o", "json")
SPELLINGS = [
    TENANT_DOMAIN,
    TENANT_DOMAIN.upper(),
    "contoso.com",
    TENANT_ID,
    "organizations",
    "common",
]


@pytest.fixture
def signed_out_graph(graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch) -> GraphEmulator:
    monkeypatch.delenv("PHONECTL_ACCESS_TOKEN")
    return graph


@pytest.fixture
def host(login_host: LoginHostFixture) -> Iterator[LoginHostFixture]:
    yield login_host


def sign_in(*args: str) -> None:
    done = run_phonectl("auth", "login", *args)
    assert done.returncode == 0, done.stderr
    assert f"(tenant {TENANT_ID})" in done.stderr


def debug_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("debug: ")]


@pytest.mark.parametrize("tenant", SPELLINGS)
def test_a_warm_run_calls_only_graph_whatever_the_tenants_spelling(
    signed_out_graph: GraphEmulator, host: LoginHostFixture, tenant: str
) -> None:
    sign_in("--tenant", tenant)
    host.host.seen.clear()
    done = run_phonectl("--debug", *GET)
    assert done.returncode == 0, done.stderr
    assert host.host.seen == []  # no discovery, no token request
    (call,) = graph_calls(signed_out_graph)
    assert sent_token(call) == bearer(host.host.issued_access_tokens[-1])
    # --debug shows every HTTP call: here there was one, Graph's.
    (line,) = debug_lines(done.stderr)
    assert line.startswith(f"debug: GET {signed_out_graph.url}/beta/me/profile/phones/")


@pytest.mark.parametrize("tenant", SPELLINGS)
def test_an_expired_token_is_refreshed_with_one_token_request(
    signed_out_graph: GraphEmulator, host: LoginHostFixture, tenant: str
) -> None:
    host.host.behaviour.access_token_lifetime = 10  # inside the 5-minute margin: stale
    sign_in("--tenant", tenant)
    host.host.seen.clear()
    done = run_phonectl(*GET)
    assert done.returncode == 0, done.stderr
    (refresh,) = host.host.token_requests()
    assert refresh.form["grant_type"] == "refresh_token"
    (call,) = graph_calls(signed_out_graph)
    assert sent_token(call) == bearer(host.host.issued_access_tokens[-1])


def test_a_sign_in_for_one_tenant_is_not_used_for_another(
    signed_out_graph: GraphEmulator, host: LoginHostFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Neither its access token nor its refresh token: Entra would redeem the refresh token
    # in any tenant the account may enter, so asking would already be using it.
    host.host.behaviour.access_token_lifetime = 10  # stale: a run would have to refresh
    sign_in("--tenant", TENANT_DOMAIN)
    host.host.seen.clear()
    monkeypatch.setenv("PHONECTL_TENANT", OTHER_TENANT_DOMAIN)
    done = run_phonectl(*GET)
    assert done.returncode == 3
    assert f"is for tenant {TENANT_DOMAIN}, not {OTHER_TENANT_DOMAIN}" in done.stderr
    assert f"phonectl auth login --tenant {OTHER_TENANT_DOMAIN}" in done.stderr
    status = run_phonectl("auth", "status", "-o", "json")
    assert status.returncode == 3 and '"usable": false' in status.stdout
    assert host.host.seen == [] and graph_calls(signed_out_graph) == []


def test_debug_shows_the_login_hosts_calls_with_no_secret(
    signed_out_graph: GraphEmulator, host: LoginHostFixture
) -> None:
    done = run_phonectl("--debug", "auth", "login", "--tenant", TENANT_DOMAIN)
    assert done.returncode == 0, done.stderr
    lines = debug_lines(done.stderr)
    assert lines[0].startswith(
        f"debug: GET {host.host.url}/{TENANT_DOMAIN}/v2.0/.well-known/openid-configuration -> 200"
    )
    assert any(
        f"POST {host.host.url}/{TENANT_ID}/oauth2/v2.0/devicecode -> 200" in x for x in lines
    )
    assert any(f"POST {host.host.url}/{TENANT_ID}/oauth2/v2.0/token -> 200" in x for x in lines)
    assert len(lines) == len(host.host.seen)
    for token in host.host.issued_access_tokens + sorted(host.host.valid_refresh_tokens):
        assert token not in done.stderr + done.stdout


def test_an_unknown_tenant_is_refused_in_entras_words(host: LoginHostFixture) -> None:
    done = run_phonectl("auth", "login", "--tenant", "nosuch.onmicrosoft.com")
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    assert "nosuch.onmicrosoft.com" in done.stderr


@pytest.mark.parametrize(("refusal", "code"), [("expired", "700082"), ("revoked", "50173")])
def test_a_dead_refresh_token_is_exit_3_with_entras_reason(
    signed_out_graph: GraphEmulator, host: LoginHostFixture, refusal: str, code: str
) -> None:
    host.host.behaviour.access_token_lifetime = 10
    host.host.behaviour.refresh_refusal = refusal
    sign_in()
    host.host.valid_refresh_tokens.clear()
    done = run_phonectl(*GET)
    assert done.returncode == 3
    assert f"invalid_grant: AADSTS{code}" in done.stderr
    assert "hint: run 'phonectl auth login'" in done.stderr
    assert graph_calls(signed_out_graph) == []


def test_device_flow_polls_through_pending_and_slow_down(host: LoginHostFixture) -> None:
    host.host.behaviour.pending_polls = 1
    host.host.behaviour.slow_down_polls = 1  # MSAL then polls 5 s less often, as asked
    sign_in()
    polls = [c.form["grant_type"] for c in host.host.token_requests()]
    assert polls == ["urn:ietf:params:oauth:grant-type:device_code"] * 3


def test_a_401_is_refreshed_once_and_the_request_sent_again(
    signed_out_graph: GraphEmulator, host: LoginHostFixture
) -> None:
    sign_in()
    first = host.host.issued_access_tokens[-1]
    host.host.seen.clear()
    signed_out_graph.add_fault(Fault(status=401, count=1))  # revoked, or expired early
    done = run_phonectl("update", EXAMPLE_PHONE_ID, "--type", "mobile", "-o", "json")
    assert done.returncode == 0, done.stderr
    (refresh,) = host.host.token_requests()
    assert refresh.form["grant_type"] == "refresh_token"
    refused, resent = graph_calls(signed_out_graph)
    assert (refused.method, resent.method) == ("PATCH", "PATCH")
    assert sent_token(refused) == bearer(first)
    assert sent_token(resent) == bearer(host.host.issued_access_tokens[-1]) != bearer(first)


def test_a_second_401_is_exit_3_after_one_refresh(
    signed_out_graph: GraphEmulator, host: LoginHostFixture
) -> None:
    sign_in()
    host.host.seen.clear()
    signed_out_graph.add_fault(Fault(status=401, count=5))
    done = run_phonectl(*GET)
    assert done.returncode == 3, done.stderr
    assert len(host.host.token_requests()) == 1
    assert len(graph_calls(signed_out_graph)) == 2


def test_a_401_with_a_dead_refresh_token_is_exit_3_with_the_sign_in_hint(
    signed_out_graph: GraphEmulator, host: LoginHostFixture
) -> None:
    sign_in()
    host.host.valid_refresh_tokens.clear()
    signed_out_graph.add_fault(Fault(status=401, count=1))
    done = run_phonectl(*GET)
    assert done.returncode == 3
    assert "phonectl auth login" in done.stderr
    assert len(graph_calls(signed_out_graph)) == 1


def test_a_refused_environment_token_is_exit_3_without_a_refresh(
    graph: GraphEmulator, host: LoginHostFixture
) -> None:
    graph.add_fault(Fault(status=401, count=1))
    done = run_phonectl(*GET)
    assert done.returncode == 3
    assert host.host.seen == []
    assert len(graph_calls(graph)) == 1


def test_an_apply_that_outlives_its_token_refreshes_once_and_finishes(
    signed_out_graph: GraphEmulator, host: LoginHostFixture, tmp_path: object
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    sign_in()
    host.host.seen.clear()
    rows = tmp_path / "rows.csv"
    rows.write_text(f"user,id,number\n,{EXAMPLE_PHONE_ID},+1 425 555 0100\n")
    # The token dies between the read and the write.
    signed_out_graph.add_fault(
        Fault(status=401, count=1, method="POST", after=1, per_http_request=True)
    )
    done = run_phonectl("apply", str(rows), "-o", "json")
    assert done.returncode == 0, done.stderr
    assert '"updated"' in done.stdout
    assert len(host.host.token_requests()) == 1


def test_the_signed_in_token_goes_only_to_the_graph_root_it_was_obtained_for(
    signed_out_graph: GraphEmulator,
    host: LoginHostFixture,
    emulator: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sign_in()
    # Another Graph (a `sandbox serve` left running, a proxy): no token of the account's.
    monkeypatch.setenv("PHONECTL_GRAPH_URL", emulator.url)
    done = run_phonectl(*GET)
    assert done.returncode == 3
    assert f"is for Graph at {signed_out_graph.url}" in done.stderr
    assert "PHONECTL_ACCESS_TOKEN" in done.stderr
    assert graph_calls(emulator) == []
    for token in host.host.issued_access_tokens:
        assert token not in done.stderr
    # With a token of its own it goes.
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", "token-for-the-other-server")
    done = run_phonectl(*GET)
    assert done.returncode == 0, done.stderr
    assert [sent_token(c) for c in graph_calls(emulator)] == [bearer("token-for-the-other-server")]


def test_a_config_from_before_the_root_was_kept_binds_the_token_to_its_clouds_graph(
    host: LoginHostFixture, emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from phonectl.config import config_path

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "cloud": "global",
                "tenant": TENANT_DOMAIN,
                "client_id": host.client_id,
                "account": {
                    "home_account_id": "x.y",
                    "username": "a@contoso.com",
                    "tenant_id": TENANT_ID,
                },
            }
        )
    )
    path.chmod(0o600)
    monkeypatch.setenv("PHONECTL_GRAPH_URL", emulator.url)
    done = run_phonectl(*GET)
    assert done.returncode == 3
    assert "is for Graph at https://graph.microsoft.com" in done.stderr
    assert graph_calls(emulator) == []


@pytest.mark.parametrize("browser", ["/bin/false %s", None])
def test_browser_sign_in_with_no_browser_ends_in_its_timeout_with_the_device_code_hint(
    host: LoginHostFixture, browser: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A browser that fails to start, or none at all. PATH is empty so that webbrowser finds
    # no other one on this machine (xdg-open, www-browser) to try after it.
    env = {"PHONECTL_TIMEOUT": "1", "DISPLAY": "", "WAYLAND_DISPLAY": "", "PATH": ""}
    if browser is None:
        monkeypatch.delenv("BROWSER", raising=False)
    else:
        env["BROWSER"] = browser
    done = run_phonectl("auth", "login", "--browser", env=env, timeout=60)
    assert done.returncode == 3, done.stderr
    assert "No browser could be opened here; open this address in a browser" in done.stderr
    assert f"{host.host.url}/" in done.stderr and "/oauth2/v2.0/authorize?" in done.stderr
    assert "hint: sign in with a device code instead: phonectl auth login" in done.stderr
    assert "Found no browser" not in done.stderr  # MSAL's own text never reaches the user
    assert "Traceback" not in done.stderr


def test_an_apply_that_outlives_two_tokens_refreshes_each_once(
    signed_out_graph: GraphEmulator, host: LoginHostFixture, tmp_path: Path
) -> None:
    add_users(signed_out_graph, 60)
    sign_in("--scope", "User.ReadWrite.All")
    host.host.seen.clear()
    rows = tmp_path / "rows.csv"
    rows.write_text(
        "user,id,number\n"
        + "".join(f"user{n}@contoso.com,u{n}-p0,+1 425 555 {n:04}\n" for n in range(60))
    )
    # Graph refuses the first token on the 2nd $batch, the refreshed one on a later one.
    for after in (1, 3):
        signed_out_graph.add_fault(
            Fault(status=401, count=1, method="POST", after=after, per_http_request=True)
        )
    done = run_phonectl("apply", str(rows), "--concurrency", "1", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count('"updated"') == 60
    assert [c.form["grant_type"] for c in host.host.token_requests()] == ["refresh_token"] * 2
