"""The teach experiment's power statement (openr1_data/experiments/power.py) against a simulation of the design: arms
trained with several seeds (each seed shifts all of its answers), evaluated on the same problems."""

from __future__ import annotations

import numpy as np
import pytest

from openr1_data.experiments.power import (
    difference_se,
    mdd,
    measured_se,
    plan_lines,
    planned_mdd,
    seeds_for,
    z_sum,
)

ITEMS, SEEDS, SEED_SD = 128, 4, 0.08


def simulate(delta: float, experiments: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`experiments` runs of the design: per problem a base rate shared by both arms (pairing), arm A that rate plus
    `delta`; per seed a normal shift of SD `SEED_SD`; one 0/1 answer per seed and problem. Returns the arms'
    [experiments, seeds, problems] answers."""
    rates = rng.uniform(0.3, 0.6, size=(experiments, 1, ITEMS))

    def arm(shift: float) -> np.ndarray:
        seed_shift = rng.normal(0.0, SEED_SD, size=(experiments, SEEDS, 1))
        p = np.clip(rates + shift + seed_shift, 0.0, 1.0)
        return (rng.random((experiments, SEEDS, ITEMS)) < p).astype(float)

    return arm(delta), arm(0.0)


def test_the_formula_has_its_stated_power_and_level_in_a_simulation():
    rng = np.random.default_rng(20261207)
    # the per-problem variance of a run at these rates: E[p (1 - p)] for p uniform on 0.3..0.6 (+ delta for A)
    grid = np.linspace(0.3, 0.6, 10001)
    w_b = float(np.mean(grid * (1 - grid)))
    se0 = difference_se(ITEMS, (SEEDS, SEEDS), (SEED_SD, SEED_SD), (w_b, w_b))
    detectable = mdd(se0)
    shifted = grid + detectable
    w_a = float(np.mean(shifted * (1 - shifted)))
    se = difference_se(ITEMS, (SEEDS, SEEDS), (SEED_SD, SEED_SD), (w_a, w_b))
    assert z_sum() == pytest.approx(2.8016, abs=1e-3)

    a, b = simulate(detectable, 4000, rng)
    differences = a.mean(axis=(1, 2)) - b.mean(axis=(1, 2))
    found = np.mean(np.abs(differences) > 1.96 * se)
    assert 0.76 <= found <= 0.84, found  # power 0.8 at the minimum detectable difference
    assert np.std(differences) == pytest.approx(se, rel=0.06)  # the SE is the spread of the estimate

    a, b = simulate(0.0, 4000, rng)
    differences = a.mean(axis=(1, 2)) - b.mean(axis=(1, 2))
    assert 0.035 <= np.mean(np.abs(differences) > 1.96 * se0) <= 0.065  # level 0.05 when the arms are equal
    # measured from one experiment's answers, the SE is right on average (seed spread from 4 seeds is noisy)
    estimates = [measured_se(a[i], b[i]) for i in range(400)]
    assert np.mean(estimates) == pytest.approx(np.std(differences), rel=0.1)


def test_the_planned_statement_before_training():
    # more seeds, smaller detectable difference; the untrained base has no seed spread of its own
    assert planned_mdd(128, 8, 8, 0.15) < planned_mdd(128, 4, 4, 0.15)
    assert planned_mdd(128, 4, 1, 0.15, untrained_b=True) < planned_mdd(128, 4, 4, 0.15)
    # no seeds at all spread: only the problems' worst variance, 2.80 * sqrt(2 * 0.25 / (128 * s))
    assert planned_mdd(128, 2, 2, 0.0) == pytest.approx(z_sum() * np.sqrt(0.5 / 256))
    needed = seeds_for(128, 0.1, 0.15)
    assert needed is not None and planned_mdd(128, needed, needed, 0.1) <= 0.15 < planned_mdd(
        128, needed - 1, needed - 1, 0.1
    )
    lines = plan_lines(128, needed, 0.1, has_base=True)
    assert any("two trained arms" in line for line in lines) and any("vs base" in line for line in lines)
    assert f"{100 * planned_mdd(128, needed, needed, 0.1):.1f} points" in "\n".join(lines)


def test_measured_se_of_a_known_design():
    # arm a: seeds at 0.50 and 0.75 over 4 problems; arm b one greedy run (no seed spread)
    a = np.array([[1, 1, 0, 0], [1, 1, 1, 0]], dtype=float)
    b = np.array([[1, 0, 0, 0]], dtype=float)
    seed_part = np.var([0.5, 0.75], ddof=1) / 2
    per_item = np.var([0.0, 1.0, 0.5, 0.0], ddof=1) / 4
    assert measured_se(a, b) == pytest.approx(np.sqrt(seed_part + per_item))
    with pytest.raises(ValueError, match="different problem counts"):
        measured_se(a, b[:, :3])
