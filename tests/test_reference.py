"""docs/telemetry.md is what the catalog generates, and the catalog describes every attribute it emits."""

from __future__ import annotations

from pathlib import Path

import pytest

from anthropic_otel import _catalog as cat
from anthropic_otel import _reference

DOC = Path(__file__).resolve().parents[1] / "docs" / "telemetry.md"


def test_docs_telemetry_md_is_generated_from_the_catalog() -> None:
    assert DOC.read_text(encoding="utf-8") == _reference.render(), (
        "docs/telemetry.md is stale: run `python -m anthropic_otel._reference docs/telemetry.md`"
    )


def test_check_mode_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "telemetry.md"
    stale.write_text(_reference.render().replace("anthropic.client.calls", "anthropic.client.call"), encoding="utf-8")
    assert _reference.main(["--check", str(stale)]) == 1
    assert _reference.main([str(stale)]) == 0
    assert _reference.main(["--check", str(stale)]) == 0


def test_every_emitted_attribute_is_described_and_every_description_is_used() -> None:
    assert _reference.undocumented() == []
    emitted = {
        *cat.CALL_SPAN_ATTRIBUTES,
        *cat.ATTEMPT_SPAN_ATTRIBUTES,
        *cat.CONTENT_ATTRIBUTES,
        *cat.OPT_IN_METRIC_ATTRIBUTES,
        *(name for metric in cat.METRICS for name in metric.attributes),
    }
    assert set(cat.ATTRIBUTE_DOCS) == emitted


def test_the_reference_names_every_metric_unit_bucket_and_value() -> None:
    text = DOC.read_text(encoding="utf-8")
    for metric in cat.METRICS:
        assert f"`{metric.name}` | {metric.kind} | `{metric.unit}` | `{metric.prometheus_name}`" in text
    for name, doc in cat.ATTRIBUTE_DOCS.items():
        assert f"| `{name}` | {doc.type} |" in text
        for value in doc.values:
            assert f"`{value}`" in text
    assert "67108864" in text  # the largest token bucket, written out


def test_an_undescribed_attribute_stops_the_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cat, "CALL_SPAN_ATTRIBUTES", (*cat.CALL_SPAN_ATTRIBUTES, "anthropic.new.thing"))
    assert _reference.undocumented() == ["anthropic.new.thing"]
    with pytest.raises(KeyError, match=r"anthropic\.new\.thing"):
        _reference.render()
