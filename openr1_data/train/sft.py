"""Supervised fine-tuning of a student with TRL's `SFTTrainer` (open-r1 style): the one implementation that
`train/sft.py` and the teach experiment (`openr1_data.experiments`) both run.

The chat template keeps `<think>` blocks, the EOS token is the template's end-of-turn token (so the student learns
to stop), and `assistant_only_loss` needs a template with `{% generation %}` markers (`chat_template: chatml`).
"""

from __future__ import annotations

import logging
from typing import Any

from openr1_data.train.chat_template import load_tokenizer, prepare_tokenizer
from openr1_data.train.configs import DataArguments, SFTConfig
from openr1_data.train.data import SFT_CONFIGS, load_sft_dataset, trained_config
from openr1_data.train.setup import save_and_push, set_model_init_kwargs

logger = logging.getLogger(__name__)


def train_sft(data_args: DataArguments, training_args: SFTConfig, model_args: Any) -> Any:
    """Train, save (model, tokenizer, card) and optionally push; return the trainer (its log history is the curve)."""
    from transformers import set_seed
    from trl import SFTTrainer, get_peft_config

    set_seed(training_args.seed)
    model_path = set_model_init_kwargs(model_args, training_args)

    tokenizer = load_tokenizer(model_path, model_args.model_revision, training_args.trust_remote_code)
    eos = prepare_tokenizer(
        tokenizer,
        chat_template=training_args.chat_template,
        eos_token=training_args.eos_token,
        assistant_only_loss=training_args.assistant_only_loss,
    )
    training_args.eos_token = eos or training_args.eos_token

    train_dataset, eval_dataset = load_sft_dataset(data_args, training_args.seed)
    logger.info(
        "training on %d conversations from %s", len(train_dataset), data_args.dataset_name or "a mixture"
    )

    trainer = SFTTrainer(
        model=model_path,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    save_and_push(
        trainer,
        training_args,
        data_args.dataset_name,
        tags=["sft"],
        base_model=model_args.model_name_or_path,
        dataset_config=trained_config(data_args, SFT_CONFIGS),
        card_template=data_args.model_card_template,
    )
    logger.info("model saved to %s", training_args.output_dir)
    return trainer
