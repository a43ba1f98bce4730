"""Confidence intervals shared by every measurement: Wilson for a proportion, percentile bootstrap for a mean.

Wilson's interval is the one to report for a rate from a few dozen counts (recall of planted contamination, a
verifier's false-negative rate): unlike the normal approximation or a bootstrap it stays inside [0, 1] and does
not collapse to a point at 0% or 100%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any


def wilson_interval(successes: int, trials: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion `successes / trials`; (nan, nan) when there are no trials."""
    if trials <= 0:
        return (float("nan"), float("nan"))
    if not 0 <= successes <= trials:
        raise ValueError(f"wilson_interval: successes must be in [0, {trials}], got {successes}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # Exact ends at 0 and 1 (the formula gives them up to rounding).
    return (
        0.0 if successes == 0 else max(0.0, centre - half),
        1.0 if successes == trials else min(1.0, centre + half),
    )


def rate(successes: int, trials: int, level: float = 0.95) -> dict[str, Any]:
    """A proportion with its Wilson interval, as the reports and the cards show it."""
    low, high = wilson_interval(successes, trials, level)
    return {
        "count": successes,
        "of": trials,
        "rate": successes / trials if trials else None,
        "low": None if trials == 0 else round(low, 4),
        "high": None if trials == 0 else round(high, 4),
    }


def bootstrap_interval(
    values: Sequence[float], resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (one value per item)."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    if len(data) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    return percentile_interval(
        data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1), level
    )


def percentile_interval(draws: Any, level: float = 0.95) -> tuple[float, float]:
    """The central `level` share of bootstrap draws (a numpy array of resampled statistics)."""
    import numpy as np

    tail = (1 - level) / 2
    return float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail))
