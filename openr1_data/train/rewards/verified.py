"""Rewards whose verdict is checked, not estimated: the gold answer (math-verify, multiple-choice letters), the
problem's tests (the code sandbox) and exact arithmetic in every reasoning step: the verify stage's judgements.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from openr1_data.curate.answer_verifier import DEFAULT_FALLBACK_CHARS, DEFAULT_TIMEOUT_SECONDS
from openr1_data.train.rewards.base import Reward, needed_tokens, per_row, row_styles
from openr1_data.verdicts import (
    TraceView,
    Verdict,
    accuracy_inputs,
    cosine_score,
    judge_accuracy,
    kimi_length_scores,
)


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

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        views = self.views(completions, columns)
        return [judge_accuracy(ok, err) for ok, err in self.verdicts(views, columns)]


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

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        views = self.views(completions, columns)
        out = []
        for view, (ok, err) in zip(views, self.verdicts(views, columns), strict=True):
            acc = judge_accuracy(ok, err)
            if ok is None:
                out.append(acc)
            else:
                score = cosine_score(ok, needed_tokens(view, self.name), self.cosine_max_len, **self.values)
                out.append(Verdict(score, acc.reason))
        return out


class LengthReward(AccuracyReward):
    """Kimi 1.5 length reward, computed among the completions of the same prompt: the shortest correct get +0.5,
    the longest -0.5; wrong answers never get a bonus. Lengths in tokens (characters outside TRL)."""

    name = "length"

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        views = self.views(completions, columns)
        verdicts = self.verdicts(views, columns)
        lengths = [v.tokens if v.tokens is not None else len(v.completion) for v in views]
        groups: dict[str, list[int]] = {}
        for i, key in enumerate(_group_keys(columns, len(views))):
            groups.setdefault(key, []).append(i)
        out: list[Verdict | None] = [None] * len(views)
        for idx in groups.values():
            scores = kimi_length_scores([lengths[i] for i in idx], [verdicts[i][0] for i in idx])
            for i, score in zip(idx, scores, strict=True):
                out[i] = Verdict(score, judge_accuracy(*verdicts[i]).reason)
        return out  # type: ignore[return-value]


def _group_keys(columns: dict[str, Any], n: int) -> list[str]:
    """Which completions answer the same prompt: TRL's `prompts`, else problem_id / problem columns."""
    for name in ("prompts", "problem_id", "problem"):
        values = columns.get(name)
        if isinstance(values, list | tuple) and len(values) == n:
            return [v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str) for v in values]
    return [""] * n


def _mcq_choices(columns: dict[str, Any], n: int) -> dict[int, list | None]:
    """The multiple-choice rows of a call (by `sources.domains.row_domain`) and their choices."""
    from openr1_data.sources.domains import row_domain

    names = ("domain", "tests", "choices", "prompt_style")
    present = {k: columns[k] for k in names if per_row(columns.get(k), n)}
    if not present:
        return {}
    found = {}
    for i in range(n):
        row = {k: v[i] for k, v in present.items()}
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

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        from openr1_data.curate.code_verify import codes_of, judge_code, verify_code

        tests = columns.get("tests")
        if not per_row(tests, len(completions)):
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


class StepCorrectnessReward(Reward):
    """The share of reasoning steps before the first one with a false arithmetic claim (1.0 when every claim holds;
    `curate/steps.py`): the filter's `reject_wrong_steps`, on the same `judge_step_correctness`."""

    name = "step_correctness"

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        from openr1_data.curate.steps import step_verdicts
        from openr1_data.verdicts import judge_step_correctness

        styles = row_styles(columns, len(completions), self.style)
        views = self.views(completions, columns)
        return [
            judge_step_correctness(step_verdicts(v, {"prompt_style": s}, self.style))
            for v, s in zip(views, styles, strict=True)
        ]


class ReasoningGymReward(Reward):
    """A reasoning-gym row's score by its task's own scorer (1.0 right, partial credit where the task gives it,
    0.0 wrong or no answer; None for a row without a `gym_entry`): the verify stage's verdict on the same rows
    (`curate/gym_verify.py`). For problems from `--problems reasoning_gym:TASK`."""

    name = "reasoning_gym"

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        from openr1_data.curate.gym_verify import gym_answer, gym_scores
        from openr1_data.schema import GYM_ENTRY

        entries = columns.get(GYM_ENTRY)
        if not isinstance(entries, list | tuple):
            raise ValueError(
                f"the {self.name} reward needs the `{GYM_ENTRY}` column of reasoning-gym problems "
                "(--problems reasoning_gym:TASK writes it); TRL passes dataset columns to reward functions"
            )
        views = self.views(completions, columns)
        answers = [gym_answer(v.parsed.predicted_answer, v.parsed.final) for v in views]
        return [
            Verdict(score, None if score is None or score >= 1.0 else "incorrect")
            for score in gym_scores(list(entries), answers)
        ]
