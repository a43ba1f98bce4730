"""Mixtures: one dataset published from several curated sources (real stage folders made by the CLI, and a published
folder) with weights or quotas in open-r1's `dataset_mixture` shape; the card shows each source's share and funnel;
sampling is seeded; asking for more rows than a source has, or sources with different columns, fail naming them."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import yaml
from datasets import load_dataset

from openr1_data.cli import main as cli_main
from openr1_data.io import read_dataset
from openr1_data.publish.mixture import MIXTURE_SOURCE, MixtureEntry, build_mixture, sample_entry
from openr1_data.schema import ContractError
from openr1_data.sources.bundled import bundled_problems
from openr1_data.train.configs import DataArguments
from openr1_data.train.data import load_sft_dataset
from tests.scripted_openai import ScriptedOpenAIServer

PROBLEMS = bundled_problems(10)


def reply(body: dict, index: int) -> str:
    """Right for two samples in three (by the sample's seed), of varied length."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    seed = int(body.get("seed") or 0)
    for i, row in enumerate(PROBLEMS):
        if row["problem"] in user:
            answer = row["answer"] if (seed + i) % 3 else f"{row['answer']}1"
            return (
                f"<think>\n{' '.join(['Check the sum.'] * (1 + seed % 4))}\n</think>\nSo \\boxed{{{answer}}}."
            )
    return "no idea"


def run(*argv: str) -> None:
    assert cli_main(list(argv)) == 0, argv


def make_source(root: Path, name: str, problems: list[dict], teacher: str, server) -> Path:
    """generate → verify → filter through the CLI: a curated stage folder with its lineage and funnel."""
    folder = root / name
    folder.mkdir()
    path = folder / "problems.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in problems))
    run("generate", "--input", str(path), "--output_dir", str(folder / "gen"), "--teacher_backend", "openai",
        "--base_url", server.base_url, "--teacher_model", teacher, "--num_generations", "3")  # fmt: skip
    run(
        "verify",
        "--input",
        str(folder / "gen"),
        "--output_dir",
        str(folder / "ver"),
        "--verify_num_proc",
        "0",
    )
    run("filter", "--input", str(folder / "ver"), "--output_dir", str(folder / "cur"))
    return folder / "cur"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("mixture-sources")
    with ScriptedOpenAIServer(reply, usage_per_choice=None) as server:
        math_a = make_source(root, "a", PROBLEMS[:6], "teacher-a", server)
        math_b = make_source(root, "b", PROBLEMS[6:], "teacher-b", server)
    published = root / "a-published"
    run("publish", "--input", str(math_a), "--output_dir", str(published))
    return {"root": root, "a": math_a, "b": math_b, "published": published}


def write_spec(path: Path, datasets: list[dict], **extra) -> Path:
    path.write_text(yaml.safe_dump({"datasets": datasets, **extra}))
    return path


def test_a_mixture_takes_each_sources_share_and_the_card_shows_shares_and_funnels(sources, tmp_path):
    size_a, size_b = len(read_dataset(sources["a"])), len(read_dataset(sources["b"]))
    assert size_a >= 6 and size_b >= 4
    spec = write_spec(
        tmp_path / "mix.yaml",
        [{"id": str(sources["a"]), "weight": 0.5}, {"id": str(sources["b"]), "quota": 3}],
        seed=7,
    )
    out = tmp_path / "mixed"
    run("publish", "--mixture", str(spec), "--output_dir", str(out))
    mixed = load_dataset(str(out), "sft", split="train")
    counts = Counter(mixed[MIXTURE_SOURCE])
    assert counts == {str(sources["a"]): round(size_a * 0.5), str(sources["b"]): 3}
    # every mixed row is a row of its source (kept, so verified correct), as an SFT row
    kept_a = {r["trace_id"] for r in read_dataset(sources["a"]).to_list()}
    kept_b = {r["trace_id"] for r in read_dataset(sources["b"]).to_list()}
    for row in mixed.to_list():
        assert row["trace_id"] in (kept_a if row[MIXTURE_SOURCE] == str(sources["a"]) else kept_b)
        assert row["messages"][1]["content"].startswith("<think>\n") and row["correct"] is True
    card = (out / "README.md").read_text()
    total = len(mixed)
    assert "## Mixture: the sources and their shares" in card and "seed 7" in card
    share_a = round(100 * counts[str(sources["a"])] / total, 1)
    assert f"| {size_a} | {counts[str(sources['a'])]} | {share_a}% | teacher-a |" in card
    assert f"| {size_b} | 3 | {round(300 / total, 1)}% | teacher-b |" in card
    funnel_a = json.loads((sources["a"] / "funnel.json").read_text())["stages"]
    filtered = next(s for s in funnel_a if s["stage"] == "filter")
    assert f"filter {filtered['rows_in']} → {filtered['rows_out']}" in card  # the source's own funnel
    assert f"| mix | {size_a + size_b} | {total} |" in card  # the mix step in the dataset's funnel
    # it trains: the sft config loads as SFT data
    train, _ = load_sft_dataset(DataArguments(dataset_name=str(out)))
    assert len(train) == total


def test_the_same_spec_and_seed_give_the_same_rows(sources):
    spec = {"datasets": [{"id": str(sources["a"]), "weight": 0.5}, {"id": str(sources["b"]), "weight": 0.5}]}
    first = build_mixture({**spec, "seed": 3}).rows.to_list()
    assert build_mixture({**spec, "seed": 3}).rows.to_list() == first
    assert len(first) == round(len(read_dataset(sources["a"])) / 2) + round(
        len(read_dataset(sources["b"])) / 2
    )


def test_a_published_folder_mixes_with_a_stage_folder(sources):
    mixture = build_mixture(
        {
            "datasets": [
                {"id": str(sources["published"]), "config": "sft"},
                {"id": str(sources["b"]), "weight": 1.0},
            ]
        }
    )
    published_rows = len(load_dataset(str(sources["published"]), "sft", split="train"))
    assert len(mixture.rows) == published_rows + len(read_dataset(sources["b"]))
    shares = {s["id"]: s for s in mixture.card["sources"]}
    assert shares[str(sources["published"])]["funnel"].startswith(
        "load_problems"
    )  # the published funnel.json
    assert shares[str(sources["published"])]["teacher"] == "teacher-a"  # from its pipeline_config.yaml
    assert sum(s["share"] for s in mixture.card["sources"]) == pytest.approx(100, abs=0.2)


def test_more_rows_than_a_source_has_is_an_error_naming_the_source(sources, tmp_path, capsys):
    size_b = len(read_dataset(sources["b"]))
    for entry, asked in (({"weight": 1.5}, "weight 1.5"), ({"quota": size_b + 1}, f"quota {size_b + 1}")):
        spec = write_spec(
            tmp_path / "mix.yaml", [{"id": str(sources["a"])}, {"id": str(sources["b"]), **entry}]
        )
        code = cli_main(["publish", "--mixture", str(spec), "--output_dir", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert code == 2 and f"mixture source {sources['b']}: {asked}" in err and f"has {size_b}" in err
        assert not (tmp_path / "out").exists()
    # training mixtures keep open-r1's meaning: a weight above 1 repeats the source
    rows = read_dataset(sources["b"])
    assert len(sample_entry(rows, MixtureEntry(str(sources["b"]), weight=2.0), 0, repeat=True)) == 2 * size_b


def test_sources_with_different_columns_fail_naming_the_column(sources):
    narrow = ["messages", "problem", "answer", "problem_id", "trace_id", "num_tokens"]
    spec = {"datasets": [{"id": str(sources["a"]), "columns": narrow}, {"id": str(sources["b"])}]}
    with pytest.raises(ContractError, match=rf"column `\w+` is in source {sources['b']} but not in source"):
        build_mixture(spec)
    # the same `columns` for every source mixes them
    spec["datasets"][1]["columns"] = narrow
    assert build_mixture(spec).rows.column_names == [*narrow, MIXTURE_SOURCE]
    with pytest.raises(ContractError, match="column `nope` of its `columns` is not in it"):
        build_mixture({"datasets": [{"id": str(sources["a"]), "columns": ["messages", "nope"]}]})


def test_input_and_mixture_are_one_or_the_other(sources, tmp_path, capsys):
    assert cli_main(["publish", "--output_dir", str(tmp_path / "o")]) == 2
    assert "needs --input (a curated stage folder) or --mixture" in capsys.readouterr().err
    spec = {"datasets": [{"id": str(sources["a"]), "weight": 0.5, "quota": 2}]}
    with pytest.raises(ValueError, match="a weight .* or a quota .*not both"):
        build_mixture(spec)
