"""A local HTTPS login host that answers as Microsoft Entra ID publishes, well enough for the
real MSAL: OIDC discovery, the device-code endpoint, and the token endpoint (device_code,
refresh_token and authorization_code grants). Certificates come from a trustme CA.

It follows Microsoft, not phonectl: a tenant asked for by domain is answered under its GUID
(as Entra's discovery does), refusals carry AADSTS `error_codes`, and it counts every call so
tests can see what phonectl really asked. Each behaviour names the page it follows."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import ssl
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme

TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TENANT_DOMAIN = "contoso.onmicrosoft.com"
# A second directory, for tests that sign in to two tenants.
OTHER_TENANT_ID = "0b1d5b7e-3f0a-4c1e-9d2b-6a7c8e9f0a1b"
OTHER_TENANT_DOMAIN = "fabrikam.onmicrosoft.com"
# Every name Entra knows a directory by (its GUID, its verified domains) -> its GUID.
# https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri
TENANTS = {
    TENANT_ID: TENANT_ID,
    TENANT_DOMAIN: TENANT_ID,
    "contoso.com": TENANT_ID,
    OTHER_TENANT_ID: OTHER_TENANT_ID,
    OTHER_TENANT_DOMAIN: OTHER_TENANT_ID,
}
# The multi-tenant names: their discovery keeps the name in the endpoints and puts the
# `{tenantid}` template in the issuer (same page, "issuer" and the /common example).
MULTI_TENANT_NAMES = frozenset({"organizations", "common", "consumers"})
USER_OID = "5f1c9a52-6a8e-4bd4-9c1e-3d7c2a6e8b10"
USERNAME = "innocenty.popov@contoso.com"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Seen:
    method: str
    path: str
    form: dict[str, str]
    user_agent: str = ""


@dataclass
class LoginHostBehaviour:
    """What the host does; tests change it between steps."""

    access_token_lifetime: int = 3600
    device_outcome: str = "approve"  # approve, declined, expired
    pending_polls: int = 0
    token_delay: float = 0.0
    send_account_info: bool = True  # id_token and client_info in token responses
    slow_down_polls: int = 0  # device-flow polls answered `slow_down` (after the pending ones)
    refresh_refusal: str = "expired"  # how a dead refresh token is refused: expired, revoked


def entra_error(error: str, code: int, description: str) -> dict[str, Any]:
    """A refusal as Entra's token and discovery endpoints write it: `error`,
    `error_description` starting with the AADSTS code, `error_codes`, `timestamp`,
    `trace_id`, `correlation_id`, `error_uri`.
    https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1
    https://learn.microsoft.com/entra/identity-platform/reference-error-codes"""
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {description} Trace ID: {uuid.uuid4()} "
        f"Correlation ID: {uuid.uuid4()} Timestamp: {time.strftime('%Y-%m-%d %H:%M:%SZ')}",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ"),
        "trace_id": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


# Refresh-token refusals (invalid_grant), by cause.
# https://learn.microsoft.com/entra/identity-platform/reference-error-codes#aadsts-error-codes
REFRESH_REFUSALS = {
    "expired": (
        700082,
        "The refresh token has expired due to inactivity. The token was issued on "
        "2026-01-01 and was inactive for 90.00:00:00.",
    ),
    "revoked": (
        50173,
        "The provided grant has expired due to it being revoked, a fresh auth token is "
        "needed. The user might have changed or reset their password.",
    ),
}


class FakeLoginHost(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up mid-answer (phonectl past its deadline, or exiting) is
        # not the login host's problem; printed, it would land in some test's stderr.
        if isinstance(sys.exc_info()[1], (ConnectionError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)

    def __init__(self, ca: trustme.CA) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        cert = ca.issue_cert("localhost", "127.0.0.1")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(context)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.behaviour = LoginHostBehaviour()
        self.seen: list[Seen] = []
        self.issued_access_tokens: list[str] = []
        self.valid_refresh_tokens: set[str] = set()
        self.issued_refresh_tokens: list[str] = []  # in the order issued
        self.auth_codes: dict[str, dict[str, str]] = {}
        # The device-code token request carries no scope: Entra answers with the scopes
        # the flow was started with.
        self.device_scopes: dict[str, str] = {}
        self.lock = threading.Lock()
        self._pending_left = 0
        self._slow_down_left = 0

    @property
    def url(self) -> str:
        return f"https://localhost:{self.server_address[1]}"

    def calls(self, path_suffix: str = "", grant_type: str | None = None) -> list[Seen]:
        return [
            s
            for s in self.seen
            if s.path.endswith(path_suffix)
            and (grant_type is None or s.form.get("grant_type") == grant_type)
        ]

    def token_requests(self) -> list[Seen]:
        """Every call to a token endpoint (any grant)."""
        return self.calls("/oauth2/v2.0/token")

    def tokens(
        self, client_id: str, scope: str, nonce: str | None = None, tenant_id: str = TENANT_ID
    ) -> dict[str, Any]:
        with self.lock:
            access_token = f"at-{uuid.uuid4()}"
            refresh_token = f"rt-{uuid.uuid4()}"
            self.issued_access_tokens.append(access_token)
            self.valid_refresh_tokens.add(refresh_token)
            self.issued_refresh_tokens.append(refresh_token)
        now = int(time.time())
        claims = {
            "aud": client_id,
            "iss": f"{self.url}/{tenant_id}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": "Innocenty Popov",
            "oid": USER_OID,
            "preferred_username": USERNAME,
            "sub": "sub-" + USER_OID,
            "tid": tenant_id,
            "ver": "2.0",
        }
        if nonce:
            claims["nonce"] = nonce
        id_token = ".".join(
            [_b64(b'{"alg":"none","typ":"JWT"}'), _b64(json.dumps(claims).encode()), ""]
        )
        granted = " ".join(s for s in scope.split() if s not in {"offline_access"})
        if not self.behaviour.send_account_info:
            return {
                "token_type": "Bearer",
                "scope": granted,
                "expires_in": self.behaviour.access_token_lifetime,
                "access_token": access_token,
                "refresh_token": refresh_token,
            }
        return {
            "token_type": "Bearer",
            "scope": granted,
            "expires_in": self.behaviour.access_token_lifetime,
            "ext_expires_in": self.behaviour.access_token_lifetime,
            "access_token": access_token,
            "refresh_token": refresh_token,
            "id_token": id_token,
            "client_info": _b64(json.dumps({"uid": USER_OID, "utid": TENANT_ID}).encode()),
        }

    def start_pending(self) -> None:
        self._pending_left = self.behaviour.pending_polls
        self._slow_down_left = self.behaviour.slow_down_polls

    def take_pending(self) -> str | None:
        """The device-flow error this poll gets before the person is done, if any."""
        with self.lock:
            if self._pending_left > 0:
                self._pending_left -= 1
                return "authorization_pending"
            if self._slow_down_left > 0:
                self._slow_down_left -= 1
                return "slow_down"
            return None


class _Handler(BaseHTTPRequestHandler):
    server: FakeLoginHost
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        self.server.seen.append(Seen("GET", parts.path, {}, self.headers.get("User-Agent", "")))
        segments = parts.path.strip("/").split("/")
        if parts.path.endswith("/v2.0/.well-known/openid-configuration"):
            self._discovery(segments[0])
        elif parts.path.endswith("/oauth2/v2.0/authorize"):
            # The user is signed in already: answer with the form_post page that sends the
            # code to the app's redirect URI (MSAL asks for response_mode=form_post).
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            code = f"code-{uuid.uuid4()}"
            self.server.auth_codes[code] = query
            redirect_uri = html.escape(query["redirect_uri"])
            state = html.escape(query.get("state", ""))
            page = (
                '<html><body onload="document.forms[0].submit()">'
                f'<form method="post" action="{redirect_uri}">'
                f'<input type="hidden" name="code" value="{code}"/>'
                f'<input type="hidden" name="state" value="{state}"/>'
                "</form></body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
        else:
            self._json(404, {"error": "not_found"})

    def _discovery(self, asked: str) -> None:
        """OpenID Connect discovery as Entra answers it: a directory named by domain or GUID
        gets every endpoint (and the issuer) under its GUID, whatever name was asked for; a
        multi-tenant name keeps its name in the endpoints and `{tenantid}` in the issuer; a
        name Entra does not know is a 400 `invalid_tenant` (AADSTS90002).
        https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#sample-response"""
        name = asked.lower()
        if name in MULTI_TENANT_NAMES:
            path, issuer_tenant = name, "{tenantid}"
        elif name in TENANTS:
            path = issuer_tenant = TENANTS[name]
        else:
            self._json(
                400,
                entra_error(
                    "invalid_tenant",
                    90002,
                    f"Tenant '{asked}' not found. Check to make sure you have the correct "
                    "tenant ID and are signing into the correct cloud.",
                ),
            )
            return
        base = f"{self.server.url}/{path}/oauth2/v2.0"
        self._json(
            200,
            {
                "token_endpoint": f"{base}/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{self.server.url}/{path}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{self.server.url}/{issuer_tenant}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                "authorization_endpoint": f"{base}/authorize",
                "device_authorization_endpoint": f"{base}/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
                "kerberos_endpoint": f"{self.server.url}/{path}/kerberos",
                "tenant_region_scope": "WW",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            },
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        path = urlsplit(self.path).path
        self.server.seen.append(Seen("POST", path, form, self.headers.get("User-Agent", "")))
        if path.endswith("/devicecode"):
            self.server.start_pending()
            device_code = f"dc-{uuid.uuid4()}"
            self.server.device_scopes[device_code] = form.get("scope", "")
            self._json(
                200,
                {
                    "device_code": device_code,
                    "user_code": "PHN-CTL1",
                    "verification_uri": "https://microsoft.com/devicelogin",
                    "expires_in": 900,
                    "interval": 0,
                    "message": "To sign in, use a web browser to open the page "
                    "https://microsoft.com/devicelogin and enter the code PHN-CTL1 to "
                    "authenticate.",
                },
            )
        elif path.endswith("/token"):
            time.sleep(self.server.behaviour.token_delay)
            self._token(form)
        else:
            self._json(404, {"error": "not_found"})

    def _token(self, form: dict[str, str]) -> None:
        host = self.server
        grant = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        scope = form.get("scope", "")
        # The token's tenant: the directory the endpoint names; a multi-tenant endpoint
        # issues it in the user's home directory.
        tenant_id = TENANTS.get(self.path.strip("/").split("/")[0].lower(), TENANT_ID)
        # Device authorization grant, the errors a client polls through:
        # https://learn.microsoft.com/entra/identity-platform/v2-oauth2-device-code#expected-errors
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            waiting = host.take_pending()
            if waiting == "authorization_pending":
                self._json(
                    400,
                    entra_error(
                        "authorization_pending",
                        70016,
                        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                    ),
                )
            elif waiting == "slow_down":
                self._json(400, entra_error("slow_down", 70016, "Polling too fast."))
            elif host.behaviour.device_outcome == "declined":
                self._json(
                    400,
                    entra_error("authorization_declined", 70000, "The user declined."),
                )
            elif host.behaviour.device_outcome == "expired":
                self._json(
                    400,
                    entra_error(
                        "expired_token",
                        70020,
                        "The provided value for the input "
                        "parameter 'device_code' is not valid. This device code has "
                        "expired.",
                    ),
                )
            else:
                granted = host.device_scopes.get(form.get("device_code", ""), "")
                self._json(200, host.tokens(client_id, granted, tenant_id=tenant_id))
        # Refreshing: a new refresh token comes with each answer, and the one used is NOT
        # revoked (https://learn.microsoft.com/entra/identity-platform/refresh-tokens: "The
        # Microsoft identity platform doesn't revoke old refresh tokens when used"); a dead
        # one (expired, revoked) is invalid_grant with its cause.
        # https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token
        elif grant == "refresh_token":
            with host.lock:
                valid = form.get("refresh_token") in host.valid_refresh_tokens
            if valid:
                self._json(200, host.tokens(client_id, scope, tenant_id=tenant_id))
            else:
                code, description = REFRESH_REFUSALS[host.behaviour.refresh_refusal]
                self._json(400, entra_error("invalid_grant", code, description))
        elif grant == "authorization_code":
            request = host.auth_codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = _b64(hashlib.sha256(verifier.encode()).digest())
            if request is None or request.get("code_challenge") != challenge:
                self._json(
                    400,
                    entra_error(
                        "invalid_grant",
                        70008,
                        "The provided authorization code is invalid or has expired.",
                    ),
                )
            else:
                self._json(
                    200,
                    host.tokens(
                        client_id,
                        request.get("scope", ""),
                        request.get("nonce"),
                        tenant_id=tenant_id,
                    ),
                )
        else:
            self._json(
                400,
                entra_error(
                    "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
                ),
            )

    def _json(self, status: int, body: dict[str, Any]) -> None:
        content = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)


@dataclass
class LoginHostFixture:
    host: FakeLoginHost
    ca_path: Path
    client_id: str = field(default="8d3f1c2e-0000-4000-8000-00000000c11d")
