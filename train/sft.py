"""Supervised fine-tuning of a student on curated reasoning data with TRL's `SFTTrainer` (open-r1 style).

Data: a local folder written by publishing (the `messages` config is picked when the folder has several), a Hub
dataset id, or a weighted `dataset_mixture`. The chat template keeps `<think>` blocks, the EOS token is the
template's end-of-turn token (so the student learns to stop), and `assistant_only_loss` needs a template with
`{% generation %}` markers (`--chat_template chatml` provides one).

    python train/sft.py --config train/recipes/sft_smollm2_cpu.yaml
    python train/sft.py --config train/recipes/sft_smollm2_cpu.yaml --max_steps 10 --output_dir /tmp/student
    accelerate launch train/sft.py --config train/recipes/sft_qwen2.5_1.5b_gpu.yaml   # GPUs
"""

from __future__ import annotations

import logging
import sys

from trl import ModelConfig

from openr1_data.cli import run_command
from openr1_data.config import parse_config
from openr1_data.train.configs import DataArguments, SFTConfig
from openr1_data.train.sft import train_sft

# Kept for scripts that import it: `main` is the library's `train_sft`.
main = train_sft

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)

    def run(argv: list[str]) -> int:
        main(*parse_config((DataArguments, SFTConfig, ModelConfig), argv))
        return 0

    sys.exit(run_command("train/sft.py", run, sys.argv[1:]))
