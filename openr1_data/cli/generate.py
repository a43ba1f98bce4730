"""`openr1-data generate`: problems → one trace per (problem, prompt style, sample) in a resumable stage folder.

    openr1-data generate --problems bundled --limit 8 --prompt_styles r1 rlt --output_dir outputs/gen
    openr1-data generate --problems out/pclean --output_dir out/gen     # problems curated by dedup/decontaminate

Rerun the same command after a crash or a kill: written traces are skipped. Problems read from a stage folder
carry its funnel forward (the dedup and decontamination lines stay in the chain), and the folder's lineage.json
records where the problems came from.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from openr1_data.cli.common import check_output_outside_input, claim_output_dir, plain_settings
from openr1_data.config import parse_config
from openr1_data.funnel import Funnel
from openr1_data.generate.stage import MANIFEST, GenerationConfig, generate_traces, shard_folder
from openr1_data.io import REJECTED_DIR, is_stage_folder, read_funnel, write_dataset
from openr1_data.lineage import make_record
from openr1_data.sources.problems import ProblemSourceConfig, load_problems


@dataclass
class GenerateOutputArgs:
    """What `openr1-data generate` may do to an existing --output_dir."""

    overwrite: bool = field(
        default=False,
        metadata={
            "help": "delete an existing --output_dir that is not this run's resumable folder (another stage's "
            "output, or traces of other settings) and start over"
        },
    )


def main(argv: list[str]) -> int:
    """Entry point of `openr1-data generate`."""
    source, cfg, output = parse_config(
        [ProblemSourceConfig, GenerationConfig, GenerateOutputArgs], argv, prog="openr1-data generate"
    )
    check_output_outside_input(source.problems, cfg.output_dir, flag="--problems")
    settings = plain_settings([source, cfg])
    out = Path(cfg.output_dir)
    if not (out / MANIFEST).is_file():  # a generation folder resumes (its manifest refuses other settings)
        claim_output_dir(cfg.output_dir, "generate", settings, output.overwrite)
    if output.overwrite and out.is_dir():
        shutil.rmtree(out)
    loaded = load_problems(source)
    upstream = read_funnel(source.problems) if is_stage_folder(source.problems) else Funnel()
    lineage = make_record(
        "generate",
        [loaded.stats.stage, "generate"],
        source.problems,
        argv=argv,
        settings=settings,
        config=source.problems_config,
    )
    generated = generate_traces(
        loaded.kept, cfg, funnel=Funnel([*upstream.stages, loaded.stats]), lineage=lineage
    )
    write_dataset(loaded.rejected, Path(cfg.output_dir) / REJECTED_DIR / loaded.stats.stage)
    funnel = Funnel([*upstream.stages, loaded.stats, generated.stats])
    print(f"\nGeneration summary\n{generated.report.table()}\n\nFunnel\n{funnel.table()}")
    print(
        f"\nTraces: {shard_folder(cfg.output_dir)}  (next: openr1-data verify --input {cfg.output_dir} ...)"
    )
    return 0
