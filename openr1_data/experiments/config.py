"""The teach experiment's own settings (problems, generation, curation and the student's trainer have theirs)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Every arm, in report order. `base` is the untrained student; the others are training sets built from one
# generation run (arms.py says how each is built). The arms after `step_checked` differ from `curated` only in
# their selection (each its own named SelectionConfig: arms.SELECTION_ARMS).
DEFAULT_ARMS = ("base", "reference", "uncurated", "curated", "rlt_best", "step_checked")
ARMS = (*DEFAULT_ARMS, "format_only", "incorrect", "hard_half", "longest_half", "diverse_half")


@dataclass
class TeachConfig:
    """Split, arms, the student, the training budget every arm gets, and the held-out evaluation."""

    teach_dir: str = field(default="outputs/teach", metadata={"help": "experiment folder (resumable)"})
    eval_size: int = field(default=32, metadata={"help": "problems held out for evaluation"})
    train_size: int | None = field(
        default=None, metadata={"help": "at most this many training problems (default: all the others)"}
    )
    split_seed: int = field(default=0, metadata={"help": "seed of the train / held-out split"})
    split_ngram_size: int = field(
        default=8,
        metadata={
            "help": "word n-gram size of the decontamination of the training split against the held-out one"
        },
    )
    arms: list[str] = field(
        default_factory=lambda: list(DEFAULT_ARMS),
        metadata={"help": f"arms to run, from {', '.join(ARMS)}"},
    )
    seeds: int = field(default=3, metadata={"help": "training seeds per arm (0, 1, ..., seeds-1)"})
    student_model: str = field(
        default="smollm2", metadata={"help": "the student every arm trains: a folder, Hub id or smollm2"}
    )
    train_steps: int = field(default=10, metadata={"help": "optimizer steps of every arm (the same for all)"})
    train_rows_per_step: int = field(
        default=1, metadata={"help": "packed rows per optimizer step (per_device_train_batch_size)"}
    )
    train_max_length: int = field(
        default=384,
        metadata={
            "help": "tokens per packed row: every step trains on rows_per_step x max_length tokens (up to the "
            "packing fill), so every arm sees the same tokens"
        },
    )
    learning_rate: float = field(default=1.0e-4, metadata={"help": "learning rate of every arm"})
    train_dtype: str = field(default="float32", metadata={"help": "student dtype while training"})
    eval_prompt_style: str = field(default="r1", metadata={"help": "prompt style of the evaluation"})
    train_prompt_style: str | None = field(
        default=None,
        metadata={
            "help": "prompt style whose question (system prompt and user turn) every training conversation "
            "asks (default: --eval_prompt_style, so training asks the way the evaluation does)"
        },
    )
    eval_max_new_tokens: int = field(default=128, metadata={"help": "max tokens per evaluation answer"})
    eval_samples: int = field(
        default=1,
        metadata={"help": "k: 1 = greedy pass@1 only; k > 1 also samples k answers per item for maj@k"},
    )
    eval_temperature: float = field(default=0.6, metadata={"help": "temperature of the k samples (k > 1)"})
    eval_batch_size: int = field(default=32, metadata={"help": "sequences per evaluation forward batch"})
    train_device: str = field(
        default="cpu", metadata={"help": "device of training and evaluation (cpu, cuda)"}
    )
    keep_models: bool = field(
        default=False,
        metadata={"help": "keep every trained student (a 135M student is ~0.5 GB per arm and seed)"},
    )
    bootstrap_resamples: int = field(default=2000, metadata={"help": "bootstrap resamples of the intervals"})
    power_seed_sd: float = field(
        default=0.15,
        metadata={
            "help": "planning SD of an arm's pass@1 across training seeds, for the power statement made before "
            "training (the CPU pilot on a + b measured 14-26 points); the report also states the measured one"
        },
    )
    dry_run: bool = field(
        default=False,
        metadata={
            "help": "generate and curate, print the teacher's pass rate, each arm's size and the power statement, "
            "then stop before any training"
        },
    )

    def __post_init__(self) -> None:
        unknown = [a for a in self.arms if a not in ARMS]
        if unknown:
            raise ValueError(f"--arms: unknown arm(s) {unknown}; choose from {', '.join(ARMS)}")
        for name in (
            "eval_size",
            "seeds",
            "train_steps",
            "train_rows_per_step",
            "train_max_length",
            "eval_samples",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.power_seed_sd <= 1:
            raise ValueError(f"--power_seed_sd is a share of problems (0..1), got {self.power_seed_sd}")

    @property
    def question_style(self) -> str:
        """The prompt style of the training conversations' questions."""
        return self.train_prompt_style or self.eval_prompt_style
