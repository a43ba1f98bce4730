"""Step labels: the rule-based labeler, Monte-Carlo rollouts through the generation stage (a scripted real HTTP
teacher for exact scores, the tiny real model in a real subprocess for SIGKILL resume), the filter and the reward
that share `judge_step_correctness`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import Dataset

from openr1_data.curate.filters import FilterConfig, filter_traces
from openr1_data.curate.step_labels import StepLabelConfig, label_steps, rollout_problem_id
from openr1_data.curate.steps import row_steps
from openr1_data.generate.stage import GenerationConfig, load_traces, shard_folder
from openr1_data.io import read_dataset
from openr1_data.prompts.styles import RLT_EXPLANATION_CLOSE
from openr1_data.schema import ContractError
from openr1_data.train.rewards import get_reward_funcs
from openr1_data.verdicts import judge_step_correctness
from tests.scripted_openai import ScriptedOpenAIServer

REPO = Path(__file__).resolve().parents[1]

GOOD = "<think>\nStep 1: 3 + 4 = 7.\nStep 2: 7 \\times 2 = 14.\nStep 3: So the answer is 14.\n</think>\n\\boxed{14}"
BAD = "<think>\nStep 1: 4 + 3 = 7.\nStep 2: 7 \\times 2 = 15.\nStep 3: So the answer is 15.\n</think>\n\\boxed{15}"
# The quickstart kept an RLT explanation like this one: its final answer (the given solution) is right.
RLT = "Goran has 3 and gets 8.\n\nWe compute 3 - 8 is 11.\n\nSo he has 11.\n" + RLT_EXPLANATION_CLOSE


def _trace(completion: str, tid: str, style: str = "steps", answer: str = "14") -> dict:
    return {
        "problem": "Add 3 and 4, then double it.",
        "answer": answer,
        "problem_id": "p-" + tid,
        "trace_id": tid,
        "prompt_style": style,
        "completion": completion,
        "finish_reason": "stop",
        "solution": "\\boxed{11}" if style == "rlt" else None,
    }


def test_rule_labels_find_the_false_claim_and_the_filter_rejects_it():
    traces = Dataset.from_list([_trace(GOOD, "good"), _trace(BAD, "bad"), _trace(RLT, "rlt", "rlt", "11")])
    result = label_steps(traces, StepLabelConfig(labeler="rules"))
    report = result.report
    labelled = result.kept
    assert len(labelled) == 3 and result.stats.rejected == {}
    assert labelled["steps"][1] == [
        "Step 1: 4 + 3 = 7.",
        "Step 2: 7 \\times 2 = 15.",
        "Step 3: So the answer is 15.",
    ]
    assert [[s["label"] for s in row] for row in labelled["step_labels"]] == [
        [True, True, True],
        [True, False, True],
        [True, False, True],
    ]
    assert labelled["first_error_step"] == [None, 2, 2]
    assert labelled["step_label_source"][0].startswith("rules")
    assert (report.steps, report.steps_wrong, report.traces_with_wrong_step) == (9, 2, 2)
    # The filter (on the labels, or on the rules without them) and the reward agree.
    for dataset in (labelled, traces):
        filtered = filter_traces(dataset, FilterConfig(reject_wrong_steps=True, require_finished=False))
        assert filtered.kept["trace_id"] == ["good"] and filtered.stats.rejected == {"wrong_step": 2}
    reward = get_reward_funcs(["step_correctness"])[0]
    columns = {
        "prompt_style": list(traces["prompt_style"]),
        "solution": list(traces["solution"]),
    }  # as TRL passes
    scores = reward(list(traces["completion"]), **columns)
    assert scores == [1.0, 1 / 3, 1 / 3]


def test_the_filter_reads_a_labelers_labels_over_the_rules():
    row = dict(_trace(GOOD, "t"), steps=["a", "b"], step_labels=[{"score": 1.0, "label": True}, None])
    assert filter_traces(Dataset.from_list([row]), FilterConfig(reject_wrong_steps=True)).stats.rejected == {}
    row["step_labels"] = [{"score": 1.0, "label": True}, {"score": 0.0, "label": False}]
    assert filter_traces(Dataset.from_list([row]), FilterConfig(reject_wrong_steps=True)).stats.rejected == {
        "wrong_step": 1
    }


def test_judge_step_correctness():
    assert judge_step_correctness([True, True]).score == 1.0 and judge_step_correctness([True]).passed
    assert judge_step_correctness([True, False, None, True]) == judge_step_correctness(
        [True, False, True, True]
    )
    assert judge_step_correctness([True, True, False, True]).score == 0.5
    assert judge_step_correctness([False]).reason == "wrong_step"
    assert judge_step_correctness([]).score is None and judge_step_correctness([None, None]).score is None


# --------------------------------------------------------------------------------------------------- rollouts


def _continue(body: dict, index: int) -> str:
    """A scripted teacher: from a prefix with the false claim it reaches 15; otherwise the gold 14 when the request's
    seed is even, 13 when it is odd (so a step's score is a fraction the test can recompute)."""
    prefix = body["messages"][-1]["content"]
    if "= 15" in prefix:
        return "\n</think>\n\\boxed{15}"
    return "\n</think>\n\\boxed{14}" if body["seed"] % 2 == 0 else "\n</think>\n\\boxed{13}"


def _expected_scores(requests: list[dict], k: int) -> dict[str, float]:
    right: dict[str, int] = {}
    for body in requests:
        prefix = body["messages"][-1]["content"]
        right[prefix] = right.get(prefix, 0) + (_continue(body, 0).endswith("{14}"))
    return {prefix: n / k for prefix, n in right.items()}


@pytest.fixture()
def server():
    with ScriptedOpenAIServer(_continue) as running:
        yield running


def _rollout_config(tmp_path, **overrides) -> StepLabelConfig:
    return StepLabelConfig(
        labeler="rollouts",
        rollouts_per_step=4,
        rollout_dir=str(tmp_path / "rollouts"),
        progress=False,
        **overrides,
    )


def _generation(server) -> GenerationConfig:
    return GenerationConfig(
        teacher_backend="openai", teacher_model="scripted", base_url=server.base_url, max_new_tokens=16
    )


def _prefixes(completion: str) -> list[str]:
    """The rollout prefix of each step: the raw completion up to the end of that step."""
    steps = row_steps({"completion": completion, "prompt_style": "steps"})
    return [completion[: steps.prefix_end(i)] for i in range(len(steps.steps))]


def test_rollout_scores_are_the_share_of_continuations_that_verify(tmp_path, server):
    traces = Dataset.from_list([_trace(GOOD, "good"), _trace(BAD, "bad")])
    result = label_steps(traces, _rollout_config(tmp_path), generation=_generation(server))
    report = result.report
    assert len(server.requests) == report.teacher_requests == 6 * 4  # every step of both traces, k = 4
    # Each request continued a trace from the prefix that ends at one of its steps, pre-filled after the prompt.
    assert {b["messages"][-1]["content"] for b in server.requests} == {*_prefixes(GOOD), *_prefixes(BAD)}
    assert all(
        b["continue_final_message"] and b["messages"][-1]["role"] == "assistant" for b in server.requests
    )
    expected = _expected_scores(server.requests, 4)
    for completion, labels in zip(traces["completion"], result.kept["step_labels"], strict=True):
        assert [s["score"] for s in labels] == [expected[p] for p in _prefixes(completion)]
        assert [s["label"] for s in labels] == [expected[p] > 0 for p in _prefixes(completion)]
    assert [s["score"] for s in result.kept["step_labels"][1][1:]] == [
        0.0,
        0.0,
    ]  # after "= 15" nothing reaches 14
    assert result.kept["first_error_step"][1] == 2
    assert (
        "rollouts (Math-Shepherd: 4 continuations per step by scripted" in result.kept["step_label_source"][0]
    )
    # The continuations are generation-stage traces, one per (trace, step, sample), with stable ids.
    rollouts = load_traces(tmp_path / "rollouts")
    assert len(rollouts) == 24 and len(set(rollouts["trace_id"])) == 24
    assert set(rollouts["problem_id"]) == {
        rollout_problem_id(t, s) for t in ("good", "bad") for s in range(3)
    }
    # Rerunning resumes: everything is on disk, the teacher is not asked again, the labels are the same.
    again = label_steps(traces, _rollout_config(tmp_path), generation=_generation(server))
    report2 = again.report
    assert len(server.requests) == 24 and report2.rollouts_generated == 0
    assert again.kept["step_labels"] == result.kept["step_labels"]


def _sure(body: dict, index: int) -> str:
    """A teacher that always reaches 14 from a right prefix and 15 from one with the false claim."""
    return (
        "\n</think>\n\\boxed{15}" if "= 15" in body["messages"][-1]["content"] else "\n</think>\n\\boxed{14}"
    )


def test_stop_at_first_error_and_the_budget_save_teacher_calls(tmp_path):
    traces = Dataset.from_list([_trace(BAD, "bad"), _trace(GOOD, "good")])
    with ScriptedOpenAIServer(_sure) as server:
        result = label_steps(
            traces, _rollout_config(tmp_path, stop_at_first_error=True), generation=_generation(server)
        )
        report = result.report
        assert [[s["label"] for s in row] for row in result.kept["step_labels"]] == [
            [True, False, None],  # stopped at the first wrong step
            [True, True, True],
        ]
        assert result.kept["first_error_step"] == [2, None]
        assert len(server.requests) == report.teacher_requests == (2 + 3) * 4  # 6 x 4 without stopping
        assert report.steps_skipped_after_error == 1

        capped = _rollout_config(tmp_path / "capped", max_rollouts=12)
        result = label_steps(traces, capped, generation=_generation(server))
        report = result.report
        assert report.teacher_requests == 12  # the first trace whole (3 steps x 4); the second does not fit
        assert [s["label"] for s in result.kept["step_labels"][0]] == [True, False, False]
        assert [s["label"] for s in result.kept["step_labels"][1]] == [None, None, None]
        assert report.steps_over_budget == 3


def test_rollouts_refuse_bad_input_before_any_work(tmp_path, server):
    config = _rollout_config(tmp_path)
    no_ids = Dataset.from_list([{k: v for k, v in _trace(GOOD, "a").items() if k != "trace_id"}])
    with pytest.raises(ContractError, match="trace_id"):
        label_steps(no_ids, config, generation=_generation(server))
    no_gold = Dataset.from_list(
        [{k: v for k, v in _trace(GOOD, "a").items() if k not in ("answer", "solution")}]
    )
    with pytest.raises(ContractError, match="gold answer"):
        label_steps(no_gold, config, generation=_generation(server))
    twins = Dataset.from_list([_trace(GOOD, "a"), _trace(BAD, "a")])
    with pytest.raises(ContractError, match="share trace_id"):
        label_steps(twins, config, generation=_generation(server))
    with pytest.raises(ValueError, match="rollout_dir"):
        label_steps(Dataset.from_list([_trace(GOOD, "a")]), StepLabelConfig(labeler="rollouts"))
    with pytest.raises(ValueError, match="labeler"):
        StepLabelConfig(labeler="judge")
    assert server.requests == []
    # An RLT explanation cannot be rolled out (its answer is given): it stays unlabelled, with the reason counted.
    rlt = Dataset.from_list([_trace(RLT, "rlt", "rlt", "11")])
    result = label_steps(rlt, config, generation=_generation(server))
    report = result.report
    assert result.kept["first_error_step"] == [None] and report.unlabelled_traces == {
        "style_rlt_not_continuable": 1
    }


# ------------------------------------------------------------------------------------- SIGKILL, real subprocess


def _label_cmd(inp: Path, out: Path, model: str) -> list[str]:
    return [
        sys.executable, "-m", "openr1_data.cli", "label-steps",
        "--input", str(inp), "--output_dir", str(out),
        "--labeler", "rollouts", "--rollouts_per_step", "2",
        "--teacher_model", model, "--max_new_tokens", "24", "--temperature", "1.0",
        "--shard_traces", "2", "--rollout_verify_num_proc", "0", "--progress", "false",
    ]  # fmt: skip


def _shard_rows(folder: Path) -> list[tuple[str, str]]:
    """(trace id, text) of every rollout row in every shard file, duplicates included."""
    import pyarrow.parquet as pq

    rows = []
    for shard in sorted(shard_folder(folder).glob("*.parquet")):
        table = pq.read_table(shard, columns=["trace_id", "completion"])
        rows += list(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
    return rows


def test_sigkill_mid_rollouts_then_resume_generates_each_rollout_exactly_once(tmp_path, tiny_model_dir):
    traces = tmp_path / "traces.jsonl"
    rows = [_trace(GOOD, f"g{i}") for i in range(3)] + [_trace(BAD, f"b{i}") for i in range(3)]
    Dataset.from_list(rows).to_json(traces)
    planned = 6 * 3 * 2  # traces x steps x rollouts per step
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = tmp_path / "labelled"
    rollouts = Path(f"{out}-rollouts")
    proc = subprocess.Popen(_label_cmd(traces, out, tiny_model_dir), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and len(list(shard_folder(rollouts).glob("*.parquet"))) < 3:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = dict(_shard_rows(rollouts))
    assert 3 * 2 <= len(before) < planned, "the kill must land mid-run for this test to mean anything"
    assert not out.exists()  # the stage folder is written at the end only

    subprocess.run(_label_cmd(traces, out, tiny_model_dir), check=True, env=env, capture_output=True)
    after = _shard_rows(rollouts)
    assert len(after) == len({tid for tid, _ in after}) == planned  # none lost, none written twice
    assert {
        tid: text for tid, text in after if tid in before
    } == before  # written rollouts were kept as they were
    report = json.loads((out / "step_labels_report.json").read_text())
    assert report["rollouts_generated"] == planned - len(before) and report["rollouts_planned"] == planned
    # The labels are those of the rollouts on disk: labelling again in-process generates nothing and agrees.
    config = StepLabelConfig(
        labeler="rollouts", rollouts_per_step=2, rollout_dir=str(rollouts), progress=False
    )
    generation = GenerationConfig(
        teacher_model=tiny_model_dir, max_new_tokens=24, temperature=1.0, shard_traces=2
    )
    again = label_steps(Dataset.from_list(rows), config, generation=generation)
    again_report = again.report
    assert again_report.rollouts_generated == 0
    assert read_dataset(str(out))["step_labels"] == again.kept["step_labels"]
