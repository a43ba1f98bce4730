"""Best-of-K RLT selection: the selection stage (batched scoring + columns + per-pair choice) vs the baseline a user
would write (score each explanation on its own), on the same explanations and models.

    python benchmarks/rlt_select.py                        # packaged SmolLM2-135M-Instruct as student and teacher
    python benchmarks/rlt_select.py --pairs 16 --k 4 --model path/to/model

Both paths compute the same rewards (the table shows the largest difference) and pick the same explanations.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time

import torch
from datasets import Dataset

from openr1_data.curate.rlt_scoring import RLTRewardConfig, RLTScorer
from openr1_data.curate.rlt_select import RLT_REWARD, select_best_explanations
from openr1_data.prompts import get_style
from openr1_data.schema import make_problem_id
from openr1_data.sources.bundled import bundled_problems

END = "<|end_of_explanation|>"
FILLER = [
    "First",
    "read",
    "the",
    "question",
    "then",
    "add",
    "the",
    "numbers",
    "and",
    "check",
    "the",
    "result",
]


def explanations(pairs: int, k: int, seed: int = 0) -> Dataset:
    """K explanations of different lengths (20-80 words) for each bundled (problem, solution) pair."""
    rng = random.Random(seed)
    style = get_style("rlt")
    rows = []
    for problem in bundled_problems(pairs):
        for i in range(k):
            words = [rng.choice(FILLER) for _ in range(rng.randint(20, 80))]
            row = {"problem": problem["problem"], "solution": problem["solution"]}
            rows.append({**row, "problem_id": make_problem_id(problem["problem"]), "sample_index": i,
                         "prompt": style.build(row), "completion": " ".join(words) + f".\n{END}"})  # fmt: skip
    return Dataset.from_list(rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--batch_size", type=int, default=8, help="sequences per forward pass in the stage")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each method (median)")
    args = parser.parse_args()

    data = explanations(args.pairs, args.k)
    scorer = RLTScorer.from_pretrained(
        args.model, args.model, config=RLTRewardConfig(rlt_batch_size=args.batch_size)
    )
    single = RLTScorer(scorer.student, scorer.tokenizer, scorer.teacher, scorer.teacher_tokenizer,
                       RLTRewardConfig(rlt_batch_size=1))  # fmt: skip
    scorer.score(data["problem"][:2], data["solution"][:2], data["completion"][:2])  # warm up

    def loop() -> list[float]:
        return [single.score([q], [s], [e])[0].reward
                for q, s, e in zip(data["problem"], data["solution"], data["completion"], strict=True)]  # fmt: skip

    runs: dict[str, list[float]] = {"loop": [], "bare": [], "stage": []}
    for _ in range(args.repeats):  # interleaved, medians: other work on the machine hits every method alike
        start = time.perf_counter()
        baseline = loop()
        runs["loop"].append(time.perf_counter() - start)
        start = time.perf_counter()
        scorer.score(data["problem"], data["solution"], data["completion"])
        runs["bare"].append(time.perf_counter() - start)
        start = time.perf_counter()
        result = select_best_explanations(data, scorer, chunk=256, progress=False)
        runs["stage"].append(time.perf_counter() - start)
    loop_s, bare_s, stage_s = (statistics.median(runs[k]) for k in ("loop", "bare", "stage"))
    best_loop = {}
    for i, (pid, r) in enumerate(zip(data["problem_id"], baseline, strict=True)):
        if pid not in best_loop or r > baseline[best_loop[pid]]:
            best_loop[pid] = i

    kept = {r["problem_id"]: r["completion"] for r in result.kept}
    same_choice = all(kept[pid] == data[i]["completion"] for pid, i in best_loop.items())
    scored = {(r["problem_id"], r["sample_index"]): r[RLT_REWARD] for r in result.kept} | {
        (r["problem_id"], r["sample_index"]): r[RLT_REWARD] for r in result.rejected
    }
    diff = max(
        abs(scored[(data[i]["problem_id"], data[i]["sample_index"])] - b) for i, b in enumerate(baseline)
    )
    n = len(data)
    print(f"{n} explanations ({args.pairs} pairs x {args.k}), model {args.model}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} interleaved runs, load average {os.getloadavg()[0]:.1f}\n")  # fmt: skip
    print(f"{'method':<44}{'seconds':>9}{'expl/s':>9}{'vs loop':>9}")
    for name, sec in [
        ("loop: score one explanation at a time", loop_s),
        (f"bare RLTScorer.score, batch {args.batch_size}", bare_s),
        (f"select_best_explanations, batch {args.batch_size}", stage_s),
    ]:
        print(f"{name:<44}{sec:>9.2f}{n / sec:>9.1f}{loop_s / sec:>8.2f}x")
    print(f"\nsame explanation kept for every pair: {same_choice}; largest reward difference: {diff:.2e}")
    print(f"stage overhead over bare scoring: {stage_s / bare_s:.2f}x")


if __name__ == "__main__":
    main()
