"""Verdicts on reasoning-gym rows: the task's own scorer, the same for the verify stage and the `reasoning_gym`
reward. A score of 1 is correct; partial credit (some tasks give it) is kept as the reward's value."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from openr1_data.text import last_boxed


def gym_answer(predicted: str | None, final: str | None) -> str | None:
    """The answer to score: the parsed `\\boxed{}` answer, else the text after the reasoning (stripped)."""
    if predicted is not None and str(predicted).strip():
        return str(predicted).strip()
    if final is None:
        return None
    boxed = last_boxed(final)
    text = (boxed if boxed is not None else final).strip()
    return text or None


def gym_scores(entries: Sequence[str | None], answers: Sequence[str | None]) -> list[float | None]:
    """Each answer's score by its task's scorer (`gym_entry` JSON per row); None when a row has no entry."""
    import reasoning_gym

    scores: list[float | None] = []
    for entry_json, answer in zip(entries, answers, strict=True):
        if not entry_json:
            scores.append(None)
            continue
        entry = json.loads(entry_json)
        if answer is None:
            scores.append(0.0)
            continue
        task = entry.get("metadata", {}).get("source_dataset")
        scorer: Any = reasoning_gym.get_score_answer_fn(task)  # typed without its parameters upstream
        try:
            scores.append(float(scorer(answer=answer, entry=entry)))
        except Exception:  # a scorer that cannot read an answer has given it no credit
            scores.append(0.0)
    return scores


def gym_verdicts(
    entries: Sequence[str | None], answers: Sequence[str | None], missing_answer_is_wrong: bool = True
) -> list[tuple[bool | None, str | None]]:
    """(correct, verify_error) per row: correct when the task's scorer gives full credit."""
    verdicts: list[tuple[bool | None, str | None]] = []
    for score, answer in zip(gym_scores(entries, answers), answers, strict=True):
        if score is None:
            verdicts.append((None, "gold_missing"))
        elif answer is None:
            verdicts.append((False if missing_answer_is_wrong else None, "no_answer"))
        else:
            verdicts.append((score >= 1.0, None))
    return verdicts
