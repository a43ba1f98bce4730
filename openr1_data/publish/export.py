"""Export formats: the long table of traces becomes the configs users load.

- `sft` (the default config): one row per kept trace with an SFT-ready `messages` column
  (user: the problem; assistant: `<think>\\n{reasoning}\\n</think>\\n\\n{final}`), plus the problem columns,
  `num_tokens` and the curation verdicts.
- `all_traces`: one row per problem, like OpenR1-Math-220k: `generations[]`, `correctness[]`, `finish_reasons[]`,
  ... over every trace generated for it, and the `messages` of the selected (first kept) trace.
- `rejected`: every rejected row with `rejected_stage` and `rejected_reason`.

`split_by_problem` makes the train/test split on problems (never on traces), so the traces of one problem never
land on both sides, and the configs share one partition.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence

import pyarrow as pa
import pyarrow.compute as pc  # kernels are made at import time: pyright sees none of them
from datasets import Dataset, Features, List, Value
from datasets.table import InMemoryTable

from openr1_data.schema import (
    ANSWER,
    PROBLEM,
    PROBLEM_ID,
    REJECT_REASON,
    REJECT_STAGE,
    SOLUTION,
    SOURCE,
    ContractError,
    arrow_column,
    arrow_table,
    require_columns,
)

SFT_CONFIG, ALL_TRACES_CONFIG, REJECTED_CONFIG = "sft", "all_traces", "rejected"
PROBLEMS_CONFIG = "problems"  # a problems-only dataset (GRPO prompt set): one row per problem, no trace
MESSAGE_FEATURE = List({"content": Value("string"), "role": Value("string")})

# What the SFT config needs from the kept traces, and the optional curation columns it carries along.
SFT_NEEDS = (PROBLEM, ANSWER, SOURCE, PROBLEM_ID, "trace_id", "reasoning", "final", "completion_tokens")
SFT_CARRY = (SOLUTION, "teacher", "prompt_style", "predicted_answer", "finish_reason", "correct")
SFT_CARRY += ("rlt_reward", "rlt_solution_term", "rlt_kl_term")  # best-of-K RLT selection: why this row won
SFT_CARRY += ("gold_suspect", "majority_answer", "answer_source")  # the gold audit (curate/gold_audit.py)
SFT_CARRY += ("audit_correct", "audit_method")  # the verifier audit (curate/verifier_audit.py)
ALL_NEEDS = (PROBLEM, PROBLEM_ID, "trace_id", "completion", "finish_reason", "completion_tokens")


def assistant_content(reasoning: str, final: str) -> str:
    """The assistant turn a student is trained on: the think block, then the final answer."""
    return f"<think>\n{reasoning.strip()}\n</think>\n\n{final.strip()}"


def sft_messages(problem: str, reasoning: str, final: str) -> list[dict[str, str]]:
    """User problem + assistant think block and answer (for RLT rows: explanation + reference solution)."""
    return [
        {"role": "user", "content": problem},
        {"role": "assistant", "content": assistant_content(reasoning, final)},
    ]


def to_sft(kept: Dataset) -> Dataset:
    """One row per kept trace with `messages` and `num_tokens` (the teacher's completion token count).

    Built with a batched `map`, so a large memory-mapped dataset streams through in batches. Rows that already are
    SFT rows (`messages` and no `reasoning`: a published `sft` config, e.g. the sources of a mixture) stay as they are.
    """
    if "messages" in kept.column_names and "reasoning" not in kept.column_names:
        return kept
    require_columns(
        kept.column_names,
        SFT_NEEDS,
        what="publish: kept traces",
        fix="Pass the traces that came out of generation and curation (they carry these columns).",
    )
    carry = [c for c in SFT_CARRY if c in kept.column_names]
    keep = [PROBLEM, ANSWER, SOURCE, PROBLEM_ID, "trace_id", *carry]
    base = kept.select_columns([*keep, "reasoning", "final", "completion_tokens"])
    features = Features(
        {"messages": MESSAGE_FEATURE, **{c: base.features[c] for c in keep}, "num_tokens": Value("int64")}
    )
    if "correct" in features:
        features["correct"] = Value("bool")  # an all-None column arrives typed null

    def build(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        messages = []
        rows = zip(
            indices, batch[PROBLEM], batch["reasoning"], batch["final"], batch["trace_id"], strict=True
        )
        for i, problem, reasoning, final, trace_id in rows:
            empty = "reasoning" if not isinstance(reasoning, str) or not reasoning.strip() else None
            empty = empty or ("final" if not isinstance(final, str) else None)
            if empty:
                raise ContractError(
                    f"publish: kept row {i} (trace_id {trace_id}) has an empty `{empty}` column, so it cannot "
                    "become an SFT example. Run the format filter before publishing (it rejects traces without "
                    "a closed think block)."
                )
            messages.append(sft_messages(problem, reasoning, final))
        return {"messages": messages, **{c: batch[c] for c in keep}, "num_tokens": batch["completion_tokens"]}

    return base.map(
        build,
        batched=True,
        with_indices=True,
        remove_columns=base.column_names,
        features=features,
        desc="publish: SFT messages",
    )


def to_problems(kept: Dataset) -> Dataset:
    """The `problems` config: one row per problem with its gold answer (per-trace columns are not allowed)."""
    require_columns(
        kept.column_names,
        (PROBLEM, ANSWER, PROBLEM_ID),
        what="publish: problems",
        fix="Pass one row per problem with `problem`, `answer` and `problem_id` (e.g. from the pass-rate stage).",
    )
    ids = arrow_column(kept, PROBLEM_ID)
    if len(ids.unique()) != len(ids):
        counts = ids.value_counts().to_pylist()
        repeated = next(c["values"] for c in counts if c["counts"] > 1)
        raise ContractError(
            f"publish: a problems-only dataset has one row per problem, but problem_id {repeated!r} appears more "
            "than once. Aggregate the traces per problem first (pipeline.select_problems_by_pass_rate)."
        )
    return kept


# Optional trace columns of the all-traces config, with their type when a dataset lacks them (filled with nulls).
ALL_OPTIONAL = {
    SOLUTION: pa.string(),
    ANSWER: pa.string(),
    SOURCE: pa.string(),
    "sample_index": pa.int64(),
    "prompt_style": pa.string(),
    "teacher": pa.string(),
    "predicted_answer": pa.string(),
    "correct": pa.bool_(),
}
ALL_TRACES_FEATURES = Features(
    {
        PROBLEM: Value("string"),
        SOLUTION: Value("string"),
        ANSWER: Value("string"),
        SOURCE: Value("string"),
        PROBLEM_ID: Value("string"),
        "generations": List(Value("string")),
        "correctness": List(Value("bool")),
        "finish_reasons": List(Value("string")),
        "completion_tokens": List(Value("int64")),
        "predicted_answers": List(Value("string")),
        "prompt_styles": List(Value("string")),
        "trace_ids": List(Value("string")),
        "kept": List(Value("bool")),
        "messages": MESSAGE_FEATURE,
    }
)


def _fingerprint(kind: str, *inputs: Dataset | None) -> str:
    """A fingerprint from the inputs' fingerprints (else `datasets` hashes the whole new table to make one)."""
    parts = [kind, *(getattr(ds, "_fingerprint", None) or "" for ds in inputs)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def _arrow_columns(ds: Dataset, columns: Sequence[str]) -> pa.Table:
    """The given columns as one Arrow table (honouring a `select` indices mapping).

    Optional columns the dataset lacks are added as nulls; optional columns it has are cast to one type (an
    all-None `correct` column arrives typed null).
    """
    present = [c for c in columns if c in ds.column_names]
    table = arrow_table(ds.select_columns(present))
    types = {**ALL_OPTIONAL, "completion_tokens": pa.int64()}
    for name, dtype in types.items():
        if name not in columns:
            continue
        if name in present:
            table = table.set_column(table.schema.get_field_index(name), name, table[name].cast(dtype))
        else:
            table = table.append_column(name, pa.nulls(len(table), dtype))
    return table


def to_all_traces(traces: Dataset, kept: Dataset | None = None) -> Dataset:
    """One row per problem over every generated trace, OpenR1-Math-220k style.

    Lists are aligned: `generations[i]`, `correctness[i]` (None when unknown or not verified),
    `finish_reasons[i]`, `completion_tokens[i]`, `predicted_answers[i]`, `prompt_styles[i]`, `trace_ids[i]`,
    `kept[i]` (the trace is in the SFT config). `messages` is the first kept trace of the problem (empty when none).
    Problems keep their order of first appearance; a problem's traces are ordered by (style, teacher, sample).
    The grouping runs in Arrow (sort + ordered `group_by`), so completions never become Python objects.
    """
    require_columns(
        traces.column_names,
        ALL_NEEDS,
        what="publish: all traces",
        fix="Pass every generated trace (before filtering), as generation wrote them.",
    )
    table = _arrow_columns(traces, [*ALL_NEEDS, *ALL_OPTIONAL])
    first_seen: dict[str, int] = {}
    order = [first_seen.setdefault(pid, len(first_seen)) for pid in table[PROBLEM_ID].to_pylist()]
    kept_ids = pa.array([], pa.string())
    if kept is not None and len(kept) > 0:
        kept_ids = arrow_column(kept, "trace_id").unique()
    table = table.append_column("_problem", pa.array(order, pa.int64()))
    table = table.append_column("_kept", pc.is_in(table["trace_id"], value_set=kept_ids))  # pyright: ignore[reportAttributeAccessIssue]
    table = table.sort_by(
        [
            ("_problem", "ascending"),
            ("prompt_style", "ascending"),
            ("teacher", "ascending"),
            ("sample_index", "ascending"),
        ]
    )
    firsts = (PROBLEM, SOLUTION, ANSWER, SOURCE, PROBLEM_ID)
    lists = {
        "generations": "completion",
        "correctness": "correct",
        "finish_reasons": "finish_reason",
        "completion_tokens": "completion_tokens",
        "predicted_answers": "predicted_answer",
        "prompt_styles": "prompt_style",
        "trace_ids": "trace_id",
        "kept": "_kept",
    }
    # use_threads=False: ordered aggregation, so "first" and the lists follow the sort above.
    grouped = (
        table.group_by("_problem", use_threads=False)
        .aggregate([(c, "first") for c in firsts] + [(c, "list") for c in lists.values()])
        .sort_by("_problem")
    )
    # The selected trace of a problem: its first kept trace; only those rows' text comes into Python.
    chosen = (
        table.filter(table["_kept"])
        .group_by("_problem", use_threads=False)
        .aggregate([("trace_id", "first")])
    )
    selected = dict(zip(chosen["_problem"].to_pylist(), chosen["trace_id_first"].to_pylist(), strict=True))
    texts: dict[str, tuple[str, str]] = {}
    if selected and kept is not None:  # a selected trace implies kept rows
        kept_table = _arrow_columns(kept, ["trace_id", "reasoning", "final"])
        kept_table = kept_table.filter(
            pc.is_in(kept_table["trace_id"], value_set=pa.array(list(selected.values())))  # pyright: ignore[reportAttributeAccessIssue]
        )
        for tid, reasoning, final in zip(
            *(kept_table[c].to_pylist() for c in ("trace_id", "reasoning", "final")), strict=True
        ):
            if isinstance(reasoning, str) and reasoning.strip() and isinstance(final, str):
                texts[tid] = (reasoning, final)
    messages = []
    for key, problem in zip(
        grouped["_problem"].to_pylist(), grouped[f"{PROBLEM}_first"].to_pylist(), strict=True
    ):
        tid = selected.get(key)
        messages.append(sft_messages(problem, *texts[tid]) if tid in texts else [])
    columns = {c: grouped[f"{c}_first"] for c in firsts}
    columns.update({name: grouped[f"{source}_list"] for name, source in lists.items()})
    columns["messages"] = pa.array(messages, type=ALL_TRACES_FEATURES.arrow_schema.field("messages").type)
    out = pa.table(columns).cast(ALL_TRACES_FEATURES.arrow_schema)
    return Dataset(InMemoryTable(out), fingerprint=_fingerprint("all_traces", traces, kept))


def to_rejected(rejected: Dataset | Sequence[Dataset]) -> Dataset:
    """All rejected rows in one table; side outputs of different stages may carry different columns.

    Missing columns are filled with nulls and null-typed columns are promoted (Arrow "permissive" concat), so
    the rejections of generation, verification and filtering stack up in one config.
    """
    parts = [rejected] if isinstance(rejected, Dataset) else list(rejected)
    for i, part in enumerate(parts):
        require_columns(
            part.column_names,
            (REJECT_STAGE, REJECT_REASON),
            what=f"publish: rejected rows (part {i})",
            fix="Pass the `rejected` side outputs of `openr1_data.funnel.split_by_reason` (StageResult.rejected).",
        )
    parts = [p for p in parts if len(p)]
    if not parts:
        return Dataset.from_dict({REJECT_STAGE: [], REJECT_REASON: []})
    # `with_format("arrow")[:]` honours a `select` indices mapping (side outputs are selections).
    tables = [arrow_table(p).replace_schema_metadata(None) for p in parts]
    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise ContractError(
            f"publish: the rejected side outputs have conflicting column types ({err}). Cast the column to one "
            "type in every stage's side output."
        ) from err
    return Dataset(InMemoryTable(table.combine_chunks()), fingerprint=_fingerprint("rejected", *parts))


def problem_ids(datasets: Iterable[Dataset | None]) -> list[str]:
    """Sorted unique problem ids across datasets (the unit the train/test split works on)."""
    ids: set[str] = set()
    for ds in datasets:
        if ds is not None and PROBLEM_ID in ds.column_names:
            ids.update(arrow_column(ds, PROBLEM_ID).unique().to_pylist())
    return sorted(ids)


def pick_test_problems(ids: Sequence[str], test_size: float | int, seed: int) -> set[str]:
    """Choose the test problems: a fraction (0 < x < 1) or a count (int >= 1) of `ids`, reproducibly by seed."""
    if isinstance(test_size, bool) or not isinstance(test_size, int | float):
        raise ValueError(f"test_size must be a fraction in (0, 1) or a number of problems, got {test_size!r}")
    if isinstance(test_size, float) and not 0 < test_size < 1:
        raise ValueError(
            f"test_size {test_size} must be in (0, 1) as a fraction, or an int number of problems"
        )
    k = round(len(ids) * test_size) if isinstance(test_size, float) else test_size
    if k < 1 or k >= len(ids):
        raise ValueError(
            f"test_size {test_size} gives {k} test problem(s) out of {len(ids)}: both splits need at least one "
            "problem. Use a larger dataset or a different test_size (or no test split)."
        )
    shuffled = list(ids)
    random.Random(seed).shuffle(shuffled)
    return set(shuffled[:k])


def split_by_problem(dataset: Dataset, test_problems: set[str]) -> dict[str, Dataset]:
    """{"train": ..., "test": ...}: rows whose problem is in `test_problems` go to test."""
    test_set = pa.array(sorted(test_problems), pa.string())
    in_test = pc.is_in(arrow_column(dataset, PROBLEM_ID), value_set=test_set)  # pyright: ignore[reportAttributeAccessIssue]
    train_rows = pc.indices_nonzero(pc.invert(in_test))  # pyright: ignore[reportAttributeAccessIssue]
    test_rows = pc.indices_nonzero(in_test)  # pyright: ignore[reportAttributeAccessIssue]
    return {"train": dataset.select(train_rows.to_pylist()), "test": dataset.select(test_rows.to_pylist())}
