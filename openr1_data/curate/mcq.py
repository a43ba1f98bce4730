"""Verify multiple-choice traces: the letter a trace picks against the gold letter (the `accuracy` reward shares it).

The letter is read from a trace's final part with the `mcq` style's rule (`prompts/choice_letters.py`): lenient by
default (`\\boxed{C}`, `Answer: C`, `the answer is (C)`, ...), or strict (`--mcq_strict`: a letter in the last
`\\boxed{}` only). Letters outside the row's choices never count. Verdicts use the same error names as math:
`gold_missing` (no valid gold letter: correct is None), `no_answer` (no letter: wrong, or None when
`missing_answer_is_wrong` is off).
"""

from __future__ import annotations

from collections.abc import Sequence

from openr1_data.prompts.choice_letters import LETTERS, choice_letters, extract_choice
from openr1_data.verdicts import GOLD_MISSING, NO_ANSWER


def gold_letter(gold: object, letters: str) -> str | None:
    """The gold as a letter among `letters`: a letter (`C`, `(C)`, `c`) or a 0-based index; None otherwise."""
    if isinstance(gold, bool):
        return None
    if isinstance(gold, int):
        return letters[gold] if 0 <= gold < len(letters) else None
    if isinstance(gold, str):
        text = gold.strip().strip("()").strip().upper()
        if len(text) == 1 and text in letters:
            return text
        if text.isdigit() and int(text) < len(letters):
            return letters[int(text)]
    return None


def check_choice(
    gold: object,
    text: str | None,
    choices: Sequence[str] | None = None,
    *,
    strict: bool = False,
    missing_answer_is_wrong: bool = True,
) -> tuple[bool | None, str | None]:
    """(correct, verify_error) of one trace whose final part is `text`."""
    letters = choice_letters(len(choices) if choices else None)
    expected = gold_letter(gold, letters if choices else LETTERS)
    if expected is None:
        return None, GOLD_MISSING
    picked = extract_choice(text, letters, strict=strict, choices=choices)
    if picked is None:
        return (False if missing_answer_is_wrong else None), NO_ANSWER
    return picked == expected, None


def check_choices(
    golds: Sequence[object],
    texts: Sequence[str | None],
    choices: Sequence[Sequence[str] | None],
    *,
    strict: bool = False,
    missing_answer_is_wrong: bool = True,
) -> list[tuple[bool | None, str | None]]:
    """`check_choice` over aligned columns."""
    return [
        check_choice(
            g, t, list(c) if c else None, strict=strict, missing_answer_is_wrong=missing_answer_is_wrong
        )
        for g, t, c in zip(golds, texts, choices, strict=True)
    ]
