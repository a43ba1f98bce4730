"""Benchmark: `openr1-data import` on a synthetic OpenR1-Math-like set: input rows/s, traces/s, peak RSS, disk.

Workload: N rows in OpenR1-Math-220k's `default` schema (problem, solution, answer, source, uuid, generations[2],
correctness_math_verify[2], correctness_llama[2], is_reasoning_complete[2], finish_reasons[2], messages), each
generation a `<think>` block of about `--chars` characters then a boxed answer; one of the two answers is wrong.
Written as one Parquet file; the import runs as a user runs it (the CLI, in a fresh process), its peak RSS read
from the child's rusage.

Baseline (what a user would otherwise write): `datasets.map(batched=True)` that explodes `generations` into rows
and splits each at `</think>` (no parsing of answers, ids, domains, verdicts or resume), single process, on the
same file.

    python benchmarks/import_traces.py [--rows 100000] [--chars 6000] [--batch 1000] [--num-proc 1] [--baseline]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parent.parent


def synthetic_table(
    rows: int,
    chars: int,
    seed_text: str,
    *,
    start: int = 0,
    problem_of: Callable[[int], tuple[str, int]] | None = None,
    thinking_of: Callable[[int, int], str] | None = None,
) -> pa.Table:
    """OpenR1-Math-like rows (numbered from `start`) with two generations of about `chars` characters each, the
    first right and the second wrong. By default problem i asks for a product and every think block repeats
    `seed_text`; `problem_of(i)` gives (problem, integer answer) and `thinking_of(i, chars)` a think block instead
    (benchmarks/scale.py: varied text, duplicates and planted benchmark items)."""
    filler = (seed_text * (chars // len(seed_text) + 1))[:chars]
    columns: dict[str, list] = {k: [] for k in (
        "problem", "solution", "answer", "problem_type", "question_type", "source", "uuid", "is_reasoning_complete",
        "generations", "correctness_math_verify", "correctness_llama", "finish_reasons", "correctness_count",
        "messages")}  # fmt: skip
    for i in range(start, start + rows):
        a, b = i % 997 + 2, i % 991 + 3
        problem, answer = problem_of(i) if problem_of else (f"Problem {i}: what is ${a} \\cdot {b}$?", a * b)
        think = thinking_of(i, chars) if thinking_of else filler
        gens = [
            f"<think>\n{think}\nSo the answer is {value}.\n</think>\n\nThe answer is $\\boxed{{{value}}}$."
            for value in (answer, answer + 1)
        ]
        for key, value in (
            ("problem", problem), ("solution", f"The answer is $\\boxed{{{answer}}}$"), ("answer", str(answer)),
            ("problem_type", "Algebra"), ("question_type", "math-word-problem"), ("source", "synthetic"),
            ("uuid", f"{i:08d}-0000-0000-0000-000000000000"), ("is_reasoning_complete", [True, True]),
            ("generations", gens), ("correctness_math_verify", [True, False]), ("correctness_llama", [True, False]),
            ("finish_reasons", ["stop", "stop"]), ("correctness_count", 1),
            ("messages", [{"role": "user", "content": problem}, {"role": "assistant", "content": gens[0]}]),
        ):  # fmt: skip
            columns[key].append(value)
    return pa.table(columns)


def write_input(
    path: Path,
    rows: int,
    chars: int,
    *,
    problem_of: Callable[[int], tuple[str, int]] | None = None,
    thinking_of: Callable[[int, int], str] | None = None,
) -> None:
    """`rows` rows of `synthetic_table` as one Parquet file, written 10,000 rows at a time."""
    seed = (
        "Let me think about this step by step. First, I multiply the tens and then the units; "
        "carrying gives the partial sums, which I add up carefully. Wait, let me double-check that. "
    )
    writer = None
    for start in range(0, rows, 10_000):  # in slices: the input itself is never held whole
        table = synthetic_table(
            min(10_000, rows - start),
            chars,
            seed,
            start=start,
            problem_of=problem_of,
            thinking_of=thinking_of,
        )
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _anon_kib(pid: int) -> int:
    """The process's anonymous resident memory (KiB): its own, without the memory-mapped Arrow files."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_child(argv: list[str], env: dict) -> tuple[float, float, float, float]:
    """Wall seconds, CPU seconds (user + system), peak RSS and peak anonymous RSS (GiB) of one child process.
    Peak RSS (from wait4) counts the pages of memory-mapped Arrow files it touched, which the kernel can drop; the
    anonymous peak is sampled from /proc every 0.2 s. CPU seconds do not depend on how loaded the machine is."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=REPO)
    anon = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        anon = max(anon, _anon_kib(proc.pid))
        time.sleep(0.2)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:4]} failed with exit code {proc.returncode}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20, anon / 2**20  # KiB on Linux


BASELINE = """
import sys
from datasets import load_dataset
ds = load_dataset("parquet", data_files=sys.argv[1], split="train", cache_dir=sys.argv[2])
def explode(batch):
    out = {"problem": [], "reasoning": [], "final": []}
    for problem, gens in zip(batch["problem"], batch["generations"]):
        for g in gens:
            head, _, tail = g.partition("</think>")
            out["problem"].append(problem)
            out["reasoning"].append(head.replace("<think>", "").strip())
            out["final"].append(tail.strip())
    return out
ds.map(explode, batched=True, remove_columns=ds.column_names).to_parquet(sys.argv[3])
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chars", type=int, default=6000, help="characters of each generation's think block")
    parser.add_argument("--batch", type=int, default=1000, help="--import_batch_size")
    parser.add_argument("--num-proc", type=int, default=1, help="--import_num_proc")
    parser.add_argument("--baseline", action="store_true", help="also time the datasets.map baseline")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="import-bench-"))
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HOME": str(work / "hf"), "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_CACHE": str(work / "hf" / "datasets")}  # fmt: skip
    try:
        source = work / "openr1-like.parquet"
        write_input(source, args.rows, args.chars)
        print(
            f"input: {args.rows} rows, {2 * args.rows} generations, {source.stat().st_size / 2**20:.0f} MiB parquet"
        )
        out = work / "imported"
        seconds, cpu, peak, anon = run_child(
            [sys.executable, "-m", "openr1_data.cli", "import", "--input", str(source), "--output_dir", str(out),
             "--import_batch_size", str(args.batch), "--import_num_proc", str(args.num_proc), "--progress", "false"],
            env)  # fmt: skip
        print(
            f"import:   {seconds:8.1f} s  {args.rows / seconds:8.0f} rows/s  {2 * args.rows / seconds:8.0f} traces/s  "
            f"CPU {cpu:.1f} s ({args.rows / cpu:.0f} rows per CPU-second)  "
            f"peak RSS {peak:.2f} GiB (anonymous {anon:.2f} GiB)  output {folder_size(out) / 2**20:.0f} MiB  "
            f"(datasets cache {folder_size(work / 'hf') / 2**20:.0f} MiB)"
        )
        if args.baseline:
            seconds, cpu, _, anon = run_child(
                [
                    sys.executable,
                    "-c",
                    BASELINE,
                    str(source),
                    str(work / "hf2"),
                    str(work / "baseline.parquet"),
                ],
                env,
            )
            print(
                f"baseline: {seconds:8.1f} s  {args.rows / seconds:8.0f} rows/s  {2 * args.rows / seconds:8.0f} "
                f"traces/s  CPU {cpu:.1f} s ({args.rows / cpu:.0f} rows per CPU-second)  peak anonymous RSS {anon:.2f} GiB (datasets.map explode + split at </think>, one process)"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
