"""The `preference` config: pairs of traces of the same problem in TRL's conversational preference layout (DPO).

One row per pair: `prompt` (the user turn: the problem), `chosen` and `rejected` (one assistant message each, in
the SFT config's `<think>\\n{reasoning}\\n</think>\\n\\n{final}` shape), plus `problem_id`, `pair_rule`, the two
trace ids and their lengths. Two rules, chosen with `--preference_pairs`:

- `correct_vs_incorrect` (SYNTHETIC-1): a kept trace verified correct against a trace of the same problem
  verified wrong (`correct == False`; an unknown verdict never makes a pair). A problem gives
  min(#kept correct, #incorrect) pairs, each trace used once, in trace order (style, teacher, sample).
- `short_vs_long` (Sky-T1-Flash, against overthinking): the shortest kept correct trace of a problem against the
  longest correct trace of that problem (completion tokens; ties broken by trace order): one pair per problem
  whose longest correct trace is strictly longer.

The chosen side is always a kept trace (it passed every curation stage); the rejected side may be any verified
trace of the problem, filtered out or not (a wrong or an overlong trace is what the rule asks to prefer less).

Both sides of a pair are well-formed (a closed think block and a final part) so a pair differs in what the rule
says, not in format. RLT rows (their answer was given, not verified) never make pairs. The pairing looks only at
ids, verdicts and lengths; the texts of the paired traces are read last, in Arrow, so a large run stays cheap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc  # kernels are made at import time: pyright sees none of them
from datasets import Dataset, Features, Value
from datasets.table import InMemoryTable

from openr1_data.publish.export import MESSAGE_FEATURE, assistant_content
from openr1_data.schema import (
    ANSWER,
    PROBLEM,
    PROBLEM_ID,
    SOURCE,
    ContractError,
    arrow_table,
    require_columns,
)

PREFERENCE_CONFIG = "preference"
PAIR_RULE = "pair_rule"
CORRECT_VS_INCORRECT, SHORT_VS_LONG, NO_PAIRS = "correct_vs_incorrect", "short_vs_long", "none"
PAIR_RULES = {
    CORRECT_VS_INCORRECT: "a kept trace verified correct (chosen) against a trace of the same problem verified "
    "incorrect (rejected), as in SYNTHETIC-1; each trace is used once",
    SHORT_VS_LONG: "the shortest kept correct trace of a problem (chosen) against its longest correct trace "
    "(rejected), in completion tokens, as in Sky-T1-Flash (against overthinking)",
}
PAIR_NEEDS = (PROBLEM, PROBLEM_ID, "trace_id", "reasoning", "final", "completion_tokens", "correct")
# How traces of a problem are ordered (the all_traces config's order), then the id for a total order.
TRACE_ORDER = ("prompt_style", "teacher", "sample_index", "trace_id")
PREFERENCE_FEATURES = Features(
    {
        "prompt": MESSAGE_FEATURE,
        "chosen": MESSAGE_FEATURE,
        "rejected": MESSAGE_FEATURE,
        PROBLEM: Value("string"),
        ANSWER: Value("string"),
        SOURCE: Value("string"),
        PROBLEM_ID: Value("string"),
        PAIR_RULE: Value("string"),
        "chosen_trace_id": Value("string"),
        "rejected_trace_id": Value("string"),
        "chosen_tokens": Value("int64"),
        "rejected_tokens": Value("int64"),
    }
)
TRL_COLUMNS = ("prompt", "chosen", "rejected")


def check_pair_rule(rule: str) -> str:
    """`rule` when it is a known pair rule or `none`; else a one-line error listing them."""
    if rule != NO_PAIRS and rule not in PAIR_RULES:
        raise ValueError(
            f"preference_pairs must be one of {[*PAIR_RULES, NO_PAIRS]}, got {rule!r}: "
            f"{CORRECT_VS_INCORRECT} pairs right and wrong answers, {SHORT_VS_LONG} short and long right ones"
        )
    return rule


def preference_description(rule: str, pairs: int) -> str:
    """The card's one-line description of the config: what a row is and the rule that made the pairs."""
    return (
        f"{pairs:,} preference pairs for DPO in TRL's conversational layout (`prompt`, `chosen`, `rejected`), "
        f"rule `{rule}`: {PAIR_RULES[rule]}. Pairs never cross problems."
    )


def _candidates(ds: Dataset, want: Callable[[Any], bool]) -> list[dict[str, Any]]:
    """Well-formed rows (a closed think block: non-empty `reasoning`, and a `final`) whose `correct` verdict
    `want`s, as small dicts of ids, verdict, length and order (no text)."""
    require_columns(
        ds.column_names,
        PAIR_NEEDS,
        what="publish: preference pairs",
        fix="Pass verified traces (`openr1-data verify` adds `correct`), as generation and curation wrote them.",
    )
    from openr1_data.verdicts import parser_kind

    meta = (PROBLEM_ID, "trace_id", "correct", "completion_tokens", *TRACE_ORDER)
    present = [c for c in dict.fromkeys(meta) if c in ds.column_names]
    table = arrow_table(ds.select_columns([*present, "reasoning", "final"]))
    reasoning_ok = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(table["reasoning"])), 0)  # pyright: ignore[reportAttributeAccessIssue]
    well_formed = pc.and_kleene(pc.fill_null(reasoning_ok, False), pc.is_valid(table["final"]))  # pyright: ignore[reportAttributeAccessIssue]
    table = table.select(present).filter(well_formed)
    rows = []
    for row in table.to_pylist():
        if not want(row["correct"]) or row.get("trace_id") is None:
            continue
        if parser_kind(row.get("prompt_style") or "r1") == "rlt":
            continue  # the answer was given to the teacher: correct by construction, not verified
        rows.append(row)
    return rows


def _order_key(row: dict[str, Any]) -> tuple:
    return tuple("" if row.get(c) is None else str(row[c]).zfill(12) for c in TRACE_ORDER)


def _by_problem(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row[PROBLEM_ID]].append(row)
    return {pid: sorted(group, key=_order_key) for pid, group in grouped.items()}


def pair_traces(kept: Dataset, all_traces: Dataset | None, rule: str) -> list[tuple[str, str]]:
    """(chosen trace id, rejected trace id) pairs by `rule`, problems in sorted id order.

    The chosen side is always a kept trace (it passed every curation stage); the rejected side comes from every
    verified trace of the problem (`all_traces`; the kept rows when it is not given).
    """
    check_pair_rule(rule)
    if rule == NO_PAIRS:
        return []
    if rule == CORRECT_VS_INCORRECT and all_traces is None:
        raise ContractError(
            "publish: --preference_pairs correct_vs_incorrect needs every verified trace (the all_traces config: "
            "the verify folder of the run, found from the input's lineage or given with --all_traces)"
        )
    pool = all_traces if all_traces is not None else kept
    chosen = _by_problem(_candidates(kept, lambda c: c is True))
    pairs: list[tuple[str, str]] = []
    if rule == CORRECT_VS_INCORRECT:
        wrong = _by_problem(_candidates(pool, lambda c: c is False))
        for pid in sorted(chosen):
            pairs += [
                (c["trace_id"], w["trace_id"]) for c, w in zip(chosen[pid], wrong.get(pid, []), strict=False)
            ]  # the shorter list ends it
        return pairs
    right = _by_problem(_candidates(pool, lambda c: c is True))
    for pid in sorted(chosen):
        # sorted() is stable: equal lengths keep trace order, so ties resolve the same way every time
        shortest = sorted(chosen[pid], key=_tokens)[0]
        longest = sorted(right.get(pid, []), key=_tokens)[-1:] or [shortest]
        if _tokens(longest[-1]) > _tokens(shortest):
            pairs.append((shortest["trace_id"], longest[-1]["trace_id"]))
    return pairs


def _tokens(row: dict[str, Any]) -> int:
    return int(row["completion_tokens"] or 0)


def _texts(ds: Dataset, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The rows of `ds` whose trace id is in `ids`, keyed by trace id (only these rows' text enters Python)."""
    columns = (PROBLEM, ANSWER, SOURCE, PROBLEM_ID, "trace_id", "reasoning", "final", "completion_tokens")
    table = arrow_table(ds.select_columns([c for c in columns if c in ds.column_names]))
    table = table.filter(pc.is_in(table["trace_id"], value_set=pa.array(sorted(ids), pa.string())))  # pyright: ignore[reportAttributeAccessIssue]
    return {row["trace_id"]: row for row in table.to_pylist()}


def to_preference(kept: Dataset, all_traces: Dataset | None, rule: str) -> Dataset:
    """The `preference` config: one row per pair made by `rule` (see the module docstring)."""
    pairs = pair_traces(kept, all_traces, rule)
    ids = {tid for pair in pairs for tid in pair}
    rows_by_id = _texts(kept, ids)
    if all_traces is not None and len(rows_by_id) < len(ids):
        rows_by_id = {**_texts(all_traces, ids - set(rows_by_id)), **rows_by_id}
    rows = []
    for chosen_id, rejected_id in pairs:
        chosen, rejected = rows_by_id[chosen_id], rows_by_id[rejected_id]
        rows.append(
            {
                "prompt": [{"role": "user", "content": chosen[PROBLEM]}],
                "chosen": [
                    {"role": "assistant", "content": assistant_content(chosen["reasoning"], chosen["final"])}
                ],
                "rejected": [
                    {
                        "role": "assistant",
                        "content": assistant_content(rejected["reasoning"], rejected["final"]),
                    }
                ],
                PROBLEM: chosen[PROBLEM],
                ANSWER: chosen.get(ANSWER),
                SOURCE: chosen.get(SOURCE),
                PROBLEM_ID: chosen[PROBLEM_ID],
                PAIR_RULE: rule,
                "chosen_trace_id": chosen_id,
                "rejected_trace_id": rejected_id,
                "chosen_tokens": chosen["completion_tokens"],
                "rejected_tokens": rejected["completion_tokens"],
            }
        )
    table = pa.Table.from_pylist(rows, schema=PREFERENCE_FEATURES.arrow_schema)
    return Dataset(InMemoryTable(table))
