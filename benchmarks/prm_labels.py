"""Step labelling: how fast the rule-based labeler is, and what Monte-Carlo rollout labels cost in teacher calls.

    python benchmarks/prm_labels.py                                   # the packaged SmolLM2-135M-Instruct teacher
    python benchmarks/prm_labels.py --model path/to/tiny-model --traces 8 --rollouts_per_step 2

1. Rule-based labeler throughput (steps/s) on synthetic step traces with arithmetic claims, against the baseline a
   user would write: a regex for `lhs = rhs` and `sympy.sympify` on both sides, and how many steps each judges
   right (the baseline misreads `\\times`, words such as "is" and "times", and equations with an unknown).
2. Rollout labelling (Math-Shepherd, `openr1-data label-steps --labeler rollouts`) on step traces written from the
   bundled problems' reference solutions (half of them with one false claim): teacher requests per trace with and
   without `--stop_at_first_error`, and the wall time. The teacher is forced to answer after a short think budget
   (s1 budget forcing), so every rollout ends in a `\\boxed{}` answer even on a 135M model.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time

from datasets import Dataset

from openr1_data.curate.step_labels import StepLabelConfig, label_steps
from openr1_data.curate.steps import check_steps
from openr1_data.generate.stage import GenerationConfig
from openr1_data.schema import make_problem_id, make_trace_id
from openr1_data.sources.bundled import bundled_problems

OPS = [("+", lambda a, b: a + b), ("-", lambda a, b: a - b), ("\\times", lambda a, b: a * b)]


def synthetic_steps(n: int, seed: int = 0) -> tuple[list[str], list[bool]]:
    """Steps as traces write them, and whether each is right: a computation in LaTeX or in words (a tenth of them
    false), an equation with an unknown, or plain prose."""
    rng = random.Random(seed)
    steps, truth = [], []
    for _ in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        op, fn = rng.choice(OPS)
        false = rng.random() < 0.1
        value = fn(a, b) + (rng.choice([-1, 1]) if false else 0)
        kind = rng.random()
        if kind < 0.4:
            steps.append(f"Step {rng.randint(1, 9)}: We compute ${a} {op} {b} = {value}$, which we carry on.")
        elif kind < 0.6:
            words = {"+": "plus", "-": "minus", "\\times": "times"}[op]
            steps.append(f"So {a} {words} {b} is {value} apples in total.")
        else:
            false = False
            if kind < 0.8:
                steps.append(f"Let x be the number of boxes, so x + {a} = {b + a} and we solve for x.")
            else:
                steps.append("Now we read the question again and check what it asks for.")
        truth.append(not false)
    return steps, truth


_BASELINE_CLAIM = re.compile(r"([\d\s+\-*/().]+)=\s*([-\d.]+)")


def sympy_baseline(steps: list[str]) -> list[bool]:
    """What a user would write: find `lhs = rhs` with a regex, `sympify` both sides, compare."""
    import sympy

    verdicts = []
    for step in steps:
        ok = True
        for lhs, rhs in _BASELINE_CLAIM.findall(step):
            try:
                ok &= bool(sympy.simplify(sympy.sympify(lhs) - sympy.sympify(rhs)) == 0)
            except (sympy.SympifyError, SyntaxError, TypeError):
                continue
        verdicts.append(ok)
    return verdicts


def rule_throughput(n: int) -> list[tuple[str, float, float, str]]:
    steps, truth = synthetic_steps(n)
    start = time.perf_counter()
    ours = [not c.wrong for c in check_steps(steps)]
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    base = sympy_baseline(steps)
    base_s = time.perf_counter() - start

    def quality(verdicts: list[bool]) -> str:
        right = sum(v == t for v, t in zip(verdicts, truth, strict=True))
        caught = sum(not v and not t for v, t in zip(verdicts, truth, strict=True))
        return f"{right / n:.1%} of steps judged right; {caught} of {truth.count(False)} false steps caught"

    return [
        ("regex + sympy.sympify (baseline)", base_s, n / base_s, quality(base)),
        ("curate/steps.py exact checker", ours_s, n / ours_s, quality(ours)),
    ]


def solution_traces(n: int) -> Dataset:
    """`steps`-style traces written from the bundled reference solutions; every other one has a false claim."""
    rows = []
    for i, p in enumerate(bundled_problems(n)):
        claims = re.findall(r"(\d+ (?:\+|-|\\times|\\div) \d+) = (\d+)", p["solution"])
        wrong = i % 2 == 1
        steps = ["Step 1: Read the numbers in the problem."]
        for j, (lhs, rhs) in enumerate(claims):
            value = int(rhs) + (3 if wrong and j == 0 else 0)
            steps.append(f"Step {j + 2}: {lhs} = {value}.")
        answer = int(claims[-1][1]) + (3 if wrong and len(claims) == 1 else 0)
        steps.append(f"Step {len(steps) + 1}: So the answer is {answer}.")
        pid = make_problem_id(p["problem"])
        rows.append(
            {
                **p,
                "problem_id": pid,
                "trace_id": make_trace_id(pid, "steps", "hand-written", 0),
                "prompt_style": "steps",
                "completion": "<think>\n" + "\n".join(steps) + f"\n</think>\n\\boxed{{{answer}}}",
            }
        )
    return Dataset.from_list(rows)


def rollout_cost(model: str, traces: int, k: int, budget: int, answer_tokens: int) -> list[tuple]:
    data = solution_traces(traces)
    n_steps = sum(len(s) for s in label_steps(data, StepLabelConfig(labeler="rules")).kept["steps"])
    rows: list[tuple[str, float, float, float, int, str]] = [
        ("rules (exact arithmetic)", 0.0, 0.0, 0.0, n_steps, "-")
    ]
    for stop in (False, True):
        folder = tempfile.mkdtemp(prefix="prm-rollouts-")
        generation = GenerationConfig(
            teacher_model=model,
            temperature=0.7,
            max_new_tokens=budget,
            thinking_budget=budget,
            forced_answer_tokens=answer_tokens,
            force_unclosed_on_stop=True,
        )
        config = StepLabelConfig(
            labeler="rollouts",
            rollouts_per_step=k,
            rollout_dir=folder,
            stop_at_first_error=stop,
            progress=False,
        )
        start = time.perf_counter()
        result = label_steps(data, config, generation=generation)
        report = result.report
        seconds = time.perf_counter() - start
        scores = [s["score"] for row in result.kept["step_labels"] for s in row if s["score"] is not None]
        rows.append(
            (
                f"rollouts k={k}" + (", stop_at_first_error" if stop else ""),
                report.rollouts_generated / traces,
                report.teacher_requests / traces,
                seconds,
                report.steps_labelled,
                f"{statistics.mean(scores):.2f}" if scores else "-",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=20_000, help="synthetic steps for the rule-based labeler"
    )
    parser.add_argument("--model", default="smollm2", help="rollout teacher (default: packaged SmolLM2-135M)")
    parser.add_argument("--traces", type=int, default=8, help="bundled problems to label with rollouts")
    parser.add_argument("--rollouts_per_step", type=int, default=4)
    parser.add_argument(
        "--think_budget", type=int, default=24, help="rollout tokens before the forced answer"
    )
    parser.add_argument("--answer_tokens", type=int, default=6, help="tokens of the forced answer")
    args = parser.parse_args()

    print(f"\n1. Rule-based labeler, {args.steps:,} synthetic steps (one core)\n")
    print(f"| {'method':<34} | {'seconds':>8} | {'steps/s':>9} | notes |")
    print(f"|{'-' * 36}|{'-' * 10}:|{'-' * 11}:|---|")
    for name, seconds, rate, notes in rule_throughput(args.steps):
        print(f"| {name:<34} | {seconds:>8.2f} | {rate:>9,.0f} | {notes} |")

    print(f"\n2. Rollout labels, {args.traces} bundled traces, teacher {args.model}\n")
    print(
        "| labeler | rollouts/trace | teacher requests/trace | seconds | steps labelled | mean step score |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, rollouts, requests, seconds, labelled, mean in rollout_cost(
        args.model, args.traces, args.rollouts_per_step, args.think_budget, args.answer_tokens
    ):
        print(f"| {name} | {rollouts:.1f} | {requests:.1f} | {seconds:.1f} | {labelled} | {mean} |")


if __name__ == "__main__":
    main()
