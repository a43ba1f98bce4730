"""`openr1-data verify` and `openr1-data filter`: the curation stages on any dataset that follows the contract.

    openr1-data verify --traces outputs/gen --output outputs/verified [--verify_num_proc 8 --timeout_seconds 5]
    openr1-data filter --traces outputs/verified --output outputs/curated [--max_tokens 4096 --per_problem 1]

`--traces` is a local folder (Parquet shards or `save_to_disk`), a file, or a Hub dataset id. Outputs are folders of
Parquet shards. `filter` runs the format/quality filter and then selection (verifying first if the traces have no
`correct` column); rejected rows go to `<output>-rejected/<stage>/` (with `rejected_stage` and `rejected_reason`) and the
funnel (extended from the input folder's `funnel.json`, if any) to `<output>/funnel.json`.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from openr1_data.config import parse_config
from openr1_data.curate.filters import FilterConfig, filter_traces
from openr1_data.curate.selection import SelectionConfig, select_traces
from openr1_data.curate.verify import VerifyConfig, verify_summary, verify_traces
from openr1_data.funnel import Funnel
from openr1_data.io import read_dataset, write_dataset

FUNNEL_FILE = "funnel.json"


@dataclass
class CurateIOConfig:
    """Where the traces come from and where the results go."""

    traces: str = field(metadata={"help": "input traces: a local folder or file, or a Hub dataset id"})
    output: str = field(metadata={"help": "output folder (Parquet shards)"})
    rejected_output: str | None = field(
        default=None, metadata={"help": "folder for rejected rows (default: <output>-rejected)"}
    )
    traces_config: str | None = field(default=None, metadata={"help": "Hub dataset config name"})
    traces_split: str = field(default="train", metadata={"help": "split to read"})


def _input_funnel(source: str) -> Funnel:
    path = Path(source) / FUNNEL_FILE
    return Funnel.load(path) if path.is_file() else Funnel()


def _print_counts(title: str, counts: dict[str, int]) -> None:
    print(title)
    width = max(len(k) for k in counts)
    for key, value in counts.items():
        print(f"  {key:<{width}}  {value:>8}")


def verify_main(argv: list[str] | None = None) -> int:
    """`openr1-data verify`: add `correct` / `verify_error` to every trace and write them all."""
    io, config = parse_config([CurateIOConfig, VerifyConfig], argv)
    dataset = read_dataset(io.traces, config=io.traces_config, split=io.traces_split)
    verified = verify_traces(dataset, config)
    write_dataset(verified, io.output)
    funnel = Path(io.traces) / FUNNEL_FILE
    if funnel.is_file():  # carry the generation funnel along to the next stage
        shutil.copyfile(funnel, Path(io.output) / FUNNEL_FILE)
    counts = verify_summary(verified)
    (Path(io.output) / "verify_summary.json").write_text(json.dumps(counts, indent=2))
    _print_counts(f"verified {len(verified)} traces -> {io.output}", counts)
    return 0


def filter_main(argv: list[str] | None = None) -> int:
    """`openr1-data filter`: format/quality filter, then selection; kept and rejected rows plus the funnel."""
    io, filter_config, selection_config = parse_config([CurateIOConfig, FilterConfig, SelectionConfig], argv)
    dataset = read_dataset(io.traces, config=io.traces_config, split=io.traces_split)
    funnel = _input_funnel(io.traces)
    needs_verdicts = selection_config.keep == "correct" or selection_config.uses_pass_rate
    if needs_verdicts and "correct" not in dataset.column_names:
        print("traces have no 'correct' column: verifying them first (run `openr1-data verify` to tune it)")
        dataset = verify_traces(dataset, VerifyConfig())
    filtered = filter_traces(dataset, filter_config)
    funnel.add(filtered.stats)
    selected = select_traces(filtered.kept, selection_config)
    funnel.add(selected.stats)

    write_dataset(selected.kept, io.output)
    rejected_dir = io.rejected_output or f"{io.output.rstrip('/')}-rejected"
    # One subfolder per stage: each is a readable dataset (`read_dataset(<rejected>/filter)`).
    write_dataset(filtered.rejected, Path(rejected_dir) / "filter")
    write_dataset(selected.rejected, Path(rejected_dir) / "select")
    funnel.save(Path(io.output) / FUNNEL_FILE)
    print(funnel.table())
    print(f"kept {len(selected.kept)} traces -> {io.output}; rejected rows (with reasons) -> {rejected_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(filter_main())
