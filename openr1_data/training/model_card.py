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


def render_model_card(
    *,
    model_name: str,
    base_model: str,
    dataset_name: str | None,
    trainer_kind: str,
    training_args: Any,
    tags: list[str],
) -> str:
    """The README.md of a trained model folder."""
    data_text, hub_dataset = dataset_reference(dataset_name)
    local_base = Path(base_model).exists()
    metadata: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["openr1-data", trainer_kind, *tags],
    }
    if not local_base:
        metadata["base_model"] = base_model
    if hub_dataset:
        metadata["datasets"] = [hub_dataset]
    lines = [
        "---",
        yaml.safe_dump(metadata, sort_keys=False).strip(),
        "---",
        "",
        f"# {model_name}",
        "",
        f"`{base_model}`{' (a local folder)' if local_base else ''} trained with TRL's {trainer_kind.upper()} "
        f"trainer by openr1-data on {data_text}.",
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
    funnel = read_funnel(dataset_name) if dataset_name and Path(dataset_name).is_dir() else None
    if funnel is not None and funnel.stages:
        lines += ["", "## The data's funnel", "", "```", funnel.table(), "```"]
    return redact("\n".join(lines) + "\n")


def write_model_card(output_dir: str | os.PathLike, **card: Any) -> Path:
    """Write the card as `output_dir/README.md` (replacing TRL's)."""
    path = Path(output_dir) / "README.md"
    path.write_text(render_model_card(**card))
    return path
