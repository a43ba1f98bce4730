"""Local publishing: export configs, train/test split, the folder layout, and the refusals on bad input."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from datasets import Dataset, load_dataset

from openr1_data.funnel import Funnel, split_by_reason
from openr1_data.prompts.styles import STYLES
from openr1_data.publish import EmptyDatasetError, build_provenance, publish_local, push_to_hub
from openr1_data.publish.export import assistant_content, to_all_traces, to_rejected, to_sft
from openr1_data.schema import ContractError, make_problem_id, make_trace_id


def build_run(n_problems: int = 6, samples: int = 3, rlt_problems: int = 2) -> dict:
    """A small curated run made with the project's real pieces: ids, prompt styles, parsers, funnel stages.

    Completions follow a fixed pattern so every branch shows up: correct and wrong answers, an unclosed think
    block (format rejection, finish_reason "length"), and RLT rows whose final part is the reference solution.
    """
    rows = []
    for p in range(n_problems):
        style = STYLES["rlt" if p < rlt_problems else "r1"]
        problem = f"Compute {p} + {p + 3}. Problem number {p}."
        answer = str(2 * p + 3)
        solution = f"We add: {p} + {p + 3} = {answer}. The answer is \\boxed{{{answer}}}."
        row = {"problem": problem, "solution": solution, "answer": answer, "source": "toy-arithmetic"}
        row["problem_id"] = make_problem_id(problem)
        for s in range(samples):
            guess = answer if (p + s) % 3 else str(2 * p + 4)
            if style.name == "rlt":
                completion = f"First add the units, then check the sum ({s}).\n<|end_of_explanation|>"
            elif s == samples - 1 and p % 2 == 0:
                completion = f"<think>I start adding {p} and {p + 3} but run out of tokens"
            else:
                completion = (
                    f"<think>Adding {p} and {p + 3} step {s}.</think>\nThe answer is \\boxed{{{guess}}}."
                )
            parsed = style.parse(completion, row)
            finish = "length" if parsed.parse_issue == "unclosed_think" else "stop"
            rows.append(
                {
                    **row,
                    "sample_index": s,
                    "teacher": "tiny-teacher",
                    "prompt_style": style.name,
                    "prompt": style.build(row),
                    "completion": completion,
                    "reasoning": parsed.reasoning,
                    "final": parsed.final,
                    "predicted_answer": parsed.predicted_answer,
                    "finish_reason": finish,
                    "completion_tokens": 20 + 7 * p + 3 * s,
                    "parse_issue": parsed.parse_issue,
                    "trace_id": make_trace_id(row["problem_id"], style.name, "tiny-teacher", s),
                    "correct": None if parsed.predicted_answer is None else parsed.predicted_answer == answer,
                }
            )
    traces = Dataset.from_list(rows)
    funnel = Funnel()
    fmt = split_by_reason(traces, [r["parse_issue"] for r in rows], "format")
    funnel.add(fmt.stats)
    verdicts = fmt.kept["correct"]
    ver = split_by_reason(fmt.kept, [None if c else "incorrect" for c in verdicts], "verify")
    funnel.add(ver.stats)
    provenance = build_provenance(
        teacher_model="tiny-teacher",
        teacher_backend="transformers",
        prompt_style="r1",
        prompt_template={"user": STYLES["r1"].user_template},
        sampling={"temperature": 0.6, "top_p": 0.95, "max_new_tokens": 64, "n": samples},
        sources=[{"name": "toy-arithmetic", "rows": n_problems}],
        command="python pipelines/quickstart.py --num_problems 6",
    )
    decontamination = {
        "ngram_size": 8,
        "rows_checked": len(ver.kept),
        "rows_flagged": 0,
        "benchmarks": [{"name": "aime24", "items": 30, "rows_flagged": 0}],
    }
    return {
        "kept": ver.kept,
        "all_traces": traces,
        "rejected": [fmt.rejected, ver.rejected],
        "funnel": funnel,
        "provenance": provenance,
        "decontamination": decontamination,
    }


@pytest.fixture(scope="module")
def run() -> dict:
    return build_run()


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_sft_messages_follow_the_r1_format_for_both_styles(run):
    sft = to_sft(run["kept"])
    assert len(sft) == len(run["kept"]) > 0
    for row, kept in zip(sft, run["kept"], strict=True):
        user, assistant = row["messages"]
        assert user == {"role": "user", "content": kept["problem"]}
        assert assistant["role"] == "assistant"
        assert assistant["content"] == f"<think>\n{kept['reasoning']}\n</think>\n\n{kept['final']}"
        assert row["num_tokens"] == kept["completion_tokens"]
    rlt = [r for r in sft if r["prompt_style"] == "rlt"]
    assert rlt, "the run has RLT rows"
    # RLT: think = the teacher's explanation, answer = the reference solution.
    assert all(r["messages"][1]["content"].endswith(r["solution"]) for r in rlt)
    assert "First add the units" in rlt[0]["messages"][1]["content"]


def test_all_traces_has_one_row_per_problem_with_aligned_lists(run):
    traces, kept = run["all_traces"], run["kept"]
    table = to_all_traces(traces, kept)
    assert len(table) == len(set(traces["problem_id"]))
    kept_ids = set(kept["trace_id"])
    by_id = {r["trace_id"]: r for r in traces}
    for row in table:
        n = len(row["generations"])
        assert n == 3
        for key in (
            "correctness",
            "finish_reasons",
            "completion_tokens",
            "trace_ids",
            "kept",
            "predicted_answers",
        ):
            assert len(row[key]) == n, key
        for i, tid in enumerate(row["trace_ids"]):
            assert row["generations"][i] == by_id[tid]["completion"]
            assert row["correctness"][i] == by_id[tid]["correct"]
            assert row["finish_reasons"][i] == by_id[tid]["finish_reason"]
            assert row["kept"][i] == (tid in kept_ids)
        selected = [t for t in row["trace_ids"] if t in kept_ids]
        if selected:
            first = by_id[selected[0]]
            assert row["messages"][1]["content"] == assistant_content(first["reasoning"], first["final"])
        else:
            assert row["messages"] == []
    # Some problem had an unverifiable (unclosed) trace: correctness keeps it as None, not False.
    assert any(None in row["correctness"] for row in table)


def test_all_traces_in_chunks_equal_all_at_once_in_memory_and_on_disk(run, tmp_path):
    # shuffled: a problem's traces interleave with others', so chunks must follow first appearance, not file order
    traces, kept = run["all_traces"].shuffle(seed=3), run["kept"]
    whole = to_all_traces(traces, kept, chunk_problems=10_000).to_list()
    assert [r["problem_id"] for r in whole] == list(dict.fromkeys(traces["problem_id"]))
    for size in (1, 4):
        assert to_all_traces(traces, kept, chunk_problems=size).to_list() == whole
    # a dataset backed by a cache file (as a stage folder reads): the result is memory-mapped, written beside it
    traces.to_parquet(str(tmp_path / "traces.parquet"))
    on_disk = load_dataset(
        "parquet",
        data_files=str(tmp_path / "traces.parquet"),
        split="train",
        cache_dir=str(tmp_path / "cache"),
    )
    mapped = to_all_traces(on_disk, kept, chunk_problems=2)
    assert mapped.cache_files and mapped.cache_files[0]["filename"].startswith(str(tmp_path / "cache"))
    assert mapped.to_list() == whole


def test_rejected_rows_from_different_stages_stack_up(run):
    fmt_rejected, ver_rejected = run["rejected"]
    table = to_rejected(run["rejected"])
    assert len(table) == len(fmt_rejected) + len(ver_rejected)
    assert set(table["rejected_stage"]) == {"format", "verify"}
    assert set(table["rejected_reason"]) == {"unclosed_think", "incorrect"}
    with pytest.raises(ContractError, match="rejected_reason"):
        to_rejected(Dataset.from_dict({"problem": ["x"], "rejected_stage": ["a"]}))


def test_publish_local_writes_a_loadable_folder_with_a_problem_split(run, tmp_path):
    folder = tmp_path / "dataset"
    published = publish_local(
        folder, **run, config={"num_problems": 6, "teacher": "tiny"}, test_size=0.34, seed=3
    )
    assert set(published.configs) == {"sft", "all_traces", "rejected"}
    for name in ("README.md", "pipeline_config.yaml", "funnel.json", "plots/funnel.png", "plots/lengths.png"):
        assert (folder / name).is_file(), name

    default = load_dataset(str(folder), split="train")  # the default config is the SFT one
    assert "messages" in default.column_names
    sft = load_dataset(str(folder), "sft")
    all_traces = load_dataset(str(folder), "all_traces")
    rejected = load_dataset(str(folder), "rejected")
    assert len(sft["train"]) + len(sft["test"]) == len(run["kept"])
    assert sorted(rejected) == ["train"] and len(rejected["train"]) == sum(len(r) for r in run["rejected"])
    assert len(all_traces["train"]) + len(all_traces["test"]) == len(set(run["all_traces"]["problem_id"]))

    # The split is on problems: disjoint, and the same partition in every config.
    train_p, test_p = set(sft["train"]["problem_id"]), set(sft["test"]["problem_id"])
    assert train_p and test_p and not train_p & test_p
    assert len(test_p) == round(0.34 * len(set(run["kept"]["problem_id"])))
    assert set(all_traces["test"]["problem_id"]) == test_p
    assert published.configs["sft"] == {"train": len(sft["train"]), "test": len(sft["test"])}

    saved = yaml.safe_load((folder / "pipeline_config.yaml").read_text())
    assert saved["config"] == {"num_problems": 6, "teacher": "tiny"}
    assert saved["provenance"]["teacher_model"] == "tiny-teacher"
    assert saved["publish"]["test_split"]["seed"] == 3

    # Same seed, same split; the whole folder is byte-identical (what makes a re-push a no-op).
    again = tmp_path / "again"
    publish_local(again, **run, config={"num_problems": 6, "teacher": "tiny"}, test_size=0.34, seed=3)
    a, b = _digest(folder), _digest(again)
    for name in ("README.md", ".card_context.json"):  # the local card's load snippet names its own folder
        assert a.pop(name) != b.pop(name)
    assert a == b


def test_never_overwrites_without_permission(run, tmp_path):
    folder = tmp_path / "out"
    publish_local(folder, **run, test_size=2, seed=0)
    first_test = sorted(load_dataset(str(folder), split="test")["trace_id"])
    (folder / "data" / "sft" / "stale-shard.parquet").write_bytes(b"old")
    with pytest.raises(FileExistsError, match="overwrite"):
        publish_local(folder, **run)
    assert (folder / "data" / "sft" / "stale-shard.parquet").exists()  # untouched
    publish_local(folder, **run, test_size=2, seed=5, overwrite=True)
    assert not (folder / "data" / "sft" / "stale-shard.parquet").exists()  # replaced as a whole
    # Loading again gives the new rows, not the ones `datasets` cached for the same folder before.
    new_test = sorted(load_dataset(str(folder), split="test")["trace_id"])
    written = sorted(
        Dataset.from_parquet(str(next((folder / "data" / "sft").glob("test-*.parquet"))))["trace_id"]
    )
    assert new_test == written != first_test

    foreign = tmp_path / "my-notes"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="refusing to delete"):
        publish_local(foreign, **run, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_empty_dataset_is_refused_with_the_funnel(run, tmp_path):
    funnel = Funnel()
    traces = run["all_traces"]
    everything = split_by_reason(traces, ["too_long"] * len(traces), "length_filter")
    funnel.add(run["funnel"].stages[0])
    funnel.add(everything.stats)
    with pytest.raises(EmptyDatasetError) as err:
        publish_local(tmp_path / "out", everything.kept, funnel=funnel)
    message = str(err.value)
    assert "0 kept traces" in message and "'length_filter' removed the last" in message
    assert "too_long" in message and "format" in message  # the whole funnel table is shown
    assert not (tmp_path / "out").exists()


def test_nothing_kept_still_publishes_the_rejected_rows_and_a_card_that_says_why(run, tmp_path):
    traces = run["all_traces"]
    everything = split_by_reason(traces, ["too_long"] * len(traces), "length_filter")
    funnel = Funnel([run["funnel"].stages[0], everything.stats])
    published = publish_local(tmp_path / "out", everything.kept, rejected=everything.rejected, funnel=funnel)
    assert "sft" not in published.configs and published.configs["rejected"]["train"] == len(traces)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "No rows survived" in card and "'length_filter' removed the last" in card
    rejected = load_dataset(str(tmp_path / "out"), "rejected", split="train")
    assert set(rejected["rejected_reason"]) == {"too_long"}


def test_bad_input_fails_before_writing(run, tmp_path):
    broken = run["kept"].map(lambda r, i: {"reasoning": "" if i == 1 else r["reasoning"]}, with_indices=True)
    with pytest.raises(ContractError, match=f"row 1 \\(trace_id {broken[1]['trace_id']}\\)"):
        publish_local(tmp_path / "a", broken)
    with pytest.raises(ContractError, match="missing column.*'final'"):
        publish_local(tmp_path / "b", run["kept"].remove_columns("final"))
    with pytest.raises(ValueError, match="invalid Hub repo id"):
        publish_local(tmp_path / "c", run["kept"], repo_id="not a/valid//id")
    with pytest.raises(ContractError, match="decontamination report is missing"):
        publish_local(tmp_path / "d", run["kept"], decontamination={"ngram_size": 8})
    with pytest.raises(ValueError, match="both splits need at least one problem"):
        publish_local(tmp_path / "e", run["kept"], test_size=0.01)
    assert not any(tmp_path.iterdir())  # nothing was written for any of them


def test_push_checks_the_repo_id_before_any_work(tmp_path):
    # No server is running and the folder does not exist: the repo id error must come first.
    with pytest.raises(ValueError, match="invalid Hub repo id 'bad--name'"):
        push_to_hub(tmp_path / "missing", "bad--name")
    with pytest.raises(ValueError, match="without a URL"):
        push_to_hub(tmp_path / "missing", "https://huggingface.co/datasets/a/b")
