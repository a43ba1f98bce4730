"""The distilabel adapter: the generation stage through a real distilabel Pipeline (TextGeneration +
TransformersLLM on the tiny model) writes the same schema as the native transformers backend; OpenAILLM against a
scripted OpenAI-compatible server; and the pure mapping between our types and distilabel's.

distilabel pipelines are slow to start (a child interpreter, worker processes, model load), so the module runs two:
one TransformersLLM run shared by the schema tests, one OpenAILLM run."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from datasets import Dataset

from openr1_data.generate.stage import GenerationConfig, generate_traces
from openr1_data.prompts import get_style
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.problems import normalize_problems
from openr1_data.teachers import SamplingParams, make_teacher
from openr1_data.teachers import distilabel_backend as backend
from openr1_data.teachers.distilabel_backend import (
    INDEX_COLUMN,
    DistilabelTeacher,
    completions_from_row,
    generation_kwargs,
    prompt_rows,
)
from openr1_data.teachers.transformers_backend import TransformersTeacher
from tests.scripted_openai import ScriptedOpenAIServer

needs_distilabel = pytest.mark.skipif(
    importlib.util.find_spec("distilabel") is None,
    reason='distilabel is not installed: pip install "openr1-data[distilabel]"',
)
MAX_TOKENS = 8
USER = [{"role": "user", "content": "What is 3 + 4?"}]
SYSTEM_USER = [{"role": "system", "content": "Be brief."}, *USER]


@pytest.fixture(scope="module")
def distilabel_env(tmp_path_factory):
    """distilabel's cache in a temp dir (never ~/.cache/distilabel), offline, and quieter logs."""
    saved = {k: os.environ.get(k) for k in ("DISTILABEL_CACHE_DIR", "DISTILABEL_LOG_LEVEL", "HF_HUB_OFFLINE")}
    os.environ["DISTILABEL_CACHE_DIR"] = str(tmp_path_factory.mktemp("distilabel-cache"))
    os.environ["DISTILABEL_LOG_LEVEL"] = "WARNING"
    os.environ["HF_HUB_OFFLINE"] = "1"
    yield os.environ["DISTILABEL_CACHE_DIR"]
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def problems() -> Dataset:
    return normalize_problems(Dataset.from_list(bundled_problems(2))).kept


def gen_config(output_dir: Path, backend_name: str, styles=("r1", "steps")) -> GenerationConfig:
    return GenerationConfig(
        output_dir=str(output_dir),
        teacher_backend=backend_name,
        prompt_styles=list(styles),  # "steps" has a system prompt: TextGeneration's system_prompt column
        num_generations=2,
        temperature=1.0,
        max_new_tokens=MAX_TOKENS,
        batch_size=16,  # one batch: one distilabel pipeline run
    )


@pytest.fixture(scope="module")
def runs(distilabel_env, problems, tiny_model_dir, tmp_path_factory):
    """The same generation through the native transformers backend and through distilabel (TransformersLLM)."""
    if importlib.util.find_spec("distilabel") is None:
        pytest.skip('distilabel is not installed: pip install "openr1-data[distilabel]"')
    # the native run goes first on purpose: torch has then run multi-threaded in this process, which would hang
    # distilabel's forked workers if the adapter ran distilabel here instead of in a clean child interpreter
    native = generate_traces(
        problems,
        gen_config(tmp_path_factory.mktemp("native"), "transformers"),
        teacher=TransformersTeacher(tiny_model_dir),
        progress=False,
    )
    teacher = DistilabelTeacher(tiny_model_dir)
    out = tmp_path_factory.mktemp("distilabel")
    adapted = generate_traces(problems, gen_config(out, "distilabel"), teacher=teacher, progress=False)
    summary = adapted.report
    yield {
        "native": native.kept,
        "distilabel": adapted.kept,
        "summary": summary,
        "teacher": teacher,
        "out": out,
    }
    teacher.close()


@needs_distilabel
def test_same_schema_and_traces_as_the_native_backend(runs):
    native, adapted = runs["native"], runs["distilabel"]
    assert adapted.column_names == native.column_names
    assert adapted.features == native.features  # same dtypes, column for column
    assert len(adapted) == len(native) == 2 * 2 * 2  # problems x styles x samples
    # same provenance name, so the same trace ids and prompts: the backends are interchangeable in a pipeline
    assert sorted(adapted["trace_id"]) == sorted(native["trace_id"])
    assert set(adapted["teacher"]) == set(native["teacher"])
    native_prompts = dict(zip(native["trace_id"], native["prompt"], strict=True))
    for row in adapted:
        assert row["prompt"] == native_prompts[row["trace_id"]]


@needs_distilabel
def test_completions_are_parsed_and_counted_like_native_ones(runs, problems):
    adapted = runs["distilabel"]
    assert runs["summary"].generated == len(adapted)
    rows = {r["problem_id"]: r for r in problems}
    for row in adapted:
        assert isinstance(row["completion"], str)  # may be empty: a random model can end on its first token
        assert 1 <= row["completion_tokens"] <= MAX_TOKENS  # an EOS counts, as in the native backend
        assert row["finish_reason"] in ("stop", "length")
        if row["finish_reason"] == "length":
            assert row["completion_tokens"] == MAX_TOKENS
        parsed = get_style(row["prompt_style"]).parse(row["completion"], rows[row["problem_id"]])
        assert (row["final"], row["predicted_answer"], row["parse_issue"]) == (
            parsed.final,
            parsed.predicted_answer,
            parsed.parse_issue,
        )
        assert row["forced"] is False
    # two samples of one prompt are two different samples, not one copied
    by_prompt: dict = {}
    for row in adapted:
        by_prompt.setdefault((row["problem_id"], row["prompt_style"]), set()).add(row["completion"])
    assert all(len(texts) == 2 for texts in by_prompt.values())


@needs_distilabel
def test_resume_skips_written_traces_without_running_distilabel(runs, problems):
    again = generate_traces(
        problems, gen_config(runs["out"], "distilabel"), teacher=runs["teacher"], progress=False
    )
    summary = again.report
    assert summary.generated == 0 and summary.skipped_existing == summary.planned == len(again.kept)
    assert sorted(again.kept["trace_id"]) == sorted(runs["distilabel"]["trace_id"])


@needs_distilabel
def test_openai_llm_against_a_scripted_server(distilabel_env):
    def reply(body: dict, index: int) -> str:
        return f"sample {index} for {body['messages'][-1]['content']} ### tail"

    with ScriptedOpenAIServer(reply, usage_per_choice=4) as server:
        teacher = make_teacher("distilabel", "served-model", llm="openai", base_url=server.base_url)
        sampling = SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=MAX_TOKENS, seed=5, stop=["###"])
        try:
            out = teacher.generate([SYSTEM_USER, [{"role": "user", "content": "Hello"}]], sampling, n=2)
        finally:
            teacher.close()
        requests = sorted(server.requests, key=lambda r: r["messages"][-1]["content"])
    assert len(requests) == 2  # one request per prompt, carrying n
    hello, question = requests
    assert question["messages"] == SYSTEM_USER and hello["messages"] == [{"role": "user", "content": "Hello"}]
    for request in requests:
        assert (request["n"], request["max_tokens"], request["seed"]) == (2, MAX_TOKENS, 5)
        assert request["temperature"] == 0.7 and request["top_p"] == 0.9 and request["stop"] == ["###"]
    assert [[c.text for c in samples] for samples in out] == [
        ["sample 0 for What is 3 + 4? ### tail", "sample 1 for What is 3 + 4? ### tail"],
        ["sample 0 for Hello ### tail", "sample 1 for Hello ### tail"],
    ]
    for samples in out:
        # the server's usage (8 tokens for the request's 2 choices) is shared between the samples
        assert sum(c.completion_tokens for c in samples) == 8
        assert all(c.finish_reason == "stop" for c in samples)
    assert not Path(teacher.cache_dir).exists()  # close() removed the temporary distilabel cache


# ---------------------------------------------------------------------------------------------------------------
# Bad input and the pure mapping (no pipeline run)
# ---------------------------------------------------------------------------------------------------------------


def test_continuation_prompts_fail_before_any_work_naming_the_styles(problems, tmp_path, tiny_model_dir):
    with pytest.raises(ValueError, match="continue") as err:
        prompt_rows([USER, [*USER, {"role": "assistant", "content": "<think>\n"}]])
    message = str(err.value)
    assert (
        "prompt 1" in message
        and "r1_think" in message
        and "rlt" in message
        and "--thinking_budget" in message
    )
    if importlib.util.find_spec("distilabel") is not None:
        teacher = DistilabelTeacher(tiny_model_dir)
        try:
            with pytest.raises(ValueError, match="r1_think"):
                generate_traces(problems, gen_config(tmp_path, "distilabel", ["r1_think"]), teacher=teacher)
        finally:
            teacher.close()
        assert not list(tmp_path.glob("data/*.parquet"))


def test_prompt_shapes():
    rows = prompt_rows([USER, SYSTEM_USER])
    assert rows == [
        {"instruction": "What is 3 + 4?", "system_prompt": None, INDEX_COLUMN: 0},
        {"instruction": "What is 3 + 4?", "system_prompt": "Be brief.", INDEX_COLUMN: 1},
    ]
    with pytest.raises(ValueError, match=r"prompt 0 has messages with roles \['user', 'assistant', 'user'\]"):
        prompt_rows([[*USER, {"role": "assistant", "content": "7"}, {"role": "user", "content": "Why?"}]])
    with pytest.raises(ValueError, match="prompt 0 must be a non-empty list"):
        prompt_rows([[]])


def test_generation_kwargs_per_llm():
    greedy = SamplingParams(temperature=0.0, max_new_tokens=5, seed=3)
    sampled = SamplingParams(temperature=0.6, top_p=0.95, max_new_tokens=5, seed=3, stop=["</s>"])
    hf = generation_kwargs("transformers", greedy)
    assert hf["do_sample"] is False and hf["repetition_penalty"] == 1.0 and hf["max_new_tokens"] == 5
    hf = generation_kwargs("transformers", sampled)
    assert (hf["do_sample"], hf["temperature"], hf["top_p"]) == (True, 0.6, 0.95)
    assert generation_kwargs("openai", sampled)["extra_body"] == {"seed": 3}
    assert generation_kwargs("openai", sampled)["stop"] == ["</s>"]
    assert generation_kwargs("vllm", sampled)["extra_sampling_params"] == {"seed": 3}
    assert generation_kwargs("vllm", greedy)["temperature"] == 0.0
    with pytest.raises(ValueError, match="unknown distilabel llm"):
        generation_kwargs("llamacpp", greedy)


def row(texts, tokens, step="text_generation_0"):
    meta = [{f"statistics_{step}": {"input_tokens": 3, "output_tokens": t}} for t in tokens]
    return {INDEX_COLUMN: 4, "generation": texts, "distilabel_metadata": meta}


def test_completions_from_distilabel_rows():
    sampling = SamplingParams(max_new_tokens=6)
    # counts from distilabel's statistics; finish reason inferred from the budget; counts capped at the budget
    done, cut, over = completions_from_row(
        row(["a", "b", "c"], [2, 6, 9]), 3, sampling, "text_generation_0", llm="vllm"
    )
    assert (done.text, done.finish_reason, done.completion_tokens) == ("a", "stop", 2)
    assert (cut.finish_reason, cut.completion_tokens) == ("length", 6)
    assert (over.finish_reason, over.completion_tokens) == ("length", 6)
    # OpenAILLM: one usage for all n choices, shared by approximate length
    short, long = completions_from_row(
        row(["one", "one two three"], [8, 8]),
        2,
        SamplingParams(max_new_tokens=100),
        "text_generation_0",
        llm="openai",
    )
    assert (short.completion_tokens, long.completion_tokens) == (2, 6)
    # TransformersLLM cannot stop on a string: the text is cut afterwards and ends as "stop"
    (stopped,) = completions_from_row(
        row(["answer 7 STOP more text"], [6]),
        1,
        SamplingParams(max_new_tokens=6, stop=["STOP"]),
        "text_generation_0",
        llm="transformers",
    )
    assert (stopped.text, stopped.finish_reason) == ("answer 7 ", "stop")
    assert stopped.completion_tokens == 6  # what was generated, as the native backend counts it
    # TransformersLLM decodes without the EOS a sample stopped on: it is counted back, as the native backend does
    ended, empty, full = completions_from_row(
        row(["ends", "", "x" * 6], [2, 0, 6]), 3, sampling, "text_generation_0", llm="transformers"
    )
    assert [(c.finish_reason, c.completion_tokens) for c in (ended, empty, full)] == [
        ("stop", 3),
        ("stop", 1),
        ("length", 6),
    ]


def test_failed_or_missing_generations_are_errors_naming_the_prompt():
    sampling = SamplingParams(max_new_tokens=6)
    with pytest.raises(RuntimeError, match="prompt 4 .1 empty."):
        completions_from_row(row(["a", None], [1, 0]), 2, sampling, "text_generation_0", llm="transformers")
    with pytest.raises(RuntimeError, match="ignore `n`"):
        completions_from_row(row(["a"], [1]), 2, sampling, "text_generation_0", llm="openai")


def test_construction_errors(monkeypatch, tiny_model_dir):
    with pytest.raises(ValueError, match="unknown distilabel llm"):
        DistilabelTeacher(tiny_model_dir, llm="llamacpp")
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(ImportError, match=r"openr1-data\[vllm\]"):
            DistilabelTeacher("Qwen/Qwen2.5-0.5B", llm="vllm")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        backend.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "distilabel" else real_find_spec(name, *a),
    )
    with pytest.raises(ImportError, match=r'pip install "openr1-data\[distilabel\]"'):
        DistilabelTeacher(tiny_model_dir)


@needs_distilabel
def test_registered_backend_uses_the_native_provenance_name(tiny_model_dir):
    teacher = make_teacher("distilabel", tiny_model_dir, device="cpu", batch_size=4)
    try:
        assert isinstance(teacher, DistilabelTeacher) and teacher.backend == "distilabel"
        assert teacher.model_name == tiny_model_dir
        assert teacher.llm_kwargs["torch_dtype"] == "float32"
        with pytest.raises(ValueError, match="JSON values"):
            DistilabelTeacher(tiny_model_dir, model_kwargs={"bad": object()})
    finally:
        teacher.close()
    assert not Path(teacher.cache_dir).exists()
