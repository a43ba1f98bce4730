"""`openr1-data import`: a public or local dataset of reasoning traces into a stage folder of traces.

    openr1-data import --input open-r1/OpenR1-Math-220k --input_config default --output_dir out/imported
    openr1-data import --input bespoke.jsonl --layout conversations --teacher DeepSeek-R1 --output_dir out/imported
    openr1-data verify --input out/imported --output_dir out/verified

One row per generation, parsed as generation parses its own traces; the dataset's own verdicts are kept beside
ours (`source_correct`, ...). Rerun the same command after a kill: the batches already written are skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from openr1_data.cli.common import StageIO, check_output_outside_input, claim_output_dir, plain_settings
from openr1_data.config import parse_config
from openr1_data.imports.stage import MANIFEST, STAGE, ImportConfig, import_traces
from openr1_data.lineage import make_record


def main(argv: list[str]) -> int:
    """Entry point of `openr1-data import`."""
    io, config = parse_config([StageIO, ImportConfig], argv, prog="openr1-data import")
    check_output_outside_input(io.input, io.output_dir)
    settings = plain_settings([config])
    out = Path(io.output_dir)
    if not (out / MANIFEST).is_file():  # an import folder resumes (its manifest refuses other settings)
        claim_output_dir(io.output_dir, STAGE, settings, io.overwrite)
    if io.overwrite and out.is_dir():
        shutil.rmtree(out)
    lineage = make_record(
        STAGE,
        [STAGE],
        io.input,
        argv=argv,
        settings=settings,
        config=io.input_config,
        split=io.input_split if io.input_split != "train" else None,
    )
    result = import_traces(io.read(), config, io.output_dir, funnel=io.funnel(), lineage=lineage)
    print(f"\nImport summary\n{result.report.table()}")
    print(
        f"\nkept {result.stats.rows_out} traces -> {io.output_dir} (rejected rows with reasons in rejected/{STAGE}/)"
        f"\n(next: openr1-data verify --input {io.output_dir} --output_dir ...)"
    )
    return 0
