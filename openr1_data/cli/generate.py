"""`openr1-data generate`: problems → one trace per (problem, prompt style, sample) in a resumable stage folder.

    openr1-data generate --problems bundled --limit 8 --prompt_styles r1 rlt --output_dir outputs/gen

Rerun the same command after a crash or a kill: written traces are skipped.
"""

from __future__ import annotations

from pathlib import Path

from openr1_data.config import parse_config
from openr1_data.funnel import Funnel
from openr1_data.generate.stage import GenerationConfig, generate_traces, shard_folder
from openr1_data.io import REJECTED_DIR, write_dataset
from openr1_data.sources.problems import ProblemSourceConfig, load_problems


def main(argv: list[str]) -> int:
    """Entry point of `openr1-data generate`."""
    source, cfg = parse_config([ProblemSourceConfig, GenerationConfig], argv)
    loaded = load_problems(source)
    generated = generate_traces(loaded.kept, cfg, funnel=Funnel([loaded.stats]))
    write_dataset(loaded.rejected, Path(cfg.output_dir) / REJECTED_DIR / loaded.stats.stage)
    funnel = Funnel([loaded.stats, generated.stats])
    print(f"\nGeneration summary\n{generated.report.table()}\n\nFunnel\n{funnel.table()}")
    print(
        f"\nTraces: {shard_folder(cfg.output_dir)}  (next: openr1-data verify --input {cfg.output_dir} ...)"
    )
    return 0
