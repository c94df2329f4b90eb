"""Summaries of timed samples: medians with their spread, percentiles, ratios."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def summary(samples: Sequence[float]) -> dict:
    """The median of ``samples`` with min and max, and the samples themselves (for the JSON file)."""
    if not samples:
        raise ValueError("no samples")
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
        "samples": list(samples),
    }


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest sample with at least ``fraction`` of them at or below."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def format_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def paired_ratio(values: Sequence[float], references: Sequence[float]) -> float | None:
    """The median of ``values[i] / references[i]``: samples taken side by side (A B A B …) are
    compared with their neighbours, so a machine that gets busier or quieter during a run moves both
    sides of each pair and not the ratio."""
    pairs = [value / reference for value, reference in zip(values, references, strict=True) if reference]
    return statistics.median(pairs) if pairs else None


def turns_won(values: Sequence[float], references: Sequence[float]) -> int:
    """In how many side-by-side pairs ``values[i]`` took less than ``references[i]``: whether a
    difference of a few percent between two servers holds turn after turn or is one run's noise."""
    return sum(value < reference for value, reference in zip(values, references, strict=True))
