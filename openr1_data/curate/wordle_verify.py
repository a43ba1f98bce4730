"""Verdicts on Wordle answers (`sources/wordle.py`): the same for the `wordle_format`, `wordle_feedback` and
`wordle_info_gain` rewards and for the play evaluation (which counts a guess whose format verdict fails as invalid).

Each verdict reads the parsed completion of the `wordle` prompt style (`<think>…</think><guess>WORD</guess>`) and
the game's history. The scores, and the hacks each one closes:

- format: 1 for a closed think block, then exactly one guess block holding an accepted five-letter word; 0.5 for a
  well-formed answer whose guess is five letters but not a word of the list; 0.25 when the block holds something
  else (several words, a non-five-letter word); 0 without a closed think block or one guess block (no tags, a guess
  outside the tags, several guess blocks, an unclosed one).
- feedback: the share of the clues so far the guess agrees with: for every earlier guess, the feedback it would get
  if this guess were the secret, compared letter by letter with the feedback it got (1 = consistent with every
  clue). 1 on the first guess (nothing to contradict), 0 for an invalid guess and for repeating an earlier guess
  (it cannot be the secret: its feedback was not all green).
- info gain: the guess's normalised reduction of the candidate set (`sources.wordle.information_gain`): expected
  over the secrets still consistent with the clues, not measured against the real secret, so a lucky guess earns
  no more than an equally good unlucky one and the reward has no variance the policy cannot control. 0 for an
  invalid guess.
"""

from __future__ import annotations

from collections.abc import Sequence

from openr1_data.prompts.styles import ParsedCompletion
from openr1_data.sources.wordle import WORD_LENGTH, candidates, feedback, information_gain, is_valid_guess
from openr1_data.verdicts import Verdict

# The format score of an answer that is well formed but whose guess is not an accepted word.
NOT_IN_LIST_SCORE = 0.5
NOT_A_WORD_SCORE = 0.25


def judge_wordle_format(parsed: ParsedCompletion) -> Verdict:
    """1 for `<think>…</think><guess>WORD</guess>` with an accepted five-letter word; partial or no credit else."""
    if parsed.parse_issue is not None or parsed.predicted_answer is None:
        return Verdict(0.0, parsed.parse_issue or "no_guess_tag")
    guess = parsed.predicted_answer
    if len(guess) != WORD_LENGTH or not guess.isalpha() or not guess.isascii():
        return Verdict(NOT_A_WORD_SCORE, "not_five_letters")
    if not is_valid_guess(guess):
        return Verdict(NOT_IN_LIST_SCORE, "not_in_word_list")
    return Verdict(1.0)


def valid_guess(parsed: ParsedCompletion) -> str | None:
    """The guess of an answer whose format verdict passes, else None."""
    return parsed.predicted_answer if judge_wordle_format(parsed).passed else None


def judge_wordle_feedback(parsed: ParsedCompletion, history: Sequence[tuple[str, str]]) -> Verdict:
    """The share of the clues of `history` the guess agrees with (letter by letter); 0 for an invalid or repeated
    guess."""
    guess = valid_guess(parsed)
    if guess is None:
        return Verdict(0.0, "invalid_guess")
    if any(guess == earlier for earlier, _ in history):
        return Verdict(0.0, "repeated_guess")
    if not history:
        return Verdict(1.0)
    agree = sum(
        a == b for earlier, marks in history for a, b in zip(feedback(earlier, guess), marks, strict=True)
    )
    share = agree / (WORD_LENGTH * len(history))
    return Verdict(share, None if share == 1.0 else "inconsistent_guess")


def judge_wordle_info_gain(parsed: ParsedCompletion, history: Sequence[tuple[str, str]]) -> Verdict:
    """The guess's normalised information gain over the secrets consistent with `history`; 0 when invalid."""
    guess = valid_guess(parsed)
    if guess is None:
        return Verdict(0.0, "invalid_guess")
    remaining = candidates(history)
    if not remaining:  # a history no answer fits (a user's own rows): nothing to measure
        return Verdict(None, "no_candidates")
    return Verdict(information_gain(guess, remaining))
