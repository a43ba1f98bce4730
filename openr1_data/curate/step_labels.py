"""Step labels for process supervision: two labelers behind one interface.

`label_steps(traces, StepLabelConfig(...), generation=GenerationConfig(...))` returns every trace (nothing is
rejected) with these columns:

- `steps`: the reasoning steps (`curate/steps.py`: numbered steps for the `steps` style, paragraphs otherwise);
- `step_labels`: per step `{"score": soft score in [0, 1], "label": hard label}` (None: not labelled);
- `first_error_step`: the number (1-based) of the first step labelled wrong, None when there is none;
- `step_label_source`: which labeler wrote the labels, with its settings (the dataset card shows it).

Labelers:
- `rules` (`RuleLabeler`): the exact check of the arithmetic claims in each step; a step with a false claim is
  wrong (score 0), any other step right (score 1). No model calls.
- `rollouts` (`RolloutLabeler`, Math-Shepherd): for step i the teacher continues the trace from its prefix of steps
  1..i, `rollouts_per_step` times; the step's score is the share of continuations whose answer verifies against
  the gold answer with the verify stage's own math-verify (`verify.verify_traces`), and its label is
  `score > hard_label_threshold` (0: Math-Shepherd's hard estimate, one continuation reaching the answer). The
  continuations are traces of the generation stage (`generate_traces`, any teacher backend) written to
  `rollout_dir`, so a killed run resumes where it stopped and never generates a continuation twice.
  `max_rollouts` bounds the continuations of a run; `stop_at_first_error` labels step by step and stops a trace at
  its first wrong step (its later steps stay unlabelled), which saves most of the cost on wrong traces.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa
from datasets import Dataset, List, Value

from openr1_data.config import check_fields
from openr1_data.curate.steps import (
    FIRST_ERROR_STEP,
    STEP_LABELS,
    STEPS,
    TraceSteps,
    row_steps,
    rule_verdicts,
)
from openr1_data.funnel import StageResult, keep_every_row
from openr1_data.prompts.styles import STYLES, PromptStyle
from openr1_data.schema import CORRECT, ContractError, iter_rows, require_columns
from openr1_data.text import gold_answer

STEP_LABEL_SOURCE = "step_label_source"
LABELERS = ("rules", "rollouts")
STEP_LABEL_FEATURE = List({"score": Value("float64"), "label": Value("bool")})
STEP_LABEL_TYPE = pa.list_(pa.struct([("score", pa.float64()), ("label", pa.bool_())]))
ROLLOUT_SUFFIX = "_rollout"


@dataclass
class StepLabelConfig:
    """How the steps of each trace are labelled."""

    labeler: str = field(
        default="rules",
        metadata={
            "help": "rules: exact check of the arithmetic claims in each step (free); rollouts: Monte-Carlo "
            "continuations by the teacher from each step (Math-Shepherd), verified against the gold answer"
        },
    )
    rollouts_per_step: int = field(
        default=4,
        metadata={"help": "rollouts: continuations per step (k); the score is the share that verify"},
    )
    max_rollouts: int | None = field(
        default=None,
        metadata={
            "help": "rollouts: at most this many continuations in this labelling run; steps beyond it stay "
            "unlabelled (None: no bound)"
        },
    )
    stop_at_first_error: bool = field(
        default=False,
        metadata={
            "help": "rollouts: label step by step and skip the steps after a trace's first wrong step (they stay "
            "unlabelled; first_error_step says where the trace went wrong)"
        },
    )
    hard_label_threshold: float = field(
        default=0.0,
        metadata={
            "help": "rollouts: a step is labelled correct when its score is above this (0: one continuation "
            "reaching the gold answer is enough, Math-Shepherd's hard estimate)"
        },
    )
    rollout_dir: str | None = field(
        default=None,
        metadata={
            "help": "rollouts: folder of the continuation traces (resumable; rerun the same command after a kill). "
            "`openr1-data label-steps` defaults it to OUTPUT_DIR-rollouts"
        },
    )
    rollout_verify_num_proc: int | None = field(
        default=None, metadata={"help": "rollouts: verify worker processes (default: all cores)"}
    )
    default_style: str = field(
        default="r1", metadata={"help": "prompt style of rows without a prompt_style column"}
    )
    progress: bool = field(default=True, metadata={"help": "show the generation progress of the rollouts"})

    def __post_init__(self) -> None:
        check_fields(
            self,
            at_least={"rollouts_per_step": 1, "max_rollouts": 0, "rollout_verify_num_proc": 0},
            between={"hard_label_threshold": (0.0, 1.0)},
            choices={"labeler": LABELERS},
        )
        if self.hard_label_threshold >= 1.0:
            raise ValueError(
                "--hard_label_threshold must be below 1 (a step is correct when its score is above it)"
            )


@dataclass
class TraceLabels:
    """The labels of one trace's steps (None: not labelled)."""

    scores: list[float | None]
    labels: list[bool | None]

    @property
    def first_error_step(self) -> int | None:
        return self.labels.index(False) + 1 if False in self.labels else None

    def as_column(self) -> list[dict[str, Any]]:
        return [{"score": s, "label": lab} for s, lab in zip(self.scores, self.labels, strict=True)]


@dataclass
class LabelReport:
    """What a labelling run did (written as `step_labels_report.json`)."""

    labeler: str
    traces: int = 0
    steps: int = 0
    steps_labelled: int = 0
    steps_wrong: int = 0
    traces_with_wrong_step: int = 0
    rollouts_planned: int = 0
    rollouts_generated: int = 0
    teacher_requests: int = 0
    steps_skipped_after_error: int = 0
    steps_over_budget: int = 0
    unlabelled_traces: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def table(self) -> str:
        rows = [(k, v) for k, v in self.as_dict().items() if v not in (0, {}) or k in ("traces", "steps")]
        return "\n".join(f"  {k:<28}{v}" for k, v in rows)


class StepLabeler(Protocol):
    """Labels the steps of traces: one `TraceLabels` per row, in order."""

    def source(self) -> str: ...

    def label(
        self, rows: Sequence[dict], steps: Sequence[TraceSteps], report: LabelReport
    ) -> list[TraceLabels]: ...


class RuleLabeler:
    """The exact arithmetic check (`curate/steps.py`): a false claim makes a step wrong; nothing else does."""

    def source(self) -> str:
        return "rules (exact arithmetic check of each step's claims)"

    def label(
        self, rows: Sequence[dict], steps: Sequence[TraceSteps], report: LabelReport
    ) -> list[TraceLabels]:
        out = []
        for trace in steps:
            verdicts = rule_verdicts(trace.texts())
            out.append(TraceLabels([1.0 if v else 0.0 for v in verdicts], list(verdicts)))
        return out


# --------------------------------------------------------------------------------------------------------------
# Monte-Carlo rollouts
# --------------------------------------------------------------------------------------------------------------


def rollout_style(base: str) -> PromptStyle:
    """The style that continues a trace of style `base` from a prefix: the same system prompt and user message,
    and the trace so far as the pre-filled assistant turn (the `rollout_prefix` column)."""
    name = base + ROLLOUT_SUFFIX
    if name not in STYLES:
        style = STYLES[base]
        STYLES[name] = PromptStyle(
            name=name,
            user_template=style.user_template,
            system_prompt=style.system_prompt,
            assistant_prefill=(style.assistant_prefill or "") + "{{ rollout_prefix }}",
            parser=style.parser,
            needs=("problem", "rollout_prefix"),
        )
    return STYLES[name]


def rollout_problem_id(trace_id: str, step: int) -> str:
    """A stable id per (trace, step): the rollouts' trace ids and seeds derive from it."""
    return hashlib.sha256(f"rollout\x1f{trace_id}\x1f{step}".encode()).hexdigest()[:16]


@dataclass
class _Unit:
    row: int  # index of the trace
    step: int  # 0-based step index


class RolloutLabeler:
    """Math-Shepherd: each step's score is the share of the teacher's continuations from it that reach the gold
    answer, verified with the verify stage's math-verify. Continuations go through the generation stage."""

    def __init__(self, config: StepLabelConfig, generation: Any, teacher: Any = None):
        if not config.rollout_dir:
            raise ValueError(
                "the rollouts labeler needs --rollout_dir (a folder for the continuation traces; resumable)"
            )
        self.config = config
        self.generation = dataclasses.replace(
            generation,
            output_dir=config.rollout_dir,
            num_generations=config.rollouts_per_step,
        )
        self.teacher = teacher

    def source(self) -> str:
        cfg, gen = self.config, self.generation
        return (
            f"rollouts (Math-Shepherd: {cfg.rollouts_per_step} continuations per step by {gen.teacher_model} "
            f"at temperature {gen.temperature}, verified with math-verify; correct when score > "
            f"{cfg.hard_label_threshold}{'; stopped at the first wrong step' if cfg.stop_at_first_error else ''})"
        )

    def _eligible(self, row: dict, trace: TraceSteps, default_style: str) -> str | None:
        """Why a trace cannot be rolled out (None when it can)."""
        style = row.get("prompt_style") or default_style
        if style not in STYLES or STYLES[style].parser != "think":
            return (
                f"style_{style}_not_continuable"  # RLT's answer is given; other parsers are not math answers
            )
        if not trace.steps:
            return "no_steps"
        if trace.offset is None:
            return "steps_not_in_completion"
        if gold_answer(row.get("answer"), row.get("solution")) is None:
            return "no_gold_answer"
        return None

    def label(
        self, rows: Sequence[dict], steps: Sequence[TraceSteps], report: LabelReport
    ) -> list[TraceLabels]:
        from openr1_data.generate.stage import build_teacher

        cfg = self.config
        out = [TraceLabels([None] * len(t.steps), [None] * len(t.steps)) for t in steps]
        eligible = []
        for i, (row, trace) in enumerate(zip(rows, steps, strict=True)):
            reason = self._eligible(row, trace, cfg.default_style)
            if reason is None:
                eligible.append(i)
            else:
                report.unlabelled_traces[reason] = report.unlabelled_traces.get(reason, 0) + 1
        budget = cfg.max_rollouts
        k = cfg.rollouts_per_step
        teacher = self.teacher or (build_teacher(self.generation) if eligible else None)
        try:
            if cfg.stop_at_first_error:
                alive = list(eligible)
                for step in range(max((len(steps[i].steps) for i in eligible), default=0)):
                    units = [_Unit(i, step) for i in alive if step < len(steps[i].steps)]
                    if budget is not None:
                        fits = max(0, budget // k)
                        report.steps_over_budget += sum(len(steps[u.row].steps) - step for u in units[fits:])
                        units = units[:fits]
                        budget -= len(units) * k
                    if not units:
                        break
                    self._roll_out(units, rows, steps, out, teacher, report)
                    alive = [u.row for u in units if out[u.row].labels[step] is not False]
                    for u in units:
                        if out[u.row].labels[step] is False:
                            report.steps_skipped_after_error += len(steps[u.row].steps) - step - 1
            else:
                units = []
                for i in eligible:
                    cost = len(steps[i].steps) * k
                    if budget is not None and cost > budget:
                        report.steps_over_budget += len(steps[i].steps)
                        continue  # a trace is labelled whole or not at all
                    budget = None if budget is None else budget - cost
                    units += [_Unit(i, s) for s in range(len(steps[i].steps))]
                if units:
                    self._roll_out(units, rows, steps, out, teacher, report)
        finally:
            if teacher is not None and self.teacher is None:
                teacher.close()
        return out

    def _roll_out(
        self,
        units: list[_Unit],
        rows: Sequence[dict],
        steps: Sequence[TraceSteps],
        out: list[TraceLabels],
        teacher: Any,
        report: LabelReport,
    ) -> None:
        """Generate the continuations of `units` (one generation call per prompt style), verify them, and write
        each unit's score and label into `out`."""
        from openr1_data.curate.verify import VerifyConfig, verify_traces
        from openr1_data.generate.stage import generate_traces

        cfg = self.config
        by_style: dict[str, list[dict]] = {}
        for u in units:
            row, trace = rows[u.row], steps[u.row]
            base = row.get("prompt_style") or cfg.default_style
            by_style.setdefault(base, []).append(
                {
                    "problem": row["problem"],
                    "answer": gold_answer(row.get("answer"), row.get("solution")),
                    "problem_id": rollout_problem_id(row["trace_id"], u.step),
                    "rollout_prefix": row["completion"][: trace.prefix_end(u.step)],
                    "rollout_of": row["trace_id"],
                    "rollout_step": u.step,
                }
            )
        index = {rows[u.row]["trace_id"]: u.row for u in units}
        golds, predictions, finals, owners = [], [], [], []
        for base, problems in by_style.items():
            style = rollout_style(base)
            gen = dataclasses.replace(self.generation, prompt_styles=[style.name])
            result = generate_traces(Dataset.from_list(problems), gen, teacher=teacher, progress=cfg.progress)
            summary = result.report
            report.rollouts_planned += summary.planned
            report.rollouts_generated += summary.generated
            report.teacher_requests += summary.requests
            parent = STYLES[base]
            for r in iter_rows(result.kept):
                parsed = parent.parse(r["rollout_prefix"] + r["completion"], r)  # the trace as continued
                golds.append(r["answer"])
                predictions.append(parsed.predicted_answer)
                finals.append(parsed.final)
                owners.append((index[r["rollout_of"]], r["rollout_step"]))
        verified = verify_traces(
            Dataset.from_dict({"answer": golds, "predicted_answer": predictions, "final": finals}),
            VerifyConfig(verify_num_proc=cfg.rollout_verify_num_proc, progress=False),
        ).kept
        right: Counter = Counter()
        known: Counter = Counter()
        for owner, correct in zip(owners, verified[CORRECT], strict=True):
            known[owner] += correct is not None
            right[owner] += correct is True
        for u in units:
            owner = (u.row, u.step)
            if known[owner] == 0:
                continue  # every verdict unknown (e.g. an unparseable gold): no label rather than a wrong one
            score = right[owner] / cfg.rollouts_per_step
            out[u.row].scores[u.step] = score
            out[u.row].labels[u.step] = score > cfg.hard_label_threshold


# --------------------------------------------------------------------------------------------------------------
# The stage
# --------------------------------------------------------------------------------------------------------------


def make_labeler(config: StepLabelConfig, generation: Any = None, teacher: Any = None) -> StepLabeler:
    """The labeler `config.labeler` names (`rollouts` needs the generation settings of its teacher)."""
    if config.labeler == "rules":
        return RuleLabeler()
    if generation is None:
        from openr1_data.generate.stage import GenerationConfig

        generation = GenerationConfig()
    return RolloutLabeler(config, generation, teacher)


def label_steps(
    dataset: Dataset,
    config: StepLabelConfig | None = None,
    *,
    generation: Any = None,
    teacher: Any = None,
    labeler: StepLabeler | None = None,
) -> StageResult[LabelReport]:
    """Segment every trace into steps and label them; every row is kept (`steps`, `step_labels`,
    `first_error_step`, `step_label_source` added), with the `LabelReport` as the report. `generation` (a `GenerationConfig`) and `teacher` are the
    rollout labeler's teacher settings and, optionally, a ready teacher."""
    config = config or StepLabelConfig()
    require_columns(
        dataset.column_names,
        ["completion"] + (["problem", "trace_id"] if config.labeler == "rollouts" else []),
        what=f"label steps ({config.labeler})",
        fix="Label traces written by generation (one row per trace, with problem, completion and trace_id).",
    )
    if config.labeler == "rollouts" and not {"answer", "solution"} & set(dataset.column_names):
        raise ContractError(
            "label steps (rollouts): a step's score is the share of continuations reaching the gold answer; the "
            "dataset has no `answer` (or `solution`) column. Load problems with their answers."
        )
    labeler = labeler or make_labeler(config, generation, teacher)
    rows = list(iter_rows(dataset))
    if config.labeler == "rollouts":
        seen: dict[str, int] = {}
        for i, r in enumerate(rows):
            if r["trace_id"] in seen:
                raise ContractError(
                    f"label steps (rollouts): rows {seen[r['trace_id']]} and {i} share trace_id {r['trace_id']!r}; "
                    "their rollouts would be mixed up. Deduplicate the traces first (openr1-data dedup)."
                )
            seen[r["trace_id"]] = i
    steps = [row_steps(r, config.default_style) for r in rows]
    report = LabelReport(labeler=config.labeler, traces=len(rows), steps=sum(len(t.steps) for t in steps))
    labels = labeler.label(rows, steps, report)
    for trace in labels:
        report.steps_labelled += sum(lab is not None for lab in trace.labels)
        report.steps_wrong += sum(lab is False for lab in trace.labels)
        report.traces_with_wrong_step += trace.first_error_step is not None
    source = labeler.source()
    out = dataset.remove_columns(
        [c for c in (STEPS, STEP_LABELS, FIRST_ERROR_STEP, STEP_LABEL_SOURCE) if c in dataset.column_names]
    )
    out = out.add_column(STEPS, [t.texts() for t in steps], feature=List(Value("string")))
    out = out.add_column(
        STEP_LABELS,
        pa.array([t.as_column() for t in labels], type=STEP_LABEL_TYPE),
        feature=STEP_LABEL_FEATURE,
    )
    out = out.add_column(
        FIRST_ERROR_STEP, pa.array([t.first_error_step for t in labels], pa.int32()), feature=Value("int32")
    )
    out = out.add_column(STEP_LABEL_SOURCE, [source] * len(out), feature=Value("string"))
    return keep_every_row(out, "label_steps", report)
