"""The chain a new user follows gives clean data: a problems file with planted duplicates and benchmark items,
run through the CLI in the safe order (problems first) and in the old README order (traces first).

Whatever the order, no planted benchmark item or duplicate problem reaches a published training config, the
`rejected` config holds every removed row, the funnel lists every stage, and GRPO's default config is clean.
The teacher is the real OpenAI client against a local server whose replies are scripted: every answer is right,
so only curation can keep a planted problem out.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from openr1_data.cli import main as cli_main
from openr1_data.io import read_dataset
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.eval_benchmarks import load_benchmark
from openr1_data.train.data import read_training_source
from tests.scripted_openai import ScriptedOpenAIServer

BASE = bundled_problems(12)
MATH_500 = load_benchmark("math_500")[0]
AIME = load_benchmark("aime_2024")[0]
PLANTED = [
    dict(BASE[0]),  # an exact duplicate
    {**BASE[1], "problem": "  " + BASE[1]["problem"].upper() + "  "},  # case and whitespace
    {"problem": BASE[3]["problem"].replace("14 apples", "16 apples"), "answer": "8"},  # one number changed
    {"problem": MATH_500["problem"], "answer": MATH_500["answer"]},
    {"problem": AIME["problem"], "answer": AIME["answer"]},
]
PROBLEMS = BASE + PLANTED
BENCHMARK_TEXTS = {MATH_500["problem"], AIME["problem"]}


def reply(body: dict, index: int) -> str:
    """Every answer right (the gold of whichever problem the prompt holds), worded differently per sample."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    for row in sorted(PROBLEMS, key=lambda r: -len(r["problem"])):
        if row["problem"].strip().lower() in user.lower():
            return f"<think>\nWork, sample {body.get('seed')}.\n</think>\nSo \\boxed{{{row['answer']}}}."
    return "no idea"


@pytest.fixture(scope="module")
def server():
    with ScriptedOpenAIServer(reply) as running:
        yield running


def run(*argv: str) -> None:
    assert cli_main(list(argv)) == 0, argv


def generate(server, source: Path | str, out: Path) -> None:
    run("generate", "--problems", str(source), "--output_dir", str(out), "--teacher_backend", "openai",
        "--base_url", server.base_url, "--teacher_model", "scripted", "--num_generations", "2")  # fmt: skip


def published_problems(dataset: Path) -> dict[str, set[str]]:
    """The normalised problem texts of every training config of a published folder."""
    found = {}
    for config in ("sft", "all_traces", "problems", "prm"):
        if (dataset / "data" / config).is_dir():
            rows = read_dataset(str(dataset), config=config)
            found[config] = {" ".join(p.lower().split()) for p in rows["problem"]}
    return found


def assert_clean(dataset: Path) -> None:
    configs = published_problems(dataset)
    assert "sft" in configs and "all_traces" in configs
    benchmark = {" ".join(t.lower().split()) for t in BENCHMARK_TEXTS}
    for name, problems in configs.items():
        assert not problems & benchmark, f"a benchmark item in {name}"
    # the duplicates collapse onto their originals: every config holds each base problem at most once
    assert len(configs["all_traces"]) <= len(BASE)
    grpo = read_training_source(str(dataset), None, "train", ("problems", "sft", "default"))
    assert not {" ".join(p.lower().split()) for p in grpo["problem"]} & benchmark


def assert_rejected_holds_every_removed_row(folder: Path, dataset: Path) -> list[str]:
    funnel = json.loads((folder / "funnel.json").read_text())["stages"]
    removed = sum(sum(stage["rejected"].values()) for stage in funnel)
    rejected = read_dataset(str(dataset), config="rejected")
    assert len(rejected) == removed
    return [stage["stage"] for stage in funnel]


def test_the_safe_order_catches_every_planted_row(tmp_path, server):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in PROBLEMS))
    pdedup, pclean, gen, ver, cur, ds = (
        tmp_path / n for n in ("pdedup", "pclean", "gen", "ver", "cur", "ds")
    )
    run("dedup", "--input", str(problems), "--output_dir", str(pdedup))
    run("decontaminate", "--input", str(pdedup), "--output_dir", str(pclean),
        "--benchmarks", "math_500", "aime_2024")  # fmt: skip
    generate(server, pclean, gen)
    run("verify", "--input", str(gen), "--output_dir", str(ver), "--verify_num_proc", "0")
    run("filter", "--input", str(ver), "--output_dir", str(cur))
    run("publish", "--input", str(cur), "--output_dir", str(ds))  # no --upstream, no --all_traces

    stages = assert_rejected_holds_every_removed_row(cur, ds)
    assert stages == [
        "dedup_exact", "dedup_near", "decontaminate", "load_problems", "generate", "verify", "filter", "select",
    ]  # fmt: skip
    assert_clean(ds)
    assert len(published_problems(ds)["all_traces"]) == len(BASE)
    card = (ds / "README.md").read_text()
    assert "2 of" in card and "flagged" in card  # the decontamination table flags both planted items
    assert str(problems.name) in card  # the original source, not a stage folder
    for command in (
        "openr1-data dedup",
        "openr1-data decontaminate",
        "openr1-data generate",
        "openr1-data publish",
    ):
        assert command in card, command


def test_the_old_readme_order_publishes_no_benchmark_item(tmp_path, server):
    """Traces first, problem curation last: dedup and decontaminate judge traces by their problem, and publish
    keeps only the problems they passed in every config."""
    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in PROBLEMS))
    gen, ver, cur, ded, dec, ds = (tmp_path / n for n in ("gen", "ver", "cur", "ded", "dec", "ds"))
    generate(server, problems, gen)
    run("verify", "--input", str(gen), "--output_dir", str(ver), "--verify_num_proc", "0")
    run("filter", "--input", str(ver), "--output_dir", str(cur))
    run("dedup", "--input", str(cur), "--output_dir", str(ded))
    run(
        "decontaminate",
        "--input",
        str(ded),
        "--output_dir",
        str(dec),
        "--benchmarks",
        "math_500",
        "aime_2024",
    )
    run("publish", "--input", str(dec), "--output_dir", str(ds))

    stages = assert_rejected_holds_every_removed_row(dec, ds)
    assert stages[-3:] == ["dedup_exact", "dedup_near", "decontaminate"]
    funnel = json.loads((dec / "funnel.json").read_text())["stages"]
    # generation plans repeated problems (same normalised text) once; trace-level near-dedup judged problems: both
    # traces of the near-duplicate problem went, the two traces of every other problem stayed
    assert funnel[1]["rejected"] == {"r1:duplicate_problem_id": 4}
    assert funnel[-2]["rejected"] == {"near_duplicate": 2}
    assert funnel[-1]["rejected"] == {"contaminated:aime_2024": 2, "contaminated:math_500": 2}
    assert_clean(ds)


def test_a_stage_never_replaces_a_folder_it_was_not_asked_to(tmp_path, server, capsys):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in BASE[:3]))
    gen, ver = tmp_path / "gen", tmp_path / "ver"
    generate(server, problems, gen)
    before = sorted(p.name for p in gen.iterdir())
    # into its own input, into another stage's folder, into a user's folder: refused, nothing touched
    assert cli_main(["verify", "--input", str(gen), "--output_dir", str(gen)]) == 2
    assert "never writes into its input" in capsys.readouterr().err
    assert cli_main(["verify", "--input", str(gen), "--output_dir", str(gen / "data" / "v")]) == 2
    run("verify", "--input", str(gen), "--output_dir", str(ver), "--verify_num_proc", "0")
    run("verify", "--input", str(gen), "--output_dir", str(ver), "--verify_num_proc", "0")  # same: a rerun
    assert cli_main(["filter", "--input", str(gen), "--output_dir", str(ver)]) == 2
    assert "already holds the output of `openr1-data verify`" in capsys.readouterr().err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert cli_main(["filter", "--input", str(ver), "--output_dir", str(mine)]) == 2
    assert cli_main(["filter", "--input", str(ver), "--output_dir", str(mine), "--overwrite", "true"]) == 2
    assert (mine / "notes.txt").read_text() == "keep me"
    run("filter", "--input", str(ver), "--output_dir", str(ver.parent / "cur"))
    run("filter", "--input", str(gen), "--output_dir", str(ver), "--overwrite", "true")
    assert sorted(p.name for p in gen.iterdir()) == before
    lineage = json.loads((ver / "lineage.json").read_text())
    assert lineage["command"] == "filter" and lineage["input"]["path"] == str(gen.resolve())
    # generate into another stage's folder is refused too; its own folder resumes
    assert cli_main(["generate", "--problems", str(problems), "--output_dir", str(ver)]) == 2
    generate(server, problems, gen)


def test_one_command_runs_the_chain_from_a_recipe_and_resumes(tmp_path, server):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in PROBLEMS))
    recipe = tmp_path / "chain.yaml"
    recipe.write_text(
        f"problems: {problems}\noutput_dir: {tmp_path / 'out'}\n"
        "decontaminate: {benchmarks: [math_500, aime_2024]}\n"
        f"generate: {{teacher_backend: openai, base_url: '{server.base_url}', teacher_model: scripted,"
        " num_generations: 2}\nverify: {verify_num_proc: 0}\n"
    )
    run("run", "--config", str(recipe))
    out = tmp_path / "out"
    stages = assert_rejected_holds_every_removed_row(out / "filter", out / "dataset")
    assert stages[:3] == ["dedup_exact", "dedup_near", "decontaminate"]
    assert_clean(out / "dataset")
    generated = sorted(p.name for p in (out / "generate" / "data").iterdir())
    run("run", "--config", str(recipe))  # a rerun: nothing refused, nothing generated twice
    assert sorted(p.name for p in (out / "generate" / "data").iterdir()) == generated
    assert cli_main(["run", "--config", str(recipe), "--problemz", "x"]) == 2
    recipe.write_text(f"problems: {problems}\nfilters: {{}}\n")
    assert cli_main(["run", "--config", str(recipe)]) == 2


def test_a_second_generate_run_into_a_held_folder_is_refused_and_a_killed_one_leaves_no_lock(
    tmp_path, server, capsys
):
    import subprocess
    import sys

    from openr1_data.io import hold_folder_lock

    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in BASE[:2]))
    out = tmp_path / "gen"
    out.mkdir()
    with hold_folder_lock(out, "generate"):  # a first run is writing
        assert cli_main(["generate", "--problems", str(problems), "--output_dir", str(out)]) == 2
    assert "is being written by `openr1-data generate`" in capsys.readouterr().err
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from openr1_data.io import hold_folder_lock\n"
         f"with hold_folder_lock({str(out)!r}, 'generate'):\n    print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.kill()  # a run killed while it holds the folder
    holder.wait()
    generate(server, problems, out)
    generate(server, problems, out)  # and a rerun resumes: nothing written twice
    traces = read_dataset(out)
    assert len(traces) == len(set(traces["trace_id"])) == 4


def test_a_reader_never_sees_a_trace_twice(tmp_path, server):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in BASE[:2]))
    out = tmp_path / "gen"
    generate(server, problems, out)
    shard = next((out / "data").glob("*.parquet"))
    shutil.copy(shard, shard.with_name("traces-9999999999999-copy.parquet"))  # what two old writers left
    traces = read_dataset(out)
    assert len(traces) == len(set(traces["trace_id"])) == 4


def test_a_rerun_removes_the_temp_shard_a_killed_run_was_writing(tmp_path, server):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in BASE[:2]))
    out = tmp_path / "gen"
    generate(server, problems, out)
    partial = out / "data" / ".traces-0000000000001-deadbeef.parquet.tmp"
    partial.write_bytes(b"PAR1 half a shard")  # what a kill during a shard write leaves
    generate(server, problems, out)
    assert not partial.exists() and len(read_dataset(out)) == 4
