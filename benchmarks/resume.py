"""Resume keeps its speed: generation killed halfway and resumed, against uninterrupted runs, on the simulated
server of fixed capacity (`benchmarks/generation.py capacity`: real HTTP on 127.0.0.1, `--slots` sequences decode
at once at `--token_rate` tokens/s each, lognormal trace lengths).

Three runs per repeat, the same server and settings:
- `uninterrupted`: a fresh stage run of all `--traces`;
- `killed + resumed`: `openr1-data generate` in its own process, SIGKILLed once half the traces are on disk, then
  the same command again (in this process): the resumed call's tokens/s and how long it took to send its first
  request (what resuming re-reads: only the `trace_id` column of the written shards);
- `fresh, same size`: a fresh run of as many traces as the resume had left (the tail of a run weighs more in a
  smaller one, so the resumed call is compared with a run of its own size).

Reported: tokens/s of each, the resumed call vs the fresh run of the same size (the target: within 5%), and the
whole killed + resumed job vs the uninterrupted one (what the kill cost: the in-flight and unflushed traces).

    python benchmarks/resume.py                       # 2,000 traces, 64 slots, 2 repeats
    python benchmarks/resume.py --traces 4000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from datasets import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generation import ROOT, SimulatedServer  # noqa: E402  (a sibling script, not a package)

from openr1_data.generate.shards import written_trace_ids  # noqa: E402
from openr1_data.generate.stage import GenerationConfig, generate_traces  # noqa: E402
from openr1_data.sources.bundled import bundled_problems  # noqa: E402
from openr1_data.sources.problems import normalize_problems  # noqa: E402

SAMPLES = 4  # the stage's default samples per problem


def config(server: SimulatedServer, output_dir: str, slots: int) -> GenerationConfig:
    # Shards every 100 traces or 2 s: a kill loses at most that much finished work (the defaults: 1,000 or 30 s).
    return GenerationConfig(
        teacher_backend="openai", teacher_model="sim", base_url=server.base_url, max_concurrency=slots,
        max_new_tokens=16384, num_generations=SAMPLES, output_dir=output_dir, shard_traces=100, shard_seconds=2.0,
    )  # fmt: skip


def problems_for(traces: int, offset: int = 0) -> Dataset:
    rows = bundled_problems(offset + traces // SAMPLES)[offset:]
    return normalize_problems(Dataset.from_list(rows)).kept


def timed_run(problems: Dataset, cfg: GenerationConfig) -> tuple[float, int]:
    start = time.perf_counter()
    summary = generate_traces(problems, cfg, progress=False).report
    return time.perf_counter() - start, summary.completion_tokens


def killed_halfway(
    server: SimulatedServer, problems_file: Path, output_dir: str, traces: int, slots: int
) -> float:
    """`openr1-data generate` in its own process group, SIGKILLed once half the traces are on disk; its wall time."""
    argv = [
        sys.executable, "-m", "openr1_data.cli", "generate", "--problems", str(problems_file), "--output_dir",
        output_dir, "--teacher_backend", "openai", "--teacher_model", "sim", "--base_url", server.base_url,
        "--max_concurrency", str(slots), "--max_new_tokens", "16384", "--num_generations", str(SAMPLES),
        "--shard_traces", "100", "--shard_seconds", "2.0",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)  # fmt: skip
    try:
        while len(written_trace_ids(output_dir)) < traces // 2:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the run ended (exit {process.returncode}) before half its traces were written"
                )
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return time.perf_counter() - start


def one_repeat(server: SimulatedServer, traces: int, slots: int, work: Path) -> dict:
    problems = problems_for(traces)
    out = {}
    server.reset()
    seconds, tokens = timed_run(problems, config(server, tempfile.mkdtemp(dir=work), slots))
    out["uninterrupted"] = (seconds, tokens)

    problems_file = work / "problems.jsonl"
    problems_file.write_text(
        "\n".join(json.dumps({"problem": r["problem"], "answer": r["answer"]}) for r in problems)
    )
    folder = tempfile.mkdtemp(dir=work)
    server.reset()
    killed_s = killed_halfway(server, problems_file, folder, traces, slots)
    kept_before = len(written_trace_ids(folder))
    tokens_before = server.stats()["tokens"]  # what the server decoded for the killed run, finished or not
    server.reset()
    start = time.monotonic()
    resumed_s, resumed_tokens = timed_run(problems, config(server, folder, slots))
    out["resume_startup"] = (
        server.stats()["first_request_at"] - start
    )  # reading back what is written, planning
    out["resumed"] = (resumed_s, resumed_tokens)
    out["killed"] = (killed_s, tokens_before, kept_before)

    remaining = traces - kept_before
    server.reset()
    fresh = problems_for(
        remaining, offset=len(problems)
    )  # other problems: nothing of the first runs is reused
    out["fresh_same_size"] = timed_run(fresh, config(server, tempfile.mkdtemp(dir=work), slots))
    out["remaining"] = remaining
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=2000)
    parser.add_argument("--slots", type=int, default=64)
    parser.add_argument("--token_rate", type=float, default=7500.0, help="tokens/s of one sequence")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    server = SimulatedServer(args.slots, args.token_rate)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp:
            for _ in range(args.repeats):
                rows.append(one_repeat(server, args.traces, args.slots, Path(tmp)))
    finally:
        server.stop()

    def rate(pair) -> float:
        return pair[1] / pair[0]

    print(f"simulated server: {args.slots} slots at {args.token_rate:.0f} tokens/s each; {args.traces} traces, "
          f"killed once half were on disk; {args.repeats} repeats")  # fmt: skip
    print(f"{'repeat':>6} {'uninterrupted':>14} {'resumed call':>13} {'fresh same size':>16} {'resumed/fresh':>14} "
          f"{'job/uninterrupted':>18} {'first request':>14}")  # fmt: skip
    ratios = []
    for k, r in enumerate(rows, 1):
        job = (r["killed"][0] + r["resumed"][0]) / r["uninterrupted"][0]
        ratio = rate(r["resumed"]) / rate(r["fresh_same_size"])
        ratios.append(ratio)
        print(f"{k:>6} {rate(r['uninterrupted']):>12,.0f}/s {rate(r['resumed']):>11,.0f}/s "
              f"{rate(r['fresh_same_size']):>14,.0f}/s {ratio:>14.3f} {1 / job:>18.3f} {r['resume_startup']:>12.2f} s")  # fmt: skip
    print(
        f"resumed call vs a fresh run of its size: mean {statistics.mean(ratios):.3f} (target >= 0.95); "
        "job/uninterrupted is the uninterrupted wall time over the killed + resumed wall time"
    )


if __name__ == "__main__":
    main()
