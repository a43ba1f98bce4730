"""TRL configs of the training scripts: `SFTConfig` / `GRPOConfig` / `DPOConfig` (TRL's plus a `chat_template` option, falling
back from bf16 to fp32 on a machine without a bf16-capable accelerator) and the scripts' data arguments.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import trl

from openr1_data.schema import PROBLEM
from openr1_data.train.chat_template import CHAT_TEMPLATES

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------- configs


def bf16_available() -> bool:
    """True when a bf16-capable accelerator (CUDA Ampere+, XPU, NPU, ...) is present."""
    from transformers.utils import is_torch_bf16_gpu_available, is_torch_xla_available

    return bool(is_torch_bf16_gpu_available() or is_torch_xla_available())


def _bf16_fallback(config: Any) -> None:
    """Turn bf16 off on machines that cannot run it, before TrainingArguments validates (and raises)."""
    if config.use_cpu or config.fp16 or config.bf16 is False or bf16_available():
        return
    if config.bf16 is True:  # asked for explicitly (recipe or flag): say what happens and how to silence it
        logger.warning(
            "bf16 was requested but this machine has no bf16-capable accelerator: training in fp32 instead. "
            "Set `--bf16 false` to silence this, or `--use_cpu true` to run bf16 autocast on the CPU."
        )
    config.bf16 = False


def _chat_template_field() -> Any:
    return field(
        default=None,
        metadata={
            "help": "Chat template to set on the tokenizer: a built-in name "
            f"({', '.join(sorted(CHAT_TEMPLATES))}: ChatML with generation markers, no <think> prefill), "
            "a .jinja/.j2 file, or the template text. Default: the model's own template."
        },
    )


def _num_threads_field() -> Any:
    return field(
        default=None,
        metadata={
            "help": "torch threads when training on CPU; default: the cores that are free now (on a busy machine "
            "more threads than free cores make every step several times slower)"
        },
    )


@dataclass
class SFTConfig(trl.SFTConfig):
    """TRL's `SFTConfig` plus a chat-template option and the bf16 → fp32 fallback on CPU-only machines."""

    chat_template: str | None = _chat_template_field()
    num_threads: int | None = _num_threads_field()

    def __post_init__(self) -> None:
        _bf16_fallback(self)
        super().__post_init__()


@dataclass
class GRPOConfig(trl.GRPOConfig):
    """TRL's `GRPOConfig` plus a chat-template option and the bf16 → fp32 fallback on CPU-only machines."""

    chat_template: str | None = _chat_template_field()
    num_threads: int | None = _num_threads_field()

    def __post_init__(self) -> None:
        _bf16_fallback(self)
        super().__post_init__()


@dataclass
class DPOConfig(trl.DPOConfig):
    """TRL's `DPOConfig` plus a chat-template option and the bf16 → fp32 fallback on CPU-only machines."""

    chat_template: str | None = _chat_template_field()
    num_threads: int | None = _num_threads_field()

    def __post_init__(self) -> None:
        _bf16_fallback(self)
        super().__post_init__()


@dataclass
class DataArguments:
    """Where the training data comes from (one dataset or a weighted mixture)."""

    dataset_name: str | None = field(
        default=None,
        metadata={"help": "a local folder written by publishing, a data file, or a Hub dataset id"},
    )
    dataset_config: str | None = field(
        default=None,
        metadata={
            "help": "dataset config (default: the task's preferred config when the dataset has several)"
        },
    )
    dataset_split: str = field(default="train", metadata={"help": "split to train on"})
    dataset_mixture: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "weighted mixture, as in open-r1: {datasets: [{id, config, split, columns, weight}], seed, "
            "test_split_size}; a weight is the share of that dataset to use (above 1 repeats it), or a `quota` "
            "its number of rows"
        },
    )
    max_samples: int | None = field(default=None, metadata={"help": "train on at most this many rows"})
    test_split_size: float | None = field(
        default=None, metadata={"help": "hold out this share of the rows as an eval split"}
    )
    model_card_template: str | None = field(
        default=None,
        metadata={
            "help": "a model card template (.md.j2) instead of the packaged one; its context: cards/README.md"
        },
    )


@dataclass
class GRPOScriptArguments(DataArguments):
    """GRPO data and rewards: problems with gold answers, prompted in a generation style, scored by name."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy", "format", "tag_count"],
        metadata={
            "help": "reward functions: registry names (rlt included), open-r1 aliases or a dotted path to your own; weights: --reward_weights"
        },
    )
    reward_params: dict[str, Any] | str | None = field(
        default=None,
        metadata={
            "help": "keyword parameters of the reward factories, e.g. {cosine_max_len: 1000} (JSON/YAML)"
        },
    )
    prompt_style: str = field(
        default="r1",
        metadata={
            "help": "prompt style of the GRPO prompts: the one generation used (r1, r1_system, rlt, ...)"
        },
    )
    problem_column: str = field(default=PROBLEM, metadata={"help": "column holding the problem text"})
    answer_column: str | None = field(
        default=None, metadata={"help": "column holding the gold answer (default: `answer`)"}
    )
    solution_column: str | None = field(
        default=None, metadata={"help": "column holding the reference solution (default: `solution`)"}
    )
