"""The tools' side of the emulator: injected faults and the control API under /_sandbox/
(faults, the request log, users, reset), JSON only and never for a web page."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from phonectl.sandbox.guard import is_json_media_type
from phonectl.sandbox.wire import WWW_AUTHENTICATE, GraphProblem, GraphRequest, Reply, error_reply

if TYPE_CHECKING:
    from typing import Protocol

    from phonectl.sandbox.state import SandboxState

    class Controlled(Protocol):
        """What the control API needs of the emulator (server.GraphEmulator): said here, so
        this module never imports the server that imports it."""

        state: SandboxState
        faults: list[Fault]
        requests: list[Any]  # the request log's records (dataclasses)

        def add_fault(self, fault: Fault) -> None: ...


CONTROL_PREFIX = "/_sandbox/"


@dataclass
class Fault:
    """Make the next `count` matching requests fail.

    status: answer with this status (None: answer normally, after `delay`).
    body: "graph" (a Graph error, in Graph's documented words where it has them: 429
    TooManyRequests, 403 Authorization_RequestDenied), "html", "malformed" (broken JSON) or
    "empty".
    drop: close the connection without answering.
    cut: answer normally (the work is done), then close the connection half way through the
    body that Content-Length promised whole (a connection that breaks mid-answer). Only for
    a request from the socket: an item inside a $batch has no connection of its own.
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
    cut: bool = False
    after: int = 0  # let this many matching requests through first
    per_http_request: bool = False

    def matches(self, method: str, path: str, *, in_batch: bool = False) -> bool:
        return (
            (self.method is None or self.method.upper() == method)
            and (self.path_contains is None or self.path_contains in path)
            and not (in_batch and (self.per_http_request or self.cut))
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
            "cut": bool,
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
        if body.get("cut") and "status" not in body:
            body = {**body, "status": None}  # the work is done: Graph's own answer, cut short
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


def fault_reply(fault: Fault, request: GraphRequest) -> Reply:
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


# -- the tools' control API ----------------------------------------------------------------


def answer_control(server: Controlled, method: str, what: str, request: GraphRequest) -> Reply:
    """/_sandbox/...: faults, the request log, users, reset. JSON only (every call but a GET
    says `Content-Type: application/json`), and never for a web page: a browser's
    cross-site request carries an Origin header and, without a preflight this API never
    grants, only form or text bodies."""
    if request.header("Origin") or method == "OPTIONS":
        return _control_refusal(403, "forbidden", "The control API takes no browser requests.")
    if method != "GET" and not is_json_media_type(request.header("Content-Type")):
        return _control_refusal(
            415, "unsupportedMediaType", "The control API takes application/json only."
        )
    try:
        body = json.loads(request.raw) if request.raw else None
    except ValueError:  # not UTF-8, or not JSON
        return _control_refusal(400, "badRequest", "The body is not JSON.")
    call = _CONTROL_CALLS.get((method, what))
    if call is None:
        return _control_refusal(404, "notFound", "unknown control call")
    return call(server, body)


def _add_fault(server: Controlled, body: Any) -> Reply:
    try:
        server.add_fault(Fault.from_json(body))
    except (ValueError, TypeError) as exc:
        return _control_refusal(400, "badFault", str(exc))
    return Reply(204)


def _clear_faults(server: Controlled, body: Any) -> Reply:
    server.faults.clear()
    return Reply(204)


def _request_log(server: Controlled, body: Any) -> Reply:
    return Reply(200, {"value": [asdict(r) for r in list(server.requests)]})


def _clear_request_log(server: Controlled, body: Any) -> Reply:
    server.requests.clear()
    return Reply(204)


def _reset(server: Controlled, body: Any) -> Reply:
    server.state.reset()
    return Reply(204)


def _add_users(server: Controlled, body: Any) -> Reply:
    try:  # all or none
        users = [_control_user(u) for u in (body if isinstance(body, list) else [body])]
        with server.state.transaction():
            for user in users:
                server.state.add_user(*user)
    except (ValueError, TypeError, KeyError) as exc:
        return _control_refusal(400, "badUser", str(exc))
    return Reply(204)


# The control API's calls: (method, what after /_sandbox/) -> what answers it.
_CONTROL_CALLS: dict[tuple[str, str], Callable[[Controlled, Any], Reply]] = {
    ("POST", "faults"): _add_fault,
    ("DELETE", "faults"): _clear_faults,
    ("GET", "requests"): _request_log,
    ("DELETE", "requests"): _clear_request_log,
    ("POST", "reset"): _reset,
    ("POST", "users"): _add_users,
}


def _control_refusal(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


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
