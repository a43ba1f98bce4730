"""The shared confidence intervals: Wilson for a proportion (reference values from the closed form), the
percentile bootstrap for a mean."""

from __future__ import annotations

import math

import pytest

from openr1_data.intervals import bootstrap_interval, rate, wilson_interval


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        (5, 10, 0.2366, 0.7634),  # symmetric around one half
        (0, 10, 0.0, 0.2775),  # never collapses to a point at 0% ...
        (10, 10, 0.7225, 1.0),  # ... or at 100%
        (1, 2, 0.0945, 0.9055),
        (229, 247, 0.8878, 0.9534),
    ],
)
def test_wilson_interval(successes, trials, low, high):
    lo, hi = wilson_interval(successes, trials)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_wilson_edges_and_the_rate_record():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)
    assert rate(3, 4) == {"count": 3, "of": 4, "rate": 0.75, "low": 0.3006, "high": 0.9544}
    assert rate(0, 0) == {"count": 0, "of": 0, "rate": None, "low": None, "high": None}
    narrow, wide = wilson_interval(50, 100, level=0.5), wilson_interval(50, 100, level=0.99)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]


def test_bootstrap_interval_of_a_mean():
    lo, hi = bootstrap_interval([0.0, 1.0] * 50, resamples=500, seed=1)
    assert 0.35 < lo < 0.5 < hi < 0.65
    assert bootstrap_interval([1.0] * 5) == (1.0, 1.0)
    assert all(math.isnan(v) for v in bootstrap_interval([]))
