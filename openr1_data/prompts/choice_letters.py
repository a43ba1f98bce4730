"""The letter a completion picks in a multiple-choice question (the `mcq` style's rule).

Lenient (the default) accepts the forms models write, the last one in the text winning: `\\boxed{C}`,
`\\boxed{(C)}`, `\\boxed{\\text{C}}`, `\\boxed{C) Paris}`, a box holding a choice's text, `Answer: C`, `**Answer:** (C)`,
`Answer: "C"`, `Answer: $\\text{C}$`, `Answer: \\mathbf{C}`, `Answer: \\(C\\)`, `the answer is (C)`, `the correct
option is C`, the answer labels of other languages (`ANSWER_LABELS`: `Réponse : C`, `答案：C`, `الإجابة: ب`), and a
last line that is only the letter. Strict accepts a letter in the last box only (what the `mcq` style asks for).
Letters outside the question's choices never count. Before reading, text is NFKC-normalised (full-width `Ｃ` is
`C`) and zero-width characters are removed; the native letters of multilingual MMLU (Arabic أ ب ج د, Bengali অ ব ড
ঢ) stand for A-D.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

from openr1_data.text import boxed_contents

LETTERS = "ABCDEFGHIJ"
_TEXT_WRAPPER = re.compile(
    r"\\(?:text|textbf|textit|textrm|textsf|texttt|mathrm|mathbf|mathit|mathsf|mathtt|mbox|boldsymbol)"
    r"\s*\{([^{}]*)\}"
)
# Invisible characters models (and Korean keyboards) leave between a label and its letter.
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
_INLINE_MATH = re.compile(r"\\[()\[\]]")
# The letters multilingual MMLU prompts use in place of A-D (full-width letters are folded by NFKC).
NATIVE_LETTERS = {"أ": "A", "ب": "B", "ج": "C", "د": "D", "অ": "A", "ব": "B", "ড": "C", "ঢ": "D"}
# "Answer" in the languages multilingual evaluations use; each is read like "Answer:" (a colon, or a word
# meaning "is", between the label and the letter). English keeps its own looser rule (`answer is C`, `option C`).
ANSWER_LABELS = (
    "الإجابة الصحيحة",  # Arabic: the correct answer
    "الإجابة النهائية",  # Arabic: the final answer
    "الإجابة",  # Arabic
    "إجابة",
    "الجواب",
    "উত্তর",  # Bengali
    "答案",  # Chinese
    "答复",
    "答",
    "Réponse",  # French
    "Antwort",  # German
    "उत्तर",  # Hindi
    "Jawaban",  # Indonesian
    "Risposta",  # Italian
    "答え",  # Japanese
    "回答",
    "解答",
    "정답",  # Korean
    "답변",
    "답",
    "Resposta",  # Portuguese
    "Respuesta",  # Spanish
    "Jibu",  # Swahili
    "Ìdáhùn",  # Yoruba
    "Idahun",
    "Ответ",  # Russian
    "Antwoord",  # Dutch
    "Cevap",  # Turkish
    "Đáp án",  # Vietnamese
    "คำตอบ",  # Thai
)
# Words for "is" that may stand between a label and its letter (答案是 C, La réponse est C, 정답은 C).
_COPULAS = (
    "是",
    "为",
    "為",
    "は",
    "은",
    "는",
    "이",
    "est",
    "es",
    "é",
    "è",
    "ist",
    "lautet",
    "adalah",
    "ni",
    "là",
    "हैं",
    "है",
)
_COLON = "[:：ঃ]"
_OPENERS = "\\s*_$\"'“”‘’«»「」『』"


def choice_letters(count: int | None) -> str:
    """The letters of a question with `count` choices (A-D when unknown)."""
    if count is None or count < 1:
        return LETTERS[:4]
    if count > len(LETTERS):
        raise ValueError(f"at most {len(LETTERS)} choices are supported, got {count}")
    return LETTERS[:count]


def _clean(text: str) -> str:
    """Full-width forms folded, invisible characters dropped, `\\text{C}`-style wrappers and `\\( \\)` removed."""
    text = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    return _INLINE_MATH.sub(" ", _TEXT_WRAPPER.sub(r"\1", text))


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", _clean(text)).strip(" \t\n$*_.:\"'“”‘’«»").strip()


def _letter_class(letters: str) -> str:
    """A regex class of `letters` and the native letters that stand for them."""
    return "[" + letters + "".join(n for n, latin in NATIVE_LETTERS.items() if latin in letters) + "]"


def _latin(letter: str) -> str:
    return NATIVE_LETTERS.get(letter, letter)


# After a letter: not the start of a word (a letter, a digit, or a mark of the native scripts).
_LETTER_END = r"(?![^\W_]|[\u0600-\u06ff\u0980-\u09ff])"


@lru_cache(maxsize=64)
def _patterns(letters: str) -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(boxed content, answer statement, last line) patterns for one set of letters."""
    letter = _letter_class(letters)
    boxed = re.compile(rf"\(?\s*({letter})\s*\)?(?:\s*[.):\-]\s*.*)?", re.DOTALL)
    labels = "|".join(re.escape(unicodedata.normalize("NFKC", label)) for label in ANSWER_LABELS)
    copulas = "|".join(re.escape(word) for word in _COPULAS)
    statement = re.compile(
        rf"(?:(?i:answer|option|choice)(?:\s+(?i:is|would be|will be))?\s*{_COLON}?"
        rf"|(?i:{labels})\s*(?:(?i:{copulas})\s*{_COLON}?|{_COLON}))"
        rf"[{_OPENERS}]*\(?\s*({letter})\s*\)?{_LETTER_END}"
    )
    last_line = re.compile(rf"[\W_]*\(?({letter})\)?[\W_]*")
    return boxed, statement, last_line


def _boxed_letter(content: str, letters: str, choices: Sequence[str] | None) -> str | None:
    content = _normalise(content)
    match = _patterns(letters)[0].fullmatch(content)
    if match:
        return _latin(match.group(1))
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
    _, statement, last_line = _patterns(letters)
    text = _clean(text)
    matches = list(statement.finditer(text))
    if matches:
        return _latin(matches[-1].group(1))
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if lines:
        last = last_line.fullmatch(lines[-1])
        if last:
            return _latin(last.group(1))
    return None
