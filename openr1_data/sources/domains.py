"""Which domain a row belongs to (math, code, mcq) and the problem layouts of the code and multiple-choice domains.

`problem_layout` (`--problem_layout`, default `auto`) picks how problem rows are read before the contract mapping:

| layout | detected by | module |
|---|---|---|
| `math` | (anything else) | `sources/problems.py`: `problem`, `solution`, `answer` |
| `humaneval` | `prompt` + `test` + `entry_point` | `sources/code_problems.py` |
| `stdio` | a stdin/stdout tests column (`test_cases`, `verification_info`, `input_output`, `official_tests`) | `sources/code_problems.py` |
| `gpqa` | `Question` + `Correct Answer` + `Incorrect Answer 1` | `sources/mcq_problems.py` |
| `mcq_choices` | a question + `choices` (a list) + `answer` | `sources/mcq_problems.py` |
| `mcq_columns` | a question + `answer_a`, `answer_b`, ... + `correct_answer` | `sources/mcq_problems.py` |

`row_domain(row)` is the rule every stage uses for a row's domain: its `domain` column when set, else `code` when it
has `tests`, `mcq` when it has `choices` or was generated with a multiple-choice prompt style, else `math`. Traces
imported from other datasets get their `domain` from their text (`trace_domain`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from datasets import Dataset, concatenate_datasets

from openr1_data.prompts.code_blocks import code_blocks
from openr1_data.prompts.styles import STYLES
from openr1_data.schema import (
    CHOICES,
    CODE,
    DOMAIN,
    DOMAINS,
    MATH,
    MCQ,
    PROBLEM,
    TESTS,
    ContractError,
    iter_rows,
)
from openr1_data.sources import code_problems, mcq_problems
from openr1_data.text import boxed_contents, final_answer

PROBLEM_LAYOUTS = ("auto", "math", "humaneval", "stdio", "gpqa", "mcq_choices", "mcq_columns")


def row_domain(row: Mapping) -> str:
    """The domain of a problem or trace row (see the module docstring)."""
    domain = row.get(DOMAIN)
    if domain in DOMAINS:
        return domain
    if isinstance(row.get(TESTS), str) and row[TESTS].strip():
        return CODE
    choices = row.get(CHOICES)
    style = STYLES.get(row.get("prompt_style") or "")
    if (isinstance(choices, list | tuple) and choices) or (style is not None and style.parser == "mcq"):
        return MCQ
    return MATH


# Lettered choices listed in a question: "(A) ..." anywhere, or "A) ...", "A. ...", "A: ..." at the start of a line.
_CHOICE_MARK = re.compile(r"\(([A-J])\)|^[ \t]*\**([A-J])[.):]\**[ \t]", re.MULTILINE)


def lists_choices(problem: str | None) -> bool:
    """Whether a question lists lettered choices (at least A and B)."""
    found = {a or b for a, b in _CHOICE_MARK.findall(problem or "")}
    return {"A", "B"} <= found


def _is_letter(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"\s*\(?[A-J]\)?\s*", value) is not None


def trace_domain(problem: str | None, final: str | None, gold: object) -> str:
    """The domain of a trace read from elsewhere (no `tests` or `choices` columns): `code` when its final part
    gives a fenced code block and no `\\boxed{}` answer, `mcq` when the question lists lettered choices and the gold
    (or, without a gold, the boxed answer) is a letter, else `math`."""
    if code_blocks(final or "") and not boxed_contents(final or ""):
        return CODE
    if lists_choices(problem):
        picked = gold if gold not in (None, "") else final_answer(final)
        if _is_letter(picked):
            return MCQ
    return MATH


def dataset_domains(dataset: Dataset) -> list[str]:
    """`row_domain` of every row, reading only the columns the rule needs."""
    needed = [c for c in (DOMAIN, TESTS, CHOICES, "prompt_style") if c in dataset.column_names]
    if not needed:
        return [MATH] * len(dataset)
    view = dataset.select_columns(needed)
    domains = []
    for i, row in enumerate(iter_rows(view)):
        given = row.get(DOMAIN)
        if isinstance(given, str) and given.strip() and given not in DOMAINS:
            raise ContractError(
                f"row {i}: column `{DOMAIN}` is {given!r}; it must be one of {list(DOMAINS)} (or empty, to derive "
                "it from the row: `tests` = code, `choices` = mcq, else math)"
            )
        domains.append(row_domain(row))
    return domains


def detect_problem_layout(columns: Sequence[str], tests_column: str | None = None) -> str:
    """The layout of a problem dataset with these columns (`math` when no code or choice layout matches)."""
    columns = list(columns)
    if DOMAIN in columns:  # rows this project already mapped (a loaded problem set): nothing to map again
        return "math"
    if all(c in columns for c in code_problems.HUMANEVAL_COLUMNS):
        return "humaneval"
    if code_problems.first_column(columns, code_problems.STDIO_TESTS_COLUMNS, tests_column) is not None:
        return "stdio"
    if all(c in columns for c in mcq_problems.GPQA_COLUMNS):
        return "gpqa"
    has_question = any(c in columns for c in mcq_problems.QUESTION_COLUMNS)
    if has_question and CHOICES in columns:
        return "mcq_choices"
    if has_question and "correct_answer" in columns and len(mcq_problems.lettered_columns(columns)) >= 2:
        return "mcq_columns"
    return "math"


def apply_problem_layout(
    raw: Dataset,
    layout: str,
    *,
    problem_column: str = PROBLEM,
    solution_column: str | None = None,
    answer_column: str | None = None,
    tests_column: str | None = None,
    shuffle_choices: bool = True,
) -> tuple[Dataset, list[str | None] | None, str]:
    """Map rows of a code or multiple-choice layout to contract columns.

    Returns the mapped rows, one rejection reason per row (None = keep; None for the math layout, which
    `normalize_problems` handles alone) and the layout used. Unknown layouts and missing columns raise first.
    """
    if layout not in PROBLEM_LAYOUTS:
        raise ContractError(f"--problem_layout {layout!r} is unknown; choose one of {list(PROBLEM_LAYOUTS)}")
    columns = raw.column_names
    if layout == "auto":
        layout = detect_problem_layout(columns, tests_column)
    if layout == "math":
        return raw, None, layout
    convert, sources = _converter(
        layout, columns, problem_column, solution_column, answer_column, tests_column, shuffle_choices
    )
    reasons: list[str | None] = []

    def mapped(row: dict) -> dict:
        out, reason = convert(row)
        reasons.append(reason)
        return out

    rows = [mapped(row) for row in iter_rows(raw)]
    # The source columns a layout read are replaced by the contract ones; other user columns stay.
    consumed = sources | {PROBLEM, "solution", "answer", DOMAIN, TESTS, CHOICES, "choice_order", "problem_id"}
    fields = sorted({k for row in rows for k in row})
    contract = Dataset.from_dict({name: [row.get(name) for row in rows] for name in fields})
    others = [c for c in columns if c not in consumed]
    if not others:
        return contract, reasons, layout
    kept = concatenate_datasets([raw.select_columns(others).flatten_indices(), contract], axis=1)
    return kept, reasons, layout


def _converter(
    layout: str,
    columns: list[str],
    problem_column: str,
    solution_column: str | None,
    answer_column: str | None,
    tests_column: str | None,
    shuffle: bool,
) -> tuple[Callable[[dict], tuple[dict, str | None]], set[str]]:
    """The row converter of a layout and the source columns it reads."""

    def need(names: Sequence[str | None], what: str) -> None:
        missing = [n for n in names if n is None or n not in columns]
        if missing:
            raise ContractError(
                f"problems: layout {layout!r} needs {what}; the dataset has {columns}. Pass --problem_layout "
                f"with the right layout ({', '.join(PROBLEM_LAYOUTS)}) or name the columns."
            )

    if layout == "humaneval":
        need(list(code_problems.HUMANEVAL_COLUMNS), "columns prompt, test and entry_point")
        return code_problems.humaneval_row, {"prompt", "test", "canonical_solution"}  # entry_point stays
    if layout == "stdio":
        text = code_problems.first_column(columns, code_problems.PROBLEM_TEXT_COLUMNS, problem_column)
        tests = code_problems.first_column(columns, code_problems.STDIO_TESTS_COLUMNS, tests_column)
        need(
            [text],
            f"a problem text column (--problem_column; or one of {list(code_problems.PROBLEM_TEXT_COLUMNS)})",
        )
        need([tests], f"a tests column (--tests_column; or one of {list(code_problems.STDIO_TESTS_COLUMNS)})")
        assert text is not None and tests is not None  # `need` raised otherwise
        solution = code_problems.first_column(columns, code_problems.SOLUTION_COLUMNS, solution_column)
        convert = partial(
            code_problems.stdio_row, problem_column=text, tests_column=tests, solution_column=solution
        )
        return convert, {text, tests, solution}  # type: ignore[return-value]
    if layout == "gpqa":
        need(list(mcq_problems.GPQA_COLUMNS), "columns Question, Correct Answer, Incorrect Answer 1..N")
        wrong = {c for c in columns if c.startswith("Incorrect Answer ")}
        return partial(mcq_problems.gpqa_row, shuffle=shuffle), {"Question", "Correct Answer", *wrong}
    question = code_problems.first_column(columns, mcq_problems.QUESTION_COLUMNS, problem_column)
    need([question], f"a question column (--problem_column; or one of {list(mcq_problems.QUESTION_COLUMNS)})")
    assert question is not None  # `need` raised otherwise
    if layout == "mcq_choices":
        answer = answer_column or "answer"
        need([CHOICES, answer], "a `choices` list column and an answer column (--answer_column)")
        convert = partial(
            mcq_problems.choices_row, question_column=question, answer_column=answer, shuffle=shuffle
        )
        return convert, {question, answer}  # type: ignore[return-value]
    answer = answer_column or "correct_answer"
    need([answer], "columns answer_a, answer_b, ... and a correct-letter column (--answer_column)")
    convert = partial(
        mcq_problems.columns_row, question_column=question, answer_column=answer, shuffle=shuffle
    )
    return convert, {question, answer, *mcq_problems.lettered_columns(columns)}  # type: ignore[return-value]
