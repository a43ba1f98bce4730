"""The experiment's power: the smallest difference in pass@1 between two arms that the design detects.

Two arms A and B are evaluated on the same n held-out problems, A trained with s_A seeds and B with s_B (`base` is
one untrained model decoded greedily: s = 1 and no seed spread). The difference D of their pass@1 (the mean over
seeds and problems) has, in a normal approximation,

    SE^2 = tau_A^2 / s_A + tau_B^2 / s_B + (w_A / s_A + w_B / s_B) / n + sigma_delta^2 / n

- tau: the SD of an arm's pass@1 across training seeds (a seed's shift of all its answers);
- w: the variance of one run's 0/1 answer on one problem, p (1 - p) averaged over problems (at most 0.25);
- sigma_delta: the SD over problems of the true per-problem difference (problems that one arm gains more on);
  pairing over problems removes everything else that makes some problems harder than others.

The minimum detectable difference at a two-sided level alpha with power 1 - beta is

    MDD = (z_{1 - alpha / 2} + z_{1 - beta}) * SE        (alpha = 0.05, power 0.8: 2.80 * SE)

Before training (`planned_mdd`) tau is a planning value (a pilot's seed spread: `--power_seed_sd`), w its worst case
0.25 and sigma_delta 0. After training (`measured_mdd`) every term is measured: tau from the arm's per-seed pass@1,
and the last two terms together from the spread over problems of the seed-averaged per-problem difference. A
comparison is *detected* when its 95% bootstrap interval excludes 0, otherwise *within noise*; its MDD says how
large a difference the design would have found (80% of the time).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

ALPHA = 0.05
POWER = 0.8
WORST_ITEM_VARIANCE = 0.25  # p (1 - p) at p = 0.5


def z_sum(alpha: float = ALPHA, power: float = POWER) -> float:
    """z_{1 - alpha/2} + z_{power}: 2.80 for alpha 0.05 and power 0.8."""
    normal = NormalDist()
    return normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)


def difference_se(
    items: int,
    seeds: tuple[int, int],
    seed_sd: tuple[float, float],
    item_variance: tuple[float, float] = (WORST_ITEM_VARIANCE, WORST_ITEM_VARIANCE),
    effect_sd: float = 0.0,
) -> float:
    """The standard error of the difference of two arms' pass@1 (the module docstring's SE)."""
    (s_a, s_b), (tau_a, tau_b), (w_a, w_b) = seeds, seed_sd, item_variance
    variance = tau_a**2 / s_a + tau_b**2 / s_b + (w_a / s_a + w_b / s_b) / items + effect_sd**2 / items
    return math.sqrt(variance)


def mdd(se: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """The minimum detectable difference of a comparison with standard error `se`."""
    return z_sum(alpha, power) * se


def planned_mdd(items: int, seeds_a: int, seeds_b: int, seed_sd: float, untrained_b: bool = False) -> float:
    """Before training: the MDD of a trained arm (seeds_a seeds) against another trained arm, or against the
    untrained `base` (one greedy model: no seed spread), with a planning seed SD and the worst per-item variance."""
    tau_b = 0.0 if untrained_b else seed_sd
    return mdd(difference_se(items, (seeds_a, 1 if untrained_b else seeds_b), (seed_sd, tau_b)))


def measured_se(a: np.ndarray, b: np.ndarray) -> float:
    """After training: the SE of the difference of two arms from their [seeds, problems] 0/1 matrices (the same
    problems in the same order): each arm's seed spread of pass@1 over its seeds, plus the spread over problems of
    the seed-averaged per-problem difference (within-run noise and uneven gains together)."""
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"arms evaluated on different problem counts: {a.shape[1]} vs {b.shape[1]}")
    items = a.shape[1]
    seed_part = sum(m.mean(axis=1).var(ddof=1) / m.shape[0] for m in (a, b) if m.shape[0] > 1)
    per_item = a.mean(axis=0) - b.mean(axis=0)
    return math.sqrt(seed_part + per_item.var(ddof=1) / items)


def plan_lines(items: int, seeds: int, seed_sd: float, has_base: bool) -> list[str]:
    """The power statement made before any training (printed by --dry_run and written in the report)."""
    trained = planned_mdd(items, seeds, seeds, seed_sd)
    lines = [
        f"Power (before training; alpha {ALPHA}, power {POWER}, normal approximation, openr1_data/experiments/power.py): "
        f"{items} held-out problems, {seeds} seed(s) per trained arm, planning seed SD {100 * seed_sd:.1f} points "
        f"(--power_seed_sd), per-problem variance at its worst (0.25).",
        f"  two trained arms: the smallest detectable difference is {100 * trained:.1f} points",
    ]
    if has_base:
        lines.append(
            f"  a trained arm vs base: {100 * planned_mdd(items, seeds, 1, seed_sd, untrained_b=True):.1f} points"
        )
    needed = seeds_for(items, seed_sd, 0.15)
    lines.append(
        "  seeds per arm for a 15-point difference between trained arms: "
        + (
            f"{needed}"
            if needed is not None
            else "none suffice (the per-problem variance alone is too large)"
        )
    )
    return lines


def seeds_for(items: int, seed_sd: float, target: float, most: int = 1000) -> int | None:
    """The fewest seeds per arm whose planned MDD between two trained arms is at most `target` (None: none)."""
    for seeds in range(1, most + 1):
        if planned_mdd(items, seeds, seeds, seed_sd) <= target:
            return seeds
    return None
