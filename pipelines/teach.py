"""Does the data teach? One problem source → a train / held-out split (decontaminated across) → the teacher
writes traces once → one training set per arm (`base`, `reference`, `uncurated`, `curated`, `rlt_best`,
`step_checked`) → the same student trained on each for the same steps and tokens, over several seeds → every
student evaluated on the held-out problems (greedy pass@1, maj@k and pass@k when k > 1, format compliance) → a
report with 95% intervals over seeds and problems that compares every pair of arms once and says plainly which
differences are detected and which are within noise, beside the smallest difference the design could detect.

Before any training it prints the teacher's pass rate, each arm's size and longest answer (warning when that does
not fit the evaluation's token budget) and the power statement; `--dry_run` stops there.

    # CPU (2 cores, about 40 minutes): SmolLM2-135M teaches itself on the bundled problems
    python pipelines/teach.py --config pipelines/recipes/teach_cpu.yaml
    # GPU: a 1.5B teacher on vLLM, a 0.5B student, the offline MATH-500 subset held out
    python pipelines/teach.py --config pipelines/recipes/teach_gpu.yaml
    # CPU, with the power to separate arms: a + b problems, 128 held out (see the recipe for its measured numbers)
    python pipelines/teach.py --config pipelines/recipes/teach_cpu_arith.yaml --dry_run

Rerun the same command after an interruption: generation resumes where it stopped, finished arm x seed runs are
skipped, and a run killed while training starts that run over. Nothing is tuned on the held-out problems.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from pathlib import Path

from openr1_data.cli import run_command
from openr1_data.config import parse_config
from openr1_data.curate.filters import FilterConfig
from openr1_data.curate.rlt_scoring import RLTRewardConfig
from openr1_data.curate.rlt_select import RLTSelectConfig
from openr1_data.curate.selection import SelectionConfig
from openr1_data.curate.verify import VerifyConfig
from openr1_data.dedup.duplicates import DedupConfig
from openr1_data.experiments.arms import CurationSettings, arm_summary, build_arms
from openr1_data.experiments.config import TeachConfig
from openr1_data.experiments.preflight import preflight_lines, teacher_pass_rate
from openr1_data.experiments.report import write_report
from openr1_data.experiments.runner import run_all
from openr1_data.experiments.settings import check_settings
from openr1_data.experiments.split import split_problems
from openr1_data.funnel import PipelineRecord
from openr1_data.generate.stage import GenerationConfig, generate_traces
from openr1_data.pipeline import curate_loaded_problems
from openr1_data.sources.problems import ProblemSourceConfig, load_problems
from openr1_data.teachers.threads import set_torch_threads

# The defaults of this pipeline live in its recipe only (read when no --config is given).
RECIPE = Path(__file__).resolve().parent / "recipes" / "teach_cpu.yaml"
CONFIGS = [ProblemSourceConfig, DedupConfig, GenerationConfig, VerifyConfig, FilterConfig, SelectionConfig,
           RLTRewardConfig, RLTSelectConfig, TeachConfig]  # fmt: skip


def main(argv: list[str]) -> int:
    configs = parse_config(CONFIGS, argv, default_recipe=RECIPE)
    problems_cfg, dedup_cfg, gen_cfg, verify_cfg, filter_cfg, select_cfg, reward_cfg, rlt_cfg, teach_cfg = (
        configs
    )
    folder = Path(teach_cfg.teach_dir)
    check_settings(folder, configs)  # a changed setting fails now, not after the arms that were already run
    set_torch_threads(
        gen_cfg.num_threads
    )  # chosen now, before our own work loads the machine; kept for every arm
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    run = PipelineRecord()

    problems, _ = curate_loaded_problems(run, load_problems(problems_cfg), dedup_cfg, None)
    split = split_problems(problems, folder / "split", teach_cfg.eval_size, teach_cfg.split_seed,
                           teach_cfg.train_size, teach_cfg.split_ngram_size)  # fmt: skip
    run.record(split.decontamination)
    print(f"\nSplit: {len(split.train)} training problems, {split.heldout_size} held out; "
          f"{split.train_flagged} training problems removed for sharing a {teach_cfg.split_ngram_size}-gram "
          "with a held-out one", flush=True)  # fmt: skip

    mark = time.perf_counter()
    generated = generate_traces(split.train, gen_cfg)
    traces = run.record(generated)
    seconds["generate"] = time.perf_counter() - mark
    print(f"\nGeneration\n{generated.report.table()}", flush=True)

    mark = time.perf_counter()
    curation = CurationSettings(
        verify_cfg, filter_cfg, select_cfg, reward_cfg, rlt_cfg, gen_cfg.teacher_model
    )
    arms = build_arms(
        teach_cfg.arms, split.train, traces, teach_cfg.question_style, folder / "arms", curation
    )
    teacher = teacher_pass_rate(traces, verify_cfg)
    preflight = preflight_lines(teach_cfg, arms, teacher, gen_cfg.num_generations, split.heldout_size)
    seconds["build arms"] = time.perf_counter() - mark
    print("\n" + "\n".join(preflight), flush=True)
    if teach_cfg.dry_run:
        print(f"\nDry run: nothing trained ({time.perf_counter() - started:.0f} s). Rerun without --dry_run to "
              "train: generation is reused.")  # fmt: skip
        return 0

    mark = time.perf_counter()
    print("\nTraining and evaluation", flush=True)
    run_all(arms, teach_cfg, split.heldout_file)
    seconds["train and evaluate"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started

    context = {
        "command": ["python", "pipelines/teach.py", *argv],
        "student": teach_cfg.student_model,
        "teacher": gen_cfg.teacher_model,
        "problems": problems_cfg.problems,
        "split": {
            "train": len(split.train),
            "heldout": split.heldout_size,
            "train_removed_by_decontamination": split.train_flagged,
            "ngram_size": teach_cfg.split_ngram_size,
            "seed": teach_cfg.split_seed,
        },  # fmt: skip
        "budget": {
            "steps": teach_cfg.train_steps,
            "rows_per_step": teach_cfg.train_rows_per_step,
            "tokens_per_row": teach_cfg.train_max_length,
            "learning_rate": teach_cfg.learning_rate,
            "equalised": "same steps x packed rows x tokens per row for every arm; a small arm repeats",
        },  # fmt: skip
        "teacher_pass_rate": {
            "traces": teacher.traces,
            "correct": teacher.correct,
            "problems": teacher.problems,
            "problems_solved": teacher.problems_solved,
        },  # fmt: skip
        "before_training": preflight,
        "evaluation": {
            "prompt_style": teach_cfg.eval_prompt_style,
            "train_question_style": teach_cfg.question_style,
            "max_new_tokens": teach_cfg.eval_max_new_tokens,
            "k": teach_cfg.eval_samples,
            "temperature_of_k": teach_cfg.eval_temperature,
        },  # fmt: skip
        "generation": {
            "prompt_styles": gen_cfg.prompt_styles,
            "num_generations": gen_cfg.num_generations,
            "temperature": gen_cfg.temperature,
            "max_new_tokens": gen_cfg.max_new_tokens,
            "thinking_budget": gen_cfg.thinking_budget,
            "forced_answer_tokens": gen_cfg.forced_answer_tokens,
            "traces": generated.report.planned,
        },  # fmt: skip
        "funnel": run.funnel.to_dict()["stages"],
        "seconds": {k: round(v) for k, v in seconds.items()},
        "configs": {type(c).__name__: asdict(c) for c in configs},
    }
    path, table = write_report(teach_cfg, arm_summary(arms), context)
    print(f"\n{table}\nReport: {path}  (finished in {seconds['total']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(run_command("pipelines/teach.py", main, sys.argv[1:]))
