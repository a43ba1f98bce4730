"""Benchmark: how often math-verify's `correct` is right, on a labelled set, and what the audit cascade catches.

    python benchmarks/verifier_audit.py            # about 30 s
    python benchmarks/verifier_audit.py --json out.json

The labelled set is the answer-case table of `tests/test_answer_cases.py` (about 300 completions: numbers,
fractions, percentages, units, roots, expressions, equations, intervals, sets, tuples, matrices, complex numbers,
words and choices, each in two real model endings, plus the answer-extraction cases). Its `expected` column is
what this project's verification says; the truth used here is that column except for the pairs listed in
`TRUTH`, where a person reading the two answers says they are equal although math-verify does not (the table's
comments call them math-verify's limitations). Golds that nothing can read (`---`, empty) have no truth and are
left out. This is not a random sample of real traces: it measures the known limitations, per category, with
intervals; `verify --audit_sample N` estimates the rates on a dataset's own traces.

Printed: math-verify's precision and recall of `correct` (a trace it calls right is right; a right trace is
called right) with 95% Wilson intervals, its misses by category, and how many of them the audit cascade
(`openr1_data.curate.verifier_audit.second_opinion`, no judge) flags, and its false alarms.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets import Dataset  # noqa: E402

from openr1_data.curate.verifier_audit import second_opinion  # noqa: E402
from openr1_data.curate.verify import VerifyConfig, verify_traces  # noqa: E402
from openr1_data.intervals import rate  # noqa: E402
from openr1_data.prompts import get_style  # noqa: E402
from tests.test_answer_cases import BARE, ENDINGS, STRUCTURAL  # noqa: E402

# (gold, boxed answer) -> (truth, category): pairs a person calls equal that math-verify does not.
TRUTH = {
    ("10455", "10\\,455"): (True, "thin-space thousands separator read as a sum"),
    ("12.5\\%", "12.5"): (True, "non-integer percentage against the bare number"),
    ("45^\\circ", "\\frac{\\pi}{4}"): (True, "degrees against radians"),
    ("6.02\\times10^{23}", "6.02e23"): (True, "e-notation read as Euler's number"),
    ("(-\\infty, 3)", "x<3"): (True, "inequality answer to an interval gold"),
    ("[-2, 7]", "-2 \\le x \\le 7"): (True, "inequality answer to an interval gold"),
    ("i", "\\sqrt{-1}"): (True, "sqrt(-1) left unevaluated"),
    ("forty two", "42"): (True, "number written in words"),
    ("no solution", "\\emptyset"): (True, "no solution against the empty set"),
}


def labelled_cases() -> list[dict]:
    """Every case with a truth: gold, completion, boxed answer (bare cases), truth, category of a known miss."""
    cases = []
    for gold, answer, expected in BARE:
        truth, category = TRUTH.get((gold, answer), (expected, None))
        if truth is None:
            continue
        for ending in ENDINGS:
            cases.append(
                {
                    "gold": gold,
                    "completion": ending.format(answer=answer),
                    "truth": truth,
                    "category": category,
                }
            )
    for gold, completion, expected, style in STRUCTURAL:
        if expected is None or style != "r1":
            continue  # no truth (unreadable gold), or another prompt style's extraction
        cases.append({"gold": gold, "completion": completion, "truth": expected, "category": None})
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the numbers here")
    args = parser.parse_args()
    cases = labelled_cases()
    style = get_style("r1")
    rows = []
    for i, case in enumerate(cases):
        parsed = style.parse(case["completion"], {})
        rows.append({"problem_id": f"p{i}", "answer": case["gold"], "completion": case["completion"],
                     "final": parsed.final, "predicted_answer": parsed.predicted_answer, "prompt_style": "r1",
                     "finish_reason": "stop"})  # fmt: skip
    verified = verify_traces(Dataset.from_list(rows), VerifyConfig(verify_num_proc=2, progress=False)).kept
    verdicts = verified["correct"]
    truths = [c["truth"] for c in cases]
    called_right = [i for i, v in enumerate(verdicts) if v is True]
    right = [i for i, t in enumerate(truths) if t]
    wrong = [i for i, t in enumerate(truths) if not t]
    precision = rate(sum(truths[i] for i in called_right), len(called_right))
    recall = rate(sum(verdicts[i] is True for i in right), len(right))
    false_positive = rate(sum(verdicts[i] is True for i in wrong), len(wrong))
    misses = [i for i in right if verdicts[i] is not True]
    categories = Counter(cases[i]["category"] or "other" for i in misses)

    # The audit cascade on every case with an extracted answer; it flags a miss when it says right.
    audit = {
        i: second_opinion(cases[i]["gold"], rows[i]["predicted_answer"])
        for i in range(len(cases))
        if rows[i]["predicted_answer"]
    }
    flagged_misses = [i for i in misses if i in audit and audit[i][0] is True]
    false_alarms = [i for i in called_right if i in audit and truths[i] and audit[i][0] is False]
    decided = [i for i in audit if audit[i][0] is not None]
    audit_accuracy = rate(sum(audit[i][0] == truths[i] for i in decided), len(decided))

    def pct(r: dict) -> str:
        return (
            f"{100 * r['rate']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}] ({r['count']}/{r['of']})"
        )

    print(f"{len(cases)} labelled cases: {len(right)} right answers, {len(wrong)} wrong ones")
    print(f"math-verify precision of correct=True   {pct(precision)}")
    print(f"math-verify recall of right answers     {pct(recall)}")
    print(f"math-verify false-positive rate         {pct(false_positive)}")
    print(f"\nright answers math-verify missed ({len(misses)}; None = no verdict), by category:")
    for category, n in categories.most_common():
        none = sum(1 for i in misses if (cases[i]["category"] or "other") == category and verdicts[i] is None)
        print(f"  {n:>3}  {category}" + (f" ({none} without a verdict)" if none else ""))
    print(
        f"\naudit cascade: decided {len(decided)} of {len(audit)} answered cases, right on {pct(audit_accuracy)}"
    )
    print(f"  flags {len(flagged_misses)} of math-verify's {len(misses)} misses as suspected false negatives: "
          + ", ".join(sorted({cases[i]['category'] or 'other' for i in flagged_misses})))  # fmt: skip
    print(f"  false alarms on right verdicts: {len(false_alarms)}")
    if args.json:
        args.json.write_text(json.dumps({
            "cases": len(cases), "precision": precision, "recall": recall, "false_positive": false_positive,
            "misses_by_category": dict(categories), "audit_accuracy": audit_accuracy,
            "audit_flags_misses": len(flagged_misses), "audit_false_alarms": len(false_alarms),
        }, indent=1) + "\n")  # fmt: skip


if __name__ == "__main__":
    main()
