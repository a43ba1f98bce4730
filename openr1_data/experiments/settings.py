"""The settings an experiment folder was run with: a rerun with different ones is refused before any work, since
its finished runs would be mixed with new ones in one report. Adding arms or seeds, and settings that change only
speed (batch sizes, processes, devices, threads), are allowed."""

from __future__ import annotations

import json
import os
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any

from openr1_data.secrets import redact_config

SETTINGS = "settings.json"
# Fields that change how fast, not what: a rerun may change them freely.
FREE = {"arms", "seeds", "keep_models", "bootstrap_resamples", "teach_dir", "train_device", "rlt_device", "dry_run",
        "power_seed_sd"}  # fmt: skip
FREE_PARTS = (
    "batch",
    "num_proc",
    "threads",
    "chunk",
    "progress",
    "concurrency",
    "timeout",
    "retries",
    "backoff",
)


def recorded(configs: list[Any]) -> dict[str, Any]:
    """Every field of every config that decides the experiment's results, by config and field name."""
    out: dict[str, Any] = {}
    for config in configs:
        fields = {
            k: v for k, v in asdict(config).items() if k not in FREE and not any(p in k for p in FREE_PARTS)
        }
        out[type(config).__name__] = redact_config(fields)
    return json.loads(json.dumps(out, default=str))  # as it reads back from the file


def defaults(configs: list[Any]) -> dict[str, Any]:
    """The default of every recorded field, as `recorded` writes it: what a field added to a config after a folder
    was written stood for in that folder's runs (the behaviour before the field existed)."""
    out: dict[str, Any] = {}
    for config in configs:
        values = {}
        for f in fields(config):
            if f.default is not MISSING:
                values[f.name] = f.default
            elif f.default_factory is not MISSING:
                values[f.name] = f.default_factory()
        out[type(config).__name__] = values
    return json.loads(json.dumps(out, default=str))


def check_settings(folder: Path, configs: list[Any]) -> None:
    """Record the settings in a new folder; in one written before, refuse changed ones, naming each (a field the
    folder does not record yet counts as its default)."""
    path = folder / SETTINGS
    now = recorded(configs)
    if path.exists():
        old = json.loads(path.read_text())
        before = defaults(configs)
        for name, values in old.items():
            before.setdefault(name, {}).update(values)
        changed = [
            f"{name}.{key}: {before.get(name, {}).get(key)!r} -> {value!r}"
            for name, fields_now in now.items()
            for key, value in fields_now.items()
            if before.get(name, {}).get(key) != value
        ]
        if changed:
            raise ValueError(
                f"{folder} holds an experiment run with other settings ({'; '.join(changed)}); its finished runs "
                "would be mixed with new ones. Pass a new --teach_dir, or delete that folder to start over."
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(now, indent=2))
    os.replace(tmp, path)
