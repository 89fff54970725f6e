"""Graph's routes and rules for the profile-phone API, applied to one request: users,
profile, phones, OData query options and paging, JSON batching."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from phonectl.sandbox.guard import is_json_media_type
from phonectl.sandbox.itemphone import (
    PHONE_PROPERTIES,
    PROFILE_COLLECTIONS,
    PROFILE_PROPERTIES,
    USER_PROPERTIES,
    apply_patch,
    writable_fields,
)
from phonectl.sandbox.wire import (
    WWW_AUTHENTICATE,
    GraphProblem,
    GraphRequest,
    Reply,
    decode_body,
    error_reply,
    method_not_allowed,
)

if TYPE_CHECKING:
    from typing import Protocol

    from phonectl.sandbox.state import SandboxState

    class Emulator(Protocol):
        """What the routes need of the server that holds them (server.GraphEmulator): said
        here, so the routes never import the server that imports them."""

        state: SandboxState
        page_size: int
        next_link_host: str | None

        def shuffled(self, items: list[Any]) -> list[Any]: ...

        def answer(self, request: GraphRequest, *, in_batch: bool = False) -> Reply | None: ...


DEFAULT_PAGE_SIZE = 10
# Graph's largest page: "Invalid page size specified ... Must be between 1 and 999 inclusive."
MAX_PAGE_SIZE = 999
MAX_BATCH_REQUESTS = 20


GRAPH_ROOT = "https://graph.microsoft.com/beta"
KEEP_IN_QUERY = "$,'()"  # OData's own punctuation, left readable in a nextLink
ORDERABLE = ("type", "number", "displayName", "createdDateTime", "lastModifiedDateTime", "id")


SYSTEM_QUERY_OPTIONS = frozenset(
    {"select", "filter", "orderby", "top", "skip", "count", "skiptoken", "expand", "search"}
)


def _now() -> str:
    """Graph writes seven fractional digits (100 ns ticks): 2020-07-06T06:34:12.2294868Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


class GraphRoutes:
    """Graph's routes and rules, applied to one request."""

    def __init__(self, emulator: Emulator, request: GraphRequest) -> None:
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
        self._check_headers()
        rest = segments[1:]
        if rest == ["$batch"]:
            if self.command != "POST":
                raise method_not_allowed()
            return self._batch()
        raw, body = request.raw, decode_body(request.raw)
        state = self.emulator.state
        query = _system_options(parse_qs(parts.query))
        with state.transaction():
            if rest == ["users"]:
                return self._users(parts.path, query)
            user, rest = self._addressed_user(rest, parts.path)
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

    def _check_headers(self) -> None:
        """Graph's refusals before routing: no bearer token (401), a body that is not JSON (415)."""
        request = self.request
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

    def _addressed_user(self, rest: list[str], path: str) -> tuple[dict[str, Any], list[str]]:
        """The user a path names (/me, /users/{id | userPrincipalName}), and the rest of it."""
        state = self.emulator.state
        if rest[:1] == ["me"]:
            return state.me(), rest[1:]
        if rest[:1] == ["users"] and len(rest) >= 2:
            user = state.find_user(rest[1])
            if user is None:
                raise GraphProblem(
                    404,
                    "Request_ResourceNotFound",
                    f"Resource '{rest[1]}' does not exist or one of its queried "
                    "reference-property objects are not present.",
                )
            return user, rest[2:]
        raise _no_route(path)

    def _user(self, user: dict[str, Any], query: dict[str, list[str]]) -> Reply:
        """GET /me or /users/{id | userPrincipalName}: the user object ($select honoured)."""
        if self.command != "GET":
            raise method_not_allowed()
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
            raise method_not_allowed()
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
            raise method_not_allowed()
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
            fields = writable_fields(raw, body)
            if not isinstance(fields.get("number"), str):  # the docs: number is required
                raise GraphProblem(400, "BadRequest", "The property 'number' is required.")
            phone = self._new_phone(user)
            apply_patch(phone, fields)
            state.add_phone(user["id"], phone)
            location = f"http://{self.request.host}{path.rstrip('/')}/{phone['id']}"
            return Reply(201, _entity(user, phone), {"Location": location})
        raise method_not_allowed()

    def _count(self, user: dict[str, Any], query: dict[str, list[str]]) -> Reply:
        """GET .../phones/$count: the number as plain text
        (https://learn.microsoft.com/graph/query-parameters, "$count" as a URL segment)."""
        if self.command != "GET":
            raise method_not_allowed()
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
            fields = writable_fields(raw, body)
            apply_patch(phone, fields)
            phone["lastModifiedDateTime"] = _now()
            phone["lastModifiedBy"] = _identity(state.me())
            state.replace_phone(user["id"], phone)
            return Reply(200, _entity(user, phone))
        if self.command == "DELETE":
            state.delete_phone(user["id"], phone_id)
            return Reply(204)
        raise method_not_allowed()

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
        earlier.add(_checked_batch_item(item, earlier))
    if any(item.get("dependsOn") for item in items) and not all(
        item.get("dependsOn") for item in items[1:]
    ):
        raise _bad_batch("A batch must be either fully sequential or fully parallel.")
    return items


def _checked_batch_item(item: dict[str, Any], earlier: set[str]) -> str:
    """One request of a $batch checked against those `earlier` (their ids, lower-cased);
    its id, lower-cased."""
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
        raise _bad_batch(f"dependsOn of request '{item_id}' names a request that is not before it.")
    return item_id.lower()


def _bad_batch(message: str) -> GraphProblem:
    return GraphProblem(400, "BadRequest", message)


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


def _no_route(path: str) -> GraphProblem:
    return GraphProblem(400, "BadRequest", f"Resource not found for the segment in '{path}'.")


def _int_param(query: dict[str, list[str]], name: str, default: int | None) -> Any:
    """A whole-number query option (>= 0); `default` when absent."""
    if name not in query:
        return default
    text = query[name][0]
    if not text.isdigit():
        raise GraphProblem(400, "BadRequest", f"Invalid value '{text}' for {name}.")
    return int(text)
