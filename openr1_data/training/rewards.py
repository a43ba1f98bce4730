"""GRPO reward functions for TRL, built on the same judgements the filters use (`judgements.py`): the one reward
registry of the project.

A reward function has TRL's signature `fn(completions, **columns) -> list[float | None]`: completions are plain
strings or conversational `[{"role": "assistant", "content": ...}]`, dataset columns (`answer`, `prompt_style`,
`solution`, `problem`, ...) arrive as keyword lists, and TRL adds `prompts` and `completion_ids`. None means "cannot
judge" (a row without a gold answer, an unparseable gold, an undecided judge) and TRL skips it.

    from openr1_data.training.rewards import get_reward_funcs
    reward_funcs = get_reward_funcs(["accuracy", "format", "soft_overlong"], max_completion_len=1024)

Names come from `REWARD_FUNCS` (the RLT teacher reward `rlt` and the `llm_judge` reward included), open-r1's names
are aliases (`REWARD_ALIASES`), and a dotted path (`my_pkg.rewards.my_reward`) imports a reward function the user
wrote, as TRL's `trl grpo` does. Rewards are callable objects (not closures) so they pickle, and each has a
`__name__` that TRL logs them by.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import os
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, cast

import yaml

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
    judge_rubric_score,
    judge_steps,
    judge_think_block,
    kimi_length_scores,
    view_trace,
)
from openr1_data.text import gold_answer

RewardFn = Callable[..., Sequence[float | None]]
logger = logging.getLogger(__name__)

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
    cannot be parsed (or a comparison times out): the verify stage's verdict. Multiple-choice rows (by domain,
    `sources/domains.py`) compare the picked letter with the gold letter, as verification does."""

    name = "accuracy"

    def __init__(
        self,
        style: str = "r1",
        timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
        fallback_to_final: bool = True,
        fallback_chars: int = DEFAULT_FALLBACK_CHARS,
        missing_answer_is_wrong: bool = True,
        allow_set_relation_comp: bool = False,
        mcq_strict: bool = False,
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
            allow_set_relation_comp=allow_set_relation_comp,
            mcq_strict=mcq_strict,
        )
        self.config.answer_options()  # validate now, not at the first training step

    def verdicts(
        self, views: list[TraceView], columns: dict[str, Any]
    ) -> list[tuple[bool | None, str | None]]:
        """math-verify's verdict per completion; a row without a gold is (None, "gold_missing"), in any batch."""
        from openr1_data.curate.verify import check_answers

        # Only a dataset with no gold column at all is an error (the same at every step, so it fails at the first
        # one); a row whose gold is empty scores None whatever the rows it is batched with.
        if not {"answer", "solution"} & set(columns):
            raise ValueError(
                f"the {self.name} reward needs the gold answer: add an `answer` (or `solution` with a \\boxed{{}} "
                "answer) column to the training dataset; TRL passes dataset columns to reward functions"
            )
        mcq = _mcq_choices(columns, len(views))  # row -> its choices, for multiple-choice rows only
        if mcq:
            return _verdicts_by_domain(self, views, columns, mcq)
        golds, preds, finals = (
            zip(*(accuracy_inputs(v) for v in views), strict=True) if views else ((), (), ())
        )
        return check_answers(golds, preds, finals, self.config)

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Judgement]:
        views = self.views(completions, columns)
        return [judge_accuracy(ok, err) for ok, err in self.verdicts(views, columns)]


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
        for view, (ok, err) in zip(views, self.verdicts(views, columns), strict=True):
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
        verdicts = self.verdicts(views, columns)
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

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Judgement]:
        if "problem" not in columns:  # the dataset lacks the column: the same at every step
            raise ValueError("the language reward needs a `problem` column in the training dataset")
        return super().judge(completions, **columns)

    def judge_one(self, view: TraceView) -> Judgement:
        if not view.problem:
            return Judgement(None, "no_problem")  # this row cannot be judged; TRL skips it
        return judge_language(view.problem, view.reasoning_text, self.min_language_share)


# The judge stage's own yes/no question (curate/llm_judge.py) as the `llm_judge` reward's prompt.
ANSWER_MATCH = "answer_match"


class LLMJudgeReward(Reward):
    """A judge model rates each completion, for tasks no rule can verify (a summary, an explanation): the rubric
    prompt style (`judge_rubric`, or any style whose parser is "score") asks for a 0-10 score, read strictly
    (`parse_score`: anything but a number is None, which TRL skips); the reward is score / 10.

    Built on the judge stage (`curate/llm_judge.py`): the same `JudgeConfig` fields and `build_judge`, so any
    teacher backend can judge (an OpenAI-compatible server, transformers, vLLM). `judge_prompt_style="answer_match"`
    asks the stage's own question instead (does the final answer match the gold? yes 1.0 / no 0.0 / undecided
    None), with the same answer hand-off and reply parser as curation. The judge sees the part of the completion
    after its think block. Replies are cached per (prompt, completion) for the run, and the cost is logged: judge
    requests, cache hits, reply tokens and undecided replies (`llm_judge/*` metrics in TRL, and this logger).
    """

    name = "llm_judge"

    def __init__(
        self,
        style: str = "r1",
        judge_model: str | None = None,
        judge_backend: str = "openai",
        judge_base_url: str = "http://127.0.0.1:8000/v1",
        judge_api_key_env: str = "OPENAI_API_KEY",
        judge_max_concurrency: int = 16,
        judge_device: str = "cpu",
        judge_prompt_style: str = "judge_rubric",
        judge_rubric: str | None = None,
        judge_max_new_tokens: int = 8,
        judge_seed: int = 0,
        judge_batch_size: int = 64,
        judge_cache_size: int = 100_000,
    ):
        super().__init__(style)
        from openr1_data.curate.llm_judge import JudgeConfig
        from openr1_data.prompts.styles import DEFAULT_RUBRIC, get_style

        if not judge_model:
            raise ValueError(
                "the llm_judge reward needs a judge: pass judge_model in --reward_params (as served, or a folder)"
            )
        if judge_prompt_style != ANSWER_MATCH and get_style(judge_prompt_style).parser != "score":
            raise ValueError(
                f"judge_prompt_style {judge_prompt_style!r} does not parse scores: use 'judge_rubric' (or a style "
                f"whose parser is 'score'), or {ANSWER_MATCH!r} for the judge stage's yes/no answer question"
            )
        self.judge_config = JudgeConfig(
            judge_backend=judge_backend,
            judge_model=judge_model,
            judge_base_url=judge_base_url,
            judge_api_key_env=judge_api_key_env,
            judge_max_concurrency=judge_max_concurrency,
            judge_device=judge_device,
            judge_max_new_tokens=judge_max_new_tokens,
            judge_seed=judge_seed,
            judge_batch_size=judge_batch_size,
            judge_progress=False,
        )
        self.judge_prompt_style = judge_prompt_style
        self.judge_rubric = judge_rubric or DEFAULT_RUBRIC
        if judge_cache_size < 0:
            raise ValueError(f"judge_cache_size must be >= 0, got {judge_cache_size}")
        self.judge_cache_size = judge_cache_size
        self.cost = {"requests": 0, "cache_hits": 0, "reply_tokens": 0, "undecided": 0}
        self._teacher: Any = None
        self._cache: OrderedDict[str, tuple[float | None, str | None]] = OrderedDict()

    def __getstate__(self) -> dict:  # the judge client (threads, sockets) is rebuilt where the copy runs
        state = dict(self.__dict__)
        state["_teacher"], state["_cache"] = None, OrderedDict()
        return state

    def close(self) -> None:
        """Close the judge backend (a later call opens it again)."""
        if self._teacher is not None:
            self._teacher.close()
            self._teacher = None

    def _messages(self, prompt: str, view: TraceView, row: dict[str, Any]) -> list[dict[str, str]] | None:
        """The judge's chat prompt for one completion, or None when the row cannot be judged."""
        response = (view.parsed.final or "").strip()
        if self.judge_prompt_style == ANSWER_MATCH:
            from openr1_data.curate.llm_judge import judge_response_text

            if not view.gold:
                return None
            answer = judge_response_text(
                view.parsed.predicted_answer, view.parsed.final, None, self.judge_config.judge_response_chars
            )
            question = self.judge_config.judge_template.format(
                problem=prompt, gold=view.gold, response=answer
            )
            return [
                {"role": "system", "content": self.judge_config.judge_system_prompt},
                {"role": "user", "content": question},
            ]
        from openr1_data.prompts import get_style

        rubric = row.get("rubric") or self.judge_rubric
        return get_style(self.judge_prompt_style).build(
            {"prompt": prompt, "completion": response, "rubric": rubric}
        )

    def _verdict(self, reply: str) -> tuple[float | None, str | None]:
        if self.judge_prompt_style == ANSWER_MATCH:
            from openr1_data.curate.llm_judge import parse_judge_reply

            verdict = parse_judge_reply(reply)
            return (None, "judge_undecided") if verdict is None else (float(verdict), None)
        from openr1_data.prompts.styles import RUBRIC_MAX_SCORE, get_style

        judgement = judge_rubric_score(get_style(self.judge_prompt_style).parse(reply, {}), RUBRIC_MAX_SCORE)
        return judgement.score, judgement.reason

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Judgement]:
        views = self.views(completions, columns)
        prompts = _prompt_texts(columns, len(views))
        rows = [{k: v[i] for k, v in columns.items() if _per_row(v, len(views))} for i in range(len(views))]
        keys: list[str | None] = []
        asked: dict[str, list[dict[str, str]]] = {}
        known: dict[str, tuple[float | None, str | None]] = {}  # this call's verdicts (the LRU may evict)
        hits = 0
        for prompt, view, row in zip(prompts, views, rows, strict=True):
            messages = self._messages(prompt, view, row) if (view.parsed.final or "").strip() else None
            key = None if messages is None else json.dumps(messages, ensure_ascii=False)
            keys.append(key)
            if key is None:
                continue
            if key in asked or key in known:  # a repeat within this call
                hits += 1
            elif key in self._cache:
                self._cache.move_to_end(key)
                known[key] = self._cache[key]
                hits += 1
            else:
                asked[key] = messages  # type: ignore[assignment]
        start = time.perf_counter()
        fresh, tokens = self._ask(asked)
        known.update(fresh)
        undecided = sum(1 for verdict in fresh.values() if verdict[0] is None)
        self.cost["requests"] += len(asked)
        self.cost["cache_hits"] += hits
        self.cost["reply_tokens"] += tokens
        self.cost["undecided"] += undecided
        log_metric = columns.get("log_metric")
        if callable(log_metric):
            for name, value in (("requests", len(asked)), ("cache_hits", hits), ("reply_tokens", tokens)):
                log_metric(f"llm_judge/{name}", float(value))
            log_metric("llm_judge/undecided", float(undecided))
        if asked:
            logger.info(
                "llm_judge: %d judge requests (%d cached, %d reply tokens, %d undecided) in %.1fs; run total %s",
                len(asked), hits, tokens, undecided, time.perf_counter() - start, self.cost,
            )  # fmt: skip
        out = []
        for key in keys:
            if key is None:
                out.append(Judgement(None, "nothing_to_judge"))
            else:
                out.append(Judgement(*known[key]))
        return out

    def _ask(
        self, asked: dict[str, list[dict[str, str]]]
    ) -> tuple[dict[str, tuple[float | None, str | None]], int]:
        """Send the judge every new question once, in batches; cache the verdicts. Returns them and the reply
        tokens."""
        verdicts: dict[str, tuple[float | None, str | None]] = {}
        if not asked:
            return verdicts, 0
        if self._teacher is None:
            from openr1_data.curate.llm_judge import build_judge

            self._teacher = build_judge(self.judge_config)
        keys, tokens = list(asked), 0
        size = self.judge_config.judge_batch_size
        for lo in range(0, len(keys), size):
            batch = keys[lo : lo + size]
            outputs = self._teacher.generate([asked[k] for k in batch], self.judge_config.sampling(), n=1)
            if len(outputs) != len(batch) or any(len(o) != 1 for o in outputs):
                raise RuntimeError(
                    f"the judge backend {type(self._teacher).__name__} returned {[len(o) for o in outputs]} replies "
                    f"for {len(batch)} questions (1 each expected)"
                )
            for key, (completion,) in zip(batch, outputs, strict=True):
                tokens += completion.completion_tokens
                verdicts[key] = self._cache[key] = self._verdict(completion.text)
                if len(self._cache) > self.judge_cache_size:
                    self._cache.popitem(last=False)
        return verdicts, tokens


def _per_row(values: Any, n: int) -> bool:
    return isinstance(values, list | tuple) and len(values) == n


def _prompt_texts(columns: dict[str, Any], n: int) -> list[str]:
    """The task each completion answers: TRL's `prompts` (the last user message of a chat prompt), else the
    `prompt` or `problem` column."""
    for name in ("prompts", "prompt", "problem"):
        values = columns.get(name)
        if isinstance(values, list | tuple) and len(values) == n:
            return [_last_user_text(v) for v in values]
    raise ValueError(
        "the llm_judge reward needs the prompts: TRL passes `prompts`; outside TRL pass prompts=[...]"
    )


def _last_user_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list | tuple):
        users = [m.get("content") or "" for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        return users[-1] if users else ""
    return "" if prompt is None else str(prompt)


RLT_REWARD = "rlt"


def rlt_reward(rlt_config: Any = None) -> RewardFn:
    """The RLT teacher reward (`curate/rlt_scoring.py`), scored by a student model; `rlt_config` is its
    `RLTRewardConfig` (train/grpo.py parses it from `--rlt_*` flags and binds the teacher after building the
    trainer). Imported only when asked for: it loads torch and the student."""
    if rlt_config is None:
        raise ValueError("the rlt reward needs its config (--rlt_student_model ...)")
    from openr1_data.curate.rlt_scoring import make_rlt_reward

    return make_rlt_reward(rlt_config)


# --------------------------------------------------------------------------------------------------------------
# Code and multiple-choice rows (curate/code_verify.py, curate/mcq.py: the verify stage's judgements)
# --------------------------------------------------------------------------------------------------------------


def _mcq_choices(columns: dict[str, Any], n: int) -> dict[int, list | None]:
    """The multiple-choice rows of a call (by `sources.domains.row_domain`) and their choices."""
    from openr1_data.sources.domains import row_domain

    names = ("domain", "tests", "choices", "prompt_style")
    per_row = {k: columns[k] for k in names if _per_row(columns.get(k), n)}
    if not per_row:
        return {}
    found = {}
    for i in range(n):
        row = {k: v[i] for k, v in per_row.items()}
        if row_domain(row) == "mcq":
            found[i] = list(row["choices"]) if isinstance(row.get("choices"), list | tuple) else None
    return found


def _verdicts_by_domain(
    reward: AccuracyReward, views: list[TraceView], columns: dict[str, Any], mcq: dict[int, list | None]
) -> list[tuple[bool | None, str | None]]:
    """Math rows through math-verify, multiple-choice rows through the letter check."""
    from openr1_data.curate.mcq import check_choice
    from openr1_data.curate.verify import check_answers

    out: list[tuple[bool | None, str | None]] = [(None, None)] * len(views)
    math = [i for i in range(len(views)) if i not in mcq]
    if math:
        golds, preds, finals = zip(*(accuracy_inputs(views[i]) for i in math), strict=True)
        for i, verdict in zip(math, check_answers(golds, preds, finals, reward.config), strict=True):
            out[i] = verdict
    for i, choices in mcq.items():
        out[i] = check_choice(
            views[i].gold,
            views[i].parsed.final,
            choices,
            strict=reward.config.mcq_strict,
            missing_answer_is_wrong=reward.config.missing_answer_is_wrong,
        )
    return out


class CodeReward(Reward):
    """The share of the problem's tests the completion's code passes (its last fenced Python block, run in the
    sandbox against the row's `tests` column): the code verification verdict; None when it cannot be known (a
    sandbox failure, a row without tests)."""

    name = "code"
    binary = False

    def __init__(
        self,
        style: str = "r1_code",
        code_num_proc: int | None = None,
        code_timeout_seconds: float = 10.0,
        code_memory_mb: int = 2048,
    ):
        super().__init__(style)
        from openr1_data.curate.code_verify import CodeSettings

        self.settings = CodeSettings(
            num_proc=code_num_proc, timeout_seconds=code_timeout_seconds, memory_mb=code_memory_mb
        )
        self.settings.limits()  # validate now, not at the first training step

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Judgement]:
        from openr1_data.curate.code_verify import codes_of, judge_code, verify_code

        tests = columns.get("tests")
        if not _per_row(tests, len(completions)):
            raise ValueError(
                f"the {self.name} reward needs the problems' tests: a `tests` column in the training dataset "
                "(problem loading writes it for HumanEval-style and stdin/stdout layouts)"
            )
        views = self.views(completions, columns)
        verdicts = verify_code(codes_of([v.parsed.final for v in views]), cast(list, tests), self.settings)
        return [judge_code(v, binary=self.binary) for v in verdicts]


class BinaryCodeReward(CodeReward):
    """1.0 when the completion's code passes every test, else 0.0 (None when unknown): the `correct` column."""

    name = "binary_code"
    binary = True


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
    "llm_judge": LLMJudgeReward,
    RLT_REWARD: rlt_reward,
    "code": CodeReward,
    "binary_code": BinaryCodeReward,
}

# open-r1's registry names (and the names its functions log under) -> ours, so an open-r1 recipe runs unchanged.
# A reward built through an alias logs under the open-r1 function name (`cosine_scaled_reward`, ...).
REWARD_ALIASES: dict[str, str] = {
    "cosine_scaled": "cosine",
    "len": "length",
    "soft_overlong_punishment": "soft_overlong",
}
# open-r1's parameter names -> ours.
PARAM_ALIASES: dict[str, str] = {"repetition_n_grams": "repetition_ngram_size"}


def known_reward_names() -> list[str]:
    """Every registry name and alias `--reward_funcs` accepts (a dotted import path is accepted too)."""
    return sorted({*REWARD_FUNCS, *REWARD_ALIASES})


def _unknown(names: Sequence[str]) -> ValueError:
    return ValueError(
        f"unknown reward function(s) {list(names)}; available: {known_reward_names()}, or the dotted import path "
        "of your own reward function (my_pkg.rewards.my_reward)"
    )


def import_reward(path: str) -> RewardFn:
    """A user-written reward function from its dotted path (`my_pkg.my_module.my_reward`), imported as TRL's
    `trl grpo` does (the working directory is importable)."""
    module_path, _, attr = path.rpartition(".")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_path)
    except ImportError as err:
        raise ValueError(
            f"reward function {path!r}: cannot import module {module_path!r} ({err}); it is neither a registry "
            f"name ({known_reward_names()}) nor an importable path"
        ) from err
    func = getattr(module, attr, None)
    if not callable(func):
        raise ValueError(f"reward function {path!r}: module {module_path!r} has no callable {attr!r}")
    return cast(RewardFn, func)


def _factory(name: str) -> Callable[..., RewardFn] | None:
    """The registry factory of a name or alias; None for a dotted path (a ready reward function)."""
    canonical = REWARD_ALIASES.get(name, name)
    if canonical in REWARD_FUNCS:
        return REWARD_FUNCS[canonical]
    if "." in name:
        return None
    raise _unknown([name])


def check_reward_names(names: Sequence[str]) -> None:
    """Fail before any work on an unknown reward name (listing the known ones) or an unimportable dotted path."""
    if not names:
        raise ValueError(f"no reward functions: pass --reward_funcs with some of {known_reward_names()}")
    unknown = [n for n in names if REWARD_ALIASES.get(n, n) not in REWARD_FUNCS and "." not in n]
    if unknown:
        raise _unknown(unknown)
    for name in names:
        if REWARD_ALIASES.get(name, name) not in REWARD_FUNCS:
            import_reward(name)


def parse_params(params: dict[str, Any] | str | None) -> dict[str, Any]:
    """Reward parameters from a mapping or its JSON/YAML text (open-r1 parameter names are accepted)."""
    if params is None:
        return {}
    if isinstance(params, str):
        params = yaml.safe_load(params)
    if not isinstance(params, dict):
        raise ValueError(f"reward_params must be a mapping of name: value, got {params!r}")
    return {PARAM_ALIASES.get(k, k): v for k, v in params.items()}


def _accepted(factory: Callable[..., Any] | None) -> set[str]:
    names: set[str] = set()
    if factory is None:  # a user's reward function takes no construction parameters
        return names
    for cls in getattr(factory, "__mro__", (factory,)):
        init = cls.__dict__.get("__init__") if isinstance(cls, type) else cls
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                names.add(p.name)
    return names


def reward_params(name: str) -> list[str]:
    """The keyword parameters the reward `name` (or alias) accepts."""
    if REWARD_ALIASES.get(name, name) not in REWARD_FUNCS:
        raise _unknown([name])
    return sorted(_accepted(_factory(name)))


def get_reward_funcs(names: Sequence[str], **params: Any) -> list[RewardFn]:
    """Build the reward functions `names` (in order), passing each the `params` it accepts.

    A name is a registry name, an open-r1 alias, or a dotted import path. Unknown names, and parameters that none
    of the requested rewards accept, raise ValueError listing the valid choices, so a typo in a recipe never
    silently does nothing.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if names:
        check_reward_names(names)
    params = {PARAM_ALIASES.get(k, k): v for k, v in params.items()}
    factories = {n: _factory(n) for n in names}
    accepted = {n: _accepted(f) for n, f in factories.items()}
    unused = sorted(set(params) - set().union(*accepted.values())) if names else sorted(params)
    if unused:
        valid = {n: sorted(a) for n, a in accepted.items()}
        raise ValueError(
            f"reward parameter(s) {unused} are not accepted by {list(names)}; they accept {valid}"
        )
    funcs: list[RewardFn] = []
    for name in names:
        factory = factories[name]
        if factory is None:
            funcs.append(import_reward(name))
            continue
        func = factory(**{k: v for k, v in params.items() if k in accepted[name]})
        if name in REWARD_ALIASES:
            func.__name__ = f"{name}_reward"  # type: ignore[attr-defined]  (open-r1's logged name)
        funcs.append(func)
    return funcs


def build_reward_funcs(
    names: Sequence[str],
    params: dict[str, Any],
    rlt_config: Any = None,
    *,
    prompt_style: str | None = None,
    max_completion_length: int | None = None,
) -> list[RewardFn]:
    """The rewards of a GRPO run, in the order of `names`: what train/grpo.py hands to `GRPOTrainer`.

    The rewards that parse completions do so in `prompt_style` (the one the GRPO prompts use), `soft_overlong`
    defaults its limit to the trainer's `max_completion_length`, and `rlt` is built from `rlt_config`.
    """
    check_reward_names(names)
    params = parse_params(params)
    factories = {n: _factory(n) for n in names}
    takes = set().union(*(_accepted(f) for f in factories.values()))
    if prompt_style and "style" in takes:
        params.setdefault("style", prompt_style)
    if max_completion_length and "max_completion_len" in takes:
        params.setdefault("max_completion_len", max_completion_length)
    if rlt_config is not None and "rlt_config" in takes:
        params.setdefault("rlt_config", rlt_config)
    return get_reward_funcs(names, **params)


# --------------------------------------------------------------------------------------------------------------
# Process supervision (issue 13): per-step rewards
# --------------------------------------------------------------------------------------------------------------


def _row_styles(columns: dict[str, Any], n: int, default: str) -> list[str]:
    styles = columns.get("prompt_style")
    return (
        [s or default for s in styles]
        if isinstance(styles, list | tuple) and len(styles) == n
        else [default] * n
    )


class StepCorrectnessReward(Reward):
    """The share of reasoning steps before the first one with a false arithmetic claim (1.0 when every claim holds;
    `curate/steps.py`): the filter's `reject_wrong_steps`, on the same `judge_step_correctness`."""

    name = "step_correctness"

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Judgement]:
        from openr1_data.curate.steps import step_verdicts
        from openr1_data.judgements import judge_step_correctness

        styles = _row_styles(columns, len(completions), self.style)
        views = self.views(completions, columns)
        return [
            judge_step_correctness(step_verdicts(v, {"prompt_style": s}, self.style))
            for v, s in zip(views, styles, strict=True)
        ]


class PRMReward(Reward):
    """A trained process reward model's score of each completion (`curate/prm_scoring.py`): P(correct) of every
    reasoning step, aggregated by `prm_aggregate` (min or prod). The PRM is loaded at the first call."""

    name = "prm"

    def __init__(
        self,
        style: str = "r1",
        prm_model: str | None = None,
        prm_aggregate: str = "min",
        prm_device: str = "cpu",
        prm_batch_size: int = 8,
    ):
        super().__init__(style)
        from openr1_data.curate.prm_scoring import AGGREGATES, PRMScorer

        if not prm_model:
            raise ValueError("the prm reward needs a trained PRM: reward_params {prm_model: path/to/prm}")
        if prm_aggregate not in AGGREGATES:
            raise ValueError(f"prm_aggregate must be one of {list(AGGREGATES)}, got {prm_aggregate!r}")
        self.prm_model, self.prm_aggregate = prm_model, prm_aggregate
        self._scorer = PRMScorer(prm_model, device=prm_device, batch_size=prm_batch_size)

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Judgement]:
        from openr1_data.curate.prm_scoring import aggregate
        from openr1_data.curate.steps import view_steps

        n = len(completions)
        problems = columns.get("problem")
        prompts = list(problems) if isinstance(problems, list | tuple) and len(problems) == n else None
        prompts = prompts or _prompt_texts(columns, n)
        styles = _row_styles(columns, n, self.style)
        views = self.views(completions, columns)
        steps = [view_steps(v, s).texts() for v, s in zip(views, styles, strict=True)]
        scores = self._scorer.score(prompts, steps)
        return [Judgement(aggregate(s, self.prm_aggregate)) for s in scores]


REWARD_FUNCS.update({"step_correctness": StepCorrectnessReward, "prm": PRMReward})
