"""Where a bearer token comes from: PHONECTL_ACCESS_TOKEN, the token cache (read directly on
the warm path, so no login-host call and no msal import), a silent refresh through MSAL, or
a sign-in (device code, or the browser with PKCE). Knows nothing of Typer or Rich."""

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from typing import Any, NamedTuple

from phonectl import render
from phonectl.choices import CLOUD_HOSTS
from phonectl.config import load_config, save_config
from phonectl.errors import InvalidInput, NetworkError, SignInRequired
from phonectl.settings import Secret, Settings
from phonectl.token_store import CacheUnreadable, TokenStore, cache_lock, open_store

SANDBOX_TOKEN = "sandbox"
# A cached access token this close to expiry is refreshed instead (MSAL uses the same margin).
EXPIRY_MARGIN_SECONDS = 300
MICROSOFT_LOGIN_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
    }
)
REGISTER_APP_HINT = (
    "register a public-client app in Microsoft Entra ID (README: 'Sign in'), then pass its "
    "id with --client-id or PHONECTL_CLIENT_ID"
)


class TokenSource(str, Enum):
    env = "env"
    sandbox = "sandbox"
    cache = "cache"
    refresh = "refresh"
    sign_in = "sign-in"


class Token(NamedTuple):
    """A bearer token and where it came from (auth status reports the source)."""

    value: Secret
    source: TokenSource
    expires_on: int | None = None


class SignedIn(NamedTuple):
    token: Token
    username: str
    tenant_id: str
    home_account_id: str


def acquire_token(settings: Settings, *, interactive: bool | None = None) -> Token:
    """A token for Graph without asking anyone if possible; a sign-in only at a terminal."""
    if settings.sandbox:
        return Token(Secret(SANDBOX_TOKEN), TokenSource.sandbox)
    if settings.access_token:
        return Token(settings.access_token, TokenSource.env, jwt_expiry(settings.access_token))
    store = open_store(settings.token_cache_path, settings.keyring_timeout)
    token = cached_access_token(settings, read_cache(store))
    if token is not None:
        return token
    if settings.account and settings.client_id:
        token = _refresh(settings, store)
        if token is not None:
            return token
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if interactive:
        return login(settings, store).token
    raise SignInRequired(
        "not signed in, or the sign-in has expired, and no one is at a terminal to sign in",
        hint="run 'phonectl auth login' once (or set PHONECTL_ACCESS_TOKEN)",
    )


def read_cache(store: TokenStore) -> str | None:
    """The cache's text, checked to be MSAL's JSON shape (sections of entries) once for every
    reader; an unreadable or damaged cache counts as empty, with a warning."""
    try:
        blob = store.read()
        if blob is not None:
            sections = json.loads(blob)
            if not isinstance(sections, dict) or not all(
                isinstance(entries, dict) for entries in sections.values()
            ):
                raise CacheUnreadable("not an MSAL token cache")
        return blob
    except (CacheUnreadable, ValueError) as exc:
        reason = exc if isinstance(exc, CacheUnreadable) else "not JSON"
        render.warning(f"the token cache is unreadable ({reason}); treating it as empty")
        return None


def cached_access_token(settings: Settings, blob: str | None) -> Token | None:
    """An unexpired access token for the remembered account and scopes, read straight from
    the MSAL cache: the warm path builds no MSAL application and calls no login host."""
    if not blob or not settings.account or not settings.client_id:
        return None
    entries = json.loads(blob).get("AccessToken", {}).values()
    wanted = {scope.lower() for scope in settings.scopes}
    fresh_until = time.time() + EXPIRY_MARGIN_SECONDS
    best: Token | None = None
    for entry in entries:
        try:
            expires_on = int(entry["expires_on"])
            granted = {t.lower().rsplit("/", 1)[-1] for t in str(entry["target"]).split()}
            matches = (
                entry["client_id"] == settings.client_id
                # A login host that sends neither client_info nor an id token leaves the
                # account id empty: an empty id still names the one signed-in account.
                and (entry.get("home_account_id") or "")
                == (settings.account.get("home_account_id") or "")
                and wanted <= granted
                and expires_on > fresh_until
            )
        except (KeyError, TypeError, ValueError):
            continue
        if matches and (best is None or expires_on > (best.expires_on or 0)):
            best = Token(Secret(entry["secret"]), TokenSource.cache, expires_on)
    return best


def _refresh(settings: Settings, store: TokenStore) -> Token | None:
    """Redeem the cached refresh token, under the lock so two processes never both rotate it."""
    with cache_lock():
        blob = read_cache(store)  # another process may have refreshed while we waited
        token = cached_access_token(settings, blob)
        if token is not None or blob is None:
            return token
        cache = _msal_cache(blob)
        app = _msal_app(settings, cache)
        home_account_id = (settings.account or {}).get("home_account_id")
        with _login_host_errors():
            account = next(
                (a for a in app.get_accounts() if a.get("home_account_id") == home_account_id),
                None,
            )
            if account is None:
                return None
            result = app.acquire_token_silent_with_error(list(settings.scopes), account=account)
        if not result or "access_token" not in result:
            return None
        if cache.has_state_changed:
            store.write(cache.serialize())
        return Token(Secret(result["access_token"]), TokenSource.refresh, _expires_on(result))


def sign_in(settings: Settings, store: TokenStore, *, browser: bool = False) -> SignedIn:
    """Sign in a person (device code on stderr, or the browser) and keep the tokens."""
    with cache_lock():
        cache = _msal_cache(None)
        app = _msal_app(settings, cache)
        scopes = list(settings.scopes)
        with _login_host_errors():
            if browser:
                result = app.acquire_token_interactive(scopes, prompt="select_account")
            else:
                flow = app.initiate_device_flow(scopes=scopes)
                if "user_code" not in flow:
                    raise SignInRequired(
                        f"the login host refused to start a device sign-in: {_error_text(flow)}",
                        hint="if Conditional Access blocks device code, use "
                        "'phonectl auth login --browser'",
                    )
                render.notice(flow["message"])
                result = app.acquire_token_by_device_flow(flow)
        if "access_token" not in result:
            raise SignInRequired(
                f"sign-in failed: {_error_text(result)}",
                hint="run 'phonectl auth login' to try again",
            )
        store.write(cache.serialize())
    claims = result.get("id_token_claims") or {}
    accounts = app.get_accounts()
    account = accounts[0] if accounts else {}
    return SignedIn(
        Token(Secret(result["access_token"]), TokenSource.sign_in, _expires_on(result)),
        username=str(claims.get("preferred_username") or account.get("username") or ""),
        tenant_id=str(claims.get("tid") or account.get("realm") or settings.tenant),
        home_account_id=str(account.get("home_account_id") or ""),
    )


def login(settings: Settings, store: TokenStore, *, browser: bool = False) -> SignedIn:
    """Sign in, then remember the settings used so later runs (and cron) need no flags."""
    signed_in = sign_in(settings, store, browser=browser)
    remembered: dict[str, Any] = {
        "cloud": settings.cloud.value,
        "tenant": settings.tenant,
        "client_id": settings.client_id,
        "scopes": list(settings.scopes),
        "account": {
            "home_account_id": signed_in.home_account_id,
            "username": signed_in.username,
            "tenant_id": signed_in.tenant_id,
        },
    }
    hosts = CLOUD_HOSTS[settings.cloud]
    if settings.authority_host != hosts.authority:
        remembered["authority_host"] = settings.authority_host
    if settings.graph_url != hosts.graph:
        remembered["graph_url"] = settings.graph_url
    if settings.token_cache_path is not None:
        remembered["token_cache"] = str(settings.token_cache_path)
    save_config(remembered)
    return signed_in


def logout(settings: Settings) -> str | None:
    """Forget the account: its cache entries and the config file's record of it."""
    store = open_store(settings.token_cache_path, settings.keyring_timeout)
    with cache_lock():
        store.clear()
    remembered = load_config()
    account = remembered.pop("account", None)
    save_config(remembered)
    return account.get("username") if isinstance(account, dict) else None


class AuthStatus(NamedTuple):
    """What `auth status` reports; `problem` is None when a token can be had unattended."""

    account: str | None
    tenant: str
    cloud: str
    client_id: str | None
    scopes: tuple[str, ...]
    token_source: str | None
    expires_on: int | None
    cache: str
    problem: str | None


def status(settings: Settings) -> AuthStatus:
    """Try for a token without a human (refreshing if needed) and say how it went."""
    account = settings.account or {}
    token: Token | None = None
    problem: str | None = None
    location = "env (PHONECTL_ACCESS_TOKEN)" if settings.access_token else _cache_location(settings)
    try:
        token = acquire_token(settings, interactive=False)
    except (SignInRequired, NetworkError, InvalidInput) as exc:
        problem = exc.message
    return AuthStatus(
        account=account.get("username"),
        tenant=account.get("tenant_id") or settings.tenant,
        cloud=settings.cloud.value,
        client_id=settings.client_id,
        scopes=settings.scopes,
        token_source=token.source.value if token else None,
        expires_on=token.expires_on if token else None,
        cache=location,
        problem=problem,
    )


def _cache_location(settings: Settings) -> str:
    try:
        return open_store(settings.token_cache_path, settings.keyring_timeout).location
    except SignInRequired as exc:
        return f"none ({exc.message})"


def jwt_expiry(token: str) -> int | None:
    """The `exp` claim of a JWT access token, unverified (for display only)."""
    import base64

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def _msal_cache(blob: str | None) -> Any:
    import msal

    cache = msal.SerializableTokenCache()
    if blob:
        cache.deserialize(blob)  # read_cache() checked it
    return cache


def _msal_app(settings: Settings, cache: Any) -> Any:
    import msal

    if not settings.client_id:
        raise InvalidInput(
            "no client id: phonectl needs an Entra app registration to sign in",
            hint=REGISTER_APP_HINT,
        )
    host = settings.authority_host.split("://", 1)[-1].split("/")[0].split(":")[0].lower()
    with _login_host_errors():
        return msal.PublicClientApplication(
            settings.client_id,
            authority=settings.authority,
            token_cache=cache,
            # Instance discovery asks Microsoft about the host: only for Microsoft's hosts.
            instance_discovery=host in MICROSOFT_LOGIN_HOSTS,
        )


@contextmanager
def _login_host_errors() -> Iterator[None]:
    """Turn MSAL's and requests' failures to reach the login host into phonectl errors."""
    import requests

    try:
        yield
    except requests.RequestException as exc:
        raise NetworkError(
            f"could not reach the login host: {type(exc).__name__}",
            hint="check the network, HTTPS_PROXY and REQUESTS_CA_BUNDLE, then try again",
        ) from None
    except ValueError as exc:
        if "authority" not in str(exc).lower():
            raise
        raise SignInRequired(
            f"the login host did not answer as Microsoft Entra ID does: {exc}",
            hint="check --tenant, --cloud and PHONECTL_AUTHORITY_HOST",
        ) from None


def _expires_on(result: dict[str, Any]) -> int | None:
    try:
        return int(time.time()) + int(result["expires_in"])
    except (KeyError, TypeError, ValueError):
        return None


def _error_text(result: dict[str, Any]) -> str:
    error = result.get("error", "unknown_error")
    description = str(result.get("error_description") or "").splitlines()
    return f"{error}: {description[0]}" if description else str(error)
