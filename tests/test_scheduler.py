"""The streaming scheduler against real local HTTP servers (tests/fakes/capacity_server.py: fixed decode slots,
heavy-tailed lengths, answers fixed by prompt and seed): requests stay in flight across the whole plan, results do
not depend on concurrency, batching, servers or resume points, follow-up requests share the stream, shards are
written by count and by time, and a kill loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from datasets import Dataset

from openr1_data.generate.plan import trace_seed
from openr1_data.generate.server_pool import ServerPool
from openr1_data.generate.stage import (
    GenerationConfig,
    build_teacher,
    generate_traces,
    load_traces,
    shard_folder,
)
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.problems import normalize_problems
from openr1_data.teachers import SamplingParams
from openr1_data.teachers.base import TeacherRequestError
from tests.fakes.capacity_server import CapacityServer

REPO = Path(__file__).resolve().parents[1]
FAST = dict(token_rate=400_000.0, mean_tokens=2000.0, cap_tokens=8192, chars_per_token=0.5)


@pytest.fixture(scope="module")
def problems() -> Dataset:
    return normalize_problems(Dataset.from_list(bundled_problems(24))).kept


def _cfg(out: Path, base_url: str, **overrides) -> GenerationConfig:
    base = dict(
        output_dir=str(out),
        teacher_backend="openai",
        teacher_model="sim",
        base_url=base_url,
        num_generations=2,
        max_new_tokens=8192,
        temperature=0.6,
    )
    return GenerationConfig(**{**base, **overrides})


def _texts(out: Path) -> dict[str, tuple]:
    traces = load_traces(out)
    rows = zip(
        traces["trace_id"], traces["completion"], traces["finish_reason"], traces["forced"], strict=True
    )
    return {t: (c, f, forced) for t, c, f, forced in rows}


def test_trace_seeds_are_stable_and_distinct():
    assert trace_seed(42, "abc") == trace_seed(42, "abc")
    seeds = {trace_seed(42, f"t{i}") for i in range(1000)} | {
        trace_seed(43, "t0"),
        trace_seed(42, "t0", "force"),
    }
    assert len(seeds) == 1002 and all(0 <= s < 2**31 - 1 for s in seeds)


def test_requests_stay_in_flight_across_the_whole_plan(tmp_path, problems):
    """48 traces, max_concurrency 6, batch_size 1: the server decodes 6 at once, never more, and the batch size
    (problems per call for batching backends) plays no part."""
    with CapacityServer(slots=16, **FAST) as server:
        cfg = _cfg(tmp_path, server.base_url, max_concurrency=6, batch_size=1)
        result = generate_traces(problems, cfg, progress=False)
        summary = result.report
        stats = server.stats()
    assert len(result.kept) == 48 and stats["requests"] == 48
    assert stats["peak_decoding"] == 6 and summary.max_in_flight == 6
    assert summary.requests == 48 and summary.retries == 0
    assert sum(result.kept["completion_tokens"]) == stats["tokens"] == summary.completion_tokens
    seeds = [body["seed"] for body in server.model.bodies]
    assert sorted(seeds) == sorted(trace_seed(cfg.seed, t) for t in result.kept["trace_id"])


def test_retries_are_counted_and_change_nothing(tmp_path, problems):
    with CapacityServer(slots=8, transient_failures=5, **FAST) as server:
        cfg = _cfg(
            tmp_path / "flaky", server.base_url, max_concurrency=4, backoff_base=0.01, backoff_max=0.05
        )
        summary = generate_traces(problems, cfg, progress=False).report
        generate_traces(problems, _cfg(tmp_path / "clean", server.base_url), progress=False)
    assert summary.retries == 5 and summary.requests == 48
    assert _texts(tmp_path / "flaky") == _texts(tmp_path / "clean")


def test_traces_do_not_depend_on_concurrency_or_how_many_servers(tmp_path, problems):
    with CapacityServer(slots=4, **FAST) as one, CapacityServer(slots=4, **FAST) as two:
        generate_traces(problems, _cfg(tmp_path / "serial", one.base_url, max_concurrency=1), progress=False)
        one.model.reset()
        pair = f"{one.base_url},{two.base_url}"
        summary = generate_traces(
            problems, _cfg(tmp_path / "pair", pair, max_concurrency=4), progress=False
        ).report
        peaks = one.stats()["peak_decoding"], two.stats()["peak_decoding"]
        served = one.stats()["requests"], two.stats()["requests"]
    assert _texts(tmp_path / "serial") == _texts(tmp_path / "pair")
    # both servers were kept full (4 each), each took a fair share of the 48 traces
    assert peaks == (4, 4) and summary.max_in_flight == 8
    assert sum(served) == 48 and min(served) >= 12


def test_several_base_urls_make_one_pool_per_server():
    cfg = GenerationConfig(
        teacher_backend="openai", teacher_model="m", base_url="http://a:1/v1, http://b:2/v1"
    )
    pool = build_teacher(cfg)
    assert isinstance(pool, ServerPool)
    assert [t.base_url for t in pool.teachers] == ["http://a:1/v1", "http://b:2/v1"]
    assert pool.capacity == 2 * cfg.max_concurrency and pool.model_name == "m"
    with pytest.raises(ValueError, match="base_url"):
        GenerationConfig(base_url=" , ").base_urls()


def test_pool_generate_keeps_prompt_order_and_n(tmp_path):
    with CapacityServer(slots=4, **FAST) as a, CapacityServer(slots=4, **FAST) as b:
        pool = build_teacher(_cfg(tmp_path, f"{a.base_url} {b.base_url}", max_concurrency=2))
        prompts = [[{"role": "user", "content": f"q{i}"}] for i in range(5)]
        sampling = SamplingParams(max_new_tokens=64, seed=3)
        out = pool.generate(prompts, sampling, n=3)
        again = pool.generate(prompts, sampling, n=3)
        served = a.stats()["requests"], b.stats()["requests"]
    assert [len(samples) for samples in out] == [3] * 5 and min(served) > 0
    assert len({c.text for samples in out for c in samples}) == 15  # every sample has its own seed
    assert all(c.completion_tokens <= 64 for samples in out for c in samples)
    assert out == again  # same prompts and seed, same completions, whichever server answered


def test_budget_forcing_is_a_follow_up_request_of_the_same_trace(tmp_path, problems):
    """A budget of 2,000 tokens cuts many traces inside their think block: each gets one forced-answer request
    (continuing its assistant message), in the same stream, and its row counts both generations."""
    with CapacityServer(slots=8, **FAST) as server:
        cfg = _cfg(
            tmp_path, server.base_url, max_concurrency=8, thinking_budget=1500, forced_answer_tokens=16
        )
        result = generate_traces(problems, cfg, progress=False)
        summary = result.report
        bodies = server.model.bodies
    traces = result.kept
    forced = [r for r in traces if r["forced"]]
    follow_ups = [b for b in bodies if b.get("continue_final_message")]
    assert 0 < len(forced) == len(follow_ups) and summary.requests == len(traces) + len(forced)
    for row in forced:
        assert row["completion"].count("</think>") == 1 and "\\boxed{" in row["completion"]
        assert row["completion_tokens"] > 1500 and row["predicted_answer"]
    seeds = {b["seed"] for b in follow_ups}
    assert seeds == {trace_seed(cfg.seed, r["trace_id"], "force") for r in forced}
    assert all(b["max_tokens"] == 16 for b in follow_ups)
    assert all(
        not r["forced"] and r["finish_reason"] == "stop" for r in traces if r["completion_tokens"] < 1500
    )


def test_shards_are_written_by_count_and_by_time(tmp_path, problems):
    with CapacityServer(slots=4, **FAST) as server:
        cfg = _cfg(tmp_path / "count", server.base_url, shard_traces=10, max_concurrency=1)
        generate_traces(problems, cfg, progress=False)
        slow = dict(FAST, token_rate=10_000.0)
    sizes = [pq.read_metadata(f).num_rows for f in shard_folder(tmp_path / "count").glob("*.parquet")]
    # 48 traces one at a time: 4 shards of 10, then the rest (written once only the tail was in flight, and at the end)
    assert sorted(sizes, reverse=True)[:4] == [10] * 4 and sum(sizes) == 48 and len(sizes) <= 6
    with CapacityServer(slots=4, **slow) as server:
        cfg = _cfg(tmp_path / "time", server.base_url, max_concurrency=4, shard_seconds=0.3)
        started = time.perf_counter()
        summary = generate_traces(problems.select(range(8)), cfg, progress=False).report
        seconds = time.perf_counter() - started
    shards = len(list(shard_folder(tmp_path / "time").glob("*.parquet")))
    # 16 traces and shard_traces 1000: every shard but the last was written because 0.3 s had passed
    assert 2 <= shards == summary.shards_written <= seconds / 0.3 + 1


def test_a_request_that_fails_for_good_keeps_the_finished_traces(tmp_path, problems):
    """A server that starts refusing requests (HTTP 400, not retried): the run fails with the server's error,
    and every trace finished before is on disk, so the rerun only sends the rest."""
    with CapacityServer(slots=4, fail_after=30, **FAST) as server:
        cfg = _cfg(tmp_path, server.base_url, max_concurrency=4, shard_traces=10_000)
        with pytest.raises(TeacherRequestError, match="simulated failure"):
            generate_traces(problems, cfg, progress=False)
    written = len(load_traces(tmp_path))
    assert 26 <= written <= 30  # every answer that came back is on disk (up to 4 were in flight)
    with CapacityServer(slots=4, **FAST) as server:
        cfg = _cfg(tmp_path, server.base_url, max_concurrency=4)  # a new port: not part of the fingerprint
        summary = generate_traces(problems, cfg, progress=False).report
    assert summary.skipped_existing == written and summary.generated == 48 - written
    assert len(load_traces(tmp_path)) == 48


def _cli(out: Path, problems_file: Path, base_url: str) -> list[str]:
    return [
        sys.executable, "-m", "openr1_data.cli", "generate", "--problems", str(problems_file),
        "--output_dir", str(out), "--teacher_backend", "openai", "--teacher_model", "sim", "--base_url", base_url,
        "--num_generations", "2", "--max_new_tokens", "8192", "--max_concurrency", "8", "--shard_traces", "4",
    ]  # fmt: skip


def test_sigkill_mid_stream_then_resume_equals_uninterrupted_run(tmp_path):
    problems_file = tmp_path / "problems.jsonl"
    Dataset.from_list(bundled_problems(40)).to_json(problems_file)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with CapacityServer(slots=8, **dict(FAST, token_rate=60_000.0)) as server:
        reference = tmp_path / "uninterrupted"
        subprocess.run(
            _cli(reference, problems_file, server.base_url), check=True, env=env, capture_output=True
        )
        killed = tmp_path / "killed"
        proc = subprocess.Popen(_cli(killed, problems_file, server.base_url), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.time() + 60
        while time.time() < deadline and len(list(shard_folder(killed).glob("*.parquet"))) < 3:
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        at_kill = len(load_traces(killed))
        assert 12 <= at_kill < 80, "the kill must land mid-run for this test to mean anything"
        assert not (killed / "funnel.json").exists()  # not complete: no completion mark
        subprocess.run(_cli(killed, problems_file, server.base_url), check=True, env=env, capture_output=True)
    assert _texts(killed) == _texts(reference)  # none lost, none duplicated, same text
    assert len(load_traces(killed)) == 80
    report = json.loads((killed / "generate_report.json").read_text())
    assert report["skipped_existing"] == at_kill and report["generated"] == 80 - at_kill


def test_the_bar_says_what_it_waits_for(tmp_path):
    """Before any trace finishes, the progress line shows the tokens decoded so far, the requests in flight and
    the age of the oldest one (a bar that sat at 0/46 for minutes said none of it)."""
    from datasets import Features

    from openr1_data.generate.scheduler import TraceScheduler
    from openr1_data.generate.shards import ShardWriter
    from openr1_data.teachers import SamplingParams

    writer = ShardWriter(tmp_path, Features({}))
    scheduler = TraceScheduler([], SamplingParams(), 0, "t", writer, progress=False)
    now = time.perf_counter()
    scheduler._sent = {"a": now - 30.0, "b": now - 1.0}  # two requests a teacher took 30 s and 1 s ago
    scheduler.heartbeat(in_flight=2, tokens_in_flight=120)
    shown = scheduler.waiting_for(now)
    assert shown["tokens"] == 120 and int(shown["tok_s"]) > 0 and shown["in_flight"] == 2
    assert shown["oldest"] == "30s" and "forcing" not in shown and shown["retries"] == 0
    writer.close()
