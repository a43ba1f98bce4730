"""Question + solution pairs in the layouts datasets use, mapped to the data contract (`problem`, `solution`,
`answer`) for RLT explanations.

| layout | columns it reads | examples |
|---|---|---|
| `problem_solution` | `problem`, `solution` (and `answer` if present) | NuminaMath, OpenR1-Math-220k |
| `question_answer` | `question`, `answer` (the answer text is the solution) | GSM8K-style worked answers |
| `conversations` | ShareGPT `conversations`: `[{from: human, value}, {from: gpt, value}]` | Bespoke-Stratos-17k, OpenThoughts |
| `messages` | chat `messages`: `[{role: user, content}, {role: assistant, content}]` | most chat SFT sets |
| `columns` | any two columns named with `--problem_column` and `--solution_column` | your own data |

`auto` (the default) picks the first layout whose columns the dataset has. In the two chat layouts the problem is
the first user turn and the solution is the last assistant turn; when that turn carries a thought block, only the
solution part is kept (the text between `<|begin_of_solution|>` and `<|end_of_solution|>`, as in Bespoke-Stratos,
or the text after `</think>`). A row whose turns are missing keeps an empty problem or solution, which the loading
or the generation stage rejects with a reason; a column of the wrong shape is an error naming the row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from datasets import Dataset

from openr1_data.funnel import StageResult
from openr1_data.prompts.styles import RLT_SOLUTION_CLOSE, RLT_SOLUTION_OPEN
from openr1_data.schema import ANSWER, PROBLEM, SOLUTION, ContractError
from openr1_data.sources.problems import ProblemSourceConfig, normalize_problems, read_source
from openr1_data.text import gold_from_solution

USER_ROLES = ("user", "human")
ASSISTANT_ROLES = ("assistant", "gpt")


@dataclass(frozen=True)
class Layout:
    """One way datasets store question + solution pairs."""

    name: str
    description: str
    columns: tuple[str, ...]  # the columns whose presence selects this layout in `auto`


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in [
        Layout("problem_solution", "columns `problem` + `solution` (NuminaMath, OpenR1-Math)", (PROBLEM, SOLUTION)),
        Layout("question_answer", "columns `question` + `answer`; the answer text is the solution", ("question", ANSWER)),
        Layout(
            "conversations",
            "ShareGPT `conversations` [{from: human|user, value}, {from: gpt|assistant, value}] (Bespoke-Stratos-17k)",
            ("conversations",),
        ),
        Layout("messages", "chat `messages` [{role: user, content}, {role: assistant, content}]", ("messages",)),
        Layout("columns", "any two columns: --problem_column NAME --solution_column NAME", ()),
    ]
}  # fmt: skip


class UnknownLayout(ContractError):
    """The pairs are in no known layout; the message lists the layouts and how to name the columns."""


def layouts_help() -> str:
    """The known layouts, one per line (for error messages and `--help`)."""
    return "\n".join(f"  {layout.name:<17} {layout.description}" for layout in LAYOUTS.values())


def detect_layout(
    columns: list[str], problem_column: str = PROBLEM, solution_column: str | None = None
) -> str:
    """The layout of a dataset with these columns; explicit column names mean `columns`."""
    if problem_column != PROBLEM or solution_column is not None:
        return "columns"
    for layout in LAYOUTS.values():
        if layout.columns and all(c in columns for c in layout.columns):
            return layout.name
    raise UnknownLayout(
        f"question/solution pairs: no known layout in columns {columns}. Known layouts:\n{layouts_help()}\n"
        "Pass --layout NAME, or name your columns: --problem_column QUESTION_COLUMN --solution_column "
        "SOLUTION_COLUMN."
    )


def solution_part(text: str) -> str:
    """The solution inside an assistant turn: between the RLT/Bespoke solution tags, after `</think>`, or all."""
    if RLT_SOLUTION_OPEN in text:
        text = text.split(RLT_SOLUTION_OPEN, 1)[1].split(RLT_SOLUTION_CLOSE, 1)[0]
    elif "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    return text.strip()


def chat_turns(
    value: object,
    row: int,
    column: str,
    role_key: str,
    text_key: str,
    *,
    what: str = "question/solution pairs",
    fix: str = "Fix the row, or pass --layout columns with --problem_column/--solution_column.",
) -> list[tuple[str, str]]:
    """(role in lower case, text) of a chat column's turns (`[{role_key: ..., text_key: ...}, ...]`); a column of
    the wrong shape is an error naming the row, the column and `fix`."""
    if not isinstance(value, list) or not all(
        isinstance(t, dict) and isinstance(t.get(role_key), str) and isinstance(t.get(text_key), str)
        for t in value
    ):
        raise ContractError(
            f"{what}: row {row}, column `{column}`: expected a list of "
            f"{{{role_key!r}: ..., {text_key!r}: ...}} turns, got {value!r:.160}. {fix}"
        )
    return [(t[role_key].lower(), t[text_key]) for t in value]


def _chat_pair(column: str, role_key: str, text_key: str) -> Callable[[dict, int], dict]:
    def pair(row: dict, index: int) -> dict:
        turns = chat_turns(row[column], index, column, role_key, text_key)
        users = [text for role, text in turns if role in USER_ROLES]
        answers = [text for role, text in turns if role in ASSISTANT_ROLES]
        solution = solution_part(answers[-1]) if answers else None
        given = row.get(
            ANSWER
        )  # a gold answer column beside the chat wins over the one read from the solution
        answer = given if given not in (None, "") else gold_from_solution(solution)
        return {PROBLEM: users[0] if users else None, SOLUTION: solution or None, ANSWER: answer}

    return pair


def apply_layout(
    raw: Dataset, layout: str = "auto", problem_column: str = PROBLEM, solution_column: str | None = None
) -> tuple[Dataset, str]:
    """Map pairs in `layout` to `problem`, `solution` and `answer` columns (other columns are kept).

    Returns the mapped dataset and the layout used. Unknown layouts and missing columns raise before any work.
    """
    if layout == "auto":
        layout = detect_layout(raw.column_names, problem_column, solution_column)
    if layout not in LAYOUTS:
        raise UnknownLayout(
            f"unknown layout {layout!r}. Known layouts:\n{layouts_help()}\nor 'auto' to detect it from the columns."
        )
    needed = LAYOUTS[layout].columns or (problem_column, solution_column or SOLUTION)
    missing = [c for c in needed if c not in raw.column_names]
    if missing:
        raise UnknownLayout(
            f"layout {layout!r} reads column(s) {list(needed)}, but {missing} are not in the dataset (columns: "
            f"{raw.column_names}). Known layouts:\n{layouts_help()}\nName yours with --problem_column and "
            "--solution_column."
        )
    if layout == "problem_solution":
        return raw, layout
    if layout in ("question_answer", "columns"):
        question, solution = needed

        def pair(row: dict) -> dict:
            text = row[solution] if isinstance(row[solution], str) else None
            given = row.get(ANSWER) if solution != ANSWER else None  # a separate gold answer column wins
            answer = given if given not in (None, "") else gold_from_solution(text)
            return {PROBLEM: row[question], SOLUTION: text, ANSWER: answer}

        drop = [c for c in (question, solution) if c not in (PROBLEM, SOLUTION, ANSWER)]
        return raw.map(pair, remove_columns=drop, desc=f"layout {layout}"), layout
    role_key, text_key = ("from", "value") if layout == "conversations" else ("role", "content")
    mapped = raw.map(
        _chat_pair(layout, role_key, text_key),
        with_indices=True,
        remove_columns=[layout],
        desc=f"layout {layout}",
    )
    return mapped, layout


@dataclass
class PairSourceConfig(ProblemSourceConfig):
    """Question + reference solution pairs: where they come from and their layout."""

    layout: str = field(
        default="auto",
        metadata={
            "help": f"layout of the pairs: auto, {', '.join(LAYOUTS)} (see openr1_data/sources/layouts.py)"
        },
    )


def load_pairs(cfg: PairSourceConfig) -> StageResult:
    """Read pairs, map their layout to the contract and normalize them (the `load_problems` stage)."""
    raw = read_source(cfg.problems, config=cfg.problems_config, split=cfg.problems_split,
                      bundled_size=cfg.bundled_size, arithmetic_range=(cfg.arithmetic_low, cfg.arithmetic_high),
                      gym=(cfg.gym_size, cfg.gym_seed, cfg.gym_config))  # fmt: skip
    if cfg.limit is not None:
        raw = raw.select(range(min(cfg.limit, len(raw))))  # before the mapping: a large set is not read whole
    mapped, _ = apply_layout(raw, cfg.layout, cfg.problem_column, cfg.solution_column)
    if cfg.answer_column is not None and cfg.answer_column not in mapped.column_names:
        raise ContractError(
            f"--answer_column {cfg.answer_column!r} is not a column after the layout mapping; the pairs have "
            f"{mapped.column_names}. Leave it out to take the answer from the solution."
        )
    return normalize_problems(
        mapped,
        problem_column=PROBLEM,
        solution_column=SOLUTION,
        answer_column=cfg.answer_column if cfg.answer_column in mapped.column_names else None,
    )
