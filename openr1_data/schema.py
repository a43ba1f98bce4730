"""The data contract shared by every stage (see ARCHITECTURE.md, "The data contract").

Stages exchange `datasets.Dataset` objects in one schema. Problem rows carry the problem columns; generation adds
one row per trace (long format) with the trace columns; later stages add their own columns.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any, cast

import pyarrow as pa
from datasets import Value

# Problem columns: `problem` is required, the rest are filled in by `problems.normalize_problems`.
PROBLEM = "problem"
SOLUTION = "solution"
ANSWER = "answer"
SOURCE = "source"
PROBLEM_ID = "problem_id"
PROBLEM_COLUMNS = (PROBLEM, SOLUTION, ANSWER, SOURCE, PROBLEM_ID)

# Domains: math (a gold answer), code (tests to run), mcq (lettered choices, the gold is a letter). Problem loading
# sets `domain` for code and multiple-choice layouts; verification derives it when missing and dispatches on it.
DOMAIN = "domain"
MATH, CODE, MCQ, GYM = "math", "code", "mcq", "reasoning_gym"
DOMAINS = (MATH, CODE, MCQ, GYM)
GYM_ENTRY = "gym_entry"  # a reasoning-gym row's generator entry (JSON): what its task's scorer reads
TESTS = "tests"  # code: the test cases as a JSON string (curate/code_verify.py)
CHOICES = "choices"  # mcq: the choice texts in the order shown to the model (letters A, B, ...)
CHOICE_ORDER = "choice_order"  # mcq: each shown choice's position in the source row
TESTS_PASSED, TESTS_TOTAL = "tests_passed", "tests_total"  # code verdicts, added by verification

# Trace columns added by generation, with their Arrow types (the shards' schema); the names derive from it.
TRACE_FEATURES = {
    "sample_index": Value("int32"),
    "teacher": Value("string"),
    "prompt_style": Value("string"),
    "prompt": [{"role": Value("string"), "content": Value("string")}],
    "completion": Value("string"),
    "reasoning": Value("string"),
    "final": Value("string"),
    "predicted_answer": Value("string"),
    "finish_reason": Value("string"),
    "completion_tokens": Value("int32"),
    "parse_issue": Value("string"),
    "forced": Value("bool"),
    "trace_id": Value("string"),
}
TRACE_COLUMNS = tuple(TRACE_FEATURES)

# Verdict columns: verification adds them (curate/verify.py); the LLM judge may rewrite `correct` (curate/llm_judge.py);
# selection, the pass rate, publishing and the rewards read them.
CORRECT = "correct"  # True (right), False (wrong), None (no verdict)
VERIFY_ERROR = "verify_error"  # why `correct` is None, or why an answer counts as wrong ("no_answer", ...)

# A chat prompt: what prompt styles build (`prompts/`) and teachers complete (`teachers/`), and the `prompt` column.
Message = dict[str, str]  # {"role": ..., "content": ...}
Prompt = list[Message]

# Columns every stage that rejects rows adds to its side output.
REJECT_STAGE = "rejected_stage"
REJECT_REASON = "rejected_reason"


class ContractError(ValueError):
    """Input that does not follow the data contract; the message names the column and the fix."""


def _hash(*parts: object, length: int = 16) -> str:
    joined = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:length]


def normalize_for_id(text: str) -> str:
    """Normalize problem text for hashing: NFKC, lowercase, collapsed whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", text).strip()


def make_problem_id(problem: str) -> str:
    """Stable id of a problem: a hash of its normalized text (same text, same id, across runs)."""
    return _hash("problem", normalize_for_id(problem))


def make_trace_id(problem_id: str, prompt_style: str, teacher: str, sample_index: int) -> str:
    """Stable id of one trace: which problem, which style, which teacher, which sample."""
    return _hash("trace", problem_id, prompt_style, teacher, sample_index)


def require_columns(columns: Iterable[str], needed: Iterable[str], *, what: str, fix: str) -> None:
    """Raise a `ContractError` naming the missing columns, the ones that exist and how to fix it."""
    present = list(columns)
    missing = [c for c in needed if c not in present]
    if missing:
        raise ContractError(f"{what}: missing column(s) {missing}; the dataset has {present}. {fix}")


def iter_rows(dataset: Any) -> Iterator[dict[str, Any]]:
    """The rows of a `datasets.Dataset` as dicts (iterating a Dataset is typed as a union of row shapes)."""
    for row in dataset:
        yield cast(dict[str, Any], row)


def arrow_table(dataset: Any) -> pa.Table:
    """A `datasets.Dataset` as one Arrow table, honouring a `select` indices mapping (no per-row Python objects;
    `datasets` types `__getitem__` by the Python format, the arrow format returns a table)."""
    return cast(pa.Table, dataset.with_format("arrow")[:])


def arrow_column(dataset: Any, name: str) -> pa.ChunkedArray:
    """One column of a `datasets.Dataset` as Arrow (see `arrow_table`)."""
    return arrow_table(dataset.select_columns([name])).column(0)


def iter_batches(dataset: Any, batch_size: int) -> Iterator[dict[str, list[Any]]]:
    """`Dataset.iter(batch_size)` as dicts of column lists (typed loosely by `datasets`)."""
    for batch in dataset.iter(batch_size=batch_size):
        yield cast(dict[str, list[Any]], batch)
