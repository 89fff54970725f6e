"""Where a bearer token comes from: PHONECTL_ACCESS_TOKEN, the token cache (read directly on
the warm path, so no login-host call and no msal import), a silent refresh through MSAL, or
a sign-in (device code, or the browser with PKCE). Knows nothing of Typer or Rich."""

import json
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC
from enum import Enum
from typing import Any, NamedTuple

from phonectl.choices import CLOUD_HOSTS
from phonectl.config import load_config, save_profile
from phonectl.errors import InvalidInput, PhonectlError, Say, SignInRequired
from phonectl.safe_output import add_secret
from phonectl.settings import Secret, Settings
from phonectl.token_store import (
    CacheUnreadable,
    KeyringUnavailable,
    NoKeyring,
    TokenStore,
    cache_lock,
    open_store,
    store_key,
)

SANDBOX_TOKEN = "sandbox"
# A cached access token this close to expiry is refreshed instead (MSAL uses the same margin).
EXPIRY_MARGIN_SECONDS = 300
# Microsoft's login hosts, which MSAL's instance discovery may ask about: each cloud's, and
# the other names Entra answers under (MSAL's own list of well-known authority hosts).
MICROSOFT_LOGIN_HOSTS = frozenset(
    {
        *(hosts.authority.removeprefix("https://") for hosts in CLOUD_HOSTS.values()),
        "login.microsoft.com",
        "login.windows.net",
        "login.partner.microsoftonline.cn",
    }
)
# Longest plausible bearer token; real ones are a few kilobytes.
MAX_TOKEN_CHARS = 32 * 1024
# Unix time of 9999-12-31: an `exp` past it (or before 1970) is noise, not an expiry.
LATEST_EXPIRY = 253_402_300_799
REGISTER_APP_HINT = (
    "register a public-client app in Microsoft Entra ID (docs/sign-in.md), then pass its "
    "id with --client-id or PHONECTL_CLIENT_ID"
)


SIGN_IN_HINT = "run 'phonectl auth login' (or set PHONECTL_ACCESS_TOKEN)"


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


def is_plausible_bearer_token(value: str) -> bool:
    """Visible ASCII only (no whitespace or control characters), of a sane length: anything
    else would break the Authorization header or smuggle text into it."""
    return 0 < len(value) <= MAX_TOKEN_CHARS and all("!" <= c <= "~" for c in value)


def env_token(settings: Settings) -> Token:
    """PHONECTL_ACCESS_TOKEN, checked: a malformed or expired one is a sign-in error (exit 3),
    and its text is never shown."""
    value = Secret(settings.access_token or "")  # redacted from here on
    if not is_plausible_bearer_token(value):
        raise SignInRequired(
            "PHONECTL_ACCESS_TOKEN is not a usable bearer token (it has whitespace, control "
            "or non-ASCII characters, or is too long)",
            hint="set it to the access token alone, or unset it and run 'phonectl auth login'",
        )
    expires_on = jwt_expiry(value)
    if expires_on is not None and expires_on <= time.time():
        raise SignInRequired(
            f"PHONECTL_ACCESS_TOKEN expired at {_utc(expires_on)}",
            hint="get a fresh token, or unset it and run 'phonectl auth login'",
        )
    return Token(value, TokenSource.env, expires_on)


def _utc(timestamp: int) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def acquire_token(
    settings: Settings,
    *,
    warn: Say,
    notify: Say,
    at_terminal: bool | None,
    debug: Say | None = None,
) -> Token:
    """A token for Graph without asking anyone if possible; a sign-in only when someone is
    `at_terminal` (the run's Terminal says so); False: no one is, and the error says so;
    None: never sign in (auth status: can a token be had unattended?)."""
    if settings.sandbox:
        return Token(Secret.public(SANDBOX_TOKEN), TokenSource.sandbox)
    if settings.access_token is not None:
        return env_token(settings)
    check_graph_root(settings)
    warn = _once(warn)  # the cache is read twice (warm path, then refresh): one warning
    store = open_store(settings.token_cache_path, settings.keyring_timeout, settings.profile)
    token = cached_access_token(settings, read_cache(store, warn))  # the warm path
    if token is not None:
        return token
    why = "not signed in, or the sign-in has expired"
    if settings.account and not signed_in_for_tenant(settings):
        # A refresh token works in any tenant the account may enter: redeemed for another
        # tenant it would sign this run in where the account never signed in with phonectl.
        account = settings.account
        raise SignInRequired(
            f"the sign-in of {settings.account_name} is for tenant "
            f"{account.get('tenant') or account.get('tenant_id')}, not {settings.tenant}",
            hint=f"sign in for it: phonectl auth login --tenant {settings.tenant} (with "
            "--profile NAME to keep both sign-ins)",
        )
    if settings.account and settings.client_id:
        try:
            token = _refresh(settings, store, warn, debug=debug)
        except KeyringUnavailable:
            raise  # its own message and hint; signing in again would not get past it
        except SignInRequired as refused:
            token, why = None, refused.message
        if token is not None:
            return token
    if at_terminal:
        return login(settings, store, notify=notify, warn=warn, debug=debug).signed_in.token
    if at_terminal is False:  # a command that would have signed in, had someone been there
        why += ", and no one is at a terminal to sign in"
    raise SignInRequired(why, hint=SIGN_IN_HINT)


def _once(say: Say) -> Say:
    """`say`, dropping a message it has already said."""
    said: set[str] = set()

    def say_once(message: str) -> None:
        if message not in said:
            said.add(message)
            say(message)

    return say_once


def check_graph_root(settings: Settings) -> None:
    """A signed-in account's tokens go only to the Graph root they were obtained for: a
    PHONECTL_GRAPH_URL pointing elsewhere (a `sandbox serve`, a proxy, a typo) must bring its
    own token, or that server would collect the account's."""
    bound = (settings.account or {}).get("graph_url")
    if bound and _root(bound) != _root(settings.graph_url.text()):
        raise SignInRequired(
            f"the sign-in of {settings.account_name} is for Graph at {bound} (where it "
            f"signed in), not at {settings.graph_url}: its tokens are never sent anywhere else",
            hint="set PHONECTL_ACCESS_TOKEN to a token for that server, or sign in for it: "
            "phonectl auth login",
        )


def _root(url: str) -> str:
    return url.rstrip("/").removesuffix("/beta").lower()


class CachedTokens(NamedTuple):
    """The token cache as read: parsed once, by read_cache(), for every reader of it (the
    warm path, a refresh, logout, auth list); its text kept for MSAL, whose only way in is
    deserialize()."""

    text: str
    sections: dict[str, dict[str, dict[str, Any]]]  # section -> key -> entry

    def entries(self, section: str) -> Iterable[dict[str, Any]]:
        return self.sections.get(section, {}).values()


def read_cache(store: TokenStore, warn: Say) -> CachedTokens | None:
    """The cache, parsed and checked to be MSAL's JSON shape (sections of entries); None when
    there is none. An unreadable or damaged cache counts as empty, with a warning."""
    try:
        blob = store.read()
        if blob is None:
            return None
        sections = json.loads(blob)
        if not isinstance(sections, dict) or not all(
            isinstance(entries, dict) and all(isinstance(e, dict) for e in entries.values())
            for entries in sections.values()
        ):
            raise CacheUnreadable("not an MSAL token cache")
        _register_cached_secrets(sections)
        return CachedTokens(blob, sections)
    except (CacheUnreadable, ValueError, RecursionError) as exc:
        reason = exc if isinstance(exc, CacheUnreadable) else "not JSON"
        warn(f"the token cache is unreadable ({reason}); treating it as empty")
        return None


def _register_cached_secrets(sections: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Every access and refresh token in the cache is a secret from the moment it is read."""
    for entries in sections.values():
        for entry in entries.values():
            secret = entry.get("secret")
            if isinstance(secret, str):
                add_secret(secret)


def cached_access_token(settings: Settings, cache: CachedTokens | None) -> Token | None:
    """An unexpired access token for the remembered account and scopes, read straight from
    the MSAL cache: the warm path builds no MSAL application and calls no login host."""
    if not cache or not settings.account or not settings.client_id:
        return None
    best: Token | None = None
    for entry in cache.entries("AccessToken"):
        expires_on = _issued_for(settings, entry)
        if expires_on is not None and (best is None or expires_on > (best.expires_on or 0)):
            best = Token(Secret(entry["secret"]), TokenSource.cache, expires_on)
    return best


def _issued_for(settings: Settings, entry: dict[str, Any]) -> int | None:
    """The expiry of a cached access token that is fresh and was issued for this cloud,
    tenant, client id, account and scopes; None for any other (or a malformed one)."""
    account = settings.account or {}
    fields = ("secret", "client_id", "target", "environment", "realm")
    if not all(isinstance(entry.get(name), str) for name in fields):
        return None
    try:
        expires_on = int(str(entry.get("expires_on")))
    except ValueError:
        return None
    granted = {t.lower().rsplit("/", 1)[-1] for t in entry["target"].split()}
    login_host = settings.authority_host.host
    usable = (
        entry["client_id"] == settings.client_id
        # A login host that sends neither client_info nor an id token leaves the account id
        # empty: an empty id still names the one signed-in account.
        and (entry.get("home_account_id") or "") == (account.get("home_account_id") or "")
        and entry["environment"].lower() == login_host
        and entry["realm"].lower() in token_realms(settings)
        and {scope.lower() for scope in settings.scopes} <= granted
        and time.time() + EXPIRY_MARGIN_SECONDS < expires_on <= LATEST_EXPIRY
        and is_plausible_bearer_token(entry["secret"])
    )
    return expires_on if usable else None


def token_realms(settings: Settings) -> set[str]:
    """The tenants ("realms") a cached token may be filed under for the tenant as configured.

    MSAL files a token under the tenant in the path of the token endpoint that issued it.
    Entra's discovery answers a domain (contoso.onmicrosoft.com) or a GUID with endpoints
    under the directory's GUID, and `organizations`/`common` with endpoints under that name
    (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc). So the account's
    directory GUID stands for the configured tenant when that is the spelling the account
    signed in with, the GUID itself, or a multi-tenant name; never for another domain."""
    account = settings.account or {}
    asked = settings.tenant.lower()
    realms = {asked}
    directory = (account.get("tenant_id") or "").lower()
    signed_in_with = (account.get("tenant") or "").lower()
    if directory and asked in {"organizations", "common", directory, signed_in_with}:
        realms.add(directory)
    return realms


def signed_in_for_tenant(settings: Settings) -> bool:
    """Whether the remembered account signed in for the tenant as configured (its directory
    is one of the realms that spelling stands for). An account recorded without its
    directory (a login host that sent no account information) is taken as it is."""
    directory = ((settings.account or {}).get("tenant_id") or "").lower()
    return not directory or directory in token_realms(settings)


def refresh_rejected(
    settings: Settings, rejected: str, *, warn: Say, debug: Say | None = None
) -> Token | None:
    """A new access token after Graph refused `rejected` (401): one forced refresh with the
    cached refresh token; None when there is none to use."""
    if settings.sandbox or settings.access_token is not None or not settings.account:
        return None
    if not signed_in_for_tenant(settings):
        return None
    if not settings.client_id:
        return None
    store = open_store(settings.token_cache_path, settings.keyring_timeout, settings.profile)
    return _refresh(settings, store, warn, debug=debug, rejected=rejected)


def _refresh(
    settings: Settings,
    store: TokenStore,
    warn: Say,
    *,
    debug: Say | None = None,
    rejected: str | None = None,
) -> Token | None:
    """Redeem the cached refresh token, under the lock so two processes never both rotate it.
    With `rejected` (an access token Graph refused), the cache's copy of it is not used."""
    with cache_lock(_lock_wait(settings), _lock_name(settings)):
        # Read again: another process may have refreshed while this one waited for the lock.
        cached = read_cache(store, warn)
        token = cached_access_token(settings, cached)
        if (token is not None and token.value != rejected) or cached is None:
            return token
        cache = _msal_cache(cached.text)
        with _msal_app(settings, cache, debug) as app:
            home_account_id = (settings.account or {}).get("home_account_id")
            with _login_host_errors():
                account = next(
                    (a for a in app.get_accounts() if a.get("home_account_id") == home_account_id),
                    None,
                )
                if account is None:
                    return None
                result = app.acquire_token_silent_with_error(
                    list(settings.scopes), account=account, force_refresh=rejected is not None
                )
        if result and not isinstance(result.get("access_token"), str) and result.get("error"):
            # Entra refused the refresh token (expired, revoked, consent withdrawn): its
            # words say which, and only a new sign-in helps.
            raise SignInRequired(
                f"the login host refused to renew the sign-in: {_error_text(result)}",
                hint=SIGN_IN_HINT,
            )
        if not result or not isinstance(result.get("access_token"), str):
            return None
        access_token = Secret(result["access_token"])  # redacted from here on
        _hold_refresh_token(result)
        if not is_plausible_bearer_token(access_token):
            raise SignInRequired("the login host answered with an access token that is not usable")
        if cache.has_state_changed:
            _save_refreshed(store, cache.serialize(), warn)
        return Token(access_token, TokenSource.refresh, _expires_on(result))


def _save_refreshed(store: TokenStore, blob: str, warn: Say) -> None:
    """Keep the refreshed tokens; if that fails (read-only dir, full disk, a keyring that
    refuses), the command still runs with the token it holds: a warning, not an error."""
    try:
        store.write(blob)
    except (OSError, PhonectlError) as exc:
        reason = exc.message if isinstance(exc, PhonectlError) else exc.strerror or str(exc)
        # The store replaces its cache whole or not at all: the sign-in saved before is still
        # there, and Entra does not revoke a refresh token for being used.
        warn(
            f"could not save the refreshed sign-in ({reason}); this run goes on with the token "
            "it holds, and the cache keeps the sign-in saved before; if a later run says the "
            "sign-in has expired, run 'phonectl auth login'"
        )


def _lock_name(settings: Settings) -> str:
    """The lock around one store's read-refresh-write: per cache file (profiles may share
    one); the keyring is one store for every profile (some backends rewrite one file), so
    one lock for all of it."""
    if settings.token_cache_path is None:
        return store_key("default")
    import hashlib

    path = str(settings.token_cache_path.expanduser().absolute())
    return "token-cache-file-" + hashlib.sha256(path.encode()).hexdigest()[:16]


_CACHE_SECTIONS = ("AccessToken", "RefreshToken", "IdToken", "Account", "AppMetadata")


def _merged_cache(existing: CachedTokens | None, fresh: str) -> str:
    """MSAL caches joined entry by entry (their keys name account, tenant and client): the
    fresh sign-in's entries over the existing ones, every other account's kept."""
    if not existing:
        return fresh
    merged = {section: dict(entries) for section, entries in existing.sections.items()}
    for section, entries in json.loads(fresh).items():
        merged.setdefault(section, {}).update(entries)
    return json.dumps(merged)


def _without_account(cache: CachedTokens | None, settings: Settings) -> str | None:
    """The cache less this profile's account in its tenant (its refresh token too, unless
    the account still signs in elsewhere in the file); None when nothing else is left."""
    if not cache:
        return None
    account = settings.account or {}
    home = account.get("home_account_id") or ""
    realms = token_realms(settings)
    sections = dict(cache.sections)  # sections are replaced below, never changed in place

    def mine(entry: Any, section: str) -> bool:
        if not isinstance(entry, dict) or (entry.get("home_account_id") or "") != home:
            return False
        return section == "RefreshToken" or str(entry.get("realm", "")).lower() in realms

    for section in ("AccessToken", "IdToken", "Account"):
        sections[section] = {
            k: e for k, e in sections.get(section, {}).items() if not mine(e, section)
        }
    still_used = any(
        isinstance(e, dict) and e.get("home_account_id") == home
        for section in ("AccessToken", "Account")
        for e in sections.get(section, {}).values()
    )
    if not still_used:
        sections["RefreshToken"] = {
            k: e for k, e in sections.get("RefreshToken", {}).items() if not mine(e, "RefreshToken")
        }
    if not any(sections.get(section) for section in _CACHE_SECTIONS if section != "AppMetadata"):
        return None
    return json.dumps(sections)


def _lock_wait(settings: Settings) -> float:
    """How long to wait for another process's refresh: its login-host calls end within
    their timeout, so a little more than that."""
    return settings.timeout + 5


def sign_in(
    settings: Settings,
    store: TokenStore,
    *,
    notify: Say,
    browser: bool = False,
    debug: Say | None = None,
) -> SignedIn:
    """Sign in a person (device code on stderr, or the browser) and keep the tokens.

    No lock is held while the person signs in (up to 15 minutes): other processes, and the
    cron guard 'auth status', carry on; the lock is taken only to write the cache."""
    cache = _msal_cache(None)
    with _msal_app(settings, cache, debug) as app:
        scopes = list(settings.scopes)
        with _login_host_errors():
            if browser:
                result = _sign_in_in_browser(app, scopes, settings, notify)
            else:
                flow = app.initiate_device_flow(scopes=scopes)
                if not isinstance(flow.get("user_code"), str):
                    raise SignInRequired(
                        f"the login host refused to start a device sign-in: {_error_text(flow)}",
                        hint="if Conditional Access blocks device code, use "
                        "'phonectl auth login --browser'",
                    )
                notify(str(flow.get("message") or f"Enter the code {flow['user_code']}."))
                result = app.acquire_token_by_device_flow(flow)
    if not isinstance(result.get("access_token"), str):
        raise SignInRequired(
            f"sign-in failed: {_error_text(result)}",
            hint="run 'phonectl auth login' to try again",
        )
    access_token = Secret(result["access_token"])  # redacted from here on
    _hold_refresh_token(result)
    with cache_lock(_lock_wait(settings), _lock_name(settings)):
        blob = cache.serialize()
        if settings.token_cache_path is not None:
            # A cache file may hold other profiles' accounts (one PHONECTL_TOKEN_CACHE for
            # all of them): add this account's tokens beside theirs, never over them.
            blob = _merged_cache(read_cache(store, notify), blob)
        store.write(blob)
    claims = result.get("id_token_claims") or {}
    accounts = app.get_accounts()  # read from the cache, no request
    account = accounts[0] if accounts else {}
    return SignedIn(
        Token(access_token, TokenSource.sign_in, _expires_on(result)),
        username=str(claims.get("preferred_username") or account.get("username") or ""),
        tenant_id=str(claims.get("tid") or account.get("realm") or settings.tenant),
        home_account_id=str(account.get("home_account_id") or ""),
    )


# How long a person has to finish signing in once their browser opened the page.
BROWSER_SIGN_IN_SECONDS = 300.0


def _sign_in_in_browser(app: Any, scopes: list[str], settings: Settings, notify: Say) -> Any:
    """The authorization-code flow with PKCE on a loopback redirect. Where no browser could
    be opened (a server, a container), phonectl says so in its own words with the address to
    open on this machine, and waits only PHONECTL_TIMEOUT more for it.

    MSAL's wait cannot be shortened once it started, so it runs on a daemon thread that
    this one stops waiting for (the process ends soon after)."""
    import threading
    import time

    done = threading.Event()
    outcome: list[Any] = []
    deadline = [time.monotonic() + BROWSER_SIGN_IN_SECONDS]
    no_browser: list[str] = []

    def no_browser_opened(address: str) -> None:
        no_browser.append(address)
        deadline[0] = time.monotonic() + settings.timeout
        notify(
            f"No browser could be opened here; open this address in a browser on this "
            f"machine within {settings.timeout:g} s to sign in: {address}"
        )

    def run() -> None:
        try:
            outcome.append(
                app.acquire_token_interactive(
                    scopes,
                    prompt="select_account",
                    timeout=round(BROWSER_SIGN_IN_SECONDS),
                    auth_uri_callback=no_browser_opened,
                )
            )
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)
        finally:
            done.set()

    notify(
        f"Signing in in a browser (waiting up to {BROWSER_SIGN_IN_SECONDS:.0f} s); where "
        "none can open, 'phonectl auth login' signs in with a device code instead."
    )
    threading.Thread(target=run, name="browser-sign-in", daemon=True).start()
    while not done.wait(max(0.0, min(deadline[0] - time.monotonic(), 1.0))):
        if time.monotonic() >= deadline[0]:
            break
    result = outcome[0] if outcome else None
    if isinstance(result, BaseException):
        raise result
    if not isinstance((result or {}).get("access_token"), str) and (
        no_browser or not done.is_set()
    ):
        why = "no browser could be opened to sign in" if no_browser else "no sign-in came back"
        raise SignInRequired(
            f"{why} within {settings.timeout if no_browser else BROWSER_SIGN_IN_SECONDS:g} s",
            hint="sign in with a device code instead: phonectl auth login (without --browser)",
        )
    return result


class LoggedIn(NamedTuple):
    signed_in: SignedIn
    remembered: dict[str, Any]
    not_remembered: tuple[str, ...]


def login(
    settings: Settings,
    store: TokenStore,
    *,
    notify: Say,
    warn: Say,
    browser: bool = False,
    debug: Say | None = None,
) -> LoggedIn:
    """Sign in, then remember the settings used so later runs (and cron) need no flags.

    A loopback Graph or login URL (a `sandbox serve` left in PHONECTL_GRAPH_URL) is never
    remembered: once that server stops, any local user could listen there and collect the
    tokens of later runs."""
    signed_in = sign_in(settings, store, notify=notify, browser=browser, debug=debug)
    remembered: dict[str, Any] = {
        "cloud": settings.cloud.value,
        "tenant": settings.tenant,
        "client_id": settings.client_id,
        "scopes": list(settings.scopes),
        "account": {
            "home_account_id": signed_in.home_account_id,
            "username": signed_in.username,
            "tenant_id": signed_in.tenant_id,
            # What the tokens were obtained for: the tenant as typed (its directory is
            # tenant_id) and the Graph root they may be sent to.
            "tenant": settings.tenant,
            "graph_url": settings.graph_url.text(),
        },
    }
    hosts = CLOUD_HOSTS[settings.cloud]
    not_remembered = []
    for key, value, default in (
        ("authority_host", settings.authority_host, hosts.authority),
        ("graph_url", settings.graph_url, hosts.graph),
    ):
        if value.text() == default:
            continue
        if value.is_loopback:
            not_remembered.append(f"{key} {value} (loopback)")
        else:
            remembered[key] = value.text()
    if settings.token_cache_path is not None:
        remembered["token_cache"] = str(settings.token_cache_path)
    save_profile(settings.profile, remembered, warn=warn)
    return LoggedIn(signed_in, remembered, tuple(not_remembered))


class LoggedOut(NamedTuple):
    username: str | None
    cache: str | None  # where tokens were removed from; None: there was no cache to clear


def logout(settings: Settings, *, warn: Say) -> LoggedOut:
    """Forget the account: its cache entries, then the config file's record of it. Without a
    keyring (and no PHONECTL_TOKEN_CACHE) no tokens can have been kept: nothing to clear. A
    keyring that fails may still hold them: exit 3, and the account stays remembered."""
    store: TokenStore | None = None
    try:
        store = open_store(settings.token_cache_path, settings.keyring_timeout, settings.profile)
        with cache_lock(_lock_wait(settings), _lock_name(settings)):
            if settings.token_cache_path is None:
                store.clear()  # the profile's own keyring entry
            else:  # a file other profiles may share: only this account's tokens go
                rest = _without_account(read_cache(store, warn), settings)
                if rest is None:
                    store.clear()
                else:
                    store.write(rest)
    except NoKeyring:
        store = None
    except KeyringUnavailable as exc:
        raise KeyringUnavailable(
            f"the tokens could not be removed, and may remain in the keyring: {exc.message}; "
            "the account is still remembered",
            hint=f"{exc.hint}; then run 'phonectl auth logout' again" if exc.hint else None,
        ) from None
    remembered = load_config(warn=warn, profile=settings.profile)
    account = remembered.pop("account", None)
    if account is not None:
        save_profile(settings.profile, remembered, warn=warn)
    username = account.get("username") if isinstance(account, dict) else None
    return LoggedOut(username, None if store is None else store.location)


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
    hint: str | None = None


def status(settings: Settings, *, warn: Say, debug: Say | None = None) -> AuthStatus:
    """Try for a token without a human (refreshing if needed) and say how it went."""
    account = settings.account or {}
    token: Token | None = None
    problem: str | None = None
    hint: str | None = None
    location = "env (PHONECTL_ACCESS_TOKEN)" if settings.access_token else _cache_location(settings)
    try:
        token = acquire_token(settings, warn=warn, notify=warn, at_terminal=None, debug=debug)
    except PhonectlError as exc:
        problem, hint = exc.message, exc.hint
    except OSError as exc:  # the cache's lock or file: still "no token unattended", exit 3
        problem = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
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
        hint=hint,
    )


class ProfileSummary(NamedTuple):
    """One line of `auth list`."""

    name: str
    account: str | None
    tenant: str
    cloud: str
    default: bool
    unattended: bool
    how: str  # why a token can be had without a person, or why not


def list_profiles(*, warn: Say) -> list[ProfileSummary]:
    """Every remembered sign-in, and whether a token can be had without a person, judged from
    the cache alone (no network call: a refresh token is taken to work until Entra says no)."""
    from phonectl.config import current_profile, profile_names, read_config
    from phonectl.settings import Flags, load_settings

    data = read_config(warn=warn)
    # Each profile as it would run on its own: what it remembered, not this shell's
    # PHONECTL_TENANT or PHONECTL_TOKEN_CACHE (which a run with --profile would also use).
    env = {k: v for k, v in os.environ.items() if k not in _PER_PROFILE_ENV}
    summaries = []
    for name in profile_names(data):
        try:
            settings = load_settings(Flags(profile=name), env, warn=warn)
        except PhonectlError as exc:
            summaries.append(
                ProfileSummary(name, None, "?", "?", False, False, f"unusable: {exc.message}")
            )
            continue
        account = settings.account or {}
        unattended, how = _unattended(settings, warn)
        summaries.append(
            ProfileSummary(
                name=name,
                account=account.get("username") or None,
                tenant=account.get("tenant_id") or settings.tenant,
                cloud=settings.cloud.value,
                default=name == current_profile(data),
                unattended=unattended,
                how=how,
            )
        )
    return summaries


_PER_PROFILE_ENV = frozenset(
    {
        "PHONECTL_PROFILE",
        "PHONECTL_TENANT",
        "PHONECTL_CLIENT_ID",
        "PHONECTL_CLOUD",
        "PHONECTL_TOKEN_CACHE",
        "PHONECTL_ACCESS_TOKEN",
    }
)


def _unattended(settings: Settings, warn: Say) -> tuple[bool, str]:
    if not settings.account:
        return False, "not signed in"
    try:
        cache = read_cache(
            open_store(settings.token_cache_path, settings.keyring_timeout, settings.profile), warn
        )
    except PhonectlError as exc:
        return False, exc.message
    token = cached_access_token(settings, cache)
    if token is not None and token.expires_on:
        return True, f"access token until {_utc(token.expires_on)}"
    home_account_id = settings.account.get("home_account_id") or ""
    refresh_tokens = cache.entries("RefreshToken") if cache else ()
    if any(
        isinstance(entry, dict)
        and (entry.get("home_account_id") or "") == home_account_id
        and entry.get("client_id") == settings.client_id
        for entry in refresh_tokens
    ):
        return True, "refresh token"
    return False, "no token in the cache: phonectl auth login"


def _cache_location(settings: Settings) -> str:
    try:
        return open_store(
            settings.token_cache_path, settings.keyring_timeout, settings.profile
        ).location
    except SignInRequired as exc:
        return f"none ({exc.message})"


def jwt_expiry(token: str) -> int | None:
    """The `exp` claim of a JWT access token, unverified (for display only)."""
    import base64

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        expiry = claims["exp"]
        if isinstance(expiry, bool) or not isinstance(expiry, (int, float)):
            return None
        expiry = int(expiry)
    except (IndexError, ValueError, KeyError, TypeError, OverflowError, RecursionError):
        return None
    return expiry if 0 <= expiry <= LATEST_EXPIRY else None


def _msal_cache(blob: str | None) -> Any:
    import msal

    cache = msal.SerializableTokenCache()
    if blob:
        cache.deserialize(blob)  # read_cache() checked it
    return cache


@contextmanager
def _msal_app(settings: Settings, cache: Any, debug: Say | None = None) -> Iterator[Any]:
    """An MSAL application whose HTTP session is closed when the block ends: its worker
    threads stopped and joined, so none is still running while Python shuts down."""
    import msal

    if not settings.client_id:
        raise InvalidInput(
            "no client id: phonectl needs an Entra app registration to sign in",
            hint=REGISTER_APP_HINT,
        )
    from phonectl import __version__
    from phonectl.http import BoundedSession

    host = settings.authority_host.host
    session = BoundedSession(
        timeout=settings.timeout, user_agent=f"phonectl/{__version__}", debug=debug
    )
    try:
        with _login_host_errors():
            app = msal.PublicClientApplication(
                settings.client_id,
                authority=settings.authority,
                token_cache=cache,
                # Instance discovery asks Microsoft about the host: only for Microsoft's hosts.
                instance_discovery=host in MICROSOFT_LOGIN_HOSTS,
                # Every login-host call ends within PHONECTL_TIMEOUT, follows no redirect and
                # says who is calling.
                http_client=session,
            )
        yield app
    finally:
        session.close()


@contextmanager
def _login_host_errors() -> Iterator[None]:
    """Turn MSAL's and requests' failures to reach the login host into phonectl errors."""
    import requests

    from phonectl.http import network_error

    try:
        yield
    except requests.RequestException as exc:
        raise network_error(exc, "sign-in", "the login host") from None
    except RecursionError:
        raise SignInRequired("the login host answered with JSON nested beyond reason") from None
    except ValueError as exc:
        if "authority" not in str(exc).lower():
            raise
        raise SignInRequired(
            f"the login host did not answer as Microsoft Entra ID does: {exc}",
            hint="check --tenant, --cloud and PHONECTL_AUTHORITY_HOST",
        ) from None


def _hold_refresh_token(result: dict[str, Any]) -> None:
    """A login host's refresh token is a secret from the moment it arrives."""
    refresh_token = result.get("refresh_token")
    if isinstance(refresh_token, str):
        Secret(refresh_token)


def _expires_on(result: dict[str, Any]) -> int | None:
    try:
        expires_on = int(time.time()) + int(result["expires_in"])
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    return expires_on if 0 <= expires_on <= LATEST_EXPIRY else None


def _error_text(result: dict[str, Any]) -> str:
    error = str(result.get("error") or "unknown_error")
    description = str(result.get("error_description") or "").splitlines()
    return f"{error}: {description[0]}" if description else error
