"""A request to the emulated Graph and an answer, in the shapes Graph writes them: its error
body (https://learn.microsoft.com/graph/errors), its JSON media type, its 401 challenge."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# What Graph answers JSON with.
ODATA_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
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
class Reply:
    """An answer: a JSON payload, or raw content (faults, $count)."""

    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    content_type: str = ODATA_JSON
    cut: bool = False  # the Fault's cut: half the body is sent, then the connection closes

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


def method_not_allowed() -> GraphProblem:
    """Graph's 405, in its words (https://learn.microsoft.com/graph/json-batching, the
    example response's request 4)."""
    return GraphProblem(
        405,
        "Request_BadRequest",
        "Specified HTTP method is not allowed for the request target.",
        {"Allow": GRAPH_METHODS},
    )


def decode_body(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
