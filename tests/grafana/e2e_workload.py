"""The instrumented application of the e2e test, run as its own process so its global state (the instrumented
SDK, prometheus_client's registry) cannot mix with other tests'.

It calls the simulator from a few threads, streaming and not, on two models, until it receives SIGTERM, and
serves its metrics with the Prometheus exporter on 127.0.0.1. It prints `ready` once the endpoint is up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
import warnings

import anthropic
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import start_http_server

from anthropic_otel import AnthropicInstrumentor

MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5")


def call(client: anthropic.Anthropic, n: int) -> None:
    kwargs = {
        "model": MODELS[n % len(MODELS)],
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Hello"}],
    }
    if n % 3 == 0:
        with client.messages.stream(**kwargs) as stream:  # type: ignore[arg-type]
            for _ in stream:
                pass
    else:
        client.messages.create(**kwargs)  # type: ignore[call-overload]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.02)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # model deprecation notices from the SDK

    # Dying mid-call is fine: the test reads metrics from Prometheus, not from this process.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    AnthropicInstrumentor().instrument(tracer_provider=TracerProvider(), meter_provider=meter_provider)
    start_http_server(args.port, addr="127.0.0.1")
    client = anthropic.Anthropic(base_url=args.base_url, api_key="sk-ant-e2e", max_retries=2, timeout=10)
    stop = threading.Event()

    def work(worker: int) -> None:
        n = worker
        while not stop.is_set():
            with contextlib.suppress(anthropic.APIError):  # the faults are the point
                call(client, n)
            n += args.workers
            stop.wait(args.pause)

    for i in range(args.workers):
        threading.Thread(target=work, args=(i,), daemon=True).start()
    print("ready", flush=True)
    stop.wait()


if __name__ == "__main__":
    main()
