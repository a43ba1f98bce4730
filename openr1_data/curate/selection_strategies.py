"""The selection strategies the field's ablations compared, as pure functions over row positions.

Each takes the positions still kept (`alive`, in dataset order) and the per-row values it needs, and returns the
positions it rejects; `selection.select_traces` gives them their reason and chains them in a fixed order. Ties
are broken by position, so the same input always gives the same selection.

- `highest`: the rows (or problems, by a per-problem value) with the highest values: the longest teacher responses
  (OpenThoughts3, s1), the hardest LLM ratings (OpenThoughts3);
- `top_sources`: the rows of the n best-scoring sources (OpenThoughts3's top one or two question sources);
- `over_quota`: at most a quota of rows per source;
- `round_robin_draw`: an even draw across the values of a column or clusters (s1's domains).
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping, Sequence


def _mean(values: Sequence[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def group_means(groups: Sequence[Hashable], values: Sequence[float | None]) -> dict:
    """Mean of `values` per group, over the values that are not None (None for a group with none)."""
    members: dict = {}
    for g, v in zip(groups, values, strict=True):
        members.setdefault(g, []).append(v)
    return {g: _mean(vs) for g, vs in members.items()}


def how_many(total: int, share: float | None, count: int | None) -> int:
    """How many of `total` units a share (rounded up, at least one) or a count keeps."""
    if count is not None:
        return min(total, count)
    assert share is not None
    return min(total, max(1, math.ceil(share * total))) if total else 0


def highest(
    alive: Sequence[int],
    values: Sequence[float | None],
    units: Sequence[Hashable],
    unit_values: Mapping,
    share: float | None,
    count: int | None,
) -> set[int]:
    """Reject the alive rows outside the `share`/`count` units with the highest values. A unit is a row
    (`units[i] == i`, valued `values[i]`) or a problem (its rows share a unit, valued `unit_values[unit]`).
    Unknown values rank last."""
    candidates = list(dict.fromkeys(units[i] for i in alive))
    first_row = {}
    for i in alive:
        first_row.setdefault(units[i], i)

    def key(unit: Hashable) -> tuple[float, int]:
        value = unit_values[unit] if unit in unit_values else values[first_row[unit]]
        return (-value if value is not None else math.inf, first_row[unit])

    ranked = sorted(candidates, key=key)
    kept = set(ranked[: how_many(len(ranked), share, count)])
    return {i for i in alive if units[i] not in kept}


def top_sources(alive: Sequence[int], sources: Sequence[Hashable], scores: Mapping, n: int) -> set[int]:
    """Reject the alive rows whose source is not among the `n` highest-scoring sources (a source without a score
    ranks last; ties go to the source name)."""
    present = sorted({sources[i] for i in alive}, key=lambda s: str(s))
    ranked = sorted(present, key=lambda s: (scores.get(s) is None, -(scores.get(s) or 0.0)))
    best = set(ranked[:n])
    return {i for i in alive if sources[i] not in best}


def over_quota(
    alive: Sequence[int], sources: Sequence[Hashable], quota: Mapping, default: int | None
) -> set[int]:
    """Reject the alive rows past their source's quota (`quota[source]`, else `default`; None: no cap), keeping
    each source's first rows in dataset order."""
    taken: dict = {}
    rejected = set()
    for i in alive:
        cap = quota.get(sources[i], default)
        taken[sources[i]] = taken.get(sources[i], 0) + 1
        if cap is not None and taken[sources[i]] > cap:
            rejected.add(i)
    return rejected


def round_robin_draw(alive: Sequence[int], values: Sequence[Hashable], n: int, seed: int) -> set[int]:
    """Draw `n` alive rows evenly across `values`: each value's rows in a seeded shuffle, then one row per value in
    turn (values in sorted order) until `n` are drawn or none are left. Rejects the rows not drawn."""
    rng = random.Random(seed)
    pools: dict = {}
    for i in alive:
        pools.setdefault(values[i], []).append(i)
    queues = []
    for value in sorted(pools, key=lambda v: (v is None, str(v))):
        rows = pools[value]
        rng.shuffle(rows)
        queues.append(rows)
    drawn: set[int] = set()
    depth = 0
    while len(drawn) < n and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q) and len(drawn) < n:
                drawn.add(q[depth])
        depth += 1
    return {i for i in alive if i not in drawn}
