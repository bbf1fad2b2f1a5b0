"""Read a Prometheus /metrics endpoint the way Prometheus does, for tests."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """The samples of one scrape."""

    samples: list[tuple[str, dict[str, str], float]]

    def has(self, name: str) -> bool:
        """Whether any sample of ``name`` (with its _total/_bucket/… suffix) is present."""
        return any(sample == name for sample, _, _ in self.samples)

    def value(self, name: str, **labels: str) -> float:
        """The sum of ``name``'s samples whose labels include ``labels`` (0 if none)."""
        return sum(
            value
            for sample, sample_labels, value in self.samples
            if sample == name and all(sample_labels.get(k) == v for k, v in labels.items())
        )


def parse(text: str) -> Scrape:
    """Parse a text exposition."""
    samples = [
        (s.name, dict(s.labels), float(s.value))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    ]
    return Scrape(samples)


def scrape(url: str, *, timeout: float = 10.0) -> Scrape:
    """GET ``url`` and parse it; fails the test on a non-200 answer or a bad content type."""
    response = httpx.get(url, timeout=timeout)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)
