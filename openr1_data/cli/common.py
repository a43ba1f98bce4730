"""What every stage command shares: the input and output flags, and the stage-folder output.

Every stage command reads `--input` (a stage folder's kept rows, a file, a dataset folder or a Hub id) and writes
`--output_dir` in the one stage-folder layout (`openr1_data.io.write_stage_folder`): kept rows in `data/`,
`rejected/<stage>/`, `<stage>_report.json`, and `funnel.json` = the input's funnel plus this command's stages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset

from openr1_data.config import parse_config
from openr1_data.funnel import CostMeter, Funnel, StageResult, report_tokens
from openr1_data.io import FUNNEL_FILE, LINEAGE_FILE, LOCK_FILE, read_dataset, read_funnel, write_stage_folder
from openr1_data.lineage import make_record, read_record
from openr1_data.schema import ContractError
from openr1_data.secrets import redact_config


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
    overwrite: bool = field(
        default=False,
        metadata={
            "help": "replace an existing --output_dir written by another command or other settings (a rerun of "
            "the same command with the same settings replaces its own folder without it)"
        },
    )
    # Filled by `parse_stage`, recorded in the folder's lineage.json; not flags.
    command: str = field(default="", init=False, repr=False)
    argv: list[str] = field(default_factory=list, init=False, repr=False)
    settings: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    # The command's cost is measured from its parsing to its writing (`write_results`).
    meter: CostMeter = field(default_factory=CostMeter, init=False, repr=False)

    def __post_init__(self) -> None:
        check_output_outside_input(self.input, self.output_dir)

    def read(self) -> Dataset:
        """The input rows (only the kept rows of a stage folder)."""
        return read_dataset(self.input, config=self.input_config, split=self.input_split)

    def funnel(self) -> Funnel:
        """The input's funnel (empty unless the input is a stage folder), to extend with this command's stages."""
        return read_funnel(self.input)


def check_output_outside_input(source: str, output_dir: str, flag: str = "--input") -> None:
    """Refuse an output folder that is the input, lies inside it, or holds it: writing it would destroy the input."""
    inp, out = Path(source), Path(output_dir)
    if not inp.exists():
        return
    inp, out = inp.resolve(), out.resolve()
    if out == inp or out.is_relative_to(inp) or inp.is_relative_to(out):
        raise ContractError(
            f"--output_dir {output_dir} {'is' if out == inp else 'overlaps'} {flag} {source}: a stage never "
            "writes into its input. Choose a new --output_dir, e.g. a sibling folder."
        )


def parse_stage(command: str, dataclass_types: Sequence[type], argv: list[str]) -> tuple[Any, ...]:
    """Parse a stage command's flags (`StageIO` first, then `dataclass_types`) and claim its output folder.

    The settings and argv are kept on the `StageIO` for the folder's lineage.json. The output folder is checked
    before any work: it must be new, empty, this same command's earlier output with the same settings, or given
    with `--overwrite true` (and then be a stage folder: a folder of the user's own is never deleted)."""
    io, *configs = parse_config([StageIO, *dataclass_types], argv, prog=f"openr1-data {command}")
    io.command, io.argv = command, list(argv)
    io.settings = plain_settings(configs)
    claim_output_dir(io.output_dir, command, io.settings, io.overwrite)
    return (io, *configs)


def plain_settings(configs: Sequence[Any]) -> dict[str, Any]:
    """Config dataclasses as the JSON-plain, redacted mapping lineage.json holds (to compare reruns)."""
    settings = {type(c).__name__: asdict(c) for c in configs if is_dataclass(c) and not isinstance(c, type)}
    return json.loads(json.dumps(redact_config(settings), default=str))  # the form lineage.json holds


def claim_output_dir(output_dir: str, command: str, settings: dict[str, Any], overwrite: bool) -> None:
    """Refuse to replace a folder the user did not ask to replace (see `parse_stage`)."""
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise ContractError(f"--output_dir {output_dir} is a file; choose a folder path")
    if not out.is_dir() or not any(p.name != LOCK_FILE for p in out.iterdir()):
        return  # new, empty, or holding only the lock of a generation run killed before it wrote anything
    record = read_record(out)
    if record and record.get("command") == command and record.get("settings") == settings:
        return  # the same command with the same settings: its result replaces its own earlier one
    is_stage = record is not None or (out / FUNNEL_FILE).is_file() or (out / "data").is_dir()
    if overwrite and is_stage:
        return
    if overwrite:
        raise ContractError(
            f"--output_dir {output_dir} is not empty and is not a stage folder (no {FUNNEL_FILE} or "
            f"{LINEAGE_FILE}); refusing to delete it even with --overwrite. Choose a new or empty folder."
        )
    what = (
        f"the output of `openr1-data {record.get('command')}`"
        + (" with other settings" if record.get("command") == command else "")
        if record
        else "other files"
    )
    raise ContractError(
        f"--output_dir {output_dir} already holds {what}. Pass --overwrite true to replace it, or choose a new "
        "--output_dir."
    )


def write_results(
    io: StageIO,
    kept: Dataset,
    results: list[StageResult],
    reports: Mapping[str, dict] | None = None,
    funnel: Funnel | None = None,
) -> Funnel:
    """Write a command's stage folder: `kept`, one `rejected/<stage>/` per result, the reports, its lineage.json
    (the input and the command's settings) and the funnel."""
    funnel = funnel if funnel is not None else io.funnel()
    tokens_in = tokens_out = None
    for result in results:
        funnel.add(result.stats)
        tokens_in, tokens_out = (
            report_tokens(result.report) if tokens_out is None else (tokens_in, tokens_out)
        )
    if results:
        funnel.add_cost(io.meter.lap("+".join(r.stats.stage for r in results), tokens_in, tokens_out))
    rejected = {result.stats.stage: result.rejected for result in results}
    lineage = make_record(
        io.command,
        [result.stats.stage for result in results],
        io.input,
        argv=io.argv,
        settings=io.settings,
        config=io.input_config,
        split=io.input_split if io.input_split != "train" else None,
    )
    write_stage_folder(io.output_dir, kept, rejected, funnel, reports, lineage=lineage)
    return funnel


def print_counts(title: str, counts: Mapping[str, int]) -> None:
    """A title and an aligned `name  count` table."""
    print(title)
    width = max((len(k) for k in counts), default=0)
    for key, value in counts.items():
        print(f"  {key:<{width}}  {value:>8}")
