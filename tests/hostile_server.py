"""A hostile Graph: a real HTTP server on loopback that answers every request in one chosen
bad way (echo the Authorization header back, redirect, drip bytes, gzip-bomb, loop
nextLinks, answer non-objects, nest JSON deeply, inject terminal controls, hang), and a
tripwire: a listener on another loopback address that records any connection to it."""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Over phonectl's 64 MiB cap once decompressed; about 200 KiB on the wire.
BOMB_BYTES = 200 * 1024 * 1024


def _gzip_bomb() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: gzip framing
    zeros = b"0" * (1024 * 1024)
    parts = [compressor.compress(zeros) for _ in range(BOMB_BYTES // len(zeros))]
    return b"".join(parts) + compressor.flush()


_BOMB: list[bytes] = []


class Tripwire:
    """Listens on 127.0.0.N; any connection at all is recorded (and closed)."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


class HostileGraph(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = "echo-auth"
        self.redirect_to = ""
        self.item_status: Any = 204  # "batch-items": the status of every write item
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that give up mid-answer are the point of this server


def serve_hostile(monkeypatch: Any, token: str) -> Iterator[HostileGraph]:
    """A HostileGraph serving on a thread, phonectl pointed at it with `token`; stopped
    after (the tests' `hostile` fixtures yield from this)."""
    server = HostileGraph()
    threading.Thread(target=server.serve_forever, args=(0.005,), daemon=True).start()
    monkeypatch.setenv("PHONECTL_GRAPH_URL", server.url)
    monkeypatch.setenv("PHONECTL_ACCESS_TOKEN", token)
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


Answer = Callable[["_Handler"], None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostileGraph

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    do_POST = do_PATCH = do_DELETE = do_GET

    def _answer(self) -> None:
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.command, self.path))
        MODES[self.server.mode](self)

    def send_raw(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self.send_raw(status, json.dumps(value).encode(), headers)


def _echo_auth(h: _Handler) -> None:
    auth = h.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ")
    h.send_json(
        400,
        {
            "error": {
                "code": f"Echo{token}",
                "message": f"You sent {auth} (token {token}, quoted {json.dumps(token)})",
                "innerError": {"request-id": token, "date": auth},
            }
        },
        {"request-id": token, "X-Echo": auth},
    )


def _redirect(h: _Handler) -> None:
    h.send_raw(307, b"", {"Location": h.server.redirect_to + h.path})


def _not_modified(h: _Handler) -> None:
    h.send_response(304)
    h.end_headers()


def _drip(h: _Handler) -> None:
    body = json.dumps({"id": "x", "number": "+1"}).encode()
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    for byte in body:
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.25)


def _drip_headers(h: _Handler) -> None:
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200:
        h.wfile.write(bytes([byte]))
        h.wfile.flush()
        time.sleep(0.25)


def _hang(h: _Handler) -> None:
    h.server.release.wait(30)


def _gzip(h: _Handler) -> None:
    if not _BOMB:
        _BOMB.append(_gzip_bomb())
    h.send_raw(200, _BOMB[0], {"Content-Encoding": "gzip"})


def _corrupt_gzip(h: _Handler) -> None:
    h.send_raw(200, b"\x1f\x8b\x08\x00 not gzip at all", {"Content-Encoding": "gzip"})


def _next_loop(h: _Handler) -> None:
    page: dict[str, Any] = {"value": [{"id": "p1", "type": "home", "number": "+1"}]}
    page["@odata.nextLink"] = h.server.url + h.path  # itself, for ever
    if h.path.endswith("$batch"):
        h.send_json(200, {"responses": [{"id": "0", "status": 200, "body": page}]})
    else:
        h.send_json(200, page)


def _deep(h: _Handler) -> None:
    depth = 100_000
    h.send_raw(200, b"[" * depth + b"]" * depth)


def _controls(h: _Handler) -> None:
    h.send_json(
        400,
        {
            "error": {
                "code": "Bad\x1b[2J",
                "message": "\x1b]0;pwned\x07line one\nerror: injected line\r\x1b[K\u202eevil",
                "innerError": {"request-id": "\x1b[31mred", "date": "\x9b31m"},
            }
        },
    )


def _batch_items(h: _Handler) -> None:
    """Reads find no phones (so rows add); every write item gets `item_status`, no body."""
    items = json.loads(h.body)["requests"]
    responses = [
        {"id": i["id"], "status": 200, "body": {"value": []}}
        if i["method"] == "GET"
        else {"id": i["id"], "status": h.server.item_status}
        for i in items
    ]
    h.send_json(200, {"responses": responses})


def _no_content_patch(h: _Handler) -> None:
    """A write answered 204 No Content (done, no body); reads answer the phone."""
    if h.command == "PATCH":
        h.send_response(204)
        h.end_headers()
        return
    h.send_json(200, {"id": "p1", "type": "home", "number": "+1 425 555 0100"})


def _shape(value: Any) -> Answer:
    return lambda h: h.send_json(200, value)


MODES: dict[str, Answer] = {
    "echo-auth": _echo_auth,
    "redirect": _redirect,
    "not-modified": _not_modified,
    "no-content-patch": _no_content_patch,
    "drip": _drip,
    "drip-headers": _drip_headers,
    "hang": _hang,
    "gzip-bomb": _gzip,
    "corrupt-gzip": _corrupt_gzip,
    "next-loop": _next_loop,
    "deep": _deep,
    "controls": _controls,
    "batch-items": _batch_items,
    "list": _shape([1, 2]),
    "string": _shape("phone"),
    "number": _shape(5),
    "null": _shape(None),
    "batch-responses-dict": _shape({"responses": {"0": {}}}),
    "batch-status-text": _shape({"responses": [{"id": "0", "status": "OK", "body": {}}]}),
    "batch-status-3xx": _shape({"responses": [{"id": "0", "status": 302, "body": {}}]}),
}
