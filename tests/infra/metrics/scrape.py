"""Reading a ReelflowMetrics registry back the way Prometheus would: through the text exposition."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from infra.metrics import ReelflowMetrics

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(metrics: ReelflowMetrics) -> Series:
    """Every sample of one ``render()``, keyed by (name, labels); the body must parse."""
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float | None:
    return series.get((name, frozenset(labels.items())))
