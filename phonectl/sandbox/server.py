"""The emulator as an HTTP service: it listens, reads requests within bounds, keeps the request
log (never a credential), and answers, safe to leave running (loopback only, see guard.py; a
malformed request gets a Graph-shaped 4xx, never a dropped connection or a traceback).

Its rooms: wire.py (a request and an answer in Graph's shapes), routes.py (Graph's routes,
query options, paging and batching), itemphone.py (the types, from Graph's published
metadata), control.py (faults and the tools' /_sandbox/ control API), state.py (the data).
"""

from __future__ import annotations

import gzip
import os
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from phonectl.errors import InvalidInput
from phonectl.sandbox.control import CONTROL_PREFIX, Fault, answer_control, fault_reply
from phonectl.sandbox.guard import (
    credential_fingerprint,
    is_loopback_host_header,
    is_loopback_origin,
    loggable_headers,
    scrubbed,
    secrets_in,
)
from phonectl.sandbox.routes import DEFAULT_PAGE_SIZE, GraphRoutes
from phonectl.sandbox.state import SandboxState
from phonectl.sandbox.wire import (
    GRAPH_METHODS,
    GraphProblem,
    GraphRequest,
    Reply,
    decode_body,
    error_reply,
    method_not_allowed,
)
from phonectl.urls import is_loopback_host

__all__ = ["Fault", "GraphEmulator", "RecordedRequest"]

# Bounds that keep a long-running emulator's memory flat whatever its clients send.
MAX_BODY_BYTES = 4 * 1024 * 1024  # Graph's own request size limit is 4 MB
REQUEST_LOG_LIMIT = 10_000  # the newest requests; older ones drop off the front
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024  # read and dropped after a refusal, so it reaches the client
DRAIN_SECONDS = 2.0
IDLE_TIMEOUT_SECONDS = 60.0  # a client that sends nothing does not hold a thread forever
SEED_VARIABLE = "PHONECTL_SANDBOX_SEED"


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
            scrubbed(decode_body(raw), secrets),
            credential=credential_fingerprint(authorization),
        )


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
        if not is_loopback_host(host):
            raise ValueError(f"the emulator listens on loopback only, not on {host!r}")
        if ":" in host:
            self.address_family = socket.AF_INET6
        # Before binding: a port in use fails inside __init__, which closes the server.
        self.state = state
        self._closed = False
        super().__init__((host, port), _Handler)
        self.page_size = page_size
        self.log_requests = log_requests
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.request_log_limit = request_log_limit
        # Tests: build @odata.nextLink on this host instead of the request's (a hostile answer).
        self.next_link_host: str | None = None
        self._control_lock = threading.Lock()
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
                return fault_reply(fault, request)
        try:
            reply = GraphRoutes(self, request).route()
        except GraphProblem as problem:
            reply = error_reply(problem, request)
        reply.cut = fault is not None and fault.cut and not in_batch
        return reply


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
        """`sandbox serve --log`: one line a request, with no token in it (a request line
        can carry one in its query)."""
        if self.server.log_requests:
            headers = getattr(self, "headers", None)
            authorization = headers.get("Authorization", "") if headers is not None else ""
            line = scrubbed(format % args, secrets_in(authorization))
            super().log_message("%s", line)

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
            problem = method_not_allowed()
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
            self._send(answer_control(self.server, self.command, what, request), request)
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
        if is_loopback_origin(request.header("Origin")):
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
            content = gzip.compress(content, compresslevel=1, mtime=0)
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
        if reply.cut:
            self.close_connection = True
            content = content[: len(content) // 2]
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
    asking origin, the methods Graph serves, the headers asked for. Unlike Graph, which
    wants a real token, the emulator takes any: so it grants this only to an app served from
    this machine, never to a page from elsewhere (which could then read and write the
    sandbox's data with a made-up token)."""
    headers = {"Allow": GRAPH_METHODS}
    origin = request.header("Origin")
    if is_loopback_origin(origin):
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
