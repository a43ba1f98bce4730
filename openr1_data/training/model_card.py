"""The card of a trained student: base model, the data it learned from (with that data's funnel), the settings.

TRL's own card reads "Model Card for None" when the hub model id is unset and links a local folder as a Hub
dataset; this one says what a reader needs and keeps `base_model` and the tags in its metadata.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from openr1_data.io import read_funnel
from openr1_data.secrets import redact
from openr1_data.teachers.default_model import teacher_hub_id

SETTINGS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_length",
    "max_completion_length",
    "num_generations",
    "seed",
)


def dataset_reference(dataset_name: str | None) -> tuple[str, str | None]:
    """(how the card names the data, its Hub id or None when it is local or a mixture)."""
    if not dataset_name:
        return "a weighted mixture (see the recipe)", None
    if Path(dataset_name).exists():
        return f"a local dataset folder (`{Path(dataset_name).name}`)", None
    return f"[{dataset_name}](https://huggingface.co/datasets/{dataset_name})", dataset_name


def final_metrics(log_history: list[dict[str, Any]]) -> dict[str, float]:
    """The last logged value of every numeric metric of a run (TRL's `trainer.state.log_history`)."""
    final: dict[str, float] = {}
    for entry in log_history:
        for key, value in entry.items():
            if isinstance(value, int | float) and not isinstance(value, bool) and key != "step":
                final[key] = float(value)
    return final


def _number(value: float) -> str:
    return f"{value:.4g}"


def render_model_card(
    *,
    model_name: str,
    base_model: str,
    dataset_name: str | None,
    trainer_kind: str,
    training_args: Any,
    tags: list[str],
    dataset_config: str | None = None,
    rewards: list[tuple[str, float]] | None = None,
    metrics: dict[str, float] | None = None,
) -> str:
    """The README.md of a trained model folder: base model (as a Hub id when it has one), the data and the config
    trained on (with that data's funnel), the rewards and their weights, the settings, the final metrics."""
    data_text, hub_dataset = dataset_reference(dataset_name)
    base_hub_id = teacher_hub_id(base_model)
    local_base = Path(base_model).exists()
    metadata: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["openr1-data", trainer_kind, *tags],
    }
    if base_hub_id:
        metadata["base_model"] = base_hub_id
    if hub_dataset:
        metadata["datasets"] = [hub_dataset]
    base_text = f"`{base_model}`" + (
        f" ([{base_hub_id}](https://huggingface.co/{base_hub_id}))"
        if base_hub_id and base_hub_id != base_model
        else " (a local folder)"
        if local_base
        else ""
    )
    config_text = f", config `{dataset_config}`" if dataset_config else ""
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False).strip(),
        "---",
        "",
        f"# {model_name}",
        "",
        f"{base_text} trained with TRL's {trainer_kind.upper()} trainer by openr1-data on {data_text}{config_text}.",
    ]
    if rewards:
        lines += ["", "## Rewards", "", "| reward | weight |", "|---|---|"]
        lines += [f"| `{name}` | {_number(weight)} |" for name, weight in rewards]
    lines += [
        "",
        "## Training settings",
        "",
        "| setting | value |",
        "|---|---|",
        *[
            f"| {name} | {getattr(training_args, name)} |"
            for name in SETTINGS
            if getattr(training_args, name, None) not in (None, -1)
        ],
    ]
    if metrics:
        lines += ["", "## Final training metrics", "", "| metric | value |", "|---|---|"]
        lines += [f"| {name} | {_number(value)} |" for name, value in sorted(metrics.items())]
    funnel = read_funnel(dataset_name) if dataset_name and Path(dataset_name).is_dir() else None
    if funnel is not None and funnel.stages:
        what = (
            "every stage that made it"
            if dataset_config in (None, "sft", "messages", "default")
            else f"how the run that published it went; the `{dataset_config}` config holds the rows of that run "
            "its card describes"
        )
        lines += ["", f"## The data's funnel ({what})", "", "```", funnel.table(), "```"]
    return redact("\n".join(lines) + "\n")


def write_model_card(output_dir: str | os.PathLike, **card: Any) -> Path:
    """Write the card as `output_dir/README.md` (replacing TRL's)."""
    path = Path(output_dir) / "README.md"
    path.write_text(render_model_card(**card))
    return path
