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
from dataclasses import dataclass, field

from openr1_data.config import parse_config
from openr1_data.curate.filters import FilterConfig
from openr1_data.curate.selection import SelectionConfig
from openr1_data.curate.verify import VerifyConfig
from openr1_data.dedup.decontaminate import DecontaminationConfig
from openr1_data.dedup.duplicates import DedupConfig
from openr1_data.funnel import PipelineRecord
from openr1_data.generate.stage import GenerationConfig, generate_traces
from openr1_data.pipeline import (
    OutputConfig,
    curate_problems,
    curate_traces,
    generation_provenance,
    publish_run,
)
from openr1_data.publish import validate_repo_id
from openr1_data.sources.problems import ProblemSourceConfig


@dataclass
class QuickstartProblems(ProblemSourceConfig):
    """Problems for the quickstart: the bundled set, small enough for a CPU."""

    limit: int | None = field(default=8, metadata={"help": "use only the first N problems"})


@dataclass
class QuickstartGeneration(GenerationConfig):
    """Generation for the quickstart: the packaged SmolLM2 in both styles, with budget forcing because a 135M
    model rarely closes its think block (or its RLT explanation) on its own."""

    output_dir: str = field(
        default="outputs/quickstart/generate", metadata={"help": "trace shards (resumable)"}
    )
    prompt_styles: list[str] = field(
        default_factory=lambda: ["r1_think", "rlt"], metadata={"help": "prompt styles"}
    )
    num_generations: int = field(default=2, metadata={"help": "samples per problem and style"})
    thinking_budget: int | None = field(default=160, metadata={"help": "tokens before the answer is forced"})
    force_unclosed_on_stop: bool = field(
        default=True, metadata={"help": "also force traces that stopped early"}
    )
    forced_answer_tokens: int = field(default=16, metadata={"help": "tokens to finish a forced answer"})


@dataclass
class QuickstartOutput(OutputConfig):
    """Where the curated dataset goes."""

    dataset_dir: str = field(
        default="outputs/quickstart/dataset", metadata={"help": "curated dataset folder"}
    )
    pretty_name: str | None = field(default="openr1-data quickstart traces", metadata={"help": "card title"})


def main(argv: list[str] | None = None) -> int:
    configs = parse_config(
        [QuickstartProblems, DedupConfig, DecontaminationConfig, QuickstartGeneration, VerifyConfig, FilterConfig,
         SelectionConfig, QuickstartOutput],
        argv,
    )  # fmt: skip
    problems_cfg, dedup_cfg, decontam_cfg, gen_cfg, verify_cfg, filter_cfg, select_cfg, out_cfg = configs
    if out_cfg.push_to_hub:
        validate_repo_id(out_cfg.push_to_hub)  # a bad repo id fails now, not after generation
    started = time.perf_counter()
    run = PipelineRecord()

    problems, decontamination = curate_problems(run, problems_cfg, dedup_cfg, decontam_cfg)
    generated, summary = generate_traces(problems, gen_cfg)
    all_traces, kept = curate_traces(run, run.record(generated), verify_cfg, filter_cfg, select_cfg)

    teacher = all_traces[0]["teacher"] if len(all_traces) else None
    code = publish_run(
        run, kept, all_traces, out_cfg,
        provenance=generation_provenance(gen_cfg, [problems_cfg.problems], teacher),
        decontamination=decontamination, configs=configs, summary=summary,
    )  # fmt: skip
    print(f"\nQuickstart finished in {time.perf_counter() - started:.0f} s.")
    if code == 0:
        print(
            "Train a student on it:  python train/sft.py --config train/recipes/sft_smollm2_cpu.yaml "
            f"--dataset_name {out_cfg.dataset_dir}"
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
