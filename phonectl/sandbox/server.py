"""A local HTTP server that answers the Graph beta profile-phone API as Graph does.

Graph-shaped errors, 400 for invalid enum values and unknown or read-only properties, 404 for
unknown users and phones, 401 without a bearer token, @odata.nextLink paging, JSON batching.
For tests and tools it also records every request (never a credential) and can inject faults
(see Fault). It is safe to leave running: it binds and answers loopback only (see guard.py),
bounds what it reads and keeps, and answers a malformed request with a 400.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from phonectl.errors import InvalidInput
from phonectl.sandbox.guard import (
    credential_fingerprint,
    is_json_media_type,
    is_loopback_host_header,
    is_loopback_name,
    loggable_headers,
    scrubbed,
    secrets_in,
)
from phonectl.sandbox.state import SandboxState

READ_ONLY = frozenset(
    {"id", "createdBy", "createdDateTime", "lastModifiedBy", "lastModifiedDateTime"}
)
DEFAULT_PAGE_SIZE = 10
# Graph's largest page: "Invalid page size specified ... Must be between 1 and 999 inclusive."
MAX_PAGE_SIZE = 999
# What Graph answers JSON with.
ODATA_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
MAX_BATCH_REQUESTS = 20
CONTROL_PREFIX = "/_sandbox/"
# Bounds that keep a long-running emulator's memory flat whatever its clients send.
MAX_BODY_BYTES = 4 * 1024 * 1024  # Graph's own request size limit is 4 MB
REQUEST_LOG_LIMIT = 10_000  # the newest requests; older ones drop off the front
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024  # read and dropped after a refusal, so it reaches the client
DRAIN_SECONDS = 2.0
IDLE_TIMEOUT_SECONDS = 60.0  # a client that sends nothing does not hold a thread forever
SEED_VARIABLE = "PHONECTL_SANDBOX_SEED"
# Graph's challenge on a 401 (the shape the Microsoft identity platform documents:
# https://learn.microsoft.com/entra/identity-platform/claims-challenge), naming Graph's own
# client id as the resource.
WWW_AUTHENTICATE = (
    'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/'
    'authorize", client_id="00000003-0000-0000-c000-000000000000"'
)
GRAPH_METHODS = "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD"


class GraphProblem(Exception):
    """An error answer: status, Graph error code and message (and headers it carries)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


@dataclass
class Fault:
    """Make the next `count` matching requests fail.

    status: answer with this status (None: answer normally, after `delay`).
    body: "graph" (a Graph error, in Graph's documented words where it has them: 429
    TooManyRequests, 403 Authorization_RequestDenied), "html", "malformed" (broken JSON) or
    "empty".
    drop: close the connection without answering.
    per_http_request: match only requests from the socket, never the requests inside a
    $batch (a delay then models Graph's latency once per HTTP call).
    """

    status: int | None = 503
    count: int = 1
    method: str | None = None
    path_contains: str | None = None
    retry_after: str | None = None
    body: str = "graph"
    delay: float = 0.0
    drop: bool = False
    after: int = 0  # let this many matching requests through first
    per_http_request: bool = False

    def matches(self, method: str, path: str, *, in_batch: bool = False) -> bool:
        return (
            (self.method is None or self.method.upper() == method)
            and (self.path_contains is None or self.path_contains in path)
            and not (in_batch and self.per_http_request)
        )

    @classmethod
    def from_json(cls, body: Any) -> Fault:
        """A fault from the control API's JSON, every key and type checked (ValueError)."""
        import dataclasses

        if not isinstance(body, dict):
            raise ValueError("a fault is a JSON object")
        kinds: dict[str, type | tuple[type, ...]] = {
            "status": (int, type(None)),
            "count": int,
            "method": (str, type(None)),
            "path_contains": (str, type(None)),
            "retry_after": (str, type(None)),
            "body": str,
            "delay": (int, float),
            "drop": bool,
            "after": int,
            "per_http_request": bool,
        }
        assert {f.name for f in dataclasses.fields(cls)} == set(kinds)
        for key, value in body.items():
            if key not in kinds:
                raise ValueError(f"unknown key {key!r}: use {', '.join(sorted(kinds))}")
            wrong_bool = isinstance(value, bool) and kinds[key] is not bool
            if not isinstance(value, kinds[key]) or wrong_bool:
                raise ValueError(f"{key} has the wrong type: {json.dumps(value)}")
        fault = cls(**body)
        if fault.body not in {"graph", "html", "malformed", "empty"}:
            raise ValueError("body must be graph, html, malformed or empty")
        if fault.status is not None and not 100 <= fault.status <= 599:
            raise ValueError("status must be an HTTP status (100-599) or null")
        if fault.count < 0 or fault.after < 0 or fault.delay < 0:
            raise ValueError("count, after and delay must not be negative")
        if fault.retry_after is not None and not fault.retry_after.isprintable():
            raise ValueError("retry_after must be printable text")
        return fault


@dataclass
class RecordedRequest:
    """One request as the log keeps it: no credential header, no token in its text."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)  # arrival, for tests of pacing
    seconds: float = 0.0  # spent answering it (benchmarks: the emulator's own cost)
    credential: str = ""  # a fingerprint of the Authorization header (guard.py), never it

    @property
    def decoded_path(self) -> str:
        return unquote(urlsplit(self.path).path)

    @classmethod
    def of(cls, method: str, path: str, headers: dict[str, str], raw: bytes) -> RecordedRequest:
        authorization = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        secrets = secrets_in(authorization)
        return cls(
            method,
            scrubbed(path, secrets),
            scrubbed(loggable_headers(headers), secrets),
            scrubbed(_decode_body(raw), secrets),
            credential=credential_fingerprint(authorization),
        )


@dataclass
class Reply:
    """An answer: a JSON payload, or raw content (faults, $count)."""

    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    content_type: str = ODATA_JSON

    def body_bytes(self) -> bytes:
        if self.content is not None:
            return self.content
        return b"" if self.payload is None else json.dumps(self.payload).encode()


@dataclass
class GraphRequest:
    """One request to the emulated Graph, from the socket or from inside a $batch."""

    method: str
    path: str
    headers: dict[str, str]
    raw: bytes
    host: str = "127.0.0.1"
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_request_id: str = ""

    def __post_init__(self) -> None:
        # Graph echoes the client's client-request-id, or gives the request a fresh GUID:
        # https://learn.microsoft.com/graph/best-practices-concept (reliability and support).
        self.client_request_id = self.header("client-request-id") or str(uuid.uuid4())

    def header(self, name: str) -> str:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), "")


def _now() -> str:
    """Graph writes seven fractional digits (100 ns ticks): 2020-07-06T06:34:12.2294868Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def batch_seed(given: int | None) -> int:
    """The seed of a batch's shuffled execution order: the one given, else
    PHONECTL_SANDBOX_SEED, else a random one (so that no client comes to rely on one order)."""
    if given is not None:
        return given
    text = os.environ.get(SEED_VARIABLE, "").strip()
    if not text:
        return random.SystemRandom().randrange(2**32)
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{SEED_VARIABLE} must be a whole number, not {text!r}") from None


class GraphEmulator(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        state: SandboxState,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        log_requests: bool = False,
        shuffle_seed: int | None = None,
        request_log_limit: int = REQUEST_LOG_LIMIT,
    ) -> None:
        if not is_loopback_name(host):
            raise ValueError(f"the emulator listens on loopback only, not on {host!r}")
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _Handler)
        self.state = state
        self.page_size = page_size
        self.log_requests = log_requests
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.request_log_limit = request_log_limit
        # Tests: build @odata.nextLink on this host instead of the request's (a hostile answer).
        self.next_link_host: str | None = None
        self._control_lock = threading.Lock()
        self._closed = False
        self.shuffle_seed = batch_seed(shuffle_seed)
        self.shuffler = random.Random(self.shuffle_seed)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Every request's own failures are answered (500) by the handler; what is left is a
        # client gone mid-answer or the emulator stopping: neither is worth a traceback.
        return

    def server_close(self) -> None:
        self._closed = True
        super().server_close()
        self.state.close()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}"

    def add_fault(self, fault: Fault) -> None:
        with self._control_lock:
            self.faults.append(fault)

    def take_fault(self, method: str, path: str, *, in_batch: bool = False) -> Fault | None:
        with self._control_lock:
            for fault in self.faults:
                if fault.count > 0 and fault.matches(method, path, in_batch=in_batch):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.count -= 1
                    return fault
        return None

    def record(self, request: RecordedRequest) -> None:
        """Log a request, keeping the newest `request_log_limit`."""
        with self._control_lock:
            self.requests.append(request)
            excess = len(self.requests) - self.request_log_limit
            if excess > 0:
                del self.requests[:excess]

    def shuffled(self, items: list[Any]) -> list[Any]:
        with self._control_lock:
            items = list(items)
            self.shuffler.shuffle(items)
            return items

    def start_in_thread(self) -> threading.Thread:
        # shutdown() waits for serve_forever to notice, up to one poll interval: short, so
        # that a --sandbox command, and each of the tests' hundreds of emulators, stop at once.
        thread = threading.Thread(
            target=self.serve_forever, args=(0.005,), name="graph-emulator", daemon=True
        )
        thread.start()
        return thread

    def answer(self, request: GraphRequest, *, in_batch: bool = False) -> Reply | None:
        """Graph's answer to one request, faults included; None: drop the connection."""
        fault = self.take_fault(request.method, urlsplit(request.path).path, in_batch=in_batch)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.drop:
                return None
            if fault.status is not None:
                return _fault_reply(fault, request)
        try:
            return _Graph(self, request).route()
        except GraphProblem as problem:
            return error_reply(problem, request)


def error_reply(problem: GraphProblem, request: GraphRequest, **inner: str) -> Reply:
    """Graph's error body (https://learn.microsoft.com/graph/errors)."""
    return Reply(
        problem.status,
        {
            "error": {
                "code": problem.code,
                "message": problem.message,
                "innerError": {
                    **inner,
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request.request_id,
                    "client-request-id": request.client_request_id,
                },
            }
        },
        dict(problem.headers),
    )


def _fault_reply(fault: Fault, request: GraphRequest) -> Reply:
    assert fault.status is not None
    headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
    if fault.body == "graph":
        reply = _graph_fault(fault.status, request)
        reply.headers.update(headers)
        return reply
    content, ctype = {
        "html": (b"<html><body><h1>Service Unavailable</h1></body></html>", "text/html"),
        "malformed": (b'{"error": {"code": "broken', "application/json"),
        "empty": (b"", "application/json"),
    }[fault.body]
    return Reply(fault.status, headers=headers, content=content, content_type=ctype)


def _graph_fault(status: int, request: GraphRequest) -> Reply:
    """An injected error as Graph words it where its docs show one."""
    if status == 429:  # https://learn.microsoft.com/graph/throttling (sample response)
        problem = GraphProblem(429, "TooManyRequests", "Please retry again later.")
        return error_reply(problem, request, code="429", message="Please retry after", status="429")
    if status == 403:  # https://learn.microsoft.com/graph/json-batching (example response)
        return error_reply(
            GraphProblem(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            ),
            request,
        )
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if status == 401 else {}
    return error_reply(
        GraphProblem(status, "injectedFault", f"Injected fault {status}.", headers), request
    )


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (`gzip`, `*`, any q but 0)."""
    for part in accept_encoding.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if name.lower() not in {"gzip", "*"}:
            continue
        q = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
        try:
            if float(q) > 0:
                return True
        except ValueError:
            continue
    return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's
    # delayed ACK of the headers, 40 ms an answer.
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS
    server: GraphEmulator

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_OPTIONS(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_message(format, *args)

    def parse_request(self) -> bool:
        raw_line: bytes = getattr(self, "raw_requestline", b"")
        if not raw_line.strip():
            self.command, self.requestline, self.request_version = "", "", "HTTP/1.1"
            self.send_error(HTTPStatus.BAD_REQUEST, "Empty request line.")
            return False
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":  # no headers, no status line: not HTTP today
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({self.requestline!r})")
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a bad request line, an unknown method, headers too
        long) as Graph-shaped JSON, never its HTML page; the connection then closes."""
        if getattr(self, "request_version", "") in {"HTTP/0.9", ""}:
            self.request_version = "HTTP/1.1"  # so that the status line is written
        request = GraphRequest(self.command or "", "", {}, b"")
        if code == HTTPStatus.NOT_IMPLEMENTED:  # a method nothing here serves
            problem = _method_not_allowed()
        else:
            phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else ""
            problem = GraphProblem(code, _error_code(code), message or phrase)
        self._send(error_reply(problem, request), request, close=True)

    def _handle(self) -> None:
        try:
            self._serve()
        except OSError:  # the client went away: nobody to answer
            self.close_connection = True
        except Exception:  # a bug answers 500, never a traceback or a dropped connection
            request = GraphRequest(self.command, self.path, dict(self.headers), b"")
            problem = GraphProblem(500, "generalException", "An internal error occurred.")
            self._send(error_reply(problem, request), request, close=True)

    def _serve(self) -> None:
        headers = dict(self.headers)
        host = self.headers.get("Host", "")
        request = GraphRequest(self.command, self.path, headers, b"", host=host)
        length, problem = self._body_length()
        if not is_loopback_host_header(host):
            problem = GraphProblem(
                421,
                "MisdirectedRequest",
                "This emulator answers only requests addressed to a loopback host "
                "(localhost, 127.0.0.1, [::1]).",
            )
        if problem is not None:
            self._send(error_reply(problem, request), request, close=True)
            self._discard(length)
            return
        request.raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        if path.startswith(CONTROL_PREFIX):
            what = path[len(CONTROL_PREFIX) :]
            self._send(_control(self.server, self.command, what, request), request)
            return
        recorded = RecordedRequest.of(self.command, self.path, headers, request.raw)
        self.server.record(recorded)
        started = time.perf_counter()
        reply: Reply | None
        if self.command == "OPTIONS":
            reply = _preflight(request)
        else:
            if self.command == "HEAD":  # Graph's GET, without the body
                request.method = "GET"
            reply = self.server.answer(request)
        recorded.seconds = time.perf_counter() - started
        if reply is None:
            self.close_connection = True
            return
        if request.header("Origin"):
            reply.headers.setdefault("Access-Control-Allow-Origin", request.header("Origin"))
        self._send(reply, request)

    def _body_length(self) -> tuple[int, GraphProblem | None]:
        """The body's length from Content-Length, or why the request cannot be read."""
        if self.headers.get("Transfer-Encoding"):
            return 0, GraphProblem(411, "BadRequest", "A Content-Length header is required.")
        values = self.headers.get_all("Content-Length") or []
        if not values:
            return 0, None
        if len(set(values)) != 1 or not values[0].strip().isascii() or not values[0].isdigit():
            return 0, GraphProblem(400, "BadRequest", "Invalid Content-Length header.")
        length = int(values[0])
        if length > MAX_BODY_BYTES:
            return length, GraphProblem(
                413,
                "BadRequest",
                f"The request size exceeds the maximum limit of {MAX_BODY_BYTES} bytes.",
            )
        return length, None

    def _discard(self, length: int) -> None:
        """Read and drop a refused request's body (up to a bound), so that closing the
        connection does not reset it before the client has read the answer."""
        remaining = min(length, DRAIN_LIMIT_BYTES)
        try:
            self.connection.settimeout(DRAIN_SECONDS)
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
        except OSError:
            pass

    def _send(self, reply: Reply, request: GraphRequest, *, close: bool = False) -> None:
        content = reply.body_bytes()
        compressed = bool(content) and _accepts_gzip(request.header("Accept-Encoding"))
        if compressed:  # as Graph does when the client accepts it
            content = gzip.compress(content, compresslevel=5, mtime=0)
        self.send_response(reply.status)
        self.send_header("request-id", request.request_id)
        self.send_header("client-request-id", request.client_request_id)
        if content:
            self.send_header("Content-Type", reply.content_type)
        if reply.content is None and content:
            self.send_header("OData-Version", "4.0")
        if compressed:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(content)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)


def _error_code(status: int) -> str:
    return {
        401: "InvalidAuthenticationToken",
        404: "ResourceNotFound",
        413: "BadRequest",
        414: "BadRequest",
        431: "BadRequest",
        505: "BadRequest",
    }.get(status, "BadRequest" if status < 500 else "generalException")


def _preflight(request: GraphRequest) -> Reply:
    """A CORS preflight, answered so that a browser app may call Graph (Graph supports CORS
    for single-page apps: https://learn.microsoft.com/graph/tutorials/javascript-spa): the
    asking origin, the methods Graph serves, the headers asked for."""
    headers = {"Allow": GRAPH_METHODS}
    origin = request.header("Origin")
    if origin:
        headers.update(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": GRAPH_METHODS,
                "Access-Control-Allow-Headers": request.header("Access-Control-Request-Headers")
                or "Authorization, Content-Type",
                "Access-Control-Max-Age": "3600",
            }
        )
    return Reply(200, headers=headers)


# -- the tools' control API ----------------------------------------------------------------


def _control(server: GraphEmulator, method: str, what: str, request: GraphRequest) -> Reply:
    """/_sandbox/...: faults, the request log, users, reset. JSON only, and never for a web
    page: a browser's cross-site request carries an Origin header and, without a preflight
    this API never grants, only form or text bodies."""
    if request.header("Origin") or method == "OPTIONS":
        return _control_refusal(403, "forbidden", "The control API takes no browser requests.")
    if method in {"POST", "PUT", "PATCH"} and not is_json_media_type(
        request.header("Content-Type")
    ):
        return _control_refusal(
            415, "unsupportedMediaType", "The control API takes application/json only."
        )
    try:
        body = json.loads(request.raw) if request.raw else None
    except ValueError:  # not UTF-8, or not JSON
        return _control_refusal(400, "badRequest", "The body is not JSON.")
    if what == "faults" and method == "POST":
        try:
            server.add_fault(Fault.from_json(body))
        except (ValueError, TypeError) as exc:
            return _control_refusal(400, "badFault", str(exc))
        return Reply(204)
    if what == "faults" and method == "DELETE":
        server.faults.clear()
        return Reply(204)
    if what == "requests" and method == "GET":
        return Reply(200, {"value": [asdict(r) for r in list(server.requests)]})
    if what == "requests" and method == "DELETE":
        server.requests.clear()
        return Reply(204)
    if what == "reset" and method == "POST":
        server.state.reset()
        return Reply(204)
    if what == "users" and method == "POST":
        try:  # all or none
            users = [_control_user(u) for u in (body if isinstance(body, list) else [body])]
            with server.state.transaction():
                for user in users:
                    server.state.add_user(*user)
        except (ValueError, TypeError, KeyError) as exc:
            return _control_refusal(400, "badUser", str(exc))
        return Reply(204)
    return _control_refusal(404, "notFound", "unknown control call")


def _control_refusal(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


SYSTEM_QUERY_OPTIONS = frozenset(
    {"select", "filter", "orderby", "top", "skip", "count", "skiptoken", "expand", "search"}
)


def _system_options(query: dict[str, list[str]]) -> dict[str, list[str]]:
    """The query with every OData system option under its `$` name: on the beta endpoint the
    prefix is optional (https://learn.microsoft.com/graph/query-parameters). An option given
    twice (`top` and `$top`) is refused, as OData refuses it."""
    options: dict[str, list[str]] = {}
    for name, values in query.items():
        canonical = f"${name}" if name.lower() in SYSTEM_QUERY_OPTIONS else name
        if canonical in options or len(values) > 1:
            raise GraphProblem(
                400,
                "BadRequest",
                f"Query option '{canonical}' was specified more than once, but it must be "
                "specified at most once.",
            )
        options[canonical] = values
    return options


def _is_batch_url(url: str) -> bool:
    return "$batch" in unquote(urlsplit(url).path).split("/")


class _Graph:
    """Graph's routes and rules, applied to one request."""

    def __init__(self, emulator: GraphEmulator, request: GraphRequest) -> None:
        self.emulator = emulator
        self.request = request
        self.command = request.method

    def route(self) -> Reply:
        request = self.request
        parts = urlsplit(request.path)
        # Graph serves empty segments (`/beta//me/...`, as the official SDKs send them).
        segments = [unquote(s) for s in parts.path.split("/") if s]
        if not segments or segments[0] != "beta":
            raise GraphProblem(400, "BadRequest", "Invalid version: only /beta is emulated.")
        auth = request.header("Authorization")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise GraphProblem(
                401,
                "InvalidAuthenticationToken",
                "Access token is empty.",
                {"WWW-Authenticate": WWW_AUTHENTICATE},
            )
        # https://learn.microsoft.com/graph/errors: 415, "The content type of the request is
        # a format that is not supported by the service."
        if (
            request.raw
            and self.command in {"POST", "PATCH", "PUT"}
            and not is_json_media_type(request.header("Content-Type"))
        ):
            raise GraphProblem(
                415,
                "UnsupportedMediaType",
                "The content type of the request is a format that is not supported by the "
                "service: send application/json.",
            )
        rest = segments[1:]
        if rest == ["$batch"]:
            if self.command != "POST":
                raise _method_not_allowed()
            return self._batch()
        raw, body = request.raw, _decode_body(request.raw)
        state = self.emulator.state
        query = _system_options(parse_qs(parts.query))
        with state.transaction():
            user: dict[str, Any] | None
            if rest == ["users"]:
                return self._users(parts.path, query)
            if rest[:1] == ["me"]:
                user, rest = state.me(), rest[1:]
            elif rest[:1] == ["users"] and len(rest) >= 2:
                user = state.find_user(rest[1])
                if user is None:
                    raise GraphProblem(
                        404,
                        "Request_ResourceNotFound",
                        f"Resource '{rest[1]}' does not exist or one of its queried "
                        "reference-property objects are not present.",
                    )
                rest = rest[2:]
            else:
                raise _no_route(parts.path)
            if not rest:
                return self._user(user, query)
            if rest == ["profile"]:
                return self._profile(user, query)
            if rest[:2] != ["profile", "phones"] or len(rest) > 3:
                raise _no_route(parts.path)
            if len(rest) == 2:
                return self._collection(user, parts.path, query, raw, body)
            if rest[2] == "$count":
                return self._count(user, query)
            return self._item(user, rest[2], query, raw, body)

    def _user(self, user: dict[str, Any], query: dict[str, list[str]]) -> Reply:
        """GET /me or /users/{id | userPrincipalName}: the user object ($select honoured)."""
        if self.command != "GET":
            raise _method_not_allowed()
        return Reply(
            200,
            {"@odata.context": f"{GRAPH_ROOT}/$metadata#users/$entity", **_selected(user, query)},
        )

    def _profile(self, user: dict[str, Any], query: dict[str, list[str]]) -> Reply:
        """GET /me/profile or /users/{id}/profile: the profile with its collections, as the
        beta "Get profile" page shows it
        (https://learn.microsoft.com/graph/api/profile-get?view=graph-rest-beta); only phones
        are emulated, the other collections are empty."""
        if self.command != "GET":
            raise _method_not_allowed()
        profile: dict[str, Any] = {"id": user["id"]}
        for name in PROFILE_COLLECTIONS:
            profile[name] = []
        profile["phones"] = self.emulator.state.phones(user["id"])
        wanted = _names(query, PROFILE_PROPERTIES, "profile")
        context = f"{GRAPH_ROOT}/$metadata#users('{user['id']}')/profile"
        if wanted:
            context += f"({','.join(wanted)})"
            profile = {k: v for k, v in profile.items() if k in wanted}
        return Reply(200, {"@odata.context": context + "/$entity", **profile})

    def _users(self, path: str, query: dict[str, list[str]]) -> Reply:
        """GET /users: every user, paged by $top and $skiptoken ($select honoured)."""
        if self.command != "GET":
            raise _method_not_allowed()
        top = _page_size(query, 100)
        users, after = self.emulator.state.users(
            after=_int_param(query, "$skiptoken", 0), limit=top
        )
        page: dict[str, Any] = {
            "@odata.context": f"{GRAPH_ROOT}/$metadata#users",
            "value": [_selected(u, query) for u in users],
        }
        if after is not None:
            select = f"&$select={query['$select'][0]}" if "$select" in query else ""
            page["@odata.nextLink"] = (
                f"http://{self.emulator.next_link_host or self.request.host}"
                f"{path}?$top={top}&$skiptoken={after}{select}"
            )
        return Reply(200, page)

    def _batch(self) -> Reply:
        """JSON batching (https://learn.microsoft.com/graph/json-batching): at most 20
        requests, checked whole first, each then answered on its own; saved once."""
        items = _batch_items(self.request.raw)
        if any(item.get("dependsOn") for item in items):
            order = items  # sequential: each depends only on earlier ones (checked)
        else:
            # Independent requests run in whatever order suits the server (the id "allows
            # the server to process requests in the batch in the most efficient order"): a
            # seeded shuffle, so that a client relying on the order fails its tests.
            order = self.emulator.shuffled(items)
        answers: dict[str, dict[str, Any]] = {}
        with self.emulator.state.transaction():
            for item in order:
                failed = [
                    d for d in item.get("dependsOn") or [] if answers[d.lower()]["status"] >= 400
                ]
                if failed:  # Graph does not run a request whose dependency failed
                    answers[item["id"].lower()] = self._failed_dependency(item, failed[0])
                else:
                    answers[item["id"].lower()] = self._batch_item(item)
        # Answers come in any order too: clients must match them by id.
        return Reply(200, {"responses": self.emulator.shuffled(list(answers.values()))})

    def _failed_dependency(self, item: dict[str, Any], dependency: str) -> dict[str, Any]:
        problem = GraphProblem(
            424, "FailedDependency", f"The dependency '{dependency}' failed; not run."
        )
        reply = error_reply(problem, self.request)
        return {"id": item["id"], "status": 424, "headers": {}, "body": reply.payload}

    def _batch_item(self, item: dict[str, Any]) -> dict[str, Any]:
        headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
        headers["Authorization"] = self.request.header("Authorization")
        body = item.get("body")
        url = str(item["url"])
        inner = GraphRequest(
            item["method"].upper(),
            "/beta" + (url if url.startswith("/") else "/" + url),  # the docs' own examples
            headers,
            b"" if body is None else json.dumps(body).encode(),
            host=self.request.host,
        )
        reply = self.emulator.answer(inner, in_batch=True)
        if reply is None:  # a dropped connection has no meaning inside a batch
            reply = error_reply(GraphProblem(502, "BadGateway", "No answer."), inner)
        content = reply.body_bytes()
        try:
            answer_body: Any = json.loads(content) if content else None
        except ValueError:
            answer_body = content.decode("utf-8", "replace")
        answer_headers = {"request-id": inner.request_id, **reply.headers}
        if content:
            answer_headers["Content-Type"] = reply.content_type
        return {
            "id": item["id"],
            "status": reply.status,
            "headers": answer_headers,
            "body": answer_body,
        }

    def _collection(
        self, user: dict[str, Any], path: str, query: dict[str, list[str]], raw: bytes, body: Any
    ) -> Reply:
        state = self.emulator.state
        if self.command == "GET":
            return Reply(200, self._page(user, state.phones(user["id"]), path, query))
        if self.command == "POST":
            fields = _writable_fields(raw, body)
            if not isinstance(fields.get("number"), str):  # the docs: number is required
                raise GraphProblem(400, "BadRequest", "The property 'number' is required.")
            phone = self._new_phone(user)
            _apply(phone, fields)
            state.add_phone(user["id"], phone)
            location = f"http://{self.request.host}{path.rstrip('/')}/{phone['id']}"
            return Reply(201, _entity(user, phone), {"Location": location})
        raise _method_not_allowed()

    def _count(self, user: dict[str, Any], query: dict[str, list[str]]) -> Reply:
        """GET .../phones/$count: the number as plain text
        (https://learn.microsoft.com/graph/query-parameters, "$count" as a URL segment)."""
        if self.command != "GET":
            raise _method_not_allowed()
        keep = _filter(query)
        count = sum(1 for p in self.emulator.state.phones(user["id"]) if keep(p))
        return Reply(200, content=str(count).encode(), content_type="text/plain;charset=utf-8")

    def _page(
        self,
        user: dict[str, Any],
        phones: list[dict[str, Any]],
        path: str,
        query: dict[str, list[str]],
    ) -> dict[str, Any]:
        """A page of the collection with the OData query options Graph documents for it:
        $filter (type eq '...'), $orderby, $skip, $top, $count, $select; paged by
        $skiptoken in @odata.nextLink, which carries the other options along."""
        selected = _select(query)
        found = [p for p in phones if _filter(query)(p)]
        for name, descending in reversed(_orderby(query)):  # stable sorts, last key first
            found.sort(key=_sort_key(name), reverse=descending)
        total = len(found)
        found = found[_int_param(query, "$skip", 0) :]
        # $top is the client's page size, the rest following by @odata.nextLink, which
        # carries $top along (https://learn.microsoft.com/graph/paging).
        size = _page_size(query, self.emulator.page_size)
        start = _int_param(query, "$skiptoken", 0)
        stop = start + size
        context = f"{GRAPH_ROOT}/$metadata#users('{user['id']}')/profile/phones"
        if selected:
            context += f"({','.join(selected)})"
        page: dict[str, Any] = {"@odata.context": context}
        if query.get("$count", [""])[0].lower() == "true":
            page["@odata.count"] = total
        page["value"] = [
            {k: v for k, v in p.items() if not selected or k in selected} for p in found[start:stop]
        ]
        if size and stop < len(found):
            options = [
                f"{name}={quote(values[0], safe=KEEP_IN_QUERY)}"
                for name, values in query.items()
                if name != "$skiptoken"
            ]
            page["@odata.nextLink"] = (
                f"http://{self.emulator.next_link_host or self.request.host}{path}?"
                + "&".join([*options, f"$skiptoken={stop}"])
            )
        return page

    def _item(
        self,
        user: dict[str, Any],
        phone_id: str,
        query: dict[str, list[str]],
        raw: bytes,
        body: Any,
    ) -> Reply:
        state = self.emulator.state
        phone = state.phone(user["id"], phone_id)
        if phone is None:
            raise GraphProblem(
                404, "ResourceNotFound", f"Resource 'itemPhone' with id '{phone_id}' not found."
            )
        if self.command == "GET":
            return Reply(200, _entity(user, phone, _select(query)))
        if self.command == "PATCH":
            fields = _writable_fields(raw, body)
            _apply(phone, fields)
            phone["lastModifiedDateTime"] = _now()
            phone["lastModifiedBy"] = _identity(state.me())
            state.replace_phone(user["id"], phone)
            return Reply(200, _entity(user, phone))
        if self.command == "DELETE":
            state.delete_phone(user["id"], phone_id)
            return Reply(204)
        raise _method_not_allowed()

    def _new_phone(self, user: dict[str, Any]) -> dict[str, Any]:
        me = self.emulator.state.me()
        now = _now()
        return {
            "id": str(uuid.uuid4()),
            "allowedAudiences": "organization",
            "inference": None,
            "createdDateTime": now,
            "createdBy": _identity(me),
            "lastModifiedDateTime": now,
            "lastModifiedBy": _identity(me),
            "source": {"type": ["User"]},
            "displayName": None,
            "type": "other",
            "number": None,
        }


def _batch_items(raw: bytes) -> list[dict[str, Any]]:
    """A $batch's requests, refused whole (400) where Graph's JSON batching page says a
    batch is malformed: more than 20 requests; an id that is not a string or repeats in any
    case ("Not case-sensitive. Must be unique"); a body without a Content-Type header; a
    dependsOn naming a request that is not earlier; a mix of sequential and parallel requests
    ("Batch should be either fully sequential or fully parallel"); a $batch inside."""
    try:
        items = json.loads(raw)["requests"]
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise GraphProblem(400, "BadRequest", "Invalid batch payload format.") from None
    if len(items) > MAX_BATCH_REQUESTS:
        raise GraphProblem(
            400,
            "BadRequest",
            f"Number of batch request steps exceeds the maximum of {MAX_BATCH_REQUESTS}.",
        )
    earlier: set[str] = set()
    for item in items:
        item_id = item.get("id")
        if not isinstance(item_id, str) or not item_id:
            raise _bad_batch("Each batch request needs an id, a non-empty string.")
        if item_id.lower() in earlier:
            raise _bad_batch(f"Batch request ids must be unique (in any case): '{item_id}'.")
        if not isinstance(item.get("method"), str) or not isinstance(item.get("url"), str):
            raise _bad_batch("Each batch request needs a method and a url.")
        if _is_batch_url(item["url"]):
            raise _bad_batch("A batch request cannot contain another $batch.")
        headers = item.get("headers")
        if headers is not None and not isinstance(headers, dict):
            raise _bad_batch("A batch request's headers must be a JSON object.")
        if "body" in item and not any(str(k).lower() == "content-type" for k in headers or {}):
            raise _bad_batch(f"Request '{item_id}' has a body but no Content-Type header.")
        depends = item.get("dependsOn")
        if depends is not None and (
            not isinstance(depends, list) or not all(isinstance(d, str) for d in depends)
        ):
            raise _bad_batch("dependsOn must be a list of request ids.")
        if any(d.lower() not in earlier for d in depends or []):
            raise _bad_batch(
                f"dependsOn of request '{item_id}' names a request that is not before it."
            )
        earlier.add(item_id.lower())
    if any(item.get("dependsOn") for item in items) and not all(
        item.get("dependsOn") for item in items[1:]
    ):
        raise _bad_batch("A batch must be either fully sequential or fully parallel.")
    return items


def _bad_batch(message: str) -> GraphProblem:
    return GraphProblem(400, "BadRequest", message)


GRAPH_ROOT = "https://graph.microsoft.com/beta"
USER_PROPERTIES = ("id", "userPrincipalName", "displayName")
# The profile's collections (beta metadata, entity type profile); only phones are emulated.
PROFILE_COLLECTIONS = (
    "account",
    "addresses",
    "anniversaries",
    "awards",
    "certifications",
    "educationalActivities",
    "emails",
    "interests",
    "languages",
    "names",
    "notes",
    "patents",
    "phones",
    "positions",
    "projects",
    "publications",
    "skills",
    "webAccounts",
    "websites",
)
PROFILE_PROPERTIES = ("id", *PROFILE_COLLECTIONS)


PHONE_PROPERTIES = (
    "id",
    "allowedAudiences",
    "createdBy",
    "createdDateTime",
    "inference",
    "isSearchable",
    "lastModifiedBy",
    "lastModifiedDateTime",
    "source",
    "sources",
    "displayName",
    "number",
    "type",
)
KEEP_IN_QUERY = "$,'()"  # OData's own punctuation, left readable in a nextLink
ORDERABLE = ("type", "number", "displayName", "createdDateTime", "lastModifiedDateTime", "id")


def _sort_key(name: str) -> Any:
    def key(phone: dict[str, Any]) -> str:
        return str(phone.get(name) or "")

    return key


def _entity(
    user: dict[str, Any], phone: dict[str, Any], selected: list[str] | None = None
) -> dict[str, Any]:
    """One phone as Graph answers it: with the @odata.context of an entity, only the
    properties $select names if it names any."""
    context = f"{GRAPH_ROOT}/$metadata#users('{user['id']}')/profile/phones"
    if selected:
        context += f"({','.join(selected)})"
        phone = {k: v for k, v in phone.items() if k in selected}
    return {"@odata.context": context + "/$entity", **phone}


def _select(query: dict[str, list[str]]) -> list[str]:
    return _names(query, PHONE_PROPERTIES, "itemPhone")


def _names(query: dict[str, list[str]], known: tuple[str, ...], type_name: str) -> list[str]:
    """The properties $select names, each checked against the type's own."""
    if "$select" not in query:
        return []
    names = [n.strip() for n in query["$select"][0].split(",") if n.strip()]
    for name in names:
        if name not in known:
            raise GraphProblem(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.{type_name}'.",
            )
    return names


def _page_size(query: dict[str, list[str]], default: int) -> int:
    """$top, Graph's page size (at most 999), or the server's own."""
    size = _int_param(query, "$top", default)
    if size > MAX_PAGE_SIZE:
        raise GraphProblem(
            400,
            "BadRequest",
            f"Invalid page size specified: '{size}'. Must be between 1 and {MAX_PAGE_SIZE} "
            "inclusive.",
        )
    return int(size)


def _filter(query: dict[str, list[str]]) -> Any:
    """$filter: `type eq '...'` (what phonectl's users filter profile phones by)."""
    import re

    if "$filter" not in query:
        return lambda phone: True
    match = re.fullmatch(r"\s*type\s+eq\s+'([^']*)'\s*", query["$filter"][0])
    if match is None:
        raise GraphProblem(400, "BadRequest", f"Invalid $filter clause: '{query['$filter'][0]}'.")
    return lambda phone: phone.get("type") == match[1]


def _orderby(query: dict[str, list[str]]) -> list[tuple[str, bool]]:
    if "$orderby" not in query:
        return []
    keys = []
    for part in query["$orderby"][0].split(","):
        words = part.split()
        if (
            not words
            or words[0] not in ORDERABLE
            or len(words) > 2
            or (len(words) == 2 and words[1].lower() not in {"asc", "desc"})
        ):
            raise GraphProblem(400, "BadRequest", f"Invalid $orderby clause: '{part.strip()}'.")
        keys.append((words[0], len(words) == 2 and words[1].lower() == "desc"))
    return keys


def _selected(user: dict[str, Any], query: dict[str, list[str]]) -> dict[str, Any]:
    """A user's public properties, or those $select names."""
    wanted: tuple[str, ...] = USER_PROPERTIES
    if "$select" in query:
        names = [n.strip() for n in query["$select"][0].split(",") if n.strip()]
        unknown = [n for n in names if n not in USER_PROPERTIES]
        if unknown:
            raise GraphProblem(
                400,
                "BadRequest",
                f"Could not find a property named '{unknown[0]}' on type 'microsoft.graph.user'.",
            )
        wanted = tuple(n for n in USER_PROPERTIES if n in names)
    return {name: user[name] for name in wanted}


def _identity(user: dict[str, Any]) -> dict[str, Any]:
    return {
        "application": None,
        "device": None,
        "user": {"displayName": user["displayName"], "id": user["id"]},
    }


def _decode_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def _no_route(path: str) -> GraphProblem:
    return GraphProblem(400, "BadRequest", f"Resource not found for the segment in '{path}'.")


def _method_not_allowed() -> GraphProblem:
    """Graph's 405, in its words (https://learn.microsoft.com/graph/json-batching, the
    example response's request 4)."""
    return GraphProblem(
        405,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
        {"Allow": GRAPH_METHODS},
    )


def _control_user(body: Any) -> tuple[str, str, str | None, list[dict[str, Any]]]:
    """A user for the control API's `POST /_sandbox/users`, checked: id, userPrincipalName,
    displayName and phones (objects with a string id), nothing else."""
    if not isinstance(body, dict):
        raise TypeError("a user is a JSON object")
    unknown = set(body) - {"id", "userPrincipalName", "displayName", "phones"}
    if unknown:
        raise ValueError(f"unknown user key {sorted(unknown)[0]!r}")
    user_id, upn, name = body.get("id"), body.get("userPrincipalName"), body.get("displayName")
    phones = body.get("phones", [])
    if not isinstance(user_id, str) or not user_id or not isinstance(upn, str) or not upn:
        raise ValueError("a user needs a string id and userPrincipalName")
    if name is not None and not isinstance(name, str):
        raise ValueError("displayName must be a string or null")
    if not isinstance(phones, list) or not all(
        isinstance(p, dict) and isinstance(p.get("id"), str) for p in phones
    ):
        raise ValueError("phones must be a list of objects with a string id")
    return user_id, upn, name, phones


def _int_param(query: dict[str, list[str]], name: str, default: int | None) -> Any:
    """A whole-number query option (>= 0); `default` when absent."""
    if name not in query:
        return default
    text = query[name][0]
    if not text.isdigit():
        raise GraphProblem(400, "BadRequest", f"Invalid value '{text}' for {name}.")
    return int(text)


def _writable_fields(raw: bytes, body: Any) -> dict[str, Any]:
    """The request body, checked as Graph checks an itemPhone."""
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise GraphProblem(400, "BadRequest", "Unable to read JSON request payload.") from None
    if not isinstance(parsed, dict):
        raise GraphProblem(400, "BadRequest", "The request body must be a JSON object.")
    _check_odata_type(parsed, "itemPhone")
    fields = {k: v for k, v in parsed.items() if not k.startswith("@odata.")}
    for name, value in fields.items():
        if name in READ_ONLY:
            raise GraphProblem(400, "BadRequest", f"The property '{name}' is read-only.")
        check = _CHECKS.get(name)
        if check is None:
            raise _unknown_property(name, "itemPhone")
        check(name, value)
    return fields


def _json_text(value: Any) -> str:
    """A value as Graph's messages quote it: JSON, never a Python repr."""
    return json.dumps(value, ensure_ascii=False)


def _invalid(name: str, value: Any, expected: str) -> GraphProblem:
    return GraphProblem(
        400,
        "BadRequest",
        f"Cannot convert the value {_json_text(value)} of property '{name}' to the expected "
        f"type '{expected}'.",
    )


def _check_enum(members: tuple[str, ...], type_name: str, *, nullable: bool) -> Any:
    def check(name: str, value: Any) -> None:
        if value is None:
            if not nullable:
                raise _not_nullable(name)
            return
        if not isinstance(value, str):
            raise _invalid(name, value, f"microsoft.graph.{type_name}")
        if value not in members:
            raise GraphProblem(
                400,
                "BadRequest",
                f"Requested value '{value}' was not found in 'microsoft.graph.{type_name}'.",
            )

    return check


def _check_flags(members: tuple[str, ...], type_name: str) -> Any:
    """A flags enum: one string of comma-separated member names (nullable)."""

    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str):
            raise _invalid(name, value, f"microsoft.graph.{type_name}")
        for part in value.split(","):
            if part.strip() not in members:
                raise GraphProblem(
                    400,
                    "BadRequest",
                    f"Requested value '{part.strip()}' was not found in "
                    f"'microsoft.graph.{type_name}'.",
                )

    return check


def _not_nullable(name: str) -> GraphProblem:
    return GraphProblem(
        400, "BadRequest", f"A null value was found for the non-nullable property '{name}'."
    )


def _check_primitive(edm: str, *kinds: type) -> Any:
    def check(name: str, value: Any) -> None:
        # bool is an int in Python, but not a number in JSON.
        wrong_bool = isinstance(value, bool) and bool not in kinds
        if value is not None and (not isinstance(value, kinds) or wrong_bool):
            raise _invalid(name, value, edm)

    return check


def _check_collection(edm: str, item_check: Any) -> Any:
    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, list):
            raise _invalid(name, value, f"Collection({edm})")
        for item in value:
            if item is None:
                raise _not_nullable(name)
            item_check(name, item)

    return check


def _check_complex(type_name: str, properties: dict[str, Any]) -> Any:
    def check(name: str, value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, dict):
            raise _invalid(name, value, f"microsoft.graph.{type_name}")
        _check_odata_type(value, type_name)
        for key, item in value.items():
            if key.startswith("@odata."):
                continue
            item_check = properties.get(key)
            if item_check is None:
                raise _unknown_property(key, type_name)
            item_check(key, item)

    return check


def _check_odata_type(value: dict[str, Any], type_name: str) -> None:
    """An `@odata.type` annotation must name the expected type (with or without its `#`):
    OData refuses a value annotated as another type
    (https://learn.microsoft.com/graph/api/itemphone-update?view=graph-rest-beta takes an
    itemPhone)."""
    annotated = value.get("@odata.type")
    if annotated is None:
        return
    expected = f"microsoft.graph.{type_name}"
    if not isinstance(annotated, str) or annotated.removeprefix("#") != expected:
        raise GraphProblem(
            400,
            "BadRequest",
            f"A resource with type '{_json_text(annotated).strip(chr(34))}' was found, but it "
            f"is not assignable to the expected type '{expected}'. The type specified in the "
            "resource must be equal to either the expected type or a derived type.",
        )


def _unknown_property(name: str, type_name: str) -> GraphProblem:
    return GraphProblem(
        400,
        "BadRequest",
        f"The property '{name}' does not exist on type 'microsoft.graph.{type_name}'. "
        "Make sure to only use property names that are defined by the type.",
    )


_STRING = _check_primitive("Edm.String", str)
_BOOLEAN = _check_primitive("Edm.Boolean", bool)
_DOUBLE = _check_primitive("Edm.Double", int, float)

# The writable properties of itemPhone (and the itemFacet it inherits from), as Graph's
# published beta metadata defines them: microsoftgraph/msgraph-metadata, schemas/beta-*.csdl
# and schemas/type-mappings/beta-*.json. Written here, not imported from phonectl: the
# emulator is the tests' oracle and must not inherit phonectl's mistakes.
# - EnumType phoneType: ten members, no unknownFutureValue; itemPhone.type Nullable="false".
# - EnumType allowedAudiences IsFlags="true": several members in one comma-separated string.
# - ComplexType personDataSources: type is Collection(Edm.String).
# - itemFacet: isSearchable (Edm.Boolean), sources (a collection of complex values).
PHONE_TYPES = (
    "home",
    "business",
    "mobile",
    "other",
    "assistant",
    "homeFax",
    "businessFax",
    "otherFax",
    "pager",
    "radio",
)
AUDIENCES = (
    "me",
    "family",
    "contacts",
    "groupMembers",
    "organization",
    "federatedOrganizations",
    "everyone",
    "unknownFutureValue",
)
_CHECKS = {
    "type": _check_enum(PHONE_TYPES, "phoneType", nullable=False),
    "allowedAudiences": _check_flags(AUDIENCES, "allowedAudiences"),
    "number": _STRING,
    "displayName": _STRING,
    "isSearchable": _BOOLEAN,
    "source": _check_complex(
        "personDataSources", {"type": _check_collection("Edm.String", _STRING)}
    ),
    "sources": _check_collection(
        "microsoft.graph.profileSourceAnnotation",
        _check_complex(
            "profileSourceAnnotation",
            {
                "isDefaultSource": _BOOLEAN,
                "properties": _check_collection("Edm.String", _STRING),
                "sourceId": _STRING,
            },
        ),
    ),
    "inference": _check_complex(
        "inferenceData", {"confidenceScore": _DOUBLE, "userHasVerifiedAccuracy": _BOOLEAN}
    ),
}


def _apply(phone: dict[str, Any], fields: dict[str, Any]) -> None:
    """PATCH semantics: complex values merge property by property, null clears."""
    for name, value in fields.items():
        current = phone.get(name)
        if isinstance(value, dict) and isinstance(current, dict):
            phone[name] = {**current, **value}
        else:
            phone[name] = value
