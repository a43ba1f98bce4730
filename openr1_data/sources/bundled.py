"""Generated problem sets that need no download and have no licence doubts, each with gold answers and a short
reference solution ending in `\\boxed{answer}`:

- `bundled`: grade-school arithmetic and word problems for the quickstart (a seeded generator: same seed, same
  problems);
- `arithmetic`: every `What is a + b?` with a and b in a range, a set whose difficulty the range sets (with a and b
  in 1..14, SmolLM2-135M writes correct answers often enough to learn from; see docs/experiments/teach.md).
"""

from __future__ import annotations

import random
from collections.abc import Callable

NAMES = ["Ava", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jonas", "Kemi", "Lucia"]
ITEMS = ["apples", "pencils", "marbles", "stickers", "books", "cookies", "shells", "cards"]


def _add(rng: random.Random) -> tuple[str, str, int]:
    who, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(3, 60), rng.randint(3, 60)
    problem = f"{who} has {a} {item} and buys {b} more. How many {item} does {who} have now?"
    return problem, f"{who} starts with {a} and adds {b}: {a} + {b} = {a + b}.", a + b


def _sub(rng: random.Random) -> tuple[str, str, int]:
    who, item = rng.choice(NAMES), rng.choice(ITEMS)
    a = rng.randint(20, 90)
    b = rng.randint(2, a - 1)
    problem = f"{who} had {a} {item} and gave away {b}. How many {item} are left?"
    return problem, f"{who} gives away {b} of {a}: {a} - {b} = {a - b}.", a - b


def _mul(rng: random.Random) -> tuple[str, str, int]:
    item = rng.choice(ITEMS)
    boxes, per = rng.randint(2, 12), rng.randint(2, 12)
    problem = f"There are {boxes} boxes with {per} {item} in each box. How many {item} are there in total?"
    return problem, f"{boxes} boxes of {per} each: {boxes} \\times {per} = {boxes * per}.", boxes * per


def _div(rng: random.Random) -> tuple[str, str, int]:
    item, kids = rng.choice(ITEMS), rng.randint(2, 9)
    each = rng.randint(2, 12)
    total = kids * each
    problem = f"{total} {item} are shared equally among {kids} children. How many {item} does each child get?"
    return problem, f"Divide {total} among {kids}: {total} \\div {kids} = {each}.", each


def _two_step(rng: random.Random) -> tuple[str, str, int]:
    who = rng.choice(NAMES)
    price, count, paid = rng.randint(2, 9), rng.randint(2, 6), 0
    cost = price * count
    paid = cost + rng.randint(1, 20)
    problem = (
        f"{who} buys {count} notebooks at ${price} each and pays with ${paid}. How much change, in dollars, "
        f"does {who} get?"
    )
    solution = f"The notebooks cost {count} \\times {price} = {cost} dollars, so the change is {paid} - {cost} = {paid - cost}."
    return problem, solution, paid - cost


def _expression(rng: random.Random) -> tuple[str, str, int]:
    a, b, c = rng.randint(2, 20), rng.randint(2, 20), rng.randint(2, 9)
    problem = f"Compute ${a} + {b} \\times {c}$."
    return (
        problem,
        f"Multiplication first: {b} \\times {c} = {b * c}, then {a} + {b * c} = {a + b * c}.",
        a + b * c,
    )


GENERATORS: list[Callable[[random.Random], tuple[str, str, int]]] = [
    _add,
    _sub,
    _mul,
    _div,
    _two_step,
    _expression,
]


def bundled_problems(n: int = 64, seed: int = 1234) -> list[dict[str, str]]:
    """`n` distinct grade-school problems with `problem`, `solution`, `answer` and `source` (deterministic)."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    while len(rows) < n:
        make = GENERATORS[len(rows) % len(GENERATORS)]
        problem, solution, answer = make(rng)
        if problem in seen:
            continue
        seen.add(problem)
        rows.append(
            {
                "problem": problem,
                "solution": f"{solution} The answer is $\\boxed{{{answer}}}$.",
                "answer": str(answer),
                "source": f"openr1_data.bundled/{make.__name__.lstrip('_')}",
            }
        )
    return rows


def arithmetic_problems(low: int = 1, high: int = 14) -> list[dict[str, str]]:
    """Every `What is a + b?` with `low <= a, b <= high` (both orders: (high - low + 1)^2 problems), in a fixed
    order. The range is the difficulty knob: single digits are easier for a small model than two-digit sums."""
    if not 0 <= low <= high:
        raise ValueError(f"--arithmetic_low/--arithmetic_high: need 0 <= low <= high, got {low}..{high}")
    return [
        {
            "problem": f"What is {a} + {b}?",
            "solution": f"{a} + {b} = {a + b}. The answer is $\\boxed{{{a + b}}}$.",
            "answer": str(a + b),
            "source": f"openr1_data.arithmetic/add_{low}_{high}",
        }
        for a in range(low, high + 1)
        for b in range(low, high + 1)
    ]
