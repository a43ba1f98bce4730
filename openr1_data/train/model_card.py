"""The card of a trained student: base model, the data it learned from (with that data's funnel), the settings.

TRL's own card reads "Model Card for None" when the hub model id is unset and links a local folder as a Hub
dataset; this one says what a reader needs and keeps `base_model` and the tags in its metadata.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from openr1_data.io import read_funnel
from openr1_data.publish.preference import PAIR_RULES
from openr1_data.secrets import redact
from openr1_data.teachers.default_model import teacher_hub_id

TEMPLATE_NAME = "model_card.md.j2"
SETTINGS = (
    "learning_rate",
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_length",
    "max_completion_length",
    "beta",
    "loss_type",
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


def model_card_context(
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
    pair_rules: list[str] | None = None,
) -> dict[str, Any]:
    """What the model card template receives (every key is described in cards/README.md)."""
    data_text, hub_dataset = dataset_reference(dataset_name)
    base_hub_id = teacher_hub_id(base_model)
    metadata: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": ["openr1-data", trainer_kind, *tags],
    }
    if base_hub_id:
        metadata["base_model"] = base_hub_id
    if hub_dataset:
        metadata["datasets"] = [hub_dataset]
    funnel = read_funnel(dataset_name) if dataset_name and Path(dataset_name).is_dir() else None
    funnel_note = (
        "every stage that made it"
        if dataset_config in (None, "sft", "messages", "default")
        else f"how the run that published it went; the `{dataset_config}` config holds the rows of that run "
        "its card describes"
    )
    return {
        "metadata_yaml": yaml.safe_dump(metadata, sort_keys=False).strip(),
        "model_name": model_name,
        "base_model": base_model,
        "base_hub_id": base_hub_id,
        "base_is_local": Path(base_model).exists(),
        "trainer": trainer_kind,
        "data_text": data_text,
        "dataset_name": dataset_name,
        "dataset_config": dataset_config,
        "rewards": [[name, _number(weight)] for name, weight in rewards or []],
        "pair_rules": [
            [rule, PAIR_RULES.get(rule, "a rule not made by openr1-data")] for rule in pair_rules or []
        ],
        "preference_data": trainer_kind == "dpo",
        "settings": [
            [name, str(getattr(training_args, name))]
            for name in SETTINGS
            if getattr(training_args, name, None) not in (None, -1)
        ],
        "metrics": [[name, _number(value)] for name, value in sorted((metrics or {}).items())],
        "funnel_table": funnel.table() if funnel is not None and funnel.stages else None,
        "funnel_note": funnel_note,
    }


def render_model_card(template: str | os.PathLike | None = None, **card: Any) -> str:
    """The README.md of a trained model folder: base model (as a Hub id when it has one), the data and the config
    trained on (with that data's funnel), the rewards and their weights, the settings, the final metrics; from
    the packaged template (`train/templates/model_card.md.j2`) or `template`."""
    return render_model_context(model_card_context(**card), template)


def render_model_context(context: dict[str, Any], template: str | os.PathLike | None = None) -> str:
    """Render a model card context (see `model_card_context`) with the packaged template or `template`."""
    from jinja2 import Environment, StrictUndefined

    source = (
        Path(template).read_text()
        if template is not None
        else (resources.files("openr1_data.train") / "templates" / TEMPLATE_NAME).read_text()
    )
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    return redact(env.from_string(source).render(**context))


CONTEXT_FILE = (
    ".card_context.json"  # what the card was rendered from, to render it again with another template
)


def write_model_card(output_dir: str | os.PathLike, template: str | None = None, **card: Any) -> Path:
    """Write the card as `output_dir/README.md` (replacing TRL's), from `template` when given, and its context
    as `.card_context.json` beside it."""
    context = model_card_context(**card)
    path = Path(output_dir) / "README.md"
    path.write_text(render_model_context(context, template))
    (Path(output_dir) / CONTEXT_FILE).write_text(redact(json.dumps(context, indent=1, sort_keys=True)) + "\n")
    return path
