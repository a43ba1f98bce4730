"""What every stage command shares: the input and output flags, and the stage-folder output.

Every stage command reads `--input` (a stage folder's kept rows, a file, a dataset folder or a Hub id) and writes
`--output_dir` in the one stage-folder layout (`openr1_data.io.write_stage_folder`): kept rows in `data/`,
`rejected/<stage>/`, `<stage>_report.json`, and `funnel.json` = the input's funnel plus this command's stages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from datasets import Dataset

from openr1_data.funnel import Funnel, StageResult
from openr1_data.io import read_dataset, read_funnel, write_stage_folder


@dataclass
class StageIO:
    """Where a stage command reads its rows and writes its stage folder."""

    input: str = field(
        metadata={
            "help": "input rows: a stage folder written by another command (its kept rows), a .jsonl/.json/"
            ".parquet/.csv file, a dataset folder, or a Hub dataset id"
        }
    )
    output_dir: str = field(
        metadata={"help": "stage folder to write: data/, rejected/<stage>/, <stage>_report.json, funnel.json"}
    )
    input_config: str | None = field(default=None, metadata={"help": "Hub dataset config name of the input"})
    input_split: str = field(default="train", metadata={"help": "split of the input to read"})

    def read(self) -> Dataset:
        """The input rows (only the kept rows of a stage folder)."""
        return read_dataset(self.input, config=self.input_config, split=self.input_split)

    def funnel(self) -> Funnel:
        """The input's funnel (empty unless the input is a stage folder), to extend with this command's stages."""
        return read_funnel(self.input)


def write_results(
    io: StageIO,
    kept: Dataset,
    results: list[StageResult],
    reports: Mapping[str, dict] | None = None,
    funnel: Funnel | None = None,
) -> Funnel:
    """Write a command's stage folder: `kept`, one `rejected/<stage>/` per result, the reports and the funnel."""
    funnel = funnel if funnel is not None else io.funnel()
    for result in results:
        funnel.add(result.stats)
    rejected = {result.stats.stage: result.rejected for result in results}
    write_stage_folder(io.output_dir, kept, rejected, funnel, reports)
    return funnel


def print_counts(title: str, counts: Mapping[str, int]) -> None:
    """A title and an aligned `name  count` table."""
    print(title)
    width = max((len(k) for k in counts), default=0)
    for key, value in counts.items():
        print(f"  {key:<{width}}  {value:>8}")
