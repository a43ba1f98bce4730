"""`openr1-data wordle-games` (game states with the solver's answers: SFT warm-up data and GRPO problems in one
folder) and `openr1-data wordle-play` (a model plays whole held-out games: won, turns, invalid guesses).

    openr1-data wordle-games --output_dir outputs/wordle/sft --wordle_size 400 --wordle_seed 0
    openr1-data wordle-play --model outputs/wordle-grpo --num_games 40
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from openr1_data.config import check_fields, parse_config
from openr1_data.io import write_dataset
from openr1_data.sources.wordle import SPLITS, wordle_sft_dataset
from openr1_data.train.wordle_play import PLAY_TABLE_HEADER, WordlePlayConfig, markdown_row, play


@dataclass
class WordleGamesConfig:
    """Where to write the game states and which ones."""

    output_dir: str = field(
        default="outputs/wordle/games",
        metadata={"help": "folder for the Parquet rows (train on it with dataset_name: this folder)"},
    )
    wordle_size: int = field(default=400, metadata={"help": "how many game states"})
    wordle_seed: int = field(
        default=0, metadata={"help": "the seed of the secrets, openers and depths drawn"}
    )
    wordle_split: str = field(
        default="train",
        metadata={
            "help": "the secrets: train (90%), eval (held out for wordle-play: never train on it) or all"
        },
    )

    def __post_init__(self) -> None:
        check_fields(self, at_least={"wordle_size": 1}, choices={"wordle_split": SPLITS})


def games_main(argv: list[str]) -> int:
    """Entry point of `openr1-data wordle-games`: problem rows plus a `messages` column (the solver's answer)."""
    (cfg,) = parse_config([WordleGamesConfig], argv, prog="openr1-data wordle-games")
    rows = wordle_sft_dataset(cfg.wordle_size, cfg.wordle_seed, cfg.wordle_split)
    write_dataset(rows, cfg.output_dir)
    print(f"{len(rows)} Wordle game states ({cfg.wordle_split} secrets) -> {cfg.output_dir}")
    return 0


def play_main(argv: list[str]) -> int:
    """Entry point of `openr1-data wordle-play`: play, write the reports, print the table."""
    (cfg,) = parse_config([WordlePlayConfig], argv, prog="openr1-data wordle-play")
    score = play(cfg)
    print(
        f"\n{PLAY_TABLE_HEADER}\n{markdown_row(cfg.model, score)}\n\nReport: {Path(cfg.output_dir) / 'report.json'}"
    )
    return 0
