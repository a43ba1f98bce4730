"""Decontamination against the offline AIME / MATH-500 copies: planted formatting variants, short items,
n-gram sizes, overlap threshold, the on-disk index cache and the CLI."""

from __future__ import annotations

import json
import re

import pytest
from datasets import Dataset

from openr1_data import cli
from openr1_data.dedup.decontaminate import (
    DecontaminationConfig,
    build_index,
    cache_root,
    decontaminate,
    format_report,
)
from openr1_data.dedup.normalize import words
from openr1_data.io import read_dataset
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.eval_benchmarks import UnknownBenchmark, load_benchmark


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENR1_DATA_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def benchmarks() -> dict[str, Dataset]:
    return {name: load_benchmark(name) for name in ("aime_2024", "aime_2025", "math_500")}


def _dollars_to_parens(text: str) -> str:
    return re.sub(r"\$([^$]*)\$", r"\\(\1\\)", text)


FORMAT_CHANGES = [
    lambda t: "   " + t.replace(" ", "  ").replace(". ", ".\n\n") + "  ",  # whitespace
    lambda t: t.replace("\\frac", "\\dfrac"),  # \dfrac
    _dollars_to_parens,  # $...$ -> \(...\)
    lambda t: t.upper(),  # capitalisation
    lambda t: t.lower().replace("(", "\\left(").replace(")", "\\right)"),  # \left( \right)
    lambda t: _dollars_to_parens(t.replace("\\frac", "\\dfrac")).upper().replace(" ", "\t"),  # all at once
]


def planted_rows(benchmarks: dict[str, Dataset], changes=FORMAT_CHANGES, every: int = 3):
    """Formatting variants of benchmark items, with the (benchmark, item id) each comes from."""
    rows, truth = [], []
    k = 0
    for name, ds in benchmarks.items():
        for i in range(0, len(ds), every):
            rows.append(changes[k % len(changes)](ds[i]["problem"]))
            truth.append((name, ds[i]["item_id"]))
            k += 1
    return rows, truth


LONGER_CLEAN = [
    "A bakery sells muffins in boxes of 6 and cookies in boxes of 15. Maya wants to buy the same number of "
    "muffins and cookies. What is the smallest number of each she can buy, and how many boxes is that in total?",
    "Let $g(x) = 3x^2 - 5x + 7$. For how many integers $k$ with $1 \\le k \\le 50$ is $g(k)$ divisible by 11?",
    "A train leaves a station at 9:15 travelling at 72 km per hour. A second train leaves the same station at "
    "10:00 on a parallel track at 90 km per hour. At what time does the second train catch up with the first?",
    "The vertices of a triangle are at $(0, 0)$, $(12, 0)$ and $(4, 9)$. Find the radius of the circle that "
    "passes through all three vertices, expressed as a common fraction in simplest radical form.",
    "In a bag there are 5 red, 7 blue and 8 green marbles. Three marbles are drawn without replacement. "
    "What is the probability that all three have different colours? Express your answer as a fraction.",
]


def clean_rows() -> list[str]:
    """Problems that share no n-gram with the benchmarks (grade-school templates and hand-written ones)."""
    return [r["problem"] for r in bundled_problems(64)] + LONGER_CLEAN


def test_planted_contamination_fully_caught(benchmarks):
    dirty, truth = planted_rows(benchmarks)
    clean = clean_rows()
    rows = clean[:40] + dirty + clean[40:]
    ds = Dataset.from_dict({"problem": rows, "row": list(range(len(rows)))})
    result = decontaminate(ds, DecontaminationConfig(benchmarks=list(benchmarks)))

    flagged = {r["row"]: r for r in result.rejected.to_list()}
    for k, (name, item_id) in enumerate(truth):
        row = flagged.get(40 + k)
        assert row is not None, f"variant of {name}/{item_id} not caught: {dirty[k][:80]!r}"
        assert (row["contamination_benchmark"], row["contamination_item_id"]) == (name, item_id)
        assert row["rejected_reason"] == f"contaminated:{name}"
        gram = row["contamination_ngram"].split()
        assert len(gram) == 8 or row["contamination_overlap"] == 1.0
        assert " ".join(gram) in " ".join(words(rows[40 + k]))  # the matched n-gram really is in the row
        assert f"{name}/{item_id}" in row["contamination_matches"]
    assert set(flagged) == set(range(40, 40 + len(dirty)))  # clean problems are not flagged
    assert result.kept["problem"] == clean

    stats, report = result.stats, result.report.to_dict()
    assert stats.rows_in == stats.rows_out + stats.rows_rejected == len(rows)
    assert report["ngram_size"] == 8 and report["rows_checked"] == len(rows)
    assert report["rows_flagged"] == len(dirty) == len(result.rejected)
    per_benchmark = {b["name"]: b for b in report["benchmarks"]}
    for name, ds in benchmarks.items():
        planted = sum(1 for n, _ in truth if n == name)
        # A row counts for every benchmark it overlaps (AIME items share boilerplate 8-grams such as
        # "m and n are relatively prime positive integers"); its reason names the best-matching one.
        assert per_benchmark[name]["rows_flagged"] >= planted
        assert per_benchmark[name]["items"] == len(ds)
        assert stats.rejected[f"contaminated:{name}"] == planted
    json.dumps(report)  # JSON-able, for the dataset card
    assert "aime_2024" in format_report(result.report)


@pytest.mark.parametrize("n", [13, 32])
def test_larger_ngram_sizes(benchmarks, n):
    dirty, truth = planted_rows(benchmarks, every=4)
    rows = clean_rows() + dirty
    result = decontaminate(
        Dataset.from_dict({"problem": rows}), DecontaminationConfig(benchmarks=list(benchmarks), ngram_size=n)
    )
    assert result.report.ngram_size == n
    assert len(result.rejected) == len(dirty)
    assert result.rejected["contamination_item_id"] == [item for _, item in truth]
    # With n = 32 about half the items are shorter than n words: those are caught by the whole-text comparison.
    short = sum(1 for p in dirty if len(words(p)) < n)
    assert short >= (len(dirty) // 3 if n == 32 else 1)


def test_reformatted_short_item_matches_whole(benchmarks):
    item = benchmarks["math_500"].filter(lambda r: r["item_id"] == "3")[0]
    assert item["problem"] == "How many positive whole-number divisors does 196 have?"
    # 9 words once normalized: with n = 13 the item has no n-gram and is compared whole, so case, hyphen, `$`
    # and punctuation changes must not matter.
    variants = [
        "how many positive whole number divisors does 196 have",
        "HOW MANY POSITIVE WHOLE-NUMBER DIVISORS DOES $196$ HAVE?",
    ]
    result = decontaminate(
        Dataset.from_dict({"problem": variants}),
        DecontaminationConfig(benchmarks=["math_500"], ngram_size=13),
    )
    assert result.rejected["contamination_item_id"] == ["3", "3"]
    assert (
        result.rejected["contamination_ngram"]
        == ["how many positive whole number divisors does 196 have"] * 2
    )
    assert result.rejected["contamination_overlap"] == [1.0, 1.0]


def test_short_problems_compared_whole(tmp_path):
    path = tmp_path / "tiny_eval.jsonl"
    items = [
        {"problem": "Compute $\\dbinom{8}{4}$.", "answer": "70", "id": "binom"},
        {
            "problem": "Let $x$ be the largest real root of $x^3 - 3x + 1 = 0$. Find $\\lfloor 100x \\rfloor$.",
            "answer": "153",
            "id": "root",
        },
    ]
    path.write_text("\n".join(json.dumps(i) for i in items))
    rows = [
        "compute \\binom{8}{4}",  # the short item, reformatted: flagged
        "Compute $\\dbinom{8}{4}$ and then add 3 to it.",  # contains it but is another problem: kept
        "COMPUTE $\\tbinom{8}{5}$.",  # another short problem: kept
        "Let $x$ be the largest real root of $x^3-3x+1=0$. Find $\\lfloor 100 x\\rfloor$.",  # long item: flagged
    ]
    ds = Dataset.from_dict({"problem": rows})
    config = DecontaminationConfig(benchmarks=[f"tiny={path}"])
    result = decontaminate(ds, config)
    assert result.rejected["problem"] == [rows[0], rows[3]]
    assert result.rejected["contamination_item_id"] == ["binom", "root"]
    assert result.rejected["contamination_ngram"][0] == "compute binom 8 4"
    config.short_exact_match = False
    assert decontaminate(ds, config).rejected["problem"] == [rows[3]]


def test_min_overlap_threshold(benchmarks):
    item = benchmarks["aime_2024"][0]
    toks = words(item["problem"])
    partial = "A new question that quotes " + " ".join(toks[:10]) + " plus nothing else."
    ds = Dataset.from_dict({"problem": [partial, item["problem"]]})
    any_overlap = decontaminate(ds, DecontaminationConfig(benchmarks=["aime_2024"]))
    assert len(any_overlap.rejected) == 2
    share = any_overlap.rejected["contamination_overlap"]
    assert (
        share[0] == pytest.approx(3 / (len(set(zip(*[toks[i:] for i in range(8)], strict=False)))))
        and share[1] == 1.0
    )
    half = decontaminate(ds, DecontaminationConfig(benchmarks=["aime_2024"], min_overlap=0.5))
    assert half.rejected["problem"] == [item["problem"]]
    assert half.report.min_overlap == 0.5


def test_solution_column_is_optional(benchmarks):
    item = benchmarks["math_500"][10]
    ds = Dataset.from_dict(
        {
            "problem": ["What is 6 times 7?"],
            "solution": [f"This is the known problem: {item['problem']} Answer: 42."],
        }
    )
    assert len(decontaminate(ds, DecontaminationConfig(benchmarks=["math_500"])).rejected) == 0
    both = decontaminate(
        ds, DecontaminationConfig(benchmarks=["math_500"], decontam_columns=["problem", "solution"])
    )
    assert both.rejected["contamination_column"] == ["solution"]
    assert both.rejected["contamination_item_id"] == [item["item_id"]]


def test_index_is_cached_by_content(tmp_path, benchmarks):
    aime = benchmarks["aime_2024"]
    first = build_index(aime, 8)
    assert not first.from_cache
    files = list((cache_root() / "ngram_index").glob("aime_2024-n8-*.npz"))
    assert len(files) == 1 and str(cache_root()).startswith(str(tmp_path))
    again = build_index(aime, 8)
    assert again.from_cache and again.content_key == first.content_key
    assert (again.hashes == first.hashes).all() and (again.item_of == first.item_of).all()
    changed = aime.map(
        lambda r, i: {"problem": r["problem"] + (" Extra." if i == 0 else "")}, with_indices=True
    )
    other = build_index(changed, 8)
    assert not other.from_cache and other.content_key != first.content_key
    assert build_index(aime, 13).content_key != first.content_key  # n is part of the key


def test_empty_and_non_text_cells_counted(benchmarks):
    ds = Dataset.from_dict(
        {"problem": [None, "", "   ", benchmarks["aime_2025"][0]["problem"], "What is 1+1?"]}
    )
    result = decontaminate(ds, DecontaminationConfig(benchmarks=["aime_2025"]))
    assert result.stats.rows_in == 5 and result.stats.rows_out == 4 and result.stats.rows_rejected == 1
    assert result.report.rows_empty == 3 and result.report.cells_not_text == 1


def test_bad_input_errors():
    ds = Dataset.from_dict({"question": ["x"]})
    with pytest.raises(ValueError, match="problem"):
        decontaminate(ds, DecontaminationConfig(benchmarks=["aime_2024"]))
    ds = Dataset.from_dict({"problem": ["x"]})
    with pytest.raises(UnknownBenchmark, match="aime_2024"):
        decontaminate(ds, DecontaminationConfig(benchmarks=["aime2024"]))
    with pytest.raises(ValueError, match="ngram_size"):
        decontaminate(ds, DecontaminationConfig(ngram_size=0))
    with pytest.raises(ValueError, match="no benchmarks"):
        decontaminate(ds, DecontaminationConfig(benchmarks=[]))


def test_cli_decontaminate(tmp_path, benchmarks, capsys):
    item = benchmarks["math_500"][0]
    rows = [{"problem": p} for p in clean_rows()[:20]] + [{"problem": item["problem"].upper()}]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out"
    code = cli.main(
        [
            "decontaminate",
            "--input",
            str(path),
            "--output_dir",
            str(out),
            "--benchmarks",
            "math_500",
            "aime_2024",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "contaminated:math_500: 1" in printed and "math_500" in printed
    assert len(read_dataset(out)) == 20  # a stage folder reads as its kept rows only
    rejected = read_dataset(out / "rejected" / "decontaminate")
    assert rejected["contamination_item_id"] == [item["item_id"]]
    report = json.loads((out / "decontamination_report.json").read_text())
    assert report["rows_flagged"] == 1 and [b["name"] for b in report["benchmarks"]] == [
        "math_500",
        "aime_2024",
    ]
    assert json.loads((out / "funnel.json").read_text())["stages"][0]["stage"] == "decontaminate"


def test_only_short_problems_on_both_sides(tmp_path):
    """No text has n words (the teach experiment's `What is a + b?`): whole texts are compared, nothing crashes."""
    path = tmp_path / "short_eval.jsonl"
    items = ["What is 3 + 4?", "What is 5 + 9?"]
    path.write_text(
        "\n".join(json.dumps({"problem": t, "answer": "0", "id": f"s{i}"}) for i, t in enumerate(items))
    )
    rows = ["What is 3 + 4?", "what is 3+4 ?", "What is 2 + 2?", "What is 9 + 5?"]
    result = decontaminate(
        Dataset.from_dict({"problem": rows}), DecontaminationConfig(benchmarks=[f"tiny={path}"])
    )
    assert result.rejected["problem"] == rows[:2]
    assert result.kept["problem"] == rows[2:]
    assert result.rejected["contamination_item_id"] == ["s0", "s0"]
