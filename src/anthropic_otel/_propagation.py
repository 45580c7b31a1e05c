"""Trace context on the requests of a call whose span is ours, as the SDK's own tracing sends its span's.

The SDK (>= 1.14) writes its call span's trace context into each request when its tracing is on; with its tracing
off (or on an older SDK), when the call span is ours, nothing would: a gateway or proxy in between would lose the
trace. So each attempt carries our call span's context, through the propagator the application registered
(`OTEL_PROPAGATORS`; by default W3C `traceparent`/`tracestate` and `baggage`). Never when the SDK's span is the call
span: it sends its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.context import Context

from ._log import logger

_Inject = Callable[..., None]
_UNLOADED: Any = object()
_inject: _Inject | None = _UNLOADED


def _injector() -> _Inject | None:
    """`opentelemetry.propagate.inject`, imported on first use: the module loads the propagators that
    `OTEL_PROPAGATORS` names, and raises for one that is not installed (then requests carry no trace context)."""
    global _inject
    if _inject is _UNLOADED:
        try:
            from opentelemetry.propagate import inject

            _inject = inject
        except Exception as exc:
            logger.warning(
                "anthropic-otel: cannot load the OpenTelemetry propagators; requests carry no trace context: %s", exc
            )
            _inject = None
    return _inject


def trace_headers(ctx: Context) -> dict[str, str]:
    """The headers that carry the trace context (and baggage) of `ctx`, by the application's propagator."""
    inject = _injector()
    if inject is None:
        return {}
    carrier: dict[str, str] = {}
    inject(carrier, context=ctx)
    return carrier
