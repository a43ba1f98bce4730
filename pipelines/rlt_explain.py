"""RLT distillation data (Sakana AI, "Reinforcement Learning Teachers"): question + reference solution pairs →
the teacher writes K explanations per pair (the `rlt` prompt style: the solution is given, the teacher explains
it) → format filter → every explanation scored with the RLT reward by a student (log-likelihood of the solution
after the explanation, minus the teacher-student KL over the explanation) → the best explanation per pair kept
(best-of-K: no RL training of the teacher needed) → a dataset whose `sft` config trains a student on
think = explanation, answer = solution. `rlt_reward`, `rlt_solution_term` and `rlt_kl_term` are columns; the
explanations that lost are in the `rejected` config with `rlt_not_best`, and a best explanation whose reward is
below the recipe's floor (`--rlt_min_reward`) with `rlt_below_floor` (its pair keeps none).

    # GPU: Bespoke-Stratos-17k pairs (ShareGPT `conversations`), a 7B teacher on vLLM, a 1.5B student scoring
    python pipelines/rlt_explain.py --config pipelines/recipes/rlt_explain.yaml
    # CPU: bundled problems with the packaged SmolLM2 as teacher and student (a few minutes)
    python pipelines/rlt_explain.py --config pipelines/recipes/rlt_explain_cpu.yaml --limit 4

Pair layouts: problem/solution, question/answer, ShareGPT `conversations`, chat `messages`, or any two columns
(`--problem_column Q --solution_column S`); see openr1_data/sources/layouts.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from openr1_data.cli import run_command
from openr1_data.config import parse_config
from openr1_data.curate.filters import FilterConfig, filter_traces
from openr1_data.curate.rlt_scoring import RLTRewardConfig
from openr1_data.curate.rlt_select import RLTSelectConfig, build_scorer, select_best_explanations
from openr1_data.dedup.decontaminate import DecontaminationConfig, check_benchmarks
from openr1_data.dedup.duplicates import DedupConfig
from openr1_data.funnel import PipelineRecord
from openr1_data.generate.served import TeacherServerConfig, served_teacher
from openr1_data.generate.stage import GenerationConfig, generate_traces
from openr1_data.pipeline import curate_loaded_problems
from openr1_data.publish import validate_repo_id
from openr1_data.publish.provenance import generation_provenance
from openr1_data.publish.run import OutputConfig, publish_run
from openr1_data.schema import ContractError
from openr1_data.sources.layouts import PairSourceConfig, load_pairs

# The defaults of this pipeline live in its recipe only (read when no --config is given).
RECIPE = Path(__file__).resolve().parent / "recipes" / "rlt_explain.yaml"
CONFIGS = [PairSourceConfig, DedupConfig, DecontaminationConfig, GenerationConfig, TeacherServerConfig, FilterConfig,
           RLTRewardConfig, RLTSelectConfig, OutputConfig]  # fmt: skip


def main(argv: list[str]) -> int:
    configs = parse_config(CONFIGS, argv, default_recipe=RECIPE)
    pairs_cfg, dedup_cfg, decontam_cfg, gen_cfg, server_cfg, filter_cfg, reward_cfg, select_cfg, out_cfg = configs  # fmt: skip
    if out_cfg.push_to_hub:
        validate_repo_id(out_cfg.push_to_hub)
    try:
        check_benchmarks(decontam_cfg)
        loaded = load_pairs(pairs_cfg)  # an unknown layout fails here, before any model is loaded
    except ContractError as err:
        print(err, file=sys.stderr)
        return 2
    started = time.perf_counter()
    run = PipelineRecord()
    teacher_model = gen_cfg.teacher_model  # the scorer loads it by this name, even when it is served

    problems, decontamination = curate_loaded_problems(run, loaded, dedup_cfg, decontam_cfg)
    with served_teacher(gen_cfg, server_cfg) as served:  # None: the configured backend
        generated = generate_traces(problems, gen_cfg, served)
    traces = run.record(generated)
    kept = run.record(filter_traces(traces, filter_cfg))
    scorer = build_scorer(reward_cfg, select_cfg, teacher_model)
    kept = run.record(
        select_best_explanations(
            kept, scorer, chunk=select_cfg.rlt_score_chunk, min_reward=select_cfg.rlt_min_reward
        )
    )

    teacher = traces[0]["teacher"] if len(traces) else None
    selection = (
        f"best of {gen_cfg.num_generations} by the RLT reward of student {reward_cfg.rlt_student_model}"
    )
    if select_cfg.rlt_min_reward is not None:
        selection += f", kept only at a reward of at least {select_cfg.rlt_min_reward:g}"
    provenance = generation_provenance(
        gen_cfg, [pairs_cfg.problems], teacher, command=["python", "pipelines/rlt_explain.py", *argv],
        selection=selection,
    )  # fmt: skip
    code = publish_run(
        run, kept, traces, out_cfg, provenance=provenance, decontamination=decontamination, configs=configs,
        summary=generated.report,
    )  # fmt: skip
    print(f"\nRLT explanations finished in {time.perf_counter() - started:.0f} s.")
    return code


if __name__ == "__main__":
    sys.exit(run_command("pipelines/rlt_explain.py", main, sys.argv[1:]))
