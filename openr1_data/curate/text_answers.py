"""Answers written in words ("yes", "forty two", "Alice", "no solution"): compared as text, never as algebra.

math-verify reads a bare answer as LaTeX, so `forty two` becomes the product f*o*r*t*y*t*w*o and equals
`two forty`. `AnswerVerifier.check` asks `text_gold(gold)` first: a gold in words is compared with the answer by
its normalised words (`same_text`), and an answer that is math (digits, LaTeX) cannot be compared with it at all.

What counts as words: only letters with spaces, hyphens, apostrophes or sentence punctuation (a whole-answer
`\\text{}`-style wrapper and math delimiters are unwrapped first), with at least one token that is a word rather
than a product of variables: four letters or more, a capitalised name (`Bob`), a short word from `_SHORT_WORDS`,
any token of a multi-word answer with two letters or more, or a script other than Latin and Greek. Single letters
(`B`, `x`), short lowercase runs (`ab`, `xyz`), Greek letters and function names (`sin x`, `pi`, `infinity`) stay
math, as before.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from openr1_data.dedup.normalize import words

# A whole answer inside one of these is its contents (`\text{Yes}`, `$\mathrm{Alice}$`).
_WRAPPER = re.compile(
    r"\\(?:text|textrm|textnormal|textup|textbf|textit|textsf|mathrm|mathbf|mathit|mathsf|mbox|hbox|"
    r"operatorname)\s*\{([^{}]*)\}"
)
_DELIMITERS = ("$", "\\(", "\\)", "\\[", "\\]")
# Letter runs (any script, no digits or underscore) joined only by separators a sentence uses.
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_PROSE = re.compile(r"[^\W\d_]+(?:[\s'’\-.,;:!?]+[^\W\d_]+)*")
_EDGE_PUNCTUATION = " \t\n.,;:!?\"'“”‘’«»()"
# Names math-verify reads as math: a gold made of these (and single letters) is an expression, not words.
_MATH_NAMES = frozenset(
    "pi e i inf infinity infty oo sin cos tan cot sec csc sinh cosh tanh arcsin arccos arctan log ln lg exp "
    "sqrt max min gcd lcm mod det deg lim sgn".split()
)
# Answers of two or three letters that are words, not products of variables (`no` is not n*o).
_SHORT_WORDS = frozenset(
    "yes no not nor and or the all any few one two six ten odd off on win tie dne nil non red".split()
)
_ARTICLES = frozenset({"a", "an", "the"})


def _unwrap(answer: str) -> str:
    text = unicodedata.normalize("NFKC", answer).strip()
    for delimiter in _DELIMITERS:
        text = text.replace(delimiter, " ")
    for _ in range(3):  # nested wrappers, inside out (`\textbf{\text{Yes}}`)
        unwrapped = _WRAPPER.sub(r"\1", text)
        if unwrapped == text:
            break
        text = unwrapped
    return text.strip(_EDGE_PUNCTUATION)


def _is_word(token: str, several: bool) -> bool:
    if any(not ("LATIN" in unicodedata.name(ch, "") or "GREEK" in unicodedata.name(ch, "")) for ch in token):
        return True  # another script (是, нет, نعم): a word, whatever its length
    if any("GREEK" in unicodedata.name(ch, "") for ch in token) or token.lower() in _MATH_NAMES:
        return False
    if len(token) >= 4 or token.lower() in _SHORT_WORDS:
        return True
    capitalised = len(token) >= 2 and token[0].isupper() and token[1:].islower()
    return capitalised or (several and len(token) >= 2)


def is_prose(answer: str) -> bool:
    """True when `answer` is only letters and sentence punctuation once unwrapped: no digits, operators or LaTeX."""
    return _PROSE.fullmatch(_unwrap(answer)) is not None


@lru_cache(maxsize=8192)  # asked for every trace; a run has few distinct golds
def text_gold(gold: str) -> bool:
    """True when a gold answer is written in words (see the module docstring) and must be compared as text."""
    text = _unwrap(gold)
    if _PROSE.fullmatch(text) is None:
        return False
    tokens = _LETTER_RUN.findall(text)
    return any(_is_word(token, len(tokens) > 1) for token in tokens)


def text_key(answer: str) -> tuple[str, ...]:
    """The normalised words of an answer: case, accents' forms, punctuation, wrappers and articles ignored."""
    tokens = words(_unwrap(answer))
    content = [t for t in tokens if t not in _ARTICLES]
    return tuple(content or tokens)


def same_text(gold: str, answer: str) -> bool:
    """Do two answers say the same words (`Yes` and `\\text{yes}.`; not `yes` and `sey`)?"""
    return text_key(gold) == text_key(answer)
