"""Local publishing: a folder that is a complete Hub dataset repo, loadable with `datasets.load_dataset(folder)`.

Layout:
```
README.md                      the card (YAML `configs:` point at the shards below)
data/sft/train-<fingerprint>-00000-of-00001.parquet   (+ test-*.parquet with a test split)
data/all_traces/train-*.parquet
data/rejected/train-*.parquet
plots/funnel.png, plots/lengths.png
pipeline_config.yaml           the pipeline config + provenance (enough to reproduce the run)
funnel.json, decontamination.json
.card_context.json             what the card was rendered from (local only: a push re-renders the card with the
                               repo id in the load snippet, unless README.md was edited by hand)
```
The folder is built in a staging folder next to the target and moved into place at the end, so a failed publish
never leaves half a dataset, and an existing non-empty folder is only replaced with `overwrite=True`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from datasets import Dataset

from openr1_data.curate.gold_audit import card_summary as gold_audit_card
from openr1_data.curate.verifier_audit import audit_summary as verifier_audit_card
from openr1_data.funnel import Funnel
from openr1_data.io import remove_stale_copies, replace_folder, write_dataset
from openr1_data.publish import card as cards
from openr1_data.publish.card import CONTEXT_FILE, README
from openr1_data.publish.cost import CostPrices, cost_table
from openr1_data.publish.export import (
    ALL_TRACES_CONFIG,
    PROBLEMS_CONFIG,
    REJECTED_CONFIG,
    SFT_CONFIG,
    pick_test_problems,
    problem_ids,
    split_by_problem,
    to_all_traces,
    to_problems,
    to_rejected,
    to_sft,
)
from openr1_data.publish.preference import (
    NO_PAIRS,
    PAIR_RULES,
    PREFERENCE_CONFIG,
    check_pair_rule,
    preference_description,
    to_preference,
)
from openr1_data.publish.prm import PRM_CONFIG, has_step_labels, prm_description, to_prm
from openr1_data.schema import ContractError, arrow_column
from openr1_data.secrets import redact

CONFIG_FILE, FUNNEL_FILE, DECONTAMINATION_FILE = "pipeline_config.yaml", "funnel.json", "decontamination.json"
FUNNEL_PLOT, LENGTHS_PLOT = "plots/funnel.png", "plots/lengths.png"
DECONTAMINATION_KEYS = ("ngram_size", "rows_checked", "rows_flagged", "benchmarks")
CONFIG_DESCRIPTIONS = {
    SFT_CONFIG: "one row per kept trace, with `messages` ready for SFT.",
    ALL_TRACES_CONFIG: (
        "one row per problem with every generated trace: `generations[]`, `correctness[]`, "
        "`finish_reasons[]`, `completion_tokens[]`, `kept[]`, and the `messages` of the selected (first kept) "
        "trace. For analysis, pass-rate filtering, rejection sampling or preference data."
    ),
    PROBLEMS_CONFIG: (
        "one row per problem with its gold `answer` and the policy's `pass_rate` (`num_correct` of "
        "`num_samples`): a prompt set for GRPO (`train/grpo.py --dataset_config problems`)."
    ),
    REJECTED_CONFIG: (
        "every row a curation stage removed, with `rejected_stage` and `rejected_reason`, to audit the curation."
    ),
}


@dataclass
class PublishConfig(CostPrices):
    """How a curated run is published: splits, card metadata, shard size, the prices of the card's cost table.
    Fields are `openr1-data publish` flags."""

    test_size: float | None = field(
        default=None,
        metadata={
            "help": "a `test` split: a fraction (0-1) or a number (>= 1) of problems, split on problems"
        },
    )
    seed: int = field(default=42, metadata={"help": "seed of the test split"})
    overwrite: bool = field(
        default=False, metadata={"help": "replace a dataset folder written by an earlier publish"}
    )
    repo_id: str | None = field(
        default=None, metadata={"help": "Hub id the card's load snippet shows (a push fills it in otherwise)"}
    )
    pretty_name: str | None = field(default=None, metadata={"help": "dataset name shown on the card"})
    summary: str | None = field(
        default=None, metadata={"help": "one-paragraph summary at the top of the card"}
    )
    license: str = field(default="apache-2.0", metadata={"help": "license in the card metadata"})
    language: list[str] = field(default_factory=lambda: ["en"], metadata={"help": "languages of the data"})
    tags: list[str] = field(default_factory=list, metadata={"help": "extra Hub tags"})
    max_rows_per_shard: int = field(default=50_000, metadata={"help": "rows per Parquet shard"})
    template: str | None = field(
        default=None, metadata={"help": "a card template (.md.j2) instead of the packaged one"}
    )
    problems_only: bool = field(
        default=False,
        metadata={
            "help": "the kept rows are one per problem (a GRPO prompt set): publish the `problems` config"
        },
    )
    final_from: str = field(
        default="final",
        metadata={
            "help": "the SFT assistant's final part: the trace's own `final`, or its verified `summary` where it "
            "has one (openr1-data summarize)"
        },
    )
    preference_pairs: str = field(
        default=NO_PAIRS,
        metadata={
            "help": "also publish a `preference` config of trace pairs for DPO: correct_vs_incorrect (a right "
            "and a wrong trace of a problem), short_vs_long (its shortest and longest right traces) or none"
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_pair_rule(self.preference_pairs)
        if self.test_size is not None and self.test_size <= 0:
            raise ValueError(
                f"test_size must be a fraction in (0, 1) or a number of problems >= 1, got {self.test_size}"
            )
        if self.final_from not in ("final", "summary"):
            raise ValueError(f"final_from must be 'final' or 'summary', got {self.final_from!r}")
        if self.max_rows_per_shard < 1:
            raise ValueError(f"max_rows_per_shard must be >= 1, got {self.max_rows_per_shard}")


class EmptyDatasetError(ContractError):
    """Nothing is left to publish; the message shows the funnel so the user sees which stage removed everything."""


@dataclass
class PublishedDataset:
    """What `publish_local` wrote."""

    folder: Path
    configs: dict[str, dict[str, int]]  # config -> split -> rows
    files: list[str] = field(default_factory=list)  # paths relative to `folder`

    def summary(self) -> str:
        lines = [f"published {self.folder}"]
        for name, splits in self.configs.items():
            lines.append(f"  {name:<12} " + ", ".join(f"{s}: {n:,} rows" for s, n in splits.items()))
        return "\n".join(lines)


def empty_dataset_message(funnel: Funnel | None) -> str:
    """Why there is nothing to publish: the funnel table and the stage that removed the last rows."""
    if funnel is None or not funnel.stages:
        return "nothing to publish: 0 kept traces (and no funnel was passed to show where the rows went)."
    culprit = next((s for s in funnel.stages if s.rows_in > 0 and s.rows_out == 0), None)
    where = ""
    if culprit is not None:
        top = ", ".join(f"{k}: {v}" for k, v in sorted(culprit.rejected.items(), key=lambda kv: -kv[1])[:3])
        where = f" Stage {culprit.stage!r} removed the last {culprit.rows_in} row(s) ({top})."
    return (
        f"nothing to publish: 0 kept traces.{where} Loosen that stage's settings or generate more traces.\n"
        f"{funnel.table()}"
    )


def validate_decontamination(report: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Check the decontamination report has the keys the card shows."""
    if report is None:
        return None
    missing = [k for k in DECONTAMINATION_KEYS if k not in report]
    if missing:
        raise ContractError(
            f"publish: decontamination report is missing {missing}; expected keys {list(DECONTAMINATION_KEYS)} "
            'with benchmarks as [{"name", "items", "rows_flagged"}].'
        )
    for i, b in enumerate(report["benchmarks"]):
        gaps = [k for k in ("name", "items", "rows_flagged") if k not in b]
        if gaps:
            raise ContractError(f"publish: decontamination benchmarks[{i}] is missing {gaps}")
    return dict(report)


def _plain(value: Any) -> Any:
    """Make configs YAML/JSON-safe: dataclasses, paths, tuples and sets become plain data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def check_target(folder: Path, overwrite: bool) -> None:
    """Refuse to clobber: a non-empty folder needs `overwrite=True`, and must be a previous publish."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"{folder} exists and is not a folder; choose another output folder")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{folder} is not empty; pass overwrite=True (`--overwrite`) to replace it, or choose another folder"
            )
        if not (folder / CONFIG_FILE).exists():
            raise FileExistsError(
                f"{folder} is not empty and was not written by publish_local (no {CONFIG_FILE}); refusing to "
                "delete it even with overwrite=True. Choose an empty or new folder."
            )


def publish_local(
    folder: str | os.PathLike,
    kept: Dataset,
    *,
    all_traces: Dataset | None = None,
    rejected: Dataset | Sequence[Dataset] | None = None,
    funnel: Funnel | None = None,
    provenance: Mapping[str, Any] | None = None,
    decontamination: Mapping[str, Any] | None = None,
    config: Any = None,
    settings: PublishConfig | None = None,
    mixture: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> PublishedDataset:
    """Write the curated dataset as a local Hub-style dataset folder (Parquet configs + card + config).

    Args:
        folder: output folder; must be new or empty unless `overwrite` (then it must be a previous publish).
        kept: the curated traces (data contract columns + curation columns such as `correct`): the `sft` config.
        all_traces: every generated trace before filtering: the `all_traces` config (one row per problem).
        rejected: the rejected side output(s) of the stages (`rejected_stage`, `rejected_reason`): `rejected`.
        funnel: the run's funnel (table + plot in the card, `funnel.json`).
        provenance: teacher/prompt/sampling/sources/version/command (see `card.build_provenance`).
        decontamination: {"ngram_size", "rows_checked", "rows_flagged", "benchmarks": [{"name", "items",
            "rows_flagged"}]} or None when not run.
        config: the pipeline's configuration (dataclass or mapping), saved to `pipeline_config.yaml`.
        settings: splits, card metadata and shard size (`PublishConfig`); `overrides` replace single fields of it,
            e.g. `publish_local(folder, kept, test_size=0.1, seed=3)`.
        mixture: what a mixture's card shows of its sources (`publish.mixture.build_mixture`), else None.
    """
    folder = Path(folder)
    settings = dataclasses.replace(settings or PublishConfig(), **overrides)
    test_size, seed, repo_id = settings.test_size, settings.seed, settings.repo_id
    # Everything that can fail on bad input fails here, before a single file is written.
    if not isinstance(kept, Dataset):
        raise ContractError(f"publish: `kept` must be a datasets.Dataset, got {type(kept).__name__}")
    # Nothing kept: still a folder to inspect when there are rejected rows or traces (the card says why).
    nothing_kept = len(kept) == 0
    if nothing_kept and rejected is None and all_traces is None:
        raise EmptyDatasetError(empty_dataset_message(funnel))
    if repo_id is not None:
        from openr1_data.publish.hub import validate_repo_id

        validate_repo_id(repo_id)
    decontamination = validate_decontamination(decontamination)
    check_target(folder, settings.overwrite)

    main = PROBLEMS_CONFIG if settings.problems_only else SFT_CONFIG
    parts: dict[str, Dataset] = {}
    if not nothing_kept:
        if settings.final_from == "summary" and not settings.problems_only:
            from openr1_data.curate.summarize import final_from_summary

            kept = final_from_summary(kept)
        parts[main] = to_problems(kept) if settings.problems_only else to_sft(kept)
    if all_traces is not None:
        parts[ALL_TRACES_CONFIG] = to_all_traces(all_traces, kept)
    # Step-labelled traces: the prm config, from every trace (wrong steps are what a PRM learns from) when given.
    prm_source = next((d for d in (all_traces, kept) if has_step_labels(d)), None)
    if prm_source is not None and len(prm_rows := to_prm(prm_source)):
        parts[PRM_CONFIG] = prm_rows
    preference = None
    if settings.preference_pairs != NO_PAIRS and not nothing_kept and not settings.problems_only:
        pairs = to_preference(kept, all_traces, settings.preference_pairs)
        preference = {"rule": settings.preference_pairs, "pairs": len(pairs), "problems": _problems(pairs)}
        if len(pairs):
            parts[PREFERENCE_CONFIG] = pairs
    rejected_rows = to_rejected(rejected) if rejected is not None else None
    if rejected_rows is not None and len(rejected_rows):
        parts[REJECTED_CONFIG] = rejected_rows
    if not parts:
        raise EmptyDatasetError(empty_dataset_message(funnel))

    splits: dict[str, dict[str, Dataset]] = {}
    test_info = None
    if test_size:
        # One partition for every config: the prm config's problems too (some have no kept trace at all).
        test_problems = pick_test_problems(problem_ids([kept, parts.get(PRM_CONFIG)]), test_size, seed)
        test_info = {"test_size": test_size, "seed": seed, "test_problems": len(test_problems)}
        for name, ds in parts.items():
            # Rejected rows are an audit trail, not training data: they stay in one split.
            if name == REJECTED_CONFIG:
                splits[name] = {"train": ds}
            else:
                split = split_by_problem(ds, test_problems)
                splits[name] = {k: v for k, v in split.items() if len(v) or k == "train"}
    else:
        splits = {name: {"train": ds} for name, ds in parts.items()}

    remove_stale_copies(folder)  # hidden copies left by a killed earlier publish
    staging = folder.parent / f".{folder.name}.publishing-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        files = _write_folder(
            staging,
            splits=splits,
            kept=parts.get(main, kept),
            all_traces=all_traces,
            funnel=funnel,
            provenance=provenance,
            decontamination=decontamination,
            config=config,
            test_info=test_info,
            settings=settings,
            folder_label=str(folder),
            preference=preference,
            mixture=mixture,
        )
        replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PublishedDataset(
        folder=folder,
        configs={name: {s: len(d) for s, d in by_split.items()} for name, by_split in splits.items()},
        files=files,
    )


# How a kept row's correctness was established, by the parser of its prompt style.
JUDGED_BY = {
    "rlt": "final answer = the reference solution given to the teacher (correct by construction, not verified); "
    "the explanation passed the format checks, uses the solution's working numbers and does not state another "
    "answer",
    "code": "the extracted program ran against the problem's tests in the sandbox",
    "mcq": "the chosen letter matched the gold letter",
}
JUDGED_BY_DEFAULT = "final answer verified against the gold answer with math-verify"


def _judged_by(kept: Dataset) -> list[dict[str, Any]] | None:
    """Kept rows per domain and prompt style, with how each style's rows were judged (the card must not call an RLT row
    "verified": its answer was given)."""
    if "prompt_style" not in kept.column_names:
        return None
    from openr1_data.verdicts import parser_kind

    domains = kept["domain"] if "domain" in kept.column_names else ["math"] * len(kept)
    counts: dict[tuple[str, str], int] = {}
    for domain, style in zip(domains, kept["prompt_style"], strict=True):
        key = (domain or "math", style)
        counts[key] = counts.get(key, 0) + 1
    return [
        {"domain": d, "style": s, "rows": n, "how": JUDGED_BY.get(parser_kind(s), JUDGED_BY_DEFAULT)}
        for (d, s), n in sorted(counts.items())
    ]


def _problems(ds: Dataset) -> int:
    return len(arrow_column(ds, "problem_id").unique()) if len(ds) else 0


def _preference_card(preference: dict[str, Any] | None) -> dict[str, Any] | None:
    """The card's preference section: the rule, what it means, and how many pairs over how many problems."""
    if preference is None:
        return None
    return {**preference, "meaning": PAIR_RULES[preference["rule"]]}


def _pass_rate_table(kept: Dataset, splits: dict[str, dict[str, Dataset]]) -> list[dict[str, Any]] | None:
    """The pass-rate histogram of a problems-only dataset: kept problems and the rejected ones that have a rate."""
    if "pass_rate" not in kept.column_names:
        return None
    rejected = [d for d in splits.get(REJECTED_CONFIG, {}).values() if "pass_rate" in d.column_names]
    return cards.pass_rate_histogram(kept["pass_rate"], [r for d in rejected for r in d["pass_rate"]])


def _write_shards(ds: Dataset, root: Path, config: str, split: str, max_rows: int) -> str:
    """Write one split as Parquet shards named after their content; return the data-files pattern.

    Why the content fingerprint in the names: `datasets` caches a local folder under its name and its data-file
    patterns, so a folder re-published with different rows (or another folder with the same name) would load
    the old cached rows. A pattern that changes with the content gives every version its own cache entry, and
    the same content keeps the same names (a re-push of identical data stays a no-op).
    """
    paths = write_dataset(ds, root / "data" / config, name=split, max_rows=max_rows)
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    fingerprint = digest.hexdigest()[:12]
    for path in paths:
        path.rename(path.with_name(f"{split}-{fingerprint}-{path.name.removeprefix(split + '-')}"))
    return f"data/{config}/{split}-{fingerprint}-*.parquet"


def _write_folder(
    root: Path,
    *,
    splits: dict[str, dict[str, Dataset]],
    kept: Dataset,
    all_traces: Dataset | None,
    funnel: Funnel | None,
    provenance: Mapping[str, Any] | None,
    decontamination: dict[str, Any] | None,
    config: Any,
    test_info: dict[str, Any] | None,
    settings: PublishConfig,
    folder_label: str,
    preference: dict[str, Any] | None = None,
    mixture: Mapping[str, Any] | None = None,
) -> list[str]:
    patterns: dict[str, dict[str, str]] = {}
    for name, by_split in splits.items():
        for split, ds in by_split.items():
            patterns.setdefault(name, {})[split] = _write_shards(
                ds, root, name, split, settings.max_rows_per_shard
            )

    main = next(iter(splits))  # the default config: sft, or problems for a problems-only dataset
    kept_tokens = arrow_column(kept, "num_tokens").to_pylist() if "num_tokens" in kept.column_names else []
    all_tokens = arrow_column(all_traces, "completion_tokens").to_pylist() if all_traces is not None else None
    lengths = [("kept", cards.token_stats(kept_tokens))]
    if all_tokens is not None:
        lengths.append(("all generated", cards.token_stats(all_tokens)))
    lengths = [(name, st) for name, st in lengths if st is not None]
    cards.plot_lengths(kept_tokens, all_tokens, root / LENGTHS_PLOT)
    funnel_plot = None
    if funnel is not None and funnel.stages:
        cards.plot_funnel(funnel, root / FUNNEL_PLOT)
        funnel.save(root / FUNNEL_FILE)
        funnel_plot = FUNNEL_PLOT
    if decontamination is not None:
        (root / DECONTAMINATION_FILE).write_text(json.dumps(_plain(decontamination), indent=2) + "\n")

    prov = cards.provenance_context(provenance)
    pipeline_config = {
        "openr1_data_version": prov["version"],
        "command": prov["command"],
        "config": _plain(config) if config is not None else None,
        "provenance": _plain(provenance) if provenance else None,
        "publish": {
            "configs": {n: sorted(s) for n, s in splits.items()},
            "test_split": test_info,
            **({"preference": preference} if preference else {}),
            **({"mixture": _plain(mixture)} if mixture else {}),
        },
    }
    (root / CONFIG_FILE).write_text(
        redact(yaml.safe_dump(pipeline_config, sort_keys=False, allow_unicode=True))
    )

    rows = {name: {s: len(d) for s, d in by_split.items()} for name, by_split in splits.items()}
    teacher = prov["teacher_model"]
    n_problems = len(arrow_column(kept, "problem_id").unique())
    metadata = cards.card_metadata(
        configs=patterns,
        default_config=main,
        num_rows=sum(rows[main].values()),
        pretty_name=settings.pretty_name
        or (f"Reasoning traces from {teacher}" if teacher else "Reasoning traces"),
        license=settings.license,
        language=settings.language,
        tags=settings.tags,
    )
    context = {
        "metadata_yaml": metadata.to_yaml() + "\n",
        "pretty_name": metadata.pretty_name,
        "summary": settings.summary
        or (
            empty_dataset_message(funnel).split("\n")[0].replace("nothing to publish: ", "No rows survived: ")
            if not len(kept)
            else None
        )
        or (
            f"{len(kept):,} problems with gold answers and the pass rate of "
            + (f"`{teacher}`'s samples, for RL." if teacher else "the policy's samples, for RL.")
            if main == PROBLEMS_CONFIG
            else None
        )
        or (
            f"{len(kept):,} curated reasoning traces for {n_problems:,} problems"
            + (f", written by `{teacher}`" if teacher else "")
            + (f" with the `{prov['prompt_style']}` prompt style" if prov["prompt_style"] else "")
            + ", curated (how each row was judged is below)."
        ),
        "load_target": settings.repo_id or folder_label,
        "default_config": main,
        "configs": [
            {
                "name": name,
                "description": CONFIG_DESCRIPTIONS.get(name)
                or (
                    preference_description(preference["rule"], preference["pairs"])
                    if name == PREFERENCE_CONFIG and preference
                    else prm_description(by_split["train"])
                ),
                "splits": list(rows[name].items()),
                "columns": list(by_split["train"].column_names),
            }
            for name, by_split in splits.items()
        ],
        "test_split": test_info,
        "provenance": _plain(prov),
        "funnel": _plain(cards.funnel_rows(funnel)),
        "funnel_plot": funnel_plot,
        "costs": _plain(cost_table(funnel, settings, len(kept))),
        "decontamination": _plain(decontamination),
        "lengths": _plain(lengths),
        "judged_by": _judged_by(kept) if main == SFT_CONFIG else None,
        "pass_rates": _pass_rate_table(kept, splits) if main == PROBLEMS_CONFIG else None,
        "gold_audit": _plain(gold_audit_card(all_traces if all_traces is not None else kept)),
        "verifier_audit": _plain(verifier_audit_card(all_traces if all_traces is not None else kept)),
        "lengths_plot": LENGTHS_PLOT,
        "preference": _preference_card(preference),
        "mixture": _plain(mixture),
    }
    readme = cards.render_card(context, settings.template)
    (root / README).write_text(readme)
    saved = {
        "context": context,
        "template": settings.template,
        "readme_sha256": hashlib.sha256(readme.encode()).hexdigest(),
    }
    (root / CONTEXT_FILE).write_text(redact(json.dumps(saved, indent=1, sort_keys=True)) + "\n")
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
