"""Rewards from the rules the filters apply (`verdicts.py`): format, think tags, reasoning steps, repetition, length
and language. Pure functions of the completion (and its row): no model, no gold answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from openr1_data.train.rewards.base import Reward, needed_tokens
from openr1_data.verdicts import (
    DEFAULT_MAX_REPETITION_SHARE,
    DEFAULT_MIN_LANGUAGE_SHARE,
    DEFAULT_MIN_STEPS,
    DEFAULT_REPETITION_NGRAM,
    TraceView,
    Verdict,
    judge_format,
    judge_language,
    judge_overlong,
    judge_repetition,
    judge_steps,
    judge_think_block,
)


class FormatReward(Reward):
    """1.0 when the output is well formed for its style (think block closed once and non-empty, plus a boxed
    answer; RLT: explanation closed once and non-empty, plus the solution), else 0.0: the format filter."""

    name = "format"

    def judge_one(self, view: TraceView) -> Verdict:
        return judge_format(view)


class TagCountReward(Reward):
    """Partial credit for the think tags: share of (opened at most once, closed exactly once, non-empty)."""

    name = "tag_count"

    def judge_one(self, view: TraceView) -> Verdict:
        return judge_think_block(view)


class ReasoningStepsReward(Reward):
    """min(1, steps / min_steps): rewards step-by-step reasoning (the filter's `min_reasoning_steps`)."""

    name = "reasoning_steps"

    def __init__(self, style: str = "r1", min_steps: int = DEFAULT_MIN_STEPS):
        super().__init__(style)
        if min_steps < 1:
            raise ValueError(f"min_steps must be >= 1, got {min_steps}")
        self.min_steps = min_steps

    def judge_one(self, view: TraceView) -> Verdict:
        return judge_steps(view.reasoning_text, self.min_steps)


class RepetitionPenaltyReward(Reward):
    """0 up to `max_repetition_share` repeated word n-grams, then down to `repetition_max_penalty` (the filter
    rejects the same traces as "repetitive"). With max_repetition_share=0 it is open-r1's repetition penalty."""

    name = "repetition_penalty"

    def __init__(
        self,
        style: str = "r1",
        repetition_ngram_size: int = DEFAULT_REPETITION_NGRAM,
        max_repetition_share: float = DEFAULT_MAX_REPETITION_SHARE,
        repetition_max_penalty: float = -1.0,
    ):
        super().__init__(style)
        if repetition_max_penalty > 0:
            raise ValueError(f"repetition_max_penalty must not be positive, got {repetition_max_penalty}")
        if not 0 <= max_repetition_share < 1:
            raise ValueError(f"max_repetition_share must be in [0, 1), got {max_repetition_share}")
        self.repetition_ngram_size = repetition_ngram_size
        self.max_repetition_share = max_repetition_share
        self.repetition_max_penalty = repetition_max_penalty

    def judge_one(self, view: TraceView) -> Verdict:
        return judge_repetition(
            view.completion,
            ngram_size=self.repetition_ngram_size,
            max_share=self.max_repetition_share,
            max_penalty=self.repetition_max_penalty,
        )


class SoftOverlongReward(Reward):
    """DAPO soft overlong punishment: 0, a linear ramp over the last `soft_punish_cache` tokens, -1 beyond
    `max_completion_len` (the length filter's `max_tokens` rejects the same traces as "too_long")."""

    name = "soft_overlong"

    def __init__(self, style: str = "r1", max_completion_len: int | None = None, soft_punish_cache: int = 0):
        super().__init__(style)
        if max_completion_len is None or max_completion_len < 1:
            raise ValueError(
                "the soft_overlong reward needs max_completion_len (set it to GRPOConfig.max_completion_length)"
            )
        if not 0 <= soft_punish_cache <= max_completion_len:
            raise ValueError(
                f"soft_punish_cache must be in [0, {max_completion_len}], got {soft_punish_cache}"
            )
        self.max_completion_len = max_completion_len
        self.soft_punish_cache = soft_punish_cache

    def judge_one(self, view: TraceView) -> Verdict:
        return judge_overlong(needed_tokens(view, self.name), self.max_completion_len, self.soft_punish_cache)


class LanguageReward(Reward):
    """1.0 when the reasoning is written in the problem's script, else 0.0 (the filter's language check)."""

    name = "language"

    def __init__(self, style: str = "r1", min_language_share: float = DEFAULT_MIN_LANGUAGE_SHARE):
        super().__init__(style)
        self.min_language_share = min_language_share

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        if "problem" not in columns:  # the dataset lacks the column: the same at every step
            raise ValueError("the language reward needs a `problem` column in the training dataset")
        return super().judge(completions, **columns)

    def judge_one(self, view: TraceView) -> Verdict:
        if not view.problem:
            return Verdict(None, "no_problem")  # this row cannot be judged; TRL skips it
        return judge_language(view.problem, view.reasoning_text, self.min_language_share)
