"""Static checks of the generated dashboards: structure, units, variables, and every query's PromQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from grafana_checks import (
    check_promql,
    check_variable_query,
    generated_dashboards,
    panels,
    prometheus_targets,
    selectors,
)

from anthropic_otel import _catalog as c
from anthropic_otel.grafana import Config
from anthropic_otel.grafana import rules as rules_module
from anthropic_otel.grafana.dashboards.board import MINIMUM_GRAFANA, MINIMUM_SCHEMA_VERSION

RECORDS = list(rules_module.build(Config()).records())
LATENCY_SERIES = (c.OPERATION_DURATION.prometheus_name, c.TIME_TO_FIRST_CHUNK.prometheus_name)


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    return generated_dashboards()


def content_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in panels(board) if p["type"] != "row"]


def test_dashboards_with_stable_uids(dashboards: dict[str, dict[str, Any]]) -> None:
    uids = {b["uid"] for b in dashboards.values()}
    assert uids == {"anthropic-otel-overview", "anthropic-otel-errors", "anthropic-otel-spend"}
    for path, board in dashboards.items():
        assert path == f"dashboards/{board['uid']}.json"
        assert board["title"] and board["description"] and board["schemaVersion"] >= 39
        assert "id" not in board or board["id"] is None, "an id ties the JSON to one Grafana instance"
        assert board["tags"]


def test_panel_ids_unique_and_grid_without_overlaps(dashboards: dict[str, dict[str, Any]]) -> None:
    for board in dashboards.values():
        ids = [p["id"] for p in panels(board)]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
        cells: set[tuple[int, int]] = set()
        for p in panels(board):
            g = p["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
            area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & area, f"{p['title']} overlaps another panel"
            cells |= area


def test_every_panel_has_title_description_unit_datasource(dashboards: dict[str, dict[str, Any]]) -> None:
    for board in dashboards.values():
        for p in content_panels(board):
            assert p["title"] and len(p.get("description", "")) > 20, p["title"]
            assert p["fieldConfig"]["defaults"].get("unit"), f"{p['title']}: no unit"
            assert p["datasource"]["uid"] in ("${datasource}", "${tempo}"), p["title"]
            assert p["targets"], p["title"]
            refs = [t["refId"] for t in p["targets"]]
            assert len(refs) == len(set(refs)), p["title"]


def test_units_match_what_is_measured(dashboards: dict[str, dict[str, Any]]) -> None:
    for board in dashboards.values():
        for p, t in prometheus_targets(board):
            unit = p["fieldConfig"]["defaults"]["unit"]
            expr = t["expr"]
            if "histogram_quantile" in expr:
                assert unit == "s", f"{p['title']}: quantiles of seconds"
            if (
                re.match(r"^sum (by \([^)]*\) )?\(rate\(anthropic_client_(calls|attempts)_total", expr)
                and "/" not in expr
            ):
                assert unit == "reqps", f"{p['title']}: a rate of calls or attempts"


def test_thresholds_where_a_value_can_be_bad(dashboards: dict[str, dict[str, Any]]) -> None:
    for board in dashboards.values():
        for p in content_panels(board):
            steps = p["fieldConfig"]["defaults"].get("thresholds", {}).get("steps", [])
            assert steps and steps[0]["value"] is None, f"{p['title']}: thresholds need a base step"
            # Ratios and single stats are values that can be bad; traffic and a mix of stop reasons are not.
            judged = p["fieldConfig"]["defaults"]["unit"] == "percentunit" or p["type"] == "stat"
            if judged and p["title"] not in ("Calls / s", "Stop reasons"):
                assert len(steps) >= 2, f"{p['title']}: no threshold"


def test_variables(dashboards: dict[str, dict[str, Any]]) -> None:
    for board in dashboards.values():
        variables = {v["name"]: v for v in board["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
        for name in ("job", "model"):
            v = variables[name]
            assert v["type"] == "query" and v["datasource"]["uid"] == "${datasource}"
            assert v["includeAll"] and v["allValue"] == ".*" and v["multi"]
            assert not check_variable_query(v["query"]["query"]), v["query"]["query"]
        if any(p["datasource"]["uid"] == "${tempo}" for p in content_panels(board)):
            assert variables["tempo"]["type"] == "datasource" and variables["tempo"]["query"] == "tempo"


def test_every_query_parses_and_uses_catalog_names(dashboards: dict[str, dict[str, Any]]) -> None:
    count = 0
    for board in dashboards.values():
        for p, t in prometheus_targets(board):
            problems = check_promql(t["expr"], RECORDS)
            assert not problems, f"{board['uid']} / {p['title']}: {problems}\n{t['expr']}"
            count += 1
    assert count > 40


def test_queries_filter_by_the_variables_and_rate_interval(dashboards: dict[str, dict[str, Any]]) -> None:
    for board in dashboards.values():
        for p, t in prometheus_targets(board):
            expr = t["expr"]
            windows = set(re.findall(r"\[([^\]]+)\]", expr))
            instant = t.get("instant", False)
            assert windows <= ({"$__range", "$__rate_interval"} if instant else {"$__rate_interval"}), p["title"]
            for name, matchers in selectors(expr):
                if name in RECORDS:  # already aggregated by job; the burn-rate panel filters by $job only
                    assert matchers.get("job") == "=~$job", p["title"]
                    continue
                assert matchers.get("job") == "=~$job", f"{p['title']}: {name} not filtered by $job"
                assert matchers.get("gen_ai_request_model") == "=~$model", f"{p['title']}: {name} not by $model"


def test_latency_panels_have_exemplars(dashboards: dict[str, dict[str, Any]]) -> None:
    latency = [
        (p, t)
        for board in dashboards.values()
        for p, t in prometheus_targets(board)
        if p["type"] == "timeseries" and any(s + "_bucket" in t["expr"] for s in LATENCY_SERIES)
    ]
    assert len(latency) >= 6
    assert all(t.get("exemplar") is True for _, t in latency)


@pytest.mark.parametrize(
    "question",
    [
        "Calls / s", "Failed calls", "Availability", "p95 latency", "Time to first chunk", "Tokens / s",
        "Failed calls by error.type", "Errors by error_code", "Attempts by HTTP status", "retryable vs terminal",
        "Billing errors", "Authentication / permission errors", "Attempts per call", "Recovered vs failed calls",
        "Time spent in backoff", "Retry amplification", "Stop reasons", "Truncated answers", "Refusals",
        "Rate-limit headroom", "Recent failed calls",
    ],
)  # fmt: skip
def test_each_on_call_question_has_a_panel(question: str, dashboards: dict[str, dict[str, Any]]) -> None:
    titles = [p["title"] for board in dashboards.values() for p in content_panels(board)]
    assert any(question in title for title in titles), question


def test_tempo_panels_use_catalog_span_attributes(dashboards: dict[str, dict[str, Any]]) -> None:
    known = set(c.CALL_SPAN_ATTRIBUTES) | set(c.ATTEMPT_SPAN_ATTRIBUTES)
    queries = [
        t["query"] for board in dashboards.values() for p in content_panels(board) if p["datasource"]["type"] == "tempo"
        for t in p["targets"]
    ]  # fmt: skip
    assert len(queries) == 2
    for query in queries:
        used = set(re.findall(r"span\.([a-z_.]+)", query))
        assert used <= known, used - known
        assert c.ANTHROPIC_REQUEST_ID in used


def test_dashboards_are_written_for_the_stated_minimum_grafana(dashboards: dict[str, dict[str, Any]]) -> None:
    """Schema 39 (Grafana 11.0) and no field of a newer schema: newer Grafana versions migrate forward on load,
    older ones would not read fields they do not know. The description states the version to the user."""
    for board in dashboards.values():
        assert board["schemaVersion"] == MINIMUM_SCHEMA_VERSION == 39
        assert all("placement" not in link for link in board["links"]), "link placement needs a newer Grafana"
        assert f"Needs Grafana {MINIMUM_GRAFANA} or newer" in board["description"]


def test_shared_gen_ai_metrics_select_our_scope(dashboards: dict[str, dict[str, Any]]) -> None:
    """gen_ai.client.* names are shared with other GenAI instrumentations (pydantic-ai, OpenTelemetry's): every
    selector of them, in panels and rules, keeps our scope (or series without a scope label)."""
    shared = {m.prometheus_name for m in c.METRICS if m.name.startswith("gen_ai.")}
    exprs = [t["expr"] for board in dashboards.values() for _, t in prometheus_targets(board)]
    exprs += list(rules_module.build(Config()).records().values())
    checked = 0
    for expr in exprs:
        for name, matchers in selectors(expr):
            if re.sub(r"_(bucket|sum|count)$", "", name) in shared:
                assert matchers.get("otel_scope_name") == "=~anthropic_otel|", expr
                checked += 1
    assert checked >= 5


def test_failed_attempts_panel_matches_only_our_attempt_spans(dashboards: dict[str, dict[str, Any]]) -> None:
    """The SDK's own call span has an HTTP method and error.type too: the attempt query keys on
    anthropic.error.retryable, which only our attempt spans carry, so each failure is listed once."""
    board = dashboards["dashboards/anthropic-otel-errors.json"]
    [panel] = [p for p in panels(board) if p["title"].startswith("Recent failed attempts")]
    query = panel["targets"][0]["query"]
    condition = query.split("|")[0]
    assert c.ANTHROPIC_ERROR_RETRYABLE in condition and c.ANTHROPIC_ERROR_RETRYABLE in c.ATTEMPT_SPAN_ATTRIBUTES
    assert c.ANTHROPIC_ERROR_RETRYABLE not in c.CALL_SPAN_ATTRIBUTES
    assert c.HTTP_REQUEST_METHOD not in condition
