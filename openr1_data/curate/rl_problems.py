"""RL problem sets: one row per problem with its pass rate, kept inside a pass-rate window (open-r1's recipe)."""

from __future__ import annotations

import sys

from datasets import Dataset, Value

from openr1_data.curate.selection import PASS_RATE, SelectionConfig, pass_rates
from openr1_data.funnel import StageResult, split_by_reason
from openr1_data.schema import CORRECT, PROBLEM, TRACE_COLUMNS, VERIFY_ERROR, require_columns

# Per-trace columns a problem row does not carry (generation's, verification's and selection's).
_TRACE_ONLY = {*TRACE_COLUMNS, CORRECT, VERIFY_ERROR, "correct_judge", PASS_RATE}


def select_problems_by_pass_rate(
    traces: Dataset, cfg: SelectionConfig, stage: str = "pass_rate"
) -> StageResult:
    """Verified traces → one row per problem with `pass_rate`, `num_samples` and `num_correct`; problems whose
    pass rate is outside [pass_rate_low, pass_rate_high] or whose number of correct samples is outside
    [pass_count_low, pass_count_high] (or unknown) are rejected with the reason (`SelectionConfig.window_reason`).

    The pass rate is the share of correct samples among those with a verdict (`selection.pass_rates`), over every
    sample: as in open-r1, no format filter runs first.
    """
    group = cfg.group_column if cfg.group_column in traces.column_names else PROBLEM
    require_columns(
        traces.column_names,
        [group, CORRECT],
        what=f"pass-rate stage '{stage}'",
        fix="Pass verified traces (verify_traces adds `correct`).",
    )
    groups = traces[group]
    correct = traces[CORRECT]
    rates = pass_rates(groups, correct)
    first: dict = {}
    samples: dict = {}
    right: dict = {}
    for i, (g, c) in enumerate(zip(groups, correct, strict=True)):
        first.setdefault(g, i)
        samples[g] = samples.get(g, 0) + 1
        right[g] = right.get(g, 0) + int(c is True)
    keep = [c for c in traces.column_names if c not in _TRACE_ONLY]
    # flatten: columns are added next, and they must line up with the selected rows, not the whole table
    problems = traces.select_columns(keep).select(list(first.values())).flatten_indices()
    problems = problems.add_column(PASS_RATE, [rates[g] for g in first], feature=Value("float64"))
    problems = problems.add_column("num_samples", [samples[g] for g in first], feature=Value("int32"))
    problems = problems.add_column("num_correct", [right[g] for g in first], feature=Value("int32"))
    reasons = [cfg.window_reason(rates[g], right[g] if rates[g] is not None else None) for g in first]
    result = split_by_reason(problems, reasons, stage)
    kept_rates = result.kept[PASS_RATE]
    if len(kept_rates) and all(r in (0.0, 1.0) for r in kept_rates):
        print(
            f"warning: every kept problem has pass rate 0 or 1 ({len(kept_rates)} problems): GRPO learns nothing "
            "from them (all samples of a prompt score alike, so the advantages are 0). Set --pass_rate_low above 0 "
            "and --pass_rate_high below 1, or sample with a stronger policy.",
            file=sys.stderr,
        )
    return result
