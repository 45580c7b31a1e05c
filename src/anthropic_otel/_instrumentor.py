"""`AnthropicInstrumentor`: place the hooks on the SDK, and take them off again."""

from __future__ import annotations

import importlib
from collections.abc import Collection
from typing import Any

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]

from . import _config, _sdk
from ._hooks import Hooks
from ._log import logger
from ._telemetry import Telemetry

_INSTRUMENTS = ("anthropic >= 0.108, < 3",)

# Re-exported for tools that list what we hook.
HOOK_POINTS = _sdk.HOOK_POINTS
OPTIONAL_HOOK_POINTS = _sdk.OPTIONAL_HOOK_POINTS


class AnthropicInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments the `anthropic` SDK: a call span (or the SDK's own), a span per HTTP attempt, and metrics.

    `AnthropicInstrumentor().instrument(tracer_provider=..., meter_provider=..., call_span="auto")`;
    `opentelemetry-instrument` loads it through the `anthropic_otel` entry point.
    """

    _hooks: Hooks | None = None
    _placed: list[tuple[Any, str, Any]]

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def _instrument(self, **kwargs: Any) -> None:
        # Invalid arguments are the developer's bug: raise before touching anything.
        config = _config.from_arguments(kwargs)
        try:
            telemetry = Telemetry(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
            hooks = Hooks(telemetry, config)
        except Exception:
            logger.warning("anthropic-otel: could not set up telemetry; instrumentation is off", exc_info=True)
            return
        self._hooks = hooks
        self._placed = []
        if telemetry.is_noop:
            # Explicitly no-op providers: nothing would be recorded, so cost the application nothing.
            logger.info("anthropic-otel: no-op tracer and meter providers; no hooks placed")
            return
        for point in HOOK_POINTS:
            self._place(point.module, point.owner, point.name, getattr(hooks, point.hook))
        if config.call_span == "own":  # the only mode that needs to keep the SDK from starting its call span
            for point in OPTIONAL_HOOK_POINTS:
                self._place(point.module, point.owner, point.name, getattr(hooks, point.hook), optional=True)

    def _place(self, module_name: str, class_name: str, method: str, hook: Any, optional: bool = False) -> None:
        try:
            module = importlib.import_module(module_name)
            owner = getattr(module, class_name) if class_name else module
            current = owner.__dict__.get(method)
            if current is None:
                if optional:
                    logger.debug("anthropic-otel: %s.%s absent on this anthropic version", module_name, method)
                    return
                raise AttributeError(f"{class_name}.{method} not found")
            if isinstance(current, wrapt.ObjectProxy) and getattr(current, "_self_anthropic_otel", False):
                return  # already ours (a second instrumentor instance in the same process)
            wrapt.wrap_function_wrapper(owner, method, hook)
            wrapper = owner.__dict__[method]
            wrapper._self_anthropic_otel = True
            self._placed.append((owner, method, wrapper))
        except Exception:
            logger.warning(
                "anthropic-otel: cannot hook %s.%s.%s on this anthropic version; that part of the telemetry is off",
                module_name,
                class_name,
                method,
                exc_info=True,
            )

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._hooks is not None:
            # Wrappers that something else wrapped on top of stay in place as pass-throughs.
            self._hooks.enabled = False
        for owner, method, wrapper in getattr(self, "_placed", []):
            try:
                if owner.__dict__.get(method) is wrapper:
                    setattr(owner, method, wrapper.__wrapped__)
            except Exception:
                logger.warning("anthropic-otel: could not remove the hook on %s", method, exc_info=True)
        self._placed = []
        self._hooks = None
