"""A local HTTPS login host that answers as Microsoft Entra ID does, well enough for the real
MSAL: OIDC discovery, the device-code endpoint, and the token endpoint (device_code,
refresh_token and authorization_code grants). Certificates come from a trustme CA."""

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
        self.auth_codes: dict[str, dict[str, str]] = {}
        # The device-code token request carries no scope: Entra answers with the scopes
        # the flow was started with.
        self.device_scopes: dict[str, str] = {}
        self.lock = threading.Lock()
        self._pending_left = 0

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

    def tokens(self, client_id: str, scope: str, nonce: str | None = None) -> dict[str, Any]:
        with self.lock:
            access_token = f"at-{uuid.uuid4()}"
            refresh_token = f"rt-{uuid.uuid4()}"
            self.issued_access_tokens.append(access_token)
            self.valid_refresh_tokens.add(refresh_token)
        now = int(time.time())
        claims = {
            "aud": client_id,
            "iss": f"{self.url}/{TENANT_ID}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": "Innocenty Popov",
            "oid": USER_OID,
            "preferred_username": USERNAME,
            "sub": "sub-" + USER_OID,
            "tid": TENANT_ID,
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

    def take_pending(self) -> bool:
        with self.lock:
            if self._pending_left > 0:
                self._pending_left -= 1
                return True
            return False


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
            base = f"{self.server.url}/{segments[0]}/oauth2/v2.0"
            self._json(
                200,
                {
                    "issuer": f"{self.server.url}/{TENANT_ID}/v2.0",
                    "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/token",
                    "device_authorization_endpoint": f"{base}/devicecode",
                    "end_session_endpoint": f"{base}/logout",
                    "response_types_supported": ["code", "id_token", "code id_token"],
                    "scopes_supported": ["openid", "profile", "email", "offline_access"],
                },
            )
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
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            if host.take_pending():
                self._json(
                    400,
                    {"error": "authorization_pending", "error_description": "AADSTS70016: pending"},
                )
            elif host.behaviour.device_outcome == "declined":
                self._json(
                    400,
                    {
                        "error": "authorization_declined",
                        "error_description": "AADSTS70000: the user declined.",
                    },
                )
            elif host.behaviour.device_outcome == "expired":
                self._json(
                    400,
                    {
                        "error": "expired_token",
                        "error_description": "AADSTS70020: the code expired.",
                    },
                )
            else:
                granted = host.device_scopes.get(form.get("device_code", ""), "")
                self._json(200, host.tokens(client_id, granted))
        elif grant == "refresh_token":
            with host.lock:
                valid = form.get("refresh_token") in host.valid_refresh_tokens
                host.valid_refresh_tokens.discard(form.get("refresh_token", ""))  # rotation
            if valid:
                self._json(200, host.tokens(client_id, scope))
            else:
                self._json(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "AADSTS700082: refresh token expired.",
                    },
                )
        elif grant == "authorization_code":
            request = host.auth_codes.pop(form.get("code", ""), None)
            verifier = form.get("code_verifier", "")
            challenge = _b64(hashlib.sha256(verifier.encode()).digest())
            if request is None or request.get("code_challenge") != challenge:
                self._json(400, {"error": "invalid_grant", "error_description": "bad code"})
            else:
                self._json(
                    200, host.tokens(client_id, request.get("scope", ""), request.get("nonce"))
                )
        else:
            self._json(400, {"error": "unsupported_grant_type"})

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
