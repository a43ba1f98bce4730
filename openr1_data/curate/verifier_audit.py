"""The verifier audit: a second opinion on a random sample of math-verify's verdicts.

`verify --audit_sample N` draws N verified math traces (with a gold and an extracted answer, seeded) and asks a
cascade that shares as little as possible with math-verify's reading, stopping at the first step that decides:

1. `string`: the two answers are equal once normalised (delimiters, `\\boxed`, `\\text`, `\\left`/`\\right`,
   spacing and thousands separators, `\\dfrac`, an `x =` prefix, a trailing period, case), or say the same words
   (`text_answers.same_text`) when the gold is written in words;
2. `numeric`: both read as plain numbers (integers, decimals, fractions, percentages, scientific notation):
   equal within 1e-6 relative (a percentage also matches its share, 50% and 0.5);
3. `symbolic`: both read as expressions by latex2sympy after the normalisation above: equal when their
   difference evaluates to 0 (at three random points when they have variables);
4. `judge`: an LLM judge (any teacher backend), only when one is given.

A step that cannot read the answers passes them on; when none decides, the audit verdict is None. The sampled
rows get `audit_correct` (the second opinion) and `audit_method` (the step that decided, `undecided`); rows not
sampled have None in both. `audit_summary` estimates, with 95% Wilson intervals, how often math-verify said
wrong where the audit says right (suspected false negatives) and the reverse (suspected false positives): the
verify report and the card show both rates with examples.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from datasets import Dataset, Value

from openr1_data.curate.text_answers import is_prose, same_text, text_gold
from openr1_data.intervals import rate
from openr1_data.schema import ANSWER, CORRECT, DOMAIN, MATH, PROBLEM

AUDIT_CORRECT, AUDIT_METHOD = "audit_correct", "audit_method"
UNDECIDED = "undecided"
CASCADE = ("string", "numeric", "symbolic", "judge")
# A judge of (problem, gold, answer) triples: one verdict each (None: no clear reply).
AnswerJudge = Callable[[Sequence[tuple[str, str, str]]], list[bool | None]]


@dataclass
class AuditConfig:
    """The verifier audit of `openr1-data verify` (a second opinion on a sample of verdicts)."""

    audit_sample: int = field(
        default=0,
        metadata={
            "help": "math traces (with a gold and an extracted answer) sent through the audit cascade (string, "
            "numeric, a second symbolic reading, then the judge when --judge_model is given); 0: no audit"
        },
    )
    audit_seed: int = field(default=0, metadata={"help": "seed of the audit's sample"})
    audit_prediction_column: str = field(
        default="predicted_answer", metadata={"help": "column with the trace's extracted answer"}
    )

    def __post_init__(self) -> None:
        if self.audit_sample < 0:
            raise ValueError(f"--audit_sample must be >= 0, got {self.audit_sample}")


# ---- the cascade -----------------------------------------------------------------------------------------------

_WRAPPERS = re.compile(
    r"\\(?:boxed|text|textbf|mathrm|mathbf|fbox|operatorname)\s*\{((?:[^{}]|\{[^{}]*\})*)\}"
)
_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~|\{,\}")
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?!.*=)")
# A unit word after a number (`5 \text{ apples}`, `10\mathrm{cm}`): not part of the value.
_UNIT = re.compile(r"^(.*\d)\s*\\(?:text|mathrm)\s*\{\s*[A-Za-z/ ]+\}$")


def normalize_answer(answer: str) -> str:
    """An answer with its presentation removed (see the module docstring, step 1)."""
    text = _UNIT.sub(r"\1", answer.strip())
    for _ in range(3):
        unwrapped = _WRAPPERS.sub(r"\1", text)
        if unwrapped == text:
            break
        text = unwrapped
    for token in ("$", "\\(", "\\)", "\\[", "\\]", "\\left", "\\right", "\\displaystyle"):
        text = text.replace(token, "")
    text = text.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    text = _SPACING.sub("", text)
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # thousands separators
    text = text.strip().rstrip(".").strip()
    text = _ASSIGNMENT.sub("", text)
    return re.sub(r"\s+", "", text).lower()


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")


def read_number(answer: str) -> tuple[float, bool] | None:
    """(value, is a percentage) of an answer that is a plain number, else None."""
    text = normalize_answer(answer)
    percent = text.endswith("\\%") or text.endswith("%")
    text = text.removesuffix("\\%").removesuffix("%")
    text = re.sub(r"\^\{?\\circ\}?$", "", text)
    scientific = re.fullmatch(rf"({_NUMBER.pattern})(?:e|\\times10\^\{{?)([-+]?\d+)\}}?", text)
    try:
        if scientific:
            return float(scientific.group(1)) * 10 ** int(scientific.group(2)), percent
        fraction = re.fullmatch(r"(-?)\\frac\{?(-?\d+)\}?\{?(-?\d+)\}?", text) or re.fullmatch(
            r"(-?)(-?\d+)/(-?\d+)", text
        )
        if fraction:
            value = float(Fraction(int(fraction.group(2)), int(fraction.group(3))))
            return (-value if fraction.group(1) else value), percent
        if _NUMBER.fullmatch(text):
            return float(text), percent
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return None


def _close(a: float, b: float) -> bool:
    # 1e-6 relative, like math-verify's float rounding to 6 places: 0.3333333 is 1/3, 0.333 is not.
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def _numeric(gold: str, answer: str) -> bool | None:
    g, a = read_number(gold), read_number(answer)
    if g is None or a is None:
        return None
    (gv, gp), (av, ap) = g, a
    if _close(gv, av):
        return True
    # 50% and 0.5 are the same share (either side may carry the percent sign).
    return (gp and not ap and _close(gv / 100, av)) or (ap and not gp and _close(av / 100, gv))


def _symbolic(gold: str, answer: str) -> bool | None:
    """Second symbolic reading: latex2sympy on the normalised texts, difference evaluated numerically."""
    try:
        import sympy
        from latex2sympy2_extended import latex2sympy

        g, a = latex2sympy(normalize_answer(gold)), latex2sympy(normalize_answer(answer))
        if not isinstance(g, sympy.Expr) or not isinstance(a, sympy.Expr):
            return None  # relations, sets, intervals: left to the next step
        symbols = sorted(g.free_symbols | a.free_symbols, key=str)
        rng = random.Random(0)
        # Without variables one evaluation decides; with them, three random rational points.
        points = [
            [(x, sympy.Rational(rng.randint(2, 97), rng.randint(2, 13))) for x in symbols] for _ in range(3)
        ]
        for point in points if symbols else [[]]:
            if not (g.subs(point).is_finite and a.subs(point).is_finite):  # infinities: equal only as symbols
                return bool(sympy.simplify(g.subs(point) - a.subs(point)) == 0) if g != a else True
            diff = complex(sympy.N((g - a).subs(point), 30))
            if abs(diff) > 1e-9 * max(1.0, abs(complex(sympy.N(g.subs(point), 30)))):
                return False
        return True
    except Exception:  # noqa: BLE001 - any parse or evaluation failure: this step cannot read them
        return None


def second_opinion(gold: str, answer: str) -> tuple[bool | None, str]:
    """The cascade's verdict on one answer without a judge: (verdict, the step that decided or `undecided`)."""
    if text_gold(gold):  # a gold in words: the same words, or other words; a number against it is undecided
        if same_text(gold, answer):
            return True, "string"
        return (False, "string") if is_prose(answer) else (None, UNDECIDED)
    named = [m.group().split("=")[0].strip() if m else None for m in map(_ASSIGNMENT.match, (gold, answer))]
    if named[0] and named[1] and named[0] != named[1]:
        return False, "string"  # x = 3 and y = 3 name different unknowns
    if normalize_answer(gold) == normalize_answer(answer) and normalize_answer(gold):
        return True, "string"
    for name, step in (("numeric", _numeric), ("symbolic", _symbolic)):
        verdict = step(gold, answer)
        if verdict is not None:
            return verdict, name
    return None, UNDECIDED


# ---- the stage ------------------------------------------------------------------------------------------------


def audit_verdicts(
    dataset: Dataset, config: AuditConfig, judge: AnswerJudge | None = None
) -> tuple[Dataset, dict[str, Any] | None]:
    """`dataset` (verified: `correct`) with `audit_correct` / `audit_method` on a seeded sample of its math
    traces, and `audit_summary` of them (None when `audit_sample` is 0)."""
    if config.audit_sample == 0:
        return dataset, None
    prediction = config.audit_prediction_column
    missing = [c for c in (CORRECT, ANSWER, prediction) if c not in dataset.column_names]
    if missing:
        raise ValueError(f"verify --audit_sample: the traces have no {missing} column(s); verify them first")
    domains = dataset[DOMAIN] if DOMAIN in dataset.column_names else [MATH] * len(dataset)
    golds, answers = dataset[ANSWER], dataset[prediction]
    eligible = [
        i
        for i, (d, g, a) in enumerate(zip(domains, golds, answers, strict=True))
        if d == MATH and isinstance(g, str) and g.strip() and isinstance(a, str) and a.strip()
    ]
    sample = sorted(
        random.Random(config.audit_seed).sample(eligible, min(config.audit_sample, len(eligible)))
    )
    verdicts: list[bool | None] = [None] * len(dataset)
    methods: list[str | None] = [None] * len(dataset)
    for i in sample:
        verdicts[i], methods[i] = second_opinion(golds[i], answers[i])
    undecided = [i for i in sample if methods[i] == UNDECIDED]
    if judge is not None and undecided:
        problems = dataset[PROBLEM] if PROBLEM in dataset.column_names else [""] * len(dataset)
        replies = judge([(problems[i] or "", golds[i], answers[i]) for i in undecided])
        for i, verdict in zip(undecided, replies, strict=True):
            if verdict is not None:
                verdicts[i], methods[i] = verdict, "judge"
    out = dataset.remove_columns([c for c in (AUDIT_CORRECT, AUDIT_METHOD) if c in dataset.column_names])
    out = out.add_column(AUDIT_CORRECT, verdicts, feature=Value("bool"))
    out = out.add_column(AUDIT_METHOD, methods, feature=Value("string"))
    summary = audit_summary(out, prediction)
    if summary is not None:
        summary["eligible"] = len(eligible)
        summary["judge"] = judge is not None
    return out, summary


def audit_summary(
    traces: Dataset, prediction: str = "predicted_answer", max_examples: int = 5
) -> dict[str, Any] | None:
    """What the audit found, from the columns alone (None when the traces were not audited): the rates of
    suspected false negatives and false positives with 95% Wilson intervals, the steps that decided, examples."""
    if AUDIT_METHOD not in traces.column_names:
        return None
    columns = [
        c
        for c in (PROBLEM, ANSWER, prediction, CORRECT, AUDIT_CORRECT, AUDIT_METHOD)
        if c in traces.column_names
    ]
    rows = [r for r in traces.select_columns(columns).to_list() if r[AUDIT_METHOD] is not None]
    if not rows:
        return None
    decided = [r for r in rows if r[AUDIT_CORRECT] is not None]
    said_wrong = [r for r in decided if r[CORRECT] is False]
    said_right = [r for r in decided if r[CORRECT] is True]
    no_verdict = [r for r in decided if r[CORRECT] is None]
    suspected_fn = [r for r in said_wrong if r[AUDIT_CORRECT]]
    suspected_fp = [r for r in said_right if not r[AUDIT_CORRECT]]

    def example(r: dict[str, Any]) -> dict[str, Any]:
        problem = str(r.get(PROBLEM) or "")
        return {
            "problem": problem[:120] + ("..." if len(problem) > 120 else ""),
            "gold": r.get(ANSWER),
            "answer": r.get(prediction),
            "math_verify": r[CORRECT],
            "audit": r[AUDIT_CORRECT],
            "method": r[AUDIT_METHOD],
        }

    methods: dict[str, int] = {}
    for r in rows:
        methods[r[AUDIT_METHOD]] = methods.get(r[AUDIT_METHOD], 0) + 1
    return {
        "sampled": len(rows),
        "decided": len(decided),
        "methods": dict(sorted(methods.items())),
        "agreement": rate(
            sum(r[CORRECT] == r[AUDIT_CORRECT] for r in decided if r[CORRECT] is not None),
            len(said_wrong) + len(said_right),
        ),
        "suspected_false_negatives": rate(len(suspected_fn), len(said_wrong)),
        "suspected_false_positives": rate(len(suspected_fp), len(said_right)),
        "no_verdict_audit_right": sum(1 for r in no_verdict if r[AUDIT_CORRECT]),
        "no_verdict_audited": len(no_verdict),
        "false_negative_examples": [example(r) for r in suspected_fn[:max_examples]],
        "false_positive_examples": [example(r) for r in suspected_fp[:max_examples]],
    }


def audit_line(summary: dict[str, Any] | None) -> str:
    """One printed line about the audit."""
    if summary is None:
        return "verifier audit: not run (--audit_sample N audits a sample of the verdicts)"
    fn, fp = summary["suspected_false_negatives"], summary["suspected_false_positives"]

    def pct(r: dict[str, Any]) -> str:
        return (
            "n/a"
            if r["rate"] is None
            else f"{100 * r['rate']:.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}]"
        )

    return (
        f"verifier audit: {summary['sampled']} traces sampled, {summary['decided']} decided; suspected false "
        f"negatives {fn['count']}/{fn['of']} = {pct(fn)}, suspected false positives {fp['count']}/{fp['of']} = "
        f"{pct(fp)}"
    )
