"""A span processor for tests and soak runs: which spans were started and are not ended yet.

Needs `opentelemetry-sdk` (the tests' and scripts' dependency, not the instrumentation's); imported only by them.
"""

from __future__ import annotations

import threading

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor


class OpenSpans(SpanProcessor):
    """Tracks spans started and not yet ended (`open`: span id -> name), so a run can check that none is left open.
    Thread-safe: spans start and end on the application's threads."""

    def __init__(self) -> None:
        self.open: dict[int, str] = {}
        self._lock = threading.Lock()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        with self._lock:
            self.open[span.context.span_id] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.open.pop(span.context.span_id, None)
