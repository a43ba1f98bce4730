"""Quickstart: bundled problems → dedup → decontaminate → local SmolLM2 teacher (R1 and RLT styles) → verify →
filter → select → a curated dataset folder with its card.

    python pipelines/quickstart.py                      # the embedded defaults, a few minutes on 2 CPU cores
    python pipelines/quickstart.py --limit 16 --num_generations 4
    python pipelines/quickstart.py --push_to_hub my-user/quickstart-traces

Rerun the same command after an interruption: generation resumes where it stopped.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from openr1_data.cli import run_command
from openr1_data.config import parse_config
from openr1_data.curate.filters import FilterConfig
from openr1_data.curate.selection import SelectionConfig
from openr1_data.curate.verify import VerifyConfig
from openr1_data.dedup.decontaminate import DecontaminationConfig
from openr1_data.dedup.duplicates import DedupConfig
from openr1_data.funnel import PipelineRecord
from openr1_data.generate.stage import GenerationConfig, generate_traces
from openr1_data.pipeline import curate_problems, curate_traces
from openr1_data.publish import validate_repo_id
from openr1_data.publish.provenance import generation_provenance
from openr1_data.publish.run import OutputConfig, publish_run
from openr1_data.sources.problems import ProblemSourceConfig

# The defaults of this pipeline live in its recipe only (read when no --config is given).
RECIPE = Path(__file__).resolve().parent / "recipes" / "quickstart.yaml"
CONFIGS = [ProblemSourceConfig, DedupConfig, DecontaminationConfig, GenerationConfig, VerifyConfig, FilterConfig,
           SelectionConfig, OutputConfig]  # fmt: skip


def main(argv: list[str]) -> int:
    configs = parse_config(CONFIGS, argv, default_recipe=RECIPE)
    problems_cfg, dedup_cfg, decontam_cfg, gen_cfg, verify_cfg, filter_cfg, select_cfg, out_cfg = configs
    if out_cfg.push_to_hub:
        validate_repo_id(out_cfg.push_to_hub)  # a bad repo id fails now, not after generation
    started = time.perf_counter()
    run = PipelineRecord()

    problems, decontamination = curate_problems(run, problems_cfg, dedup_cfg, decontam_cfg)
    generated = generate_traces(problems, gen_cfg)
    all_traces, kept = curate_traces(run, run.record(generated), verify_cfg, filter_cfg, select_cfg)

    teacher = all_traces[0]["teacher"] if len(all_traces) else None
    code = publish_run(
        run, kept, all_traces, out_cfg,
        provenance=generation_provenance(gen_cfg, [problems_cfg.problems], teacher, command=["python", "pipelines/quickstart.py", *argv],
                                         selection=", then ".join(select_cfg.steps())),
        decontamination=decontamination, configs=configs, summary=generated.report,
    )  # fmt: skip
    print(f"\nQuickstart finished in {time.perf_counter() - started:.0f} s.")
    if code == 0:
        print(
            "Train a student on it:  python train/sft.py --config train/recipes/sft_smollm2_cpu.yaml "
            f"--dataset_name {out_cfg.dataset_dir}"
        )
    return code


if __name__ == "__main__":
    sys.exit(run_command("pipelines/quickstart.py", main, sys.argv[1:]))
