"""Mixtures: one dataset from several curated sources, in open-r1's `dataset_mixture` shape.

```yaml
datasets:                       # each source: a stage folder (its kept rows) or a published folder (a config)
  - {id: outputs/math/filter, weight: 0.5}        # a share of the source's rows (0 < weight <= 1)
  - {id: outputs/code-dataset, config: sft, quota: 200}   # or a number of rows
seed: 0                         # drives the sampling (and the test split when publishing)
test_split_size: 0.1            # optional: a test split, made on problems
```

The same spec trains (`--dataset_mixture` of the training scripts, where a weight above 1 repeats the source) and
publishes (`openr1-data publish --mixture mixture.yaml`, where a weight above 1 or a quota above the source's size is
an error naming the source: a published mixture never repeats rows). Sampling is a seeded shuffle of each source,
so the same spec and seed give the same rows. Each source becomes SFT rows first (a stage folder's traces through
`export.to_sft`; a published `sft` config as it is), carries a `mixture_source` column, and the sources must then
have the same columns (else an error names the column and the source); `columns` selects them per source.
The card shows each source's share (rows and %) and each source's own funnel.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from datasets import Dataset, concatenate_datasets

from openr1_data.funnel import Funnel, StageStats
from openr1_data.io import is_stage_folder, read_dataset, read_funnel
from openr1_data.schema import ContractError

MIXTURE_SOURCE = "mixture_source"  # the column naming the source of each mixed row
MIX_STAGE = "mix"
ENTRY_KEYS = ("id", "config", "split", "columns", "weight", "quota")


@dataclass
class MixtureEntry:
    """One source of a mixture: where it is, and how much of it to take (`weight`: a share; `quota`: rows)."""

    id: str
    config: str | None = None
    split: str = "train"
    columns: list[str] | None = None
    weight: float = 1.0
    quota: int | None = None


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
        bad = set(item) - set(ENTRY_KEYS)
        if bad:
            raise ValueError(
                f"dataset_mixture.datasets[{i}]: unknown key(s) {sorted(bad)}; use {', '.join(ENTRY_KEYS)}"
            )
        if "weight" in item and "quota" in item:
            raise ValueError(
                f"dataset_mixture.datasets[{i}] ({item['id']}): give a weight (a share) or a quota (rows), not both"
            )
        entry = MixtureEntry(**item)
        if not entry.weight > 0:
            raise ValueError(
                f"dataset_mixture.datasets[{i}] ({entry.id}): weight must be > 0, got {entry.weight}"
            )
        if entry.quota is not None and (isinstance(entry.quota, bool) or not isinstance(entry.quota, int)
                                        or entry.quota < 1):  # fmt: skip
            raise ValueError(
                f"dataset_mixture.datasets[{i}] ({entry.id}): quota must be a number of rows >= 1, got {entry.quota!r}"
            )
        entries.append(entry)
    return entries, spec.get("seed"), spec.get("test_split_size")


def sample_entry(dataset: Dataset, entry: MixtureEntry, seed: int, *, repeat: bool) -> Dataset:
    """The rows `entry` asks for: a seeded shuffle's first `quota` rows or `weight` x len(dataset) of them.

    `repeat`: a weight above 1 (or a quota above the size) takes whole copies plus a shuffled part, as open-r1's
    training mixtures do; without it, asking for more rows than the source has is an error naming the source.
    """
    size = len(dataset)
    if size == 0:
        return dataset
    wanted = entry.quota if entry.quota is not None else entry.weight * size
    if wanted > size and not repeat:
        asked = f"quota {entry.quota}" if entry.quota is not None else f"weight {entry.weight}"
        raise ContractError(
            f"mixture source {entry.id}: {asked} asks for {wanted:,.0f} rows but it has {size:,}; a published "
            "mixture never repeats rows: lower it (a weight is a share in (0, 1]) or add data to the source"
        )
    whole = int(wanted // size)
    rest = round(wanted - whole * size) if entry.quota is None else int(wanted) - whole * size
    if whole == 0:
        rest = max(1, rest)  # a small weight still contributes a row
    parts = [dataset] * whole
    if rest:
        parts.append(dataset.shuffle(seed=seed).select(range(rest)))
    return concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def read_mixture_spec(mixture: str) -> dict[str, Any]:
    """A mixture from a YAML/JSON file path, or given inline as YAML/JSON text."""
    path = Path(mixture)
    if path.suffix.lower() in (".yaml", ".yml", ".json") and not path.is_file():
        raise FileNotFoundError(
            f"--mixture {mixture}: no such file (give a mixture spec file or the spec inline)"
        )
    text = path.read_text() if path.is_file() else mixture
    spec = yaml.safe_load(text)
    if not isinstance(spec, dict):
        raise ValueError(
            f"--mixture {mixture}: expected a mapping with `datasets`, got {type(spec).__name__}"
        )
    return spec


def _sft_rows(dataset: Dataset, entry: MixtureEntry) -> Dataset:
    """A source's rows as SFT rows: a published `sft` config as it is, traces of a stage folder through to_sft."""
    from openr1_data.publish.export import to_sft

    if "messages" in dataset.column_names and "reasoning" not in dataset.column_names:
        return dataset
    try:
        return to_sft(dataset)
    except ContractError as err:
        raise ContractError(f"mixture source {entry.id}: {err}") from err


def _check_columns(parts: Sequence[tuple[MixtureEntry, Dataset]]) -> None:
    """Every source has the first source's columns; else name the column, the source, and the fix."""
    first_entry, first = parts[0]
    for entry, part in parts[1:]:
        missing = [c for c in first.column_names if c not in part.column_names]
        extra = [c for c in part.column_names if c not in first.column_names]
        if missing or extra:
            column, has, lacks = (
                (missing[0], first_entry, entry) if missing else (extra[0], entry, first_entry)
            )
            raise ContractError(
                f"mixture: column `{column}` is in source {has.id} but not in source {lacks.id}; give every source "
                f"the same `columns` (e.g. columns: [messages, problem, answer, problem_id, trace_id, num_tokens])"
            )


def _funnel_text(funnel: Funnel) -> str:
    """A source's funnel on one line: stage rows_in → rows_out, ..."""
    return ", ".join(f"{s.stage} {s.rows_in:,} → {s.rows_out:,}" for s in funnel.stages)


def _teacher(source: str) -> str | None:
    """The teacher of a source, from its generation manifest (stage folder) or pipeline config (published)."""
    path = Path(source)
    if is_stage_folder(path):
        from openr1_data.publish.chain import read_run

        provenance = read_run(path).provenance([]) or {}
        return provenance.get("teacher_model")
    config = path / "pipeline_config.yaml"
    if config.is_file():
        saved = yaml.safe_load(config.read_text()) or {}
        return ((saved.get("provenance") or {}).get("teacher_model")) or None
    return None


@dataclass
class Mixture:
    """The mixed rows, the funnel of the mix step, and what the card shows of each source."""

    rows: Dataset
    funnel: Funnel
    card: dict[str, Any]
    seed: int
    test_split_size: float | None


def build_mixture(spec: dict[str, Any] | str, default_seed: int = 42) -> Mixture:
    """Read every source, sample it as its entry asks (never repeating rows), check the columns, and mix."""
    entries, seed, test_size = parse_mixture(spec)
    seed = default_seed if seed is None else int(seed)
    parts: list[tuple[MixtureEntry, Dataset]] = []
    sources = []
    available = 0
    for entry in entries:
        rows = _sft_rows(read_dataset(entry.id, config=entry.config, split=entry.split), entry)
        if entry.columns:
            absent = [c for c in entry.columns if c not in rows.column_names]
            if absent:
                raise ContractError(
                    f"mixture source {entry.id}: column `{absent[0]}` of its `columns` is not in it; it has "
                    f"{rows.column_names}"
                )
            rows = rows.select_columns(list(entry.columns))
        sampled = sample_entry(rows, entry, seed, repeat=False)
        sampled = sampled.add_column(MIXTURE_SOURCE, [entry.id] * len(sampled))
        parts.append((entry, sampled))
        available += len(rows)
        funnel = read_funnel(entry.id) if Path(entry.id).is_dir() else Funnel()
        sources.append(
            {
                "id": entry.id,
                "config": entry.config,
                "split": entry.split,
                "weight": entry.weight if entry.quota is None else None,
                "quota": entry.quota,
                "available": len(rows),
                "rows": len(sampled),
                "teacher": _teacher(entry.id) if Path(entry.id).is_dir() else None,
                "funnel": _funnel_text(funnel) or None,
            }
        )
    _check_columns(parts)
    features = parts[0][1].features
    cast = []
    for entry, part in parts:
        try:
            cast.append(part.cast(features))
        except (ValueError, TypeError) as err:
            column = next((c for c in features if part.features[c] != features[c]), "?")
            raise ContractError(
                f"mixture: column `{column}` of source {entry.id} is {part.features[column]}, but "
                f"{parts[0][0].id} has {features[column]}; cast it to one type in both ({err})"
            ) from err
    mixed = concatenate_datasets(cast).shuffle(seed=seed).flatten_indices()
    total = len(mixed)
    for source in sources:
        source["share"] = round(100 * source["rows"] / total, 1) if total else 0.0
    stats = StageStats(
        MIX_STAGE, available, total, {"not_sampled": available - total} if available > total else {}
    )
    card = {"seed": seed, "rows": total, "sources": sources}
    return Mixture(mixed, Funnel([stats]), card, seed, test_size)


def mixture_provenance(mixture: Mixture, command: Sequence[str]) -> dict[str, Any]:
    """The provenance of a mixed dataset: every source with its rows, the teachers, the command."""
    import shlex

    import openr1_data

    teachers = sorted({s["teacher"] for s in mixture.card["sources"] if s["teacher"]})
    return {
        "teacher_model": ", ".join(teachers) or None,
        "sources": [{"name": s["id"]} for s in mixture.card["sources"]],
        "version": openr1_data.__version__,
        "command": shlex.join(command),
        "mixture_seed": mixture.seed,
    }


def publish_mixture(
    spec: dict[str, Any] | str, folder: str | os.PathLike, settings: Any, command: Sequence[str]
) -> Any:
    """Mix the sources of `spec` and publish the result as a dataset folder (`PublishConfig` `settings`)."""
    import dataclasses

    from openr1_data.publish.local import publish_local
    from openr1_data.publish.preference import NO_PAIRS

    if settings.preference_pairs != NO_PAIRS or settings.problems_only:
        raise ValueError(
            "--mixture publishes the sources' SFT rows: preference pairs and problems-only sets are made from one "
            "run (publish each source with --preference_pairs, then mix their `preference` configs in training)"
        )
    mixture = build_mixture(spec, settings.seed)
    test_size = settings.test_size if settings.test_size is not None else mixture.test_split_size
    return publish_local(
        folder,
        mixture.rows,
        funnel=mixture.funnel,
        provenance=mixture_provenance(mixture, command),
        config={"mixture": spec},
        settings=dataclasses.replace(settings, test_size=test_size, seed=mixture.seed),
        mixture=mixture.card,
    )
