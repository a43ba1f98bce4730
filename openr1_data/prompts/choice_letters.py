"""The letter a completion picks in a multiple-choice question (the `mcq` style's rule).

Lenient (the default) accepts the forms models write, the last one in the text winning: `\\boxed{C}`,
`\\boxed{(C)}`, `\\boxed{\\text{C}}`, `\\boxed{C) Paris}`, a box holding a choice's text, `Answer: C`, `**Answer:** (C)`,
`the answer is (C)`, `the correct option is C`, and a last line that is only the letter. Strict accepts a letter in
the last box only (what the `mcq` style asks for). Letters outside the question's choices never count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from openr1_data.text import boxed_contents

LETTERS = "ABCDEFGHIJ"
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")


def choice_letters(count: int | None) -> str:
    """The letters of a question with `count` choices (A-D when unknown)."""
    if count is None or count < 1:
        return LETTERS[:4]
    if count > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} choices are supported, got {count}")
    return LETTERS[:count]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", _TEXT_WRAPPER.sub(r"\1", text)).strip(" \t\n$*_.:").strip()


def _boxed_letter(content: str, letters: str, choices: Sequence[str] | None) -> str | None:
    content = _normalise(content)
    match = re.fullmatch(rf"\(?\s*([{letters}])\s*\)?(?:\s*[.):\-]\s*.*)?", content, re.DOTALL)
    if match:
        return match.group(1)
    if choices:  # the box holds a choice's text instead of its letter
        wanted = content.casefold()
        hits = [
            letters[i]
            for i, c in enumerate(choices[: len(letters)])
            if _normalise(str(c)).casefold() == wanted
        ]
        if len(hits) == 1:
            return hits[0]
    return None


def extract_choice(
    text: str | None, letters: str = "ABCD", *, strict: bool = False, choices: Sequence[str] | None = None
) -> str | None:
    """The chosen letter (one of `letters`) or None. See the module docstring for the accepted forms."""
    if not text:
        return None
    for content in reversed(boxed_contents(text)):
        letter = _boxed_letter(content, letters, None if strict else choices)
        if letter is not None:
            return letter
        if strict:
            return None  # the last box is the answer; it names no choice
    if strict:
        return None
    statement = re.compile(
        rf"(?i:answer|option|choice)(?:\s+(?i:is|would be|will be))?\s*[:：]?[\s*_]*"
        rf"(?:\$\s*)?\(?\s*([{letters}])\s*\)?(?![A-Za-z0-9])"
    )
    matches = list(statement.finditer(text))
    if matches:
        return matches[-1].group(1)
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines:
        last = re.fullmatch(rf"[\W_]*\(?([{letters}])\)?[\W_]*", lines[-1])
        if last:
            return last.group(1)
    return None
