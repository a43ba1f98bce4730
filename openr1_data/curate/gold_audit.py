"""The gold audit and majority answers: what a problem's samples agree on, set against its gold answer.

A wrong gold breaks training silently: every right sample is scored wrong. When many samples of a problem agree on
one answer that the gold rejects (at least `agreement_count` samples and a share `agreement_share` of all the
problem's samples, equal by math-verify or as text), the gold is more likely wrong than the samples: the problem's
rows get `gold_suspect = True` and `majority_answer` / `majority_share` say what the samples agree on. Nothing is
rejected or changed: the audit is a list to check (the verify report, the card).

Problems without a gold can get one by majority vote (`--majority_answers`, off by default): with the same
thresholds, their rows get `answer` = the agreed answer and `answer_source = "majority"` (rows with a gold get
"gold"), and are verified against it. The card states how many problems' answers came from a vote.

Math rows only: multiple-choice and code rows are verified by their own judgements.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from datasets import Dataset, Value

from openr1_data.curate.answer_verifier import AnswerVerifier
from openr1_data.curate.verify import CORRECT, VERIFY_ERROR, VerifyConfig, check_answers
from openr1_data.schema import ANSWER, MATH, PROBLEM, PROBLEM_ID, arrow_column, require_columns
from openr1_data.sources.domains import dataset_domains

GOLD_SUSPECT = "gold_suspect"
MAJORITY_ANSWER = "majority_answer"
MAJORITY_SHARE = "majority_share"
ANSWER_SOURCE = "answer_source"
MAX_EXAMPLES = 50  # problems listed in the report (the counts cover all)


@dataclass(frozen=True)
class Agreement:
    """The largest group of equal answers among one problem's samples."""

    answer: str  # the group's most frequent spelling
    count: int
    samples: int

    @property
    def share(self) -> float:
        return self.count / self.samples if self.samples else 0.0


def _same(verifier: AnswerVerifier, first: str, other: str) -> bool:
    return first == other or verifier.check(first, other)[0] is True


def largest_agreement(
    answers: Sequence[str | None], samples: int, verifier: AnswerVerifier, needed: int = 1
) -> Agreement | None:
    """Group `answers` by equality (math-verify, the group's first answer as gold; text golds as text) and return
    the largest group out of `samples` samples; None when no answer was given, or as soon as no group can reach
    `needed` answers any more (most problems: their few wrong answers differ, and comparing stops early)."""
    texts = [t for t in ((a or "").strip() for a in answers) if t]
    groups: list[list[str]] = []
    for position, text in enumerate(texts):
        if max((len(g) for g in groups), default=0) + len(texts) - position < needed:
            return None
        for group in groups:
            if _same(verifier, group[0], text):
                group.append(text)
                break
        else:
            groups.append([text])
    if not groups:
        return None
    best = max(groups, key=len)  # the first of equal-sized groups: the earliest answer
    return Agreement(Counter(best).most_common(1)[0][0], len(best), samples)


def _strong(agreement: Agreement | None, config: VerifyConfig) -> bool:
    return (
        agreement is not None
        and agreement.count >= config.agreement_count
        and agreement.share >= config.agreement_share
    )


def _has_gold(gold: object) -> bool:
    return gold is not None and bool(str(gold).strip())


def audit_golds(verified: Dataset, config: VerifyConfig | None = None) -> tuple[Dataset, dict[str, Any]]:
    """Flag suspect golds (and, if enabled, give gold-less problems a majority answer) on verified traces.

    Adds `gold_suspect`, `majority_answer` and `majority_share` (and `answer_source` with `majority_answers`);
    returns the dataset and the report: counts, the settings and up to `MAX_EXAMPLES` problems of each kind.
    """
    config = config or VerifyConfig()
    gold_column, prediction_column = config.gold_column, config.prediction_column
    require_columns(
        verified.column_names,
        [CORRECT, prediction_column],
        what="gold audit",
        fix="Pass verified traces (verify_traces adds `correct`) with their parsed answers.",
    )
    group_column = PROBLEM_ID if PROBLEM_ID in verified.column_names else PROBLEM
    require_columns(verified.column_names, [group_column], what="gold audit", fix="Traces need `problem_id`.")
    n = len(verified)
    domains = dataset_domains(verified)
    keys = _column(verified, group_column)
    golds = _column(verified, gold_column) if gold_column in verified.column_names else [None] * n
    preds = _column(verified, prediction_column)
    correct = _column(verified, CORRECT)
    errors: list[str | None] = (
        _column(verified, VERIFY_ERROR) if VERIFY_ERROR in verified.column_names else [None] * n
    )

    problems: dict[Any, list[int]] = {}
    for i in range(n):
        if domains[i] == MATH:
            problems.setdefault(keys[i], []).append(i)

    verifier = AnswerVerifier(config.answer_options())
    suspect: list[bool | None] = [None] * n
    agreed: list[str | None] = [None] * n
    shares: list[float | None] = [None] * n
    new_golds: list[Any] = list(golds)
    sources: list[str | None] = [None] * n
    suspects, voted = [], []
    with_gold = 0
    for key, rows in problems.items():
        gold = next((golds[i] for i in rows if _has_gold(golds[i])), None)
        if gold is not None:
            with_gold += 1
            for i in rows:
                sources[i] = "gold"
            if not config.gold_audit:
                continue
            # Only answers the gold rejected can outvote it; most problems have too few to bother comparing.
            wrong = [preds[i] for i in rows if correct[i] is False and (preds[i] or "").strip()]
            needed = max(config.agreement_count, math.ceil(config.agreement_share * len(rows)))
            agreement = (
                largest_agreement(wrong, len(rows), verifier, needed) if len(wrong) >= needed else None
            )
            flagged = _strong(agreement, config)
            for i in rows:
                suspect[i] = flagged
            if flagged and agreement is not None:
                for i in rows:
                    agreed[i], shares[i] = agreement.answer, round(agreement.share, 4)
                suspects.append(_example(key, gold, agreement))
        elif config.majority_answers:
            needed = max(config.agreement_count, math.ceil(config.agreement_share * len(rows)))
            agreement = largest_agreement([preds[i] for i in rows], len(rows), verifier, needed)
            if _strong(agreement, config) and agreement is not None:
                for i in rows:
                    agreed[i], shares[i] = agreement.answer, round(agreement.share, 4)
                    new_golds[i], sources[i] = agreement.answer, "majority"
                voted.append(_example(key, None, agreement))

    out = verified
    if voted:  # verify the voted problems' traces against their new answer, as the verify stage would
        rows = [i for i in range(n) if sources[i] == "majority"]
        finals = (
            _column(verified.select(rows), config.final_column)
            if config.final_column in verified.column_names
            else None
        )
        verdicts = check_answers([new_golds[i] for i in rows], [preds[i] for i in rows], finals, config)
        for i, (ok, error) in zip(rows, verdicts, strict=True):
            correct[i], errors[i] = ok, error
        out = _replace(out, gold_column, new_golds, Value("string"))
        out = _replace(out, CORRECT, correct, Value("bool"))
        out = _replace(out, VERIFY_ERROR, errors, Value("string"))
    out = _replace(out, GOLD_SUSPECT, suspect, Value("bool"))
    out = _replace(out, MAJORITY_ANSWER, agreed, Value("string"))
    out = _replace(out, MAJORITY_SHARE, shares, Value("float64"))
    if config.majority_answers:
        out = _replace(out, ANSWER_SOURCE, sources, Value("string"))
    report = {
        "settings": {
            "gold_audit": config.gold_audit,
            "majority_answers": config.majority_answers,
            "agreement_share": config.agreement_share,
            "agreement_count": config.agreement_count,
        },
        "problems": len(problems),
        "with_gold": with_gold,
        "gold_suspect": len(suspects),
        "without_gold": len(problems) - with_gold,
        "majority_answers": len(voted),
        "suspects": suspects[:MAX_EXAMPLES],
        "voted": voted[:MAX_EXAMPLES],
    }
    return out, report


def gold_audit_line(report: dict[str, Any]) -> str:
    """One line for the console: how many golds look wrong and how many answers came from a vote."""
    settings = report["settings"]
    rule = f"{settings['agreement_count']}+ samples and {settings['agreement_share']:.0%} agree"
    line = f"gold audit ({rule}): {report['gold_suspect']} of {report['with_gold']} problems' golds suspect"
    if settings["majority_answers"]:
        line += f"; {report['majority_answers']} of {report['without_gold']} gold-less problems answered by majority"
    return line


def card_summary(traces: Dataset, max_examples: int = 10) -> dict[str, Any] | None:
    """What the card says about the audit, from the columns alone: suspect and voted problems with examples; None
    when the traces were not audited."""
    if GOLD_SUSPECT not in traces.column_names:
        return None
    group = PROBLEM_ID if PROBLEM_ID in traces.column_names else PROBLEM
    # the SFT rows of a run without its trace folder carry the verdict and the answer, not the share
    columns = [group, GOLD_SUSPECT]
    columns += [
        c for c in (MAJORITY_ANSWER, MAJORITY_SHARE, ANSWER, ANSWER_SOURCE) if c in traces.column_names
    ]
    first: dict[Any, dict[str, Any]] = {}
    for row in traces.select_columns(columns).to_list():
        first.setdefault(row[group], row)
    audited = [r for r in first.values() if r[GOLD_SUSPECT] is not None]
    suspects = [r for r in audited if r[GOLD_SUSPECT]]
    voted = [r for r in first.values() if r.get(ANSWER_SOURCE) == "majority"]
    if not audited and not voted:
        return None

    def example(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "problem": str(row[group]),
            "gold": row.get(ANSWER) if row.get(ANSWER_SOURCE) != "majority" else None,
            "majority_answer": row.get(MAJORITY_ANSWER),
            "share": row.get(MAJORITY_SHARE),
        }

    return {
        "audited": len(audited),
        "suspects": len(suspects),
        "suspect_examples": [example(r) for r in suspects[:max_examples]],
        "voted": len(voted),
        "voted_examples": [example(r) for r in voted[:max_examples]],
    }


def _example(key: Any, gold: object, agreement: Agreement) -> dict[str, Any]:
    return {
        "problem": key,
        "gold": None if gold is None else str(gold),
        "majority_answer": agreement.answer,
        "agreeing": agreement.count,
        "samples": agreement.samples,
    }


def _column(dataset: Dataset, name: str) -> list[Any]:
    return arrow_column(
        dataset, name
    ).to_pylist()  # a plain list: indexing a `datasets` column row by row is slow


def _replace(dataset: Dataset, name: str, values: list, feature: Value) -> Dataset:
    if name in dataset.column_names:
        dataset = dataset.remove_columns(name)
    return dataset.add_column(name, values, feature=feature)
