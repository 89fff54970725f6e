"""Settings: flag > PHONECTL_* environment > default; unsafe Graph URLs refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import Run, unexpected_warning

from phonectl.auth import TokenSource, acquire_token
from phonectl.choices import Cloud, OutputFormat
from phonectl.errors import InvalidInput
from phonectl.settings import Flags, load_settings


def _url(phonectl: Run) -> str:
    result = phonectl("update", "p1", "--type", "home", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.stderr
    return str(result.json()["url"])


def test_cloud_flag_beats_environment(phonectl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHONECTL_CLOUD", "china")
    assert _url(phonectl).startswith("https://microsoftgraph.chinacloudapi.cn/beta/")
    result = phonectl(
        "--cloud", "usgov", "update", "p1", "--type", "home", "--dry-run", "-o", "json"
    )
    assert result.json()["url"].startswith("https://graph.microsoft.us/beta/")


def test_graph_url_override_beats_the_cloud(phonectl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHONECTL_CLOUD", "usgov")
    monkeypatch.setenv("PHONECTL_GRAPH_URL", "https://graph.example.test/")
    assert _url(phonectl) == "https://graph.example.test/beta/me/profile/phones/p1"


def test_graph_url_may_already_end_in_beta(phonectl: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHONECTL_GRAPH_URL", "http://127.0.0.1:9/beta")
    assert _url(phonectl) == "http://127.0.0.1:9/beta/me/profile/phones/p1"


@pytest.mark.parametrize(
    "url", ["http://graph.microsoft.com", "http://10.0.0.5:8080", "ftp://x", "graph.microsoft.com"]
)
def test_unsafe_graph_url_is_refused(
    phonectl: Run, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("PHONECTL_GRAPH_URL", url)
    result = phonectl("update", "p1", "--type", "home", "--dry-run")
    assert result.exit_code == 2
    assert "PHONECTL_GRAPH_URL" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "http://localhost:2", "http://[::1]:3"])
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    assert (
        load_settings(
            Flags(), {"PHONECTL_GRAPH_URL": url}, warn=unexpected_warning
        ).graph_url.text()
        == url
    )


def test_defaults() -> None:
    settings = load_settings(Flags(), {}, warn=unexpected_warning)
    assert settings.cloud is Cloud.global_
    assert settings.graph_beta_url.text() == "https://graph.microsoft.com/beta"
    assert settings.output is OutputFormat.table
    assert (settings.max_retries, settings.timeout) == (3, 30.0)
    assert settings.access_token is None


def test_environment_values_are_read_and_checked() -> None:
    env = {
        "PHONECTL_MAX_RETRIES": "5",
        "PHONECTL_TIMEOUT": "2.5",
        "PHONECTL_OUTPUT": "JSON",
        "PHONECTL_ACCESS_TOKEN": "s3cr3t-t0ken",
    }
    settings = load_settings(Flags(), env, warn=unexpected_warning)
    assert (settings.max_retries, settings.timeout) == (5, 2.5)
    assert settings.output is OutputFormat.json
    assert settings.access_token == "s3cr3t-t0ken"
    assert "s3cr3t-t0ken" not in repr(settings)
    assert f"Bearer {settings.access_token}" == "Bearer s3cr3t-t0ken"
    token = acquire_token(settings, warn=print, notify=print, at_terminal=None)
    assert (token.value, token.source) == ("s3cr3t-t0ken", TokenSource.env)
    assert "s3cr3t-t0ken" not in repr(token) + repr([token]) + str(token)
    for bad in ({"PHONECTL_TIMEOUT": "0"}, {"PHONECTL_TIMEOUT": "-1"}, {"PHONECTL_CLOUD": "mars"}):
        with pytest.raises(InvalidInput):
            load_settings(Flags(), bad, warn=unexpected_warning)


@pytest.mark.parametrize("xdg", ["/srv/conf", "", "   "])
def test_config_path_is_where_platformdirs_puts_it(
    monkeypatch: pytest.MonkeyPatch, xdg: str
) -> None:
    import platformdirs

    from phonectl.config import config_path

    monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    expected = Path(platformdirs.user_config_dir("phonectl", appauthor=False)) / "config.json"
    assert config_path() == expected


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PHONECTL_CLIENT_ID", " 8d3f1c2e-0000-4000-8000-00000000c11d"),
        ("PHONECTL_CLIENT_ID", "abc def"),
        ("PHONECTL_TENANT", "contoso.com/../common"),
        ("PHONECTL_TENANT", "contoso.com?x=1"),
        ("PHONECTL_TENANT", "contoso%2ecom"),
    ],
)
def test_a_tenant_or_client_id_that_is_not_one_word_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    from support import run_phonectl

    monkeypatch.setenv(variable, value)
    done = run_phonectl("auth", "status")
    assert done.returncode == 2
    assert f"{variable}=" in done.stderr and "is not an id or a domain" in done.stderr


def test_settings_hold_their_urls_judged_and_parsed() -> None:
    env = {
        "PHONECTL_GRAPH_URL": "https://Graph.Example:8443/beta/",
        "PHONECTL_AUTHORITY_HOST": "https://LOGIN.example/",
    }
    settings = load_settings(Flags(), env, warn=unexpected_warning)
    assert settings.graph_url.host == "graph.example" and settings.graph_url.port == 8443
    assert str(settings.graph_url) == "https://graph.example:8443"  # /beta and the / dropped
    assert settings.graph_beta_url.text() == "https://graph.example:8443/beta"
    assert settings.graph_beta_url.origin == ("https", "graph.example", 8443)
    assert settings.authority_host.host == "login.example"
    assert settings.authority == "https://login.example/organizations"


@pytest.mark.parametrize(("cloud", "refused"), [("mars", True), ("usgo", True), ("usgov", False)])
def test_a_remembered_cloud_that_is_not_valid_is_refused_naming_where(
    phonectl: Run, cloud: str, refused: bool
) -> None:
    """Never quietly the global cloud: a mistyped 'usgov' would send a sovereign tenant's
    sign-in there."""
    from phonectl.config import config_path

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'{{"cloud": "{cloud}", "tenant": "contoso.com"}}')
    result = phonectl("update", "p1", "--type", "home", "--dry-run", "-o", "json")
    if not refused:
        assert result.json()["url"].startswith("https://graph.microsoft.us/beta/")
        return
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"error: cloud={cloud!r} is not valid: use one of global, usgov, usgovdod, china "
        f"(remembered in profile 'default' of {path})"
    )
    # The way out is the flag, which overrides the file (and login remembers it).
    way_out = "or sign in again with the right one: phonectl auth login --cloud VALUE"
    assert way_out in result.stderr
    overridden = phonectl("--cloud", "usgov", "update", "p1", "--type", "home", "--dry-run")
    assert overridden.exit_code == 0, overridden.stderr
