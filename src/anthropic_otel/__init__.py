"""OpenTelemetry instrumentation for the `anthropic` SDK.

Why Claude API calls fail, retry, slow down or get cut short: a span per call and per HTTP attempt, with
status, `error.type`, error code, request id, retry backoff and stop reason, and metrics built for alerting.
"""

from ._classify import Classification, classify
from ._instrumentor import AnthropicInstrumentor
from ._version import __version__

__all__ = ["AnthropicInstrumentor", "Classification", "__version__", "classify"]
