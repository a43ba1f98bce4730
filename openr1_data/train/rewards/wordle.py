"""Wordle rewards (the GRPO course's three): `wordle_format`, `wordle_feedback` and `wordle_info_gain`, the verdicts
of `curate/wordle_verify.py` on completions of the `wordle` prompt style. The rows come from `--problems wordle`
(`sources/wordle.py`); their `wordle_history` column (the guesses so far and their feedback) reaches the rewards as
a keyword argument.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from openr1_data.curate.wordle_verify import (
    judge_wordle_feedback,
    judge_wordle_format,
    judge_wordle_info_gain,
)
from openr1_data.prompts.styles import ParsedCompletion
from openr1_data.sources.wordle import HISTORY, PROMPT_STYLE, History, read_history
from openr1_data.train.rewards.base import Reward, per_row
from openr1_data.verdicts import Verdict


class WordleReward(Reward):
    """Base of the Wordle rewards: one verdict per completion from its parsed guess and its row's history."""

    name = "wordle"
    verdict: Callable[[ParsedCompletion, History], Verdict]

    def __init__(self, style: str = PROMPT_STYLE):
        super().__init__(style)

    def judge(self, completions: Sequence[Any], **columns: Any) -> list[Verdict]:
        histories = columns.get(HISTORY)
        if not per_row(histories, len(completions)):
            raise ValueError(
                f"the {self.name} reward needs a `{HISTORY}` column (the game so far): train on `--problems wordle` "
                "rows (openr1_data/sources/wordle.py)"
            )
        assert histories is not None  # per_row checked it
        views = self.views(completions, columns)
        return [
            type(self).verdict(view.parsed, read_history(history))
            for view, history in zip(views, histories, strict=True)
        ]


def _format_only(parsed: ParsedCompletion, history: History) -> Verdict:
    return judge_wordle_format(parsed)


class WordleFormatReward(WordleReward):
    """1 for `<think>…</think><guess>WORD</guess>` with an accepted five-letter word; 0.5 for a five-letter non-word,
    0.25 for other tag content, 0 without a closed think block and exactly one guess block."""

    name = "wordle_format"
    verdict = staticmethod(_format_only)


class WordleFeedbackReward(WordleReward):
    """The share of the clues so far that the guess agrees with (1 = consistent with every clue); 0 for an invalid
    or repeated guess."""

    name = "wordle_feedback"
    verdict = staticmethod(judge_wordle_feedback)


class WordleInfoGainReward(WordleReward):
    """The guess's normalised reduction of the candidate set, expected over the secrets the clues leave
    (1 - E[log left after] / log left before); 0 for an invalid guess."""

    name = "wordle_info_gain"
    verdict = staticmethod(judge_wordle_info_gain)
