"""The funnel: what every stage took in, kept and rejected (by reason), and the side output of rejected rows.

A stage never drops a row silently. Every stage function returns one shape, a `StageResult`: the kept rows, the
rejected rows (with `rejected_stage` and `rejected_reason` columns), the counts, and the stage's own report (what
it measured: its `<stage>_report.json`). Filtering stages call `split_by_reason` with one reason per row (None =
keep); stages that only add columns (verify, judge, label_steps, summarize) pass every row's reason as None.
The pipeline records each result in a `Funnel`, which is saved as JSON and rendered into the dataset card.

The funnel also holds what each step cost (`StepCost`: wall time, CPU seconds, GPU seconds, tokens in and out),
measured by a `CostMeter` from one step's end to the next: a CLI command (which may run several stages, e.g.
`filter+select`) or a pipeline's `record`. The card turns them into money with the prices a user gives.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from datasets import Dataset, Value

from openr1_data.schema import REJECT_REASON, REJECT_STAGE


@dataclass
class StageStats:
    """Counts of one stage: rows in, rows out, rejections by reason (in == out + sum(rejected))."""

    stage: str
    rows_in: int
    rows_out: int
    rejected: dict[str, int] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    def check(self) -> None:
        """Fail loudly if rows went missing: every row is either kept or rejected with a reason."""
        if self.rows_in != self.rows_out + self.rows_rejected:
            raise AssertionError(
                f"stage {self.stage!r} lost rows: in={self.rows_in} out={self.rows_out} "
                f"rejected={self.rows_rejected}"
            )


ReportT = TypeVar("ReportT")


@dataclass
class StageResult(Generic[ReportT]):
    """What every stage returns: the kept rows, the rejected rows (with reasons), the counts and the stage's report
    (`StageResult[DedupReport]`, ...; None for a stage with nothing to report beyond its counts)."""

    kept: Dataset
    rejected: Dataset
    stats: StageStats
    report: ReportT = None  # type: ignore[assignment]  (None only where the stage has no report type)


def _take(dataset: Dataset, rows: list[int]) -> Dataset:
    if rows:
        return dataset.select(rows)
    # `datasets` cannot add a column to an empty selection of a table that had columns added: a fresh empty one
    return Dataset.from_dict({c: [] for c in dataset.column_names}, features=dataset.features)


def split_by_reason(
    dataset: Dataset, reasons: Sequence[str | None], stage: str, report: ReportT = None
) -> StageResult[ReportT]:
    """Split `dataset` by a per-row rejection reason (None keeps the row) into a `StageResult` with `report`."""
    if len(reasons) != len(dataset):
        raise ValueError(f"stage {stage!r}: {len(reasons)} reasons for {len(dataset)} rows")
    keep = [i for i, r in enumerate(reasons) if r is None]
    drop = [i for i, r in enumerate(reasons) if r is not None]
    kept = _take(dataset, keep)
    rejected = _take(dataset, drop)
    # Typed explicitly: with no rejections the columns would otherwise be null-typed and not concatenate.
    rejected = rejected.add_column(REJECT_STAGE, [stage] * len(drop), feature=Value("string"))
    rejected = rejected.add_column(REJECT_REASON, [reasons[i] for i in drop], feature=Value("string"))
    stats = StageStats(stage, len(dataset), len(kept), dict(Counter(r for r in reasons if r is not None)))
    stats.check()
    return StageResult(kept, rejected, stats, report)


def keep_every_row(dataset: Dataset, stage: str, report: ReportT = None) -> StageResult[ReportT]:
    """The result of a stage that adds columns and rejects nothing: `dataset` itself kept, an empty `rejected`."""
    rejected = split_by_reason(_take(dataset, []), [], stage).rejected
    return StageResult(dataset, rejected, StageStats(stage, len(dataset), len(dataset)), report)


@dataclass
class StepCost:
    """What one step of a chain spent: wall seconds, CPU seconds (this process and the children it waited for:
    sandboxes, verify workers), GPU seconds (wall time x the GPUs the process held; None without a GPU), and the
    teacher's tokens in (prompts) and out (completions; a hosted teacher's own usage counts), None where the step
    made no model calls."""

    step: str
    wall_s: float
    cpu_s: float
    gpu_s: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _gpus_held() -> int:
    """GPUs this process can use, without importing torch when the step never did (no GPU work then)."""
    torch = sys.modules.get("torch")
    try:
        return torch.cuda.device_count() if torch is not None and torch.cuda.is_available() else 0
    except Exception:  # a broken CUDA setup: report no GPU time rather than fail the stage
        return 0


class CostMeter:
    """Measures steps one after another: `lap(step)` closes the interval since the last lap (or the start)."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = _cpu_seconds()

    def lap(self, step: str, tokens_in: int | None = None, tokens_out: int | None = None) -> StepCost:
        wall, cpu = time.perf_counter(), _cpu_seconds()
        gpus = _gpus_held()
        cost = StepCost(
            step,
            round(wall - self._wall, 3),
            round(cpu - self._cpu, 3),
            round((wall - self._wall) * gpus, 3) if gpus else None,
            tokens_in,
            tokens_out,
        )
        self._wall, self._cpu = wall, cpu
        return cost


def report_tokens(report: object) -> tuple[int | None, int | None]:
    """(tokens in, tokens out) of a stage's report when the stage called a model (its report has
    `prompt_tokens` / `completion_tokens`, as generation's summary does), else (None, None)."""
    tokens_in, tokens_out = getattr(report, "prompt_tokens", None), getattr(report, "completion_tokens", None)
    return (tokens_in, tokens_out) if isinstance(tokens_out, int) else (None, None)


@dataclass
class Funnel:
    """The ordered list of stage counts of one pipeline run, and what each step cost."""

    stages: list[StageStats] = field(default_factory=list)
    costs: list[StepCost] = field(default_factory=list)

    def add(self, stats: StageStats) -> None:
        stats.check()
        # A resumed pipeline re-runs cheap stages: the newest counts of a stage replace the old ones.
        self.stages = [s for s in self.stages if s.stage != stats.stage] + [stats]

    def add_cost(self, cost: StepCost) -> None:
        """Record a step's cost; a rerun of the same step replaces its earlier cost (as `add` does counts)."""
        self.costs = [c for c in self.costs if c.step != cost.step] + [cost]

    def to_dict(self) -> dict:
        return {"stages": [asdict(s) for s in self.stages], "costs": [asdict(c) for c in self.costs]}

    @classmethod
    def from_dict(cls, data: dict) -> Funnel:
        return cls(
            [StageStats(**s) for s in data.get("stages", [])], [StepCost(**c) for c in data.get("costs", [])]
        )

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> Funnel:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def table(self) -> str:
        """A plain-text table: stage, in, out, rejected, top reasons."""
        lines = [f"{'stage':<22}{'in':>8}{'out':>8}{'rejected':>10}  reasons"]
        for s in self.stages:
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(s.rejected.items(), key=lambda kv: -kv[1]))
            lines.append(f"{s.stage:<22}{s.rows_in:>8}{s.rows_out:>8}{s.rows_rejected:>10}  {reasons}")
        return "\n".join(lines)


@dataclass
class PipelineRecord:
    """What a pipeline run keeps as it goes: the funnel and the side outputs of every stage.

    `record(result)` adds the stage's counts to the funnel, keeps its rejected rows, and returns the kept rows, so a
    pipeline reads as a chain: `traces = run.record(filter_traces(traces, cfg))`.
    """

    funnel: Funnel = field(default_factory=Funnel)
    rejected: list[Dataset] = field(default_factory=list)
    meter: CostMeter = field(default_factory=CostMeter, repr=False)

    def record(self, result: StageResult) -> Dataset:
        """Add the stage's counts, keep its rejected rows, charge it the time since the last step; the kept rows."""
        self.funnel.add(result.stats)
        self.charge(result.stats.stage, *report_tokens(result.report))
        if len(result.rejected):
            self.rejected.append(result.rejected)
        return result.kept

    def charge(self, step: str, tokens_in: int | None = None, tokens_out: int | None = None) -> None:
        """Charge `step` the time since the last step: for a step the funnel has no counts of (verify)."""
        self.funnel.add_cost(self.meter.lap(step, tokens_in, tokens_out))
