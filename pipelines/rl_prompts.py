"""A GRPO prompt set, the open-r1 way: problems → dedup → decontaminate → the policy samples k answers per problem
→ math-verify → keep the problems whose pass rate lies in [0.2, 0.8] (neither always solved nor never: they carry
learning signal) → a dataset with one row per problem: `problem`, `answer`, `pass_rate`, `num_correct`,
`num_samples` (config `problems`), and the problems outside the range in `rejected` with their reason.

    # GPU: the policy you will train, on vLLM
    python pipelines/rl_prompts.py --config pipelines/recipes/rl_prompts.yaml
    # CPU: bundled problems, the packaged SmolLM2 as the policy (a few minutes)
    python pipelines/rl_prompts.py --config pipelines/recipes/rl_prompts_cpu.yaml --limit 8
    # then train on it
    python train/grpo.py --config train/recipes/grpo_smollm2_cpu.yaml \\
        --dataset_name outputs/rl_prompts_cpu/dataset --dataset_config problems
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from openr1_data.cli import run_command
from openr1_data.config import parse_config
from openr1_data.curate.rl_problems import select_problems_by_pass_rate
from openr1_data.curate.selection import SelectionConfig
from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.dedup.decontaminate import DecontaminationConfig, check_benchmarks
from openr1_data.dedup.duplicates import DedupConfig
from openr1_data.funnel import PipelineRecord
from openr1_data.generate.served import TeacherServerConfig, served_teacher
from openr1_data.generate.stage import GenerationConfig, generate_traces
from openr1_data.pipeline import curate_problems
from openr1_data.publish import validate_repo_id
from openr1_data.publish.provenance import generation_provenance
from openr1_data.publish.run import OutputConfig, publish_run
from openr1_data.schema import ContractError
from openr1_data.sources.problems import ProblemSourceConfig, require_gold_answers

# The defaults of this pipeline live in its recipe only (read when no --config is given).
RECIPE = Path(__file__).resolve().parent / "recipes" / "rl_prompts.yaml"
CONFIGS = [ProblemSourceConfig, DedupConfig, DecontaminationConfig, GenerationConfig, TeacherServerConfig, VerifyConfig,
           SelectionConfig, OutputConfig]  # fmt: skip


def main(argv: list[str]) -> int:
    configs = parse_config(CONFIGS, argv, default_recipe=RECIPE)
    problems_cfg, dedup_cfg, decontam_cfg, gen_cfg, server_cfg, verify_cfg, select_cfg, out_cfg = configs
    if out_cfg.push_to_hub:
        validate_repo_id(out_cfg.push_to_hub)
    try:
        check_benchmarks(decontam_cfg)
    except ContractError as err:
        print(err, file=sys.stderr)
        return 2
    started = time.perf_counter()
    run = PipelineRecord()

    problems, decontamination = curate_problems(run, problems_cfg, dedup_cfg, decontam_cfg)
    problems = run.record(require_gold_answers(problems))  # no gold answer: nothing to measure against
    with served_teacher(gen_cfg, server_cfg) as served:  # None: the configured backend
        generated = generate_traces(problems, gen_cfg, served)
    verified = verify_traces(run.record(generated), verify_cfg).kept
    run.charge("verify")
    kept = run.record(select_problems_by_pass_rate(verified, select_cfg))

    policy = verified[0]["teacher"] if len(verified) else None
    provenance = generation_provenance(
        gen_cfg, [problems_cfg.problems], policy, command=["python", "pipelines/rl_prompts.py", *argv],
        pass_rate_range=f"[{select_cfg.pass_rate_low}, {select_cfg.pass_rate_high}]",
    )  # fmt: skip
    code = publish_run(
        run, kept, None, out_cfg, provenance=provenance, decontamination=decontamination, configs=configs,
        summary=generated.report, problems_only=True,
    )  # fmt: skip
    print(f"\nRL prompt set finished in {time.perf_counter() - started:.0f} s.")
    if code == 0:
        print(
            f"Train on it:  python train/grpo.py ... --dataset_name {out_cfg.dataset_dir} --dataset_config problems"
        )
    return code


if __name__ == "__main__":
    sys.exit(run_command("pipelines/rl_prompts.py", main, sys.argv[1:]))
