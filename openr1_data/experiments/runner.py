"""Train and evaluate every arm x seed, resumably: a finished run (its evaluation report written) is skipped, a
trained student not yet evaluated is evaluated, and a run killed while training starts that run over.

The budget is equal by construction: every arm trains the same student for `train_steps` optimizer steps of
`train_rows_per_step` packed rows of `train_max_length` tokens (TRL's best-fit packing), so every arm sees the same
number of tokens up to the packing fill. An arm's conversations are repeated (a fresh shuffle per repetition,
seeded) until they fill that budget: a small arm is seen several times, a large one partly.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import concatenate_datasets

from openr1_data.experiments.arms import ArmData
from openr1_data.experiments.config import TeachConfig
from openr1_data.experiments.split import HELDOUT
from openr1_data.io import read_dataset, write_dataset
from openr1_data.train.evaluation import EvalConfig, evaluate

logger = logging.getLogger(__name__)

TRAINED = "trained.json"  # written last by a finished training run


@dataclass
class RunPaths:
    """The folders of one arm x seed run."""

    root: Path

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def data(self) -> Path:
        return self.root / "train_data"

    @property
    def eval(self) -> Path:
        return self.root / "eval"

    @property
    def sampled_eval(self) -> Path:
        return self.root / "eval_sampled"


def run_paths(cfg: TeachConfig, arm: str, seed: int) -> RunPaths:
    return RunPaths(Path(cfg.teach_dir) / "runs" / arm / f"seed-{seed}")


def seeds_of(cfg: TeachConfig, arm: str) -> list[int]:
    """The untrained student is evaluated once: greedy decoding of one model gives one answer per item."""
    return [0] if arm == "base" and cfg.eval_samples == 1 else list(range(cfg.seeds))


def fill_budget(arm: ArmData, cfg: TeachConfig, seed: int, target: Path) -> Path:
    """The arm's conversations repeated (each repetition shuffled with the seed) to cover the step budget.

    The trainer itself starts another epoch when rows run out, so the count only has to be about right: it is
    estimated from characters (about 4 per token; 6 used, so the estimate errs towards more rows)."""
    assert arm.folder is not None
    data = read_dataset(arm.folder)
    chars = sum(len(m["content"]) for messages in data["messages"] for m in messages) / len(data)
    tokens_each = max(16.0, chars / 6)
    needed = cfg.train_steps * cfg.train_rows_per_step * cfg.train_max_length / tokens_each
    repeats = max(1, math.ceil(needed / len(data)))
    rng = random.Random(seed)
    parts = [data.select(rng.sample(range(len(data)), len(data))) for _ in range(repeats)]
    write_dataset(concatenate_datasets(parts), target)
    return target


WARMUP_MIN_STEPS = 100  # below this budget the run gets no warmup


def warmup_steps(train_steps: int) -> float:
    """A 10% warmup for budgets of `WARMUP_MIN_STEPS` steps or more, none below: transformers' warmup starts at a
    learning rate of 0, so with 10 steps a warmup of `0.1` spends the first step (a tenth of the budget) at lr 0."""
    return 0.1 if train_steps >= WARMUP_MIN_STEPS else 0


def sft_args(cfg: TeachConfig, seed: int, output_dir: Path) -> Any:
    """The trainer settings every arm gets: the step budget of packed rows, assistant-only loss, ChatML."""
    from openr1_data.train.configs import SFTConfig

    return SFTConfig(
        output_dir=str(output_dir),
        max_steps=cfg.train_steps,
        per_device_train_batch_size=cfg.train_rows_per_step,
        gradient_accumulation_steps=1,
        packing=True,
        max_length=cfg.train_max_length,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=warmup_steps(cfg.train_steps),
        chat_template="chatml",
        assistant_only_loss=True,
        seed=seed,
        data_seed=seed,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        bf16=False,
        use_cpu=cfg.train_device == "cpu",
        disable_tqdm=True,
    )


def train_run(arm: ArmData, cfg: TeachConfig, seed: int, paths: RunPaths) -> dict:
    """Train the student on the arm for the fixed budget; returns what the run saw (steps, tokens, loss)."""
    from trl import ModelConfig

    from openr1_data.train.configs import DataArguments
    from openr1_data.train.sft import train_sft

    shutil.rmtree(paths.model, ignore_errors=True)  # a run killed while training starts over
    data = fill_budget(arm, cfg, seed, paths.data)
    training_args = sft_args(cfg, seed, paths.model)
    model_args = ModelConfig(model_name_or_path=cfg.student_model, dtype=cfg.train_dtype)
    trainer = train_sft(DataArguments(dataset_name=str(data)), training_args, model_args)
    history = [h for h in trainer.state.log_history if "loss" in h]
    trained = {
        "arm": arm.arm,
        "seed": seed,
        "steps": trainer.state.global_step,
        "tokens": int(history[-1].get("num_tokens", 0)) if history else 0,
        "first_loss": history[0]["loss"] if history else None,
        "last_loss": history[-1]["loss"] if history else None,
        "conversations": arm.conversations,
    }
    tmp = paths.root / f"{TRAINED}.tmp"  # written whole or not at all: it marks the run as trained
    tmp.write_text(json.dumps(trained, indent=2))
    tmp.replace(paths.root / TRAINED)
    shutil.rmtree(paths.data, ignore_errors=True)
    return trained


def eval_config(
    cfg: TeachConfig, model: str, output_dir: Path, heldout: Path, sampled: bool, seed: int
) -> EvalConfig:
    """Greedy pass@1 (one answer per item), or k sampled answers for maj@k."""
    return EvalConfig(
        model=model,
        backend="transformers",
        benchmarks=[f"{HELDOUT}={heldout}"],
        num_samples=cfg.eval_samples if sampled else 1,
        prompt_style=cfg.eval_prompt_style,
        temperature=cfg.eval_temperature if sampled else 0.0,
        max_new_tokens=cfg.eval_max_new_tokens,
        seed=seed,
        batch_size=cfg.eval_batch_size,
        model_batch_size=cfg.eval_batch_size,
        device=cfg.train_device,
        output_dir=str(output_dir),
    )


def evaluated(paths: RunPaths, cfg: TeachConfig) -> bool:
    done = (paths.eval / "report.json").exists()
    return done and (cfg.eval_samples == 1 or (paths.sampled_eval / "report.json").exists())


def run_arm_seed(arm: ArmData, cfg: TeachConfig, seed: int, heldout: Path) -> str:
    """Train (unless base) and evaluate one arm x seed; returns what was done, for the progress log."""
    paths = run_paths(cfg, arm.arm, seed)
    if evaluated(paths, cfg):
        if arm.arm != "base" and not cfg.keep_models:  # killed between its report and the cleanup below
            shutil.rmtree(paths.model, ignore_errors=True)
        return "complete, skipped"
    paths.root.mkdir(parents=True, exist_ok=True)
    model = cfg.student_model
    if arm.arm != "base":
        if not (paths.root / TRAINED).exists():
            train_run(arm, cfg, seed, paths)
        model = str(paths.model)
    evaluate(eval_config(cfg, model, paths.eval, heldout, sampled=False, seed=seed))
    if cfg.eval_samples > 1:
        evaluate(eval_config(cfg, model, paths.sampled_eval, heldout, sampled=True, seed=seed))
    if arm.arm != "base" and not cfg.keep_models:
        shutil.rmtree(paths.model, ignore_errors=True)  # the report keeps what was measured
    return "trained and evaluated" if arm.arm != "base" else "evaluated"


def run_all(arms: list[ArmData], cfg: TeachConfig, heldout: Path) -> None:
    """Every arm x seed, seed by seed (seed 0 of every arm, then seed 1, ...), so a run stopped early has every
    arm at about the same number of seeds; one line per run (arms without data are reported, not run)."""
    for arm in arms:
        if arm.arm != "base" and arm.folder is None:
            print(
                f"  {arm.arm}: no training data ({arm.built_from}: 0 conversations), not trained", flush=True
            )
    runnable = [a for a in arms if a.arm == "base" or a.folder is not None]
    for seed in range(max((len(seeds_of(cfg, a.arm)) for a in runnable), default=0)):
        for arm in runnable:
            if seed in seeds_of(cfg, arm.arm):
                done = run_arm_seed(arm, cfg, seed, heldout)
                print(f"  {arm.arm} seed {seed}: {done}", flush=True)
