"""Training data: one local folder, Hub id or weighted mixture (`load_training_data`, `load_sft_dataset`) with clear
errors naming the expected columns, and GRPO prompts in the same prompt style as generation (`build_grpo_prompts`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, concatenate_datasets, get_dataset_config_names

from openr1_data.funnel import PipelineRecord, split_by_reason
from openr1_data.io import read_dataset
from openr1_data.prompts import get_style
from openr1_data.publish.mixture import MixtureEntry, parse_mixture, sample_entry
from openr1_data.publish.preference import PAIR_RULE, PREFERENCE_CONFIG, TRL_COLUMNS
from openr1_data.schema import (
    ANSWER,
    CODE,
    CORRECT,
    PROBLEM,
    PROBLEM_ID,
    TRACE_COLUMNS,
    VERIFY_ERROR,
    ContractError,
    iter_batches,
    iter_rows,
    require_columns,
)
from openr1_data.sources.domains import apply_problem_layout, row_domain
from openr1_data.sources.problems import normalize_problems
from openr1_data.text import THINK_OPEN
from openr1_data.train.chat_template import generation_prefill
from openr1_data.train.configs import DataArguments

logger = logging.getLogger(__name__)

MESSAGES = "messages"

# ----------------------------------------------------------------------------------------------- datasets


# The configs of a published dataset folder each script reads by default, in order. `all_traces` is never one:
# it holds every generated trace, before any filter.
SFT_CONFIGS = ("messages", "sft", "default")
GRPO_CONFIGS = ("problems", "sft", "default")
DPO_CONFIGS = (PREFERENCE_CONFIG, "default")


def read_training_source(
    source: str, config: str | None, split: str, preferred_configs: Sequence[str] = ()
) -> Dataset:
    """Read one split of a local folder / file / Hub id, picking a preferred config of a multi-config folder."""
    return read_dataset(source, config=choose_config(source, config, preferred_configs), split=split)


def choose_config(source: str, config: str | None, preferred_configs: Sequence[str] = ()) -> str | None:
    """The config a training script reads from `source`: the one asked for, else the first preferred one a
    multi-config local folder has (None: the folder's default or a single config)."""
    path = Path(source)
    if config is None and path.is_dir() and (path / "README.md").exists():
        try:
            names = get_dataset_config_names(str(path))
        except Exception:  # a folder without configs in its card: let read_dataset decide
            names = []
        if len(names) > 1:
            config = next((c for c in preferred_configs if c in names), None)
            if config is None and "default" not in names:
                raise ContractError(
                    f"{source} has configs {names}; pass --dataset_config with the one to train on"
                )
    return config


def load_training_data(
    data: DataArguments,
    columns: Sequence[str] | None,
    preferred_configs: Sequence[str] = (),
    seed: int = 0,
) -> tuple[Dataset, Dataset | None]:
    """Load the train (and optional eval) rows a `DataArguments` describes; `columns` are kept when given.

    `seed` (the training seed unless the mixture sets its own) drives mixture sampling and the eval split.
    """
    test_size = data.test_split_size
    if data.dataset_mixture:
        entries, mix_seed, mix_test = parse_mixture(data.dataset_mixture)
        seed = seed if mix_seed is None else mix_seed
        test_size = test_size if mix_test is None else mix_test
    elif data.dataset_name:
        entries = [MixtureEntry(data.dataset_name, data.dataset_config, data.dataset_split, None, 1.0)]
    else:
        raise ValueError(
            "no training data: pass --dataset_name (folder, file or Hub id) or --dataset_mixture"
        )
    parts = []
    for entry in entries:
        ds = read_training_source(entry.id, entry.config, entry.split, preferred_configs)
        keep = entry.columns or columns
        if keep:
            missing = [c for c in keep if c not in ds.column_names]
            if not missing:
                ds = ds.select_columns(list(keep))
        parts.append(sample_entry(ds, entry, seed, repeat=True))
    if len(parts) > 1:
        first = parts[0].column_names
        for entry, part in zip(entries, parts, strict=True):
            if sorted(part.column_names) != sorted(first):
                raise ContractError(
                    f"dataset_mixture: {entry.id} has columns {part.column_names} but {entries[0].id} has "
                    f"{first}; give every entry the same `columns`"
                )
        parts = [p.cast(parts[0].features) for p in parts]
        dataset = concatenate_datasets(parts).shuffle(seed=seed)
    else:
        dataset = parts[0]
    if data.max_samples is not None:
        dataset = dataset.select(range(min(data.max_samples, len(dataset))))
    if test_size:
        split = dataset.train_test_split(test_size=test_size, seed=seed)
        return split["train"], split["test"]
    return dataset, None


def check_messages(dataset: Dataset, *, what: str = "SFT data") -> None:
    """Every row has a list of {role, content} messages with a non-empty assistant turn; else name the row."""
    require_columns(
        dataset.column_names,
        [MESSAGES],
        what=what,
        fix="SFT needs a `messages` column (a list of {role, content} chat messages, the last from the "
        "assistant). Publishing writes it (`python pipelines/quickstart.py`, `openr1-data publish`); for your own "
        "data, map problem/answer columns to messages first.",
    )
    index = 0
    for batch in iter_batches(dataset.select_columns([MESSAGES]), batch_size=1000):
        for messages in batch[MESSAGES]:
            problem = _messages_problem(messages)
            if problem:
                raise ContractError(f"{what}: row {index}, column `messages`: {problem}")
            index += 1


def _messages_problem(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return f"expected a non-empty list of {{role, content}} messages, got {type(messages).__name__}"
    for m in messages:
        if (
            not isinstance(m, dict)
            or not isinstance(m.get("role"), str)
            or not isinstance(m.get("content"), str)
        ):
            return f"every message needs string `role` and `content`, got {m!r:.120}"
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        return "no non-empty assistant message to learn from"
    return None


def trained_config(data: Any, preferred_configs: Sequence[str]) -> str | None:
    """The config a script trained on (for its model card): asked for, or chosen from `preferred_configs`."""
    if getattr(data, "dataset_mixture", None) or not getattr(data, "dataset_name", None):
        return None
    return choose_config(data.dataset_name, data.dataset_config, preferred_configs)


def load_sft_dataset(data: DataArguments, seed: int = 0) -> tuple[Dataset, Dataset | None]:
    """Train/eval rows with a checked `messages` column (other columns dropped so TRL sees a chat dataset)."""
    train, test = load_training_data(data, [MESSAGES], SFT_CONFIGS, seed)
    check_messages(train)
    train = train.select_columns([MESSAGES])
    return train, (test.select_columns([MESSAGES]) if test is not None else None)


@dataclass
class PreferenceData:
    """DPO rows (`prompt`, `chosen`, `rejected` only) and the pair rules that made them (for the model card)."""

    train: Dataset
    eval: Dataset | None
    pair_rules: list[str]


def load_preference_dataset(data: DataArguments, seed: int = 0) -> PreferenceData:
    """Train/eval preference pairs: a published folder's `preference` config (or any TRL preference dataset).

    The pair rules come from the `pair_rule` column a published `preference` config carries (empty for data
    published elsewhere); TRL then sees only its three columns.
    """
    train, test = load_training_data(data, [*TRL_COLUMNS, PAIR_RULE], DPO_CONFIGS, seed)
    require_columns(
        train.column_names,
        TRL_COLUMNS,
        what="DPO data",
        fix="DPO needs preference pairs: publish them with `openr1-data publish --preference_pairs "
        "correct_vs_incorrect` (or short_vs_long) and train on the `preference` config.",
    )
    rules = sorted({r for r in train[PAIR_RULE] if r}) if PAIR_RULE in train.column_names else []
    columns: list[str] = list(TRL_COLUMNS)
    return PreferenceData(
        train.select_columns(columns), test.select_columns(columns) if test is not None else None, rules
    )


TEACHER_TRACE_COLUMNS = frozenset(
    {*TRACE_COLUMNS, "messages", "num_tokens", CORRECT, VERIFY_ERROR, "generations", "correctness"}
    | {"finish_reasons", "predicted_answers", "prompt_styles", "trace_ids", "kept"}
)


def build_grpo_prompts(
    dataset: Dataset,
    *,
    prompt_style: str = "r1",
    tokenizer: Any = None,
    problem_column: str = PROBLEM,
    answer_column: str | None = None,
    solution_column: str | None = None,
    record: PipelineRecord | None = None,
) -> Dataset:
    """Problems with gold answers → GRPO rows: a `prompt` in the generation style, extra columns kept for rewards.

    A style with an assistant prefill (RLT) gives text prompts rendered with the tokenizer's chat template (TRL
    always appends a fresh generation prompt to chat prompts); other styles give chat prompts. Rows without a gold
    answer, rows the style cannot render and repeated problems are rejected with a reason into `record` (its funnel
    and its side outputs).
    """
    style = get_style(prompt_style)
    # Code and multiple-choice layouts (HumanEval, stdin/stdout tests, GPQA, MMLU) are mapped as problem loading
    # maps them, so a raw HumanEval file trains with the `code` reward; the rows they reject are counted below.
    dataset, issues, layout = apply_problem_layout(
        dataset,
        "auto",
        problem_column=problem_column,
        solution_column=solution_column,
        answer_column=answer_column,
    )
    if layout != "math":
        problem_column, solution_column, answer_column = PROBLEM, None, None
    require_columns(
        dataset.column_names,
        [problem_column],
        what="GRPO data",
        fix="GRPO needs a `problem` column and a gold `answer` (or a `solution` ending in \\boxed{}). Pass "
        "--problem_column / --answer_column to map yours, or use a problem set such as the quickstart output.",
    )
    if (answer_column or ANSWER) not in dataset.column_names and (solution_column or "solution") not in (
        dataset.column_names
    ):
        raise ContractError(
            f"GRPO data: no gold answer: expected an `{answer_column or ANSWER}` column or a `solution` column "
            f"ending in \\boxed{{}}; the dataset has {dataset.column_names}. Pass --answer_column to map yours."
        )
    # Columns describing a teacher's trace (from a generation output or a published export) would mislead the
    # rewards, which judge the policy's own completion: keep the problem columns and the user's extra columns.
    trace_columns = [c for c in dataset.column_names if c in TEACHER_TRACE_COLUMNS]
    if trace_columns:
        dataset = dataset.remove_columns(trace_columns)
    loaded = normalize_problems(
        dataset,
        problem_column=problem_column,
        solution_column=solution_column,
        answer_column=answer_column,
        issues=issues,
    )
    rows = loaded.kept
    seen: set[str] = set()
    reasons: list[str | None] = []
    for row in iter_rows(rows):
        reason = style.row_problem(row)
        has_gold = isinstance(row[ANSWER], str) and row[ANSWER].strip()
        if reason is None and not has_gold and row_domain(row) != CODE:  # code rows are judged by their tests
            reason = "no_gold_answer"
        if reason is None and row[PROBLEM_ID] in seen:
            reason = "duplicate_problem"
        if reason is None:
            seen.add(row[PROBLEM_ID])
        reasons.append(reason)
    result = split_by_reason(rows, reasons, stage="grpo_prompts")
    if record is not None:
        record.record(loaded)
        record.record(result)
    if len(result.kept) == 0:
        raise ContractError(
            f"GRPO data: no usable rows ({result.stats.rejected} rejected): every row needs a non-empty problem "
            f"and gold answer{' and a solution (rlt style)' if 'solution' in style.needs else ''}"
        )
    if style.assistant_prefill and tokenizer is None:
        raise ValueError(f"prompt style {prompt_style!r} pre-fills the assistant turn: pass the tokenizer")

    def to_prompt(row: dict) -> dict:
        messages = style.build(row)
        # `prompt_style` tells the rewards which parser reads the completions (think vs RLT explanation).
        if style.assistant_prefill:
            text = tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True)
            return {"prompt": text, "prompt_style": style.name}
        return {"prompt": messages, "prompt_style": style.name}

    return result.kept.map(to_prompt, desc="rendering GRPO prompts")


def warn_think_prefill(tokenizer: Any, reward_names: Iterable[str]) -> None:
    """Warn when the template pre-fills `<think>` while a format reward scores it (open-r1 #560)."""
    prefill = generation_prefill(tokenizer)
    format_rewards = {"format", "tag_count"} & set(reward_names)
    if THINK_OPEN in prefill and format_rewards:
        logger.warning(
            "the chat template pre-fills %r after the generation prompt, so completions never contain <think> and "
            "the %s reward(s) score 0: pass `--chat_template chatml` (no prefill).",
            prefill,
            sorted(format_rewards),
        )
