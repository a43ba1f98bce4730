"""The plan of a generation run: which traces to write, the seed of each, and the row each one becomes.

A trace is one (problem, prompt style, sample index). Its `trace_id` is a stable hash of those and the teacher, and
its seed is a hash of the trace id and the run's base seed, so a trace's text depends on nothing else: not on the
batch or the server it was generated on, the other requests in flight, or where an earlier run was interrupted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from datasets import Dataset

from openr1_data.prompts import PromptStyle
from openr1_data.schema import PROBLEM_ID, Prompt, make_trace_id
from openr1_data.teachers.base import Completion

_SEED_MODULO = 2**31 - 1  # every backend takes a signed 32-bit seed


@dataclass
class Unit:
    """One problem rendered in one style: the prompt the teacher sees and the trace ids of its samples."""

    row: dict
    style: PromptStyle
    trace_ids: list[str]
    _prompt: Prompt | None = field(default=None, repr=False)

    @property
    def prompt(self) -> Prompt:
        """The chat prompt, rendered on first use (so a large plan starts streaming at once)."""
        if self._prompt is None:
            self._prompt = self.style.build(self.row)
        return self._prompt


@dataclass
class Trace:
    """One trace of the plan: its unit and sample index."""

    unit: Unit
    sample_index: int

    @property
    def trace_id(self) -> str:
        return self.unit.trace_ids[self.sample_index]


def plan_units(
    problems: Dataset, styles: list[PromptStyle], teacher_name: str, n: int
) -> tuple[list[Unit], list]:
    """Units in a fixed order (style-major, then problem order) plus per-row rejection reasons for the funnel."""
    units: list[Unit] = []
    reasons: list[str | None] = []
    rows: list[dict] = problems.to_list()
    for style in styles:
        seen: set[str] = set()
        for row in rows:
            # Two rows with one problem_id would share trace ids: the second is a duplicate, not a new problem.
            problem = "duplicate_problem_id" if row[PROBLEM_ID] in seen else style.row_problem(row)
            seen.add(row[PROBLEM_ID])
            reasons.append(f"{style.name}:{problem}" if problem else None)
            if problem:
                continue
            ids = [make_trace_id(row[PROBLEM_ID], style.name, teacher_name, k) for k in range(n)]
            units.append(Unit(row, style, ids))
    return units, reasons


def pending_traces(units: list[Unit], done: set[str]) -> list[Trace]:
    """The traces of the plan not yet written, in plan order."""
    return [Trace(u, k) for u in units for k, tid in enumerate(u.trace_ids) if tid not in done]


def trace_seed(base_seed: int, trace_id: str, step: str = "") -> int:
    """The seed of one request of one trace (`step` names follow-up requests such as the forced answer)."""
    digest = hashlib.sha256(f"{base_seed}:{trace_id}{'/' + step if step else ''}".encode()).hexdigest()
    return int(digest[:8], 16) % _SEED_MODULO


def trace_row(trace: Trace, completion: Completion, teacher_name: str) -> dict:
    """The contract row of one finished trace."""
    unit = trace.unit
    parsed = unit.style.parse(completion.text, unit.row)
    return {
        **unit.row,
        "sample_index": trace.sample_index,
        "teacher": teacher_name,
        "prompt_style": unit.style.name,
        "prompt": unit.prompt,
        "completion": completion.text,
        "reasoning": parsed.reasoning,
        "final": parsed.final,
        "predicted_answer": parsed.predicted_answer,
        "finish_reason": completion.finish_reason,
        "completion_tokens": completion.completion_tokens,
        "parse_issue": parsed.parse_issue,
        "forced": completion.forced,
        "trace_id": trace.trace_id,
    }


def trace_rows(unit: Unit, completions: list[Completion], teacher_name: str) -> Iterator[dict]:
    """One contract row per completion of a unit (sample `k` is completion `k`)."""
    for k, completion in enumerate(completions):
        yield trace_row(Trace(unit, k), completion, teacher_name)
