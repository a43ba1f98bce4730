"""`openr1-data run --config chain.yaml`: the whole chain in the safe order, one stage folder per step.

    openr1-data run --config chain.yaml [--problems my.jsonl] [--output_dir out]

The recipe names the problems, the output folder and, per step, the flags of that step's command:

    problems: my_problems.jsonl
    output_dir: out
    decontaminate: {benchmarks: [aime_2024, math_500]}
    generate: {teacher_backend: openai, base_url: http://127.0.0.1:8000/v1, num_generations: 4}
    filter: {max_tokens: 4096}

Steps run in this order, each reading the folder the step before wrote: dedup → decontaminate → generate →
verify → filter → publish (into `<output_dir>/<step>`, the dataset in `<output_dir>/dataset`). Problems are
curated before any teacher time is spent. A step set to `false` is skipped (not generate, not publish). Rerun the
same command after a kill or a change of a step's settings: the cheap steps are redone from their input into
their own folders, generation resumes where it stopped (and refuses changed sampling settings).
"""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path
from typing import Any

from openr1_data.config import load_recipe

# step -> (module, entry point, the flag naming its input, its output folder's name)
STEPS: dict[str, tuple[str, str, str, str]] = {
    "dedup": ("openr1_data.cli.dedup", "dedup_main", "--input", "problems_dedup"),
    "decontaminate": ("openr1_data.cli.dedup", "decontaminate_main", "--input", "problems_clean"),
    "generate": ("openr1_data.cli.generate", "main", "--problems", "generate"),
    "verify": ("openr1_data.cli.curate", "verify_main", "--input", "verify"),
    "filter": ("openr1_data.cli.curate", "filter_main", "--input", "filter"),
    "publish": ("openr1_data.cli.publish", "publish_main", "--input", "dataset"),
}
REQUIRED_STEPS = ("generate", "publish")
TOP_LEVEL = ("problems", "output_dir")


def step_flags(step: str, options: Any) -> list[str]:
    """A recipe section as command-line flags: lists give several values, booleans true/false."""
    if options is None or options is True:
        return []
    if not isinstance(options, dict):
        raise ValueError(f"chain recipe: `{step}` must be a mapping of flag: value (or false to skip it)")
    flags: list[str] = []
    for key, value in options.items():
        if key in ("input", "problems", "output_dir"):
            raise ValueError(f"chain recipe: `{step}.{key}` is set by the chain; remove it")
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        flags += [f"--{key}", *(str(v).lower() if isinstance(v, bool) else str(v) for v in values)]
    return flags


def plan(recipe: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The steps to run, each with its full argv (input and output folders filled in)."""
    unknown = sorted(set(recipe) - set(STEPS) - set(TOP_LEVEL))
    if unknown:
        raise ValueError(f"chain recipe: unknown key(s) {unknown}; valid: {[*TOP_LEVEL, *STEPS]}")
    if not recipe.get("problems"):
        raise ValueError("chain recipe: `problems` is required (a file, a folder, a Hub id or `bundled`)")
    out = Path(str(recipe.get("output_dir") or "outputs/chain"))
    source = str(recipe["problems"])
    steps = []
    for step, (_, _, input_flag, folder) in STEPS.items():
        options = recipe.get(step)
        if options is False:
            if step in REQUIRED_STEPS:
                raise ValueError(f"chain recipe: `{step}` cannot be skipped")
            continue
        target = str(out / folder)
        argv = [input_flag, source, "--output_dir", target, *step_flags(step, options)]
        if step != "generate":
            # A rerun with changed settings replaces this chain's own folders (never a folder that is not a
            # stage's or a publish's); generation is never thrown away: it resumes, or refuses other settings.
            argv += ["--overwrite", "true"]
        steps.append((step, argv))
        source = target
    return steps


def main(argv: list[str]) -> int:
    """Entry point of `openr1-data run`."""
    args = list(argv)
    if "-h" in args or "--help" in args:
        print(__doc__)
        return 0
    overrides: dict[str, str] = {}
    config = None
    while args:
        flag = args.pop(0)
        name = flag.removeprefix("--")
        if name not in ("config", *TOP_LEVEL) or not args:
            raise ValueError(
                f"openr1-data run: unexpected {flag!r}; usage: openr1-data run --config chain.yaml "
                "[--problems PATH] [--output_dir DIR] (step flags go in the recipe)"
            )
        value = args.pop(0)
        if name == "config":
            config = value
        else:
            overrides[name] = value
    recipe = {**(load_recipe(config) if config else {}), **overrides}
    steps = plan(recipe)
    for number, (step, step_argv) in enumerate(steps, start=1):
        module, func, _, _ = STEPS[step]
        print(f"\n== step {number}/{len(steps)}: openr1-data {step} {shlex.join(step_argv)}", flush=True)
        code = getattr(importlib.import_module(module), func)(step_argv)
        if code:
            print(f"openr1-data run: step `{step}` ended with exit code {code}; the chain stops here")
            return int(code)
    return 0
