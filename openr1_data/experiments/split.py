"""Train / held-out split, decontaminated across: no training problem shares a word n-gram with a held-out one.

Exact and near duplicates are removed from all problems before the split (so no duplicate pair can straddle it),
and the training side is then decontaminated against the held-out side with the project's n-gram decontamination,
the held-out problems playing the benchmark.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset

from openr1_data.dedup.decontaminate import DecontaminationConfig, decontaminate
from openr1_data.funnel import StageResult
from openr1_data.schema import ANSWER, PROBLEM, PROBLEM_ID, iter_rows
from openr1_data.sources.eval_benchmarks import load_benchmark

HELDOUT = "heldout"  # the held-out split's benchmark name in reports


@dataclass
class Split:
    """The two sides, the held-out file the evaluation reads, and what decontamination removed."""

    train: Dataset
    heldout_file: Path
    heldout_size: int
    train_flagged: int  # training problems removed for sharing an n-gram with a held-out one
    decontamination: StageResult


def write_heldout(heldout: Dataset, path: Path) -> Path:
    """The held-out problems as the JSON lines benchmark file the evaluation loads (`heldout=path`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"id": row[PROBLEM_ID], PROBLEM: row[PROBLEM], ANSWER: row[ANSWER]})
        for row in iter_rows(heldout.select_columns([PROBLEM_ID, PROBLEM, ANSWER]))
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def split_problems(
    problems: Dataset, folder: Path, eval_size: int, seed: int, train_size: int | None, ngram_size: int
) -> Split:
    """Shuffle with `seed`, hold out `eval_size` problems, decontaminate the rest against them."""
    if len(problems) <= eval_size:
        raise ValueError(
            f"--eval_size {eval_size} leaves no training problem out of {len(problems)}: load more problems "
            "(--limit) or hold out fewer"
        )
    order = list(range(len(problems)))
    random.Random(seed).shuffle(order)
    heldout = problems.select(order[:eval_size])
    train = problems.select(order[eval_size:])
    path = write_heldout(heldout, folder / "heldout.jsonl")
    result = decontaminate(
        train,
        DecontaminationConfig(ngram_size=ngram_size, decontam_columns=[PROBLEM]),
        benchmarks=[load_benchmark(f"{HELDOUT}={path}")],
    )
    kept = result.kept
    if train_size is not None:
        kept = kept.select(range(min(train_size, len(kept))))
    return Split(kept, path, len(heldout), len(result.rejected), result)
