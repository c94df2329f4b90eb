from __future__ import annotations

import pytest

from bench.stats import format_ratio, paired_ratio, percentile, summary


def test_summary_is_the_median_with_min_max_and_the_samples() -> None:
    assert summary([3.0, 1.0, 2.0, 10.0]) == {
        "median": 2.5,
        "min": 1.0,
        "max": 10.0,
        "n": 4,
        "samples": [3.0, 1.0, 2.0, 10.0],
    }
    with pytest.raises(ValueError):
        summary([])


def test_percentile_is_the_nearest_rank() -> None:
    samples = [float(i) for i in range(1, 101)]  # 1 … 100
    assert percentile(samples, 0.50) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile(samples, 1.0) == 100.0
    assert percentile([7.0], 0.99) == 7.0
    # Of 16 samples the 99th percentile is the largest, not one below it.
    assert percentile([float(i) for i in range(16)], 0.99) == 15.0


def test_a_ratio_s_text() -> None:
    assert format_ratio(1.5) == "1.50x"
    assert format_ratio(None) == "-"


def test_a_paired_ratio_compares_each_sample_with_its_neighbour() -> None:
    # The machine got three times busier in the middle: each pair still says 1.5.
    assert paired_ratio([3.0, 9.0, 3.0], [2.0, 6.0, 2.0]) == 1.5
    assert paired_ratio([1.0, 4.0], [1.0, 2.0]) == 1.5  # the median of 1 and 2
    assert paired_ratio([1.0], [0.0]) is None
    with pytest.raises(ValueError):
        paired_ratio([1.0, 2.0], [1.0])
