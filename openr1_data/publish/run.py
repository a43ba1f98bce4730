"""Publishing what a pipeline made: where the dataset goes (`OutputConfig`) and the last step of every pipeline
(`publish_run`: summary, funnel, the local folder, an optional push)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from datasets import Dataset

from openr1_data.funnel import PipelineRecord
from openr1_data.generate.stage import GenerationSummary
from openr1_data.publish.cost import CostPrices
from openr1_data.publish.hub import push_to_hub
from openr1_data.publish.local import EmptyDatasetError, publish_local
from openr1_data.publish.preference import NO_PAIRS, check_pair_rule


@dataclass
class OutputConfig(CostPrices):
    """Where a pipeline's curated dataset goes, and the prices of its card's cost table."""

    dataset_dir: str = field(default="outputs/dataset", metadata={"help": "curated dataset folder"})
    overwrite: bool = field(
        default=False, metadata={"help": "replace a dataset folder written by an earlier run"}
    )
    push_to_hub: str | None = field(
        default=None, metadata={"help": "also push the dataset to this Hub repo id"}
    )
    private: bool = field(default=False, metadata={"help": "make the Hub repo private"})
    pretty_name: str | None = field(default=None, metadata={"help": "dataset title in the card"})
    preference_pairs: str = field(
        default=NO_PAIRS,
        metadata={
            "help": "also publish a `preference` config for DPO: correct_vs_incorrect, short_vs_long or none"
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_pair_rule(self.preference_pairs)
        # Before any work: a finished run's dataset is only replaced when asked (publishing would refuse at the end).
        folder = Path(self.dataset_dir)
        if folder.is_dir() and any(folder.iterdir()) and not self.overwrite:
            raise ValueError(
                f"--dataset_dir {folder} holds the dataset of an earlier run. Pass --overwrite true to rebuild it "
                "(finished generations are reused, nothing is generated twice), choose another --dataset_dir, or "
                f"push it as it is: openr1-data push {folder} USER/NAME"
            )


def publish_run(
    run: PipelineRecord,
    kept: Dataset,
    all_traces: Dataset | None,
    out_cfg: OutputConfig,
    *,
    provenance: dict,
    decontamination: dict | None,
    configs: Sequence[Any],
    summary: GenerationSummary | None = None,
    problems_only: bool = False,
) -> int:
    """Print the summary and funnel, publish locally (and to the Hub if asked); return the exit code.

    `problems_only`: `kept` holds one row per problem (a GRPO prompt set), published as the `problems` config.
    """
    if summary is not None:
        print(f"\nGeneration\n{summary.table()}")
    print(f"\nFunnel\n{run.funnel.table()}")
    try:
        published = publish_local(
            out_cfg.dataset_dir,
            kept,
            all_traces=all_traces,
            rejected=run.rejected,
            funnel=run.funnel,
            provenance=provenance,
            decontamination=decontamination,
            config={type(c).__name__: asdict(c) for c in configs},
            overwrite=out_cfg.overwrite,
            pretty_name=out_cfg.pretty_name,
            problems_only=problems_only,  # a PublishConfig field, overridden per call
            **{f.name: getattr(out_cfg, f.name) for f in fields(CostPrices)},
            preference_pairs=NO_PAIRS if problems_only else out_cfg.preference_pairs,
        )
    except EmptyDatasetError as err:
        print(f"\nNothing to publish: {err}", file=sys.stderr)
        return 1
    if out_cfg.push_to_hub:
        result = push_to_hub(published.folder, out_cfg.push_to_hub, private=out_cfg.private)
        print(f"Pushed to the Hub: {result}")
    folder = Path(published.folder)
    if not len(kept):
        print(
            f"\nNo row survived curation. {folder.resolve()} holds what was removed and why (configs: "
            f"{', '.join(published.configs)}); read them with `openr1-data show`, or loosen the stage that "
            "removed the last rows (the funnel above).",
            file=sys.stderr,
        )
    print(f"\n{len(kept)} curated rows in {folder.resolve()}")
    print(
        f"  open it:  datasets.load_dataset('{folder}', '{next(iter(published.configs))}')  (configs: {', '.join(published.configs)})"
    )
    print(f"  the card: {folder / 'README.md'}")
    return 0
