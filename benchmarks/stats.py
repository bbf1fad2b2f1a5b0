"""Order statistics for benchmark samples: percentiles and a small summary.

Percentiles interpolate linearly between the closest ranks (NumPy's default, the
"type 7" estimator), so a p90 of ten samples lies between the 9th and 10th value
instead of jumping to the maximum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``; ValueError when empty."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be within 0..100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def median(values: Sequence[float]) -> float:
    """The median of ``values``; ValueError when empty."""
    return percentile(values, 50.0)


@dataclass(frozen=True)
class Summary:
    """Count, median, p90, p99, mean, min and max of one sample."""

    n: int
    median: float
    p90: float
    p99: float
    mean: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float]:
        """The fields as a JSON-ready mapping."""
        return {k: float(v) for k, v in asdict(self).items()}


def summarize(values: Sequence[float]) -> Summary:
    """The :class:`Summary` of a non-empty sample."""
    if not values:
        raise ValueError("summary of no values")
    return Summary(
        n=len(values),
        median=median(values),
        p90=percentile(values, 90.0),
        p99=percentile(values, 99.0),
        mean=sum(values) / len(values),
        min=float(min(values)),
        max=float(max(values)),
    )


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; NaN when the denominator is zero (shown as such)."""
    if denominator == 0:
        return math.nan
    return numerator / denominator
