"""Prompts longer than the teacher's context: a recorded per-trace failure (`finish_reason=context_overflow`, the
problem named in the log) while the other problems' traces are written; when no prompt fits, one clear error.

Local: a tiny real model that knows 256 positions. HTTP: a real local server that refuses over-long prompts as
vLLM does (HTTP 400, "This model's maximum context length is ... tokens").
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import Dataset

from openr1_data.generate.stage import GenerationConfig, generate_traces, shard_folder
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.problems import normalize_problems
from openr1_data.teachers import SamplingParams, make_teacher
from openr1_data.teachers.base import CONTEXT_OVERFLOW
from openr1_data.teachers.openai_backend import read_context_overflow
from tests.scripted_openai import ScriptedOpenAIServer
from tests.tiny_models import build_tiny_model

REPO = Path(__file__).resolve().parents[1]
CONTEXT = 256
LONG_PROBLEM = (
    "Compute the sum of the following numbers. " + "17 + 23 + 41 + " * 2000 + "5."
)  # ~29k characters


@pytest.fixture(scope="module")
def short_model(tmp_path_factory) -> str:
    return str(build_tiny_model(tmp_path_factory.mktemp("short-context"), context=CONTEXT))


@pytest.fixture(scope="module")
def teacher(short_model):
    return make_teacher("transformers", short_model, batch_size=8)


def _problems(long_ones: int, normal: int = 4) -> Dataset:
    rows = bundled_problems(normal)
    rows[1:1] = [{"problem": LONG_PROBLEM + " " * k, "answer": "1"} for k in range(long_ones)]
    return normalize_problems(Dataset.from_list(rows)).kept


def _config(out: Path, model: str, **overrides) -> GenerationConfig:
    base = dict(
        output_dir=str(out), teacher_model=model, num_generations=2, max_new_tokens=12, temperature=1.0
    )
    return GenerationConfig(**{**base, **overrides})


def test_the_model_context_comes_from_its_config(teacher):
    assert len(LONG_PROBLEM) > 29_000
    assert teacher.context_length == CONTEXT
    assert teacher.fits_context([{"role": "user", "content": "What is 3 + 4?"}]) is True
    assert teacher.fits_context([{"role": "user", "content": LONG_PROBLEM}]) is False


def test_a_long_problem_among_four_is_a_context_overflow_row_and_the_others_are_written(
    tmp_path, short_model, teacher, caplog
):
    problems = _problems(long_ones=1)
    long_id = problems[1]["problem_id"]
    with caplog.at_level(logging.WARNING, logger="openr1_data.generate.scheduler"):
        result = generate_traces(
            problems, _config(tmp_path / "gen", short_model), teacher=teacher, progress=False
        )
    traces = result.kept.to_list()
    assert len(traces) == 5 * 2
    overflowed = [t for t in traces if t["finish_reason"] == CONTEXT_OVERFLOW]
    assert {t["problem_id"] for t in overflowed} == {long_id} and len(overflowed) == 2
    assert all(t["completion"] == "" and t["completion_tokens"] == 0 for t in overflowed)
    good = [t for t in traces if t["problem_id"] != long_id]
    assert len(good) == 8 and all(t["completion_tokens"] > 0 for t in good)
    assert result.report.finish_reasons[CONTEXT_OVERFLOW] == 2
    # the log names the problem once (not once per sample), with the sizes
    named = [r.getMessage() for r in caplog.records if long_id in r.getMessage()]
    assert len(named) == 1 and "context_overflow" in named[0] and f"context of {CONTEXT} tokens" in named[0]
    # the report on disk counts it; the `finished` filter turns it into a rejection reason of the card
    report = json.loads((tmp_path / "gen" / "generate_report.json").read_text())
    assert report["finish_reasons"][CONTEXT_OVERFLOW] == 2


def test_a_prompt_that_fits_gets_only_the_tokens_the_context_leaves(teacher):
    problem = "add " * 200  # a prompt near the end of the 256 positions
    prompt = [{"role": "user", "content": problem}]
    room = CONTEXT - len(teacher.prompt_tokens(prompt))
    assert 0 < room < 100
    (completion,) = teacher.generate([prompt], SamplingParams(temperature=1.0, max_new_tokens=500, seed=1))[0]
    assert completion.completion_tokens <= room


def test_no_prompt_that_fits_is_one_error_before_any_compute(tmp_path, short_model):
    problems_file = tmp_path / "long.jsonl"
    problems_file.write_text(
        "".join(json.dumps({"problem": LONG_PROBLEM + f" {k}"}) + "\n" for k in range(3))
    )
    out = tmp_path / "gen"
    cmd = [sys.executable, "-m", "openr1_data.cli", "generate", "--problems", str(problems_file)]
    cmd += ["--teacher_model", short_model, "--output_dir", str(out), "--max_new_tokens", "8"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if "error:" in line]
    assert (
        len(lines) == 1 and "every prompt of the plan" in lines[0] and "longer than the context" in lines[0]
    )
    assert "Traceback" not in done.stderr
    assert not list(shard_folder(out).glob("*.parquet"))  # nothing was generated


# -- over HTTP ---------------------------------------------------------------------------------------------------

VLLM_REFUSAL = (
    "This model's maximum context length is 512 tokens. However, your request has {n} input tokens. "
    "Please reduce the length of the input messages. None"
)


def _refuse_long(body: dict) -> str | None:
    size = sum(len(m["content"]) for m in body["messages"])
    return VLLM_REFUSAL.format(n=size // 4) if size // 4 >= 512 else None


def test_over_http_the_servers_400_is_a_context_overflow_row_and_the_run_goes_on(tmp_path, caplog):
    problems = _problems(long_ones=1)
    long_id = problems[1]["problem_id"]
    reply = "<think>3 + 4 = 7</think> \\boxed{7}"
    with ScriptedOpenAIServer(lambda body, i: reply, refuse=_refuse_long) as server:
        cfg = _config(tmp_path / "gen", "served", teacher_backend="openai", base_url=server.base_url)
        with caplog.at_level(logging.WARNING, logger="openr1_data.generate.scheduler"):
            result = generate_traces(problems, cfg, progress=False)
        refused = [b for b in server.requests if _refuse_long(b)]
    traces = result.kept.to_list()
    assert len(traces) == 10
    overflowed = [t for t in traces if t["finish_reason"] == CONTEXT_OVERFLOW]
    assert {t["problem_id"] for t in overflowed} == {long_id} and len(overflowed) == 2
    assert all(t["completion"] == reply for t in traces if t["problem_id"] != long_id)
    assert len(refused) == 2  # one request per sample, never retried: retrying cannot make it fit
    named = [r.getMessage() for r in caplog.records if long_id in r.getMessage()]
    assert len(named) == 1 and "maximum context length is 512" in named[0]


def test_over_http_every_prompt_refused_is_one_clear_error(tmp_path):
    problems = normalize_problems(
        Dataset.from_list([{"problem": LONG_PROBLEM + f" {k}"} for k in range(2)])
    ).kept
    with ScriptedOpenAIServer(lambda body, i: "x", refuse=_refuse_long) as server:
        cfg = _config(tmp_path / "gen", "served", teacher_backend="openai", base_url=server.base_url)
        with pytest.raises(ValueError, match="every .* is longer than the context"):
            generate_traces(problems, cfg, progress=False)


def test_a_prompt_that_fits_with_too_many_new_tokens_is_asked_again_for_what_is_left(tmp_path):
    """vLLM refuses prompt + max_tokens > context even when the prompt fits: the teacher asks again for the rest."""

    def refuse(body: dict) -> str | None:
        if body["max_tokens"] > 512 - 100:
            return (
                f"'max_tokens' or 'max_completion_tokens' is too large: {body['max_tokens']}. This model's maximum "
                f"context length is 512 tokens and your request has 100 input tokens "
                f"({body['max_tokens']} > 512 - 100). None"
            )
        return None

    with ScriptedOpenAIServer(lambda body, i: "fine", refuse=refuse) as server:
        teacher = make_teacher("openai", "served", base_url=server.base_url, max_retries=0)
        (completion,) = teacher.generate(
            [[{"role": "user", "content": "hi"}]], SamplingParams(max_new_tokens=1000, seed=0)
        )[0]
        assert [b["max_tokens"] for b in server.requests] == [1000, 412]
    assert completion.text == "fine" and completion.finish_reason == "stop"


@pytest.mark.parametrize(
    ("status", "text", "context", "prompt"),
    [
        (400, VLLM_REFUSAL.format(n=900), 512, 900),
        (
            400,
            "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens "
            "(4000 in the messages, 1000 in the completion).",
            4096,
            4000,
        ),
        (400, '{"error": {"code": "context_length_exceeded", "message": "too long"}}', None, None),
        (422, "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096.", None, None),
    ],
)
def test_servers_refusals_are_read_as_context_overflow(status, text, context, prompt):
    answer = read_context_overflow(status, text)
    assert answer is not None and (answer.context, answer.prompt_tokens) == (context, prompt)


def test_other_client_errors_are_not_context_overflow():
    assert read_context_overflow(400, "Unexpected fields: continue_final_message") is None
    assert read_context_overflow(500, "This model's maximum context length is 512 tokens.") is None
