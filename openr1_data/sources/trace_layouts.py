"""Reasoning traces in the layouts public datasets use, read into one `Generation` per trace (`openr1-data import`).

| layout | columns it reads | examples |
|---|---|---|
| `openr1_math` | `problem`, `generations` (a list) and the per-generation lists beside it | OpenR1-Math-220k |
| `s1k` | `question`, `solution`, `<teacher>_thinking_trajectory` + `<teacher>_attempt` per teacher | s1K-1.1 |
| `conversations` | ShareGPT `conversations` [{from, value}] (+ `system`) | OpenThoughts-114k, Bespoke-Stratos-17k, OpenThoughts3 |
| `messages` | chat `messages` [{role, content}] with `<think>` blocks | Mixture-of-Thoughts, most chat SFT sets |
| `prompt_completion` | TRL's `prompt` + `completion` (text, or lists of chat turns) | TRL prompt-completion sets |

`auto` (the default) picks the first layout, in this order, whose columns the dataset has. Each layout is one small
function from a row to its generations; what the dataset says about a generation beside its text (its verdicts,
finish reason, teacher) is kept, the verdicts under a `source_` prefix. A thought block written with Bespoke's
markers (`<|begin_of_thought|> ... <|end_of_thought|> <|begin_of_solution|> ... <|end_of_solution|>`) is rewritten
into the `<think>` format every stage reads (`think_format`). A row of the wrong shape is an error naming the row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from datasets import Value

from openr1_data.prompts.styles import RLT_SOLUTION_CLOSE, RLT_SOLUTION_OPEN
from openr1_data.schema import ANSWER, PROBLEM, SOLUTION, SOURCE, ContractError, Prompt
from openr1_data.sources.layouts import ASSISTANT_ROLES, USER_ROLES, chat_turns
from openr1_data.text import THINK_CLOSE, THINK_OPEN

THOUGHT_OPEN, THOUGHT_CLOSE = "<|begin_of_thought|>", "<|end_of_thought|>"

# Columns some datasets carry beside the traces, kept under these names (e.g. OpenThoughts3's `difficulty` and
# `domain`: our `domain` column is the verify stage's, so theirs is `source_domain`).
KEPT_COLUMNS = {
    "uuid": "source_uuid",
    "difficulty": "source_difficulty",
    "domain": "source_domain",
    "num_tokens": "source_num_tokens",
    "problem_type": "source_problem_type",
    "question_type": "source_question_type",
    "cot_type": "source_cot_type",
}
SOURCE_CORRECT = "source_correct"  # the dataset's own verdict of a trace (math-verify's in OpenR1-Math)


@dataclass
class Generation:
    """One trace as a dataset stores it, before parsing: the problem, the text the teacher wrote and what the
    dataset says about it."""

    problem: str | None
    completion: str | None  # the assistant text, thought block included
    prompt: Prompt  # the chat messages the teacher answered (system and user turns)
    answer: object = None  # the gold answer when the dataset has one
    solution: str | None = None  # a reference solution when the dataset has one
    teacher: str | None = None
    source: str | None = None
    finish_reason: str | None = None
    verdicts: dict[str, Any] = field(default_factory=dict)  # `source_*` columns: the dataset's own verdicts


RowReader = Callable[[Mapping[str, Any], int], list[Generation]]


@dataclass(frozen=True)
class TraceLayout:
    """One way datasets store reasoning traces."""

    name: str
    description: str
    columns: tuple[str, ...]  # columns it needs; their presence selects the layout in `auto`
    read: RowReader  # one row (and its index, for errors) -> its generations
    verdicts: Callable[
        [Sequence[str]], dict[str, Value]
    ]  # the `source_*` verdict columns it adds, by the columns


def think_format(text: str) -> str:
    """A completion in the `<think>` format: Bespoke's thought/solution markers become a think block and the
    solution after it; text already in the think format is returned as it is."""
    if THOUGHT_OPEN not in text and THOUGHT_CLOSE not in text:
        return text
    text = text.replace(THOUGHT_OPEN, THINK_OPEN).replace(THOUGHT_CLOSE, THINK_CLOSE)
    return text.replace(RLT_SOLUTION_OPEN, "").replace(RLT_SOLUTION_CLOSE, "").strip()


def _text(value: object, row: int, column: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ContractError(
        f"import: row {row}, column `{column}`: expected text, got {type(value).__name__} {value!r:.80}. Fix the "
        "row, or pass the --layout that matches the dataset."
    )


def _list(value: object, row: int, column: str) -> list:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    raise ContractError(
        f"import: row {row}, column `{column}`: expected a list (one entry per generation), got "
        f"{type(value).__name__} {value!r:.80}. Fix the row, or pass the --layout that matches the dataset."
    )


def _nth(values: list, i: int) -> Any:
    return values[i] if i < len(values) else None


def _bool(value: object) -> bool | None:
    """A verdict as a bool: booleans, and the "Yes"/"No" grades of s1K."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str) and value.strip().lower() in ("yes", "no", "true", "false"):
        return value.strip().lower() in ("yes", "true")
    return None


# --------------------------------------------------------------------------------------------------------------
# One function per layout
# --------------------------------------------------------------------------------------------------------------

OPENR1_VERDICTS = {  # OpenR1-Math-220k's per-generation lists -> our columns
    "correctness_math_verify": SOURCE_CORRECT,
    "correctness_llama": "source_correct_llama",
    "is_reasoning_complete": "source_reasoning_complete",
}


def read_openr1_math(row: Mapping[str, Any], index: int) -> list[Generation]:
    """OpenR1-Math-220k: one trace per entry of `generations`, with the entries of the parallel lists beside it
    (`correctness_math_verify`, `correctness_llama`, `is_reasoning_complete`, `finish_reasons`)."""
    problem = _text(row.get(PROBLEM), index, PROBLEM)
    texts = _list(row.get("generations"), index, "generations")
    lists = {column: _list(row.get(column), index, column) for column in (*OPENR1_VERDICTS, "finish_reasons")}
    out = []
    for i, text in enumerate(texts or [None]):  # a row without generations is one empty one (rejected)
        out.append(
            Generation(
                problem=problem,
                completion=_text(text, index, "generations"),
                prompt=[{"role": "user", "content": problem or ""}],
                answer=row.get(ANSWER),
                solution=_text(row.get(SOLUTION), index, SOLUTION),
                source=row.get(SOURCE),
                finish_reason=_nth(lists["finish_reasons"], i),
                verdicts={
                    ours: _bool(_nth(lists[theirs], i))
                    for theirs, ours in OPENR1_VERDICTS.items()
                    if theirs in row
                },
            )
        )
    return out


def _openr1_verdicts(columns: Sequence[str]) -> dict[str, Value]:
    return {ours: Value("bool") for theirs, ours in OPENR1_VERDICTS.items() if theirs in columns}


_TRAJECTORY = re.compile(r"^(?P<teacher>.+)_thinking_trajectory$")


def s1k_teachers(columns: Sequence[str]) -> list[str]:
    """The teachers of an s1K set: every `<teacher>_thinking_trajectory` with its `<teacher>_attempt`."""
    found = [m.group("teacher") for c in columns if (m := _TRAJECTORY.match(c))]
    return [t for t in found if f"{t}_attempt" in columns]


def read_s1k(row: Mapping[str, Any], index: int) -> list[Generation]:
    """s1K: one trace per teacher, `<think>trajectory</think>` then the attempt; `<teacher>_grade` ("Yes"/"No") is
    its `source_correct`."""
    question = _text(row.get("question"), index, "question")
    out = []
    for teacher in s1k_teachers(list(row)):
        thinking = _text(row.get(f"{teacher}_thinking_trajectory"), index, f"{teacher}_thinking_trajectory")
        attempt = _text(row.get(f"{teacher}_attempt"), index, f"{teacher}_attempt")
        # without a trajectory the attempt alone is no reasoning trace (rejected: no_think)
        completion = (
            f"{THINK_OPEN}\n{thinking.strip()}\n{THINK_CLOSE}\n\n" if thinking and thinking.strip() else ""
        )
        out.append(
            Generation(
                problem=question,
                completion=completion + (attempt or "").strip(),
                prompt=[{"role": "user", "content": question or ""}],
                solution=_text(row.get(SOLUTION), index, SOLUTION),
                teacher=teacher,
                source=row.get("source_type") if isinstance(row.get("source_type"), str) else None,
                verdicts={SOURCE_CORRECT: _bool(row.get(f"{teacher}_grade"))}
                if f"{teacher}_grade" in row
                else {},
            )
        )
    return out


def _s1k_verdicts(columns: Sequence[str]) -> dict[str, Value]:
    graded = any(f"{t}_grade" in columns for t in s1k_teachers(columns))
    return {SOURCE_CORRECT: Value("bool")} if graded else {}


def _chat(turns: list[tuple[str, str]], system: str | None, row: Mapping[str, Any]) -> list[Generation]:
    """A chat's trace: the last assistant turn, answering the turns before it (the problem is the first user turn)."""
    last = max((i for i, (role, _) in enumerate(turns) if role in ASSISTANT_ROLES), default=None)
    asked = turns if last is None else turns[:last]
    prompt: Prompt = [{"role": "system", "content": system}] if system else []
    prompt += [{"role": "assistant" if r in ASSISTANT_ROLES else "user" if r in USER_ROLES else r, "content": t}
               for r, t in asked]  # fmt: skip
    users = [text for role, text in asked if role in USER_ROLES]
    return [
        Generation(
            problem=users[0] if users else None,
            completion=None if last is None else turns[last][1],
            prompt=prompt,
            answer=row.get(ANSWER),
            teacher=row.get("teacher") if isinstance(row.get("teacher"), str) else None,
            source=row.get(SOURCE) if isinstance(row.get(SOURCE), str) else None,
        )
    ]


_CHAT_FIX = "Fix the row, or pass the --layout that matches the dataset."


def read_conversations(row: Mapping[str, Any], index: int) -> list[Generation]:
    """ShareGPT `conversations` ([{from: human|user, value}, {from: gpt|assistant, value}]) with an optional
    `system` column (OpenThoughts-114k, Bespoke-Stratos-17k, OpenThoughts3): one trace, the last assistant turn."""
    turns = chat_turns(
        row.get("conversations"), index, "conversations", "from", "value", what="import", fix=_CHAT_FIX
    )
    system = row.get("system") if isinstance(row.get("system"), str) else None
    return _chat(turns, system, row)


def read_messages(row: Mapping[str, Any], index: int) -> list[Generation]:
    """Chat `messages` ([{role, content}]) whose assistant turn holds a `<think>` block (Mixture-of-Thoughts): one
    trace, the last assistant turn; a system turn stays in the prompt."""
    turns = chat_turns(
        row.get("messages"), index, "messages", "role", "content", what="import", fix=_CHAT_FIX
    )
    system = next((text for role, text in turns if role == "system"), None)
    return _chat([(r, t) for r, t in turns if r != "system"], system, row)


def read_prompt_completion(row: Mapping[str, Any], index: int) -> list[Generation]:
    """TRL's prompt-completion layout: `prompt` + `completion` as text (standard) or as lists of chat turns
    (conversational)."""
    prompt, completion = row.get("prompt"), row.get("completion")
    if isinstance(prompt, str) and isinstance(completion, str | type(None)):
        return _chat(
            [("user", prompt), *([("assistant", completion)] if completion is not None else [])], None, row
        )
    asked = chat_turns(prompt, index, "prompt", "role", "content", what="import", fix=_CHAT_FIX)
    answered = chat_turns(completion, index, "completion", "role", "content", what="import", fix=_CHAT_FIX)
    system = next((text for role, text in asked if role == "system"), None)
    return _chat([(r, t) for r, t in asked + answered if r != "system"], system, row)


def _none(columns: Sequence[str]) -> dict[str, Value]:
    return {}


TRACE_LAYOUTS: dict[str, TraceLayout] = {
    layout.name: layout
    for layout in [
        TraceLayout("openr1_math", "OpenR1-Math-220k: `problem`, `generations[]` and the parallel lists "
                    "`correctness_math_verify[]`, `correctness_llama[]`, `is_reasoning_complete[]`, `finish_reasons[]`; "
                    "one trace per generation", (PROBLEM, "generations"), read_openr1_math, _openr1_verdicts),
        TraceLayout("s1k", "s1K: `question`, `solution`, `<teacher>_thinking_trajectory` + `<teacher>_attempt` "
                    "(+ `<teacher>_grade`); one trace per teacher", ("question",), read_s1k, _s1k_verdicts),
        TraceLayout("conversations", "ShareGPT `conversations` [{from: human|gpt, value}] (+ `system`), `<think>` or "
                    "`<|begin_of_thought|>` blocks: OpenThoughts-114k, Bespoke-Stratos-17k, OpenThoughts3",
                    ("conversations",), read_conversations, _none),
        TraceLayout("messages", "chat `messages` [{role, content}] with `<think>` blocks: Mixture-of-Thoughts",
                    ("messages",), read_messages, _none),
        TraceLayout("prompt_completion", "TRL `prompt` + `completion`, as text or as lists of chat turns",
                    ("prompt", "completion"), read_prompt_completion, _none),
    ]
}  # fmt: skip


def trace_layouts_help() -> str:
    """The known trace layouts, one per line (for error messages and `--help`)."""
    return "\n".join(f"  {layout.name:<18} {layout.description}" for layout in TRACE_LAYOUTS.values())


def _matches(layout: TraceLayout, columns: Sequence[str]) -> bool:
    if not all(c in columns for c in layout.columns):
        return False
    return layout.name != "s1k" or bool(s1k_teachers(columns))


def resolve_trace_layout(columns: Sequence[str], layout: str = "auto") -> TraceLayout:
    """The layout named, or (`auto`) the first whose columns the dataset has; unknown layouts and missing columns
    are errors that list the layouts."""
    columns = list(columns)
    if layout == "auto":
        for candidate in TRACE_LAYOUTS.values():
            if _matches(candidate, columns):
                return candidate
        raise ContractError(
            f"import: no known trace layout in columns {columns}. Known layouts:\n{trace_layouts_help()}\n"
            "Pass --layout NAME, or bring the dataset into one of these layouts."
        )
    if layout not in TRACE_LAYOUTS:
        raise ContractError(
            f"import: unknown --layout {layout!r}. Known layouts:\n{trace_layouts_help()}\nor 'auto' to detect it."
        )
    chosen = TRACE_LAYOUTS[layout]
    if not _matches(chosen, columns):
        needs = list(chosen.columns) + (
            ["<teacher>_thinking_trajectory", "<teacher>_attempt"] if layout == "s1k" else []
        )
        raise ContractError(
            f"import: --layout {layout} reads column(s) {needs}, but the dataset has {columns}. Pass the --layout that "
            f"matches the dataset (or 'auto'). Known layouts:\n{trace_layouts_help()}"
        )
    return chosen


def kept_columns(columns: Sequence[str]) -> dict[str, str]:
    """The dataset's columns kept beside the traces (`KEPT_COLUMNS` that it has): their name -> our name."""
    return {theirs: ours for theirs, ours in KEPT_COLUMNS.items() if theirs in columns}
