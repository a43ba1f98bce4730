"""`openr1-data dedup` and `openr1-data decontaminate`: the two stages on any dataset.

    openr1-data dedup --dataset data.jsonl --output_dir out/dedup [--dedup_mode exact|near|both]
    openr1-data decontaminate --dataset out/dedup/kept --output_dir out/decontam --benchmarks aime_2024 math_500

The dataset is a local file, a local folder or a Hub id (`openr1_data.io.read_dataset`). Each command writes
`kept/` and `rejected/` (Parquet shards, rejected rows with their reason and what they match), `funnel.json` and a
JSON report, and prints the funnel table. Both take `--config recipe.yaml` plus flag overrides. `dedup` adds the
contract's `problem_id` when the dataset has none, so `duplicate_of_id` identifies the kept row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from datasets import Value

from openr1_data.config import parse_config
from openr1_data.dedup.decontaminate import DecontaminationConfig, decontaminate, format_report
from openr1_data.dedup.duplicates import DedupConfig, DedupResult, dedup_exact, dedup_near
from openr1_data.funnel import Funnel
from openr1_data.io import read_dataset, write_dataset
from openr1_data.schema import PROBLEM, PROBLEM_ID, make_problem_id


@dataclass
class DatasetArgs:
    """Which dataset to read and where to write the results."""

    dataset: str = field(
        metadata={"help": "local file (.jsonl/.json/.parquet/.csv), local folder, or Hub id"}
    )
    output_dir: str = field(metadata={"help": "folder for kept/, rejected/, funnel.json and the report"})
    dataset_config: str | None = field(default=None, metadata={"help": "Hub dataset config name"})
    split: str = field(default="train", metadata={"help": "split to read"})


@dataclass
class DedupModeArgs:
    dedup_mode: str = field(
        default="both", metadata={"help": "exact, near, or both (exact first, then near on what remains)"}
    )


def _write(out: Path, kept, rejected_by_stage: dict, funnel: Funnel, report_name: str, report: dict) -> None:
    write_dataset(kept, out / "kept")
    for stage, rejected in rejected_by_stage.items():
        write_dataset(rejected, out / "rejected", name=stage)
    funnel.save(out / "funnel.json")
    (out / report_name).write_text(json.dumps(report, indent=2))


def dedup_main(argv: list[str] | None = None) -> int:
    """Entry point of `openr1-data dedup`."""
    args, mode, config = parse_config([DatasetArgs, DedupModeArgs, DedupConfig], argv)
    if mode.dedup_mode not in ("exact", "near", "both"):
        raise SystemExit(f"--dedup_mode must be exact, near or both, got {mode.dedup_mode!r}")
    data = read_dataset(args.dataset, config=args.dataset_config, split=args.split)
    if PROBLEM in data.column_names and PROBLEM_ID not in data.column_names:
        # The contract's stable id, so `duplicate_of_id` names the kept row in every stage's side output.
        ids = [make_problem_id(p) if isinstance(p, str) and p.strip() else None for p in data[PROBLEM]]
        data = data.add_column(PROBLEM_ID, ids, feature=Value("string"))
    funnel = Funnel()
    rejected: dict = {}
    reports: list[dict] = []
    results: list[DedupResult] = []
    if mode.dedup_mode in ("exact", "both"):
        results.append(dedup_exact(data, config))
        data = results[-1].kept
    if mode.dedup_mode in ("near", "both"):
        results.append(dedup_near(data, config))
        data = results[-1].kept
    for result in results:
        funnel.add(result.stats)
        rejected[result.stats.stage] = result.rejected
        reports.append(result.report.to_dict())
    out = Path(args.output_dir)
    _write(out, data, rejected, funnel, "dedup_report.json", {"stages": reports})
    print(funnel.table())
    for r in reports:
        extra = (
            f", {r['candidate_pairs']} candidate pairs, {r['verified_pairs']} verified" if r["params"] else ""
        )
        print(
            f"{r['stage']}: {r['duplicates']} duplicates in {r['clusters']} clusters; "
            f"{r['rows_empty']} rows without text kept{extra}"
        )
    print(f"wrote {out}/kept, {out}/rejected, {out}/funnel.json, {out}/dedup_report.json")
    return 0


def decontaminate_main(argv: list[str] | None = None) -> int:
    """Entry point of `openr1-data decontaminate`."""
    args, config = parse_config([DatasetArgs, DecontaminationConfig], argv)
    data = read_dataset(args.dataset, config=args.dataset_config, split=args.split)
    result = decontaminate(data, config)
    funnel = Funnel()
    funnel.add(result.stats)
    out = Path(args.output_dir)
    _write(
        out,
        result.kept,
        {result.stats.stage: result.rejected},
        funnel,
        "decontamination_report.json",
        result.report.to_dict(),
    )
    print(funnel.table())
    print(format_report(result.report))
    print(f"wrote {out}/kept, {out}/rejected, {out}/funnel.json, {out}/decontamination_report.json")
    return 0
