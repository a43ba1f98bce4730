"""reasoning-gym as a problem source with a difficulty knob, verified and rewarded by each task's own scorer.

The traces are real generation rows (scripted teacher over HTTP) whose answers are the gold, a wrong number, or
missing, so the verdicts are known; the scorer is reasoning-gym's own."""

from __future__ import annotations

import json

import pytest

from openr1_data.cli import main as cli_main
from openr1_data.curate.gym_verify import gym_answer, gym_verdicts
from openr1_data.io import read_dataset
from openr1_data.schema import GYM, GYM_ENTRY
from openr1_data.sources.problems import ProblemSourceConfig, load_problems
from openr1_data.train.rewards import get_reward_funcs
from tests.scripted_openai import ScriptedOpenAIServer

pytest.importorskip("reasoning_gym")


def gym(**overrides):
    settings = {"problems": "reasoning_gym:basic_arithmetic", "gym_size": 6, "gym_seed": 3, **overrides}
    return load_problems(ProblemSourceConfig(**settings)).kept


def test_a_task_becomes_contract_rows_with_its_difficulty_knob():
    easy = gym(gym_config="{min_terms: 2, max_terms: 2, min_digits: 1, max_digits: 1}")
    hard = gym(gym_config="{min_terms: 4, max_terms: 4, min_digits: 3, max_digits: 3}")
    assert len(easy) == len(hard) == 6 and set(easy["domain"]) == {GYM}
    assert set(easy["source"]) == {"reasoning_gym/basic_arithmetic"} and all(easy["answer"])
    assert all(json.loads(e)["question"] == p for e, p in zip(easy[GYM_ENTRY], easy["problem"], strict=True))
    digits = [max(len(t) for t in p.replace("-", " ").split() if t.isdigit()) for p in hard["problem"]]
    assert min(digits) == 3 and max(len(t) for p in easy["problem"] for t in p.split() if t.isdigit()) == 1
    assert gym()["problem"] == gym()["problem"]  # seeded


@pytest.mark.parametrize(
    ("source", "config", "message"),
    [
        ("reasoning_gym:basic_arithmetc", None, "Did you mean basic_arithmetic"),
        ("reasoning_gym:basic_arithmetic", "[1, 2]", "must be a mapping"),
    ],
)
def test_bad_tasks_and_settings_are_user_errors(source, config, message):
    with pytest.raises(ValueError, match=message):
        gym(problems=source, gym_config=config)


def test_the_tasks_scorer_judges_verify_and_the_reward_alike(tmp_path):
    problems = gym()
    golds = {p: a for p, a in zip(problems["problem"], problems["answer"], strict=True)}

    def reply(body: dict, index: int) -> str:
        user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        problem = next(p for p in golds if p in user)
        kind = sorted(golds).index(problem) % 3  # right, wrong, no answer
        answer = golds[problem] if kind == 0 else str(int(golds[problem]) + 1)
        return "<think>\nwork\n</think>\n" + (f"\\boxed{{{answer}}}" if kind < 2 else "I am not sure.")

    path = tmp_path / "problems.jsonl"
    problems.to_json(str(path))
    gen, ver = tmp_path / "gen", tmp_path / "ver"
    with ScriptedOpenAIServer(reply) as server:
        assert cli_main(["generate", "--problems", str(path), "--output_dir", str(gen), "--teacher_backend",
                         "openai", "--base_url", server.base_url, "--teacher_model", "s",
                         "--num_generations", "1"]) == 0  # fmt: skip
    assert cli_main(["verify", "--input", str(gen), "--output_dir", str(ver), "--verify_num_proc", "0"]) == 0
    verified = read_dataset(ver)
    expected = [[True, False, False][sorted(golds).index(p) % 3] for p in verified["problem"]]
    assert verified["correct"] == expected and set(verified["domain"]) == {GYM}
    reward = get_reward_funcs(["reasoning_gym"])[0]
    columns = {c: list(verified[c]) for c in verified.column_names if c != "completion"}  # as TRL passes them
    scores = reward(list(verified["completion"]), **columns)
    assert scores == [1.0 if ok else 0.0 for ok in expected]


def test_answers_without_a_box_and_rows_without_an_entry():
    assert gym_answer(None, "So the answer is \\boxed{-4}.") == "-4" and gym_answer(None, " 12 ") == "12"
    assert gym_answer("7", "ignored") == "7" and gym_answer(None, "  ") is None
    entry = json.dumps({"question": "q", "answer": "3", "metadata": {"source_dataset": "basic_arithmetic"}})
    assert gym_verdicts([entry, entry, None], ["3", None, "3"]) == [(True, None), (False, "no_answer"),
                                                                    (None, "gold_missing")]  # fmt: skip
