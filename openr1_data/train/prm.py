"""Training a process reward model (PRM) on the `prm` config (TRL's stepwise supervision: prompt, completions = the
steps, labels = one bool per step), on `transformers.Trainer` (TRL 1.16 no longer ships a PRM trainer).

The model is a causal LM with a token-classification head (`AutoModelForTokenClassification`, 2 labels: 0 = wrong,
1 = correct). A row becomes `prompt` + separator + each step + separator (`curate/prm_scoring.prm_inputs`, the
function scoring uses too); only the last token of each step carries a label, every other token is -100. The
separator and the length are saved in the model's config, so scoring reads the PRM the way it was trained.
Evaluation reports step-level accuracy and F1 (of correct steps, and of wrong steps: finding errors) on a split
held out by problem.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import transformers
from datasets import Dataset, Features, List, Value

from openr1_data.curate.prm_scoring import (
    CORRECT_LABEL,
    DEFAULT_STEP_SEPARATOR,
    MAX_LENGTH_KEY,
    SEPARATOR_KEY,
    WRONG_LABEL,
    prm_inputs,
)
from openr1_data.publish.prm import PRM_CONFIG
from openr1_data.schema import PROBLEM_ID, ContractError, iter_rows, require_columns
from openr1_data.train.configs import _bf16_fallback, _num_threads_field
from openr1_data.train.data import read_training_source

IGNORE_INDEX = -100
PRM_COLUMNS = ("prompt", "completions", "labels")


@dataclass
class PRMConfig(transformers.TrainingArguments):
    """`transformers.TrainingArguments` plus the PRM's input layout and the bf16 → fp32 fallback on CPU."""

    step_separator: str = field(
        default=DEFAULT_STEP_SEPARATOR,
        metadata={"help": "text that ends every step (its last token is scored)"},
    )
    max_length: int = field(
        default=1024, metadata={"help": "tokens per row; steps beyond it are dropped (prompt at most half)"}
    )
    num_threads: int | None = _num_threads_field()

    def __post_init__(self) -> None:
        if self.max_length < 8:
            raise ValueError(f"--max_length must be at least 8 tokens, got {self.max_length}")
        _bf16_fallback(self)
        super().__post_init__()


@dataclass
class PRMDataArguments:
    """The step-labelled data: a folder publishing wrote (its `prm` config), a file, or a Hub id."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "a local folder written by publishing, a data file, or a Hub dataset id"},
    )
    dataset_config: str | None = field(
        default=PRM_CONFIG,
        metadata={"help": "dataset config (publishing writes `prm`); None for a plain file"},
    )
    dataset_split: str = field(default="train", metadata={"help": "split to train on"})
    eval_split: str | None = field(
        default="test",
        metadata={"help": "split to evaluate on when the dataset has it (publish --test_size)"},
    )
    test_split_size: float = field(
        default=0.2,
        metadata={"help": "without an eval split: hold out this share of the problems (0: no evaluation)"},
    )
    max_samples: int | None = field(default=None, metadata={"help": "train on at most this many rows"})
    model_card_template: str | None = field(
        default=None,
        metadata={
            "help": "a model card template (.md.j2) instead of the packaged one; its context: cards/README.md"
        },
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.test_split_size < 1.0:
            raise ValueError(f"--test_split_size must be in [0, 1), got {self.test_split_size}")


def check_prm_rows(dataset: Dataset, what: str = "PRM data") -> None:
    """Every row has a prompt, as many labels (bools) as steps, and at least one step; errors name the row."""
    require_columns(
        dataset.column_names,
        PRM_COLUMNS,
        what=what,
        fix="Use the `prm` config publishing writes (TRL stepwise supervision: prompt, completions, labels).",
    )
    for i, row in enumerate(iter_rows(dataset.select_columns(list(PRM_COLUMNS)))):
        steps, labels = row["completions"], row["labels"]
        if not isinstance(row["prompt"], str) or not steps or labels is None or len(steps) != len(labels):
            raise ContractError(
                f"{what}: row {i} needs a prompt and as many `labels` as `completions` (steps), got "
                f"{0 if not steps else len(steps)} steps and {0 if labels is None else len(labels)} labels"
            )
        if any(not isinstance(label, bool) for label in labels):
            raise ContractError(
                f"{what}: row {i}: `labels` must be booleans (True = correct step), got {labels}"
            )


def _held_out(problem_id: str, share: float) -> bool:
    """A stable split on problems: the same problem always lands on the same side."""
    return int(hashlib.sha256(problem_id.encode()).hexdigest()[:8], 16) / 16**8 < share


def load_prm_data(args: PRMDataArguments) -> tuple[Dataset, Dataset | None]:
    """(train, eval) rows: the eval split when the dataset has one, else `test_split_size` of the problems."""
    if not args.dataset_name:
        raise ValueError("no data: pass --dataset_name (the folder publishing wrote, with its `prm` config)")
    train = read_training_source(args.dataset_name, args.dataset_config, args.dataset_split)
    check_prm_rows(train)
    evaluation = None
    if args.eval_split:
        try:
            evaluation = read_training_source(args.dataset_name, args.dataset_config, args.eval_split)
        except (ValueError, KeyError, FileNotFoundError):
            evaluation = None  # no such split: hold out problems below
    if evaluation is None and args.test_split_size > 0:
        keys = train[PROBLEM_ID] if PROBLEM_ID in train.column_names else train["prompt"]
        held = [_held_out(str(k), args.test_split_size) for k in keys]
        evaluation = train.select([i for i, h in enumerate(held) if h])
        train = train.select([i for i, h in enumerate(held) if not h])
        if len(train) == 0 or len(evaluation) == 0:
            raise ContractError(
                f"PRM data: holding out {args.test_split_size:.0%} of the problems left "
                f"{len(train)} train / {len(evaluation)} eval rows; label more traces or set --test_split_size 0"
            )
    if evaluation is not None:
        check_prm_rows(evaluation, "PRM eval data")
    if args.max_samples is not None:
        train = train.select(range(min(args.max_samples, len(train))))
    return train, evaluation


def tokenize_prm(dataset: Dataset, tokenizer: Any, separator: str, max_length: int) -> Dataset:
    """`input_ids` and per-token `labels` (1 correct / 0 wrong at each step's last token, -100 elsewhere)."""

    def encode(row: dict) -> dict:
        ids, positions = prm_inputs(tokenizer, row["prompt"], row["completions"], separator, max_length)
        labels = [IGNORE_INDEX] * len(ids)
        for position, label in zip(positions, row["labels"], strict=False):
            labels[position] = CORRECT_LABEL if label else WRONG_LABEL
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

    features = Features(
        {
            "input_ids": List(Value("int32")),
            "attention_mask": List(Value("int8")),
            "labels": List(Value("int64")),
        }
    )  # explicit: `labels` would otherwise keep the bool type of the input column of the same name
    return dataset.map(encode, remove_columns=dataset.column_names, features=features, desc="tokenize steps")


def step_metrics(eval_pred: Any) -> dict[str, float]:
    """Step-level accuracy, F1 of correct steps and F1 of wrong steps, over the labelled positions only."""
    predictions, labels = eval_pred
    predictions, labels = np.asarray(predictions).reshape(-1), np.asarray(labels).reshape(-1)
    mask = labels != IGNORE_INDEX
    predictions, labels = predictions[mask], labels[mask]

    def f1(positive: int) -> float:
        tp = int(((predictions == positive) & (labels == positive)).sum())
        fp = int(((predictions == positive) & (labels != positive)).sum())
        fn = int(((predictions != positive) & (labels == positive)).sum())
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0

    return {
        "step_accuracy": float((predictions == labels).mean()) if len(labels) else 0.0,
        "step_f1": f1(CORRECT_LABEL),
        "error_f1": f1(WRONG_LABEL),
        "steps": float(len(labels)),
    }


def _argmax(logits: Any, labels: Any) -> Any:
    return logits.argmax(-1)  # keep only the predicted label per token, not the logits, across eval batches


def load_prm_model(model_path: str, tokenizer: Any, config: PRMConfig, **init: Any) -> Any:
    """A causal LM checkpoint with a fresh 2-label token-classification head; the input layout is saved in its
    config for scoring."""
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(
        model_path,
        num_labels=2,
        id2label={WRONG_LABEL: "wrong", CORRECT_LABEL: "correct"},
        label2id={"wrong": WRONG_LABEL, "correct": CORRECT_LABEL},
        **{k: v for k, v in init.items() if v is not None},
    )
    model.config.pad_token_id = tokenizer.pad_token_id
    setattr(model.config, SEPARATOR_KEY, config.step_separator)
    setattr(model.config, MAX_LENGTH_KEY, config.max_length)
    return model


def build_prm_trainer(
    model: Any, tokenizer: Any, config: PRMConfig, train: Dataset, evaluation: Dataset | None
) -> transformers.Trainer:
    """A `transformers.Trainer` over the tokenized steps, padding labels with -100, reporting step metrics."""
    from transformers import DataCollatorForTokenClassification

    train_tokens = tokenize_prm(train, tokenizer, config.step_separator, config.max_length)
    eval_tokens = (
        tokenize_prm(evaluation, tokenizer, config.step_separator, config.max_length) if evaluation else None
    )
    return transformers.Trainer(
        model=model,
        args=config,
        train_dataset=train_tokens,
        eval_dataset=eval_tokens,
        processing_class=tokenizer,
        data_collator=DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE_INDEX),
        compute_metrics=step_metrics,
        preprocess_logits_for_metrics=_argmax,
    )
