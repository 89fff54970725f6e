"""A local HTTP server that answers the Graph beta profile-phone API as Graph does.

Graph-shaped errors, 400 for invalid enum values and unknown or read-only properties, 404 for
unknown users and phones, 401 without a bearer token, @odata.nextLink paging. For tests and
tools it also records every request and can inject faults (see Fault).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from phonectl.sandbox.state import SandboxState

READ_ONLY = frozenset(
    {"id", "createdBy", "createdDateTime", "lastModifiedBy", "lastModifiedDateTime"}
)
DEFAULT_PAGE_SIZE = 10
# What Graph answers JSON with.
ODATA_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
MAX_BATCH_REQUESTS = 20
CONTROL_PREFIX = "/_sandbox/"


class GraphProblem(Exception):
    """An error answer: status, Graph error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Fault:
    """Make the next `count` matching requests fail.

    status: answer with this status (None: answer normally, after `delay`).
    body: "graph" (a Graph error), "html", "malformed" (broken JSON) or "empty".
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
        return fault


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)  # arrival, for tests of pacing
    seconds: float = 0.0  # spent answering it (benchmarks: the emulator's own cost)

    @property
    def decoded_path(self) -> str:
        return unquote(urlsplit(self.path).path)


@dataclass
class Reply:
    """An answer: a JSON payload, or raw content (faults)."""

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

    def header(self, name: str) -> str:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), "")


def _now() -> str:
    """Graph writes seven fractional digits (100 ns ticks): 2020-07-06T06:34:12.2294868Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


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
        shuffle_seed: int = 0,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.state = state
        self.page_size = page_size
        self.log_requests = log_requests
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        # Tests: build @odata.nextLink on this host instead of the request's (a hostile answer).
        self.next_link_host: str | None = None
        self._control_lock = threading.Lock()
        self._closed = False
        import random

        self.shuffler = random.Random(shuffle_seed)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout test, Ctrl-C) is not the emulator's problem, nor
        # is a request still being answered (a delay fault) when the emulator was stopped.
        if isinstance(sys.exc_info()[1], ConnectionError) or self._closed:
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        self._closed = True
        super().server_close()
        self.state.close()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

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
        with self._control_lock:
            self.requests.append(request)

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


def error_reply(problem: GraphProblem, request: GraphRequest) -> Reply:
    return Reply(
        problem.status,
        {
            "error": {
                "code": problem.code,
                "message": problem.message,
                "innerError": {
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request.request_id,
                    "client-request-id": request.header("client-request-id"),
                },
            }
        },
    )


def _fault_reply(fault: Fault, request: GraphRequest) -> Reply:
    assert fault.status is not None
    headers = {} if fault.retry_after is None else {"Retry-After": fault.retry_after}
    if fault.body == "graph":
        problem = GraphProblem(fault.status, "injectedFault", f"Injected fault {fault.status}.")
        reply = error_reply(problem, request)
        reply.headers.update(headers)
        return reply
    content, ctype = {
        "html": (b"<html><body><h1>Service Unavailable</h1></body></html>", "text/html"),
        "malformed": (b'{"error": {"code": "broken', "application/json"),
        "empty": (b"", "application/json"),
    }[fault.body]
    return Reply(fault.status, headers=headers, content=content, content_type=ctype)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's
    # delayed ACK of the headers, 40 ms an answer.
    disable_nagle_algorithm = True
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

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log_requests:
            super().log_message(format, *args)

    def _handle(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = GraphRequest(
            self.command,
            self.path,
            dict(self.headers),
            raw,
            host=self.headers.get("Host", "127.0.0.1"),
        )
        path = urlsplit(self.path).path
        if path.startswith(CONTROL_PREFIX):
            self._send(self._control(path[len(CONTROL_PREFIX) :], _decode_body(raw)), request)
            return
        recorded = RecordedRequest(self.command, self.path, dict(self.headers), _decode_body(raw))
        self.server.record(recorded)
        started = time.perf_counter()
        reply = self.server.answer(request)
        recorded.seconds = time.perf_counter() - started
        if reply is None:
            self.close_connection = True
            return
        self._send(reply, request)

    def _send(self, reply: Reply, request: GraphRequest) -> None:
        content = reply.body_bytes()
        self.send_response(reply.status)
        self.send_header("request-id", request.request_id)
        if "client-request-id" in self.headers:
            self.send_header("client-request-id", self.headers["client-request-id"])
        if content:
            self.send_header("Content-Type", reply.content_type)
        if reply.content is None and content:
            self.send_header("OData-Version", "4.0")
        self.send_header("Content-Length", str(len(content)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(content)

    # -- the tools' control API ------------------------------------------------------------

    def _control(self, what: str, body: Any) -> Reply:
        server = self.server
        if what == "faults" and self.command == "POST":
            try:
                server.add_fault(Fault.from_json(body))
            except (ValueError, TypeError) as exc:
                return Reply(400, {"error": {"code": "badFault", "message": str(exc)}})
            return Reply(204)
        if what == "faults" and self.command == "DELETE":
            server.faults.clear()
            return Reply(204)
        if what == "requests" and self.command == "GET":
            return Reply(200, {"value": [asdict(r) for r in server.requests]})
        if what == "requests" and self.command == "DELETE":
            server.requests.clear()
            return Reply(204)
        if what == "reset" and self.command == "POST":
            server.state.reset()
            return Reply(204)
        if what == "users" and self.command == "POST":
            try:  # all or none
                users = [_control_user(u) for u in (body if isinstance(body, list) else [body])]
                with server.state.transaction():
                    for user in users:
                        server.state.add_user(*user)
            except (ValueError, TypeError, KeyError) as exc:
                return Reply(400, {"error": {"code": "badUser", "message": str(exc)}})
            return Reply(204)
        return Reply(404, {"error": {"code": "notFound", "message": "unknown control call"}})


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
            raise GraphProblem(401, "InvalidAuthenticationToken", "Access token is empty.")
        rest = segments[1:]
        if rest == ["$batch"] and self.command == "POST":
            return self._batch()
        raw, body = request.raw, _decode_body(request.raw)
        state = self.emulator.state
        query = parse_qs(parts.query)
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
            if rest[:2] != ["profile", "phones"] or len(rest) > 3:
                raise _no_route(parts.path)
            if len(rest) == 2:
                return self._collection(user, parts.path, parse_qs(parts.query), raw, body)
            return self._item(user, rest[2], raw, body)

    def _user(self, user: dict[str, Any], query: dict[str, list[str]]) -> Reply:
        """GET /me or /users/{id | userPrincipalName}: the user object ($select honoured)."""
        if self.command != "GET":
            raise _method_not_allowed()
        return Reply(
            200,
            {"@odata.context": f"{GRAPH_ROOT}/$metadata#users/$entity", **_selected(user, query)},
        )

    def _users(self, path: str, query: dict[str, list[str]]) -> Reply:
        """GET /users: every user, paged by $top and $skiptoken ($select honoured)."""
        if self.command != "GET":
            raise _method_not_allowed()
        top = _int_param(query, "$top", 100)
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
        """JSON batching: at most 20 requests, each answered on its own; saved once."""
        try:
            items = json.loads(self.request.raw)["requests"]
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
        ids = [str(item.get("id", "")) for item in items]
        if "" in ids or len(set(ids)) != len(ids):
            raise GraphProblem(400, "BadRequest", "Each batch request needs a unique id.")
        for item in items:
            if not isinstance(item.get("method"), str) or not isinstance(item.get("url"), str):
                raise GraphProblem(
                    400, "BadRequest", "Each batch request needs a method and a url."
                )
            depends = item.get("dependsOn", [])
            if not isinstance(depends, list) or not set(map(str, depends)) <= set(ids):
                raise GraphProblem(400, "BadRequest", "dependsOn names an unknown request id.")
        answers: dict[str, dict[str, Any]] = {}
        with self.emulator.state.transaction():
            for item in _dependency_order(items):
                failed = [
                    d for d in map(str, item.get("dependsOn", [])) if answers[d]["status"] >= 400
                ]
                if failed:  # Graph does not run a request whose dependency failed
                    answers[str(item["id"])] = self._failed_dependency(item, failed[0])
                else:
                    answers[str(item["id"])] = self._batch_item(item)
        # Graph answers a batch's requests in any order; shuffled with a fixed seed, so that
        # clients must match answers by id and tests stay reproducible.
        responses = list(answers.values())
        self.emulator.shuffler.shuffle(responses)
        return Reply(200, {"responses": responses})

    def _failed_dependency(self, item: dict[str, Any], dependency: str) -> dict[str, Any]:
        problem = GraphProblem(
            424, "FailedDependency", f"The dependency '{dependency}' failed; not run."
        )
        reply = error_reply(problem, self.request)
        return {"id": str(item["id"]), "status": 424, "headers": {}, "body": reply.payload}

    def _batch_item(self, item: dict[str, Any]) -> dict[str, Any]:
        headers = {str(k): str(v) for k, v in (item.get("headers") or {}).items()}
        headers["Authorization"] = self.request.header("Authorization")
        body = item.get("body")
        url = str(item["url"])
        inner = GraphRequest(
            str(item["method"]).upper(),
            "/beta" + (url if url.startswith("/") else "/" + url),  # the docs' own examples
            headers,
            b"" if body is None else json.dumps(body).encode(),
            host=self.request.host,
        )
        reply: Reply | None
        if body is not None and not inner.header("Content-Type"):
            missing = GraphProblem(400, "BadRequest", "Content-Type header is required.")
            reply = error_reply(missing, inner)
        else:
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
            "id": str(item["id"]),
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
        top = _int_param(query, "$top", None)
        size = self.emulator.page_size if top is None else min(top, self.emulator.page_size)
        start = _int_param(query, "$skiptoken", 0)
        stop = start + size if top is None else min(start + size, top)
        context = f"{GRAPH_ROOT}/$metadata#users('{user['id']}')/profile/phones"
        if selected:
            context += f"({','.join(selected)})"
        page: dict[str, Any] = {"@odata.context": context}
        if query.get("$count", [""])[0].lower() == "true":
            page["@odata.count"] = total
        page["value"] = [
            {k: v for k, v in p.items() if not selected or k in selected} for p in found[start:stop]
        ]
        if stop < (len(found) if top is None else min(len(found), top)):
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

    def _item(self, user: dict[str, Any], phone_id: str, raw: bytes, body: Any) -> Reply:
        state = self.emulator.state
        phone = state.phone(user["id"], phone_id)
        if phone is None:
            raise GraphProblem(
                404, "ResourceNotFound", f"Resource 'itemPhone' with id '{phone_id}' not found."
            )
        if self.command == "GET":
            return Reply(200, _entity(user, phone))
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


GRAPH_ROOT = "https://graph.microsoft.com/beta"
USER_PROPERTIES = ("id", "userPrincipalName", "displayName")


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


def _dependency_order(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The batch's requests with each after those it dependsOn (a cycle: 400)."""
    by_id = {str(item["id"]): item for item in items}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(item_id: str) -> None:
        if item_id in placed:
            return
        if item_id in visiting:
            raise GraphProblem(400, "BadRequest", "dependsOn forms a cycle.")
        visiting.add(item_id)
        for dependency in map(str, by_id[item_id].get("dependsOn", [])):
            place(dependency)
        visiting.discard(item_id)
        placed.add(item_id)
        ordered.append(by_id[item_id])

    for item_id in by_id:
        place(item_id)
    return ordered


def _sort_key(name: str) -> Any:
    def key(phone: dict[str, Any]) -> str:
        return str(phone.get(name) or "")

    return key


def _entity(user: dict[str, Any], phone: dict[str, Any]) -> dict[str, Any]:
    """One phone as Graph answers it: with the @odata.context of an entity."""
    context = f"{GRAPH_ROOT}/$metadata#users('{user['id']}')/profile/phones/$entity"
    return {"@odata.context": context, **phone}


def _select(query: dict[str, list[str]]) -> list[str]:
    if "$select" not in query:
        return []
    names = [n.strip() for n in query["$select"][0].split(",") if n.strip()]
    for name in names:
        if name not in PHONE_PROPERTIES:
            raise GraphProblem(
                400,
                "BadRequest",
                f"Could not find a property named '{name}' on type 'microsoft.graph.itemPhone'.",
            )
    return names


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
    return GraphProblem(405, "Request_BadRequest", "The HTTP method is not allowed here.")


def _control_user(body: Any) -> tuple[str, str, str | None, list[dict[str, Any]]]:
    """A user for the control API's `POST /_emulator/users`, checked: id, userPrincipalName,
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
        for key, item in value.items():
            if key.startswith("@odata."):
                continue
            item_check = properties.get(key)
            if item_check is None:
                raise _unknown_property(key, type_name)
            item_check(key, item)

    return check


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
