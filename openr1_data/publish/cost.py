"""What the published rows cost: each step's measured time and tokens (`funnel.StepCost`) priced with the user's
prices, in total and per kept row, for the card's cost table.

Prices are flags (or a recipe's keys): `--cpu_hour_cost`, `--gpu_hour_cost` (per hour of one core / one GPU) and
`--token_cost_per_million` (a hosted teacher's price per million tokens, in and out). Without prices the card shows
the time and tokens and says how to price them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openr1_data.funnel import Funnel, StepCost


@dataclass
class CostPrices:
    """Prices that turn each step's measured time and tokens into money on the card (any currency; the card says
    the unit is the one given here)."""

    cpu_hour_cost: float | None = field(
        default=None,
        metadata={"help": "price of one CPU core for an hour (e.g. 0.05), to price each step's CPU time"},
    )
    gpu_hour_cost: float | None = field(
        default=None,
        metadata={"help": "price of one GPU for an hour (e.g. 2.5), to price each step's GPU time"},
    )
    token_cost_per_million: float | None = field(
        default=None,
        metadata={
            "help": "a hosted teacher's price per million tokens (in and out), to price generation's tokens"
        },
    )
    currency: str = field(default="USD", metadata={"help": "the unit of the prices, shown on the card"})

    def __post_init__(self) -> None:
        for name in ("cpu_hour_cost", "gpu_hour_cost", "token_cost_per_million"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"--{name} must be >= 0, got {value}")

    @property
    def priced(self) -> bool:
        return any(
            p is not None for p in (self.cpu_hour_cost, self.gpu_hour_cost, self.token_cost_per_million)
        )


def step_cost(cost: StepCost, prices: CostPrices) -> float | None:
    """The money one step cost at `prices` (None without any price)."""
    if not prices.priced:
        return None
    total = (cost.cpu_s / 3600) * (prices.cpu_hour_cost or 0.0)
    total += ((cost.gpu_s or 0.0) / 3600) * (prices.gpu_hour_cost or 0.0)
    tokens = (cost.tokens_in or 0) + (cost.tokens_out or 0)
    return total + tokens / 1e6 * (prices.token_cost_per_million or 0.0)


def cost_table(funnel: Funnel | None, prices: CostPrices, kept_rows: int) -> dict[str, Any] | None:
    """The card's cost section: one row per step (time, CPU, GPU, tokens, cost, cost per kept row) and the total;
    None when no step recorded its cost."""
    if funnel is None or not funnel.costs:
        return None
    per_row = max(kept_rows, 1)

    def row(
        step: str, wall: float, cpu: float, gpu: float | None, t_in: int | None, t_out: int | None, money
    ):
        return {
            "step": step,
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "gpu_s": None if gpu is None else round(gpu, 1),
            "tokens_in": t_in,
            "tokens_out": t_out,
            "cost": None if money is None else round(money, 6),
            "cost_per_kept_row": None if money is None else money / per_row,
        }

    rows = [
        row(c.step, c.wall_s, c.cpu_s, c.gpu_s, c.tokens_in, c.tokens_out, step_cost(c, prices))
        for c in funnel.costs
    ]
    gpus = [c.gpu_s for c in funnel.costs if c.gpu_s is not None]
    tokens_in = [c.tokens_in for c in funnel.costs if c.tokens_in is not None]
    tokens_out = [c.tokens_out for c in funnel.costs if c.tokens_out is not None]
    money = [r["cost"] for r in rows if r["cost"] is not None]
    total = row(
        "total",
        sum(c.wall_s for c in funnel.costs),
        sum(c.cpu_s for c in funnel.costs),
        sum(gpus) if gpus else None,
        sum(tokens_in) if tokens_in else None,
        sum(tokens_out) if tokens_out else None,
        sum(money) if money else None,
    )
    return {
        "steps": rows,
        "total": total,
        "kept_rows": kept_rows,
        "prices": {
            "cpu_hour_cost": prices.cpu_hour_cost,
            "gpu_hour_cost": prices.gpu_hour_cost,
            "token_cost_per_million": prices.token_cost_per_million,
            "currency": prices.currency,
            "text": "; ".join(
                f"{value} {unit}"
                for value, unit in (
                    (prices.cpu_hour_cost, "per CPU hour"),
                    (prices.gpu_hour_cost, "per GPU hour"),
                    (prices.token_cost_per_million, "per million tokens"),
                )
                if value is not None
            ),
        },
    }
