"""Direct preference optimisation of a student with TRL's `DPOTrainer` on published preference pairs: the
implementation behind `train/dpo.py`.

The data is the `preference` config that `openr1-data publish --preference_pairs RULE` writes (any dataset in
TRL's preference layout works too); the model card names the pair rule, read from the pairs' `pair_rule` column.
The reference model is a frozen copy of the starting model (TRL's default when none is given).
"""

from __future__ import annotations

import logging
from typing import Any

from openr1_data.train.chat_template import load_tokenizer, prepare_tokenizer
from openr1_data.train.configs import DataArguments, DPOConfig
from openr1_data.train.data import DPO_CONFIGS, load_preference_dataset, trained_config
from openr1_data.train.setup import save_and_push, set_model_init_kwargs

logger = logging.getLogger(__name__)


def train_dpo(data_args: DataArguments, training_args: DPOConfig, model_args: Any) -> Any:
    """Train, save (model, tokenizer, card) and optionally push; return the trainer (its log history is the curve)."""
    from transformers import set_seed
    from trl import DPOTrainer, get_peft_config

    set_seed(training_args.seed)
    model_path = set_model_init_kwargs(model_args, training_args)

    tokenizer = load_tokenizer(model_path, model_args.model_revision, training_args.trust_remote_code)
    eos = prepare_tokenizer(tokenizer, chat_template=training_args.chat_template)
    if eos:  # the chosen turn ends with the template's end of turn, so the student keeps learning to stop
        tokenizer.eos_token = eos

    data = load_preference_dataset(data_args, training_args.seed)
    logger.info(
        "training on %d preference pairs from %s (pair rule: %s)",
        len(data.train),
        data_args.dataset_name or "a mixture",
        ", ".join(data.pair_rules) or "not recorded",
    )
    trainer = DPOTrainer(
        model=model_path,
        args=training_args,
        train_dataset=data.train,
        eval_dataset=data.eval if training_args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
    )
    trainer.train(resume_from_checkpoint=training_args.resume_from_checkpoint)
    save_and_push(
        trainer,
        training_args,
        data_args.dataset_name,
        tags=["dpo"],
        base_model=model_args.model_name_or_path,
        dataset_config=trained_config(data_args, DPO_CONFIGS),
        card_template=data_args.model_card_template,
        pair_rules=data.pair_rules,
    )
    logger.info("model saved to %s", training_args.output_dir)
    return trainer
