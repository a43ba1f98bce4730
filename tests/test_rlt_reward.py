"""The RLT teacher reward: ranking, each term against a direct computation from logits, batching, penalties, and
the TRL wrapper. The student is a tiny model trained in a fixture on templated (question, explanation, solution)
conversations, so "an explanation with the solution's steps helps the student" is something it has learned."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from openr1_data.curate.rlt_scoring import (
    EMPTY_EXPLANATION,
    MISSING_TAGS,
    RLTReward,
    RLTRewardConfig,
    RLTScorer,
    extract_explanation,
)
from openr1_data.prompts import get_style
from openr1_data.schema import ContractError
from tests.tiny_models import build_tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: threads only add contention

END = "<|end_of_explanation|>"
UNRELATED = "Cats like to sleep in the sun all day."


def triple(rng: random.Random) -> tuple[str, str, str]:
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    return f"What is {a} + {b}?", f"Add {b} to {a}.\n\n{a} + {b} = {a + b}.", f"The answer is {a + b}."


def student_text(tokenizer, q: str, e: str, s: str) -> str:
    content = f"<think>\n{e}\n</think>\n\n{s}"
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": q}, {"role": "assistant", "content": content}], tokenize=False
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """(student trained ~40 SFT steps, untrained teacher, tokenizer)."""
    folder = build_tiny_model(tmp_path_factory.mktemp("rlt-student"), seed=0)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    student = AutoModelForCausalLM.from_pretrained(folder)
    teacher = AutoModelForCausalLM.from_pretrained(
        folder
    ).eval()  # same init, never trained: a distinct model
    rng = random.Random(0)
    texts = [student_text(tokenizer, *triple(rng)) for _ in range(40 * 16)]
    optimizer = torch.optim.AdamW(student.parameters(), lr=5e-3)
    torch.manual_seed(0)
    student.train()
    for step in range(40):
        batch = tokenizer(texts[step * 16 : (step + 1) * 16], return_tensors="pt", padding=True)
        labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
        student(**batch, labels=labels).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    student.eval()
    return student, teacher, tokenizer


@pytest.fixture(scope="module")
def scorer(models):
    student, teacher, tokenizer = models
    return RLTScorer(student, tokenizer, teacher, tokenizer, RLTRewardConfig(rlt_batch_size=4))


def test_explanation_with_the_steps_scores_higher_than_an_unrelated_one(scorer):
    rng = random.Random(123)  # held-out problems
    for _ in range(6):
        q, e, s = triple(rng)
        related, unrelated = scorer.score([q, q], [s, s], [f"{e}\n{END}", f"{UNRELATED}\n{END}"])
        assert related.solution_term > unrelated.solution_term  # the student finds the solution likelier
        assert related.kl_term < unrelated.kl_term  # and the explanation is natural to the student
        assert related.reward > unrelated.reward


def test_each_term_matches_a_direct_computation_from_the_logits(models, scorer):
    student, teacher, tokenizer = models
    q, e, s = "What is 12 + 30?", "Add 30 to 12.\n\n12 + 30 = 42.", "The answer is 42."
    (score,) = scorer.score([q], [s], [f"{e}\n{END}"])

    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    # Student: prompt + "<think>\n" + explanation + "\n</think>\n\n" + solution, every log-prob at temperature 0.7.
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": q}], tokenize=False, add_generation_prompt=True
    )
    head, expl, mid, sol = ids(prompt + "<think>\n"), ids(e), ids("\n</think>\n\n"), ids(s)
    seq = torch.tensor([head + expl + mid + sol])
    with torch.no_grad():
        logp = torch.log_softmax(student(seq).logits[0] / 0.7, dim=-1)
    e0, s0 = len(head), len(head) + len(expl) + len(mid)
    student_expl = torch.stack([logp[t - 1, seq[0, t]] for t in range(e0, e0 + len(expl))])
    student_sol = torch.stack([logp[t - 1, seq[0, t]] for t in range(s0, s0 + len(sol))])

    # Teacher: the RLT prompt with the solution pre-filled, then the explanation, at temperature 1.
    messages = get_style("rlt").build({"problem": q, "solution": s})
    t_prompt = ids(tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True))
    t_seq = torch.tensor([t_prompt + expl])
    with torch.no_grad():
        t_logp = torch.log_softmax(teacher(t_seq).logits[0], dim=-1)
    teacher_expl = torch.stack([t_logp[t - 1, t_seq[0, t]] for t in range(len(t_prompt), t_seq.shape[1])])

    diff = teacher_expl - student_expl
    expected = {
        "solution_logprob_mean": student_sol.mean().item(),
        "solution_logprob_min": student_sol.min().item(),
        "kl_mean": diff.mean().item(),
        "kl_max": diff.max().item(),
    }
    for name, value in expected.items():
        assert getattr(score, name) == pytest.approx(value, abs=1e-4), name
    solution_term = 1.0 * expected["solution_logprob_mean"] + 0.01 * expected["solution_logprob_min"]
    kl_term = 3.0 * expected["kl_mean"] + 0.03 * expected["kl_max"]
    assert score.solution_term == pytest.approx(solution_term, abs=1e-4)
    assert score.kl_term == pytest.approx(kl_term, abs=1e-4)
    assert score.reward == pytest.approx(solution_term - kl_term, abs=1e-4)
    assert (score.explanation_tokens, score.solution_tokens) == (len(expl), len(sol))


def test_batched_scores_equal_one_by_one_and_use_no_gradients(models, scorer):
    student, _, _ = models
    rng = random.Random(7)
    rows = [triple(rng) for _ in range(5)]
    rows[1] = (
        rows[1][0],
        rows[1][1] + " Then check it twice to be sure.",
        rows[1][2],
    )  # uneven lengths: padding
    explanations = [f"{e}\n{END}" for _, e, _ in rows]
    student.train()  # the scorer must switch to eval and back, and never build a graph
    batched = scorer.score([q for q, _, _ in rows], [s for *_, s in rows], explanations)
    assert student.training
    single = [scorer.score([q], [s], [x])[0] for (q, _, s), x in zip(rows, explanations, strict=True)]
    student.eval()
    for b, one in zip(batched, single, strict=True):
        assert b.reward == pytest.approx(one.reward, abs=1e-4)
    assert all(p.grad is None for p in student.parameters())


def test_missing_or_empty_explanation_gets_the_fixed_penalty(scorer):
    q, e, s = triple(random.Random(3))
    good, untagged, empty = scorer.score([q] * 3, [s] * 3, [f"{e}\n{END}", e, f"  \n{END}"])
    assert good.issue is None and good.reward > -1e9
    assert (untagged.reward, untagged.issue) == (-1.0, MISSING_TAGS)
    assert (empty.reward, empty.issue) == (-1.0, EMPTY_EXPLANATION)
    # A bare explanation is scored as is when tags are not required.
    (bare,) = scorer.score([q], [s], [e], require_tags=False)
    assert bare.reward == pytest.approx(good.reward, abs=1e-4)


def test_extract_explanation_accepts_echoed_opening_tag():
    assert extract_explanation("<|begin_of_explanation|>\nstep\n<|end_of_explanation|> tail") == "step"
    assert extract_explanation("step one\n<|end_of_explanation|>") == "step one"
    assert extract_explanation("never closed") is None


def test_trl_wrapper_returns_scorer_rewards_and_logs_both_terms(scorer, models):
    _, _, tokenizer = models
    rng = random.Random(11)
    rows = [triple(rng) for _ in range(2)]
    prompts = [
        tokenizer.apply_chat_template(
            get_style("rlt").build({"problem": q, "solution": s}), tokenize=False, continue_final_message=True
        )
        for q, _, s in rows
    ]
    completions = [f"{rows[0][1]}\n{END}", "no closing tag"]
    logged: dict[str, float] = {}
    reward = RLTReward(scorer)
    assert reward.__name__ == "rlt"
    values = reward(
        prompts=prompts,
        completions=completions,
        problem=[q for q, _, _ in rows],
        solution=[s for *_, s in rows],
        log_metric=lambda name, value: logged.__setitem__(name, value),
    )
    direct = scorer.score(
        [q for q, _, _ in rows], [s for *_, s in rows], completions, teacher_prompts=prompts
    )
    assert values == [d.reward for d in direct]
    assert values[1] == -1.0
    assert logged["rlt/solution_term"] == pytest.approx(direct[0].solution_term)
    assert logged["rlt/kl_term"] == pytest.approx(direct[0].kl_term)
    assert logged["rlt/penalised"] == 0.5
    with pytest.raises(ContractError, match="solution"):
        reward(prompts=prompts, completions=completions, problem=["q", "q"])


def test_bad_configuration_is_refused(scorer):
    with pytest.raises(ValueError, match="mean, min"):
        RLTRewardConfig(rlt_solution_weights=[1.0])
    with pytest.raises(ValueError, match="temperatures"):
        RLTRewardConfig(rlt_student_temperature=0)
    with pytest.raises(ContractError, match="row 1"):
        scorer.score(["q", "q"], ["s", ""], [f"e\n{END}", f"e\n{END}"])
    no_teacher = RLTScorer(scorer.student, scorer.tokenizer)
    with pytest.raises(ValueError, match="teacher"):
        no_teacher.score(["q"], ["s"], [f"e\n{END}"])
