"""`openr1-data show`: read traces the way a user checks a dataset, a few at a time, with their verdicts.

    openr1-data show outputs/curated --n 5
    openr1-data show outputs/verified --where correct=false prompt_style=r1 --max_chars 400
    openr1-data show outputs/curated/rejected/select --n 3          # why rows were rejected

Model output is untrusted text: control characters (terminal escape sequences included) are shown as `\\x..`
escapes, never sent to the terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from openr1_data.config import parse_config
from openr1_data.io import read_dataset
from openr1_data.schema import CORRECT, VERIFY_ERROR, ContractError, iter_rows

# Shown when present, in this order; `--columns` replaces the list.
DEFAULT_COLUMNS = [
    "problem",
    "prompt_style",
    "reasoning",
    "final",
    "predicted_answer",
    "answer",
    CORRECT,
    VERIFY_ERROR,
    "finish_reason",
    "completion_tokens",
    "rejected_stage",
    "rejected_reason",
]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class ShowArguments:
    """What `openr1-data show` prints (the first positional argument is the folder or file)."""

    input: str = field(
        metadata={"help": "a stage folder, a rejected/<stage> folder, a file or a Hub dataset id"}
    )
    n: int = field(default=5, metadata={"help": "how many rows to print"})
    where: list[str] = field(
        default_factory=list,
        metadata={"help": "keep rows where COLUMN=VALUE (or COLUMN!=VALUE); several conditions all hold"},
    )
    columns: list[str] = field(
        default_factory=list, metadata={"help": "columns to print (default: the usual)"}
    )
    max_chars: int = field(default=800, metadata={"help": "cut each value after this many characters"})
    offset: int = field(default=0, metadata={"help": "skip this many matching rows first"})

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_chars < 1 or self.offset < 0:
            raise ValueError("--n and --max_chars must be >= 1 and --offset >= 0")


def parse_value(text: str) -> Any:
    """A condition's value as the column holds it: true/false/none, numbers, else the text itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_condition(condition: str, columns: list[str]) -> tuple[str, bool, Any]:
    """`col=value` / `col!=value` → (column, equal?, value), naming the columns when one is unknown."""
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(!?=)(.*)", condition)
    if not match:
        raise ValueError(f"--where {condition!r}: write COLUMN=VALUE or COLUMN!=VALUE, e.g. correct=false")
    column, op, value = match.groups()
    if column not in columns:
        raise ContractError(f"--where {condition!r}: no column {column!r}; columns are {columns}")
    return column, op == "=", parse_value(value)


def safe_text(value: Any, max_chars: int) -> str:
    """A value as printable text: control characters escaped, long text cut with a note of its length."""
    text = "" if value is None else str(value)
    cut = text[:max_chars] + (
        f" … [{len(text) - max_chars:,} more characters]" if len(text) > max_chars else ""
    )
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", cut)


def main(argv: list[str]) -> int:
    """Entry point of `openr1-data show`."""
    if argv and not argv[0].startswith("-"):
        argv = ["--input", *argv]
    (args,) = parse_config([ShowArguments], argv, prog="openr1-data show")
    rows = read_dataset(args.input)
    conditions = [parse_condition(c, rows.column_names) for c in args.where]
    columns = args.columns or [c for c in DEFAULT_COLUMNS if c in rows.column_names]
    unknown = [c for c in columns if c not in rows.column_names]
    if unknown:
        raise ContractError(f"--columns: no column(s) {unknown}; columns are {rows.column_names}")
    shown = matched = 0
    for index, row in enumerate(iter_rows(rows)):
        if not all((row[c] == v) == equal for c, equal, v in conditions):
            continue
        matched += 1
        if matched <= args.offset or shown == args.n:
            continue
        print(f"── row {index} " + "─" * 60)
        for column in columns:
            value = safe_text(row[column], args.max_chars)
            print(f"{column}:" + (f"\n{value}" if "\n" in value or len(value) > 60 else f" {value}"))
        shown += 1
        # keep counting past the last row shown: the footer says how many rows match, not how many exist
    filtered = (
        f"{matched} of {len(rows)} rows match {', '.join(args.where)}" if args.where else f"{len(rows)} rows"
    )
    print(f"── {shown} row(s) shown; {filtered}")
    return 0
