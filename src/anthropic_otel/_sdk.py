"""Everything anthropic-otel knows about the insides of the `anthropic` SDK (and its httpx), in one module.

An SDK release that moves a method or renames an attribute breaks this file and no other: the hook table
(`HOOK_POINTS`, with the signatures our hooks read, which `scripts/check_hook_points.py` checks against every
release), and small accessors for what the hooks read from or write to SDK objects. The `Protocol`s describe the
duck-typed objects; nothing here imports the SDK or httpx (SDK < 1.0 uses `httpx`, >= 1.0 `httpx2`: the module is
found through the response).

Every accessor is cheap and most never raise on an odd object; the hooks guard the rest.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from operator import attrgetter
from typing import Any, Literal, NamedTuple, Protocol

# --- where we hook -----------------------------------------------------------------------------------------------

HookKind = Literal["function", "coroutine", "generator-or-function", "asyncgen-or-function"]


class HookPoint(NamedTuple):
    """One method we wrap, where `wrapt` replaces it (the owner's own `__dict__`), and what our hook reads of it."""

    module: str
    owner: str  # a class of `module`, or "" for a module-level function
    name: str
    hook: str  # the `Hooks` method placed there
    parameters: tuple[str, ...]  # after `self`, in order
    keyword: tuple[str, ...]  # those our hook reads from kwargs
    kind: HookKind

    @property
    def where(self) -> str:
        return f"{self.module}.{self.owner}.{self.name}" if self.owner else f"{self.module}.{self.name}"


# All present from anthropic 0.108 to 2.x:
# - `request`: one SDK call, whatever the surface (create, stream, raw and streaming responses, count_tokens,
#   batches, beta, Bedrock, Vertex); `options` is args[1] or a keyword, `stream` a keyword.
# - `_attempt_request`: one HTTP attempt inside the SDK's retry loop; returns `(response, options)` whatever the
#   status, or raises for a connection failure or timeout; `retries_taken` is a keyword.
# - `_calculate_retry_timeout`: returns the exact backoff the SDK sleeps before its next attempt.
# - `_iter_events`: the server-sent events of a streamed body.
HOOK_POINTS: tuple[HookPoint, ...] = (
    HookPoint(
        "anthropic._base_client",
        "SyncAPIClient",
        "request",
        "request_sync",
        ("cast_to", "options", "stream", "stream_cls"),
        ("stream", "stream_cls"),
        "function",
    ),
    HookPoint(
        "anthropic._base_client",
        "AsyncAPIClient",
        "request",
        "request_async",
        ("cast_to", "options", "stream", "stream_cls"),
        ("stream", "stream_cls"),
        "coroutine",
    ),
    HookPoint(
        "anthropic._base_client",
        "SyncAPIClient",
        "_attempt_request",
        "attempt_sync",
        ("options", "stream", "retries_taken"),
        ("stream", "retries_taken"),
        "function",
    ),
    HookPoint(
        "anthropic._base_client",
        "AsyncAPIClient",
        "_attempt_request",
        "attempt_async",
        ("options", "stream", "retries_taken"),
        ("stream", "retries_taken"),
        "coroutine",
    ),
    HookPoint(
        "anthropic._base_client",
        "BaseClient",
        "_calculate_retry_timeout",
        "retry_timeout",
        ("remaining_retries", "options", "response_headers"),
        (),
        "function",
    ),
    HookPoint("anthropic._streaming", "Stream", "_iter_events", "events_sync", (), (), "generator-or-function"),
    HookPoint("anthropic._streaming", "AsyncStream", "_iter_events", "events_async", (), (), "asyncgen-or-function"),
)
# Present only on SDKs with native tracing (>= 1.14), where its absence is expected. The SDK documents a `None`
# return as "no span" and carries on untraced: the `own` call-span mode uses that to keep the SDK's span out.
OPTIONAL_HOOK_POINTS: tuple[HookPoint, ...] = (
    HookPoint("anthropic._base_client", "", "start_api_call_span", "native_span", (), (), "function"),
)

# The instrumentation scope of the SDK's native call span; platform clients use `<this>.<platform>`.
NATIVE_SCOPE = "com.anthropic.sdk.python"


# --- the duck-typed objects ---------------------------------------------------------------------------------------


class RequestOptions(Protocol):
    """`anthropic._models.FinalRequestOptions`: what one SDK call asks for."""

    url: str
    method: str
    json_data: object


class HttpResponse(Protocol):
    """An `httpx.Response` / `httpx2.Response`, as `_attempt_request` returns it."""

    status_code: int
    headers: Any
    is_closed: bool
    stream: Any

    @property
    def content(self) -> bytes: ...


class ServerSentEvent(Protocol):
    """`anthropic._streaming.ServerSentEvent`."""

    @property
    def event(self) -> str | None: ...

    @property
    def data(self) -> str: ...


# --- one SDK call -------------------------------------------------------------------------------------------------


class RequestFacts(NamedTuple):
    method: str  # upper case
    path: str  # without the query string (which may carry secrets)
    body: Mapping[str, Any]  # the JSON body, or an empty mapping


_EMPTY: Mapping[str, Any] = {}


def request_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[RequestOptions, bool]:
    """`(options, stream)` of a `request(cast_to, options, *, stream, stream_cls)` call."""
    options = kwargs["options"] if "options" in kwargs else args[1]
    return options, bool(kwargs.get("stream", False))


def request_facts(options: object) -> RequestFacts:
    url = str(getattr(options, "url", "") or "")
    if "://" in url:
        url = "/" + url.split("://", 1)[1].partition("/")[2]
    body = getattr(options, "json_data", None)
    return RequestFacts(
        str(getattr(options, "method", "post") or "post").upper(),
        url.split("?", 1)[0],
        body if isinstance(body, Mapping) else _EMPTY,
    )


def server_of(client: object) -> tuple[str | None, int | None]:
    """`(host, port)` the client sends to, from its `base_url` (parsed once per URL object: httpx computes both
    on every access)."""
    base_url = getattr(client, "base_url", None)
    cached = _servers.get(id(base_url))
    if cached is not None and cached[0] is base_url:
        return cached[1]
    host = getattr(base_url, "host", None)
    port = getattr(base_url, "port", None)
    found = (host[:256] if isinstance(host, str) and host else None), (port if isinstance(port, int) else None)
    if len(_servers) >= 64:  # clients are few; a process that makes many keeps only the newest
        _servers.clear()
    _servers[id(base_url)] = (base_url, found)  # the URL is kept, so its id cannot be reused while cached
    return found


_servers: dict[int, tuple[object, tuple[str | None, int | None]]] = {}


def native_tracing_on(client: object) -> bool:
    """Whether this client's SDK (>= 1.14) will start its own call span (its lazily made tracer is not None)."""
    try:
        return getattr(client, "_tracer", None) is not None
    except Exception:
        return False


def client_propagates(client: object) -> bool:
    """Whether this client lets its requests carry trace context: SDK >= 1.14's resolved `open_telemetry` option
    (`propagation`, or `ANTHROPIC_OPEN_TELEMETRY_PROPAGATION=false`) says so; an older SDK has no such option."""
    option = getattr(client, "_open_telemetry", None)
    return not isinstance(option, dict) or option.get("propagation") is not False


def is_native_span(span: object) -> bool:
    """Whether `span` is the SDK's native call span (by instrumentation scope)."""
    scope = getattr(span, "instrumentation_scope", None)
    # A span implementation that does not expose its scope: trust that the SDK made it (we only look when the
    # client's native tracing is on and a new span appeared between our hook and the attempt).
    if scope is None:
        return True
    name = getattr(scope, "name", None)
    return name == NATIVE_SCOPE or (isinstance(name, str) and name.startswith(NATIVE_SCOPE + "."))


def client_class_names(client: object) -> str:
    """The class names of the client, for telling Bedrock and Vertex clients apart without importing them."""
    return " ".join(klass.__name__ for klass in type(client).__mro__)


def returned_request_id(result: object) -> str | None:
    """The request id of what `request()` returned: a parsed model's `_request_id`, a raw response's
    `request_id` (a middleware that fans out may return another response than the last attempt's)."""
    request_id = getattr(result, "_request_id", None) or getattr(result, "request_id", None)
    return request_id[:128] if isinstance(request_id, str) and request_id else None


# --- one HTTP attempt ---------------------------------------------------------------------------------------------


def retries_taken(kwargs: Mapping[str, Any]) -> int:
    retries = kwargs.get("retries_taken", 0)
    return retries if isinstance(retries, int) else 0


def attempt_options(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> RequestOptions | None:
    """The options of an `_attempt_request(options, *, stream, retries_taken)` call."""
    if "options" in kwargs:
        return kwargs["options"]  # type: ignore[no-any-return]
    return args[0] if args else None


def set_request_headers(options: object, headers: Mapping[str, str]) -> None:
    """Send `headers` with this attempt, in place of any of the same name (in any case) the call had.

    The SDK builds the request's headers from `options.headers` (over the client's), before it signs them (Bedrock):
    what we set is covered by the signature like any header of the call. The options of an attempt are a shallow copy
    of the call's, so its `headers` mapping may be the application's `extra_headers`: replaced, never changed."""
    current = getattr(options, "headers", None)
    merged: dict[str, Any] = dict(headers)
    if current and isinstance(current, Mapping):  # `NotGiven` (no headers of the call's own) is false
        names = {name.lower() for name in headers}
        merged = {k: v for k, v in current.items() if not (isinstance(k, str) and k.lower() in names)}
        merged.update(headers)
    options.headers = merged  # type: ignore[attr-defined]


def attempt_response(result: object) -> HttpResponse:
    """The response of what `_attempt_request` returned: `(response, options)`."""
    return result[0] if isinstance(result, tuple) else result  # type: ignore[return-value]


def raw_headers(response: HttpResponse, names: frozenset[bytes]) -> dict[str, str]:
    """The response headers among `names`, by lower-case name. Read from the list httpx (and httpx2) keep of
    `(raw name, lower-case name, value)` byte strings: `headers.raw` would build a list, and `headers.items()`
    would first decode every header twice (to choose an encoding). Values are ASCII in practice; Latin-1 never
    fails on the rest."""
    headers = response.headers
    try:
        return {key.decode("ascii"): value.decode("latin-1") for _, key, value in headers._list if key in names}
    except (AttributeError, TypeError, ValueError):  # another Headers implementation
        return {key.lower(): value for key, value in headers.items() if key.lower().encode("latin-1") in names}


def body_read(response: HttpResponse) -> bool:
    """Whether the body was read already (or we cannot tell): then `content` is all there is to look at."""
    return getattr(response, "is_stream_consumed", True) is not False


def http_module(response: object) -> Any:
    """The `httpx` or `httpx2` module of a response (never imported by us)."""
    return sys.modules[type(response).__module__.partition(".")[0]]


def byte_stream_kinds(response: object, body: object) -> tuple[bool, bool]:
    """Whether `body` is a sync and/or an async byte stream of the response's httpx."""
    httpx = http_module(response)
    return isinstance(body, httpx.SyncByteStream), isinstance(body, httpx.AsyncByteStream)


def byte_stream_bases(response: object) -> tuple[type, type]:
    """httpx's `(SyncByteStream, AsyncByteStream)` classes, for wrappers that must pass httpx's isinstance checks."""
    httpx = http_module(response)
    return httpx.SyncByteStream, httpx.AsyncByteStream


def keep_body_observer(wrapper: object, body: object) -> None:
    """Copy the SDK's (>= 1.14) `stream_observer` (its native span's end-of-body observer) from a response body to
    our wrapper of it: the SDK looks it up on the body for every event, and a real attribute spares a
    `__getattr__` fallback (and its AttributeError) per event."""
    wrapper.stream_observer = getattr(body, "stream_observer", None)  # type: ignore[attr-defined]


# --- streams ------------------------------------------------------------------------------------------------------


def event_stream_kind(result: object) -> Literal["sync", "async"] | None:
    """Whether `request()` returned the SDK's `Stream` or `AsyncStream` (or a subclass: Bedrock's), by class, not
    `isinstance` (SDK < 1.0 overrides `Stream`'s instance check). The SDK re-exports both as `anthropic.Stream`
    and `anthropic.AsyncStream`, with that `__module__`."""
    for klass in type(result).__mro__:
        name = klass.__name__
        if (name == "Stream" or name == "AsyncStream") and klass.__module__.partition(".")[0] == "anthropic":
            return "async" if name == "AsyncStream" else "sync"
    return None


def stream_response(stream: object) -> Any:
    return getattr(stream, "response", None)


_EVENTS_METHOD = "_iter_events"
_ITERATOR = "_iterator"  # the generator a stream keeps for its items (made on first use in SDK >= 1.14)


def own_events_method(stream: object) -> Any:
    """The `_iter_events` set on this stream itself (`bind_events`), or None."""
    return getattr(stream, "__dict__", {}).get(_EVENTS_METHOD)


def bind_events(stream: object, method: Any) -> None:
    """Give one stream its own `_iter_events`: an instance attribute shadows the class's method (which `wrapt`
    replaces, a non-data descriptor), read when the stream is first read (the SDK's `__stream__` calls
    `self._iter_events()`; the copy SDK >= 1.x iterates copies it)."""
    setattr(stream, _EVENTS_METHOD, method)


def class_events(stream: object) -> Any:
    """The stream's events from its class-level `_iter_events`, whatever is hooked on the class by now, read from a
    copy of the stream without its iterator. Like the SDK's own iterator (a copy's `__stream__`, SDK >= 1.14), so that
    nothing the stream keeps refers back to it: a cycle would leave a dropped stream's response open until the garbage
    collector runs, instead of closing it at once."""
    klass = type(stream)
    for owner in klass.__mro__:
        method = owner.__dict__.get(_EVENTS_METHOD)
        if method is not None:
            reader = copy.copy(stream)
            vars(reader).pop(_ITERATOR, None)
            return method.__get__(reader, klass)()
    raise AttributeError(_EVENTS_METHOD)


class _EndAfter:
    """The `end` of one of the SDK's (>= 1.14) end-of-body observers, set on that observer: `before` runs, then the
    observer's own `end`. The observer stays the SDK's own object, as the SDK's stream helpers find the recorder of
    their content through it, by class. Held strongly (the garbage collector clears weak references before the
    finalizers that report a dropped body run); the cycle through the observer's own attribute lasts until the first
    end, which removes it (the SDK's observer drops every end after the first)."""

    __slots__ = ("_before", "_observer")

    def __init__(self, observer: Any, before: Any) -> None:
        self._observer = observer
        self._before = before

    def __call__(self, how: str, error: BaseException | None = None) -> None:
        observer = self._observer
        vars(observer).pop("end", None)
        self._before()  # guarded by the caller: never raises
        type(observer).end(observer, how, error)


def before_native_span_ends(response: object, before: Any) -> None:
    """Run `before()` just before the SDK ends its native call span because the body of `response` was read,
    closed, failed or was dropped. The SDK's `span_ending_stream` puts its observer on the response body as
    `stream_observer`, which the `Stream` and the body look up whenever they report an end; nothing if absent."""
    body: Any = getattr(response, "stream", None)
    observer: Any = getattr(body, "stream_observer", None)
    if not callable(getattr(type(observer), "end", None)) or not hasattr(observer, "__dict__"):
        return
    if not isinstance(vars(observer).get("end"), _EndAfter):
        observer.end = _EndAfter(observer, before)


# --- server-sent events -------------------------------------------------------------------------------------------

# The name of an event, from the attribute behind the SDK's `ServerSentEvent.event` property, without the property
# call (a third of our cost per event). The same in every supported SDK, which `scripts/check_hook_points.py` and the
# tests check. Raises AttributeError on an event without it: read `.event` then.
event_name = attrgetter("_event")


# --- exceptions ---------------------------------------------------------------------------------------------------

ExceptionKind = Literal["status", "timeout", "connection", "other"]


def exception_kind(exc: BaseException) -> ExceptionKind:
    """What an exception the SDK raised is, by class name (exception layouts differ between SDK versions, and an
    `httpx` error reaches the application unwrapped when a streamed body fails mid-read)."""
    names = {klass.__name__ for klass in type(exc).__mro__}
    if "APIStatusError" in names and isinstance(getattr(exc, "status_code", None), int):
        return "status"
    if "APITimeoutError" in names or "TimeoutException" in names:
        return "timeout"
    if "APIConnectionError" in names or "TransportError" in names:
        return "connection"
    return "other"


class StatusErrorFacts(NamedTuple):
    status: int
    headers: Mapping[str, str] | None
    body: object
    error_type: object  # the SDK's own reading of the body's `error.type` (recent SDKs)
    error_code: object  # and of `error.details.error_code`


def status_error_facts(exc: BaseException) -> StatusErrorFacts:
    """What an `APIStatusError` carries (call only when `exception_kind(exc) == "status"`)."""
    response = getattr(exc, "response", None)
    return StatusErrorFacts(
        getattr(exc, "status_code", 0),
        getattr(response, "headers", None),
        getattr(exc, "body", None),
        getattr(exc, "type", None),
        getattr(exc, "error_code", None),
    )
