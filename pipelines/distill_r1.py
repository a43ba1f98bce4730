"""R1 distillation, the OpenR1-Math recipe: problems → dedup → decontaminate (AIME 2024/2025, MATH-500, GPQA) →
a teacher writes 4 reasoning traces per problem → math-verify → format filters → a curated dataset with its card
(`sft`: one row per correct trace, `all_traces`: one row per problem with every generation, `rejected`).

    # GPU: the teacher on vLLM (pip install 'openr1-data[vllm]')
    python pipelines/distill_r1.py --config pipelines/recipes/distill_r1.yaml
    # or any OpenAI-compatible server (vllm serve, SGLang, TGI, a hosted API)
    python pipelines/distill_r1.py --config pipelines/recipes/distill_r1.yaml --teacher_backend openai \\
        --base_url http://127.0.0.1:8000/v1
    # CPU: `transformers serve` runs the packaged SmolLM2 as the teacher server (a few minutes)
    python pipelines/distill_r1.py --config pipelines/recipes/distill_r1_cpu.yaml --limit 4

Rerun the same command after an interruption: generation resumes where it stopped.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from openr1_data.cli import run_command
from openr1_data.config import parse_config
from openr1_data.curate.filters import FilterConfig
from openr1_data.curate.llm_judge import JudgeConfig
from openr1_data.curate.selection import SelectionConfig
from openr1_data.curate.verify import VerifyConfig
from openr1_data.dedup.decontaminate import DecontaminationConfig, check_benchmarks
from openr1_data.dedup.duplicates import DedupConfig
from openr1_data.funnel import PipelineRecord
from openr1_data.generate.served import TeacherServerConfig, served_teacher
from openr1_data.generate.stage import GenerationConfig, generate_traces
from openr1_data.pipeline import curate_problems, curate_traces
from openr1_data.publish import validate_repo_id
from openr1_data.publish.provenance import generation_provenance
from openr1_data.publish.run import OutputConfig, publish_run
from openr1_data.schema import ContractError
from openr1_data.sources.problems import ProblemSourceConfig

# The defaults of this pipeline live in its recipe only (read when no --config is given).
RECIPE = Path(__file__).resolve().parent / "recipes" / "distill_r1.yaml"
CONFIGS = [ProblemSourceConfig, DedupConfig, DecontaminationConfig, GenerationConfig, TeacherServerConfig,
           VerifyConfig, JudgeConfig, FilterConfig, SelectionConfig, OutputConfig]  # fmt: skip


def main(argv: list[str]) -> int:
    configs = parse_config(CONFIGS, argv, default_recipe=RECIPE)
    problems_cfg, dedup_cfg, decontam_cfg, gen_cfg, server_cfg, verify_cfg, judge_cfg, filter_cfg, select_cfg, out_cfg = configs  # fmt: skip
    if out_cfg.push_to_hub:
        validate_repo_id(out_cfg.push_to_hub)  # a bad repo id fails now, not after generation
    try:
        check_benchmarks(decontam_cfg)  # e.g. gpqa_diamond offline: say so before any compute
    except ContractError as err:
        print(err, file=sys.stderr)
        return 2
    started = time.perf_counter()
    run = PipelineRecord()

    problems, decontamination = curate_problems(run, problems_cfg, dedup_cfg, decontam_cfg)
    with served_teacher(gen_cfg, server_cfg) as served:  # None: the configured backend
        generated = generate_traces(problems, gen_cfg, served)
    all_traces, kept = curate_traces(
        run, run.record(generated), verify_cfg, filter_cfg, select_cfg, judge_cfg
    )

    teacher = all_traces[0]["teacher"] if len(all_traces) else None
    code = publish_run(
        run, kept, all_traces, out_cfg,
        provenance=generation_provenance(gen_cfg, [problems_cfg.problems], teacher, command=["python", "pipelines/distill_r1.py", *argv],
                                         selection=", then ".join(select_cfg.steps())),
        decontamination=decontamination, configs=configs, summary=generated.report,
    )  # fmt: skip
    print(f"\nR1 distillation finished in {time.perf_counter() - started:.0f} s.")
    return code


if __name__ == "__main__":
    sys.exit(run_command("pipelines/distill_r1.py", main, sys.argv[1:]))
