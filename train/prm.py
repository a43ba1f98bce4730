"""Train a process reward model (PRM) on step-labelled traces: a causal LM with a token-classification head that
scores the last token of each reasoning step (`openr1_data/train/prm.py`, on `transformers.Trainer`).

Data: the `prm` config publishing writes (TRL's stepwise supervision: prompt, completions = steps, labels = one
bool per step), from a local folder or the Hub. Evaluation reports step-level accuracy and F1 on the `test` split,
or on a share of the problems held out (`--test_split_size`).

    python train/prm.py --config train/recipes/prm_tiny_cpu.yaml --model_name_or_path smollm2
    python train/prm.py --config train/recipes/prm_tiny_cpu.yaml --max_steps 10 --output_dir /tmp/prm
    accelerate launch train/prm.py --config my_gpu_recipe.yaml   # GPUs
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from transformers import AutoTokenizer, set_seed
from trl import ModelConfig

from openr1_data.cli import run_command
from openr1_data.config import parse_config
from openr1_data.teachers.threads import set_torch_threads
from openr1_data.train.prm import (
    PRMConfig,
    PRMDataArguments,
    build_prm_trainer,
    load_prm_data,
    load_prm_model,
)
from openr1_data.train.setup import resolve_model_path, save_and_push, torch_cuda_available

logger = logging.getLogger("openr1_data.train.prm")


def main(data_args: PRMDataArguments, training_args: PRMConfig, model_args: ModelConfig):
    """Train, evaluate (step accuracy / F1), save (model, tokenizer, card, `prm_eval.json`) and optionally push;
    return the trainer (its log history is the loss curve)."""
    set_seed(training_args.seed)
    if not torch_cuda_available():
        set_torch_threads(training_args.num_threads)
    if not model_args.model_name_or_path:
        raise ValueError("no model: pass --model_name_or_path (a local folder, a Hub id, or `smollm2`)")
    model_path = resolve_model_path(model_args.model_name_or_path)
    train, evaluation = load_prm_data(data_args)
    logger.info("training a PRM on %d traces (%s eval)", len(train), len(evaluation) if evaluation else "no")

    tokenizer = AutoTokenizer.from_pretrained(model_path, revision=model_args.model_revision)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = load_prm_model(
        model_path,
        tokenizer,
        training_args,
        revision=model_args.model_revision,
        dtype=model_args.dtype,
    )
    if evaluation is not None and training_args.eval_strategy == "no":
        training_args.eval_strategy = (
            "epoch"  # the held-out steps are the point of a PRM run: always report them
        )
    trainer = build_prm_trainer(model, tokenizer, training_args, train, evaluation)
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    if evaluation is not None:
        metrics = trainer.evaluate()
        logger.info("held-out steps: %s", metrics)
        out = Path(training_args.output_dir or ".")
        out.mkdir(parents=True, exist_ok=True)
        (out / "prm_eval.json").write_text(json.dumps(metrics, indent=2) + "\n")
    save_and_push(
        trainer,
        training_args,
        data_args.dataset_name,
        tags=["prm"],
        base_model=model_args.model_name_or_path,
        card_template=data_args.model_card_template,
    )
    logger.info("PRM saved to %s", training_args.output_dir)
    return trainer


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)

    def run(argv: list[str]) -> int:
        main(*parse_config((PRMDataArguments, PRMConfig, ModelConfig), argv))
        return 0

    sys.exit(run_command("train/prm.py", run, sys.argv[1:]))
