"""Direct preference optimisation of a student with TRL's `DPOTrainer` on preference pairs of the same generations.

Data: the `preference` config of a published folder (`openr1-data publish --preference_pairs correct_vs_incorrect`
or `short_vs_long`; it is picked when the folder has several configs), a Hub dataset id in TRL's preference layout,
or a weighted `dataset_mixture`. The model card names the pair rule the pairs were made with.

    python train/dpo.py --config train/recipes/dpo_smollm2_cpu.yaml
    python train/dpo.py --config train/recipes/dpo_smollm2_cpu.yaml --max_steps 2 --output_dir /tmp/student-dpo
"""

from __future__ import annotations

import logging
import sys

from trl import ModelConfig

from openr1_data.cli import run_command
from openr1_data.config import parse_config
from openr1_data.train.configs import DataArguments, DPOConfig
from openr1_data.train.dpo import train_dpo

main = train_dpo

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stdout)

    def run(argv: list[str]) -> int:
        main(*parse_config((DataArguments, DPOConfig, ModelConfig), argv))
        return 0

    sys.exit(run_command("train/dpo.py", run, sys.argv[1:]))
