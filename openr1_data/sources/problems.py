"""Load problems from anywhere and bring them to the data contract.

Sources: the bundled set (`bundled`), a local JSONL / JSON / Parquet / CSV file, a local dataset folder
(`save_to_disk` output or a folder of data files), or a Hub dataset id (the real `datasets.load_dataset` path).
User column names are mapped to the contract; `answer` is derived from the solution's last `\\boxed{}` when missing;
`problem_id` is a stable hash of the normalized problem. Rows with an empty or non-string problem are rejected
with a reason (never a crash), and the load counts as the first stage of the funnel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from datasets import Dataset, Features, Value

from openr1_data.config import check_fields
from openr1_data.funnel import StageResult, split_by_reason
from openr1_data.io import read_dataset
from openr1_data.schema import (
    ANSWER,
    PROBLEM,
    PROBLEM_ID,
    SOLUTION,
    SOURCE,
    ContractError,
    make_problem_id,
    require_columns,
)
from openr1_data.sources.domains import PROBLEM_LAYOUTS, apply_problem_layout
from openr1_data.sources.gym import gym_problems, is_gym_source
from openr1_data.sources.wordle import SOURCE_NAME as WORDLE
from openr1_data.sources.wordle import SPLITS as WORDLE_SPLITS
from openr1_data.text import gold_answer


@dataclass
class ProblemSourceConfig:
    """Where the problems come from and how their columns are named."""

    problems: str = field(
        default="bundled",
        metadata={
            "help": "'bundled', 'arithmetic' (every a + b in --arithmetic_low..--arithmetic_high), "
            "'reasoning_gym:TASK' (procedural problems: --gym_size, --gym_seed, --gym_config), "
            "'wordle' (Wordle game states: --wordle_size, --wordle_seed, --wordle_split), a local file (.jsonl/.json/.parquet/.csv), a local dataset folder, or a Hub id",
            "aliases": ["--input"],  # the input flag every stage command takes
        },
    )
    problems_config: str | None = field(default=None, metadata={"help": "Hub dataset config name"})
    problems_split: str = field(default="train", metadata={"help": "split to read"})
    problem_column: str = field(default="problem", metadata={"help": "column holding the problem text"})
    solution_column: str | None = field(
        default=None,
        metadata={"help": "column holding the reference solution (default: 'solution' if present)"},
    )
    answer_column: str | None = field(
        default=None, metadata={"help": "column holding the gold answer (default: 'answer' if present)"}
    )
    limit: int | None = field(default=None, metadata={"help": "use only the first N problems"})
    bundled_size: int = field(default=64, metadata={"help": "size of the bundled problem set"})
    arithmetic_low: int = field(
        default=1, metadata={"help": "--problems arithmetic: the smallest operand of `What is a + b?`"}
    )
    arithmetic_high: int = field(
        default=14,
        metadata={"help": "--problems arithmetic: the largest operand (the difficulty: 9 = single digits)"},
    )
    gym_size: int = field(default=200, metadata={"help": "--problems reasoning_gym:TASK: how many problems"})
    gym_seed: int = field(default=0, metadata={"help": "--problems reasoning_gym:TASK: the generator's seed"})
    gym_config: str | None = field(
        default=None,
        metadata={
            "help": "--problems reasoning_gym:TASK: the task's settings (its difficulty knobs) as a YAML mapping, "
            "e.g. '{min_digits: 2, max_digits: 3}'"
        },
    )
    wordle_size: int = field(default=200, metadata={"help": "--problems wordle: how many game states"})
    wordle_seed: int = field(
        default=0, metadata={"help": "--problems wordle: the seed of the secrets, openers and depths drawn"}
    )
    wordle_split: str = field(
        default="train",
        metadata={
            "help": "--problems wordle: the secrets to draw from: train (90%), eval (the 10% held out for "
            "`openr1-data wordle-play`) or all"
        },
    )
    problem_layout: str = field(
        default="auto",
        metadata={
            "help": "how problem rows are laid out: auto (detect), math, humaneval, stdio (code with stdin/stdout "
            "tests), gpqa, mcq_choices, mcq_columns (see openr1_data/sources/domains.py)"
        },
    )
    tests_column: str | None = field(
        default=None, metadata={"help": "stdio layout: the column with the test cases (default: detected)"}
    )
    shuffle_choices: bool = field(
        default=True,
        metadata={"help": "multiple-choice layouts: shuffle the choices per problem (seeded by problem_id)"},
    )

    def __post_init__(self) -> None:
        check_fields(
            self,
            at_least={"limit": 1, "bundled_size": 1, "wordle_size": 1},
            choices={"problem_layout": PROBLEM_LAYOUTS, "wordle_split": WORDLE_SPLITS},
        )


def read_source(
    source: str,
    *,
    config: str | None = None,
    split: str = "train",
    bundled_size: int = 64,
    arithmetic_range: tuple[int, int] = (1, 14),
    gym: tuple[int, int, str | None] = (200, 0, None),
    wordle: tuple[int, int, str] = (200, 0, "train"),
) -> Dataset:
    """Read raw problems from a generated set (`bundled`, `arithmetic`, `reasoning_gym:TASK` with `gym` = size,
    seed, task settings, `wordle` with `wordle` = size, seed, split of the secrets), a local file or folder, or a
    Hub id."""
    if is_gym_source(source):
        return gym_problems(source, *gym)
    if source == WORDLE:
        from openr1_data.sources.wordle import wordle_problems

        return wordle_problems(*wordle)
    if source == "bundled":
        from openr1_data.sources.bundled import bundled_problems

        return Dataset.from_list(bundled_problems(bundled_size))
    if source == "arithmetic":
        from openr1_data.sources.bundled import arithmetic_problems

        return Dataset.from_list(arithmetic_problems(*arithmetic_range))
    return read_dataset(source, config=config, split=split)


def normalize_problems(
    raw: Dataset,
    *,
    problem_column: str = PROBLEM,
    solution_column: str | None = None,
    answer_column: str | None = None,
    limit: int | None = None,
    issues: Sequence[str | None] | None = None,
) -> StageResult:
    """Map user columns to the contract and reject unusable rows with a reason.

    The result's `kept` rows have `problem`, `solution`, `answer`, `source` and `problem_id`; other user columns are
    kept as they are. `issues` (one per row, None = fine) are rejection reasons found earlier, e.g. by a code or
    multiple-choice layout (`sources/domains.py`).
    """
    require_columns(
        raw.column_names,
        [problem_column],
        what="problems",
        fix="Pass --problem_column with the name of the column that holds the problem text.",
    )
    solution_column = solution_column or (SOLUTION if SOLUTION in raw.column_names else None)
    answer_column = answer_column or (ANSWER if ANSWER in raw.column_names else None)
    for name, column in (("--solution_column", solution_column), ("--answer_column", answer_column)):
        if column is not None and column not in raw.column_names:
            raise ContractError(
                f"problems: {name} {column!r} is not a column; the dataset has {raw.column_names}"
            )
    if limit is not None:
        raw = raw.select(range(min(limit, len(raw))))

    def to_contract(row: dict) -> dict:
        problem = row[problem_column]
        solution = row[solution_column] if solution_column else None
        answer = row[answer_column] if answer_column else None
        answer = gold_answer(answer, solution)
        text = problem if isinstance(problem, str) else None
        return {
            PROBLEM: text,
            SOLUTION: solution if isinstance(solution, str) else None,
            ANSWER: answer,
            SOURCE: row.get(SOURCE) if isinstance(row.get(SOURCE), str) else None,
            PROBLEM_ID: row.get(PROBLEM_ID) or (make_problem_id(text) if text and text.strip() else None),
        }

    # The contract columns are rebuilt by `to_contract`: drop the originals too, or `map` would cast the new values
    # back to the old types (an integer `answer` column would turn the gold "2" back into 2).
    mapped_from = {
        problem_column,
        solution_column,
        answer_column,
        PROBLEM,
        SOLUTION,
        ANSWER,
        SOURCE,
        PROBLEM_ID,
    }
    drop = [c for c in raw.column_names if c in mapped_from]
    kept_columns = {c: raw.features[c] for c in raw.column_names if c not in drop}
    contract = {c: Value("string") for c in (PROBLEM, SOLUTION, ANSWER, SOURCE, PROBLEM_ID)}
    mapped = raw.map(
        to_contract,
        remove_columns=drop,
        features=Features({**kept_columns, **contract}),
        desc="mapping problem columns",
    )
    reasons = [
        None
        if isinstance(p, str) and p.strip()
        else ("empty_problem" if isinstance(p, str) else "non_string_problem")
        for p in raw[problem_column]
    ]
    if issues is not None:
        reasons = [issue or reason for issue, reason in zip(issues[: len(reasons)], reasons, strict=True)]
    return split_by_reason(mapped, reasons, stage="load_problems")


def load_problems(cfg: ProblemSourceConfig) -> StageResult:
    """Read and normalize the problems a config points at (the first stage of every pipeline)."""
    raw = read_source(cfg.problems, config=cfg.problems_config, split=cfg.problems_split,
                      bundled_size=cfg.bundled_size, arithmetic_range=(cfg.arithmetic_low, cfg.arithmetic_high),
                      gym=(cfg.gym_size, cfg.gym_seed, cfg.gym_config),
                      wordle=(cfg.wordle_size, cfg.wordle_seed, cfg.wordle_split))  # fmt: skip
    if cfg.problem_layout != "math" and cfg.limit is not None:
        raw = raw.select(range(min(cfg.limit, len(raw))))  # before a code/MCQ layout reads every row
    # Code and multiple-choice layouts map their columns first (their rows come out with `problem`, `solution`,
    # `answer`); the math layout is the contract mapping alone.
    raw, issues, layout = apply_problem_layout(
        raw,
        cfg.problem_layout,
        problem_column=cfg.problem_column,
        solution_column=cfg.solution_column,
        answer_column=cfg.answer_column,
        tests_column=cfg.tests_column,
        shuffle_choices=cfg.shuffle_choices,
    )
    mapped = layout != "math"
    return normalize_problems(
        raw,
        problem_column=PROBLEM if mapped else cfg.problem_column,
        solution_column=None if mapped else cfg.solution_column,
        answer_column=None if mapped else cfg.answer_column,
        limit=cfg.limit,
        issues=issues,
    )


def require_gold_answers(problems: Dataset, stage: str = "require_answer") -> StageResult:
    """Reject problems without a gold answer (nothing to verify samples against) before any are generated."""
    answers = problems[ANSWER] if ANSWER in problems.column_names else [None] * len(problems)
    reasons = [None if isinstance(a, str) and a.strip() else "no_gold_answer" for a in answers]
    return split_by_reason(problems, reasons, stage)
