"""The math verification stage: real math-verify, real worker processes, real Parquet."""

from __future__ import annotations

import os
import threading
import time

import pytest
from datasets import Dataset

from openr1_data.cli import main as cli_main
from openr1_data.curate.answer_verifier import AnswerOptions, AnswerVerifier
from openr1_data.curate.verify import VerifyConfig, is_correct, verify_columns, verify_summary, verify_traces
from openr1_data.io import read_dataset, write_dataset
from openr1_data.schema import ContractError

PATHOLOGICAL = "\\frac{1}{" * 3000 + "1" + "}" * 3000  # deep nesting: math-verify's parser needs seconds


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("\\frac{1}{2}", "0.5", True),  # fraction vs decimal
        ("0.5", "\\frac12", True),
        ("\\frac{1}{2}", "\\frac{1}{3}", False),
        ("3", "x=3", True),  # an assignment counts as its value
        ("x=3", "3", True),
        ("\\{1, 2\\}", "\\{2, 1\\}", True),  # sets ignore order
        ("(1, 2]", "(1,2]", True),  # intervals compare bounds and openness
        ("(1, 2]", "[1, 2]", False),
        ("10\\text{ cm}", "10", True),  # units are dropped
        ("90^\\circ", "90", True),
        ("5", "6", False),  # wrong answers
        ("---", "---", None),  # unparseable gold: unknown, never True (even for an identical string)
        ("\\ldots", "\\ldots", None),
        ("", "3", None),  # no gold at all
        ("7", None, False),  # no answer counts as wrong by default
    ],
)
def test_math_verify_cases(gold, answer, expected):
    assert is_correct(gold, answer) is expected


def test_gold_goes_first():
    # math-verify is not symmetric: an inequality gold accepts the interval answer, not the other way round.
    assert is_correct("x<3", "(-\\infty, 3)") is True
    assert is_correct("(-\\infty, 3)", "x<3") is False
    ds = Dataset.from_dict({"answer": ["x<3", "(-\\infty, 3)"], "predicted_answer": ["(-\\infty, 3)", "x<3"]})
    assert verify_traces(ds, VerifyConfig(verify_num_proc=0))["correct"] == [True, False]


def _traces(rows: list[tuple]) -> Dataset:
    return Dataset.from_list(
        [
            {"problem_id": f"p{i // 4}", "answer": g, "predicted_answer": p, "final": f, "completion": "..."}
            for i, (g, p, f) in enumerate(rows)
        ]
    )


MIXED = [
    ("\\frac{1}{2}", "0.5", None),
    ("\\frac{1}{2}", "\\frac{1}{2}", None),
    ("\\frac{1}{2}", "\\frac{2}{3}", None),
    (
        "\\frac{1}{2}",
        None,
        "So the final answer is $\\frac{1}{2}$.",
    ),  # no boxed answer: announced in the text
    ("---", "---", None),
    ("---", "3", None),
    ("---", None, "nothing"),
    ("---", "4", None),
    ("42", "42", None),
    ("42", None, "I ran out of time"),
    ("42", "\\frac{", None),
    ("42", "41", None),
]
EXPECTED_CORRECT = [True, True, False, True, None, None, None, None, True, False, False, False]
EXPECTED_ERROR = [None] * 4 + ["gold_unparseable"] * 4 + [None, "no_answer", None, None]


def test_verify_traces_adds_columns_and_keeps_rows_in_order():
    ds = _traces(MIXED)
    out = verify_traces(ds, VerifyConfig(verify_num_proc=0))
    assert len(out) == len(ds)
    assert out["problem_id"] == ds["problem_id"]
    assert out["correct"] == EXPECTED_CORRECT
    assert out["verify_error"] == EXPECTED_ERROR
    assert verify_summary(out) == {
        "correct": 4,
        "incorrect": 4,
        "unknown": 4,
        "error:gold_unparseable": 4,
        "error:no_answer": 1,
    }


def test_worker_processes_agree_with_one_process_and_respect_row_selection():
    ds = _traces(MIXED)
    parallel = verify_traces(ds, VerifyConfig(verify_num_proc=2, verify_batch_size=3))
    assert parallel["correct"] == EXPECTED_CORRECT
    assert parallel["verify_error"] == EXPECTED_ERROR
    # A dataset with an indices mapping (select / shuffle) is verified in its own row order.
    picked = ds.select([11, 0, 8, 4])
    assert verify_traces(picked, VerifyConfig(verify_num_proc=2, verify_batch_size=2))["correct"] == [
        False,
        True,
        True,
        None,
    ]


def test_each_gold_is_parsed_once_per_problem():
    golds = ["\\frac{1}{2}"] * 4 + ["x = 5"] * 4 + ["(1, 2]"] * 4
    preds = (
        ["0.5", "0.5", "\\frac{1}{2}", "3"] + ["5", "x=5", "5", "6"] + ["(1,2]", "(1, 2]", "[1,2]", "(1,2]"]
    )
    import pyarrow as pa

    result = verify_columns(pa.array(golds), pa.array(preds), VerifyConfig(verify_num_proc=0, progress=False))
    distinct_texts = set(golds) | set(preds)
    assert result.stats.parses == len(distinct_texts)  # every distinct text once, golds included
    expected = [True, True, True, False] + [True, True, True, False] + [True, True, False, True]
    assert result.correct.to_pylist() == expected
    # With workers too: chunk boundaries follow the gold groups (here a boundary at row 6 moves to row 8).
    config = VerifyConfig(verify_num_proc=2, verify_batch_size=6, progress=False)
    parallel = verify_columns(pa.array(golds), pa.array(preds), config)
    assert parallel.stats.parses == len(distinct_texts) and parallel.correct.to_pylist() == expected


def test_missing_answer_column_fails_before_any_work():
    ds = Dataset.from_dict({"predicted_answer": ["1"], "completion": ["\\boxed{1}"]})
    with pytest.raises(ContractError, match="'answer'"):
        verify_traces(ds)


def test_numeric_gold_column_and_missing_answer_policy():
    ds = Dataset.from_dict({"answer": [12, 7], "predicted_answer": ["12", None], "final": ["", ""]})
    assert verify_traces(ds, VerifyConfig(verify_num_proc=0))["correct"] == [True, False]
    lenient = verify_traces(ds, VerifyConfig(verify_num_proc=0, missing_answer_is_wrong=False))
    assert lenient["correct"] == [True, None]
    assert lenient["verify_error"] == [None, "no_answer"]


def test_pathological_expressions_time_out_per_row():
    ds = _traces([("2", "2", None), ("2", PATHOLOGICAL, None), (PATHOLOGICAL, "1", None), ("3", "4", None)])
    start = time.perf_counter()
    out = verify_traces(ds, VerifyConfig(verify_num_proc=2, verify_batch_size=1, timeout_seconds=1))
    assert time.perf_counter() - start < 60
    assert out["correct"] == [True, None, None, False]
    assert out["verify_error"] == [None, "timeout", "gold_timeout", None]


def test_a_crashing_worker_costs_only_its_row(monkeypatch):
    # Simulate a parse that kills its process (a segfault, the OOM killer): the fork workers inherit the patch.
    original = AnswerVerifier.check

    def crash_on_poison(self, gold, predicted, final=None):
        if predicted == "POISON":
            os._exit(1)
        return original(self, gold, predicted, final)

    monkeypatch.setattr(AnswerVerifier, "check", crash_on_poison)
    ds = _traces(
        [("1", "1", None), ("2", "POISON", None), ("3", "3", None), ("4", "5", None), ("5", "5", None)]
    )
    out = verify_traces(ds, VerifyConfig(verify_num_proc=2, verify_batch_size=2, start_method="fork"))
    assert out["correct"] == [True, None, True, False, True]
    assert out["verify_error"] == [None, "worker_crashed", None, None, None]


def test_is_correct_works_off_the_main_thread():
    # math-verify's timeouts use signals (main thread only): other threads are served by a worker process.
    results = []
    thread = threading.Thread(target=lambda: results.append(is_correct("\\frac{1}{2}", "0.5")))
    thread.start()
    thread.join(timeout=120)
    assert results == [True]


def test_fast_two_stage_parsing_gives_stock_math_verify_results():
    from math_verify import parse
    from math_verify.parser import parse_latex_cached

    texts = ["(1, 2]", "y = 3x + 1", "\\{1, 2, 3\\}", "2\\sqrt{3}", "\\frac{\\pi}{4}", "x \\geq 2"]
    texts += ["[1, \\infty)", "007", "0", "12345678901234567890", "0.50", "1,000", "3, 4", "10\\%"]
    texts += ["\\frac{", "a)", "x^2-1=0", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\frac{1}{007}", "-3"]
    verifier = AnswerVerifier()
    for text in texts:
        ours, error = verifier._parse(text, anchored=False)
        assert error is None
        parse_latex_cached.cache_clear()  # math-verify caches parsed LaTeX: make the stock parse do the work
        stock = parse(f"${text}$")  # outside our verifier: math-verify as shipped
        assert [str(x) for x in ours] == [str(x) for x in stock], text


def test_answer_options_reject_fractional_timeouts():
    with pytest.raises(ValueError, match="whole number"):
        AnswerOptions(timeout_seconds=0.5)


def test_verify_cli_reads_a_folder_and_writes_verified_shards(tmp_path, capsys):
    write_dataset(_traces(MIXED), tmp_path / "traces")
    rc = cli_main(
        [
            "verify",
            "--input",
            str(tmp_path / "traces"),
            "--output_dir",
            str(tmp_path / "out"),
            "--verify_num_proc",
            "0",
        ]
    )
    assert rc == 0
    out = read_dataset(tmp_path / "out")
    assert out["correct"] == EXPECTED_CORRECT
    printed = capsys.readouterr().out
    assert "verified 12 traces" in printed and "gold_unparseable" in printed
