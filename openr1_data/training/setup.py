"""Shared pieces of `train/sft.py` and `train/grpo.py`: configs, chat template / EOS handling, dataset loading.

The scripts in train/ stay thin (parse, load, build trainer, train, save, push); everything a test or another
script needs to call lives here:

- `SFTConfig` / `GRPOConfig`: TRL's configs plus a `chat_template` option, falling back from bf16 to fp32 on a
  machine without a bf16-capable accelerator (instead of TRL's bare "Your setup doesn't support bf16/gpu").
- `prepare_tokenizer`: sets the chat template, checks that it keeps `<think>` blocks and has `{% generation %}`
  markers when the loss is masked to the assistant, and makes the EOS token the template's end-of-turn token so
  a base model learns to stop (open-r1 #603).
- `load_training_data` / `load_sft_dataset`: one local folder, Hub id or weighted mixture; clear errors naming the
  expected columns. `build_grpo_prompts`: GRPO prompts in the same prompt style as generation.
- `build_reward_funcs`: rewards by name from the shared registry (`openr1_data.training.rewards`) plus `rlt`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trl
import yaml
from datasets import Dataset, concatenate_datasets, get_dataset_config_names

from openr1_data.funnel import PipelineRecord, split_by_reason
from openr1_data.io import read_dataset
from openr1_data.prompts import get_style
from openr1_data.schema import ANSWER, PROBLEM, PROBLEM_ID, TRACE_COLUMNS, ContractError, require_columns
from openr1_data.sources.problems import normalize_problems

logger = logging.getLogger(__name__)

MESSAGES = "messages"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

# ChatML with `{% generation %}` markers around the assistant turn (end-of-turn token included, so the model is
# trained to stop), no default system prompt, nothing pre-filled after the generation prompt (so format rewards see
# the `<think>` the model writes, open-r1 #560), and assistant content rendered verbatim (think blocks kept).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\\n' }}{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}"
    "{{ '\\n' }}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

CHAT_TEMPLATES: dict[str, str] = {"chatml": CHATML_TEMPLATE}


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


@dataclass
class SFTConfig(trl.SFTConfig):
    """TRL's `SFTConfig` plus a chat-template option and the bf16 → fp32 fallback on CPU-only machines."""

    chat_template: str | None = _chat_template_field()

    def __post_init__(self) -> None:
        _bf16_fallback(self)
        super().__post_init__()


@dataclass
class GRPOConfig(trl.GRPOConfig):
    """TRL's `GRPOConfig` plus a chat-template option and the bf16 → fp32 fallback on CPU-only machines."""

    chat_template: str | None = _chat_template_field()

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
            "test_split_size}; a weight is the share of that dataset to use (above 1 repeats it)"
        },
    )
    max_samples: int | None = field(default=None, metadata={"help": "train on at most this many rows"})
    test_split_size: float | None = field(
        default=None, metadata={"help": "hold out this share of the rows as an eval split"}
    )


# ----------------------------------------------------------------------------------------- chat templates


def resolve_chat_template(value: str) -> str:
    """A built-in template name, a path to a Jinja file, or the template text itself."""
    if value in CHAT_TEMPLATES:
        return CHAT_TEMPLATES[value]
    if value.endswith((".jinja", ".j2", ".jinja2")) or ("{" not in value and Path(value).exists()):
        path = Path(value)
        if not path.is_file():
            raise FileNotFoundError(f"chat template file {value} not found")
        return path.read_text()
    if "{%" in value or "{{" in value:
        return value
    raise ValueError(
        f"unknown chat template {value!r}: use one of {sorted(CHAT_TEMPLATES)}, a .jinja file, or template text"
    )


def has_generation_markers(template: str | None) -> bool:
    """True when the template marks assistant tokens with `{% generation %}` (needed for assistant-only loss)."""
    return bool(template) and re.search(r"\{%-?\s*generation\s*-?%\}", template) is not None


def _render(tokenizer: Any, messages: list[dict[str, str]], **kwargs: Any) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def end_of_turn_token(tokenizer: Any) -> str | None:
    """The special token the chat template writes right after an assistant message, or None."""
    sentinel = "SENTINEL_7f3a"
    text = _render(tokenizer, [{"role": "user", "content": "hi"}, {"role": "assistant", "content": sentinel}])
    rest = text[text.rfind(sentinel) + len(sentinel) :]
    specials = sorted(tokenizer.get_added_vocab(), key=len, reverse=True)
    for token in specials:
        if rest.startswith(token):
            return token
    return None


def generation_prefill(tokenizer: Any) -> str:
    """What the template adds after the assistant header of a generation prompt (e.g. `<think>\\n` in R1 distills)."""
    user = [{"role": "user", "content": "hi"}]
    prompt = _render(tokenizer, user, add_generation_prompt=True)
    reply = _render(tokenizer, [*user, {"role": "assistant", "content": "SENTINEL_7f3a"}])
    header = reply[: reply.find("SENTINEL_7f3a")]
    return prompt[len(header) :] if prompt.startswith(header) else ""


def check_think_kept(tokenizer: Any) -> None:
    """Fail when the template strips `<think>…</think>` from assistant messages (SFT would lose the reasoning)."""
    content = f"{THINK_OPEN}\nstep one\n{THINK_CLOSE}\n\nfinal"
    text = _render(tokenizer, [{"role": "user", "content": "q"}, {"role": "assistant", "content": content}])
    if "step one" not in text or THINK_CLOSE not in text:
        raise ValueError(
            "the chat template removes <think>…</think> from assistant messages, so training would never see the "
            "reasoning. Pass `--chat_template chatml` (or a .jinja template that keeps the content verbatim)."
        )


_TEMPLATE_TOKEN = re.compile(r"<\|[A-Za-z0-9_]+\|>")


def prepare_tokenizer(
    tokenizer: Any,
    *,
    chat_template: str | None = None,
    eos_token: str | None = None,
    assistant_only_loss: bool = False,
    check_think: bool = True,
) -> str | None:
    """Set and check the chat template; return the EOS token the trainer should use (None: keep the tokenizer's).

    The returned token is the template's end-of-turn token when it differs from `tokenizer.eos_token` (a base model
    whose EOS is `<|endoftext|>` trained on ChatML would otherwise never learn to stop, open-r1 #603); an explicit
    `eos_token` wins.
    """
    if chat_template:
        template = resolve_chat_template(chat_template)
        vocab = tokenizer.get_vocab()
        unknown = sorted({t for t in _TEMPLATE_TOKEN.findall(template) if t not in vocab})
        if unknown:
            raise ValueError(
                f"chat template {chat_template!r} uses token(s) {unknown} that this tokenizer does not have; "
                "pick a template written for this model, or add the tokens (and resize the embeddings) first."
            )
        tokenizer.chat_template = template
    if not tokenizer.chat_template:
        raise ValueError(
            "the tokenizer has no chat template (a base model?). Pass `--chat_template chatml` or a .jinja file."
        )
    if assistant_only_loss and not has_generation_markers(tokenizer.chat_template):
        from trl.chat_template_utils import get_training_chat_template

        try:
            get_training_chat_template(tokenizer)  # TRL patches the templates it knows (Qwen, Llama 3, ...)
        except ValueError as err:
            raise ValueError(
                "assistant_only_loss needs a chat template with {% generation %} markers, and TRL cannot patch "
                "this model's template. Pass `--chat_template chatml` (ChatML with markers) or a .jinja file "
                "with markers, or set `--assistant_only_loss false`."
            ) from err
    if check_think:
        check_think_kept(tokenizer)
    if eos_token:
        return eos_token
    turn_end = end_of_turn_token(tokenizer)
    if turn_end and turn_end != tokenizer.eos_token:
        logger.warning(
            "the chat template ends assistant turns with %r but the tokenizer's EOS is %r: using %r as EOS so the "
            "model learns to stop (pass --eos_token to choose another).",
            turn_end,
            tokenizer.eos_token,
            turn_end,
        )
        return turn_end
    return None


def load_tokenizer(
    model_name_or_path: str, revision: str | None = None, trust_remote_code: bool = False
) -> Any:
    """Load a tokenizer; give it a pad token (the EOS) when it has none, as TRL expects."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(
        model_name_or_path, revision=revision, trust_remote_code=trust_remote_code
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


# ----------------------------------------------------------------------------------------------- datasets


@dataclass
class MixtureEntry:
    """One dataset of a mixture."""

    id: str
    config: str | None = None
    split: str = "train"
    columns: list[str] | None = None
    weight: float = 1.0


def parse_mixture(spec: dict[str, Any] | str) -> tuple[list[MixtureEntry], int | None, float | None]:
    """Parse a mixture (a mapping, or its JSON/YAML text) into entries, seed and test split size."""
    if isinstance(spec, str):
        spec = yaml.safe_load(spec) if not spec.lstrip().startswith("{") else json.loads(spec)
    if not isinstance(spec, dict) or not isinstance(spec.get("datasets"), list) or not spec["datasets"]:
        raise ValueError(
            "dataset_mixture must be a mapping with a non-empty `datasets` list, e.g. "
            "{datasets: [{id: outputs/quickstart, weight: 1.0}], seed: 0}"
        )
    unknown = set(spec) - {"datasets", "seed", "test_split_size"}
    if unknown:
        raise ValueError(
            f"dataset_mixture: unknown key(s) {sorted(unknown)}; use datasets, seed, test_split_size"
        )
    entries = []
    for i, item in enumerate(spec["datasets"]):
        if not isinstance(item, dict) or "id" not in item:
            raise ValueError(f"dataset_mixture.datasets[{i}]: expected a mapping with an `id`, got {item!r}")
        bad = set(item) - {"id", "config", "split", "columns", "weight"}
        if bad:
            raise ValueError(
                f"dataset_mixture.datasets[{i}]: unknown key(s) {sorted(bad)}; use id, config, split, columns, weight"
            )
        entry = MixtureEntry(**item)
        if not entry.weight > 0:
            raise ValueError(
                f"dataset_mixture.datasets[{i}] ({entry.id}): weight must be > 0, got {entry.weight}"
            )
        entries.append(entry)
    return entries, spec.get("seed"), spec.get("test_split_size")


def read_training_source(
    source: str, config: str | None, split: str, preferred_configs: Sequence[str] = ()
) -> Dataset:
    """Read one split of a local folder / file / Hub id, picking a preferred config of a multi-config folder."""
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
    return read_dataset(source, config=config, split=split)


def _weighted(dataset: Dataset, weight: float, seed: int) -> Dataset:
    """Take `weight` × len(dataset) rows: a shuffled subset below 1, whole copies plus a subset above 1."""
    whole, frac = int(weight), weight - int(weight)
    parts = [dataset] * whole
    n = round(len(dataset) * frac)
    if whole == 0:
        n = max(1, n)  # a small weight still contributes a row
    if n:
        parts.append(dataset.shuffle(seed=seed).select(range(n)))
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


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
        parts.append(_weighted(ds, entry.weight, seed))
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
    for batch in dataset.select_columns([MESSAGES]).iter(batch_size=1000):
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


def load_sft_dataset(data: DataArguments, seed: int = 0) -> tuple[Dataset, Dataset | None]:
    """Train/eval rows with a checked `messages` column (other columns dropped so TRL sees a chat dataset)."""
    train, test = load_training_data(data, [MESSAGES], ("messages", "sft", "default"), seed)
    check_messages(train)
    train = train.select_columns([MESSAGES])
    return train, (test.select_columns([MESSAGES]) if test is not None else None)


TEACHER_TRACE_COLUMNS = frozenset(
    {*TRACE_COLUMNS, "messages", "num_tokens", "correct", "verify_error", "generations", "correctness"}
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
        dataset, problem_column=problem_column, solution_column=solution_column, answer_column=answer_column
    )
    rows = loaded.kept
    seen: set[str] = set()
    reasons: list[str | None] = []
    for row in rows:
        reason = style.row_problem(row)
        if reason is None and not (isinstance(row[ANSWER], str) and row[ANSWER].strip()):
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


# -------------------------------------------------------------------------------------------------- models


def resolve_model_path(model: str) -> str:
    """`smollm2` (the packaged SmolLM2-135M-Instruct, converted once) or a local folder or Hub id, as given."""
    from openr1_data.teachers.transformers_backend import resolve_model

    return resolve_model(model)[0]


def set_model_init_kwargs(model_args: Any, training_args: Any) -> str:
    """Fill `training_args.model_init_kwargs` from TRL's `ModelConfig` (as TRL's scripts do); return the model path."""
    if not model_args.model_name_or_path:
        raise ValueError("no model: pass --model_name_or_path (a local folder, a Hub id, or `smollm2`)")
    kwargs = {
        "revision": model_args.model_revision,
        "attn_implementation": model_args.attn_implementation,
        "dtype": model_args.dtype,
    }
    kwargs.update(training_args.model_init_kwargs or {})
    training_args.model_init_kwargs = kwargs
    return resolve_model_path(model_args.model_name_or_path)


def save_and_push(trainer: Any, training_args: Any, dataset_name: str | None, tags: list[str]) -> None:
    """Save model + tokenizer + model card to `output_dir`; push them when `--push_to_hub` is set."""
    trainer.save_model(training_args.output_dir)
    if trainer.accelerator.is_main_process:
        trainer.create_model_card(dataset_name=dataset_name, tags=["openr1-data", *tags])
    if training_args.push_to_hub:
        trainer.push_to_hub(dataset_name=dataset_name)


# ------------------------------------------------------------------------------------------------- rewards

RLT_REWARD = "rlt"


@dataclass
class GRPOScriptArguments(DataArguments):
    """GRPO data and rewards: problems with gold answers, prompted in a generation style, scored by name."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["accuracy", "format", "tag_count"],
        metadata={"help": "reward functions from the shared registry (and `rlt`); weights: --reward_weights"},
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


def known_reward_names() -> list[str]:
    """Every name `--reward_funcs` accepts: the shared registry plus `rlt`."""
    from openr1_data.training.rewards import REWARD_FUNCS

    return sorted({*REWARD_FUNCS, RLT_REWARD})


def check_reward_names(names: Sequence[str]) -> None:
    """Fail before any work on an unknown reward name, listing the known ones."""
    if not names:
        raise ValueError(f"no reward functions: pass --reward_funcs with some of {known_reward_names()}")
    known = known_reward_names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown reward function(s) {unknown}; choose from {known}")


def parse_params(params: dict[str, Any] | str | None) -> dict[str, Any]:
    """Reward parameters from a mapping or its JSON/YAML text."""
    if params is None:
        return {}
    if isinstance(params, str):
        params = yaml.safe_load(params)
    if not isinstance(params, dict):
        raise ValueError(f"reward_params must be a mapping of name: value, got {params!r}")
    return params


def build_reward_funcs(
    names: Sequence[str],
    params: dict[str, Any],
    rlt_config: Any = None,
    *,
    prompt_style: str | None = None,
    max_completion_length: int | None = None,
) -> list[Any]:
    """Reward callables in the order of `names`; `rlt` is built from `rlt_config` (its teacher bound later).

    The shared rewards parse completions in `prompt_style`, and `soft_overlong` defaults its limit to the
    trainer's `max_completion_length`.
    """
    from openr1_data.training.rewards import get_reward_funcs

    check_reward_names(names)
    shared = [n for n in names if n != RLT_REWARD]
    params = dict(params)
    if shared and prompt_style:
        params.setdefault("style", prompt_style)
    if "soft_overlong" in shared and max_completion_length:
        params.setdefault("max_completion_len", max_completion_length)
    funcs = iter(get_reward_funcs(shared, **params) if shared else [])
    out = []
    for name in names:
        if name == RLT_REWARD:
            from openr1_data.curate.rlt_scoring import make_rlt_reward

            if rlt_config is None:
                raise ValueError("the rlt reward needs its config (--rlt_student_model ...)")
            out.append(make_rlt_reward(rlt_config))
        else:
            out.append(next(funcs))
    return out


def check_vllm(training_args: Any) -> None:
    """`use_vllm` on a machine without vLLM: say how to get it instead of failing deep inside TRL."""
    import importlib.util

    if not getattr(training_args, "use_vllm", False):
        return
    if importlib.util.find_spec("vllm") is None:
        raise ImportError(
            "use_vllm=true needs vLLM (CUDA GPUs): `pip install 'openr1-data[vllm]'`, or set --use_vllm false to "
            "generate with transformers. In server mode, start the server first: `trl vllm-serve --model MODEL`."
        )
