"""Problem loading: sources, column mapping, answer derivation, stable ids, rejected rows."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from datasets import Dataset

from openr1_data.schema import ContractError, make_problem_id
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.problems import ProblemSourceConfig, load_problems, normalize_problems
from openr1_data.text import gold_answer


def test_bundled_problems_are_deterministic_and_complete():
    first, again = bundled_problems(30), bundled_problems(30)
    assert first == again
    assert len({r["problem"] for r in first}) == 30
    for row in first:
        assert row["solution"].endswith(f"$\\boxed{{{row['answer']}}}$.")


def test_arithmetic_problems_cover_the_range_with_verified_gold_answers():
    """`--problems arithmetic`: every a + b in the range once (both orders), its gold answer the sum, and the
    reference solution boxing it."""
    rows = load_problems(
        ProblemSourceConfig(problems="arithmetic", arithmetic_low=1, arithmetic_high=14)
    ).kept
    assert len(rows) == 196 and len(set(rows["problem"])) == 196  # the pilot's set
    pairs = {
        tuple(int(x) for x in p.removeprefix("What is ").removesuffix("?").split(" + "))
        for p in rows["problem"]
    }
    assert pairs == {(a, b) for a in range(1, 15) for b in range(1, 15)}
    assert all(int(r["answer"]) == sum(map(int, r["problem"][8:-1].split(" + "))) for r in rows)
    small = load_problems(
        ProblemSourceConfig(problems="arithmetic", arithmetic_low=0, arithmetic_high=2)
    ).kept
    assert len(small) == 9 and "What is 0 + 2?" in small["problem"]
    # the reference solution boxes the gold answer
    assert all(gold_answer(None, r["solution"]) == r["answer"] for r in rows)
    with pytest.raises(ValueError, match="arithmetic_low"):
        load_problems(ProblemSourceConfig(problems="arithmetic", arithmetic_low=5, arithmetic_high=2))


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet", ".csv"])
def test_local_files_with_user_column_names(tmp_path, suffix):
    frame = pd.DataFrame(
        {
            "question": ["What is 2+2?", "What is 3*3?"],
            "worked": ["2+2=4 so \\boxed{4}", "\\boxed{9}"],
            "x": [1, 2],
        }
    )
    path = tmp_path / f"p{suffix}"
    {
        ".jsonl": lambda: frame.to_json(path, orient="records", lines=True),
        ".parquet": lambda: frame.to_parquet(path),
        ".csv": lambda: frame.to_csv(path, index=False),
    }[suffix]()
    cfg = ProblemSourceConfig(problems=str(path), problem_column="question", solution_column="worked")
    kept = load_problems(cfg).kept
    assert kept["problem"] == ["What is 2+2?", "What is 3*3?"]
    assert kept["answer"] == ["4", "9"]  # derived from the last \boxed{} of the solution
    assert kept["problem_id"] == [make_problem_id("What is 2+2?"), make_problem_id("What is 3*3?")]
    assert kept["x"] == [1, 2]  # user columns travel along


def test_local_dataset_folder(tmp_path):
    Dataset.from_list(bundled_problems(5)).save_to_disk(tmp_path / "saved")
    assert len(load_problems(ProblemSourceConfig(problems=str(tmp_path / "saved"))).kept) == 5


def test_problem_id_is_stable_under_whitespace_and_case():
    assert make_problem_id("What is  2+2?\n") == make_problem_id("what is 2+2?")
    assert make_problem_id("What is 2+2?") != make_problem_id("What is 2+3?")


def test_missing_problem_column_lists_existing_columns():
    with pytest.raises(ContractError) as err:
        normalize_problems(Dataset.from_dict({"question": ["a"], "answer": ["1"]}))
    assert (
        "problem" in str(err.value) and "question" in str(err.value) and "--problem_column" in str(err.value)
    )


def test_empty_and_non_string_problems_are_rejected_with_reasons(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        "\n".join(json.dumps(r) for r in [{"problem": "ok?"}, {"problem": "  "}, {"problem": None}])
    )
    result = load_problems(ProblemSourceConfig(problems=str(path)))
    assert len(result.kept) == 1
    assert result.stats.rejected == {"empty_problem": 1, "non_string_problem": 1}
    assert result.rejected["rejected_reason"] == ["empty_problem", "non_string_problem"]


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="not an existing file"):
        load_problems(ProblemSourceConfig(problems=str(tmp_path / "missing.jsonl")))


def test_write_dataset_replaces_an_earlier_write(tmp_path):
    from openr1_data.io import read_dataset, write_dataset

    write_dataset(Dataset.from_dict({"x": list(range(5))}), tmp_path, max_rows=2)  # three shards
    write_dataset(Dataset.from_dict({"x": [100]}), tmp_path)  # one shard
    assert read_dataset(tmp_path)["x"] == [100]


def test_gsm8k_style_solution_gives_the_gold_answer():
    kept = normalize_problems(
        Dataset.from_dict({"problem": ["p"], "solution": ["12 * 6 = 72\n#### 72"]})
    ).kept
    assert kept["answer"] == ["72"]
