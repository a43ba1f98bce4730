"""Scoring traces with a trained process reward model (PRM), and best-of-N selection by PRM score.

A PRM (`train/prm.py`) is a causal LM with a token-classification head: the input is the problem, then each step
followed by the step separator, and the head's output at the last token of a step is that step's verdict
(label 1 = correct). `prm_inputs` builds that input; training and scoring both call it, so they cannot disagree.

`PRMScorer(model)` loads the model on first use (lazily: a selection or a reward that is never called loads
nothing) and returns per-step probabilities of "correct"; `aggregate` turns them into one trace score, the
minimum (the weakest step, "Let's Verify Step by Step") or the product over steps.

`select_by_prm(traces, PRMSelectConfig(prm_model=...))` keeps the best `per_problem` traces of each problem by
that score (best-of-N); every row gets `prm_score` and `prm_step_scores`, the others are rejected as
`not_best_by_prm`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
from datasets import Dataset, List, Value

from openr1_data.config import check_fields
from openr1_data.curate.steps import STEPS, row_steps
from openr1_data.funnel import StageResult, split_by_reason
from openr1_data.schema import PROBLEM, PROBLEM_ID, iter_rows, require_columns

DEFAULT_STEP_SEPARATOR = "\n"
AGGREGATES = ("min", "prod")
CORRECT_LABEL, WRONG_LABEL = 1, 0
PRM_SCORE, PRM_STEP_SCORES = "prm_score", "prm_step_scores"
# Stored in the trained model's config so scoring uses the separator and length the PRM was trained with.
SEPARATOR_KEY, MAX_LENGTH_KEY = "prm_step_separator", "prm_max_length"


def prm_inputs(
    tokenizer: Any,
    prompt: str,
    steps: Sequence[str],
    separator: str = DEFAULT_STEP_SEPARATOR,
    max_length: int = 1024,
) -> tuple[list[int], list[int]]:
    """(input ids, the position of each step's last token) of `prompt` + separator + each step + separator.

    The separator ends every step, so a step's verdict is read at the separator's last token. Steps that do not
    fit in `max_length` are left out (fewer positions than steps); a prompt longer than half of it is cut to half.
    """
    sep = tokenizer(separator, add_special_tokens=False)["input_ids"]
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"][: max_length // 2] + sep
    bos = [tokenizer.bos_token_id] if getattr(tokenizer, "bos_token_id", None) is not None else []
    ids = bos + prompt_ids
    positions: list[int] = []
    for step in steps:
        step_ids = tokenizer(step, add_special_tokens=False)["input_ids"] + sep
        if len(ids) + len(step_ids) > max_length:
            break
        ids += step_ids
        positions.append(len(ids) - 1)
    return ids, positions


def aggregate(scores: Sequence[float] | None, how: str = "min") -> float | None:
    """One score for a trace from its step scores: the minimum or the product; None without steps."""
    if how not in AGGREGATES:
        raise ValueError(f"PRM aggregate must be one of {list(AGGREGATES)}, got {how!r}")
    if not scores:
        return None
    return min(scores) if how == "min" else math.prod(scores)


class PRMScorer:
    """A trained PRM, loaded on the first `score` call. Returns P(correct) per step."""

    def __init__(
        self,
        model: str,
        *,
        device: str = "cpu",
        batch_size: int = 8,
        step_separator: str | None = None,
        max_length: int | None = None,
    ):
        self.model_path = model
        self.device = device
        self.batch_size = batch_size
        self.step_separator = step_separator
        self.max_length = max_length
        self._model: Any = None
        self._tokenizer: Any = None

    def __getstate__(self) -> dict:  # the weights are loaded again where a copy runs (a GRPO worker)
        return {**self.__dict__, "_model": None, "_tokenizer": None}

    def load(self) -> None:
        if self._model is not None:
            return
        from pathlib import Path

        import torch  # noqa: F401  (loaded only when a PRM is really used)
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        if not Path(self.model_path).exists() and "/" not in self.model_path:
            raise FileNotFoundError(
                f"PRM {self.model_path!r} not found: pass the folder train/prm.py wrote (--output_dir) or a Hub id"
            )
        self._tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self._model = AutoModelForTokenClassification.from_pretrained(self.model_path).to(self.device).eval()
        config = self._model.config
        if getattr(config, "num_labels", 2) != 2:
            raise ValueError(
                f"PRM {self.model_path}: expected a 2-label token classifier, got {config.num_labels}"
            )
        self.step_separator = self.step_separator or getattr(config, SEPARATOR_KEY, DEFAULT_STEP_SEPARATOR)
        self.max_length = self.max_length or getattr(config, MAX_LENGTH_KEY, 1024)

    def score(self, prompts: Sequence[str], steps: Sequence[Sequence[str]]) -> list[list[float]]:
        """P(correct) of every step of every trace (steps beyond the PRM's length get no score)."""
        import torch

        self.load()
        tok, model = self._tokenizer, self._model
        pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        encoded = [
            prm_inputs(tok, p, s, self.step_separator or DEFAULT_STEP_SEPARATOR, self.max_length or 1024)
            for p, s in zip(prompts, steps, strict=True)
        ]
        out: list[list[float]] = []
        for start in range(0, len(encoded), self.batch_size):
            batch = encoded[start : start + self.batch_size]
            width = max(len(ids) for ids, _ in batch)
            input_ids = torch.tensor(
                [ids + [pad] * (width - len(ids)) for ids, _ in batch], device=self.device
            )
            mask = torch.tensor(
                [[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch], device=self.device
            )
            with torch.no_grad():
                probs = (
                    model(input_ids=input_ids, attention_mask=mask)
                    .logits.float()
                    .softmax(-1)[..., CORRECT_LABEL]
                )
            out += [[float(probs[b, p]) for p in positions] for b, (_, positions) in enumerate(batch)]
        return out


@dataclass
class PRMSelectConfig:
    """Best-of-N selection by a PRM's score."""

    prm_model: str | None = field(
        default=None,
        metadata={"help": "the trained PRM (folder written by train/prm.py, or a Hub id); required"},
    )
    prm_aggregate: str = field(
        default="min", metadata={"help": "trace score from its step scores: min (weakest step) or prod"}
    )
    per_problem: int = field(default=1, metadata={"help": "keep this many traces per problem (the N best)"})
    group_column: str = field(
        default=PROBLEM_ID, metadata={"help": "column identifying the problem (falls back to 'problem')"}
    )
    prm_device: str = field(default="cpu", metadata={"help": "device of the PRM"})
    prm_batch_size: int = field(default=8, metadata={"help": "traces per PRM forward pass"})
    default_style: str = field(
        default="r1", metadata={"help": "prompt style of rows without a prompt_style column"}
    )

    def __post_init__(self) -> None:
        check_fields(
            self, at_least={"per_problem": 1, "prm_batch_size": 1}, choices={"prm_aggregate": AGGREGATES}
        )
        if not self.prm_model:
            raise ValueError("--prm_model is required: the folder train/prm.py wrote (its --output_dir)")
        looks_local = self.prm_model.startswith((".", "/", "~")) or self.prm_model.count("/") != 1
        if looks_local and not Path(self.prm_model).expanduser().is_dir():
            raise FileNotFoundError(
                f"--prm_model {self.prm_model}: no such folder (and not a Hub id namespace/name); pass the folder "
                "train/prm.py wrote (its --output_dir)"
            )

    def scorer(self) -> PRMScorer:
        return PRMScorer(self.prm_model or "", device=self.prm_device, batch_size=self.prm_batch_size)


def trace_step_texts(dataset: Dataset, default_style: str = "r1") -> list[list[str]]:
    """The steps of every trace: the `steps` column when a labeler wrote it, else segmented here."""
    if STEPS in dataset.column_names:
        return [list(s or []) for s in dataset[STEPS]]
    return [row_steps(r, default_style).texts() for r in iter_rows(dataset)]


def select_by_prm(
    dataset: Dataset, config: PRMSelectConfig, *, scorer: PRMScorer | None = None, stage: str = "prm_select"
) -> StageResult:
    """Keep the `per_problem` traces of each problem with the best PRM score; the others are rejected as
    `not_best_by_prm` (a trace without steps has no score and ranks last)."""
    group = config.group_column if config.group_column in dataset.column_names else PROBLEM
    require_columns(
        dataset.column_names,
        [PROBLEM, group] + ([] if STEPS in dataset.column_names else ["completion"]),
        what=f"selection stage '{stage}'",
        fix="Select among traces written by generation (problem, completion) or labelled ones (steps).",
    )
    steps = trace_step_texts(dataset, config.default_style)
    scorer = scorer or config.scorer()
    step_scores = scorer.score(dataset[PROBLEM], steps)
    scores = [aggregate(s, config.prm_aggregate) for s in step_scores]
    groups = dataset[group]
    ranked: dict[Any, list[int]] = {}
    for i, g in enumerate(groups):
        ranked.setdefault(g, []).append(i)
    reasons: list[str | None] = [None] * len(dataset)
    for rows in ranked.values():
        rows.sort(key=lambda i: (scores[i] is None, -(scores[i] or 0.0), i))
        for i in rows[config.per_problem :]:
            reasons[i] = "not_best_by_prm"
    out = dataset.remove_columns([c for c in (PRM_SCORE, PRM_STEP_SCORES) if c in dataset.column_names])
    out = out.add_column(PRM_SCORE, pa.array(scores, pa.float64()), feature=Value("float64"))
    out = out.add_column(
        PRM_STEP_SCORES, pa.array(step_scores, pa.list_(pa.float64())), feature=List(Value("float64"))
    )
    return split_by_reason(out, reasons, stage)
