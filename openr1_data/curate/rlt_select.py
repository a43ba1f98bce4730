"""Best-of-K selection of RLT explanations, scored by the student (no RL training of the teacher needed).

Every explanation a teacher wrote for a (question, solution) pair gets the RLT reward (`openr1_data.curate.rlt_scoring`):
the student's log-likelihood of the solution after the explanation, minus the teacher-student KL term over the
explanation. Per pair, the explanation with the highest reward is kept; the others go to the side output with the
reason `rlt_not_best`, and explanations the reward penalises (no closing tag, empty) with `rlt_<issue>`. With a
floor (`rlt_min_reward`), a best explanation whose reward is below it is rejected too (`rlt_below_floor`: that pair
keeps no explanation), since best-of-K alone keeps the best of K however bad. The reward and its two terms are
columns of every scored row (`rlt_reward`, `rlt_solution_term`, `rlt_kl_term`), so the SFT export and the rejected
config both show why a row won or lost.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from datasets import Dataset, Value
from tqdm.auto import tqdm

from openr1_data.curate.rlt_scoring import RLTRewardConfig, RLTScore, RLTScorer
from openr1_data.funnel import StageResult, split_by_reason
from openr1_data.schema import PROBLEM, PROBLEM_ID, SOLUTION, ContractError, require_columns

logger = logging.getLogger(__name__)

STAGE = "rlt_select"
NOT_BEST = "rlt_not_best"
BELOW_FLOOR = "rlt_below_floor"  # the best explanation of its pair, but below `rlt_min_reward`
RLT_REWARD, RLT_ISSUE = "rlt_reward", "rlt_issue"  # the reward, and why a penalty replaced it
RLT_SOLUTION_TERM, RLT_KL_TERM = "rlt_solution_term", "rlt_kl_term"  # reward = solution term - KL term
SCORE_COLUMNS = (RLT_REWARD, RLT_SOLUTION_TERM, RLT_KL_TERM, RLT_ISSUE)


@dataclass
class RLTSelectConfig:
    """Which models score the explanations for best-of-K selection (the reward weights are in RLTRewardConfig)."""

    rlt_teacher_model: str | None = field(
        default=None,
        metadata={
            "help": "model whose log-probs give the KL term (local folder, Hub id or smollm2); default: the "
            "generation teacher (--teacher_model). Must share the student's tokenizer"
        },
    )
    rlt_device: str = field(default="cpu", metadata={"help": "device of the scoring models (cpu, cuda, ...)"})
    rlt_dtype: str = field(
        default="float32", metadata={"help": "dtype of the scoring models (float32; bfloat16 on GPUs)"}
    )
    rlt_score_chunk: int = field(
        default=256,
        metadata={"help": "explanations scored per progress step (forward batches: rlt_batch_size)"},
    )
    rlt_min_reward: float | None = field(
        default=None,
        metadata={
            "help": "floor of best-of-K: a pair whose best explanation has an RLT reward below this keeps none "
            "(rejected as rlt_below_floor). The reward is in nats per token: the student's mean log-prob of the "
            "solution tokens after the explanation (+ 0.01 x their min) minus 3 x the mean teacher-student "
            "log-prob gap over the explanation (+ 0.03 x its max), with the default weights; 0 is the top, and "
            "the scale depends on the student (SmolLM2-135M: about -1 to -2 for sound explanations, -2 to -5 "
            "for wrong or off-topic ones), so each recipe sets its own. None: no floor (on the command line, "
            "-1000000 turns a recipe's floor off)"
        },
    )

    def __post_init__(self) -> None:
        value = self.rlt_min_reward
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
        ):
            raise ValueError(
                f"--rlt_min_reward must be a finite number (an RLT reward, e.g. -2.5) or unset, got {value!r}"
            )


def build_scorer(reward_cfg: RLTRewardConfig, select_cfg: RLTSelectConfig, teacher_model: str) -> RLTScorer:
    """Load the student (`rlt_student_model`) and the teacher (`rlt_teacher_model`, else `teacher_model`)."""
    if not reward_cfg.rlt_student_model:
        raise ValueError(
            "RLT selection needs a student: pass --rlt_student_model (a folder, Hub id or smollm2)"
        )
    return RLTScorer.from_pretrained(
        reward_cfg.rlt_student_model,
        select_cfg.rlt_teacher_model or teacher_model,
        device=select_cfg.rlt_device,
        dtype=select_cfg.rlt_dtype,
        config=reward_cfg,
    )


def _teacher_prompts(scorer: RLTScorer, prompts: list) -> list[str] | None:
    """The texts the teacher continued: its chat template over each trace's prompt, prefill left open."""
    tokenizer = scorer.teacher_tokenizer or scorer.tokenizer
    if not all(isinstance(p, list) and p and p[-1].get("role") == "assistant" for p in prompts):
        return None  # not a pre-filled RLT prompt: let the scorer render the RLT style itself
    return [tokenizer.apply_chat_template(p, tokenize=False, continue_final_message=True) for p in prompts]


def score_explanations(
    traces: Dataset, scorer: RLTScorer, *, chunk: int = 256, progress: bool = True
) -> Dataset:
    """Add `rlt_reward`, `rlt_solution_term`, `rlt_kl_term` and `rlt_issue` (why a penalty replaced the terms)."""
    require_columns(
        traces.column_names,
        [PROBLEM, SOLUTION, "completion"],
        what="RLT selection",
        fix="Score the traces that RLT-style generation wrote (question, reference solution, completion).",
    )
    columns = [PROBLEM, SOLUTION, "completion"] + (["prompt"] if "prompt" in traces.column_names else [])
    view = traces.select_columns(columns)
    scores: list[RLTScore] = []
    bar = tqdm(total=len(view), unit="expl", desc="rlt score", disable=not progress, file=sys.stderr)
    batches = cast(Iterator[dict[str, list]], view.iter(batch_size=max(1, chunk)))  # python-format batches
    for batch in batches:
        prompts = _teacher_prompts(scorer, batch["prompt"]) if "prompt" in batch else None
        scores += scorer.score(batch[PROBLEM], batch[SOLUTION], batch["completion"], teacher_prompts=prompts)
        bar.update(len(batch[PROBLEM]))
    bar.close()
    out = traces.remove_columns([c for c in SCORE_COLUMNS if c in traces.column_names])
    out = out.add_column(RLT_REWARD, [s.reward for s in scores], feature=Value("float64"))
    out = out.add_column(RLT_SOLUTION_TERM, [s.solution_term for s in scores], feature=Value("float64"))
    out = out.add_column(RLT_KL_TERM, [s.kl_term for s in scores], feature=Value("float64"))
    return out.add_column(RLT_ISSUE, [s.issue for s in scores], feature=Value("string"))


def best_of_k_reasons(
    groups: list,
    rewards: list[float],
    issues: list[str | None],
    order: list[int],
    min_reward: float | None = None,
) -> list:
    """Per group, None for the highest reward among unpenalised rows (ties: lowest `order`), else the reason.

    With `min_reward`, that best row is `BELOW_FLOOR` when its reward is below it (or NaN); the others of its group
    stay `NOT_BEST`, so `BELOW_FLOOR` counts the pairs the floor left without an explanation.
    """
    best: dict = {}
    for i, (g, r, issue) in enumerate(zip(groups, rewards, issues, strict=True)):
        if issue is None and (g not in best or (-r, order[i]) < (-rewards[best[g]], order[best[g]])):
            best[g] = i

    def winner(i: int) -> str | None:
        return None if min_reward is None or rewards[i] >= min_reward else BELOW_FLOOR

    return [
        f"rlt_{issue}" if issue is not None else (winner(i) if best[g] == i else NOT_BEST)
        for i, (g, issue) in enumerate(zip(groups, issues, strict=True))
    ]


def select_best_explanations(
    traces: Dataset,
    scorer: RLTScorer,
    *,
    chunk: int = 256,
    progress: bool = True,
    stage: str = STAGE,
    min_reward: float | None = None,
) -> StageResult:
    """Score every explanation and keep the best one per problem, if its reward reaches `min_reward` (None: no
    floor); the rest go to the side output with a reason."""
    if len(traces) == 0:
        empty = traces
        for name in SCORE_COLUMNS:
            empty = empty.add_column(name, [], feature=Value("string" if name == RLT_ISSUE else "float64"))
        return split_by_reason(empty, [], stage)
    group = PROBLEM_ID if PROBLEM_ID in traces.column_names else PROBLEM
    scored = score_explanations(traces, scorer, chunk=chunk, progress=progress)
    if any(not isinstance(g, str) for g in scored[group]):
        raise ContractError(
            f"RLT selection: every row needs a `{group}` (the pair its explanation belongs to)"
        )
    order = scored["sample_index"] if "sample_index" in scored.column_names else list(range(len(scored)))
    reasons = best_of_k_reasons(scored[group], scored[RLT_REWARD], scored[RLT_ISSUE], order, min_reward)
    floored = reasons.count(BELOW_FLOOR)
    if floored and None not in reasons:  # nothing kept: the floor may not fit this student's scale
        logger.warning(
            "RLT selection: the floor rlt_min_reward=%g rejected the best explanation of every pair (%d). The "
            "reward's scale depends on the student: compare with the rlt_reward column of the rejected rows "
            "and lower the floor if the explanations read well.",
            min_reward,
            floored,
        )
    return split_by_reason(scored, reasons, stage)
