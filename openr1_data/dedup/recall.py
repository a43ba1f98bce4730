"""Decontamination recall, measured: plant rule-made variants of benchmark items among clean rows, run the same
decontamination, and count what it catches.

Each sampled benchmark item is written in every kind of `VARIANT_KINDS` by deterministic rules (the same item and
seed give the same text): a verbatim copy, formatting changes (whitespace, LaTeX macros and delimiters, casing),
an instruction wrapper, truncation, changed numbers, renamed people and variables, a rule-based rewording
(phrases replaced by synonyms, the question moved first), and the rewording with changed numbers. A variant that a
rule leaves equal to the original (an item with no numbers or names) is not planted: it would count the verbatim
case twice. Clean rows (the input's rows the decontamination kept, or any texts given) measure the false-positive
rate. Every rate comes with a 95% Wilson interval (`openr1_data.intervals`), per method: the n-gram pass, the
semantic pass and both together.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset, Features, Value

from openr1_data.intervals import rate

VARIANT_KINDS = (
    "verbatim",
    "whitespace",
    "latex",
    "casing",
    "wrapper",
    "truncated",
    "numbers",
    "renamed",
    "reworded",
    "reworded_numbers",
)
PROBE_KIND, PROBE_BENCHMARK, PROBE_ITEM = "probe_kind", "probe_benchmark", "probe_item_id"
CLEAN = "clean"  # the probe kind of a clean row

WRAPPER = (
    "Solve the following math problem step by step. Put your final answer within \\boxed{{}}.\n\n{text}\n\n"
    "Remember to check your work."
)
# Phrase -> synonym, applied in order, whole words only (case kept for the first letter).
SYNONYMS = [
    ("how many", "count how many"),
    ("what is the value of", "determine the value of"),
    ("what is", "compute"),
    ("find", "determine"),
    ("compute", "calculate"),
    ("let", "suppose"),
    ("suppose", "assume"),
    ("the number of", "how many"),
    ("positive integers", "positive whole numbers"),
    ("positive integer", "positive whole number"),
    ("integers", "whole numbers"),
    ("such that", "so that"),
    ("smallest", "least"),
    ("largest", "greatest"),
    ("express your answer", "give your answer"),
    ("there are", "there exist"),
    ("each", "every"),
    ("given that", "if"),
    ("real numbers", "reals"),
    ("probability", "chance"),
    ("triangle", "three-sided figure"),
    ("sum", "total"),
    ("product", "result of multiplying"),
]
NAMES = {
    "Alice": "Priya",
    "Bob": "Tomas",
    "John": "Kenji",
    "Mary": "Fatima",
    "Jim": "Lars",
    "Tom": "Ravi",
    "Sarah": "Ingrid",
    "Jen": "Amara",
    "Aya": "Nadia",
    "Jack": "Omar",
    "Bill": "Diego",
    "Kelly": "Sofia",
    "Tina": "Mei",
    "Mike": "Hugo",
    "Joe": "Arjun",
}
VARIABLES = {"x": "t", "y": "s", "n": "k", "a": "p", "b": "q", "m": "j"}


def _rng(text: str, seed: int) -> random.Random:
    return random.Random(int(hashlib.sha256(f"{seed}|{text}".encode()).hexdigest()[:16], 16))


def _change_numbers(text: str, seed: int) -> str:
    rng = _rng(text, seed)

    def bump(match: re.Match[str]) -> str:
        return str(int(match.group()) + rng.randint(1, 9))

    return re.sub(r"(?<![\\\w.])\d+", bump, text)


def _rename(text: str) -> str:
    for name, other in NAMES.items():
        text = re.sub(rf"\b{name}\b", other, text)

    # Single-letter variables, only inside $...$ math (outside, "a" is an article).
    def in_math(match: re.Match[str]) -> str:
        body = match.group(1)
        for var, other in VARIABLES.items():
            body = re.sub(rf"(?<![\\A-Za-z]){var}(?![A-Za-z])", other, body)
        return f"${body}$"

    return re.sub(r"\$([^$]+)\$", in_math, text)


def _reword(text: str) -> str:
    for phrase, synonym in SYNONYMS:

        def keep_case(match: re.Match[str], synonym: str = synonym) -> str:
            word = match.group()
            return synonym[0].upper() + synonym[1:] if word[0].isupper() else synonym

        text = re.sub(rf"\b{phrase}\b", keep_case, text, flags=re.IGNORECASE)
    # The question first: the last sentence (usually what is asked) moves to the front.
    sentences = re.split(r"(?<=[.?!])\s+(?=[A-Z])", text.strip())
    if len(sentences) > 1:
        sentences = [sentences[-1], *sentences[:-1]]
    return " ".join(sentences)


def make_variant(kind: str, text: str, seed: int = 0) -> str:
    """`text` rewritten by the rule of one kind of `VARIANT_KINDS` (deterministic for a text and seed)."""
    if kind == "verbatim":
        return text
    if kind == "whitespace":
        return "  " + text.replace(" ", "  ").replace(". ", ".\n\n") + " \n"
    if kind == "latex":
        text = text.replace("\\frac", "\\dfrac").replace("(", "\\left(").replace(")", "\\right)")
        return re.sub(r"\$([^$]*)\$", r"\\(\1\\)", text)
    if kind == "casing":
        return text.upper()
    if kind == "wrapper":
        return WRAPPER.format(text=text)
    if kind == "truncated":
        words = text.split()
        return " ".join(words[: max(1, round(len(words) * 0.6))])
    if kind == "numbers":
        return _change_numbers(text, seed)
    if kind == "renamed":
        return _rename(text)
    if kind == "reworded":
        return _reword(text)
    if kind == "reworded_numbers":
        return _reword(_change_numbers(text, seed))
    raise ValueError(f"unknown variant kind {kind!r}; known: {', '.join(VARIANT_KINDS)}")


def probe_set(
    benchmarks: Sequence[Dataset],
    negatives: Sequence[str],
    items_per_benchmark: int,
    seed: int = 0,
    kinds: Sequence[str] = VARIANT_KINDS,
) -> Dataset:
    """Planted variants of `items_per_benchmark` items of each benchmark (sampled with `seed`) and the clean
    `negatives`, with their truth: `probe_kind` (`clean` for a negative), `probe_benchmark`, `probe_item_id`."""
    rows: list[dict[str, str | None]] = []
    for bench in benchmarks:
        name = bench[0]["benchmark"] if len(bench) else "benchmark"
        picked = sorted(
            random.Random(f"{seed}|{name}").sample(range(len(bench)), min(items_per_benchmark, len(bench)))
        )
        for i in picked:
            item = bench[i]
            original = item["problem"] if isinstance(item["problem"], str) else ""
            if not original.strip():
                continue
            for kind in kinds:
                text = make_variant(kind, original, seed)
                if kind != "verbatim" and text == original:
                    continue  # the rule found nothing to change: not a variant
                rows.append(
                    {"text": text, PROBE_KIND: kind, PROBE_BENCHMARK: name, PROBE_ITEM: str(item["item_id"])}
                )
    rows += [{"text": t, PROBE_KIND: CLEAN, PROBE_BENCHMARK: None, PROBE_ITEM: None} for t in negatives]
    features = Features({k: Value("string") for k in ("text", PROBE_KIND, PROBE_BENCHMARK, PROBE_ITEM)})
    return Dataset.from_list(rows, features=features)


@dataclass
class RecallReport:
    """Recall per method (n-gram, semantic, both) per variant kind and per benchmark, and the false-positive
    rate on clean rows; each rate is {count, of, rate, low, high} with a 95% Wilson interval."""

    methods: list[str]
    planted: int
    negatives: int
    items_per_benchmark: int
    seed: int
    overall: dict[str, dict[str, Any]]
    false_positive: dict[str, dict[str, Any]]
    by_kind: list[dict[str, Any]] = field(default_factory=list)
    by_benchmark: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def score_probes(
    probes: Dataset, flagged_methods: Sequence[str | None], methods: Sequence[str]
) -> RecallReport:
    """Recall and false positives of one decontamination run over `probe_set` rows, given each probe's
    `contamination_method` (None: not flagged; "ngram", "semantic" or "ngram+semantic")."""
    columns = ["combined", *methods] if len(methods) > 1 else list(methods)

    def caught(method: str | None, by: str) -> bool:
        return method is not None and (by == "combined" or by in method.split("+"))

    def rates(idx: list[int]) -> dict[str, dict[str, Any]]:
        return {by: rate(sum(caught(flagged_methods[i], by) for i in idx), len(idx)) for by in columns}

    kinds, benches = probes[PROBE_KIND], probes[PROBE_BENCHMARK]
    planted = [i for i, k in enumerate(kinds) if k != CLEAN]
    clean = [i for i, k in enumerate(kinds) if k == CLEAN]
    seen_kinds = [k for k in VARIANT_KINDS if k in set(kinds)]
    seen_benches = list(dict.fromkeys(b for b in benches if b is not None))
    return RecallReport(
        methods=list(methods),
        planted=len(planted),
        negatives=len(clean),
        items_per_benchmark=len({(benches[i], probes[PROBE_ITEM][i]) for i in planted}),
        seed=0,
        overall=rates(planted),
        false_positive=rates(clean),
        by_kind=[
            {
                "kind": k,
                "planted": sum(1 for i in planted if kinds[i] == k),
                **rates([i for i in planted if kinds[i] == k]),
            }
            for k in seen_kinds
        ],
        by_benchmark=[
            {
                "benchmark": b,
                "planted": sum(1 for i in planted if benches[i] == b),
                **rates([i for i in planted if benches[i] == b]),
            }
            for b in seen_benches
        ],
    )


def format_recall(recall: dict[str, Any]) -> str:
    """A plain-text table of a recall report (as `RecallReport.to_dict()`): recall per kind, then false positives."""
    columns = ["combined", *recall["methods"]] if len(recall["methods"]) > 1 else list(recall["methods"])

    def cell(r: dict[str, Any]) -> str:
        return (
            "n/a"
            if r["rate"] is None
            else f"{100 * r['rate']:.0f}% [{100 * r['low']:.0f}, {100 * r['high']:.0f}]"
        )

    lines = [
        f"recall on {recall['planted']} planted variants, false positives on {recall['negatives']} clean rows "
        "(95% Wilson intervals)",
        f"{'variant':<18}{'planted':>8}  " + "".join(f"{c:>20}" for c in columns),
    ]
    for row in recall["by_kind"]:
        lines.append(
            f"{row['kind']:<18}{row['planted']:>8}  " + "".join(f"{cell(row[c]):>20}" for c in columns)
        )
    lines.append(
        f"{'all variants':<18}{recall['planted']:>8}  "
        + "".join(f"{cell(recall['overall'][c]):>20}" for c in columns)
    )
    lines.append(
        f"{'false positives':<18}{recall['negatives']:>8}  "
        + "".join(f"{cell(recall['false_positive'][c]):>20}" for c in columns)
    )
    return "\n".join(lines)
