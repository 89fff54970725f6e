"""The one HTTP transport, for Graph and for the login host (MSAL takes it as its
http_client): a requests.Session whose every request

- ends within one deadline, connect + headers + body (a server dripping a byte at a time
  cannot stretch it: the request runs in a worker thread that the caller stops waiting for),
- reads at most MAX_BODY_BYTES of body after decompression (a gzip bomb costs no memory),
- never follows a redirect (the caller sees the 3xx),
- never goes through a proxy to a loopback host (so `--sandbox` works behind a proxy and a
  loopback token never reaches one),
- carries `User-Agent: phonectl/<version>`,
- is logged, with `--debug`, as one line: the login host's calls as much as Graph's.
"""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers, get_environ_proxies
from urllib3.exceptions import (
    DecodeError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError

from phonectl.errors import InvalidInput, NetworkError, PhonectlError
from phonectl.urls import mask_userinfo, parse_service_url

MAX_BODY_BYTES = 64 * 1024 * 1024
_READ_CHUNK = 256 * 1024


class AnswerTooLarge(requests.RequestException):
    """The body went past MAX_BODY_BYTES (after decompression)."""


class DeadlineExceeded(requests.Timeout):
    """No complete answer (headers and body) within the deadline."""


def ca_bundle() -> str | bool:
    """REQUESTS_CA_BUNDLE (or CURL_CA_BUNDLE) when set: it must exist; else requests' default."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = os.environ.get(name)
        if path:
            if not os.path.exists(path):
                raise InvalidInput(
                    f"{name}={path!r} does not exist",
                    hint=f"point {name} at a PEM file of CA certificates, or unset it",
                )
            return path
    return True


class _Worker:
    """A thread that sends requests one after another, so that the caller can stop waiting
    at its deadline. Reused: a thread started per request cost ~0.2-0.3 ms of CPU, over half
    a second of a 50,000-row apply's 2,750 requests. A worker whose caller stopped waiting
    is never reused; it ends when its request does (the socket's own timeout bounds that)."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._run, name="http", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (job := self.jobs.get()) is not None:
            job()


# How long close() waits for an idle worker to end: it has nothing to finish, so it ends at
# once; the bound only keeps a wedged interpreter from hanging the exit.
_WORKER_JOIN_SECONDS = 1.0


def _stop_workers(idle: list[_Worker], *, join: bool = True) -> None:
    stopped = []
    while idle:
        worker = idle.pop()
        worker.jobs.put(None)
        stopped.append(worker)
    if join:
        for worker in stopped:
            worker.thread.join(_WORKER_JOIN_SECONDS)


class BoundedSession(requests.Session):
    def __init__(
        self, *, timeout: float, user_agent: str, debug: Callable[[str], None] | None = None
    ) -> None:
        super().__init__()
        self.timeout = timeout
        self._debug = debug
        self.headers["User-Agent"] = user_agent
        for prefix in ("https://", "http://"):
            self.mount(prefix, _CookielessAdapter())
        self._ca_bundle = ca_bundle()
        self._proxy_cache: dict[str, dict[str, str]] = {}
        self._idle_workers: list[_Worker] = []
        self._workers_lock = threading.Lock()
        self._closed = False
        # A session dropped without close() still lets its idle workers go; but not at
        # interpreter exit: waking a daemon thread while Python shuts down races the
        # shutdown (Python 3.13.0 aborted with "double free or corruption"), and an idle
        # worker left asleep in its queue is harmless.
        weakref.finalize(self, _stop_workers, self._idle_workers, join=False).atexit = False

    def close(self) -> None:
        """Close the connections and end the idle workers (a busy one ends with its request,
        and is not kept after it)."""
        with self._workers_lock:
            self._closed = True
            _stop_workers(self._idle_workers)
        super().close()

    def request(  # type: ignore[override]
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if args:  # requests' get/post/... pass everything by keyword, as MSAL does
            raise TypeError("BoundedSession.request takes its options by keyword")
        kwargs["allow_redirects"] = False
        kwargs["stream"] = True
        kwargs["timeout"] = self.timeout
        kwargs.setdefault("verify", self._ca_bundle)
        loopback = _judged_loopback(url)
        outcome: list[requests.Response | BaseException] = []
        # Released by the worker when the outcome is in: a bare lock is the cheapest
        # hand-off between two threads (an Event builds a Condition and a waiter lock).
        finished = threading.Lock()
        finished.acquire()

        def send() -> None:
            try:
                response = self._send(method, url, loopback, **kwargs)
                response._content = _read_bounded(response)
                outcome.append(response)
            except requests.Timeout:  # the socket's own timeout, a moment before the deadline
                outcome.append(self._deadline_exceeded())
            except BaseException as exc:  # handed to the caller's thread
                outcome.append(exc)
            finally:
                finished.release()

        started = time.perf_counter()
        worker = self._idle_worker()
        worker.jobs.put(send)
        in_time = False
        try:
            in_time = finished.acquire(timeout=self.timeout)
        finally:
            with self._workers_lock:
                if in_time and not self._closed:
                    self._idle_workers.append(worker)
                else:  # deadline, interrupt or closed: the worker ends when its request does
                    worker.jobs.put(None)
        result: requests.Response | BaseException = (
            outcome[0] if in_time else self._deadline_exceeded()
        )
        if self._debug is not None:
            self._log(method, url, kwargs.get("headers"), result, started)
        if isinstance(result, BaseException):
            raise result
        return result

    def _log(
        self,
        method: str,
        url: str,
        sent_headers: Any,
        result: requests.Response | BaseException,
        started: float,
    ) -> None:
        """One line per request, whoever it went to (secrets go through the stream's
        redaction like every other line; userinfo is masked here)."""
        assert self._debug is not None
        elapsed_ms = (time.perf_counter() - started) * 1000
        where = f"{method.upper()} {mask_userinfo(url)}"
        if isinstance(result, BaseException):
            reason = root_cause(result) if isinstance(result, Exception) else type(result).__name__
            self._debug(f"{where} -> failed after {elapsed_ms:.0f} ms: {reason}")
            return
        ids = [
            f"{name} {result.headers[name]}"
            for name in ("request-id", "x-ms-request-id")
            if name in result.headers
        ]
        client_request_id = (sent_headers or {}).get("client-request-id")
        if client_request_id:
            ids.append(f"client-request-id {client_request_id}")
        if self.auth is not None:
            ids.append("Authorization: [redacted]")
        detail = f" ({', '.join(ids)})" if ids else ""
        self._debug(f"{where} -> {result.status_code} in {elapsed_ms:.0f} ms{detail}")

    def _idle_worker(self) -> _Worker:
        with self._workers_lock:
            return self._idle_workers.pop() if self._idle_workers else _Worker()

    def _deadline_exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"no answer within {self.timeout:g} s (headers and body)")

    def _send(self, method: str, url: str, loopback: bool, **kwargs: Any) -> requests.Response:
        """Prepare and hand to requests' transport adapter, without Session.request's and
        Session.send's per-request work (cookies, hooks, ~/.netrc, redirect checks, the
        environment's proxies read again): over half of requests' CPU time above urllib3,
        which at 2,750 requests (a 50,000-row apply) is a second. The environment's
        proxies are read once per host; a loopback host never goes through one."""
        send_only = {k: kwargs.pop(k) for k in _SEND_ONLY if k in kwargs}
        send_only.pop("proxies", None)
        send_only.pop("allow_redirects", None)  # the adapter never follows one
        unsupported = set(kwargs) - _PREPARED
        if unsupported:
            raise TypeError(f"BoundedSession does not support {sorted(unsupported)}")
        headers = CaseInsensitiveDict(self.headers)
        for name, value in (kwargs.pop("headers", None) or {}).items():
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method.upper(), url=url, headers=headers, auth=self.auth, **kwargs)
        proxies = {} if loopback else self._proxies_for(url)
        return self.get_adapter(url).send(prepared, proxies=proxies, **send_only)

    def _proxies_for(self, url: str) -> dict[str, str]:
        """The environment's proxies for this URL's host (NO_PROXY honoured), as requests
        would choose them; the environment does not change while phonectl runs."""
        from urllib.parse import urlsplit

        scheme, netloc = urlsplit(url)[:2]
        key = f"{scheme}://{netloc}"
        if key not in self._proxy_cache:
            found = dict(self.proxies or {})
            if self.trust_env:
                for name, value in get_environ_proxies(url).items():
                    found.setdefault(name, value)
            self._proxy_cache[key] = found
        return self._proxy_cache[key]


class _CookielessAdapter(HTTPAdapter):
    """requests' transport adapter, less the cookie jar: phonectl keeps no cookies (its
    requests bypass Session.send, which would store them), so the adapter's reading of each
    answer's Set-Cookie headers into a jar is work for nothing, on every request."""

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        response = requests.Response()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(resp.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url or ""
        response.request = req
        response.connection = self
        return response


_SEND_ONLY = ("timeout", "allow_redirects", "stream", "proxies", "verify", "cert")
_PREPARED = {"params", "data", "headers", "json"}


@functools.lru_cache(maxsize=256)  # a run sends thousands of requests to a few URLs
def _judged_loopback(url: str) -> bool:
    """Every URL, including the ones a login host's discovery document names for MSAL,
    passes the one judgement before anything (a token) is sent to it; True: loopback."""
    try:
        return parse_service_url(url, "URL", allow_query=True).is_loopback
    except PhonectlError as exc:
        raise PhonectlError(
            f"refused to send a request to {mask_userinfo(url)!r}: {exc.message}",
            hint=exc.hint,
        ) from None


def _read_bounded(response: requests.Response) -> bytes:
    """The body, decompressed, up to MAX_BODY_BYTES. urllib3's failures while reading it (a
    connection broken mid-body, a corrupt gzip stream, a read timing out) become requests'
    exceptions, as Response.content would raise them: the caller handles requests' only."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.raw.stream(_READ_CHUNK, decode_content=True):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise AnswerTooLarge(
                    f"the answer is over {MAX_BODY_BYTES // (1024 * 1024)} MiB; phonectl stopped "
                    "reading it"
                )
            chunks.append(chunk)
    except ProtocolError as exc:  # the connection broke before the body was whole
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except ReadTimeoutError as exc:  # the socket's timeout is the deadline's
        raise requests.exceptions.ReadTimeout(exc) from exc
    except Urllib3SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    except HTTPError as exc:  # any other of urllib3's: still a failed request, not a crash
        raise requests.RequestException(exc) from exc
    finally:
        response.close()
    return b"".join(chunks)


def network_error(exc: requests.RequestException, what: str, peer: str) -> PhonectlError:
    """A NetworkError (exit 6) for a failed request, naming the proxy when one failed; an
    answer too large to read is the server's fault, not the network's (exit 1). Its
    request_sent is False when no connection was made (nothing can have been done)."""
    error = _network_error(exc, what, peer)
    error.request_sent = not _never_connected(exc)
    return error


def _never_connected(exc: BaseException) -> bool:
    """Whether the request failed before reaching the server: a connection refused, a
    name that does not resolve, a connect timeout, a proxy or TLS handshake that failed."""
    before_the_server = (
        requests.exceptions.ConnectTimeout,
        requests.exceptions.ProxyError,
        requests.exceptions.SSLError,
    )
    return isinstance(exc, before_the_server) or any(
        isinstance(cause, NewConnectionError) for cause in _causes(exc)
    )


def _network_error(exc: requests.RequestException, what: str, peer: str) -> PhonectlError:
    if isinstance(exc, AnswerTooLarge):
        return PhonectlError(f"{what}: {exc}")
    if isinstance(exc, requests.exceptions.ContentDecodingError):  # the server's fault too
        return PhonectlError(f"{what}: the answer could not be decompressed ({root_cause(exc)})")
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return NetworkError(
            f"{what}: the connection broke before the answer was whole ({root_cause(exc)})",
            hint="try again later",
        )
    if isinstance(exc, requests.Timeout):
        return NetworkError(
            f"{what}: {exc if isinstance(exc, DeadlineExceeded) else 'no answer in time'}",
            hint="try again later, or raise PHONECTL_TIMEOUT",
        )
    if isinstance(exc, requests.exceptions.ProxyError):
        proxy = _proxy_in_use()
        return NetworkError(
            f"{what}: could not get through the proxy {proxy} ({root_cause(exc)})",
            hint="check HTTPS_PROXY / HTTP_PROXY (or NO_PROXY for hosts that need none)",
        )
    if isinstance(exc, requests.exceptions.SSLError):
        return NetworkError(
            f"{what}: TLS failed ({root_cause(exc)})",
            hint="check the system's CA certificates or REQUESTS_CA_BUNDLE",
        )
    if isinstance(exc, requests.ConnectionError):
        return NetworkError(
            f"{what}: could not reach {peer} ({root_cause(exc)})",
            hint="check the network or proxy (HTTPS_PROXY) and try again later",
        )
    return NetworkError(f"{what}: {root_cause(exc)}")


def _proxy_in_use() -> str:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        if os.environ.get(name):
            return f"{mask_userinfo(os.environ[name])} ({name})"
    return "(from the environment)"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and what it was raised from or during, outermost first (requests
    nests the real reason several levels deep: ConnectionError, MaxRetryError,
    NewConnectionError, ConnectionRefusedError)."""
    cause: BaseException | None = exc
    while cause is not None:
        yield cause
        cause = cause.__cause__ or cause.__context__


def root_cause(exc: BaseException) -> str:
    """The innermost cause's words: that says what happened."""
    *_, cause = _causes(exc)
    text = str(cause) or type(cause).__name__
    # urllib3 wraps the reason in its connection object's repr: keep the human part.
    return text.split(">: ", 1)[-1].strip("()'\"") if ">: " in text else text
