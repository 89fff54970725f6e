"""GraphClient: one HTTP session to Microsoft Graph, with retries, paging and Graph errors."""

from __future__ import annotations

import json
import math
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlsplit

from phonectl.errors import (
    TRANSIENT_STATUSES,
    GraphError,
    Interrupted,
    NetworkError,
    PhonectlError,
)

if TYPE_CHECKING:
    import requests

    from phonectl.urls import ServiceUrl

TokenProvider = Callable[[], str]
# Called with the token Graph refused (401): True when another token is now in use.
OnUnauthorized = Callable[[str], bool]
Notify = Callable[[str], None]

BATCH_LIMIT = 20
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
BACKOFF_BASE = 0.5
# Our own backoff (no Retry-After) grows to this and no further.
MAX_BACKOFF = 60.0
NOTICE_WAIT_ABOVE = 2.0


def _backoff(attempt: int) -> float:
    backoff = min(BACKOFF_BASE * 2 ** min(attempt, 30), MAX_BACKOFF)
    return random.uniform(backoff / 2, backoff)


class WaitTooLong(NetworkError):
    """Graph answered `status` and asked for a wait past PHONECTL_MAX_WAIT (exit 6)."""

    def __init__(self, status: int, message: str, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.status = status


def wait_too_long(status: int, wait: float, max_wait: float, what: str) -> WaitTooLong:
    """Graph asked for a wait longer than PHONECTL_MAX_WAIT: say when to try again (exit 6)."""
    from datetime import datetime, timedelta

    try:
        until = (datetime.now(UTC) + timedelta(seconds=wait)).strftime("%Y-%m-%d %H:%M:%S UTC")
        when = f"try again after {until}"
    except (OverflowError, ValueError):  # past year 9999, or endless
        when = "try again much later"
    return WaitTooLong(
        status,
        f"{what}: Graph answered {status} and asked to wait {wait:g} s, longer than "
        f"PHONECTL_MAX_WAIT ({max_wait:g} s); not retried",
        hint=f"{when}, or raise PHONECTL_MAX_WAIT",
    )


def server_wait(retry_after: str | None) -> float | None:
    """The wait Graph asked for, if it asked (PHONECTL_MAX_WAIT bounds only Graph's waits,
    never phonectl's own backoff)."""
    return parse_retry_after(retry_after) if retry_after else None


def parse_retry_after(value: str) -> float | None:
    """Retry-After as seconds from now, or None when it is neither a number nor an HTTP date."""
    from datetime import datetime
    from email.utils import parsedate_to_datetime

    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return max(seconds, 0.0)  # an endless wait stays endless: longer than any PHONECTL_MAX_WAIT


def may_retry(method: str, status: int, *, idempotent: bool | None = None) -> bool:
    """429/503/504 are retried, but a POST only on 429: a throttled POST was not processed,
    while a 503 or 504 may have created the phone already. `idempotent` overrides what the
    method says (a POST /$batch holding only reads and PATCHes is as safe to resend)."""
    if status not in TRANSIENT_STATUSES:
        return False
    safe = method != "POST" if idempotent is None else idempotent
    return safe or status == 429


# Inside a batch, 424 (Failed Dependency) answers an item that was not run because another
# failed or was throttled: like 429, nothing was done, so it is as safe to send again.
BATCH_ITEM_RETRY_STATUSES = frozenset({429, 424})


class RetryPolicy(NamedTuple):
    """When a failed call is sent again and after how long: the one rule for single requests
    and for the items of a $batch (PHONECTL_MAX_RETRIES, PHONECTL_MAX_WAIT)."""

    max_retries: int = 3
    max_wait: float = 300.0

    def wait_before(
        self,
        attempt: int,
        method: str,
        status: int,
        retry_after: str | None,
        what: Callable[[], str],
        *,
        idempotent: bool | None = None,
        in_batch: bool = False,
    ) -> float | None:
        """Seconds to wait before sending retry number `attempt` (0-based); None: do not.
        The server's Retry-After (seconds, fractional allowed, or an HTTP date) in full,
        since a retry sooner than Graph asked prolongs the throttling
        (https://learn.microsoft.com/graph/throttling); else exponential backoff with
        jitter. A wait Graph asks for beyond `max_wait` is not made: NetworkError (exit 6)
        naming `what()` (made only then: a 50,000-row apply asks 50,000 times)."""
        retryable = (in_batch and status in BATCH_ITEM_RETRY_STATUSES) or may_retry(
            method, status, idempotent=idempotent
        )
        if attempt >= self.max_retries or not retryable:
            return None
        asked = server_wait(retry_after)  # parsed once: an HTTP date is a datetime parse
        if asked is None:
            return _backoff(attempt)
        if asked > self.max_wait:
            raise wait_too_long(status, asked, self.max_wait, what())
        return asked


class BatchRequest(NamedTuple):
    """One request inside a $batch; `url` is relative to the beta root (/me/profile/phones)."""

    method: str
    url: str
    body: Any = None


class BatchResult(NamedTuple):
    """A batch item's answer: its status and body, or the error it ended in."""

    status: int
    body: Any = None
    error: PhonectlError | None = None


class Stopped(BaseException):
    """A batch not sent because the client was stopped (GraphClient.stopped)."""


class GraphClient:
    def __init__(
        self,
        base_url: str | ServiceUrl,
        token_provider: TokenProvider,
        *,
        user_agent: str,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_wait: float = 300.0,
        notify: Notify | None = None,
        debug: Notify | None = None,
        on_unauthorized: OnUnauthorized | None = None,
    ) -> None:
        from phonectl.http import BoundedSession
        from phonectl.urls import parse_service_url

        # Settings' Graph root was judged when they were loaded; any other URL is judged here.
        if isinstance(base_url, str):
            base_url = parse_service_url(base_url, "PHONECTL_GRAPH_URL")
        self.base_url = base_url.text()
        self._origin = base_url.origin
        self._timeout = timeout
        self.retry = RetryPolicy(max_retries, max_wait)
        self._on_unauthorized = on_unauthorized
        self._notify = notify or (lambda message: None)
        self.requests_sent = 0
        # The signed-in user's principal name (or id), once asked (apply.export.named).
        self.signed_in_user: str | None = None
        # Batches in flight at once (apply --concurrency); a 429 anywhere pauses them all.
        self.concurrency = 1
        self._pause_until = 0.0
        self._lock = threading.Lock()
        # Once set (stop(): an interrupt, a report that can no longer be delivered), no
        # batch that has not yet gone out is sent: apply's report must stay the truth.
        self.stopped = threading.Event()
        # Deciding to send a batch and saying so (on_sent) is one step that stop() waits
        # for: a batch is reported sent exactly when it was let through before the stop.
        self._sending = threading.Lock()
        self._session = BoundedSession(timeout=timeout, user_agent=user_agent, debug=debug)
        # As the session's auth, the bearer token also spares requests its ~/.netrc lookup.
        self._session.auth = _BearerAuth(token_provider)
        self._session.headers["Accept"] = "application/json"

    def close(self) -> None:
        self._session.close()

    def stop(self) -> None:
        """Send no batch from now on (one already let through goes out, and was said sent)."""
        with self._sending:
            self.stopped.set()

    def request(
        self, method: str, path_or_url: str, body: Any = None, *, idempotent: bool | None = None
    ) -> Any:
        """Send one Graph call (retrying transient failures); its JSON body, or None (204).
        A write that ends without an answer, or with a 5xx, may have been carried out all
        the same: its error's hint says to look before sending it again (an add sent twice
        is two phones)."""
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        try:
            return self._request(method, url, body, idempotent)
        except PhonectlError as exc:
            if method != "GET" and _fate_unknown(exc):
                exc.hint = WRITE_MAY_BE_DONE + (f"; {exc.hint}" if exc.hint else "")
            raise
        except Interrupted as stop:  # Ctrl-C while a write was on its way or awaited
            if method != "GET" and stop.detail is None:
                stop.detail = f"while sending {method} {url}: {WRITE_MAY_BE_DONE}"
            raise

    def _request(
        self,
        method: str,
        url: str,
        body: Any,
        idempotent: bool | None,
        before_send: Callable[[], None] | None = None,
    ) -> Any:
        """request() without its hints; `before_send()` is asked before every attempt, after
        any pause Graph asked for (a batch retried after a 429 minutes later is let through,
        or not, then: not before its first attempt)."""
        attempt = 0
        refreshed = False
        while True:
            self._wait_for_pause()
            if before_send is not None:
                before_send()
            response = self._send_once(method, url, body)
            status = response.status_code
            if status == 401 and not refreshed and self._on_unauthorized is not None:
                # Not processed, so safe to send again, POST included: once, with a new token.
                refreshed = True
                rejected = _bearer_token(response)
                if rejected and self._on_unauthorized(rejected):
                    continue
            wait = self.retry.wait_before(
                attempt,
                method,
                status,
                response.headers.get("Retry-After"),
                lambda: f"{method} {url}",
                idempotent=idempotent,
            )
            if wait is not None:
                if wait > NOTICE_WAIT_ABOVE:
                    self._notify(f"Graph answered {status}; retrying in {wait:.0f} s")
                if status == 429:
                    self.pause(wait)
                time.sleep(wait)
                attempt += 1
                continue
            if status >= 400:
                raise graph_error(response, method, url)
            if not 200 <= status < 300:
                raise _not_success(status, response.headers, method, url)
            return _json_or_none(response, method, url)

    def request_object(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """A call whose answer must be one JSON object (an itemPhone)."""
        answer = self.request(method, path, body)
        if answer is None and method == "PATCH":
            # Graph documents 200 with the object; a 204 No Content still says it was done,
            # so the phone is read back rather than the write reported as failed.
            answer = self.request("GET", path)
        if not isinstance(answer, dict):
            raise _unexpected_body(method, self.base_url + path, f"{_kind(answer)}, not an object")
        return answer

    def get_all(self, path: str) -> list[Any]:
        """Every item of a collection, following @odata.nextLink to the last page."""
        items: list[Any] = []
        next_url: str | None = path
        seen: set[str] = set()
        while next_url:
            url = next_url
            page_items, next_url = collection_page(self.request("GET", url), url)
            items.extend(page_items)
            if next_url:
                self.check_next_link(next_url, seen)
        return items

    def check_next_link(self, next_link: str, seen: set[str]) -> None:
        """An @odata.nextLink may be followed only once, and only to Graph's own origin:
        another host would get the bearer token; a repeated link would loop for ever."""
        from phonectl.urls import parse_service_url

        try:
            origin = parse_service_url(next_link, "@odata.nextLink", allow_query=True).origin
        except PhonectlError:
            origin = None
        if origin != self._origin:
            raise _unexpected_body("GET", next_link, "an @odata.nextLink to another host")
        if next_link in seen:
            raise _unexpected_body("GET", next_link, "an @odata.nextLink that repeats")
        seen.add(next_link)

    def send_batch(
        self,
        requests: Sequence[BatchRequest],
        on_result: Callable[[int, BatchResult], None] | None = None,
        on_sent: Callable[[Sequence[int]], None] | None = None,
    ) -> list[BatchResult]:
        """Send requests through POST /$batch, BATCH_LIMIT a batch; an item throttled on its
        own (429, or 424 for one not run) is retried after its own Retry-After. Every request
        gets a result, in order; or, with `on_result(index, result)`, each result goes there
        as it is final and none is kept (at 50,000 writes, Graph's answers would be most of
        phonectl's memory). `on_sent(indices)` hears of each batch just before it may go out
        (apply's record of which writes Graph may have received); if it raises, that batch
        and every later one stay unsent, and the exception reaches the caller."""
        results: list[BatchResult | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        attempt = 0
        while pending:
            throttled: list[int] = []
            wait = 0.0
            chunks = [pending[i : i + BATCH_LIMIT] for i in range(0, len(pending), BATCH_LIMIT)]
            for answered in self._send_chunks(requests, chunks, on_sent):
                for index, answer, retry_after in answered:
                    item_wait, outcome = None, answer
                    if outcome.error is not None:  # a 2xx answer is final: only others retry
                        request = requests[index]
                        try:
                            item_wait = self.retry.wait_before(
                                attempt,
                                request.method,
                                outcome.status,
                                retry_after,
                                lambda: f"{request.method} {self.base_url}{request.url}",  # noqa: B023
                                in_batch=True,
                            )
                        except NetworkError as too_long:  # this item's answer, not the batch's
                            outcome = outcome._replace(error=too_long)
                    if item_wait is not None:
                        throttled.append(index)
                        wait = max(wait, item_wait)
                        self.pause(wait)
                        continue
                    if on_result is None:
                        results[index] = outcome
                    else:
                        on_result(index, outcome)
            if throttled:
                if wait > NOTICE_WAIT_ABOVE:
                    self._notify(
                        f"{len(throttled)} batch items throttled; retrying in {wait:.0f} s"
                    )
                time.sleep(wait)
                attempt += 1
            pending = throttled
        return [r for r in results if r is not None]

    def pause(self, seconds: float) -> None:
        """Graph throttled one sender: every sender waits that long before its next request."""
        with self._lock:
            self._pause_until = max(self._pause_until, time.monotonic() + seconds)

    def _wait_for_pause(self) -> None:
        while (left := self._pause_until - time.monotonic()) > 0:
            time.sleep(left)

    def _send_chunks(
        self,
        requests: Sequence[BatchRequest],
        chunks: list[list[int]],
        on_sent: Callable[[Sequence[int]], None] | None = None,
    ) -> Iterator[list[tuple[int, BatchResult, str | None]]]:
        """Each chunk's answers as they come: one at a time, or up to `concurrency` batches
        in flight on daemon threads (an interrupt in the main thread never waits for them)."""
        if self.concurrency <= 1 or len(chunks) <= 1:
            for chunk in chunks:
                yield self._send_chunk(requests, chunk, on_sent)
            return
        import queue

        # SimpleQueue: C-level, a hand-off per batch several times cheaper than Queue's
        # Python-level Condition (one per $batch request, 2,750 in a 50,000-row apply).
        todo: queue.SimpleQueue[list[int]] = queue.SimpleQueue()
        for chunk in chunks:
            todo.put(chunk)
        done: queue.SimpleQueue[list[tuple[int, BatchResult, str | None]] | BaseException] = (
            queue.SimpleQueue()
        )

        def work() -> None:
            while True:
                try:
                    chunk = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    done.put(self._send_chunk(requests, chunk, on_sent))
                except BaseException as exc:  # handed to the main thread
                    done.put(exc)

        for _ in range(min(self.concurrency, len(chunks))):
            threading.Thread(target=work, name="batch", daemon=True).start()
        # A batch that failed stops the rest from going out; the batches already in flight
        # are still waited for (each within its deadline) and their answers handed on, so
        # a write Graph answered is reported written, not unknown. The cause raised is the
        # failure itself, not the Stopped of a batch that another's failure kept back.
        failure: BaseException | None = None
        for _ in chunks:
            answered = done.get()
            if isinstance(answered, BaseException):
                if failure is None:
                    self.stop()
                if failure is None or isinstance(failure, Stopped):
                    failure = answered
                continue
            yield answered
        if failure is not None:
            raise failure

    def _send_chunk(
        self,
        requests: Sequence[BatchRequest],
        chunk: list[int],
        on_sent: Callable[[Sequence[int]], None] | None = None,
    ) -> list[tuple[int, BatchResult, str | None]]:
        """One POST /$batch; (index, result, Retry-After) for each item of the chunk."""

        def let_through() -> None:
            """Before each attempt: a stopped client sends nothing more, and on_sent hears
            of the batch (whoever stops now sees it as sent)."""
            with self._sending:
                if self.stopped.is_set():
                    raise Stopped()
                if on_sent is not None:
                    try:
                        on_sent(chunk)
                    except BaseException:
                        # What refuses this batch (a report that can no longer be delivered)
                        # refuses every later one, in whichever thread it would go.
                        self.stopped.set()
                        raise

        items = []
        for index in chunk:
            item: dict[str, Any] = {
                "id": str(index),
                "method": requests[index].method,
                "url": requests[index].url,
            }
            if requests[index].body is not None:
                item["headers"] = {"Content-Type": "application/json"}
                item["body"] = requests[index].body
            items.append(item)
        # A resent DELETE that Graph had already carried out answers 404: the
        # deleted phone would be reported failed. Only reads and PATCHes are resent.
        only_reads_and_patches = all(requests[i].method in {"GET", "PATCH"} for i in chunk)
        try:
            # _request, not request(): a batch's failure is each item's, judged there (a
            # write item's "may have been made" is its fate, not a hint).
            reply = self._request(
                "POST",
                self.base_url + "/$batch",
                {"requests": items},
                only_reads_and_patches,
                before_send=let_through,
            )
            answers = _batch_answers(reply, self.base_url)
        except PhonectlError as exc:  # the whole batch failed: so did each of its items
            return [(index, BatchResult(0, error=exc), None) for index in chunk]
        out: list[tuple[int, BatchResult, str | None]] = []
        for index in chunk:
            answer = answers.get(str(index))
            request = requests[index]
            if not isinstance(answer, dict):
                url = self.base_url + request.url
                missing = _unexpected_body(request.method, url, "no answer for this batch item")
                out.append((index, BatchResult(0, error=missing), None))
                continue
            status = answer.get("status")
            if type(status) is int and 200 <= status < 300:  # most items: nothing to check
                out.append((index, BatchResult(status, answer.get("body")), None))
                continue
            url = self.base_url + request.url
            headers = answer.get("headers")
            if not isinstance(headers, dict):
                headers = {}
            body = answer.get("body")
            error: PhonectlError | None = None
            if not isinstance(status, int) or isinstance(status, bool):
                error = _unexpected_body(request.method, url, "a batch item without a status")
                status = 0
            elif status >= 400:
                error = error_from_parts(status, headers, body, request.method, url)
            else:
                error = _not_success(status, headers, request.method, url)
            out.append((index, BatchResult(status, body, error), _header(headers, "Retry-After")))
        return out

    def relative_url(self, url: str) -> str:
        """A URL Graph gave us (an @odata.nextLink) as a batch item's URL."""
        if url.startswith(self.base_url):
            return url[len(self.base_url) :]
        parts = urlsplit(url)
        path = parts.path.removeprefix("/beta")
        return path + (f"?{parts.query}" if parts.query else "")

    def _send_once(self, method: str, url: str, body: Any) -> requests.Response:
        import requests

        from phonectl.http import network_error

        headers = {"client-request-id": str(uuid.uuid4())}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = _UTF8_JSON.encode(body).encode("utf-8")
        with self._lock:
            self.requests_sent += 1
        try:
            response = self._session.request(method, url, data=data, headers=headers)
        except requests.RequestException as exc:
            raise network_error(exc, f"{method} {url}", "Graph") from None
        return response


WRITE_MAY_BE_DONE = (
    "the change may have been made all the same: check with 'phonectl list' before sending it again"
)


def _fate_unknown(error: PhonectlError) -> bool:
    """Whether a write that failed so may still have been carried out: no answer (a timeout,
    a connection lost on the way), a 5xx, or a 2xx whose body could not be used. A 4xx
    (429 included) says it was not; so does a request that never left (no connection, no
    token)."""
    if isinstance(error, (GraphError, WaitTooLong)):
        return error.status >= 500
    return error.request_sent


# json.dumps(ensure_ascii=False) would build an encoder for every request body.
_UTF8_JSON = json.JSONEncoder(ensure_ascii=False)


def _bearer_token(response: requests.Response) -> str:
    """The bearer token a request carried (the one a 401 refused)."""
    sent = response.request.headers.get("Authorization", "") if response.request else ""
    return sent.removeprefix("Bearer ") if sent.startswith("Bearer ") else ""


class _BearerAuth:
    """requests auth: `Authorization: Bearer <token>` from the provider, on every attempt."""

    def __init__(self, token_provider: TokenProvider) -> None:
        self._token_provider = token_provider

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        try:
            token = self._token_provider()
        except PhonectlError as exc:  # no token, so the request never left
            exc.request_sent = False
            raise
        request.headers["Authorization"] = f"Bearer {token}"
        return request


def _json_or_none(response: requests.Response, method: str, url: str) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    return decode_json(response.content, method, url)


def decode_json(content: bytes, method: str, url: str) -> Any:
    """A JSON answer; nesting past Python's recursion limit is refused, not crashed on."""
    try:
        return json.loads(content)
    except RecursionError:
        raise _unexpected_body(method, url, "JSON nested beyond reason") from None
    except ValueError:
        raise _unexpected_body(method, url, "a body that is not JSON") from None


def _kind(value: Any) -> str:
    if value is None:
        return "no body"
    return {list: "a list", str: "a string", bool: "a boolean"}.get(type(value), "a number")


def _batch_answers(reply: Any, base_url: str) -> dict[str, dict[str, Any]]:
    """The `responses` of a $batch answer by id; a malformed answer fails the whole batch."""
    responses = reply.get("responses") if isinstance(reply, dict) else None
    if not isinstance(responses, list):
        raise _unexpected_body("POST", base_url + "/$batch", "a batch answer without responses")
    return {str(a.get("id")): a for a in responses if isinstance(a, dict)}


def _not_success(status: int, headers: Mapping[str, str], method: str, url: str) -> PhonectlError:
    """A 1xx or 3xx where a result was due: never counted as done. Redirects are not followed
    (Graph's profile API does not redirect, and a redirect could carry the request elsewhere)."""
    if status in REDIRECT_STATUSES:
        location = _header(headers, "Location")
        where = f" to {location}" if location else ""
        return PhonectlError(
            f"{method} {url}: Graph answered {status}, a redirect{where}; phonectl does not "
            "follow redirects, and nothing is known to have been done"
        )
    return _unexpected_body(method, url, f"status {status}, which is not a result")


def collection_page(page: Any, url: str) -> tuple[list[Any], str | None]:
    """A collection page's items and its @odata.nextLink (None on the last page)."""
    if not isinstance(page, dict) or not isinstance(page.get("value"), list):
        raise _unexpected_body("GET", url, "a collection without 'value'")
    if not all(isinstance(item, dict) for item in page["value"]):
        raise _unexpected_body("GET", url, "a collection whose items are not all objects")
    next_link = page.get("@odata.nextLink")
    if next_link is not None and not isinstance(next_link, str):
        raise _unexpected_body("GET", url, "an @odata.nextLink that is not a string")
    return page["value"], next_link or None


def _unexpected_body(method: str, url: str, what: str) -> PhonectlError:
    """A success status with an answer phonectl cannot use (exit 1)."""
    return PhonectlError(f"{method} {url}: Graph answered with {what}")


def graph_error(response: requests.Response, method: str, url: str) -> GraphError:
    """A GraphError from an error response, whatever shape its body has."""
    try:
        payload = json.loads(response.content) if response.content else None
    except (ValueError, RecursionError):
        payload = None
    return error_from_parts(
        response.status_code, response.headers, payload, method, url, response.reason
    )


def error_from_parts(
    status: int,
    headers: Mapping[str, str],
    payload: Any,
    method: str,
    url: str,
    reason: str | None = None,
) -> GraphError:
    """A GraphError from a status, headers and a decoded body (a response or a batch item)."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        error = {}
    inner = error.get("innerError") or error.get("innererror") or {}
    if not isinstance(inner, dict):
        inner = {}
    message = error.get("message")
    if not isinstance(headers, Mapping):
        headers = {}
    if not isinstance(message, str) or not message:
        kind = (_header(headers, "Content-Type") or "no content type").split(";")[0]
        if not reason:
            reason = HTTPStatus(status).phrase if status in _KNOWN_STATUSES else "?"
        message = f"HTTP {status} {reason} (a {kind} body, not a Graph error)"
    code = error.get("code")
    return GraphError(
        status=status,
        method=method,
        url=url,
        code=code if isinstance(code, str) else None,
        message=message,
        request_id=_text(inner.get("request-id")) or _header(headers, "request-id") or None,
        date=_text(inner.get("date")) or _header(headers, "Date") or None,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


_KNOWN_STATUSES = {s.value for s in HTTPStatus}


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header by name, case-insensitively (batch items carry plain dicts)."""
    wanted = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == wanted), "")
