"""The whole chain through the `openr1-data` CLI: generate → verify → filter → dedup → decontaminate → publish.

The teacher is the real OpenAI client against a real local HTTP server whose replies are scripted: right answers
for some problems, wrong for others, so every stage has something to keep and something to reject.
"""

from __future__ import annotations

import json

import pytest

from openr1_data.cli import main as cli_main
from openr1_data.io import read_dataset
from openr1_data.sources.bundled import bundled_problems
from tests.scripted_openai import ScriptedOpenAIServer

PROBLEMS = bundled_problems(6)


def reply(body: dict, index: int) -> str:
    """Right for even problems, wrong for odd ones; every sample of a problem differs in its wording."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    for i, row in enumerate(PROBLEMS):
        if row["problem"] in user:
            answer = row["answer"] if i % 2 == 0 else f"{row['answer']}1"
            return f"<think>\nStep one, sample {body.get('seed')}. Then check.\n</think>\nSo \\boxed{{{answer}}}."
    return "no idea"


@pytest.fixture(scope="module")
def server():
    with ScriptedOpenAIServer(reply) as running:
        yield running


def run(*argv: str) -> None:
    assert cli_main(list(argv)) == 0, argv


def test_every_stage_through_the_cli_lands_in_the_card(tmp_path, server, capsys):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in PROBLEMS))
    gen, ver, cur, ded, dec, ds = (tmp_path / n for n in ("gen", "ver", "cur", "ded", "dec", "dataset"))
    run("generate", "--input", str(problems), "--output_dir", str(gen), "--teacher_backend", "openai",
        "--base_url", server.base_url, "--teacher_model", "scripted", "--num_generations", "2")  # fmt: skip
    run("verify", "--input", str(gen), "--output_dir", str(ver), "--verify_num_proc", "0")
    run("filter", "--input", str(ver), "--output_dir", str(cur))
    run("dedup", "--input", str(cur), "--output_dir", str(ded))
    run("decontaminate", "--input", str(ded), "--output_dir", str(dec), "--benchmarks", "math_500")
    run("publish", "--input", str(dec), "--output_dir", str(ds), "--all_traces", str(ver),
        "--upstream", str(gen), str(cur), str(ded))  # fmt: skip

    stages = [s["stage"] for s in json.loads((dec / "funnel.json").read_text())["stages"]]
    assert stages == [
        "load_problems", "generate", "verify", "filter", "select", "dedup_exact", "dedup_near", "decontaminate",
    ]  # fmt: skip
    card = (ds / "README.md").read_text()
    for stage in stages:
        assert f"| {stage} " in card or f"| `{stage}` " in card, stage
    # kept rows: only right answers; dedup judges traces by their problem, so the two samples of a problem are
    # not duplicates of each other (they were, when dedup compared completions by default)
    kept = read_dataset(dec)
    funnel = json.loads((dec / "funnel.json").read_text())["stages"]
    assert len(kept) == funnel[-1]["rows_out"] == 6 and all(kept["correct"])
    assert funnel[4]["rows_out"] == 6 and funnel[6]["rejected"] == {}
    assert set(read_dataset(cur / "rejected" / "select")["rejected_reason"]) == {"incorrect"}
    assert "scripted" in card  # the teacher, from the generation manifest
    assert "| math | `r1` | 6 | final answer verified against the gold answer with math-verify |" in card
    assert "| 311 of 500 (partial) |" in card and "Coverage is partial for math_500" in card  # offline subset
    rejected = read_dataset(str(ds), config="rejected") if (ds / "data" / "rejected").exists() else None
    assert rejected is not None and "incorrect" in set(rejected["rejected_reason"])


def test_reading_a_stage_folder_reads_only_its_kept_rows_and_refuses_an_incomplete_one(tmp_path, server):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in PROBLEMS))
    gen, cur = tmp_path / "gen", tmp_path / "cur"
    run("generate", "--input", str(problems), "--output_dir", str(gen), "--teacher_backend", "openai",
        "--base_url", server.base_url, "--teacher_model", "scripted", "--num_generations", "1")  # fmt: skip
    run("filter", "--input", str(gen), "--output_dir", str(cur))
    assert len(read_dataset(cur)) == 3  # not the 3 rejected rows next to them
    (cur / "funnel.json").unlink()  # as if the writer had been killed before finishing
    assert cli_main(["dedup", "--input", str(cur), "--output_dir", str(tmp_path / "x")]) == 2
    assert not (tmp_path / "x").exists()


def test_user_errors_exit_2_with_the_field_and_no_traceback(tmp_path, capsys):
    code = cli_main(
        ["dedup", "--input", str(tmp_path / "missing.jsonl"), "--output_dir", str(tmp_path / "o")]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "missing.jsonl" in err and "Traceback" not in err
    assert cli_main(["dedup", "--input", "x.jsonl", "--output_dir", "o", "--dedup_mode", "fuzzy"]) == 2
    assert "--dedup_mode must be exact, near or both" in capsys.readouterr().err
