"""Evaluate a model (e.g. a student trained with train/sft.py) on math benchmarks.

pass@1 averaged over k samples, maj@k, pass@k, mean length and the share of finished answers, judged with the
project's shared math-verify judgement; writes `report.json` and `report.md` in `--output_dir`.

    python train/evaluate.py --config train/recipes/eval_smollm2_cpu.yaml --model outputs/student-sft
    python train/evaluate.py --model outputs/student --benchmarks aime_2024 math_500 --num_samples 8
    python train/evaluate.py --backend openai --base_url http://127.0.0.1:8000/v1 --model my-served-model
"""

from __future__ import annotations

import sys

from openr1_data.cli import run_command
from openr1_data.cli.evaluate import main

if __name__ == "__main__":
    sys.exit(run_command("train/evaluate.py", main, sys.argv[1:]))
