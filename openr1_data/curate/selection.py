"""Selection across the samples of one problem, and the pass-rate filter for RL problem sets.

`select_traces(dataset, SelectionConfig(...)) -> StageResult`, on verified traces (`correct` column):

- `keep="correct"`: keep correct traces (wrong or unverifiable ones are rejected with the accuracy judgement's
  reason: "incorrect", "no_answer", "gold_unparseable", ...); `keep="all"`: do not look at correctness.
- `per_problem=k`: then keep at most k traces per problem, the shortest (`prefer="shortest"`) or the first
  samples (`prefer="first"`). `per_problem=None` keeps them all.
- `pass_rate_low` / `pass_rate_high`: keep only problems whose share of correct samples lies in [low, high]
  (open-r1 makes RL sets with 0.2 < pass < 0.8). Every row gets a `pass_rate` column.

Recipes: all correct traces (default); the k shortest correct: `per_problem=k`; one per problem: `per_problem=1`;
an RL problem set: `keep="all", per_problem=1, prefer="first", pass_rate_low=0.2, pass_rate_high=0.8`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from datasets import Dataset, Value

from openr1_data.funnel import StageResult, split_by_reason
from openr1_data.judgements import judge_accuracy
from openr1_data.schema import (
    CORRECT,
    PROBLEM,
    PROBLEM_ID,
    VERIFY_ERROR,
    ContractError,
    arrow_column,
    require_columns,
)

PASS_RATE = "pass_rate"


@dataclass
class SelectionConfig:
    """Which traces of each problem to keep."""

    keep: str = field(
        default="correct", metadata={"help": "'correct': only correct traces; 'all': ignore correctness"}
    )
    per_problem: int | None = field(
        default=None, metadata={"help": "keep at most this many traces per problem (None: all that pass)"}
    )
    prefer: str = field(
        default="shortest",
        metadata={
            "help": "with per_problem: keep the 'shortest' traces (completion tokens) or the 'first' samples"
        },
    )
    pass_rate_low: float | None = field(
        default=None, metadata={"help": "keep problems whose share of correct samples is at least this"}
    )
    pass_rate_high: float | None = field(
        default=None, metadata={"help": "keep problems whose share of correct samples is at most this"}
    )
    group_column: str = field(
        default=PROBLEM_ID, metadata={"help": "column identifying the problem (falls back to 'problem')"}
    )

    def __post_init__(self) -> None:
        if self.keep not in ("correct", "all"):
            raise ValueError(f"keep must be 'correct' or 'all', got {self.keep!r}")
        if self.prefer not in ("shortest", "first"):
            raise ValueError(f"prefer must be 'shortest' or 'first', got {self.prefer!r}")
        if self.per_problem is not None and self.per_problem < 1:
            raise ValueError(f"per_problem must be >= 1 (or None for all), got {self.per_problem}")
        for name in ("pass_rate_low", "pass_rate_high"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if (
            self.pass_rate_low is not None
            and self.pass_rate_high is not None
            and self.pass_rate_low > self.pass_rate_high
        ):
            raise ValueError(
                f"pass_rate_low ({self.pass_rate_low}) is above pass_rate_high ({self.pass_rate_high})"
            )

    @property
    def uses_pass_rate(self) -> bool:
        return self.pass_rate_low is not None or self.pass_rate_high is not None


def pass_rates(groups: list, correct: list[bool | None]) -> dict:
    """Share of correct samples per problem, over the samples with a known verdict (None if there are none)."""
    known: dict = {}
    right: dict = {}
    for g, c in zip(groups, correct, strict=True):
        if c is not None:
            known[g] = known.get(g, 0) + 1
            right[g] = right.get(g, 0) + int(c)
    return {g: (right[g] / known[g] if g in known else None) for g in dict.fromkeys(groups)}


def pass_rate_reason(rate: float | None, low: float | None, high: float | None) -> str | None:
    """Why a problem with this pass rate is outside [low, high], or None."""
    if low is None and high is None:
        return None
    if rate is None:
        return "pass_rate_unknown"
    if low is not None and rate < low:
        return "pass_rate_below_low"
    if high is not None and rate > high:
        return "pass_rate_above_high"
    return None


def _lengths(dataset: Dataset) -> list[int]:
    if "completion_tokens" in dataset.column_names:
        col = arrow_column(dataset, "completion_tokens")
        # A trace without a length must not win "shortest": it sorts last.
        return pc.fill_null(col, 2**31 - 1).to_pylist()
    if "completion" in dataset.column_names:
        col = arrow_column(dataset, "completion")
        lengths = pc.utf8_length(col)  # pyright: ignore[reportAttributeAccessIssue]  # a kernel made at import
        return pc.fill_null(lengths, 0).to_pylist()
    raise ContractError("selection with prefer='shortest' needs 'completion_tokens' or 'completion' columns")


def select_traces(
    dataset: Dataset, config: SelectionConfig | None = None, *, stage: str = "select"
) -> StageResult:
    """Keep the traces `config` asks for; every other trace goes to the side output with its reason."""
    config = config or SelectionConfig()
    group_col = config.group_column if config.group_column in dataset.column_names else PROBLEM
    needs_correct = config.keep == "correct" or config.uses_pass_rate
    require_columns(
        dataset.column_names,
        [group_col] + ([CORRECT] if needs_correct else []),
        what=f"selection stage '{stage}'",
        fix="Run verification first (`openr1-data verify` or verify_traces) so traces have a 'correct' column, "
        f"and make sure the problem column ('{config.group_column}' or '{PROBLEM}') exists.",
    )
    n = len(dataset)
    groups = arrow_column(dataset, group_col).to_pylist()
    has_correct = CORRECT in dataset.column_names
    correct = arrow_column(dataset, CORRECT).to_pylist() if has_correct else None
    errors = (
        arrow_column(dataset, VERIFY_ERROR).to_pylist()
        if VERIFY_ERROR in dataset.column_names
        else [None] * n
    )

    reasons: list[str | None] = [None] * n
    rates = pass_rates(groups, correct) if correct is not None else {}
    if config.uses_pass_rate:
        for i, g in enumerate(groups):
            reasons[i] = pass_rate_reason(rates[g], config.pass_rate_low, config.pass_rate_high)
    if config.keep == "correct" and correct is not None:  # required above when keep == "correct"
        for i in range(n):
            if reasons[i] is None:
                reasons[i] = judge_accuracy(correct[i], errors[i]).reason  # the accuracy reward's verdict

    if config.per_problem is not None:
        if config.prefer == "shortest":
            keys = _lengths(dataset)
        elif "sample_index" in dataset.column_names:
            keys = arrow_column(dataset, "sample_index").to_pylist()
        else:
            keys = list(range(n))
        candidates: dict = {}
        for i in range(n):
            if reasons[i] is None:
                candidates.setdefault(groups[i], []).append(i)
        for rows in candidates.values():
            rows.sort(key=lambda i: (keys[i] if keys[i] is not None else 0, i))
            for i in rows[config.per_problem :]:
                reasons[i] = f"not_among_{config.per_problem}_{config.prefer}"

    if correct is not None:
        dataset = dataset.remove_columns([PASS_RATE]) if PASS_RATE in dataset.column_names else dataset
        column = pa.array([rates[g] for g in groups], type=pa.float64())
        dataset = dataset.add_column(PASS_RATE, column, feature=Value("float64"))
    return split_by_reason(dataset, reasons, stage)
