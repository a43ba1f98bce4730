"""Best-of-K selection of RLT explanations: the kept explanation per pair is the one `RLTScorer.score` ranks
highest, both reward terms are recorded, penalised and losing explanations are rejected with their reasons."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import yaml
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from openr1_data.curate.rlt_scoring import RLTRewardConfig, RLTScorer
from openr1_data.curate.rlt_select import (
    BELOW_FLOOR,
    NOT_BEST,
    RLT_ISSUE,
    RLT_KL_TERM,
    RLT_REWARD,
    RLT_SOLUTION_TERM,
    RLTSelectConfig,
    best_of_k_reasons,
    build_scorer,
    select_best_explanations,
)
from openr1_data.funnel import PipelineRecord
from openr1_data.prompts import get_style
from openr1_data.schema import ContractError, make_problem_id

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: threads only add contention

END = "<|end_of_explanation|>"
PAIRS = [
    ("What is 3 + 4?", "3 + 4 = 7. The answer is 7."),
    ("There are 5 boxes with 2 cookies in each box. How many cookies?", "5 * 2 = 10 cookies."),
]
EXPLANATIONS = [
    [f"First add the numbers.\n\n3 + 4 = 7.\n{END}", f"Ava has apples.\n{END}", "no closing tag here"],
    [f"Multiply boxes by cookies.\n\n5 * 2 = 10\n{END}", f"step one {END}", f"   {END}"],
]


@pytest.fixture(scope="module")
def scorer(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    student = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    torch.manual_seed(1)
    teacher = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():  # a teacher distinct from the student, so the KL term is not zero
        for p in teacher.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return RLTScorer(student, tokenizer, teacher, tokenizer, RLTRewardConfig(rlt_batch_size=4))


def traces() -> Dataset:
    style = get_style("rlt")
    rows = []
    for (question, solution), explanations in zip(PAIRS, EXPLANATIONS, strict=True):
        for k, text in enumerate(explanations):
            row = {"problem": question, "solution": solution}
            rows.append(
                {
                    **row,
                    "problem_id": make_problem_id(question),
                    "sample_index": k,
                    "prompt": style.build(row),
                    "completion": text,
                }
            )
    return Dataset.from_list(rows)


def test_keeps_the_explanation_the_scorer_ranks_highest_and_records_both_terms(scorer):
    data = traces()
    direct = scorer.score(data["problem"], data["solution"], data["completion"])
    result = select_best_explanations(data, scorer, chunk=4, progress=False)

    assert result.stats.rows_in == 6 and result.stats.rows_out == 2
    assert result.stats.rejected == {
        NOT_BEST: 2,
        "rlt_missing_explanation_tags": 1,
        "rlt_empty_explanation": 1,
    }
    for p, (question, _) in enumerate(PAIRS):
        scored = [i for i in range(3 * p, 3 * p + 3) if direct[i].issue is None]
        best = max(scored, key=lambda i: direct[i].reward)
        [kept] = [r for r in result.kept if r["problem"] == question]
        assert kept["completion"] == data[best]["completion"]
        # the reward and both terms are the scorer's, and reward = solution term - KL term
        assert kept[RLT_REWARD] == pytest.approx(direct[best].reward, abs=1e-5)
        assert kept[RLT_SOLUTION_TERM] == pytest.approx(direct[best].solution_term, abs=1e-5)
        assert kept[RLT_KL_TERM] == pytest.approx(direct[best].kl_term, abs=1e-5)
        assert kept[RLT_REWARD] == pytest.approx(kept[RLT_SOLUTION_TERM] - kept[RLT_KL_TERM], abs=1e-5)
        assert kept[RLT_KL_TERM] != 0.0
        assert kept[RLT_ISSUE] is None

    rejected = result.rejected
    losers = [r for r in rejected if r["rejected_reason"] == NOT_BEST]
    for r in losers:  # a loser scored no higher than the kept explanation of its pair, and keeps its terms
        [kept] = [k for k in result.kept if k["problem_id"] == r["problem_id"]]
        assert r[RLT_REWARD] <= kept[RLT_REWARD] and r[RLT_SOLUTION_TERM] is not None
    penalised = [r for r in rejected if r["rejected_reason"] != NOT_BEST]
    assert all(r[RLT_REWARD] == -1.0 and r[RLT_SOLUTION_TERM] is None for r in penalised)
    assert {r["rejected_stage"] for r in rejected} == {"rlt_select"}


def test_prompt_column_gives_the_same_scores_as_the_rlt_style(scorer):
    # The teacher prompts are rendered from each trace's own `prompt`: for the rlt style, exactly what the
    # scorer renders itself.
    with_prompt = select_best_explanations(traces(), scorer, progress=False)
    without = select_best_explanations(traces().remove_columns("prompt"), scorer, progress=False)
    assert with_prompt.kept[RLT_REWARD] == pytest.approx(without.kept[RLT_REWARD], abs=1e-6)


def test_best_of_k_ties_and_groups():
    reasons = best_of_k_reasons(
        ["a", "a", "a", "b", "b"], [0.5, 0.9, 0.9, -1.0, -3.0], [None, None, None, "missing_explanation_tags", None], [0, 2, 1, 0, 1]
    )  # fmt: skip
    # the tie at 0.9 goes to the lower sample index; a pair whose only scored row is low still keeps it
    assert reasons == [NOT_BEST, NOT_BEST, None, "rlt_missing_explanation_tags", None]


def test_empty_input_and_missing_columns(scorer):
    empty = select_best_explanations(traces().select([]), scorer, progress=False)
    assert len(empty.kept) == 0 and empty.stats.rows_in == 0
    assert RLT_REWARD in empty.kept.column_names
    with pytest.raises(ContractError, match="solution"):
        select_best_explanations(traces().remove_columns("solution"), scorer, progress=False)


def test_build_scorer_needs_a_student_and_loads_both_models(tiny_model_dir):
    with pytest.raises(ValueError, match="rlt_student_model"):
        build_scorer(RLTRewardConfig(), RLTSelectConfig(), tiny_model_dir)
    scorer = build_scorer(
        RLTRewardConfig(rlt_student_model=tiny_model_dir), RLTSelectConfig(), tiny_model_dir
    )
    assert scorer.teacher is not None and scorer.student is not scorer.teacher


def test_floor_rejects_a_best_explanation_below_it_with_its_own_reason(scorer):
    data = traces()
    direct = scorer.score(data["problem"], data["solution"], data["completion"])
    bests = [
        max(direct[i].reward for i in range(3 * p, 3 * p + 3) if direct[i].issue is None) for p in range(2)
    ]
    assert bests[0] != bests[1]
    floor = sum(bests) / 2  # between the two pairs' best rewards: one pair passes, the other does not
    low, high = sorted(range(2), key=lambda p: bests[p])
    result = select_best_explanations(data, scorer, chunk=4, progress=False, min_reward=floor)

    assert result.stats.rows_in == 6 and result.stats.rows_out == 1
    assert result.stats.rejected == {
        BELOW_FLOOR: 1,
        NOT_BEST: 2,
        "rlt_missing_explanation_tags": 1,
        "rlt_empty_explanation": 1,
    }
    [kept] = list(result.kept)
    assert kept["problem"] == PAIRS[high][0] and kept[RLT_REWARD] >= floor
    [floored] = [r for r in result.rejected if r["rejected_reason"] == BELOW_FLOOR]
    assert floored["problem"] == PAIRS[low][0]
    assert floored[RLT_REWARD] == pytest.approx(bests[low], abs=1e-5) and floored[RLT_REWARD] < floor
    assert floored["rejected_stage"] == "rlt_select" and floored[RLT_SOLUTION_TERM] is not None
    # the funnel (as a pipeline records it) shows it like any other reason
    run = PipelineRecord()
    run.record(result)
    assert "rlt_below_floor: 1" in run.funnel.table()
    assert run.funnel.to_dict()["stages"][0]["rejected"][BELOW_FLOOR] == 1
    # no floor (the default) keeps both pairs' best, however low
    assert select_best_explanations(data, scorer, progress=False).stats.rows_out == 2


def test_best_of_k_floor_on_plain_rewards():
    groups, issues, order = ["a", "a", "b", "b", "c"], [None] * 5, [0, 1, 0, 1, 0]
    reasons = best_of_k_reasons(groups, [-1.0, -2.0, -4.0, -5.0, math.nan], issues, order, min_reward=-2.5)
    # a passes; b's best is below the floor (its loser stays rlt_not_best); a NaN reward never passes a floor
    assert reasons == [None, NOT_BEST, BELOW_FLOOR, NOT_BEST, BELOW_FLOOR]
    assert best_of_k_reasons(["a"], [-2.5], [None], [0], min_reward=-2.5) == [None]  # the floor itself passes


def test_floor_must_be_a_finite_number_and_the_recipes_set_one():
    assert RLTSelectConfig().rlt_min_reward is None
    for bad in (math.nan, math.inf, "low"):
        with pytest.raises(ValueError, match="rlt_min_reward"):
            RLTSelectConfig(rlt_min_reward=bad)  # type: ignore[arg-type]
    recipes = sorted(
        (Path(__file__).resolve().parents[1] / "pipelines" / "recipes").glob("rlt_explain*.yaml")
    )
    assert len(recipes) >= 2
    for recipe in recipes:
        floor = yaml.safe_load(recipe.read_text())["rlt_min_reward"]
        assert RLTSelectConfig(rlt_min_reward=floor).rlt_min_reward == floor < 0
