"""Procedural problems with a difficulty knob from reasoning-gym (Apache-2.0: over 100 generators with gold answers
and scorers): `--problems reasoning_gym:TASK`, `--gym_size`, `--gym_seed` and the task's own settings in
`--gym_config '{min_digits: 2, max_digits: 3}'`.

Every row carries `domain: reasoning_gym` and the generator's entry (`gym_entry`, JSON), so verification and the
`reasoning_gym` reward score an answer with the task's own scorer (`curate/gym_verify.py`).
"""

from __future__ import annotations

import json
from typing import Any

from datasets import Dataset

from openr1_data.config import parse_mapping
from openr1_data.schema import ANSWER, DOMAIN, GYM, GYM_ENTRY, PROBLEM, SOURCE, ContractError

PREFIX = "reasoning_gym:"
INSTALL_HINT = "pip install 'openr1-data[gym]' (reasoning-gym)"


def is_gym_source(source: str) -> bool:
    """`reasoning_gym:TASK` names a generator, not a file or a Hub id."""
    return source.startswith(PREFIX)


def gym_options(text: str | dict | None) -> dict[str, Any]:
    """The task settings: a mapping, or its YAML/JSON text from the command line."""
    return parse_mapping("gym_config", text, "{min_digits: 2}") or {}


def gym_problems(source: str, size: int, seed: int, options: str | dict | None = None) -> Dataset:
    """`size` problems of a reasoning-gym task as contract rows (problem, answer, source, domain, gym_entry)."""
    try:
        import reasoning_gym
    except ImportError:
        raise ContractError(f"--problems {source} needs reasoning-gym: {INSTALL_HINT}") from None
    task = source.removeprefix(PREFIX)
    known = sorted(reasoning_gym.factory.DATASETS)
    if task not in known:
        import difflib

        close = difflib.get_close_matches(task, known, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else f" Tasks: {', '.join(known[:12])}, ..."
        raise ContractError(f"--problems {source}: reasoning-gym has no task {task!r}.{hint}")
    settings = gym_options(options)
    try:
        generated = reasoning_gym.create_dataset(task, size=size, seed=seed, **settings)
    except (TypeError, ValueError, AssertionError) as err:  # the task's own checks of its settings
        raise ContractError(f"--problems {source} with --gym_config {settings}: {err}") from None
    rows = []
    for entry in generated:
        rows.append(
            {
                PROBLEM: entry["question"],
                ANSWER: None if entry.get("answer") is None else str(entry["answer"]),
                SOURCE: f"reasoning_gym/{task}",
                DOMAIN: GYM,
                GYM_ENTRY: json.dumps(entry, default=str, sort_keys=True),
            }
        )
    return Dataset.from_list(rows)
