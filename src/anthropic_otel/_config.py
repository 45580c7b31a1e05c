"""Configuration: `instrument()` arguments, else environment variables, else defaults.

A wrong argument passed in code raises `ValueError` naming it (a bug the developer should see at once);
a wrong environment variable logs a warning and the default is used (it must never stop the application).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._log import logger

CallSpanMode = Literal["auto", "own", "native-only"]
CALL_SPAN_MODES: tuple[CallSpanMode, ...] = ("auto", "own", "native-only")
ENV_CALL_SPAN = "ANTHROPIC_OTEL_CALL_SPAN"

# Arguments `instrument()` accepts besides ours: the providers, and what BaseInstrumentor passes through.
_PROVIDER_ARGS = ("tracer_provider", "meter_provider")


@dataclass(frozen=True)
class Config:
    call_span: CallSpanMode = "auto"


def from_arguments(kwargs: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Config:
    unknown = sorted(set(kwargs) - {*_PROVIDER_ARGS, "call_span"})
    if unknown:
        raise ValueError(f"AnthropicInstrumentor.instrument() got unknown argument(s): {', '.join(unknown)}")
    call_span = kwargs.get("call_span")
    if call_span is not None:
        if call_span not in CALL_SPAN_MODES:
            raise ValueError(f"call_span must be one of {', '.join(CALL_SPAN_MODES)}; got {call_span!r}")
    else:
        call_span = _env_choice(environ, ENV_CALL_SPAN, CALL_SPAN_MODES, "auto")
    return Config(call_span=call_span)


def _env_choice(environ: Mapping[str, str], name: str, choices: tuple[Any, ...], default: Any) -> Any:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in choices:
        return value
    logger.warning("anthropic-otel: %s=%r is not one of %s; using %r", name, raw, ", ".join(choices), default)
    return default
