"""Per-trace verdicts: the single source of truth for "is this trace correct / well formed / usable".

Every verdict is a pure function of one trace that returns a `Verdict(score, reason)`:

- `reason` is None when the trace passes, else a short rejection reason. The filters (`filters.py`,
  `selection.py`) reject a trace exactly when the reason is not None.
- `score` is the value the GRPO reward of the same name returns (`rewards.py`), None when it cannot be judged.

Because both sides call the same function on the same parsed view of a trace, a filter and its reward cannot
disagree. Completions are parsed by the prompt style's own parser (`prompts/styles.py`), the one generation used.

The math answer check itself (math-verify with caches and timeouts) is `curate/answer_verifier.py`; this module
only names its verdicts (`GOLD_MISSING`, `NO_ANSWER`, ...) and turns one into a `Verdict` (`judge_accuracy`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openr1_data.prompts.styles import (
    MISSING_ANSWER_ISSUES,
    PARSERS,
    RLT_EXPLANATION_CLOSE,
    RLT_EXPLANATION_OPEN,
    STYLES,
    ParsedCompletion,
    answer_block,
)
from openr1_data.text import THINK_CLOSE, THINK_OPEN

# Defaults shared by the filter configs and the reward factories, so both sides judge alike out of the box.
DEFAULT_REPETITION_NGRAM = 8
DEFAULT_MAX_REPETITION_SHARE = 0.3
DEFAULT_MIN_LANGUAGE_SHARE = 0.5
DEFAULT_MIN_STEPS = 3


@dataclass(frozen=True)
class Verdict:
    """The verdict on one trace: `score` for the reward, `reason` (None = pass) for the filter."""

    score: float | None
    reason: str | None = None

    @property
    def passed(self) -> bool:
        return self.reason is None


# --------------------------------------------------------------------------------------------------------------
# A parsed view of one trace
# --------------------------------------------------------------------------------------------------------------


def parser_kind(prompt_style: str | None, default_style: str = "r1") -> str:
    """The output parser ("think", "rlt", "answer_tag", ...) of a prompt style name; unknown or file styles parse
    as "think"."""
    style = STYLES.get(prompt_style or default_style)
    return style.parser if style is not None else "think"


def completion_text(completion: Any) -> str:
    """Plain text of a completion: a string, or TRL's conversational `[{"role": ..., "content": ...}]`."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return str(completion.get("content") or "")
    if isinstance(completion, list | tuple):
        return "".join(completion_text(m) for m in completion)
    if completion is None:
        return ""
    raise TypeError(
        f"completion must be a string or a list of chat messages, got {type(completion).__name__}"
    )


@dataclass(frozen=True)
class TraceView:
    """One trace as every verdict sees it: raw text, parser output and the columns verdicts use."""

    completion: str
    kind: str
    parsed: ParsedCompletion
    gold: str | None = None
    finish_reason: str | None = None
    tokens: int | None = None
    problem: str | None = None

    @property
    def reasoning_text(self) -> str:
        """The reasoning (think block / explanation) when there is one, else the whole completion."""
        return self.parsed.reasoning or self.completion


def view_trace(
    row: Mapping[str, Any],
    *,
    completion: Any = None,
    tokens: int | None = None,
    default_style: str = "r1",
) -> TraceView:
    """Build the `TraceView` of a dataset row (or of a reward call: `completion` + the row's columns).

    The completion is parsed with the style's own parser, exactly as generation parsed it.
    """
    text = completion_text(row.get("completion") if completion is None else completion)
    kind = parser_kind(row.get("prompt_style"), default_style)
    parsed = PARSERS[kind](text, row)
    if tokens is None:
        tokens = row.get("completion_tokens")
    gold = row.get("answer")
    return TraceView(
        completion=text,
        kind=kind,
        parsed=parsed,
        gold=None if gold is None else str(gold),
        finish_reason=row.get("finish_reason"),
        tokens=None if tokens is None else int(tokens),
        problem=row.get("problem"),
    )


# --------------------------------------------------------------------------------------------------------------
# Format verdicts
# --------------------------------------------------------------------------------------------------------------

_THINK_TAGS = (THINK_OPEN, THINK_CLOSE, "think")
_TAGS = {
    "think": _THINK_TAGS,
    "answer_tag": _THINK_TAGS,
    "rlt": (RLT_EXPLANATION_OPEN, RLT_EXPLANATION_CLOSE, "explanation"),
}


def judge_think_block(view: TraceView) -> Verdict:
    """Think block (r1) or explanation (rlt) opened at most once, closed exactly once, and not empty.

    Score (the `tag_count` reward): the share of those three conditions that hold, so 1.0 exactly when it passes;
    a completion without any tag (or empty) has no block at all and scores 0, not the 1/3 "opened at most once".
    """
    open_tag, close_tag, name = _TAGS.get(view.kind, _THINK_TAGS)
    opens, closes = view.completion.count(open_tag), view.completion.count(close_tag)
    # The opening tag may be absent: chat templates of R1 distills (and the RLT prefill) put it in the prompt.
    nonempty = closes >= 1 and bool((view.parsed.reasoning or "").strip())
    conditions = (opens <= 1 and opens + closes > 0, closes == 1, nonempty)
    score = sum(conditions) / len(conditions)
    if closes == 0:
        if name == "think" and opens == 0:  # every think-block style (r1, answer_tag, r1_code, mcq)
            return Verdict(score, "no_think")
        return Verdict(score, f"unclosed_{name}")
    if closes > 1:
        return Verdict(score, f"multiple_{name}_close")
    if opens > 1:
        return Verdict(score, f"multiple_{name}_open")
    if not nonempty:
        return Verdict(score, f"empty_{name}")
    return Verdict(1.0)


def judge_answer_present(view: TraceView) -> Verdict:
    """A final answer is present: a `\\boxed{}` after the think block (r1), one non-empty `<answer>` block
    (answer_tag), the reference solution (rlt), a fenced Python block (r1_code), a choice's letter (mcq)."""
    if view.kind == "rlt":
        ok = bool((view.parsed.final or "").strip())
        return Verdict(1.0) if ok else Verdict(0.0, "empty_solution")
    if view.kind == "answer_tag":
        _, issue = answer_block(view.parsed.final or "")
        return Verdict(1.0) if issue is None else Verdict(0.0, issue)
    ok = bool((view.parsed.predicted_answer or "").strip())
    return Verdict(1.0) if ok else Verdict(0.0, MISSING_ANSWER_ISSUES.get(view.kind, "no_boxed_answer"))


def judge_format(view: TraceView) -> Verdict:
    """Well-formed output for its style: the think-block check and the answer check both pass (score 1 or 0)."""
    for verdict in (judge_think_block(view), judge_answer_present(view)):
        if not verdict.passed:
            return Verdict(0.0, verdict.reason)
    return Verdict(1.0)


def judge_finished(view: TraceView) -> Verdict:
    """The generation ended on its own (`finish_reason == "stop"`), not at the token limit."""
    if view.finish_reason == "stop":
        return Verdict(1.0)
    return Verdict(0.0, f"finish_{view.finish_reason or 'unknown'}")


# --------------------------------------------------------------------------------------------------------------
# Length verdicts
# --------------------------------------------------------------------------------------------------------------


def judge_min_length(tokens: int, min_tokens: int) -> Verdict:
    """At least `min_tokens` completion tokens."""
    return Verdict(1.0) if tokens >= min_tokens else Verdict(0.0, "too_short")


def judge_overlong(tokens: int, max_tokens: int, soft_cache: int = 0) -> Verdict:
    """DAPO soft overlong punishment (Eq. 13) and the hard length bound.

    Score: 0 up to `max_tokens - soft_cache`, then a linear ramp down to -1 at `max_tokens`, -1 beyond.
    Reason "too_long" exactly when `tokens > max_tokens` (the region DAPO punishes fully).
    """
    if tokens > max_tokens:
        return Verdict(-1.0, "too_long")
    start = max_tokens - soft_cache
    if tokens <= start or soft_cache <= 0:
        return Verdict(0.0)
    return Verdict((start - tokens) / soft_cache)


def kimi_length_scores(lengths: list[int], correct: list[bool | None]) -> list[float | None]:
    """Kimi 1.5 length reward over the samples of ONE problem: shorter is better, never a bonus when wrong.

    lambda = 0.5 - (len - min) / (max - min); correct -> lambda, wrong -> min(0, lambda), unknown -> None.
    """
    known = [n for n, c in zip(lengths, correct, strict=True) if c is not None]
    if not known:
        return [None] * len(lengths)
    lo, hi = min(known), max(known)
    scores: list[float | None] = []
    for n, c in zip(lengths, correct, strict=True):
        if c is None:
            scores.append(None)
            continue
        lam = 0.0 if hi == lo else 0.5 - (n - lo) / (hi - lo)
        scores.append(lam if c else min(0.0, lam))
    return scores


def cosine_score(
    correct: bool,
    tokens: int,
    max_len: int,
    *,
    min_value_wrong: float = -1.0,
    max_value_wrong: float = -0.5,
    min_value_correct: float = 0.5,
    max_value_correct: float = 1.0,
) -> float:
    """Cosine-scaled correctness ("Demystifying Long CoT", App. C.1): short correct best, short wrong worst."""
    progress = min(tokens / max_len, 1.0)  # clamp: past max_len the cosine would climb back up
    cosine = math.cos(progress * math.pi)
    lo, hi = (min_value_correct, max_value_correct) if correct else (max_value_wrong, min_value_wrong)
    return lo + 0.5 * (hi - lo) * (1.0 + cosine)


# --------------------------------------------------------------------------------------------------------------
# Quality verdicts
# --------------------------------------------------------------------------------------------------------------


# Scripts written without spaces between words: each character is a token (a word n-gram would be a whole line).
_UNSPACED = (
    "\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
)
_TOKEN = re.compile(f"[{_UNSPACED}]|[^\\s{_UNSPACED}]+")


def repetition_tokens(text: str) -> list[str]:
    """The tokens repetition is counted on: words, and single characters of unspaced scripts (Chinese, Japanese,
    Thai, ...), so `这个这个这个` has six tokens, not one word."""
    return _TOKEN.findall(text)


def repetition_share(text: str, ngram_size: int) -> float:
    """Share of repeated token n-grams (`repetition_tokens`): 1 - unique / total (0 for text shorter than one
    n-gram)."""
    words = repetition_tokens(text)
    total = len(words) - ngram_size + 1
    if total <= 0:
        return 0.0
    unique = len(set(zip(*(words[i:] for i in range(ngram_size)), strict=False)))
    return 1.0 - unique / total


def judge_repetition(
    text: str,
    *,
    ngram_size: int = DEFAULT_REPETITION_NGRAM,
    max_share: float = DEFAULT_MAX_REPETITION_SHARE,
    max_penalty: float = -1.0,
) -> Verdict:
    """Degenerate repetition: rejected when the share of repeated token n-grams exceeds `max_share`.

    Score: 0 up to `max_share`, then linear down to `max_penalty` at share 1 (with `max_share=0` this is the
    open-r1 / TRL repetition penalty `share * max_penalty`).
    """
    share = repetition_share(text, ngram_size)
    if share <= max_share:  # (max_share >= 1 switches the check off)
        return Verdict(0.0)
    return Verdict(max_penalty * (share - max_share) / (1.0 - max_share), "repetitive")


_STEP_MARKERS = re.compile(
    r"(?im)^[ \t]*(?:step[ \t]*\d+\b|\d+[.)][ \t]|[-*\u2022][ \t])|\b(?:first|second|third|next|then|finally),"
)


def count_steps(text: str) -> int:
    """Reasoning steps: explicit markers (Step 1, numbered or bulleted lines, First/Next/Finally,) or, if more,
    paragraphs separated by blank lines (RLT explanations separate steps that way). One paragraph is no step
    structure at all: it counts 0, so a single block of text earns no partial credit."""
    markers = len(_STEP_MARKERS.findall(text))
    paragraphs = sum(1 for p in re.split(r"\n\s*\n", text) if p.strip())
    return max(markers, paragraphs if paragraphs > 1 else 0)


def judge_steps(text: str, min_steps: int = DEFAULT_MIN_STEPS) -> Verdict:
    """At least `min_steps` reasoning steps. Score: min(1, steps / min_steps) (open-r1's reasoning_steps)."""
    if min_steps <= 0:
        return Verdict(1.0)
    steps = count_steps(text)
    score = min(1.0, steps / min_steps)
    return Verdict(score) if steps >= min_steps else Verdict(score, "too_few_steps")


# Unicode script ranges of letters; everything not listed (digits, punctuation, math symbols) is ignored.
_SCRIPTS: tuple[tuple[int, int, str], ...] = (
    (0x0041, 0x024F, "latin"),
    (0x0370, 0x03FF, "greek"),
    (0x0400, 0x052F, "cyrillic"),
    (0x0590, 0x05FF, "hebrew"),
    (0x0600, 0x06FF, "arabic"),
    (0x0900, 0x097F, "devanagari"),
    (0x0E00, 0x0E7F, "thai"),
    (0x3040, 0x30FF, "cjk"),
    (0x3400, 0x4DBF, "cjk"),
    (0x4E00, 0x9FFF, "cjk"),
    (0xAC00, 0xD7AF, "hangul"),
)
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+|\$[^$]*\$")


def script_counts(text: str) -> dict[str, int]:
    """Letters per writing system, ignoring LaTeX commands and inline math (which are Latin in every language)."""
    counts: dict[str, int] = {}
    for ch in _LATEX_COMMAND.sub(" ", text):
        if not ch.isalpha():
            continue
        code = ord(ch)
        for lo, hi, name in _SCRIPTS:
            if lo <= code <= hi:
                counts[name] = counts.get(name, 0) + 1
                break
    return counts


def judge_language(problem: str, text: str, min_share: float = DEFAULT_MIN_LANGUAGE_SHARE) -> Verdict:
    """The reasoning is written in the problem's script: at least `min_share` of its letters are in the
    problem's dominant script (a Chinese problem answered in English reasoning fails)."""
    expected = script_counts(problem)
    written = script_counts(text)
    if not expected or not written:
        return Verdict(1.0)  # nothing to compare (numbers only, or an empty reasoning caught elsewhere)
    script = max(expected, key=lambda name: expected[name])
    share = written.get(script, 0) / sum(written.values())
    return Verdict(1.0) if share >= min_share else Verdict(0.0, "language_mismatch")


# --------------------------------------------------------------------------------------------------------------
# Math answers (math-verify)
# --------------------------------------------------------------------------------------------------------------

# Reasons for correct=None (unknown), or for correct=False that are worth telling apart from a plain wrong answer.
GOLD_MISSING = "gold_missing"
GOLD_UNPARSEABLE = "gold_unparseable"
GOLD_TIMEOUT = "gold_timeout"
NO_ANSWER = "no_answer"
ANSWER_UNPARSEABLE = "answer_unparseable"
TIMEOUT = "timeout"
WORKER_CRASHED = "worker_crashed"
VERIFY_ERRORS = (
    GOLD_MISSING,
    GOLD_UNPARSEABLE,
    GOLD_TIMEOUT,
    NO_ANSWER,
    ANSWER_UNPARSEABLE,
    TIMEOUT,
    WORKER_CRASHED,
)


def judge_accuracy(correct: bool | None, error: str | None = None) -> Verdict:
    """Accuracy from a math-verify verdict: 1.0 correct, 0.0 wrong, None unknown (TRL skips None rewards).

    Reason: None when correct, "incorrect" (or the specific cause, e.g. "no_answer") when wrong, the cause when
    unknown. `selection.py` rejects on it; the `accuracy` reward returns the score.
    """
    if correct is None:
        return Verdict(None, error or "unverified")
    if correct:
        return Verdict(1.0)
    return Verdict(0.0, error or "incorrect")


# --------------------------------------------------------------------------------------------------------------
# LLM-judge scores
# --------------------------------------------------------------------------------------------------------------


def judge_rubric_score(parsed: ParsedCompletion, max_score: float) -> Verdict:
    """A rubric judge's reply as parsed by its style (`parse_score`): score / max_score in [0, 1], or None with the
    parse issue (an explanation instead of a number, an unclosed think block) - never a guess."""
    if parsed.parse_issue is not None or parsed.predicted_answer is None:
        return Verdict(None, parsed.parse_issue or "unparseable_score")
    return Verdict(float(parsed.predicted_answer) / max_score)


def accuracy_inputs(view: TraceView) -> tuple[str | None, str | None, str | None]:
    """(gold, predicted answer, final text) of a trace: what `AnswerVerifier.check` compares."""
    return view.gold, view.parsed.predicted_answer, view.parsed.final


_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")


def numbers_in(text: str) -> set[str]:
    """The numbers written in `text` (`3`, `54`, `0.5`; thousands separators are not joined)."""
    return set(_NUMBER.findall(text or ""))


def judge_explanation_grounding(
    explanation: str, solution: str, gold: str | None, min_share: float
) -> Verdict:
    """An RLT explanation against the numbers its reference solution works with (every number of the solution
    except the final answer): an explanation that uses fewer than `min_share` of them does not explain that
    solution ("The answer is 11.", "a classic logic puzzle"). Solutions without such numbers pass unjudged."""
    working = numbers_in(solution) - numbers_in(gold or "")
    if not working:
        return Verdict(None)
    share = len(working & numbers_in(explanation)) / len(working)
    return Verdict(share, None if share >= min_share else "rlt_ungrounded")


def judge_explanation_answer(agrees: bool | None) -> Verdict:
    """An RLT explanation against its reference solution: the answer the explanation states (`agrees`: the
    math-verify verdict of that answer against the gold; None when it states none or it cannot be compared).

    The solution is given to the teacher, so an RLT trace's final answer is right by construction; only what the
    explanation itself concludes says whether it explains that solution or argues for another answer.
    """
    if agrees is False:
        return Verdict(0.0, "rlt_answer_mismatch")
    return Verdict(None if agrees is None else 1.0)


# --------------------------------------------------------------------------------------------------------------
# Process supervision: per-step verdicts
# --------------------------------------------------------------------------------------------------------------


def judge_step_correctness(step_ok: Sequence[bool | None] | None) -> Verdict:
    """A trace from the verdicts on its reasoning steps (`curate/steps.py` rules, or `step_labels` from a labeler):
    True = correct, False = wrong, None = not judged.

    Reason "wrong_step" when a step is wrong. Score (the `step_correctness` reward): the share of steps before the
    first wrong one (1.0 when none is wrong), None when no step was judged.
    """
    verdicts = list(step_ok or [])
    if False in verdicts:
        return Verdict(verdicts.index(False) / len(verdicts), "wrong_step")
    if not any(v is True for v in verdicts):
        return Verdict(None)
    return Verdict(1.0)
