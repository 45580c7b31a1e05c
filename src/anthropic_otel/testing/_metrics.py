"""Reading what an OpenTelemetry in-memory metric reader collected: for tests and the demo."""

from __future__ import annotations

from typing import Any


def metric_points(reader: Any, name: str) -> list[tuple[dict[str, Any], Any]]:
    """(attributes, data point) for every point of metric `name` that `reader` collects now.

    `reader` is an `opentelemetry.sdk.metrics.export.InMemoryMetricReader` (or anything with its
    `get_metrics_data()`); a histogram point has `count`, `sum` and `bucket_counts`, a counter or gauge `value`.
    """
    data = reader.get_metrics_data()
    found: list[tuple[dict[str, Any], Any]] = []
    for resource_metrics in data.resource_metrics if data else []:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    found += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
    return found
