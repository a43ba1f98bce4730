"""Budget forcing: a trace cut inside its think block is closed and finished with a forced boxed answer."""

from __future__ import annotations

from datasets import Dataset

from openr1_data.generate.budget_forcing import FORCED_ANSWER_PREFIX, continuation_prompt, needs_forcing
from openr1_data.generate.stage import GenerationConfig, generate_traces
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.problems import normalize_problems
from openr1_data.teachers import Completion, make_teacher


def test_which_traces_are_forced():
    assert needs_forcing(Completion("<think>long and cut", "length", 10))
    assert not needs_forcing(Completion("<think>done</think> \\boxed{1}", "length", 10))
    assert not needs_forcing(Completion("<think>stopped early", "stop", 4))
    assert needs_forcing(Completion("<think>stopped early", "stop", 4), also_on_stop=True)
    assert needs_forcing(Completion("<think>ended, nobody says why", "unknown", 10))  # as a cut one
    assert not needs_forcing(Completion("<think>done</think> \\boxed{1}", "unknown", 10))


def test_continuation_extends_a_prefilled_assistant_turn():
    prompt = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "<think>"}]
    assert continuation_prompt(prompt, "abc")[-1] == {"role": "assistant", "content": "<think>abc"}
    assert continuation_prompt(prompt[:1], "abc")[-1] == {"role": "assistant", "content": "abc"}


def _problems(n: int) -> Dataset:
    return normalize_problems(Dataset.from_list(bundled_problems(n))).kept


def test_short_budget_on_tiny_model_gives_closed_think_and_forced_flag(tmp_path, tiny_model_dir):
    cfg = GenerationConfig(
        output_dir=str(tmp_path), teacher_model=tiny_model_dir, prompt_styles=["r1_think", "rlt"],
        num_generations=2, thinking_budget=6, forced_answer_tokens=4, temperature=1.0, batch_size=4,
    )  # fmt: skip
    traces = generate_traces(_problems(3), cfg, progress=False).kept
    think = traces.filter(lambda r: r["prompt_style"] == "r1_think")
    assert len(think) == 6
    for row in think:
        if row["forced"]:
            assert row["completion"].count("</think>") == 1
            assert FORCED_ANSWER_PREFIX in row["completion"]
            assert row["reasoning"] is not None and row["parse_issue"] != "unclosed_think"
            assert row["completion_tokens"] > 6  # both generations are counted
    assert sum(think["forced"]) >= 1  # the random tiny model does not close think within 6 tokens
    assert not any(traces.filter(lambda r: r["prompt_style"] == "rlt")["forced"])  # RLT has no think block


def test_forced_answer_is_boxed_with_a_real_model(tmp_path, smollm2_dir):
    teacher = make_teacher("transformers", smollm2_dir)
    cfg = GenerationConfig(
        output_dir=str(tmp_path), teacher_model=smollm2_dir, prompt_styles=["r1_think"], num_generations=1,
        thinking_budget=12, forced_answer_tokens=8, temperature=0.0,
    )  # fmt: skip
    traces = generate_traces(_problems(2), cfg, teacher=teacher, progress=False).kept
    assert all(traces["forced"])
    for row in traces:
        assert "</think>" in row["completion"] and row["reasoning"]
        assert row["predicted_answer"], f"no boxed answer after forcing: {row['completion']!r}"


def test_rlt_explanations_that_stopped_get_their_closing_tag():
    from openr1_data.generate.budget_forcing import close_explanations

    stopped, cut, closed = (
        Completion("explained", "stop", 3),
        Completion("cut mid", "length", 3),
        Completion("done<|end_of_explanation|>", "stop", 4),
    )
    out = close_explanations([[stopped, cut, closed]])[0]
    assert out[0].text == "explained\n<|end_of_explanation|>" and out[0].forced
    assert out[1] == cut and out[2] == closed  # cut stays unfinished; a closed one is untouched
