"""GRPO with TRL's `GRPOTrainer` on problems with gold answers (open-r1 style).

Prompts use the same prompt style as generation (`--prompt_style r1`; `rlt` trains an RLT teacher on question +
solution prompts); extra dataset columns (answer, solution, ...) reach the rewards, which come by name from the
shared registry (`--reward_funcs accuracy format tag_count`, weights with `--reward_weights`), plus `rlt`, the RLT
teacher reward scored by a student model. `--use_vllm true` (server or colocate mode) for GPU machines;
`--chat_template chatml` for a template that does not pre-fill `<think>` (so format rewards can score).

    python train/grpo.py --config train/recipes/grpo_smollm2_cpu.yaml
    python train/grpo.py --config train/recipes/rlt_teacher_smollm2_cpu.yaml
    accelerate launch train/grpo.py --config train/recipes/grpo_qwen2.5_1.5b_vllm.yaml   # GPUs + vLLM
"""

from __future__ import annotations

import logging
import sys

from transformers import set_seed
from trl import GRPOTrainer, ModelConfig, get_peft_config

from openr1_data.cli import run_command
from openr1_data.config import parse_config
from openr1_data.curate.rlt_scoring import RLTReward, RLTRewardConfig
from openr1_data.funnel import PipelineRecord
from openr1_data.io import write_dataset
from openr1_data.train.chat_template import load_tokenizer, prepare_tokenizer
from openr1_data.train.configs import GRPOConfig, GRPOScriptArguments
from openr1_data.train.data import (
    GRPO_CONFIGS,
    build_grpo_prompts,
    load_training_data,
    trained_config,
    warn_think_prefill,
)
from openr1_data.train.rewards import build_reward_funcs, check_reward_names, parse_params
from openr1_data.train.setup import check_vllm, save_and_push, set_model_init_kwargs

logger = logging.getLogger("openr1_data.train.grpo")


def main(
    script_args: GRPOScriptArguments,
    training_args: GRPOConfig,
    model_args: ModelConfig,
    rlt_args: RLTRewardConfig | None = None,
) -> GRPOTrainer:
    """Train, save (model, tokenizer, card) and optionally push; return the trainer (metrics in its log history)."""
    check_reward_names(script_args.reward_funcs)
    check_vllm(training_args)
    set_seed(training_args.seed)
    model_path = set_model_init_kwargs(model_args, training_args)

    tokenizer = load_tokenizer(model_path, model_args.model_revision, training_args.trust_remote_code)
    eos = prepare_tokenizer(tokenizer, chat_template=training_args.chat_template, check_think=False)
    if eos:  # generation stops at the template's end of turn (TRL stops on the tokenizer's EOS)
        tokenizer.eos_token = eos
    warn_think_prefill(tokenizer, script_args.reward_funcs)

    record = PipelineRecord()
    raw, _ = load_training_data(script_args, None, ("problems", "sft", "default"), training_args.seed)
    train_dataset = build_grpo_prompts(
        raw,
        prompt_style=script_args.prompt_style,
        tokenizer=tokenizer,
        problem_column=script_args.problem_column,
        answer_column=script_args.answer_column,
        solution_column=script_args.solution_column,
        record=record,
    )
    logger.info("GRPO prompts\n%s", record.funnel.table())
    for (
        rejected
    ) in record.rejected:  # nothing dropped silently: the rows GRPO will not see, with their reason
        stage = rejected[0]["rejected_stage"]
        write_dataset(rejected, f"{training_args.output_dir}/rejected_prompts", name=stage)

    reward_funcs = build_reward_funcs(
        script_args.reward_funcs,
        parse_params(script_args.reward_params),
        rlt_args or RLTRewardConfig(),
        prompt_style=script_args.prompt_style,
        max_completion_length=training_args.max_completion_length,
    )
    trainer = GRPOTrainer(
        model=model_path,
        reward_funcs=reward_funcs,
        args=training_args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    for func in reward_funcs:  # the RLT teacher is the policy being trained
        if isinstance(func, RLTReward):
            func.bind_teacher(trainer.accelerator.unwrap_model(trainer.model), tokenizer)

    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    save_and_push(
        trainer,
        training_args,
        script_args.dataset_name,
        tags=["grpo"],
        base_model=model_args.model_name_or_path,
        dataset_config=trained_config(script_args, GRPO_CONFIGS),
        rewards=list(
            zip(
                script_args.reward_funcs,
                training_args.reward_weights or [1.0] * len(reward_funcs),
                strict=False,
            )
        ),
        card_template=script_args.model_card_template,
    )
    logger.info("model saved to %s", training_args.output_dir)
    return trainer


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)

    def run(argv: list[str]) -> int:
        main(*parse_config((GRPOScriptArguments, GRPOConfig, ModelConfig, RLTRewardConfig), argv))
        return 0

    sys.exit(run_command("train/grpo.py", run, sys.argv[1:]))
