"""GRPO reward functions for TRL, built on the same judgements the filters use (`judgements.py`).

A reward function has TRL's signature `fn(completions, **columns) -> list[float | None]`: completions are plain
strings or conversational `[{"role": "assistant", "content": ...}]`, dataset columns (`answer`, `prompt_style`,
`solution`, `problem`, ...) arrive as keyword lists, and TRL adds `prompts` and `completion_ids`. None means "cannot
judge" (an unparseable gold answer) and TRL skips it.

    from openr1_data.training.rewards import get_reward_funcs
    reward_funcs = get_reward_funcs(["accuracy", "format", "soft_overlong"], max_completion_len=1024)

Rewards are callable objects (not closures) so they pickle, and each has a `__name__` that TRL logs them by.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Sequence
from typing import Any

from openr1_data.curate.answer_verifier import DEFAULT_FALLBACK_CHARS, DEFAULT_TIMEOUT_SECONDS
from openr1_data.judgements import (
    DEFAULT_MAX_REPETITION_SHARE,
    DEFAULT_MIN_LANGUAGE_SHARE,
    DEFAULT_MIN_STEPS,
    DEFAULT_REPETITION_NGRAM,
    Judgement,
    TraceView,
    accuracy_inputs,
    cosine_score,
    judge_accuracy,
    judge_format,
    judge_language,
    judge_overlong,
    judge_repetition,
    judge_steps,
    judge_think_block,
    kimi_length_scores,
    view_trace,
)
from openr1_data.text import gold_answer

RewardFn = Callable[..., list[float | None]]

# Keyword arguments TRL passes that are not dataset columns.
_TRL_EXTRAS = {"prompts", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments"}


class Reward:
    """Base class: turns TRL's call into one `TraceView` per completion and scores it with `judge`."""

    name = "reward"

    def __init__(self, style: str = "r1"):
        self.style = style
        self.__name__ = f"{self.name}_reward"

    def views(self, completions: Sequence[Any], columns: dict[str, Any]) -> list[TraceView]:
        """The parsed view of every completion, with its row's columns (the same view the filters build)."""
        n = len(completions)
        per_row = {
            k: v
            for k, v in columns.items()
            if k not in _TRL_EXTRAS and isinstance(v, list | tuple) and len(v) == n
        }
        ids = columns.get("completion_ids")
        views = []
        for i, completion in enumerate(completions):
            row = {k: v[i] for k, v in per_row.items()}
            row["answer"] = gold_answer(row.get("answer"), row.get("solution"))  # open-r1 sets: solution only
            tokens = len(ids[i]) if ids is not None else row.get("completion_tokens")
            views.append(view_trace(row, completion=completion, tokens=tokens, default_style=self.style))
        return views

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Judgement]:
        """The full verdicts (score and rejection reason); `__call__` returns their scores."""
        return [self.judge_one(view) for view in self.views(completions, columns)]

    def judge_one(self, view: TraceView) -> Judgement:
        raise NotImplementedError

    def __call__(self, completions: Sequence[Any], **columns: Any) -> list[float | None]:
        return [j.score for j in self.judge(completions, **columns)]

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({params})"


def _tokens(view: TraceView, reward: str) -> int:
    if view.tokens is None:
        raise ValueError(
            f"the {reward} reward needs completion lengths: TRL passes `completion_ids`; outside TRL pass "
            "completion_ids=[...] or a `completion_tokens` column"
        )
    return view.tokens


class AccuracyReward(Reward):
    """1.0 when the answer equals the gold `answer` (math-verify, gold first), 0.0 when not, None when the gold
    cannot be parsed (or a comparison times out): the verify stage's verdict."""

    name = "accuracy"

    def __init__(
        self,
        style: str = "r1",
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        fallback_to_final: bool = True,
        fallback_chars: int = DEFAULT_FALLBACK_CHARS,
        missing_answer_is_wrong: bool = True,
    ):
        super().__init__(style)
        from openr1_data.curate.verify import VerifyConfig

        self.config = VerifyConfig(
            verify_num_proc=0,
            progress=False,
            timeout_seconds=timeout_seconds,
            fallback_to_final=fallback_to_final,
            fallback_chars=fallback_chars,
            missing_answer_is_wrong=missing_answer_is_wrong,
        )
        self.config.answer_options()  # validate now, not at the first training step

    def verdicts(self, views: list[TraceView]) -> list[tuple[bool | None, str | None]]:
        from openr1_data.curate.verify import check_answers

        if views and all(v.gold is None for v in views):
            raise ValueError(
                "the accuracy reward needs the gold answer: add an `answer` (or `solution` with a \\boxed{} answer) "
                "column to the training dataset; TRL passes dataset columns to reward functions"
            )
        golds, preds, finals = (
            zip(*(accuracy_inputs(v) for v in views), strict=True) if views else ((), (), ())
        )
        return check_answers(golds, preds, finals, self.config)

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Judgement]:
        views = self.views(completions, columns)
        return [judge_accuracy(ok, err) for ok, err in self.verdicts(views)]


class FormatReward(Reward):
    """1.0 when the output is well formed for its style (think block closed once and non-empty, plus a boxed
    answer; RLT: explanation closed once and non-empty, plus the solution), else 0.0: the format filter."""

    name = "format"

    def judge_one(self, view: TraceView) -> Judgement:
        return judge_format(view)


class TagCountReward(Reward):
    """Partial credit for the think tags: share of (opened at most once, closed exactly once, non-empty)."""

    name = "tag_count"

    def judge_one(self, view: TraceView) -> Judgement:
        return judge_think_block(view)


class ReasoningStepsReward(Reward):
    """min(1, steps / min_steps): rewards step-by-step reasoning (the filter's `min_reasoning_steps`)."""

    name = "reasoning_steps"

    def __init__(self, style: str = "r1", min_steps: int = DEFAULT_MIN_STEPS):
        super().__init__(style)
        if min_steps < 1:
            raise ValueError(f"min_steps must be >= 1, got {min_steps}")
        self.min_steps = min_steps

    def judge_one(self, view: TraceView) -> Judgement:
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

    def judge_one(self, view: TraceView) -> Judgement:
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

    def judge_one(self, view: TraceView) -> Judgement:
        return judge_overlong(_tokens(view, self.name), self.max_completion_len, self.soft_punish_cache)


class CosineReward(AccuracyReward):
    """Accuracy scaled by length on a cosine schedule: short correct answers best, short wrong ones worst."""

    name = "cosine"

    def __init__(
        self,
        style: str = "r1",
        cosine_max_len: int = 1000,
        cosine_min_value_wrong: float = -1.0,
        cosine_max_value_wrong: float = -0.5,
        cosine_min_value_correct: float = 0.5,
        cosine_max_value_correct: float = 1.0,
        **accuracy: Any,
    ):
        super().__init__(style, **accuracy)
        self.cosine_max_len = cosine_max_len
        self.values = {
            "min_value_wrong": cosine_min_value_wrong,
            "max_value_wrong": cosine_max_value_wrong,
            "min_value_correct": cosine_min_value_correct,
            "max_value_correct": cosine_max_value_correct,
        }

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Judgement]:
        views = self.views(completions, columns)
        out = []
        for view, (ok, err) in zip(views, self.verdicts(views), strict=True):
            acc = judge_accuracy(ok, err)
            if ok is None:
                out.append(acc)
            else:
                score = cosine_score(ok, _tokens(view, self.name), self.cosine_max_len, **self.values)
                out.append(Judgement(score, acc.reason))
        return out


class LengthReward(AccuracyReward):
    """Kimi 1.5 length reward, computed among the completions of the same prompt: the shortest correct get +0.5,
    the longest -0.5; wrong answers never get a bonus. Lengths in tokens (characters outside TRL)."""

    name = "length"

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Judgement]:
        views = self.views(completions, columns)
        verdicts = self.verdicts(views)
        lengths = [v.tokens if v.tokens is not None else len(v.completion) for v in views]
        groups: dict[str, list[int]] = {}
        for i, key in enumerate(_group_keys(columns, len(views))):
            groups.setdefault(key, []).append(i)
        out: list[Judgement | None] = [None] * len(views)
        for idx in groups.values():
            scores = kimi_length_scores([lengths[i] for i in idx], [verdicts[i][0] for i in idx])
            for i, score in zip(idx, scores, strict=True):
                out[i] = Judgement(score, judge_accuracy(*verdicts[i]).reason)
        return out  # type: ignore[return-value]


def _group_keys(columns: dict[str, Any], n: int) -> list[str]:
    """Which completions answer the same prompt: TRL's `prompts`, else problem_id / problem columns."""
    for name in ("prompts", "problem_id", "problem"):
        values = columns.get(name)
        if isinstance(values, list | tuple) and len(values) == n:
            return [v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str) for v in values]
    return [""] * n


class LanguageReward(Reward):
    """1.0 when the reasoning is written in the problem's script, else 0.0 (the filter's language check)."""

    name = "language"

    def __init__(self, style: str = "r1", min_language_share: float = DEFAULT_MIN_LANGUAGE_SHARE):
        super().__init__(style)
        self.min_language_share = min_language_share

    def judge_one(self, view: TraceView) -> Judgement:
        if view.problem is None:
            raise ValueError("the language reward needs a `problem` column in the training dataset")
        return judge_language(view.problem, view.reasoning_text, self.min_language_share)


# name -> factory. Factories take keyword parameters only; `get_reward_funcs` routes each parameter to the
# factories that accept it.
REWARD_FUNCS: dict[str, Callable[..., RewardFn]] = {
    "accuracy": AccuracyReward,
    "format": FormatReward,
    "tag_count": TagCountReward,
    "reasoning_steps": ReasoningStepsReward,
    "length": LengthReward,
    "cosine": CosineReward,
    "repetition_penalty": RepetitionPenaltyReward,
    "soft_overlong": SoftOverlongReward,
    "language": LanguageReward,
}


def _accepted(factory: Callable[..., Any]) -> set[str]:
    names: set[str] = set()
    for cls in getattr(factory, "__mro__", (factory,)):
        init = cls.__dict__.get("__init__") if isinstance(cls, type) else cls
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return names


def reward_params(name: str) -> list[str]:
    """The keyword parameters the reward `name` accepts."""
    if name not in REWARD_FUNCS:
        raise ValueError(f"unknown reward function {name!r}; available: {sorted(REWARD_FUNCS)}")
    return sorted(_accepted(REWARD_FUNCS[name]))


def get_reward_funcs(names: Sequence[str], **params: Any) -> list[RewardFn]:
    """Build the reward functions `names` (in order), passing each the `params` it accepts.

    Unknown names, and parameters that none of the requested rewards accept, raise ValueError listing the valid
    choices, so a typo in a recipe never silently does nothing.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in REWARD_FUNCS]
    if unknown:
        raise ValueError(f"unknown reward function(s) {unknown}; available: {sorted(REWARD_FUNCS)}")
    accepted = {n: _accepted(REWARD_FUNCS[n]) for n in names}
    unused = sorted(set(params) - set().union(*accepted.values())) if names else sorted(params)
    if unused:
        valid = {n: sorted(a) for n, a in accepted.items()}
        raise ValueError(
            f"reward parameter(s) {unused} are not accepted by {list(names)}; they accept {valid}"
        )
    return [REWARD_FUNCS[n](**{k: v for k, v in params.items() if k in accepted[n]}) for n in names]
