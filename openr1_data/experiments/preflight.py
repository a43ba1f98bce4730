"""What the experiment can be told before any training: how often the teacher is right, how long the answers each
arm trains on are (against the evaluation's token budget), and the power statement (power.py). `--dry_run` prints
these and stops; a full run prints them too and writes them in the report."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from openr1_data.experiments.arms import ArmData
from openr1_data.experiments.config import TeachConfig
from openr1_data.experiments.power import plan_lines
from openr1_data.experiments.runner import seeds_of
from openr1_data.io import read_dataset
from openr1_data.schema import CORRECT, PROBLEM_ID


@dataclass
class TeacherPassRate:
    """How often the teacher's R1 traces are correct, per trace and per problem (pass@k over its k samples)."""

    traces: int
    correct: int
    problems: int
    problems_solved: int  # problems with at least one correct trace

    @property
    def trace_rate(self) -> float:
        return self.correct / self.traces if self.traces else 0.0

    @property
    def problem_rate(self) -> float:
        return self.problems_solved / self.problems if self.problems else 0.0

    def line(self, samples: int) -> str:
        return (
            f"Teacher: {self.correct}/{self.traces} R1 traces correct ({100 * self.trace_rate:.1f}%); "
            f"{self.problems_solved}/{self.problems} problems have a correct trace among {samples} "
            f"(pass@{samples} {100 * self.problem_rate:.1f}%)"
        )


def teacher_pass_rate(traces: Dataset, verify_cfg: Any) -> TeacherPassRate:
    """Verify the teacher's R1 traces (the ones every R1 arm is built from) and count the correct ones."""
    from openr1_data.curate.verify import verify_traces

    r1 = traces.filter(lambda s: s != "rlt", input_columns="prompt_style")
    if not len(r1):
        return TeacherPassRate(0, 0, 0, 0)
    verified = verify_traces(r1, verify_cfg).kept
    solved = {p for p, c in zip(verified[PROBLEM_ID], verified[CORRECT], strict=True) if c is True}
    correct = sum(1 for c in verified[CORRECT] if c is True)
    return TeacherPassRate(len(verified), correct, len(set(verified[PROBLEM_ID])), len(solved))


def longest_answers(arms: list[ArmData], student_model: str) -> dict[str, int]:
    """Per arm with data, the longest assistant turn it trains on, in the student's tokens."""
    from transformers import AutoTokenizer

    from openr1_data.train.setup import resolve_model_path

    tokenizer = AutoTokenizer.from_pretrained(resolve_model_path(student_model))
    longest = {}
    for arm in arms:
        if arm.folder is None:
            continue
        answers = [m[-1]["content"] for m in read_dataset(arm.folder)["messages"]]
        longest[arm.arm] = max(len(ids) for ids in tokenizer(answers, add_special_tokens=False)["input_ids"])
    return longest


def budget_warnings(longest: dict[str, int], eval_max_new_tokens: int) -> list[str]:
    """A warning per arm whose longest training answer does not fit the evaluation's token budget: its students
    would be cut off where they were taught to go on, so pass@1 would measure brevity."""
    return [
        f"WARNING: arm `{arm}` trains on answers of up to {tokens} tokens but the evaluation stops at "
        f"--eval_max_new_tokens {eval_max_new_tokens}: its pass@1 would partly measure brevity; raise the budget"
        for arm, tokens in longest.items()
        if tokens > eval_max_new_tokens
    ]


def preflight_lines(
    cfg: TeachConfig, arms: list[ArmData], teacher: TeacherPassRate, samples: int, heldout: int
) -> list[str]:
    """Everything known before training, as printed lines: teacher, arm sizes and answer lengths, power."""
    lines = [teacher.line(samples), "", "Arms"]
    longest = longest_answers(arms, cfg.student_model)
    for a in arms:
        tokens = f", longest answer {longest[a.arm]} tokens" if a.arm in longest else ""
        lines.append(
            f"  {a.arm}: {a.conversations} conversations over {a.problems} problems{tokens}: {a.built_from}"
        )
    warnings = budget_warnings(longest, cfg.eval_max_new_tokens)
    trained_seeds = max((len(seeds_of(cfg, a.arm)) for a in arms if a.arm != "base"), default=cfg.seeds)
    has_base = any(a.arm == "base" for a in arms)
    return [*lines, *warnings, "", *plan_lines(heldout, trained_seeds, cfg.power_seed_sd, has_base)]
