"""The format and quality filter stage: one named judgement per check, thresholds in `FilterConfig`.

Checks, in the order a trace is tested (its first failing check is its rejection reason):

| check | judgement (`verdicts.py`) | reasons | reward with the same verdict |
|---|---|---|---|
| generation finished | `judge_finished` | `finish_length`, ... | - |
| think block closed once, non-empty | `judge_think_block` | `no_think`, `unclosed_think`, `multiple_think_close`, `multiple_think_open`, `empty_think` (rlt: `..._explanation`) | `tag_count` (1.0) |
| final answer present | `judge_answer_present` | `no_boxed_answer` (rlt: `empty_solution`) | `format` (with the think check) |
| token length within bounds | `judge_min_length`, `judge_overlong` | `too_short`, `too_long` | `soft_overlong` (too_long) |
| degenerate repetition | `judge_repetition` | `repetitive` | `repetition_penalty` (< 0) |
| reasoning steps (off by default) | `judge_steps` | `too_few_steps` | `reasoning_steps` (< 1) |
| language (off by default) | `judge_language` | `language_mismatch` | `language` (0.0) |
| every reasoning step correct (off by default) | `judge_step_correctness` | `wrong_step` | `step_correctness` |

Rejected traces go to `StageResult.rejected` with `rejected_stage` and `rejected_reason`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from datasets import Dataset

from openr1_data.curate.answer_verifier import AnswerVerifier
from openr1_data.curate.steps import STEP_LABELS, step_verdicts
from openr1_data.funnel import StageResult, split_by_reason
from openr1_data.procs import forked_children_die_with_us
from openr1_data.schema import require_columns
from openr1_data.text import final_answer
from openr1_data.verdicts import (
    DEFAULT_MAX_REPETITION_SHARE,
    DEFAULT_MIN_LANGUAGE_SHARE,
    DEFAULT_REPETITION_NGRAM,
    TraceView,
    Verdict,
    judge_answer_present,
    judge_explanation_answer,
    judge_explanation_grounding,
    judge_finished,
    judge_language,
    judge_min_length,
    judge_overlong,
    judge_repetition,
    judge_step_correctness,
    judge_steps,
    judge_think_block,
    view_trace,
)

REASON_COLUMN = "_filter_reason"


@dataclass
class FilterConfig:
    """Thresholds of the format and quality checks (each check can be switched off)."""

    require_finished: bool = field(
        default=True,
        metadata={"help": "reject traces whose generation did not end on its own (finish_reason != stop)"},
    )
    require_think: bool = field(
        default=True,
        metadata={
            "help": "reject traces whose think block (rlt: explanation) is not closed exactly once and non-empty"
        },
    )
    require_answer: bool = field(
        default=True,
        metadata={"help": "reject traces without a final answer (r1: \\boxed{}; rlt: the solution)"},
    )
    min_tokens: int = field(default=0, metadata={"help": "reject completions shorter than this many tokens"})
    max_tokens: int | None = field(
        default=None, metadata={"help": "reject completions longer than this many tokens (None: no bound)"}
    )
    max_repetition_share: float | None = field(
        default=DEFAULT_MAX_REPETITION_SHARE,
        metadata={
            "help": "reject completions whose share of repeated word n-grams exceeds this (1 or None: off)"
        },
    )
    repetition_ngram_size: int = field(
        default=DEFAULT_REPETITION_NGRAM, metadata={"help": "n-gram size (words) of the repetition check"}
    )
    min_reasoning_steps: int = field(
        default=0, metadata={"help": "reject reasoning with fewer steps than this (0: off)"}
    )
    check_language: bool = field(
        default=False, metadata={"help": "reject reasoning not written in the problem's script"}
    )
    min_language_share: float = field(
        default=DEFAULT_MIN_LANGUAGE_SHARE,
        metadata={"help": "language check: least share of reasoning letters in the problem's script"},
    )
    check_explanation_answer: bool = field(
        default=True,
        metadata={
            "help": "rlt: reject explanations that state a final answer other than the reference solution's "
            "(math-verify); explanations that state none pass this check"
        },
    )
    rlt_min_grounding: float = field(
        default=0.5,
        metadata={
            "help": "rlt: reject explanations that use less than this share of the numbers the reference "
            "solution works with (all but its final answer), e.g. 'The answer is 11.' (0: off)"
        },
    )
    reject_wrong_steps: bool = field(
        default=False,
        metadata={
            "help": "reject traces with a wrong reasoning step: by their `step_labels` (openr1-data label-steps) "
            "when present, else by the exact check of the arithmetic claims in each step (wrong_step)"
        },
    )
    default_style: str = field(
        default="r1", metadata={"help": "prompt style of rows without a prompt_style column"}
    )
    filter_num_proc: int | None = field(
        default=None, metadata={"help": "processes for the checks (None: one)"}
    )

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < self.min_tokens:
            raise ValueError(f"max_tokens ({self.max_tokens}) is below min_tokens ({self.min_tokens})")
        if not 0 <= self.rlt_min_grounding <= 1:
            raise ValueError(f"rlt_min_grounding must be in [0, 1], got {self.rlt_min_grounding}")
        if self.max_repetition_share is not None and not 0 <= self.max_repetition_share <= 1:
            raise ValueError(f"max_repetition_share must be in [0, 1], got {self.max_repetition_share}")


def needed_columns(config: FilterConfig) -> list[str]:
    """The trace columns the enabled checks read."""
    cols = ["completion"]
    if config.require_finished:
        cols.append("finish_reason")
    if config.min_tokens > 0 or config.max_tokens is not None:
        cols.append("completion_tokens")
    if config.check_language:
        cols.append("problem")
    return cols


def trace_reason(view: TraceView, config: FilterConfig, row: dict | None = None) -> str | None:
    """Why the trace fails the enabled checks (its first failing judgement), or None when it passes (`row`: its
    columns, for the checks that read more than the parsed trace, such as `step_labels`)."""
    # Locals, so the None checks below narrow them inside the lambdas too.
    tokens, max_tokens, max_share = view.tokens, config.max_tokens, config.max_repetition_share
    judgements = []
    if config.require_finished:
        judgements.append(lambda: judge_finished(view))
    if config.require_think:
        judgements.append(lambda: judge_think_block(view))
    if config.require_answer:
        judgements.append(lambda: judge_answer_present(view))
    if (config.min_tokens > 0 or max_tokens is not None) and tokens is None:
        judgements.append(lambda: Verdict(None, "no_token_count"))
    elif config.min_tokens > 0 and tokens is not None:
        judgements.append(lambda: judge_min_length(tokens, config.min_tokens))
    if max_tokens is not None and tokens is not None:
        judgements.append(lambda: judge_overlong(tokens, max_tokens))
    if max_share is not None:
        judgements.append(
            lambda: judge_repetition(
                view.completion, ngram_size=config.repetition_ngram_size, max_share=max_share
            )
        )
    if config.min_reasoning_steps > 0:
        judgements.append(lambda: judge_steps(view.reasoning_text, config.min_reasoning_steps))
    if config.check_language:
        judgements.append(
            lambda: judge_language(view.problem or "", view.reasoning_text, config.min_language_share)
        )
    if config.check_explanation_answer and view.kind == "rlt":
        judgements.append(lambda: judge_explanation_answer(explanation_agrees(view)))
    if config.rlt_min_grounding > 0 and view.kind == "rlt":
        judgements.append(
            lambda: judge_explanation_grounding(
                view.reasoning_text, view.parsed.final, view.gold, config.rlt_min_grounding
            )
        )
    if config.reject_wrong_steps:
        judgements.append(lambda: judge_step_correctness(step_verdicts(view, row, config.default_style)))
    for judge in judgements:  # lazily: a trace is not judged further once it fails
        reason = judge().reason
        if reason is not None:
            return reason
    return None


_VERIFIER: AnswerVerifier | None = None


def explanation_agrees(view: TraceView) -> bool | None:
    """Whether the answer an RLT explanation states matches the gold (None: it states none, or no verdict)."""
    global _VERIFIER
    stated = final_answer(view.reasoning_text) if view.parsed.reasoning else None
    if stated is None or not view.gold:
        return None
    _VERIFIER = _VERIFIER or AnswerVerifier()  # one per process: its caches serve every row
    return _VERIFIER.check(view.gold, stated)[0]


def _reasons_batch(batch: dict[str, list], config: FilterConfig) -> dict[str, list]:
    n = len(batch["completion"])
    reasons = []
    for i in range(n):
        row = {k: v[i] for k, v in batch.items()}
        reasons.append(trace_reason(view_trace(row, default_style=config.default_style), config, row))
    return {REASON_COLUMN: reasons}


def filter_reasons(
    dataset: Dataset, config: FilterConfig | None = None, *, stage: str = "filter"
) -> list[str | None]:
    """The rejection reason of every trace (None = keep), without splitting the dataset."""
    config = config or FilterConfig()
    needed = needed_columns(config)
    require_columns(
        dataset.column_names,
        needed,
        what=f"filter stage '{stage}'",
        fix="Filter traces written by generation (one row per trace), or switch off the checks that need them.",
    )
    # The style parser reads these when present (rlt answers come from the solution).
    extra = [
        c
        for c in ("prompt_style", "solution", "answer", STEP_LABELS)
        if c in dataset.column_names and c not in needed
    ]
    view = dataset.select_columns(needed + extra)
    if len(view) == 0:
        return []
    num_proc = config.filter_num_proc if config.filter_num_proc and config.filter_num_proc > 1 else None
    with forked_children_die_with_us():  # num_proc workers and their manager: no orphans after a kill -9
        out = view.map(
            _reasons_batch,
            batched=True,
            batch_size=1000,
            num_proc=num_proc,
            fn_kwargs={"config": config},
            remove_columns=view.column_names,
            desc=f"filter ({stage})",
            load_from_cache_file=False,
        )
    return out[REASON_COLUMN]


def filter_traces(
    dataset: Dataset, config: FilterConfig | None = None, *, stage: str = "filter"
) -> StageResult:
    """Run the enabled format and quality checks; rejected traces go to the side output (with `stage` and the
    reason) and `StageResult.stats` is the funnel line."""
    config = config or FilterConfig()
    return split_by_reason(dataset, filter_reasons(dataset, config, stage=stage), stage)
