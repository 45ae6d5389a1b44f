"""`/metrics` read with prometheus_client's own text parser (the reference implementation of the format),
reduced to what checks need: which families exist, of which type, and the sum of a sample over labels."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Metrics:
    types: dict[str, str]  # family name -> counter | gauge | histogram | ...
    samples: dict[str, float]  # sample name -> sum over all label sets
    labels: dict[str, list[dict[str, str]]]  # sample name -> its label sets (e.g. an *_info gauge's facts)

    def has(self, family: str) -> bool:
        """A family by the name dashboards use; counters may be named with or without `_total`."""
        return family in self.types or family.removesuffix("_total") in self.types

    def value(self, sample: str) -> float | None:
        return self.samples.get(sample)


def parse(text: str) -> Metrics:
    """Raises ValueError when the text is not valid Prometheus exposition format."""
    types: dict[str, str] = {}
    samples: dict[str, float] = {}
    labels: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
            labels.setdefault(sample.name, []).append(dict(sample.labels))
    return Metrics(types, samples, labels)
