"""Benchmark: the whole curation chain at scale, stage by stage, against `datasets.map` and the physical limit.

    python benchmarks/scale.py --traces 5000                      # smoke run (a few minutes on 2 loaded cores)
    python benchmarks/scale.py --traces 100000 --work outputs/scale-100k

Workload: `--traces`/2 input rows in OpenR1-Math-220k's schema (the generator of `benchmarks/import_traces.py`),
two generations each (the first right, the second wrong) of about `--chars` characters of varied text (sentences
drawn from a pool of word-salad math sentences, so the repetition filter passes them); every 50th problem is a
near-duplicate of the one before (one word changed), every 1000th an AIME 2024/2025 problem (planted
contamination).

Each stage runs as a user runs it: `openr1-data import | verify | filter | dedup | decontaminate | publish`, each
a fresh process reading the previous stage's folder. Measured per stage: rows in and out, wall seconds, CPU seconds
(user + system of the process and the workers it waited for, from wait4; they do not depend on how loaded the
machine is), peak memory of the process tree (PSS, sampled every 0.25 s from /proc/PID/smaps_rollup: forked
workers' copy-on-write pages counted once; `anon` is the anonymous part, without the pages of memory-mapped
Arrow files the kernel can drop) and disk written (the stage folder plus its
`datasets` cache).

Baseline (what a user writes today): `load_dataset("parquet")` of the stage's input, then `Dataset.map` (or
`filter`) with `num_proc` = `--num-proc` calling the stage's inner library work (`INNER` below: think split and
`\\boxed{}` for import, math-verify parse + verify for verify, our filter verdicts for filter, datasketch MinHash +
MinHashLSH for dedup, open-r1's 8-gram sets for decontaminate, the `messages` column for publish) and
`to_parquet`. Limit: `--num-proc` x the single-core rate of that inner work on a sample of the stage's input,
in one process, with no reading or writing (rows per CPU-second).
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from import_traces import folder_size, write_input  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = ["aime_2024", "aime_2025", "math_500"]
NEAR_DUPLICATE_EVERY, PLANTED_EVERY = 50, 1000
GENERATIONS = 2  # per input row: import's rows are counted in traces
STAGES = ["import", "verify", "filter", "dedup", "decontaminate", "publish"]

# ---------------------------------------------------------------------------------------------------------------
# Workload
# ---------------------------------------------------------------------------------------------------------------

_NOUNS = (
    "triangle circle polynomial integer sequence function square root fraction digit prime factor angle side "
    "radius chord area perimeter sum product quotient remainder divisor multiple coefficient equation inequality "
    "parabola vertex matrix vector probability expectation permutation subset graph edge residue modulus base "
    "exponent logarithm derivative interval median average ratio hexagon cube sphere cylinder tangent slope"
).split()
_VERBS = (
    "compute find check consider note assume suppose substitute factor expand simplify bound count".split()
)
_OPENERS = ("Let me", "Now I", "So we", "Next, I", "Hmm, let me", "Wait, I should", "Alternatively, we can")


def _sentence(rng: random.Random) -> str:
    a, b = rng.randint(2, 999), rng.randint(2, 999)
    n1, n2, n3 = rng.sample(_NOUNS, 3)
    kind = rng.randrange(4)
    if kind == 0:
        return f"{rng.choice(_OPENERS)} {rng.choice(_VERBS)} the {n1} ${a} + {b} = {a + b}$."
    if kind == 1:
        return f"The {n1} of the {n2} is ${a} \\cdot {b} = {a * b}$, so the {n3} follows."
    if kind == 2:
        return f"{rng.choice(_OPENERS)} {rng.choice(_VERBS)} $\\frac{{{a}}}{{{b}}}$ as the {n1} of the {n2}."
    return f"If the {n1} is ${a}$ and the {n2} is ${b}$, then the {n3} is ${abs(a - b)}$."


class Workload:
    """Problems and think blocks of the synthetic input, deterministic in the row index."""

    def __init__(self, seed: int = 0, pool: int = 4096) -> None:
        rng = random.Random(seed)
        self.sentences = [_sentence(rng) for _ in range(pool)]
        self.planted = self._benchmark_items()

    @staticmethod
    def _benchmark_items() -> list[tuple[str, int]]:
        from openr1_data.sources.eval_benchmarks import load_benchmark

        items = []
        for name in ("aime_2024", "aime_2025"):
            for row in load_benchmark(name):
                if str(row["answer"]).strip().isdigit():
                    items.append((row["problem"], int(row["answer"])))
        return items

    def context(self, i: int) -> list[str]:
        rng = random.Random(i)
        return [rng.choice(_NOUNS) for _ in range(24)]

    def problem_of(self, i: int) -> tuple[str, int]:
        if i % PLANTED_EVERY == PLANTED_EVERY // 2:
            return self.planted[(i // PLANTED_EVERY) % len(self.planted)]
        base = i - 1 if i % NEAR_DUPLICATE_EVERY == NEAR_DUPLICATE_EVERY - 1 else i
        words = self.context(base)
        if base != i:  # a near-duplicate: one word changed
            words[3] = "hexagon" if words[3] != "hexagon" else "cube"
        a, b = base % 997 + 2, base % 991 + 3
        text = " ".join(words)
        return f"Consider the {text}. Given ${a}$ and ${b}$, compute their product.", a * b

    def thinking_of(self, i: int, chars: int) -> str:
        rng = random.Random(-i - 1)
        parts, size = [], 0
        while size < chars:
            s = rng.choice(self.sentences)
            parts.append(s)
            size += len(s) + 1
        return " ".join(parts)


def write_workload(path: Path, traces: int, chars: int) -> int:
    """The input Parquet file (`traces`/2 rows); returns its row count."""
    rows = max(1, traces // 2)
    workload = Workload()
    write_input(path, rows, chars, problem_of=workload.problem_of, thinking_of=workload.thinking_of)
    return rows


# ---------------------------------------------------------------------------------------------------------------
# The inner work of each stage (the same library calls the stage makes), as a batched function
# ---------------------------------------------------------------------------------------------------------------


def inner_import(batch: dict[str, list]) -> dict[str, list]:
    from openr1_data.text import last_boxed, split_think

    out: dict[str, list] = {"problem": [], "reasoning": [], "final": [], "predicted_answer": []}
    for problem, gens in zip(batch["problem"], batch["generations"], strict=True):
        for g in gens:
            reasoning, final, _ = split_think(g)
            out["problem"].append(problem)
            out["reasoning"].append(reasoning)
            out["final"].append(final)
            out["predicted_answer"].append(last_boxed(final or ""))
    return out


def inner_verify(batch: dict[str, list]) -> dict[str, list]:
    from math_verify import parse, verify

    correct = []
    for gold, final in zip(batch["answer"], batch["final"], strict=True):
        g, p = parse(f"${gold}$"), parse(final or "")
        correct.append(bool(g and p and verify(g, p)))
    return {"correct": correct}


def inner_filter(batch: dict[str, list]) -> dict[str, list]:
    from openr1_data.curate.filters import FilterConfig, trace_reason
    from openr1_data.train.rewards.base import view_trace

    config, n = FilterConfig(), len(batch["completion"])
    reasons = []
    for i in range(n):
        row = {k: v[i] for k, v in batch.items()}
        reasons.append(trace_reason(view_trace(row, default_style=config.default_style), config, row))
    return {"keep": [r is None and c is True for r, c in zip(reasons, batch["correct"], strict=True)]}


def inner_dedup(batch: dict[str, list]) -> dict[str, list]:
    from datasketch import MinHash

    hashes = []
    for problem in batch["problem"]:
        tokens = problem.lower().split()
        shingles = {" ".join(tokens[j : j + 3]).encode() for j in range(max(1, len(tokens) - 2))}
        m = MinHash(num_perm=128, seed=1)
        m.update_batch(list(shingles))
        hashes.append(m.hashvalues.tolist())
    return {"minhash": hashes}


_BENCH_NGRAMS: set[str] = set()


def _ngrams(text: str, n: int = 8) -> set[str]:
    tokens = " ".join(text.lower().split()).split()
    return {" ".join(tokens[j : j + n]) for j in range(len(tokens) - n + 1)}


def inner_decontaminate(batch: dict[str, list]) -> dict[str, list]:
    if not _BENCH_NGRAMS:  # open-r1's scripts/decontaminate.py: a set of every benchmark problem's 8-grams
        from openr1_data.sources.eval_benchmarks import load_benchmark

        for name in BENCHMARKS:
            for problem in load_benchmark(name)["problem"]:
                _BENCH_NGRAMS.update(_ngrams(problem))
    return {"keep": [not (_ngrams(p) & _BENCH_NGRAMS) for p in batch["problem"]]}


def inner_publish(batch: dict[str, list]) -> dict[str, list]:
    return {
        "messages": [
            [{"role": "user", "content": p}, {"role": "assistant", "content": c}]
            for p, c in zip(batch["problem"], batch["completion"], strict=True)
        ]
    }


INNER: dict[str, Callable[[dict[str, list]], dict[str, list]]] = {
    "import": inner_import,
    "verify": inner_verify,
    "filter": inner_filter,
    "dedup": inner_dedup,
    "decontaminate": inner_decontaminate,
    "publish": inner_publish,
}
INNER_WORK = {
    "import": "split_think + last_boxed per generation",
    "verify": "math-verify parse(gold) + parse(final) + verify",
    "filter": "filters.trace_reason (finish, think, answer, repetition)",
    "dedup": "datasketch MinHash(128) of 3-word shingles (+ MinHashLSH in the baseline)",
    "decontaminate": "8-gram set of the problem against the benchmarks' set (open-r1)",
    "publish": "messages column",
}


def baseline_child(stage: str, files: Sequence[str], out: str, num_proc: int) -> None:
    """The user's way: load_dataset + map/filter with num_proc + to_parquet (run in its own process)."""
    from datasets import load_dataset

    ds = load_dataset("parquet", data_files=list(files), split="train", cache_dir=os.path.join(out, "cache"))
    fn = INNER[stage]
    nproc = num_proc if len(ds) >= 2 * num_proc else None
    if stage == "import":
        result = ds.map(fn, batched=True, num_proc=nproc, remove_columns=ds.column_names)
    elif stage in ("filter", "decontaminate"):
        result = ds.map(fn, batched=True, num_proc=nproc).filter(lambda b: b["keep"], batched=True)
    elif stage == "dedup":
        from datasketch import MinHash, MinHashLSH

        hashed = ds.map(fn, batched=True, num_proc=nproc)
        lsh, keep, scheme = MinHashLSH(threshold=0.7, num_perm=128), [], MinHash(num_perm=128, seed=1).scheme
        seen: dict[str, bool] = {}
        for i, (pid, values) in enumerate(zip(hashed["problem_id"], hashed["minhash"], strict=True)):
            if pid in seen:  # traces of one problem are not duplicates of each other
                keep.append(seen[pid])
                continue
            m = MinHash(num_perm=128, seed=1, hashvalues=values, scheme=scheme)
            seen[pid] = not lsh.query(m)
            if seen[pid]:
                lsh.insert(str(i), m)
            keep.append(seen[pid])
        result = hashed.remove_columns("minhash").select([i for i, k in enumerate(keep) if k])
    else:
        result = ds.map(fn, batched=True, num_proc=nproc)
    result.to_parquet(os.path.join(out, "data.parquet"))
    print(f"ROWS_OUT {len(result)}")


def single_core_rate(stage: str, files: Sequence[str], sample: int) -> float:
    """Rows per CPU-second of the stage's inner work on the first `sample` rows of its input, in this process."""
    fn = INNER[stage]
    table = pq.ParquetFile(files[0]).read_row_group(0) if files else None
    if table is None or table.num_rows == 0:
        return 0.0
    batch = table.slice(0, sample).to_pydict()
    fn({k: v[:1] for k, v in batch.items()})  # imports and one-time set-up are not the rate
    start = time.process_time()
    result = fn(batch)
    seconds = time.process_time() - start
    return len(next(iter(result.values()))) / max(seconds, 1e-9)  # rows out: traces for import


# ---------------------------------------------------------------------------------------------------------------
# Measuring a child process
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one child process cost."""

    wall: float
    cpu: float
    peak_rss: float  # GiB: the process tree's PSS (proportional set size), sampled
    peak_anon: float  # GiB: its anonymous part
    stdout: str


def _tree_memory(pid: int) -> tuple[int, int]:
    """PSS and its anonymous part (KiB) of a process and its descendants: proportional set sizes add up across
    forked workers (their copy-on-write pages shared with the parent counted once), unlike RSS."""
    import psutil

    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return 0, 0
    pss = anon = 0
    for p in procs:
        try:
            for line in Path(f"/proc/{p.pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Pss_Anon:"):
                    anon += int(line.split()[1])
        except OSError:
            continue
    return pss, anon


def run_child(argv: list[str], env: dict, log: Path) -> Run:
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        rss = anon = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            r, a = _tree_memory(proc.pid)
            rss, anon = max(rss, r), max(anon, a)
            time.sleep(0.25)
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = log.read_text()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:5])} failed with exit code {proc.returncode}:\n{text[-3000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(time.perf_counter() - start, cpu, rss / 2**20, anon / 2**20, text)


# ---------------------------------------------------------------------------------------------------------------
# The chain
# ---------------------------------------------------------------------------------------------------------------


def parquet_rows(files: Sequence[str | Path]) -> int:
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def data_files(folder: Path) -> list[str]:
    return sorted(glob.glob(str(folder / "data" / "*.parquet")))


def stage_argv(stage: str, source: Path, work: Path, num_proc: int) -> tuple[list[str], Path]:
    """The CLI command of a stage and its output folder."""
    previous = {"verify": "import", "filter": "verify", "dedup": "filter", "decontaminate": "dedup"}
    previous["publish"] = "decontaminate"
    out = work / stage
    inp = str(source) if stage == "import" else str(work / previous[stage])
    argv = [sys.executable, "-m", "openr1_data.cli", stage, "--input", inp, "--output_dir", str(out)]
    argv += {
        "import": ["--import_num_proc", str(num_proc), "--progress", "false"],
        "verify": ["--verify_num_proc", str(num_proc), "--progress", "false"],
        "filter": ["--filter_num_proc", str(num_proc)],
        "dedup": [],
        "decontaminate": ["--benchmarks", *BENCHMARKS, "--decontam_cache_dir", str(work / "decontam-index")],
        "publish": [],
    }[stage]
    return argv, out


@dataclass
class StageRow:
    """One line of the table."""

    stage: str
    rows_in: int
    rows_out: int
    run: Run
    disk: int  # bytes
    baseline: Run | None = None
    baseline_rows_out: int | None = None
    limit: float | None = None  # rows/s: num_proc x single-core rate of the inner work


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f}" if seconds > 0 else "-"


def format_table(rows: Sequence[StageRow]) -> str:
    """The per-stage table (Markdown)."""
    head = (
        "| stage | rows in | rows out | wall s | CPU s | rows/s | rows/CPU-s | peak PSS GiB (anon) | disk MiB "
        "| baseline rows/s | baseline rows/CPU-s | baseline peak PSS GiB (anon) | limit rows/s |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        b = r.baseline
        base = (
            [_rate(r.rows_in, b.wall), _rate(r.rows_in, b.cpu), f"{b.peak_rss:.2f} ({b.peak_anon:.2f})"]
            if b
            else ["-", "-", "-"]
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    r.stage,
                    f"{r.rows_in:,}",
                    f"{r.rows_out:,}",
                    f"{r.run.wall:.1f}",
                    f"{r.run.cpu:.1f}",
                    _rate(r.rows_in, r.run.wall),
                    _rate(r.rows_in, r.run.cpu),
                    f"{r.run.peak_rss:.2f} ({r.run.peak_anon:.2f})",
                    f"{r.disk / 2**20:,.0f}",
                    *base,
                    f"{r.limit:,.0f}" if r.limit else "-",
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def run_chain(
    traces: int,
    work: Path,
    *,
    chars: int = 6000,
    num_proc: int = 2,
    baseline: bool = True,
    limit_sample: int = 300,
    stages: Sequence[str] = STAGES,
    echo: Callable[[str], None] = print,
) -> list[StageRow]:
    """Write the workload, run each stage (and its baseline and limit), return the table rows."""
    work.mkdir(parents=True, exist_ok=True)
    source = work / "input.parquet"
    if not source.is_file():
        t = time.perf_counter()
        rows = write_workload(source, traces, chars)
        echo(f"input: {rows:,} rows, {2 * rows:,} traces, {source.stat().st_size / 2**20:,.0f} MiB Parquet "
             f"({time.perf_counter() - t:.0f} s to write)")  # fmt: skip
    table: list[StageRow] = []
    for stage in stages:
        argv, out = stage_argv(stage, source, work, num_proc)
        hf = work / f"hf-{stage}"
        env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HOME": str(hf), "HF_HUB_OFFLINE": "1",
               "HF_DATASETS_CACHE": str(hf / "datasets"), "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
        if out.exists():
            shutil.rmtree(out)
        inputs = [str(source)] if stage == "import" else data_files(Path(argv[argv.index("--input") + 1]))
        rows_in = parquet_rows(inputs) * (GENERATIONS if stage == "import" else 1)  # in traces
        run = run_child(argv, env, work / f"{stage}.log")
        if stage == "publish":
            outputs = sorted((out / "data" / "sft").glob("*.parquet"))  # the SFT config: one row per trace
        else:
            outputs = [Path(p) for p in data_files(out)]
        row = StageRow(stage, rows_in, parquet_rows(outputs), run, folder_size(out) + folder_size(hf))
        if baseline and rows_in:
            bout = work / f"baseline-{stage}"
            shutil.rmtree(bout, ignore_errors=True)
            bout.mkdir()
            bargv = [sys.executable, str(Path(__file__).resolve()), "--baseline-child", stage, str(bout),
                     str(num_proc), *inputs]  # fmt: skip
            row.baseline = run_child(bargv, env, work / f"baseline-{stage}.log")
            row.baseline_rows_out = int(row.baseline.stdout.split("ROWS_OUT")[-1].split()[0])
            shutil.rmtree(bout, ignore_errors=True)
        if rows_in:
            row.limit = num_proc * single_core_rate(stage, inputs, limit_sample)
        table.append(row)
        echo(format_table(table).splitlines()[-1])
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=int, default=100_000, help="generations (input rows x 2)")
    parser.add_argument("--chars", type=int, default=6000, help="characters of each think block")
    parser.add_argument("--num-proc", type=int, default=os.cpu_count() or 1, help="workers of each stage")
    parser.add_argument(
        "--work", type=Path, default=None, help="working folder (default: a temp folder, removed)"
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the datasets.map baselines")
    parser.add_argument("--limit-sample", type=int, default=300, help="rows timed for the single-core rate")
    parser.add_argument("--baseline-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.baseline_child:
        stage, out, num_proc, *files = args.baseline_child
        baseline_child(stage, files, out, int(num_proc))
        return 0
    work = args.work or Path(os.environ.get("TMPDIR", "/tmp")) / f"scale-{os.getpid()}"
    try:
        table = run_chain(
            args.traces,
            work,
            chars=args.chars,
            num_proc=args.num_proc,
            baseline=not args.no_baseline,
            limit_sample=args.limit_sample,
        )
        print()
        print(f"{args.traces:,} traces, {args.chars} characters of thinking each, {args.num_proc} workers")
        print(format_table(table))
        print()
        for stage in STAGES:
            print(f"- {stage}: inner work = {INNER_WORK[stage]}")
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
