"""`openr1-data evaluate` (also `python train/evaluate.py`): a model on benchmarks, pass@1 / maj@k / length."""

from __future__ import annotations

from pathlib import Path

from openr1_data.config import parse_config
from openr1_data.train.evaluation import EvalConfig, evaluate, markdown_table


def main(argv: list[str]) -> int:
    """Entry point of `openr1-data evaluate`: evaluate, write the reports, print the table."""
    (cfg,) = parse_config([EvalConfig], argv, prog="openr1-data evaluate")
    scores = evaluate(cfg)
    print(f"\n{markdown_table(scores)}\n\nReport: {Path(cfg.output_dir) / 'report.json'}")
    return 0
