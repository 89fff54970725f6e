"""Profiles: several remembered sign-ins (an MSP's tenants, an admin's two accounts), each
with its own settings and tokens, through real processes against the login-host double and
the emulator. One profile's token is never sent on behalf of another."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from login_host import (
    OTHER_TENANT_DOMAIN,
    OTHER_TENANT_ID,
    TENANT_DOMAIN,
    TENANT_ID,
    LoginHostFixture,
)
from support import EXAMPLE_PHONE_ID, bearer, graph_calls, run_phonectl, sent_token

from phonectl.config import config_path
from phonectl.sandbox.server import GraphEmulator

GET = ("get", EXAMPLE_PHONE_ID, "-o", "json")


@pytest.fixture
def signed_out_graph(graph: GraphEmulator, monkeypatch: pytest.MonkeyPatch) -> GraphEmulator:
    monkeypatch.delenv("PHONECTL_ACCESS_TOKEN")
    return graph


def sign_in(*args: str) -> str:
    done = run_phonectl("auth", "login", *args)
    assert done.returncode == 0, done.stderr
    said: str = done.stderr
    return said


@pytest.fixture
def two_profiles(signed_out_graph: GraphEmulator, login_host: LoginHostFixture) -> list[str]:
    """`default` signed in to contoso, `fabrikam` to fabrikam: their access tokens."""
    sign_in("--tenant", TENANT_DOMAIN)
    said = sign_in("--profile", "fabrikam", "--tenant", OTHER_TENANT_DOMAIN)
    assert f"(tenant {OTHER_TENANT_ID})" in said
    assert "Remembered for later runs of profile fabrikam (--profile fabrikam)" in said
    return login_host.host.issued_access_tokens[-2:]


@pytest.mark.parametrize("where", ["before", "after", "env"])
def test_each_run_carries_its_own_profiles_token_and_calls_no_login_host(
    two_profiles: list[str],
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    where: str,
) -> None:
    contoso, fabrikam = two_profiles
    login_host.host.seen.clear()
    if where == "before":
        done = run_phonectl("--profile", "fabrikam", *GET)
    elif where == "after":
        done = run_phonectl(*GET, "--profile", "fabrikam")
    else:
        done = run_phonectl(*GET, env={"PHONECTL_PROFILE": "fabrikam"})
    assert done.returncode == 0, done.stderr
    default = run_phonectl(*GET)
    assert default.returncode == 0, default.stderr
    assert [sent_token(c) for c in graph_calls(signed_out_graph)] == [
        bearer(fabrikam),
        bearer(contoso),
    ]
    assert login_host.host.seen == []


def test_a_second_login_keeps_the_first(
    two_profiles: list[str], signed_out_graph: GraphEmulator
) -> None:
    config = json.loads(config_path().read_text())
    assert config["tenant"] == TENANT_DOMAIN  # the default profile, where it always was
    assert config["profiles"]["fabrikam"]["tenant"] == OTHER_TENANT_DOMAIN
    assert config["profiles"]["fabrikam"]["account"]["tenant_id"] == OTHER_TENANT_ID


def test_auth_list_shows_every_profile_without_a_network_call(
    two_profiles: list[str], login_host: LoginHostFixture
) -> None:
    login_host.host.seen.clear()
    done = run_phonectl("auth", "list", "-o", "json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [(p["name"], p["tenant"], p["default"], p["unattended"]) for p in listed] == [
        ("default", TENANT_ID, True, True),
        ("fabrikam", OTHER_TENANT_ID, False, True),
    ]
    assert {p["cloud"] for p in listed} == {"global"}
    assert all(p["account"] for p in listed)
    table = run_phonectl("auth", "list", env={"COLUMNS": "100"})
    assert table.stdout.splitlines()[0].split() == [
        "Profile",
        "Default",
        "Account",
        "Tenant",
        "Cloud",
        "Unattended",
    ]
    assert login_host.host.seen == []


def test_switch_makes_a_profile_the_default(
    two_profiles: list[str], signed_out_graph: GraphEmulator
) -> None:
    contoso, fabrikam = two_profiles
    switched = run_phonectl("auth", "switch", "fabrikam")
    assert switched.returncode == 0, switched.stderr
    assert "Profile fabrikam is now the default" in switched.stderr
    assert run_phonectl(*GET).returncode == 0
    assert run_phonectl("--profile", "default", *GET).returncode == 0
    assert [sent_token(c) for c in graph_calls(signed_out_graph)] == [
        bearer(fabrikam),
        bearer(contoso),
    ]
    listed = json.loads(run_phonectl("auth", "list", "-o", "json").stdout)
    assert [p["name"] for p in listed if p["default"]] == ["fabrikam"]


def test_logout_of_one_profile_forgets_only_it(
    two_profiles: list[str], signed_out_graph: GraphEmulator
) -> None:
    import keyring

    contoso, _ = two_profiles
    assert keyring.get_password("phonectl", "token-cache@fabrikam") is not None
    out = run_phonectl("auth", "logout", "--profile", "fabrikam")
    assert out.returncode == 0, out.stderr
    assert run_phonectl("--profile", "fabrikam", *GET).returncode == 3
    assert run_phonectl(*GET).returncode == 0
    assert [sent_token(c) for c in graph_calls(signed_out_graph)] == [bearer(contoso)]
    assert keyring.get_password("phonectl", "token-cache@fabrikam") is None
    assert keyring.get_password("phonectl", "token-cache") is not None


@pytest.mark.parametrize("name", ["nosuch", "../x", "a b", "", "fabrikam.0", "x@y", "-x"])
def test_an_unknown_empty_or_malformed_profile_is_exit_2_before_anything_is_sent(
    two_profiles: list[str], signed_out_graph: GraphEmulator, name: str
) -> None:
    # An empty one too: a cron line's unset "$TENANT" must not fall back to the default.
    done = run_phonectl("--profile", name, *GET)
    assert done.returncode == 2, done.stderr
    assert graph_calls(signed_out_graph) == []
    switched = run_phonectl("auth", "switch", name)
    assert switched.returncode == 2
    assert "Traceback" not in done.stderr + switched.stderr
    if name != "nosuch":  # a well-formed new name is what login makes profiles with
        assert run_phonectl("auth", "login", "--profile", name).returncode == 2


def test_profile_names_match_whatever_their_case(
    two_profiles: list[str], signed_out_graph: GraphEmulator
) -> None:
    _, fabrikam = two_profiles
    assert run_phonectl("--profile", "FabriKam", *GET).returncode == 0
    assert [sent_token(c) for c in graph_calls(signed_out_graph)] == [bearer(fabrikam)]


def test_profiles_sharing_one_cache_file_keep_each_others_tokens(
    signed_out_graph: GraphEmulator,
    login_host: LoginHostFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("PHONECTL_TOKEN_CACHE", str(tmp_path / "tokens.json"))
    sign_in("--tenant", TENANT_DOMAIN)
    sign_in("--profile", "fabrikam", "--tenant", OTHER_TENANT_DOMAIN)
    contoso, fabrikam = login_host.host.issued_access_tokens[-2:]
    login_host.host.seen.clear()
    assert run_phonectl(*GET).returncode == 0
    assert run_phonectl("--profile", "fabrikam", *GET).returncode == 0
    assert login_host.host.seen == []  # both warm: the second login kept the first's tokens
    out = run_phonectl("auth", "logout", "--profile", "fabrikam")
    assert out.returncode == 0, out.stderr
    assert run_phonectl("--profile", "fabrikam", *GET).returncode == 3
    assert run_phonectl(*GET).returncode == 0  # logging fabrikam out left contoso alone
    sent = [sent_token(c) for c in graph_calls(signed_out_graph)]
    assert sent == [bearer(contoso), bearer(fabrikam), bearer(contoso)]


def test_auth_list_shows_a_broken_profile_beside_the_good_ones(
    two_profiles: list[str],
) -> None:
    config = json.loads(config_path().read_text())
    config["profiles"]["broken"] = {"account": "not an object"}
    config_path().write_text(json.dumps(config))
    done = run_phonectl("auth", "list", "-o", "json")
    assert done.returncode == 0, done.stderr
    listed = {p["name"]: p for p in json.loads(done.stdout)}
    assert listed["fabrikam"]["unattended"] is True
    assert listed["broken"]["unattended"] is False
    assert listed["broken"]["unattendedReason"].startswith("unusable: ")


def test_a_config_from_before_profiles_is_the_default_profile_untouched(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture
) -> None:
    sign_in("--tenant", TENANT_DOMAIN)
    config = json.loads(config_path().read_text())
    # What the last release wrote: a flat object, no profiles.
    old = {k: v for k, v in config.items() if k != "account"}
    old["account"] = {
        k: v for k, v in config["account"].items() if k not in {"tenant", "graph_url"}
    }
    old["graph_url"] = signed_out_graph.url  # (only so this test's Graph is the bound one)
    text = json.dumps(old, indent=2)
    config_path().write_text(text)
    login_host.host.seen.clear()
    done = run_phonectl(*GET)
    assert done.returncode == 0, done.stderr
    assert login_host.host.seen == []
    listed = json.loads(run_phonectl("auth", "list", "-o", "json").stdout)
    assert [(p["name"], p["default"], p["unattended"]) for p in listed] == [("default", True, True)]
    assert config_path().read_text() == text  # untouched until the user changes something


def test_completion_offers_profile_names(two_profiles: list[str]) -> None:
    done = run_phonectl(
        env={
            "_PHONECTL_COMPLETE": "complete_bash",
            "COMP_WORDS": "phonectl --profile f",
            "COMP_CWORD": "2",
        }
    )
    assert "fabrikam" in done.stdout.split()
    assert "default" not in done.stdout.split()


def test_two_logins_at_once_keep_both_profiles(
    signed_out_graph: GraphEmulator, login_host: LoginHostFixture, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    login_host.host.behaviour.token_delay = 0.2  # both are signing in at the same moment
    # Each its own token cache file: what is shared is the config file.
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "phonectl", "auth", "login", "--profile", name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PHONECTL_TOKEN_CACHE": str(tmp_path / f"{name}.json")},
        )
        for name in ("one", "two")
    ]
    codes = [p.wait(timeout=60) for p in procs]
    assert codes == [0, 0], [p.stderr.read() if p.stderr else "" for p in procs]
    config = json.loads(config_path().read_text())
    assert sorted(config["profiles"]) == ["one", "two"]


def test_a_config_change_waits_for_the_lock_another_holds(two_profiles: list[str]) -> None:
    # The race two logins run is rare to catch; the lock itself is not: while this test holds
    # it, `auth switch` cannot write, and it finishes once the lock is free.
    import subprocess
    import sys
    import time

    from phonectl.files import exclusive_lock

    lock = config_path().with_name(config_path().name + ".lock")
    with exclusive_lock(lock, wait=5):
        switch = subprocess.Popen(
            [sys.executable, "-m", "phonectl", "auth", "switch", "fabrikam"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.5)  # far longer than a switch takes when the lock is free
        assert switch.poll() is None  # still waiting
        assert "current_profile" not in json.loads(config_path().read_text())
    assert switch.wait(timeout=30) == 0
    assert json.loads(config_path().read_text())["current_profile"] == "fabrikam"
