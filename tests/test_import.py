"""`openr1-data import`: each public layout's fixture (its published column names and nesting) into contract traces.

The fixtures are small copies of the real schemas with realistic texts: OpenR1-Math-220k, Mixture-of-Thoughts,
OpenThoughts-114k / Bespoke-Stratos-17k, OpenThoughts3, s1K-1.1 and TRL's prompt-completion layouts, each with a
wrong answer and a row that cannot be parsed. A Hub id is read through the real `datasets` client from the local
Hub server; `verify` is checked against OpenR1-Math's own math-verify verdicts; a killed import resumes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import Dataset

from openr1_data.cli import main as cli
from openr1_data.imports.stage import ImportConfig, import_traces
from openr1_data.io import read_dataset
from openr1_data.schema import TRACE_COLUMNS, ContractError, make_problem_id, make_trace_id
from tests.hub_server import HubServer

REPO_ROOT = Path(__file__).resolve().parent.parent


def think(reasoning: str, answer: str) -> str:
    return f"<think>\n{reasoning}\n</think>\n\n{answer}"


# --------------------------------------------------------------------------------------------------------------
# Fixtures in the published schemas
# --------------------------------------------------------------------------------------------------------------

DIVISORS = "Find the sum of all positive divisors of $12$."
PRIME = "Which of the following numbers is prime?\n(A) $21$ (B) $27$ (C) $29$ (D) $33$ (E) $39$"
HALF = "Simplify $\\sin 60^{\\circ}$."
CUT = "Let $x$ satisfy $2x + 3 = 10$. Find $x$."


def openr1_math_rows() -> list[dict]:
    """OpenR1-Math-220k's `default` config: the problem, its solution and answer, the generations and the
    per-generation lists beside them."""

    def row(problem, solution, answer, generations, mv, llama, complete, finish, qtype="math-word-problem"):
        return {
            "problem": problem,
            "solution": solution,
            "answer": answer,
            "problem_type": "Algebra",
            "question_type": qtype,
            "source": "olympiads",
            "uuid": make_problem_id(problem)[:8] + "-6f0e-5b62-9a3c-1d2f3e4a5b6c",
            "is_reasoning_complete": complete,
            "generations": generations,
            "correctness_math_verify": mv,
            "correctness_llama": llama,
            "finish_reasons": finish,
            "correctness_count": sum(mv),
            "messages": [
                {"role": "user", "content": problem},
                {"role": "assistant", "content": generations[0] if generations else ""},
            ],
        }

    return [
        row(
            DIVISORS,
            "The divisors of $12$ are $1,2,3,4,6,12$; their sum is $\\boxed{28}$.",
            "28",
            [
                think(
                    "Okay, so I need the divisors of 12. They are 1, 2, 3, 4, 6 and 12.\n\n"
                    "Adding: 1 + 2 = 3, 3 + 3 = 6, 6 + 4 = 10, 10 + 6 = 16, 16 + 12 = 28.",
                    "The positive divisors of $12$ are $1, 2, 3, 4, 6, 12$, so the sum is $\\boxed{28}$.",
                ),
                think(
                    "The divisors of 12 are 1, 2, 3, 4, 6, 12. Wait, let me add them: 1+2+3+4+6 = 16, "
                    "and 16 + 12 = 27.",
                    "The sum of the divisors is $\\boxed{27}$.",
                ),
            ],
            [True, False],
            [True, False],
            [True, True],
            ["stop", "stop"],
        ),
        row(
            PRIME,
            "$29$ has no divisor other than $1$ and itself, so the answer is $\\boxed{C}$.",
            "C",
            [
                think(
                    "21 = 3*7, 27 = 3^3, 29 is not divisible by 2, 3 or 5, 33 = 3*11, 39 = 3*13.",
                    "Only $29$ is prime. $\\boxed{C}$",
                )
            ],
            [True],
            [True],
            [True],
            ["stop"],
            qtype="MCQ",
        ),
        row(
            HALF,
            "$\\sin 60^{\\circ} = \\boxed{\\frac{\\sqrt{3}}{2}}$",
            "\\frac{\\sqrt{3}}{2}",
            [
                think(
                    "In a 30-60-90 triangle the side opposite 60 degrees is sqrt(3) times the short side, and "
                    "the hypotenuse is twice the short side.",
                    "Therefore $\\sin 60^{\\circ} = \\boxed{\\dfrac{\\sqrt3}{2}}$.",
                )
            ],
            [True],
            [True],
            [True],
            ["stop"],
        ),
        row(
            CUT,
            "$2x = 7$, so $x = \\boxed{\\frac{7}{2}}$.",
            "\\frac{7}{2}",
            [
                "We subtract 3 from both sides and get x = 7/2, so the answer is 7/2.",  # no think block
                "<think>\nSubtract 3: 2x = 7. Now divide both sides by 2, which gives x equal to",  # cut by length
            ],
            [False, False],
            [True, False],
            [True, False],
            ["stop", "length"],
        ),
    ]


def mixture_of_thoughts_rows() -> list[dict]:
    """Mixture-of-Thoughts (`math`, `code`, `science` configs): `messages`, `num_tokens`, `source`."""

    def chat(user, assistant, source, tokens, system=None):
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user},
            {"role": "assistant", "content": assistant},
        ]
        return {"messages": messages, "num_tokens": tokens, "source": source}

    code_answer = (
        "We read n and print the sum of the first n odd numbers, which is n squared.\n\n"
        "```python\nn = int(input())\nprint(n * n)\n```"
    )
    return [
        chat(
            "Compute $3^4 - 4^3$.",
            think("3^4 = 81 and 4^3 = 64, so the difference is 81 - 64 = 17.", "$3^4 - 4^3 = \\boxed{17}$"),
            "open-r1/OpenR1-Math-220k",
            412,
        ),
        chat(
            "Read an integer n and print the sum of the first n odd numbers.",
            think("1 + 3 + ... + (2n-1) = n^2. So the program is one line.", code_answer),
            "open-r1/codeforces-cots",
            530,
            system="You are a helpful and harmless assistant. You should think step-by-step.",
        ),
        chat(
            "Which gas makes up most of Earth's atmosphere?\nA. Oxygen\nB. Nitrogen\nC. Argon\nD. Carbon dioxide",
            think("Air is about 78% nitrogen and 21% oxygen.", "The answer is \\boxed{B}."),
            "nvidia/Llama-Nemotron-Post-Training-Dataset",
            208,
        ),
        chat("Compute $2 + 2$.", "The answer is $\\boxed{4}$.", "open-r1/OpenR1-Math-220k", 30),  # no think
    ]


BESPOKE_SYSTEM = (
    "Your role as an assistant involves thoroughly exploring questions through a systematic long thinking process "
    "before providing the final precise and accurate solutions. Please structure your response into two main "
    "sections: Thought and Solution."
)


def bespoke(thought: str, solution: str) -> str:
    return (
        f"<|begin_of_thought|>\n\n{thought}\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n{solution}\n\n"
        "<|end_of_solution|>"
    )


def openthoughts_rows() -> list[dict]:
    """OpenThoughts-114k's `default` config and Bespoke-Stratos-17k: `system`, `conversations[{from, value}]`."""

    def conv(question, answer):
        return {
            "system": BESPOKE_SYSTEM,
            "conversations": [{"from": "user", "value": question}, {"from": "assistant", "value": answer}],
        }

    return [
        conv(
            "Return your final response within \\boxed{}. What is the remainder when $2^{10}$ is divided by 7?",
            bespoke(
                "2^3 = 8 = 1 mod 7, so 2^9 = 1 mod 7 and 2^10 = 2 mod 7.",
                "Since $2^3 \\equiv 1 \\pmod 7$, $2^{10} = (2^3)^3 \\cdot 2 \\equiv 2$. The remainder is $\\boxed{2}$.",
            ),
        ),
        conv(
            "Return your final response within \\boxed{}. How many edges does a cube have?",
            bespoke("A cube has 6 faces with 4 edges each, each edge shared by 2 faces.", "$\\boxed{24}$"),
        ),
        conv("Return your final response within \\boxed{}. Compute $1+1$.", "The answer is $\\boxed{2}$."),
    ]


def openthoughts3_rows() -> list[dict]:
    """OpenThoughts3-1.2M: `difficulty`, `source`, `domain`, `conversations[{from: human|gpt, value}]`."""

    def conv(question, answer, domain, difficulty, source):
        return {
            "difficulty": difficulty,
            "source": source,
            "domain": domain,
            "conversations": [{"from": "human", "value": question}, {"from": "gpt", "value": answer}],
        }

    return [
        conv(
            "Find the number of ordered pairs $(a, b)$ of positive integers with $a + b = 10$.",
            think("a can be 1 through 9 and b = 10 - a is then positive.", "There are $\\boxed{9}$ pairs."),
            "math",
            4,
            "ai2-adapt-dev/openmath-2-math",
        ),
        conv(
            "Write a function that returns the n-th Fibonacci number.",
            think(
                "Iterate keeping two numbers.",
                "```python\ndef fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n"
                "    return a\n```",
            ),
            "code",
            5,
            "nvidia/OpenCodeReasoning",
        ),
        conv("What is 5 times 6?", "<think>\n5 times 6 is", "math", 1, "ai2-adapt-dev/openmath-2-math"),
    ]


def s1k_rows() -> list[dict]:
    """s1K-1.1: the question and solution, and a trajectory + attempt + grade per teacher (gemini, deepseek)."""

    def row(question, solution, gem, gem_attempt, gem_grade, ds, ds_attempt, ds_grade):
        return {
            "solution": solution,
            "question": question,
            "cot_type": "math",
            "source_type": "qq8933/AIME_1983_2024",
            "metadata": "{'ID': '1983-1', 'Year': 1983}",
            "gemini_thinking_trajectory": gem,
            "gemini_attempt": gem_attempt,
            "deepseek_thinking_trajectory": ds,
            "deepseek_attempt": ds_attempt,
            "gemini_grade": gem_grade,
            "gemini_grade_reason": "I compared the final answers.",
            "deepseek_grade": ds_grade,
            "deepseek_grade_reason": "I compared the final answers.",
        }

    return [
        row(
            "What is the largest prime factor of $91$?",
            "13",
            "91 = 7 * 13, so the prime factors are 7 and 13.",
            "The largest prime factor is $\\boxed{13}$.",
            "Yes",
            "91 = 7 * 13. Hmm, the largest... I'll say 7.",
            "Final Answer: $\\boxed{7}$",
            "No",
        ),
        row(
            "How many positive divisors does $36$ have?",
            "9",
            "36 = 2^2 3^2, so (2+1)(2+1) = 9 divisors.",
            "There are $\\boxed{9}$ divisors.",
            "Yes",
            "",  # no trajectory: the attempt alone is no trace
            "There are 9.",
            "Yes",
        ),
    ]


def trl_rows(conversational: bool) -> list[dict]:
    """TRL's prompt-completion layout, standard (text) or conversational (lists of turns)."""
    pairs = [
        ("What is $7 \\times 8$?", think("7 times 8 is 56.", "$\\boxed{56}$")),
        ("What is $9 \\times 9$?", think("9 times 9 is 81, minus 1 is 80.", "$\\boxed{80}$")),
        ("What is $6 \\times 7$?", "42"),  # no think block
    ]
    if not conversational:
        return [{"prompt": p, "completion": c} for p, c in pairs]
    return [
        {"prompt": [{"role": "user", "content": p}], "completion": [{"role": "assistant", "content": c}]}
        for p, c in pairs
    ]


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_import(rows: list[dict], tmp_path: Path, **config) -> tuple:
    raw = Dataset.from_list(rows)
    result = import_traces(raw, ImportConfig(progress=False, **config), tmp_path / "imported")
    return result, result.kept.to_list(), result.rejected.to_list()


def by_problem(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["problem"], []).append(row)
    return out


# --------------------------------------------------------------------------------------------------------------
# Each layout
# --------------------------------------------------------------------------------------------------------------


def test_openr1_math_one_trace_per_generation_with_its_own_verdicts(tmp_path):
    result, kept, rejected = run_import(openr1_math_rows(), tmp_path)
    assert result.report.layout == "openr1_math"
    assert (result.stats.rows_in, result.stats.rows_out, result.stats.rejected) == (6, 5, {"no_think": 1})
    assert all(set(TRACE_COLUMNS) <= set(row) for row in kept)
    traces = by_problem(kept)
    right, wrong = traces[DIVISORS]
    assert right["reasoning"].startswith("Okay, so I need the divisors of 12.")
    assert right["final"].endswith("so the sum is $\\boxed{28}$.")
    assert (right["predicted_answer"], wrong["predicted_answer"]) == ("28", "27")
    assert (right["source_correct"], wrong["source_correct"]) == (True, False)
    assert (right["source_correct_llama"], wrong["source_correct_llama"]) == (True, False)
    assert [t["sample_index"] for t in (right, wrong)] == [0, 1]
    assert result.report.teachers == {"unknown": 5}
    assert right["answer"] == "28" and right["source"] == "olympiads" and right["domain"] == "math"
    assert right["problem_id"] == make_problem_id(DIVISORS)
    assert right["trace_id"] == make_trace_id(right["problem_id"], "r1", "unknown", 0)
    assert right["prompt"] == [{"role": "user", "content": DIVISORS}]
    assert right["source_uuid"].endswith("-6f0e-5b62-9a3c-1d2f3e4a5b6c")
    assert right["source_question_type"] == "math-word-problem"
    (mcq,) = traces[PRIME]
    assert (mcq["domain"], mcq["prompt_style"], mcq["predicted_answer"], mcq["answer"]) == (
        "mcq",
        "mcq",
        "C",
        "C",
    )
    assert traces[HALF][0]["predicted_answer"] == "\\dfrac{\\sqrt3}{2}"
    (cut,) = traces[
        CUT
    ]  # the cut generation is a trace (the filter rejects it), the one without think is not
    assert (cut["finish_reason"], cut["parse_issue"], cut["source_reasoning_complete"]) == (
        "length",
        "unclosed_think",
        False,
    )
    (no_think,) = rejected
    assert (no_think["rejected_stage"], no_think["rejected_reason"]) == ("import", "no_think")
    assert no_think["completion"].startswith("We subtract 3") and no_think["sample_index"] == 0
    assert cut["sample_index"] == 1  # the rejected generation keeps its index: ids never shift
    assert result.report.source_correct == {"true": 3, "false": 2}
    assert result.report.domains == {"math": 4, "mcq": 1}


def test_mixture_of_thoughts_messages_by_domain(tmp_path):
    result, kept, rejected = run_import(
        mixture_of_thoughts_rows(), tmp_path, teacher="deepseek-ai/DeepSeek-R1"
    )
    assert result.report.layout == "messages"
    assert (len(kept), [r["rejected_reason"] for r in rejected]) == (3, ["no_think"])
    math, code, science = kept
    assert (math["domain"], math["predicted_answer"], math["answer"]) == ("math", "17", None)
    assert math["reasoning"] == "3^4 = 81 and 4^3 = 64, so the difference is 81 - 64 = 17."
    assert (code["domain"], code["prompt_style"]) == ("code", "r1_code")
    assert code["predicted_answer"] == "n = int(input())\nprint(n * n)\n"
    assert code["prompt"][0]["role"] == "system" and code["prompt"][1]["content"].startswith(
        "Read an integer"
    )
    assert (science["domain"], science["predicted_answer"]) == ("mcq", "B")
    assert [r["source_num_tokens"] for r in kept] == [412, 530, 208]
    assert {r["teacher"] for r in kept} == {"deepseek-ai/DeepSeek-R1"}
    assert math["source"] == "open-r1/OpenR1-Math-220k"


def test_openthoughts_and_bespoke_thought_markers_become_a_think_block(tmp_path):
    result, kept, rejected = run_import(openthoughts_rows(), tmp_path)
    assert result.report.layout == "conversations"
    assert (len(kept), [r["rejected_reason"] for r in rejected]) == (2, ["no_think"])
    first, cube = kept
    assert first["completion"].startswith("<think>\n\n2^3 = 8") and "<|" not in first["completion"]
    assert first["reasoning"] == "2^3 = 8 = 1 mod 7, so 2^9 = 1 mod 7 and 2^10 = 2 mod 7."
    assert first["final"].endswith("The remainder is $\\boxed{2}$.")
    assert (first["predicted_answer"], cube["predicted_answer"]) == ("2", "24")
    assert first["prompt"][0] == {"role": "system", "content": BESPOKE_SYSTEM}
    assert first["problem"].startswith("Return your final response within")


def test_openthoughts3_keeps_its_domain_and_difficulty_beside_ours(tmp_path):
    result, kept, rejected = run_import(openthoughts3_rows(), tmp_path)
    assert result.report.layout == "conversations"
    math, code, cut = kept  # the cut trace has an opened think block: imported, the filter rejects it
    assert rejected == []
    assert (math["domain"], math["source_domain"], math["source_difficulty"]) == ("math", "math", 4)
    assert (code["domain"], code["source_domain"]) == ("code", "code")
    assert code["predicted_answer"].startswith("def fib(n):")
    assert math["source"] == "ai2-adapt-dev/openmath-2-math"
    assert (cut["parse_issue"], cut["reasoning"]) == ("unclosed_think", None)


def test_s1k_one_trace_per_teacher_with_its_grade(tmp_path):
    result, kept, rejected = run_import(s1k_rows(), tmp_path)
    assert result.report.layout == "s1k"
    assert (result.stats.rows_in, len(kept), [r["rejected_reason"] for r in rejected]) == (4, 3, ["no_think"])
    gemini, deepseek, gemini2 = kept
    assert (gemini["teacher"], deepseek["teacher"]) == ("gemini", "deepseek")
    assert (gemini["predicted_answer"], deepseek["predicted_answer"]) == ("13", "7")
    assert (gemini["source_correct"], deepseek["source_correct"]) == (True, False)
    assert gemini["reasoning"] == "91 = 7 * 13, so the prime factors are 7 and 13."
    assert gemini["answer"] is None  # s1K's solution "13" states no boxed answer: no gold is made up
    assert (gemini["sample_index"], deepseek["sample_index"]) == (0, 1)
    assert gemini["source"] == "qq8933/AIME_1983_2024" and gemini["source_cot_type"] == "math"
    assert rejected[0]["teacher"] == "deepseek" and rejected[0]["completion"] == "There are 9."
    assert gemini2["predicted_answer"] == "9"


@pytest.mark.parametrize("conversational", [False, True])
def test_trl_prompt_completion_layouts(tmp_path, conversational):
    result, kept, rejected = run_import(trl_rows(conversational), tmp_path, teacher="my-model")
    assert result.report.layout == "prompt_completion"
    assert [r["predicted_answer"] for r in kept] == ["56", "80"]
    assert [r["rejected_reason"] for r in rejected] == ["no_think"]
    assert kept[0]["prompt"] == [{"role": "user", "content": "What is $7 \\times 8$?"}]
    assert kept[0]["teacher"] == "my-model" and kept[0]["reasoning"] == "7 times 8 is 56."


def test_a_problem_met_twice_keeps_both_traces(tmp_path):
    rows = openr1_math_rows()[:1] * 2
    _, kept, _ = run_import(rows, tmp_path, import_batch_size=1)
    assert [r["sample_index"] for r in kept] == [0, 1, 2, 3]
    assert len({r["trace_id"] for r in kept}) == 4


# --------------------------------------------------------------------------------------------------------------
# verify agrees with math-verify's own verdicts; the CLI; the Hub
# --------------------------------------------------------------------------------------------------------------


def test_verify_on_imported_openr1_math_agrees_with_its_math_verify_verdicts(tmp_path):
    source = write_jsonl(openr1_math_rows(), tmp_path / "openr1.jsonl")
    imported, verified = tmp_path / "imported", tmp_path / "verified"
    assert cli(["import", "--input", str(source), "--output_dir", str(imported), "--progress", "false"]) == 0
    assert cli(["verify", "--input", str(imported), "--output_dir", str(verified), "--verify_num_proc", "0",
                "--progress", "false"]) == 0  # fmt: skip
    rows = read_dataset(verified).to_list()
    assert len(rows) == 5
    assert [r["correct"] for r in rows] == [r["source_correct"] for r in rows]
    lineage = json.loads((imported / "lineage.json").read_text())
    assert lineage["command"] == "import" and lineage["input"]["path"] == str(source)
    funnel = json.loads((imported / "funnel.json").read_text())
    assert funnel["stages"][0] == {
        "stage": "import",
        "rows_in": 6,
        "rows_out": 5,
        "rejected": {"no_think": 1},
    }
    assert read_dataset(imported / "rejected" / "import").to_list()[0]["rejected_reason"] == "no_think"


def test_imported_traces_go_through_filter_and_publish(tmp_path):
    source = write_jsonl(openr1_math_rows(), tmp_path / "openr1.jsonl")
    folders = [tmp_path / name for name in ("imported", "verified", "curated", "dataset")]
    assert cli(["import", "--input", str(source), "--output_dir", str(folders[0]), "--teacher", "DeepSeek-R1",
                "--progress", "false"]) == 0  # fmt: skip
    assert cli(["verify", "--input", str(folders[0]), "--output_dir", str(folders[1]), "--verify_num_proc", "0",
                "--progress", "false"]) == 0  # fmt: skip
    assert cli(["filter", "--input", str(folders[1]), "--output_dir", str(folders[2])]) == 0
    assert cli(["publish", "--input", str(folders[2]), "--output_dir", str(folders[3])]) == 0
    sft = read_dataset(folders[3] / "data" / "sft").to_list()
    # right and finished: the divisor sum, the prime and sin 60; the wrong and the cut traces are rejected
    assert sorted(r["predicted_answer"] for r in sft) == sorted(["28", "C", "\\dfrac{\\sqrt3}{2}"])
    assert {r["teacher"] for r in sft} == {"DeepSeek-R1"}
    card = (folders[3] / "README.md").read_text()
    assert "| import | 6 | 5 | 1 | no_think: 1 |" in card
    assert (
        len(read_dataset(folders[3] / "data" / "all_traces")) == 4
    )  # the imported traces, one row per problem


def test_verify_dispatches_imported_code_and_multiple_choice_traces_by_domain(tmp_path):
    source = write_jsonl(mixture_of_thoughts_rows(), tmp_path / "mot.jsonl")
    imported, verified = tmp_path / "imported", tmp_path / "verified"
    assert cli(["import", "--input", str(source), "--output_dir", str(imported), "--progress", "false"]) == 0
    assert cli(["verify", "--input", str(imported), "--output_dir", str(verified), "--verify_num_proc", "0",
                "--progress", "false"]) == 0  # fmt: skip
    rows = {r["domain"]: r for r in read_dataset(verified).to_list()}
    # no gold in Mixture-of-Thoughts and no tests for its code: unknown verdicts, each from its own judgement
    assert (rows["code"]["correct"], rows["code"]["verify_error"]) == (None, "no_tests")
    assert (rows["mcq"]["correct"], rows["mcq"]["verify_error"]) == (None, "gold_missing")
    assert (rows["math"]["correct"], rows["math"]["verify_error"]) == (None, "gold_missing")


def test_cli_errors_name_the_problem_and_exit_2(tmp_path, capsys):
    def error(argv: list[str]) -> str:
        assert cli(["import", *argv, "--progress", "false"]) == 2
        return capsys.readouterr().err

    plain = write_jsonl([{"text": "hello"}], tmp_path / "plain.jsonl")
    assert "no known trace layout in columns ['text']" in error(
        ["--input", str(plain), "--output_dir", str(tmp_path / "a")]
    )
    source = write_jsonl(openr1_math_rows(), tmp_path / "openr1.jsonl")
    out = str(tmp_path / "b")
    assert "unknown" in error(["--input", str(source), "--output_dir", out, "--layout", "sharegpt"])
    assert "--layout s1k reads column(s)" in error(
        ["--input", str(source), "--output_dir", out, "--layout", "s1k"]
    )
    broken = write_jsonl(
        [{"messages": [{"role": "user", "content": "hi"}]}, {"messages": "not a chat"}], tmp_path / "m.jsonl"
    )
    message = error(["--input", str(broken), "--output_dir", str(tmp_path / "c")])
    assert "row 1, column `messages`" in message and "expected a list" in message
    bad_list = write_jsonl([{**openr1_math_rows()[0], "generations": "one text"}], tmp_path / "g.jsonl")
    assert "column `generations`: expected a list" in error(
        ["--input", str(bad_list), "--output_dir", str(tmp_path / "d")]
    )
    assert "--import_num_proc must be >= 1" in error(
        ["--input", str(source), "--output_dir", out, "--import_num_proc", "0"]
    )
    assert "--import_batch_size must be >= 1" in error(
        ["--input", str(source), "--output_dir", out, "--import_batch_size", "0"]
    )


def test_a_hub_id_loads_through_the_real_datasets_client(tmp_path):
    repo = "alice/openr1-math-mini"
    parquet = tmp_path / "train-00000-of-00001.parquet"
    Dataset.from_list(openr1_math_rows()).to_parquet(str(parquet))
    with HubServer(tmp_path / "hub", {"hf_alice": "alice"}) as hub:
        env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
        env.update(HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "home"),
                   HF_HUB_DISABLE_PROGRESS_BARS="1", PYTHONPATH=str(REPO_ROOT))  # fmt: skip
        upload = (
            "import sys; from huggingface_hub import HfApi; api = HfApi(token='hf_alice');"
            "api.create_repo(sys.argv[1], repo_type='dataset');"
            "api.upload_file(path_or_fileobj=sys.argv[2], path_in_repo='data/train-00000-of-00001.parquet',"
            " repo_id=sys.argv[1], repo_type='dataset')"
        )
        done = subprocess.run([sys.executable, "-c", upload, repo, str(parquet)], env=env, capture_output=True,
                              text=True, timeout=180)  # fmt: skip
        assert done.returncode == 0, done.stderr
        out = tmp_path / "imported"
        done = subprocess.run(
            [sys.executable, "-m", "openr1_data.cli", "import", "--input", repo, "--output_dir", str(out),
             "--teacher", "deepseek-ai/DeepSeek-R1", "--progress", "false"],
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert any("/datasets/alice/openr1-math-mini" in path for _, path, _ in hub.state.requests)
    rows = read_dataset(out).to_list()
    assert len(rows) == 5 and {r["teacher"] for r in rows} == {"deepseek-ai/DeepSeek-R1"}
    assert json.loads((out / "lineage.json").read_text())["input"]["path"] == repo


# --------------------------------------------------------------------------------------------------------------
# Streaming and resume
# --------------------------------------------------------------------------------------------------------------


def synthetic_openr1(n: int) -> list[dict]:
    """OpenR1-Math-like rows, two generations each, one of them wrong."""
    rows = []
    for i in range(n):
        a, b = i % 97 + 2, i % 89 + 3
        problem = f"Problem {i}: compute ${a} \\cdot {b}$."
        gens = [
            think(f"{a} times {b}: {a} * {b} = {a * b}. " * 5, f"So the product is $\\boxed{{{a * b}}}$."),
            think(f"{a} times {b} is about {a * b + 1}. " * 5, f"$\\boxed{{{a * b + 1}}}$"),
        ]
        rows.append({"problem": problem, "solution": f"$\\boxed{{{a * b}}}$", "answer": str(a * b),
                     "generations": gens, "correctness_math_verify": [True, False],
                     "finish_reasons": ["stop", "stop"], "source": "synthetic"})  # fmt: skip
    return rows


def test_worker_processes_give_the_same_traces_in_the_same_order(tmp_path):
    rows = synthetic_openr1(150)
    rows += rows[:40]  # problems met again in later batches: their sample indices continue across batches
    raw = Dataset.from_list(rows)
    alone = import_traces(raw, ImportConfig(import_batch_size=37, progress=False), tmp_path / "one")
    workers = import_traces(
        raw, ImportConfig(import_batch_size=37, import_num_proc=2, progress=False), tmp_path / "two"
    )
    assert workers.kept.to_list() == alone.kept.to_list()
    assert len(alone.kept) == 380 and max(alone.kept["sample_index"]) == 3
    # a row of the wrong shape met in a worker is the same one-line error, naming the row
    chats = openthoughts3_rows() * 40
    chats[100] = {**chats[100], "conversations": [{"from": "human", "value": None}]}
    with pytest.raises(ContractError, match="row 100, column `conversations`"):
        import_traces(Dataset.from_list(chats), ImportConfig(import_batch_size=37, import_num_proc=2,
                                                             progress=False), tmp_path / "x")  # fmt: skip


def test_a_killed_import_resumes_with_every_trace_once(tmp_path):
    source = tmp_path / "big.parquet"
    Dataset.from_list(synthetic_openr1(4000)).to_parquet(str(source))
    out = tmp_path / "imported"
    argv = ["import", "--input", str(source), "--output_dir", str(out), "--import_batch_size", "50",
            "--progress", "false"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "openr1_data.cli", *argv], env=env, cwd=REPO_ROOT)
    deadline = time.monotonic() + 240
    while not list((out / "data").glob("import-*.parquet")) and time.monotonic() < deadline:
        assert proc.poll() is None, "the import ended before it could be killed"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    written = len(list((out / "data").glob("import-*.parquet")))
    assert 1 <= written < 80 and not (out / "funnel.json").exists()
    # a half-written batch as a killed run can leave it: its rejected shard and a temp kept shard
    (out / "rejected" / "import").mkdir(parents=True, exist_ok=True)
    Dataset.from_list(synthetic_openr1(1)).to_parquet(
        str(out / "rejected" / "import" / f"import-{written:06d}.parquet")
    )
    (out / "data" / f".import-{written:06d}.parquet.tmp").write_bytes(b"PAR1 half")
    with pytest.raises(Exception, match="incomplete stage output"):
        read_dataset(out)
    assert cli(argv) == 0  # the same command resumes
    rows = read_dataset(out).to_list()
    ids = [r["trace_id"] for r in rows]
    assert len(ids) == len(set(ids)) == 8000
    assert sorted(r["problem"] for r in rows if r["sample_index"] == 0) == sorted(
        r["problem"] for r in synthetic_openr1(4000)
    )
    assert len(read_dataset(out / "rejected" / "import")) == 0
    report = json.loads((out / "import_report.json").read_text())
    assert (report["input_rows"], report["traces"], report["source_correct"]) == (
        4000,
        8000,
        {"true": 4000, "false": 4000},
    )
    # a rerun with other settings is refused instead of mixing traces
    assert cli([*argv[:-2], "--teacher", "other"]) == 2
