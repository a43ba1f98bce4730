"""The transformers teacher and the resumable generation stage, on a tiny real model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from datasets import Dataset

from openr1_data.generate.stage import GenerationConfig, generate_traces, load_traces, shard_folder
from openr1_data.schema import TRACE_COLUMNS
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.problems import normalize_problems
from openr1_data.teachers import SamplingParams, make_teacher
from openr1_data.teachers.base import ListFeed, Request

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def teacher(tiny_model_dir):
    return make_teacher("transformers", tiny_model_dir, batch_size=4)


@pytest.fixture(scope="module")
def problems() -> Dataset:
    rows = bundled_problems(6)
    rows[1]["solution"] = None  # an RLT prompt needs a solution: this row is rejected for that style only
    rows[1]["answer"] = "25"
    return normalize_problems(Dataset.from_list(rows)).kept


def test_batched_generation_returns_n_completions_in_prompt_order(teacher):
    prompts = [[{"role": "user", "content": f"question {i}"}] for i in range(3)]
    out = teacher.generate(prompts, SamplingParams(temperature=1.0, max_new_tokens=12, seed=3), n=2)
    assert [len(c) for c in out] == [2, 2, 2]
    for completions in out:
        for c in completions:
            assert c.finish_reason in ("stop", "length")
            assert 1 <= c.completion_tokens <= 12
            assert (c.finish_reason == "length") == (c.completion_tokens == 12 and "<|im_end|>" not in c.text)


def test_batching_matches_one_prompt_at_a_time(tiny_model_dir, teacher):
    """Left padding must not change what a prompt generates (greedy, so the comparison is exact)."""
    prompts = [
        [{"role": "user", "content": "a"}],
        [{"role": "user", "content": "a much longer question here"}],
    ]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=10)
    batched = teacher.generate(prompts, greedy)
    single = [teacher.generate([p], greedy)[0] for p in prompts]
    assert [c[0].text for c in batched] == [c[0].text for c in single]


class RecordingFeed(ListFeed):
    """A list of requests that also records how many rows were still decoding at every step."""

    def __init__(self, requests, batch_size=16):
        super().__init__(requests, batch_size)
        self.live: list[int] = []
        self.tokens: list[int] = []

    def heartbeat(self, in_flight: int, retries: int = 0, tokens_in_flight: int = 0) -> None:
        self.live.append(in_flight)
        self.tokens.append(tokens_in_flight)


def _requests(prompts: list[str], seeds: list[int], budgets: list[int]) -> list[Request]:
    return [
        Request(
            p, [{"role": "user", "content": p}], SamplingParams(temperature=1.0, max_new_tokens=b, seed=s)
        )
        for p, s, b in zip(prompts, seeds, budgets, strict=True)
    ]


def test_each_sequence_has_its_own_seed_whatever_its_batch(teacher):
    """A request's completion depends on its prompt and seed only: not on the rows decoded beside it."""
    together = RecordingFeed(_requests(["a", "bb", "ccc"], [1, 2, 3], [12, 12, 12]))
    teacher.stream(together)
    alone = RecordingFeed(_requests(["ccc"], [3], [12]))
    teacher.stream(alone)
    shuffled = RecordingFeed(_requests(["ccc", "a", "zz", "bb"], [3, 1, 9, 2], [12, 5, 12, 12]))
    teacher.stream(shuffled)
    assert alone.results["ccc"] == together.results["ccc"] == shuffled.results["ccc"]
    assert together.results["bb"] == shuffled.results["bb"]
    assert (
        shuffled.results["a"].text != together.results["a"].text
        or shuffled.results["a"].completion_tokens <= 5
    )
    other_seed = RecordingFeed(_requests(["ccc"], [4], [12]))
    teacher.stream(other_seed)
    assert other_seed.results["ccc"].text != alone.results["ccc"].text


def test_rows_leave_the_batch_when_they_end(teacher):
    """Two rows with a 3-token budget and two with 10 (batch of 4): after step 3 only two rows are decoded."""
    feed = RecordingFeed(_requests(["a", "b", "c", "d"], [1, 2, 3, 4], [3, 10, 3, 10]))
    teacher.stream(feed)
    assert [feed.results[p].completion_tokens for p in "abcd"] == [3, 10, 3, 10] or any(
        feed.results[p].finish_reason == "stop" for p in "abcd"
    )
    assert feed.live[:2] == [4, 4] and feed.live[2] == 2 and max(feed.live[2:]) <= 2
    # progress moves before any row ends: the tokens decoded so far for the rows still in flight
    assert feed.tokens[:2] == [4, 8] and feed.tokens[2] == 2 * 3


class EventFeed(RecordingFeed):
    """A RecordingFeed that also logs, in order, every request handed out and every completion taken back."""

    def __init__(self, requests, batch_size=16):
        super().__init__(requests, batch_size)
        self.events: list[tuple[str, str]] = []
        self.waiting: list[int] = []

    def next_request(self):
        request = super().next_request()
        if request is not None:
            self.events.append(("out", request.key))
        return request

    def complete(self, request, completion):
        super().complete(request, completion)
        self.events.append(("back", request.key))

    def heartbeat(self, in_flight: int, retries: int = 0, tokens_in_flight: int = 0) -> None:
        super().heartbeat(in_flight, retries, tokens_in_flight)
        self.waiting.append(len(self._pending))


def test_freed_slots_are_refilled_and_each_trace_is_what_it_would_be_alone(tiny_model_dir):
    """Batch of 2, six requests of different budgets: a row that ends is replaced by a waiting request at once, so
    the batch is full whenever requests wait; traces come back as they end; each equals its own run alone."""
    teacher = make_teacher("transformers", tiny_model_dir, batch_size=2)
    names = [f"question {i}" for i in range(6)]
    seeds, budgets = [11, 12, 13, 14, 15, 16], [3, 14, 4, 9, 14, 5]
    feed = EventFeed(_requests(names, seeds, budgets))
    teacher.stream(feed)
    assert set(feed.results) == set(names)
    assert all(live == 2 for live, waiting in zip(feed.live, feed.waiting, strict=True) if waiting)
    first_back = next(i for i, (kind, _) in enumerate(feed.events) if kind == "back")
    last_out = max(i for i, (kind, _) in enumerate(feed.events) if kind == "out")
    assert first_back < last_out  # traces stream out while later requests have not even started
    for name, seed, budget in zip(names, seeds, budgets, strict=True):
        alone = RecordingFeed(_requests([name], [seed], [budget]))
        teacher.stream(alone)
        assert alone.results[name] == feed.results[name], name


def test_cut_generation_keeps_length_finish_reason(teacher):
    out = teacher.generate(
        [[{"role": "user", "content": "hi"}]], SamplingParams(temperature=0.0, max_new_tokens=3)
    )
    # The tiny random model rarely emits EOS within 3 tokens; whichever happened must be reported truthfully.
    c = out[0][0]
    assert c.completion_tokens <= 3
    assert c.finish_reason == ("length" if c.completion_tokens == 3 else "stop")


def test_assistant_prefill_is_continued(teacher):
    prompt = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<|begin_of_explanation|>"}]
    rendered = teacher.render(prompt)
    assert rendered.endswith("<|begin_of_explanation|>")
    assert "<|im_end|>" not in rendered.split("<|im_start|>assistant")[-1]


def test_missing_model_says_where_it_looked(tmp_path):
    with pytest.raises(FileNotFoundError, match="looked for a local folder"):
        make_teacher("transformers", "no-such-org/no-such-model-xyz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        make_teacher("transformers", str(tmp_path / "empty"))


def _config(out: Path, model: str, **overrides) -> GenerationConfig:
    base = dict(
        output_dir=str(out),
        teacher_model=model,
        prompt_styles=["r1", "rlt"],
        num_generations=2,
        max_new_tokens=16,
        temperature=1.0,
        batch_size=2,
        teacher_batch_size=4,
    )
    return GenerationConfig(**{**base, **overrides})


def test_stage_writes_contract_rows_and_funnel(tmp_path, tiny_model_dir, teacher, problems):
    result = generate_traces(problems, _config(tmp_path, tiny_model_dir), teacher=teacher, progress=False)
    summary = result.report
    traces = result.kept
    assert set(TRACE_COLUMNS) <= set(traces.column_names)
    assert len(traces) == 6 * 2 * 2 - 2  # the RLT style cannot render the row without a solution
    assert result.stats.rows_in == 24 and result.stats.rejected == {"rlt:empty_solution": 2}
    assert result.rejected["rejected_reason"] == ["rlt:empty_solution"] * 2
    assert len(set(traces["trace_id"])) == len(traces)
    assert summary.generated == len(traces) and summary.completion_tokens == sum(traces["completion_tokens"])
    # Rerunning skips everything already written.
    again = generate_traces(problems, _config(tmp_path, tiny_model_dir), teacher=teacher, progress=False)
    summary2 = again.report
    assert summary2.generated == 0 and summary2.skipped_existing == len(traces)
    assert sorted(again.kept["trace_id"]) == sorted(traces["trace_id"])


def test_changed_sampling_refuses_to_mix_into_the_same_folder(tmp_path, tiny_model_dir, teacher, problems):
    generate_traces(
        problems.select(range(1)), _config(tmp_path, tiny_model_dir), teacher=teacher, progress=False
    )
    with pytest.raises(ValueError, match="temperature"):
        generate_traces(
            problems, _config(tmp_path, tiny_model_dir, temperature=0.2), teacher=teacher, progress=False
        )


def _generate_cmd(out: Path, model: str, problems_file: Path) -> list[str]:
    return [
        sys.executable, "-m", "openr1_data.cli", "generate",
        "--problems", str(problems_file),
        "--output_dir", str(out),
        "--teacher_model", model,
        "--prompt_styles", "r1", "rlt",
        "--num_generations", "2",
        "--max_new_tokens", "48",
        "--temperature", "1.0",
        "--shard_traces", "2",
        "--shard_seconds", "3600",  # shards by count only: a slow machine's 30 s flush would add an odd shard
    ]  # fmt: skip


def _contents(out: Path) -> dict[str, tuple]:
    traces = load_traces(out)
    return {
        t: (c, f)
        for t, c, f in zip(traces["trace_id"], traces["completion"], traces["finish_reason"], strict=True)
    }


def test_sigkill_mid_run_then_resume_equals_uninterrupted_run(tmp_path, tiny_model_dir):
    problems_file = tmp_path / "problems.jsonl"
    Dataset.from_list(bundled_problems(8)).to_json(problems_file)
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    reference = tmp_path / "uninterrupted"
    subprocess.run(
        _generate_cmd(reference, tiny_model_dir, problems_file), check=True, env=env, capture_output=True
    )
    total_shards = len(list(shard_folder(reference).glob("*.parquet")))
    assert total_shards == 16  # 8 problems x 2 styles x 2 samples, a shard every 2 traces

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_generate_cmd(killed, tiny_model_dir, problems_file), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and len(list(shard_folder(killed).glob("*.parquet"))) < 3:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written_at_kill = len(list(shard_folder(killed).glob("*.parquet")))
    assert 3 <= written_at_kill < total_shards, "the kill must land mid-run for this test to mean anything"

    subprocess.run(
        _generate_cmd(killed, tiny_model_dir, problems_file), check=True, env=env, capture_output=True
    )
    assert _contents(killed) == _contents(reference)  # none lost, none duplicated, same text
    assert len(load_traces(killed)) == 8 * 2 * 2


def test_rows_sharing_a_problem_id_are_rejected_not_generated_twice(tmp_path, tiny_model_dir, teacher):
    rows = bundled_problems(2)
    twin = dict(rows[0], problem=rows[0]["problem"].upper())  # same normalized text, so the same problem_id
    problems = normalize_problems(Dataset.from_list([rows[0], twin, rows[1]])).kept
    cfg = _config(tmp_path, tiny_model_dir, prompt_styles=["r1"], batch_size=8)
    result = generate_traces(problems, cfg, teacher=teacher, progress=False)
    assert len(result.kept) == 2 * 2
    assert result.stats.rows_in == 3 * 2 and result.stats.rejected == {"r1:duplicate_problem_id": 2}
