"""The math verification stage: real math-verify, real worker processes, real Parquet."""

from __future__ import annotations

import os
import threading
import time

import pytest
from datasets import Dataset

from openr1_data.cli import main as cli_main
from openr1_data.curate.answer_verifier import AnswerOptions, AnswerVerifier
from openr1_data.curate.text_answers import text_gold
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


@pytest.mark.parametrize(
    ("gold", "answer", "expected"),
    [
        ("yes", "sey", False),  # issue 25: math-verify read both as the product y*e*s
        ("forty two", "two forty", False),
        ("forty two", "forty-two", True),  # punctuation between words is not part of the answer
        ("forty two", "42", None),  # a gold math cannot read never gives a verdict
        ("Yes", "\\text{yes}", True),
        ("\\text{Paris}", "paris", True),
        ("Paris", "Lyon", False),
        ("是", "是", True),  # words of another script
        ("是", "否", False),
        ("yes", None, False),  # no answer is wrong, as for math golds
    ],
)
def test_golds_in_words_are_compared_as_text(gold, answer, expected):
    assert is_correct(gold, answer) is expected


@pytest.mark.parametrize(
    ("gold", "words"),
    [
        ("yes", True),
        ("No", True),
        ("forty two", True),
        ("\\text{Evelyn}", True),
        ("$\\text{the Nile}$", True),
        ("Bob", True),  # a capitalised name
        ("odd", True),  # a short word of the list
        ("undefined", True),
        ("B", False),  # a choice letter or a variable: math, as before
        ("x", False),
        ("ab", False),  # short lowercase runs are products of variables
        ("xyz", False),
        ("\\pi", False),
        ("pi", False),
        ("infinity", False),  # math-verify reads it as oo
        ("sin x", False),
        ("2x+1", False),
        ("10 \\text{ cm}", False),
        ("\\text{(B)}", False),
        ("---", False),
    ],
)
def test_which_golds_are_words(gold, words):
    assert text_gold(gold) is words


def test_gold_goes_first():
    # math-verify is not symmetric: an inequality gold accepts the interval answer, not the other way round.
    assert is_correct("x<3", "(-\\infty, 3)") is True
    assert is_correct("(-\\infty, 3)", "x<3") is False
    ds = Dataset.from_dict({"answer": ["x<3", "(-\\infty, 3)"], "predicted_answer": ["(-\\infty, 3)", "x<3"]})
    assert verify_traces(ds, VerifyConfig(verify_num_proc=0)).kept["correct"] == [True, False]


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
    out = verify_traces(ds, VerifyConfig(verify_num_proc=0)).kept
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
    parallel = verify_traces(ds, VerifyConfig(verify_num_proc=2, verify_batch_size=3)).kept
    assert parallel["correct"] == EXPECTED_CORRECT
    assert parallel["verify_error"] == EXPECTED_ERROR
    # A dataset with an indices mapping (select / shuffle) is verified in its own row order.
    picked = ds.select([11, 0, 8, 4])
    assert verify_traces(picked, VerifyConfig(verify_num_proc=2, verify_batch_size=2)).kept["correct"] == [
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
    assert verify_traces(ds, VerifyConfig(verify_num_proc=0)).kept["correct"] == [True, False]
    lenient = verify_traces(ds, VerifyConfig(verify_num_proc=0, missing_answer_is_wrong=False)).kept
    assert lenient["correct"] == [True, None]
    assert lenient["verify_error"] == [None, "no_answer"]


def test_pathological_expressions_time_out_per_row():
    ds = _traces([("2", "2", None), ("2", PATHOLOGICAL, None), (PATHOLOGICAL, "1", None), ("3", "4", None)])
    start = time.perf_counter()
    out = verify_traces(ds, VerifyConfig(verify_num_proc=2, verify_batch_size=1, timeout_seconds=1)).kept
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
    out = verify_traces(ds, VerifyConfig(verify_num_proc=2, verify_batch_size=2, start_method="fork")).kept
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


# --------------------------------------------------------------------------------------------------------------
# Issue 17: which \boxed{} answers count, timeouts, set-relation comparison
# --------------------------------------------------------------------------------------------------------------

# (gold, completion): "find all" answers written as several boxes, each equal to a gold that lists them all.
MULTI_BOX = [
    ("-2, 1", "<think>\nTry the factors.\n</think>\nThe integers are \\boxed{-2} and \\boxed{1}."),
    ("(2,1),(1,2)", "<think>\nSymmetric.\n</think>\n\\boxed{(2, 1)}, \\boxed{(1, 2)}"),
    ("k = 45, n = 2", "<think>\nSolve.\n</think>\n\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}"),
    ("\\{1,2,3\\}", "<think>\nList them.\n</think>\n\\boxed{1},\\boxed{2},\\boxed{3}"),
]
# An intermediate box, then an explicit final statement: the statement is the answer.
INTERMEDIATE = (
    "10455",
    "<think>\nCount subsets.\n</think>\nThere are $2^8 - 1 = \\boxed{255}$ non-empty subsets, and each is counted "
    "41 times, so the total is $255 \\cdot 41$. The final answer is $10,455$.",
)


def _parsed_traces(pairs: list[tuple[str, str]]) -> Dataset:
    """Traces as generation writes them: the r1 style's parser fills final and predicted_answer."""
    from openr1_data.prompts import get_style

    rows = []
    for i, (gold, completion) in enumerate(pairs):
        parsed = get_style("r1").parse(completion, {})
        rows.append(
            {
                "problem_id": f"p{i}",
                "answer": gold,
                "completion": completion,
                "final": parsed.final,
                "predicted_answer": parsed.predicted_answer,
            }
        )
    return Dataset.from_list(rows)


def test_several_boxes_are_one_answer_and_a_final_statement_beats_an_intermediate_box():
    ds = _parsed_traces([*MULTI_BOX, INTERMEDIATE])
    assert ds["predicted_answer"] == ["-2, 1", "(2, 1), (1, 2)", "k = 45, n = 2", "1, 2, 3", "10,455"]
    assert verify_traces(ds, VerifyConfig(verify_num_proc=0)).kept["correct"] == [True] * 5
    # Only the last box would have scored every one of them wrong (the defect): prove the golds are strict.
    last_only = [
        is_correct(gold, box)
        for gold, box in zip(ds["answer"], ["1", "(1, 2)", "n = 2", "3", "255"], strict=True)
    ]
    assert last_only == [False] * 5


def test_answer_from_final_rereads_traces_parsed_with_the_last_box_only():
    ds = _parsed_traces(MULTI_BOX).remove_columns(["predicted_answer"])
    ds = ds.add_column("predicted_answer", ["1", "(1, 2)", "n = 2", "3"])  # an older parser's last box
    assert verify_traces(ds, VerifyConfig(verify_num_proc=0)).kept["correct"] == [False] * 4
    reread = verify_traces(ds, VerifyConfig(verify_num_proc=0, answer_from_final=True)).kept
    assert reread["correct"] == [True] * 4
    with pytest.raises(ContractError, match="final"):
        verify_traces(ds.remove_columns(["final"]), VerifyConfig(verify_num_proc=0, answer_from_final=True))


def test_allow_set_relation_comp_is_a_verify_option():
    # math-verify compares a relation answer with a set gold only when asked to.
    ds = Dataset.from_dict(
        {"answer": ["[-2, 7]", "(-\\infty, 3)"], "predicted_answer": ["-2 \\le x \\le 7", "x<3"]}
    )
    assert verify_traces(ds, VerifyConfig(verify_num_proc=0)).kept["correct"] == [False, False]
    lenient = VerifyConfig(verify_num_proc=0, allow_set_relation_comp=True)
    assert verify_traces(ds, lenient).kept["correct"] == [True, True]
    assert is_correct("[-2, 7]", "x \\in [-2, 7]") is True  # a membership answer is a set already


def test_a_timeout_is_not_cached_as_a_verdict():
    # A polynomial with hundreds of terms: about 2 s of parsing here, more than a 1 s timeout allows.
    slow = " + ".join(f"\\frac{{{i}}}{{{i + 1}}}x^{{{i}}}" for i in range(1, 400))
    verifier = AnswerVerifier(AnswerOptions(timeout_seconds=120))
    # warm up first: a cold first parse can take over 1 s on a loaded machine
    assert verifier.check("1", "1") == (True, None)
    parses = verifier.stats.parses
    verifier.options = AnswerOptions(timeout_seconds=1)
    assert verifier.check("1", slow) == (None, "timeout")
    assert verifier.check(slow, slow) == (None, "gold_timeout")  # parsed again: the timeout was not cached
    # the slow text twice ("1" is cached)
    assert (verifier.stats.parses - parses, verifier.stats.timeouts) == (2, 2)
    verifier.options = AnswerOptions(timeout_seconds=120)  # the load is gone: the same verifier now decides
    assert verifier.check(slow, slow) == (True, None)
    assert (
        verifier.check(slow, slow) == (True, None) and verifier.stats.pair_cache_hits == 1
    )  # verdicts are cached


def test_verify_keeps_every_row_and_reports_its_counts():
    ds = Dataset.from_dict({"answer": ["2", "3"], "predicted_answer": ["2", "4"]})
    result = verify_traces(ds, VerifyConfig(verify_num_proc=0))
    assert len(result.kept) == 2 and len(result.rejected) == 0
    assert (result.stats.stage, result.stats.rows_in, result.stats.rows_out) == ("verify", 2, 2)
    assert result.report == verify_summary(result.kept)
    assert result.report["correct"] == 1 and result.report["incorrect"] == 1
