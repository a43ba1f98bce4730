"""train/evaluate.py metrics on a scripted backend whose answers are known: pass@1 over k samples, maj@k, pass@k,
mean length, finished share; the reports; resuming; the offline benchmark registry."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from openr1_data.schema import Prompt
from openr1_data.teachers.base import Completion, SamplingParams, Teacher
from openr1_data.train.evaluation import EvalConfig, evaluate, majority_correct

GOLD = {"Q0": "3", "Q1": "\\frac{1}{2}", "Q2": "10", "Q3": "7"}

# Four samples per item: (answer written in \boxed{}, finish reason). None = no boxed answer.
SCRIPT: dict[str, list[tuple[str | None, str]]] = {
    "Q0": [("3", "stop"), ("3", "stop"), ("3", "stop"), ("3", "stop")],  # 4/4, maj right
    "Q1": [
        ("0.5", "stop"),
        ("1/2", "stop"),
        ("2", "stop"),
        ("2", "stop"),
    ],  # 2/4; correct forms vote together
    "Q2": [("11", "stop"), ("11", "stop"), ("12", "stop"), ("10", "length")],  # 1/4, maj wrong
    "Q3": [(None, "length"), (None, "length"), ("6", "stop"), ("5", "stop")],  # 0/4
}
TOKENS = 10  # every completion reports 10 tokens, except unfinished ones (40)


class ScriptedTeacher(Teacher):
    """A teacher whose answers are fixed per question (our own interface, so no mock is involved)."""

    backend = "scripted"

    def __init__(self):
        super().__init__("scripted-student")
        self.calls = 0

    def generate(
        self, prompts: Sequence[Prompt], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        self.calls += 1
        out = []
        for prompt in prompts:
            question = prompt[-1]["content"].split("\n")[0]
            samples = []
            for answer, finish in SCRIPT[question][:n]:
                # no answer: the think block is never closed either
                text = f"<think>\nworking\n</think>\n\n\\boxed{{{answer}}}" if answer else "<think>\nno idea"
                samples.append(Completion(text, finish, TOKENS if finish == "stop" else 4 * TOKENS))
            out.append(samples)
        return out


@pytest.fixture
def bench_file(tmp_path):
    path = tmp_path / "toy.jsonl"
    path.write_text("\n".join(json.dumps({"id": q, "problem": q, "answer": a}) for q, a in GOLD.items()))
    return path


def test_scores_on_a_scripted_backend(tmp_path, bench_file):
    cfg = EvalConfig(
        model="scripted-student",
        benchmarks=[f"toy={bench_file}"],
        num_samples=4,
        num_proc=0,
        output_dir=str(tmp_path / "eval"),
    )
    teacher = ScriptedTeacher()
    (score,) = evaluate(cfg, teacher=teacher)
    assert score.benchmark == "toy" and score.items == 4 and score.samples_per_item == 4
    assert score.pass_at_1 == pytest.approx((4 / 4 + 2 / 4 + 1 / 4 + 0 / 4) / 4)
    assert score.maj_at_k == pytest.approx(2 / 4)  # Q0 and Q1 (correct forms 0.5 and 1/2 tie-break first)
    assert score.pass_at_k == pytest.approx(3 / 4)
    assert score.finished == pytest.approx(13 / 16)
    assert score.mean_length == pytest.approx((13 * TOKENS + 3 * 4 * TOKENS) / 16)
    assert score.unjudged == 0

    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert report["model"] == "scripted-student"
    assert report["scores"]["toy"]["pass_at_1"] == pytest.approx(score.pass_at_1)
    table = (tmp_path / "eval" / "report.md").read_text()
    assert "| toy | 4 | 4 | 0.438 [" in table and "| 0.500 | 0.750 | 15.6 | 0.812 [" in table

    # Format compliance next to pass@1, every share with a 95% bootstrap interval over items
    assert score.closed_think == pytest.approx(14 / 16) and score.boxed == pytest.approx(14 / 16)
    for name in ("pass_at_1", "finished", "closed_think", "boxed"):
        low, high = score.intervals[name]
        assert 0.0 <= low <= getattr(score, name) <= high <= 1.0, name
    low, high = score.intervals["pass_at_1"]
    assert high - low > 0.2  # four items that differ this much cannot pin pass@1 down
    assert score.intervals["closed_think"][1] == 1.0 and score.intervals["closed_think"][0] < 1.0
    samples = [json.loads(x) for x in (tmp_path / "eval" / "samples" / "toy.jsonl").read_text().splitlines()]
    assert len(samples) == 16 and sum(r["boxed"] for r in samples) == 14
    assert {r["item_id"] for r in samples if not r["closed_think"]} == {"Q3"}
    assert all(
        r["problem"] and r["gold"] is not None and r["completion"] for r in samples
    )  # checkable by a reader

    # Rerunning the same evaluation reuses the written generations.
    calls = teacher.calls
    (again,) = evaluate(cfg, teacher=teacher)
    assert teacher.calls == calls and again == score


def test_offline_registry_benchmark(tmp_path):
    class Wrong(ScriptedTeacher):
        def generate(self, prompts, sampling, n=1):
            return [[Completion("<think>\nx\n</think>\n\n\\boxed{-1}", "stop", 5)] * n for _ in prompts]

    cfg = EvalConfig(
        model="wrong", benchmarks=["aime_2024"], limit=3, num_samples=2, num_proc=0, output_dir=str(tmp_path)
    )
    (score,) = evaluate(cfg, teacher=Wrong())
    assert (score.benchmark, score.items, score.pass_at_1, score.maj_at_k) == ("aime_2024", 3, 0.0, 0.0)


def test_majority_vote_rules():
    # Correct samples vote together even when written differently; wrong ones by normalized text.
    assert majority_correct(["0.5", "1/2", "2", "2"], [True, True, False, False])  # tie: correct seen first
    assert not majority_correct(["2", "2", "0.5", "1/2"], [False, False, True, True])  # tie: wrong seen first
    assert not majority_correct(["$x = 2$", "x=2", "3"], [False, False, True])  # spacing and $ normalized
    assert majority_correct([None, None, None, "3"], [False, False, False, True])  # no answer: no vote
    assert not majority_correct([None, None], [False, False])


def test_bad_configuration_is_refused(tmp_path):
    with pytest.raises(ValueError, match="num_samples"):
        EvalConfig(num_samples=0)
    with pytest.raises(ValueError, match="Known benchmarks"):
        evaluate(EvalConfig(benchmarks=["aime_2099"], output_dir=str(tmp_path)), teacher=ScriptedTeacher())


def test_every_benchmark_is_checked_before_the_model_loads(tmp_path):
    # The model folder does not exist: reaching the model would fail on it, so the benchmark error shows the
    # benchmarks were all loaded first (a typo costs seconds, not a vLLM engine start).
    cfg = EvalConfig(model=str(tmp_path / "no-such-model"), benchmarks=["math_500", "aime_2099"],
                     output_dir=str(tmp_path / "eval"))  # fmt: skip
    with pytest.raises(ValueError, match="unknown benchmark 'aime_2099'"):
        evaluate(cfg)
