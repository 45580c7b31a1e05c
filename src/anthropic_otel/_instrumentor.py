"""`AnthropicInstrumentor`: place the hooks on the SDK, and take them off again."""

from __future__ import annotations

import importlib
import os
import threading
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


# Serialises `instrument()` and `uninstrument()` of every instance: applications set up lazily from request
# handlers, and `BaseInstrumentor` checks and sets its "instrumented" flag without a lock, around our
# `_instrument`/`_uninstrument`, which read and replace what is placed on the SDK. Re-entrant, for an
# `instrument()` reached again from inside one (an import hook, a logging handler).
_lock = threading.RLock()


def _after_fork_in_child() -> None:
    """A fork while another thread was inside `instrument()`/`uninstrument()` copies the lock held by a thread
    the child does not have: the child gets a free one."""
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_after_fork_in_child)


class AnthropicInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments the `anthropic` SDK: a call span (or the SDK's own), a span per HTTP attempt, and metrics.

    `AnthropicInstrumentor().instrument(tracer_provider=..., meter_provider=..., logger_provider=...,
    call_span="auto")` (every option: docs/configuration.md); `opentelemetry-instrument` loads it through the
    `anthropic_otel` entry point.
    """

    _hooks: Hooks | None = None
    _placed: list[tuple[Any, str, Any]]

    def instrumentation_dependencies(self) -> Collection[str]:
        return _INSTRUMENTS

    def instrument(self, **kwargs: Any) -> Any:
        """`BaseInstrumentor.instrument`, safe from any thread at any time (one of them places the hooks)."""
        with _lock:
            return super().instrument(**kwargs)

    def uninstrument(self, **kwargs: Any) -> Any:
        """`BaseInstrumentor.uninstrument`, safe from any thread at any time."""
        with _lock:
            return super().uninstrument(**kwargs)

    def _instrument(self, **kwargs: Any) -> None:
        # Invalid arguments are the developer's bug: raise before touching anything.
        config = _config.from_arguments(kwargs)
        # Hooks still placed (an earlier `instrument()` that a fork interrupted in this process's parent): take
        # them off first, so nothing is wrapped twice and nothing placed is forgotten.
        self._remove_hooks()
        try:
            telemetry = Telemetry(
                kwargs.get("tracer_provider"),
                kwargs.get("meter_provider"),
                kwargs.get("logger_provider"),
                events=config.content_in_event,
            )
            hooks = Hooks(telemetry, config)
        except Exception:
            logger.warning("anthropic-otel: could not set up telemetry; instrumentation is off", exc_info=True)
            return
        self._hooks = hooks
        if telemetry.is_noop:
            # Explicitly no-op providers: nothing would be recorded, so cost the application nothing.
            logger.info("anthropic-otel: no-op tracer and meter providers; no hooks placed")
            return
        telemetry.ratelimits.start()
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
            placed_by = getattr(current, "_self_anthropic_otel", None)
            if isinstance(current, wrapt.ObjectProxy) and isinstance(placed_by, Hooks) and placed_by.enabled:
                return  # already ours and live (a second instrumentor instance in the same process)
            # Marked as ours before anyone can see it. Every hook point is a plain function in the class's (or
            # module's) `__dict__`, so no descriptor needs resolving.
            wrapper: Any = wrapt.FunctionWrapper(current, hook)
            wrapper._self_anthropic_otel = hook.__self__  # the `Hooks` it belongs to
            setattr(owner, method, wrapper)
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
        self._remove_hooks()

    def _remove_hooks(self) -> None:
        hooks = self._hooks
        if hooks is not None:
            # Wrappers that something else wrapped on top of stay in place as pass-throughs.
            hooks.enabled = False
            # The rate-limit gauges stop reporting: the last values would otherwise stay on the dashboards.
            hooks.telemetry.ratelimits.stop()
        for owner, method, wrapper in getattr(self, "_placed", ()):
            try:
                if owner.__dict__.get(method) is wrapper:
                    setattr(owner, method, wrapper.__wrapped__)
            except Exception:
                logger.warning("anthropic-otel: could not remove the hook on %s", method, exc_info=True)
        self._placed = []
        self._hooks = None
