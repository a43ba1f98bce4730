"""The `prm` config: step-labelled traces in TRL's stepwise-supervision layout, for training a process reward model.

One row per labelled trace: `prompt` (the problem), `completions` (its reasoning steps) and `labels` (one bool per
step, True = correct), plus `problem_id`, `trace_id`, `first_error_step` and `label_source` (which labeler wrote the
labels; the card shows it). As in PRM800K and "Let's Verify Step by Step", a trace stops at its first wrong step:
what follows a mistake has no well-defined label. A trace also stops before its first unlabelled step (rollouts
skipped after an error or beyond the budget), and a trace without any labelled step is left out.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from datasets import Dataset, Features, List, Value

from openr1_data.schema import PROBLEM, PROBLEM_ID, iter_rows, require_columns

PRM_CONFIG = "prm"
PRM_NEEDS = (PROBLEM, PROBLEM_ID, "trace_id", "steps", "step_labels")
LABEL_SOURCE = "label_source"
PRM_FEATURES = Features(
    {
        "prompt": Value("string"),
        "completions": List(Value("string")),
        "labels": List(Value("bool")),
        PROBLEM_ID: Value("string"),
        "trace_id": Value("string"),
        "first_error_step": Value("int32"),
        LABEL_SOURCE: Value("string"),
    }
)


def has_step_labels(dataset: Dataset | None) -> bool:
    """True when `dataset` carries the columns a step labeler writes (`openr1-data label-steps`)."""
    return dataset is not None and {"steps", "step_labels"} <= set(dataset.column_names)


def labelled_prefix(steps: list[str], labels: list[Any]) -> tuple[list[str], list[bool]]:
    """The steps up to and including the first wrong one, cut before the first unlabelled one."""
    kept_steps: list[str] = []
    kept_labels: list[bool] = []
    for step, label in zip(steps, labels, strict=False):
        if label is None:
            break
        kept_steps.append(step)
        kept_labels.append(bool(label))
        if label is False:
            break
    return kept_steps, kept_labels


def to_prm(traces: Dataset) -> Dataset:
    """The `prm` config rows of step-labelled traces (TRL's stepwise supervision: prompt, completions, labels)."""
    require_columns(
        traces.column_names,
        PRM_NEEDS,
        what="publish: the prm config",
        fix="Label the traces' steps first (openr1-data label-steps) and publish those rows.",
    )
    rows = []
    source = (
        traces["step_label_source"] if "step_label_source" in traces.column_names else [None] * len(traces)
    )
    columns = traces.select_columns(list(PRM_NEEDS))
    for i, row in enumerate(iter_rows(columns)):
        labels = [None if s is None else s.get("label") for s in row["step_labels"] or []]
        steps, kept = labelled_prefix(list(row["steps"] or []), labels)
        if not steps:
            continue
        rows.append(
            {
                "prompt": row[PROBLEM],
                "completions": steps,
                "labels": kept,
                PROBLEM_ID: row[PROBLEM_ID],
                "trace_id": row["trace_id"],
                "first_error_step": len(kept) if kept[-1] is False else None,
                LABEL_SOURCE: source[i],
            }
        )
    return (
        Dataset.from_list(rows, features=PRM_FEATURES)
        if rows
        else Dataset.from_dict({}, features=PRM_FEATURES)
    )


def prm_description(prm: Dataset) -> str:
    """The card's description of the prm config: the layout, the label counts and where the labels come from."""
    labels = [lab for row in prm["labels"] for lab in row] if len(prm) else []
    sources = Counter(s for s in prm[LABEL_SOURCE] if s) if len(prm) else Counter()
    origin = "; ".join(f"{s} ({n} traces)" for s, n in sources.most_common()) or "unknown"
    return (
        "step-labelled traces in TRL's stepwise-supervision layout (`prompt`, `completions` = the reasoning steps, "
        f"`labels` = one bool per step, True = correct), to train a process reward model (`train/prm.py`). "
        f"{len(labels):,} steps, {labels.count(False):,} labelled wrong; each trace stops at its first wrong step. "
        f"Label source: {origin}."
    )
