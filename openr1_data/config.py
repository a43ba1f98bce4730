"""Configuration the TRL / open-r1 way: dataclasses, `--config recipe.yaml`, then command-line overrides.

Every field carries `metadata={"help": ...}` so `--help` documents itself. Values come, in increasing priority,
from the dataclass defaults, the YAML recipe, and the command line.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser
from transformers.hf_argparser import DataClassType


def load_recipe(path: str | Path) -> dict[str, Any]:
    """Read a YAML recipe into a flat dict of field values."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as err:  # the parser's own message names the line and column
        where = getattr(err, "problem_mark", None)
        line = f", line {where.line + 1}" if where is not None else ""
        problem = getattr(err, "problem", None) or "not valid YAML"
        raise ValueError(f"recipe {path}{line}: {problem}. Fix the YAML (field: value per line).") from None
    if not isinstance(data, dict):
        raise ValueError(f"recipe {path}: expected a mapping of field: value, got {type(data).__name__}")
    return data


def parse_config(
    dataclass_types: Sequence[type],
    args: Sequence[str],
    default_recipe: str | Path | None = None,
    prog: str | None = None,
) -> tuple[Any, ...]:
    """Parse `--config recipe.yaml` plus overrides into instances of `dataclass_types`.

    Unknown recipe keys are an error that lists the valid ones, so a typo in a recipe never goes unnoticed.
    `default_recipe` is read when the command line names none (a pipeline's embedded defaults live there).
    `prog` is the command's name in `--help` (e.g. "openr1-data verify").
    """
    args = list(args)  # the caller passes the command line: no library module reads sys.argv
    # No prefix matching: `--problem_colum` must not silently mean `--problem_column`.
    parser = HfArgumentParser([DataClassType(t) for t in dataclass_types], allow_abbrev=False, prog=prog)
    parser.add_argument("--config", default=None, help="YAML recipe; command-line flags override its values")
    config_path = None
    if "--config" in args:
        i = args.index("--config")
        config_path = args[i + 1]
        del args[i : i + 2]
    else:
        for i, a in enumerate(args):
            if a.startswith("--config="):
                config_path = a.split("=", 1)[1]
                del args[i]
                break
    config_path = config_path or (str(default_recipe) if default_recipe else None)
    if config_path:
        recipe = load_recipe(config_path)
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(recipe) - known)
        if unknown:
            raise ValueError(
                f"recipe {config_path}: unknown field(s) {unknown}. Valid fields: {sorted(known - {'help', 'config'})}"
            )
        parser.set_defaults(**recipe)
        for action in parser._actions:
            if action.dest in recipe:
                action.required = False  # the recipe provides it
    known_flags = sorted({o for a in parser._actions for o in a.option_strings if o.startswith("--")})
    unknown = [
        a.split("=", 1)[0] for a in args if a.startswith("--") and a.split("=", 1)[0] not in known_flags
    ]
    if unknown:
        hints = []
        for flag in unknown:
            close = difflib.get_close_matches(flag, known_flags, n=1, cutoff=0.75)
            hints.append(f"{flag} (did you mean {close[0]}?)" if close else flag)
        raise ValueError(f"unknown flag(s): {', '.join(hints)}. See --help for the flags.")
    outputs = parser.parse_args_into_dataclasses(args=args)
    return tuple(o for o in outputs if not isinstance(o, dict) and type(o) in dataclass_types)


def check_fields(
    config: Any,
    *,
    at_least: Mapping[str, float] | None = None,
    between: Mapping[str, tuple[float, float]] | None = None,
    choices: Mapping[str, Iterable[str]] | None = None,
) -> None:
    """Validate a config in its `__post_init__`, before any work: a bad value raises ValueError naming the field,
    the value and what is allowed (the CLI turns it into exit code 2).

    `at_least`: field -> minimum (None values are skipped: "not set"); `between`: field -> inclusive (low, high);
    `choices`: field -> allowed values. A list field given one string (`prompt_styles: r1` in a recipe) becomes a
    one-item list instead of a list of characters.
    """
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, str) and str(f.type).startswith("list["):
            setattr(config, f.name, [value])
    for name, low in (at_least or {}).items():
        value = getattr(config, name)
        if value is not None and (
            not isinstance(value, int | float) or isinstance(value, bool) or value < low
        ):
            raise ValueError(f"--{name} must be a number >= {low}, got {value!r}")
    for name, (low, high) in (between or {}).items():
        value = getattr(config, name)
        if value is not None and (not isinstance(value, int | float) or not low <= value <= high):
            raise ValueError(f"--{name} must be between {low} and {high}, got {value!r}")
    for name, allowed in (choices or {}).items():
        value, options = getattr(config, name), sorted(allowed)
        if value not in options:
            raise ValueError(f"--{name} must be one of {options}, got {value!r}")


def parse_mapping(name: str, value: Any, example: str = "{key: value}") -> dict | None:
    """A mapping field given as a mapping, or as its YAML/JSON text on the command line (None stays None)."""
    if value is None or isinstance(value, dict):
        return value
    try:
        parsed = yaml.safe_load(value) if isinstance(value, str) else value
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ValueError(f"--{name} must be a mapping like '{example}', got {value!r}")
    return parsed
