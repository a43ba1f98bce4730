"""Benchmark: math verification throughput (traces/s) against the way open-r1 does it.

Workload: N traces (default 20,000), 4 samples per problem, a realistic mix of gold answers (integers, fractions,
decimals, expressions, equations, intervals, sets, some unparseable) and of predicted answers (the gold written
the same way, an equivalent form, a wrong value, no boxed answer with or without an announced answer in the final
text, garbage).

Baseline ("open-r1 way"): `datasets.map` over the rows with `num_proc` = cores, calling math-verify `parse(gold)`
and `parse(answer)` and `verify` for every row. It uses exactly the same parse settings and fallback as ours, so the
verdicts must agree; the difference is only how the work is organised.
Ours: `verify_traces` with 1 worker process and with `num_proc` = cores.

    python benchmarks/verify.py [--traces 20000] [--per-problem 4] [--num-proc N]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import time
from collections import Counter

from datasets import Dataset, disable_caching

from openr1_data.curate.answer_verifier import AnswerOptions
from openr1_data.curate.verify import VerifyConfig, _warm_up, verify_traces

# ---------------------------------------------------------------------------------------------------------------
# Workload
# ---------------------------------------------------------------------------------------------------------------

GOLD_MIX = [  # (kind, share)
    ("integer", 0.40),
    ("fraction", 0.15),
    ("decimal", 0.05),
    ("expression", 0.14),
    ("equation", 0.05),
    ("interval", 0.08),
    ("set", 0.08),
    ("unparseable", 0.05),
]
PRED_MIX = [  # (what the teacher wrote, share)
    ("same", 0.50),
    ("equivalent", 0.15),
    ("wrong", 0.22),
    ("missing_announced", 0.04),
    ("missing", 0.04),
    ("garbage", 0.05),
]


def _pick(rng: random.Random, mix: list[tuple[str, float]]) -> str:
    return rng.choices([k for k, _ in mix], weights=[w for _, w in mix])[0]


def _value(rng: random.Random, kind: str) -> tuple[str, list[str]]:
    """A gold answer of `kind` and a few equivalent ways to write it."""
    a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 9)
    if kind == "integer":
        n = rng.randint(-50, 5000)
        return str(n), [f"x = {n}", f"{n}.0", f"{n} \\text{{ cm}}"]
    if kind == "fraction":
        b = a + rng.randint(1, 50)
        return f"\\frac{{{a}}}{{{b}}}", [
            f"\\dfrac{{{a}}}{{{b}}}",
            f"{a}/{b}",
            f"\\frac{{{2 * a}}}{{{2 * b}}}",
        ]
    if kind == "decimal":
        return f"{a}.{c}5", [f"{a}.{c}50", f"\\frac{{{a * 100 + c * 10 + 5}}}{{100}}"]
    if kind == "expression":
        form = rng.randrange(3)
        if form == 0:
            return f"{a}\\sqrt{{{c}}}", [f"\\sqrt{{{c}}} \\cdot {a}", f"{a} \\sqrt {c}"]
        if form == 1:
            return f"\\frac{{{a}\\pi}}{{{c}}}", [f"\\frac{{{a}}}{{{c}}}\\pi", f"{a}\\pi/{c}"]
        return f"x^2 + {a + b}x + {a * b}", [f"(x+{a})(x+{b})", f"x^2+{a * b}+{a + b}x"]
    if kind == "equation":
        return f"y = {a}x + {b}", [f"y={a}x+{b}", f"{a}x + {b}"]
    if kind == "interval":
        if rng.random() < 0.5:
            return f"({a}, {a + b}]", [f"({a},{a + b}]", f"\\left({a}, {a + b}\\right]"]
        return f"[{a}, \\infty)", [f"[{a},\\infty)", f"x \\geq {a}"]
    if kind == "set":
        return f"\\{{{a}, {b}, {c}\\}}", [f"\\{{{c}, {a}, {b}\\}}", f"{b}, {a}, {c}"]
    return rng.choice(["---", "\\ldots", "?", "\\quad", "\\begin{tabular}{c} see figure \\end{tabular}"]), []


def _wrong(rng: random.Random, kind: str) -> str:
    value, _ = _value(rng, kind if kind != "unparseable" else "integer")
    return value


def make_workload(traces: int, per_problem: int, seed: int = 0) -> Dataset:
    """The benchmark traces (only the columns verification reads, plus a realistic final text)."""
    rng = random.Random(seed)
    rows = []
    for p in range(traces // per_problem):
        kind = _pick(rng, GOLD_MIX)
        gold, forms = _value(rng, kind)
        for s in range(per_problem):
            what = _pick(rng, PRED_MIX)
            final = "Putting the pieces together gives the result above."
            if what == "same":
                pred = gold
            elif what == "equivalent":
                pred = rng.choice(forms) if forms else gold
            elif what == "wrong":
                pred = _wrong(rng, kind)
            elif what == "garbage":
                pred = rng.choice(["\\frac{", "see above", "\\text{undefined}", "}{", "x"])
            else:
                pred = None
                if what == "missing_announced":
                    final = f"After checking all the cases, the final answer is ${gold}$."
                else:
                    final = (
                        "Let me double-check the computation of the second case " * 40
                    )  # truncated reasoning
            rows.append(
                {
                    "problem_id": f"p{p}",
                    "sample_index": s,
                    "answer": gold,
                    "predicted_answer": pred,
                    "final": final,
                    "gold_kind": kind,
                    "pred_kind": what,
                }
            )
    return Dataset.from_list(rows)


# ---------------------------------------------------------------------------------------------------------------
# Baseline: one row at a time, parse(gold) + parse(answer) + verify, datasets.map(num_proc=cores)
# ---------------------------------------------------------------------------------------------------------------

_OPTIONS = AnswerOptions()


def _baseline_row(row: dict) -> dict:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    gold = parse(f"${row['answer']}$", parsing_timeout=_OPTIONS.timeout_seconds)
    if not any(not isinstance(g, str) for g in gold):
        return {"baseline_correct": None}
    if row["predicted_answer"]:
        answer = parse(f"${row['predicted_answer']}$", parsing_timeout=_OPTIONS.timeout_seconds)
    else:
        answer = parse(
            row["final"][-_OPTIONS.fallback_chars :],
            extraction_config=[
                LatexExtractionConfig(try_extract_without_anchor=False, boxed_match_priority=0),
                ExprExtractionConfig(try_extract_without_anchor=False),
            ],
            parsing_timeout=_OPTIONS.timeout_seconds,
        )
    return {"baseline_correct": bool(verify(gold, answer, timeout_seconds=_OPTIONS.timeout_seconds))}


def _cpu_seconds() -> float:
    """CPU time of this process plus its finished children (the worker processes): a load-independent cost."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, *args) -> tuple[float, float, list]:
    """(wall seconds, CPU seconds, verdicts) of one run."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    verdicts = fn(*args)
    return time.perf_counter() - start, _cpu_seconds() - cpu, verdicts


def run_baseline(ds: Dataset, num_proc: int) -> list:
    return ds.map(_baseline_row, num_proc=num_proc if num_proc > 1 else None, desc="baseline")[
        "baseline_correct"
    ]


def run_ours(ds: Dataset, num_proc: int) -> list:
    return verify_traces(ds, VerifyConfig(verify_num_proc=num_proc, progress=False)).kept["correct"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--per-problem", type=int, default=4)
    parser.add_argument("--num-proc", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per method; the fastest counts (noisy machines)"
    )
    args = parser.parse_args()
    disable_caching()  # the baseline must not read a previous run's map cache

    ds = make_workload(args.traces, args.per_problem, args.seed)
    n = len(ds)
    print(
        f"workload: {n} traces, {args.per_problem} per problem, {n // args.per_problem} problems, "
        f"{args.num_proc} processes on {os.cpu_count()} cores"
    )
    print("  gold answers:", dict(Counter(ds["gold_kind"][:: args.per_problem])))
    print("  predictions:", dict(Counter(ds["pred_kind"])))

    _warm_up()  # math-verify's first parses are slow: warm this process up once, before any forked workers (fair)
    load_before = os.getloadavg()[0]
    runs: dict[str, list] = {"base": [], "one": [], "many": []}
    for _ in range(args.repeat):  # interleaved, so a burst of other work hits every method alike
        runs["base"].append(timed(run_baseline, ds, args.num_proc))
        runs["one"].append(timed(run_ours, ds, 1))
        runs["many"].append(timed(run_ours, ds, args.num_proc))
    (base_s, base_cpu, base_correct), (one_s, one_cpu, one_correct), (many_s, many_cpu, many_correct) = (
        min(runs[k], key=lambda r: r[0]) for k in ("base", "one", "many")
    )

    # Verdicts: ours says None (unknown) where the baseline says False for a missing answer only when configured
    # so; with the defaults both count a missing/unparseable answer as wrong, so they must agree row for row.
    disagree = sum(1 for a, b in zip(base_correct, many_correct, strict=True) if a != b)
    same_1_vs_n = one_correct == many_correct

    rows = [
        (f"open-r1 way: datasets.map, parse both per row (num_proc={args.num_proc})", base_s, base_cpu),
        ("ours: verify_traces, 1 worker process", one_s, one_cpu),
        (f"ours: verify_traces, num_proc={args.num_proc}", many_s, many_cpu),
    ]
    print()
    print("| method | seconds | traces/s | vs baseline | vs ours 1 process | CPU seconds |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, seconds, cpu in rows:
        print(
            f"| {name} | {seconds:.1f} | {n / seconds:,.0f} | {base_s / seconds:.2f}x "
            f"| {one_s / seconds:.2f}x | {cpu:.0f} |"
        )
    print(
        f"\nload average (1 min) before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f} "
        "(other work on the machine inflates wall times; CPU seconds are less sensitive to it)"
    )
    print()
    print(
        f"verdicts: ours vs baseline disagree on {disagree} of {n} rows; 1 process == {args.num_proc} processes: "
        f"{same_1_vs_n}; correct={sum(1 for c in many_correct if c)}, "
        f"unknown={sum(1 for c in many_correct if c is None)}"
    )


if __name__ == "__main__":
    main()
