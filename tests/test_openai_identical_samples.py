"""Identical samples at temperature > 0 (issue 16, "sampling that samples"): against a real `transformers serve`
that decodes greedily (the tiny model with `do_sample` off, like SmolLM2), the HTTP teacher warns once and counts
the prompts; sending the sampling generation config makes the samples differ and the warning stay silent."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from openr1_data.generate.server_pool import as_streaming
from openr1_data.teachers.base import Completion, SamplingParams
from openr1_data.teachers.openai_backend import IDENTICAL_MIN_TOKENS, IdenticalSamples, OpenAITeacher
from openr1_data.teachers.serve import sampling_generation_config, start_transformers_serve

PROMPTS = [
    [{"role": "user", "content": "What is 3 + 4?"}],
    [{"role": "user", "content": "Name a prime number."}],
]
SAMPLED = SamplingParams(temperature=0.6, top_p=0.95, max_new_tokens=12, seed=11)
LOGGER = "openr1_data.teachers.openai_backend"


@pytest.fixture(scope="module")
def greedy_model_dir(tiny_model_dir, tmp_path_factory) -> str:
    """The tiny model with a generation config that does not sample (what SmolLM2 ships)."""
    folder = tmp_path_factory.mktemp("greedy-model") / "model"
    shutil.copytree(tiny_model_dir, folder)
    path = Path(folder) / "generation_config.json"
    config = json.loads(path.read_text())
    config["do_sample"] = False
    path.write_text(json.dumps(config))
    return str(folder)


@pytest.fixture(scope="module")
def greedy_served(greedy_model_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with start_transformers_serve(greedy_model_dir, startup_timeout=120, log_path=log) as server:
        yield server


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


def test_greedy_server_warns_once_and_counts_the_prompts(greedy_served, caplog):
    teacher = OpenAITeacher(greedy_served.model, base_url=greedy_served.base_url, max_concurrency=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = teacher.generate(PROMPTS, SAMPLED, n=3)
    # the trap: temperature 0.6, three seeds, one text per prompt
    for samples in out:
        assert len({c.text for c in samples}) == 1
        assert samples[0].completion_tokens >= IDENTICAL_MIN_TOKENS
    warnings = _warnings(caplog)
    assert len(warnings) == 1, warnings  # once per teacher, not once per prompt
    message = warnings[0]
    assert "identical" in message and "transformers serve" in message
    assert "--serve_teacher" in message and "generation_config" in message
    assert teacher.monitor.identical_prompts == len(PROMPTS)
    assert "2 prompt(s) with identical samples" in teacher.monitor.line()


def test_streamed_requests_are_checked_too(greedy_served, caplog):
    # the generation stage streams single requests through a server pool (`complete_one`), without `n`
    teacher = OpenAITeacher(greedy_served.model, base_url=greedy_served.base_url, max_concurrency=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        as_streaming(teacher).generate(PROMPTS, SAMPLED, n=2)
    assert len(_warnings(caplog)) == 1
    assert teacher.monitor.identical_prompts == len(PROMPTS)


def test_sampling_generation_config_gives_distinct_samples_and_no_warning(
    greedy_served, greedy_model_dir, caplog
):
    teacher = OpenAITeacher(
        greedy_served.model,
        base_url=greedy_served.base_url,
        max_concurrency=2,
        extra_body={"generation_config": sampling_generation_config(greedy_model_dir)},
    )
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = teacher.generate(PROMPTS, SAMPLED, n=3)
    for samples in out:
        assert len({c.text for c in samples}) >= 2
    assert _warnings(caplog) == []
    assert teacher.monitor.identical_prompts == 0


def test_greedy_on_purpose_is_not_flagged(greedy_served, caplog):
    teacher = OpenAITeacher(greedy_served.model, base_url=greedy_served.base_url, max_concurrency=2)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        out = teacher.generate(PROMPTS[:1], SamplingParams(temperature=0.0, max_new_tokens=12), n=2)
    assert out[0][0].text == out[0][1].text
    assert _warnings(caplog) == [] and teacher.monitor.identical_prompts == 0


def test_a_differing_sample_takes_the_prompt_out_and_short_answers_do_not_count():
    check = IdenticalSamples()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.6}
    same = Completion(
        text="the same long answer", finish_reason="stop", completion_tokens=IDENTICAL_MIN_TOKENS
    )
    assert check.record({**body, "seed": 1}, same) == 0
    assert check.record({**body, "seed": 2}, same) == 2 and check.identical_prompts == 1
    other = Completion(text="another answer", finish_reason="stop", completion_tokens=IDENTICAL_MIN_TOKENS)
    assert check.record({**body, "seed": 3}, other) == 0 and check.identical_prompts == 0
    assert check.record({**body, "seed": 4}, same) == 0 and check.identical_prompts == 0
    short = Completion(text="7", finish_reason="stop", completion_tokens=1)
    other_prompt = {**body, "messages": [{"role": "user", "content": "3 + 4?"}]}
    assert check.record({**other_prompt, "seed": 1}, short) == 0
    assert check.record({**other_prompt, "seed": 2}, short) == 0 and check.identical_prompts == 0
