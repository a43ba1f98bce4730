"""Teacher adapter over distilabel: generation runs as a distilabel `Pipeline` with one `TextGeneration` task.

For teams that already run distilabel: `DistilabelTeacher(model, llm="transformers" | "openai" | "vllm")` drives
distilabel's own `TransformersLLM`, `OpenAILLM` or `vLLM` and returns the same `Completion` objects as the native
backends, so the generation stage writes the same schema whichever backend made the traces.

Each `generate` call is one distilabel pipeline run in a fresh Python process (`python -m` this module). Why:
distilabel forks its step workers, and a process that has already run torch on several threads (a native teacher,
a student scorer) hangs its forked children on their first parallel op (OpenMP is not fork-safe). A clean
interpreter also keeps distilabel's SIGINT handler and logging out of the caller. The cost is the start-up
(imports, model load) per call, so give the generation stage large batches (`--batch_size`) with this backend.
distilabel is never imported in the caller's process; install it with `pip install "openr1-data[distilabel]"`.

What distilabel does and does not report (so the columns mean the same as elsewhere):
- `completion_tokens`: distilabel's per-generation statistics (`output_tokens`). `TransformersLLM` counts them by
  re-encoding the decoded text (EOS and other special tokens are dropped when decoding), so the count is close to,
  not exactly, the generated token count; the EOS of a sample that stopped is added back (the native backend
  counts it) and the count is capped at `max_new_tokens`. `OpenAILLM` reports the server's
  `usage`, one number per request: with `n > 1` it covers all `n` choices, so it is shared between the samples in
  proportion to their approximate lengths (an estimate). `vLLM` counts the generated token ids (exact).
- `finish_reason`: none of these LLMs passes it on (TextGeneration keeps only the text). It is inferred: "length"
  when the sample used the whole `max_new_tokens` budget, else "stop". A sample that ends on EOS at exactly the
  budget reads "length"; with `TransformersLLM`, re-encoding can under-count a cut sample, so it may read "stop".
- Seeds: `OpenAILLM` gets `seed` in the request body, `vLLM` in its sampling parameters (one seed for the whole
  call, as a step-level parameter: identical prompts in one call get identical samples). `TransformersLLM` takes
  no seed: the child process seeds torch before the run and distilabel's workers inherit it where they are forked
  (Linux); with the spawn start method (macOS, Windows) its samples are not reproducible.
- Stop strings: passed to `OpenAILLM` and `vLLM`; `TransformersLLM` cannot stop on a string, so its text is cut at
  the first stop string afterwards (finish "stop"; the token count stays that of the whole generation).
- Assistant continuation (a prompt ending with an assistant message: pre-filled styles, budget forcing) is not
  possible: `TextGeneration` always opens a new assistant turn. Such prompts raise an error naming the styles.

Environment: distilabel reaches the network for download counters and citations unless `HF_HUB_OFFLINE=1`; its
cache goes to a temporary folder per teacher here (removed on `close()`) unless `cache_dir` is given. Its log level
follows `DISTILABEL_LOG_LEVEL` (INFO by default, very chatty; WARNING is quieter).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from openr1_data.teachers.base import (
    Completion,
    Prompt,
    SamplingParams,
    Teacher,
    approximate_token_count,
    continues_assistant,
    validate_prompts,
)

DISTILABEL_INSTALL_HINT = 'pip install "openr1-data[distilabel]"'
LLMS = ("transformers", "openai", "vllm")
# column the adapter adds to every input row to put distilabel's output back in prompt order
INDEX_COLUMN = "openr1_prompt_index"
PIPELINE_NAME = "openr1-data-distilabel"
REQUEST_FILE, RESULT_FILE = "request.json", "result.json"


def check_distilabel_installed() -> None:
    """Raise an `ImportError` with the install command when distilabel (or what it imports undeclared) is missing.

    Only looks the packages up: distilabel itself is imported in the child process that runs the pipeline.
    """
    missing = [name for name in ("distilabel", "requests", "PIL") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(
            f"the 'distilabel' teacher backend needs {', '.join(missing)}, which is not installed. Install it with: "
            f"{DISTILABEL_INSTALL_HINT} (distilabel 1.5.3 plus `requests` and `pillow`, which distilabel imports "
            "without declaring them)."
        )


def continuation_error(index: int) -> ValueError:
    """The error for a prompt that ends with an assistant message, naming the styles that need continuation."""
    from openr1_data.prompts.styles import STYLES

    prefilled = sorted(name for name, style in STYLES.items() if style.assistant_prefill)
    return ValueError(
        f"prompt {index} ends with an assistant message to continue, which the distilabel backend cannot do: "
        "distilabel's TextGeneration always starts a new assistant turn. Prompt styles with a pre-filled assistant "
        f"turn ({', '.join(prefilled)}) and budget forcing (--thinking_budget) need continuation: run them with "
        "--teacher_backend transformers, vllm, or openai (with --teacher_tokenizer for servers such as "
        "`transformers serve`), or pick a style without a prefill (e.g. r1)."
    )


def prompt_rows(prompts: Sequence[Prompt]) -> list[dict[str, Any]]:
    """TextGeneration input rows (`instruction`, `system_prompt`, index) for chat prompts.

    TextGeneration takes one user message and an optional system prompt; any other prompt shape is an error that
    names the prompt, raised before any work starts.
    """
    validate_prompts(prompts)
    rows = []
    for index, prompt in enumerate(prompts):
        if continues_assistant(prompt):
            raise continuation_error(index)
        roles = [m["role"] for m in prompt]
        if roles not in (["user"], ["system", "user"]):
            raise ValueError(
                f"prompt {index} has messages with roles {roles}; distilabel's TextGeneration takes one user "
                "message, optionally after one system message. Multi-turn prompts need another backend."
            )
        rows.append(
            {
                "instruction": prompt[-1]["content"],
                "system_prompt": prompt[0]["content"] if roles[0] == "system" else None,
                INDEX_COLUMN: index,
            }
        )
    return rows


def generation_kwargs(llm: str, sampling: SamplingParams) -> dict[str, Any]:
    """The `generation_kwargs` of distilabel's LLM `llm` for our sampling parameters (names differ per LLM)."""
    if llm == "transformers":
        # TransformersLLM defaults to repetition_penalty=1.1 and top_k=0: set what the native backend does.
        return {
            "max_new_tokens": int(sampling.max_new_tokens),
            "do_sample": not sampling.greedy,
            "temperature": float(sampling.temperature) if not sampling.greedy else 1.0,
            "top_p": float(sampling.top_p) if not sampling.greedy else 1.0,
            "top_k": 0,
            "repetition_penalty": 1.0,
        }
    common = {
        "max_new_tokens": int(sampling.max_new_tokens),
        "temperature": float(sampling.temperature),
        "top_p": float(sampling.top_p),
        "stop": list(sampling.stop) or None,
    }
    if llm == "openai":
        return {**common, "extra_body": {"seed": int(sampling.seed)}}
    if llm == "vllm":
        return {**common, "extra_sampling_params": {"seed": int(sampling.seed)}}
    raise ValueError(f"unknown distilabel llm {llm!r}; choose one of {list(LLMS)}")


def _cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    cuts = [text.index(s) for s in stop if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _output_tokens(metadata: Mapping[str, Any] | None, step_name: str) -> int | None:
    tokens = ((metadata or {}).get(f"statistics_{step_name}") or {}).get("output_tokens")
    if isinstance(tokens, list):
        tokens = tokens[0] if tokens else None
    return tokens if isinstance(tokens, int) and tokens >= 0 else None


def _split_request_usage(total: int | None, texts: Sequence[str]) -> list[int | None]:
    """Per-sample counts from one request's usage (all n choices together): the total shared in proportion to
    each text's approximate length. Without a total, None (each text is then counted on its own)."""
    if total is None:
        return [None] * len(texts)
    weights = [max(approximate_token_count(t), 1) for t in texts]
    return [round(total * w / sum(weights)) for w in weights]


def completions_from_row(
    row: Mapping[str, Any], n: int, sampling: SamplingParams, step_name: str, *, llm: str
) -> list[Completion]:
    """The `n` completions of one distilabel output row (grouped `generation` plus `distilabel_metadata`).

    Raises a `RuntimeError` naming the prompt when distilabel returned fewer generations than asked or a
    generation is None (distilabel records a failed LLM call as None instead of raising).
    """
    index = row.get(INDEX_COLUMN)
    texts = row.get("generation")
    if texts is None or isinstance(texts, str):
        texts = [texts]
    metadata = row.get("distilabel_metadata") or []
    if isinstance(metadata, Mapping):
        metadata = [metadata]
    generations = [t for t in texts if t is not None]  # a failed LLM call leaves None: refused below
    if len(texts) != n or len(generations) < len(texts):
        failed = len(texts) - len(generations)
        raise RuntimeError(
            f"distilabel returned {len(texts)} generation(s) for prompt {index} ({failed} empty) where {n} were "
            "asked. distilabel records a failed LLM call as an empty generation: see its log above (model "
            "loading, server errors). Servers that ignore `n` (transformers serve) need num_generations=1 or the "
            "native 'openai' backend, which sends one request per sample."
        )
    counts = [_output_tokens(metadata[k] if k < len(metadata) else None, step_name) for k in range(n)]
    if llm == "openai" and n > 1:
        counts = _split_request_usage(counts[0], generations)
    budget = int(sampling.max_new_tokens)
    completions = []
    for text, tokens in zip(generations, counts, strict=True):
        if tokens is None:
            tokens = approximate_token_count(text)
        cut = False
        if llm == "transformers" and sampling.stop:
            # generation ran past the stop string; like the native backend, keep the count of what was generated
            text, cut = _cut_at_stop(text, sampling.stop)
        finish = "length" if tokens >= budget and not cut else "stop"
        if llm == "transformers" and finish == "stop" and not cut:
            tokens += (
                1  # the EOS it ended on: TransformersLLM decodes without it, the native backend counts it
            )
        completions.append(Completion(text=text, finish_reason=finish, completion_tokens=min(tokens, budget)))
    return completions


# ---------------------------------------------------------------------------------------------------------------
# The child process: builds and runs the distilabel pipeline from a request file, writes the rows it produced.
# ---------------------------------------------------------------------------------------------------------------


def run_pipeline(request: Mapping[str, Any]) -> dict[str, Any]:
    """Run one distilabel pipeline (in this process) and return `{"step": name, "rows": [...]}`.

    Called in the child process; importable so the mapping can be read in one place.
    """
    from distilabel.models.llms import OpenAILLM, TransformersLLM, vLLM
    from distilabel.pipeline import Pipeline
    from distilabel.steps.tasks import TextGeneration

    llm_name = request["llm"]
    kwargs = dict(request["llm_kwargs"])
    if llm_name == "openai":
        # the key never touches the request file: read from the environment the child inherited
        kwargs["api_key"] = os.environ.get(request["api_key_env"]) or "EMPTY"
    llm_class = {"transformers": TransformersLLM, "openai": OpenAILLM, "vllm": vLLM}[llm_name]
    llm = llm_class(**kwargs, generation_kwargs=request["generation_kwargs"])
    with Pipeline(name=PIPELINE_NAME, cache_dir=request["cache_dir"]) as pipeline:
        task = TextGeneration(
            llm=llm,
            num_generations=request["n"],
            group_generations=True,
            input_batch_size=request["input_batch_size"],
            add_raw_output=True,
            add_raw_input=False,
        )
    if llm_name == "transformers":
        import torch

        torch.manual_seed(
            request["seed"]
        )  # TransformersLLM takes no seed; forked step workers inherit this RNG
    distiset = pipeline.run(
        dataset=request["rows"], use_cache=False, dataset_batch_size=request["input_batch_size"]
    )
    if not distiset or "default" not in distiset:
        raise RuntimeError(
            f"the distilabel pipeline returned no output for {len(request['rows'])} prompt(s); see its log above "
            f"(and pipeline.log under {request['cache_dir']})"
        )
    keep = [INDEX_COLUMN, "generation", "distilabel_metadata"]
    output = distiset["default"]["train"]
    return {
        "step": task.name,
        "rows": output.select_columns([c for c in keep if c in output.column_names]).to_list(),
    }


def _child_main(work_dir: str) -> int:
    work = Path(work_dir)
    try:
        result = run_pipeline(json.loads((work / REQUEST_FILE).read_text()))
    except BaseException as exc:  # report everything to the parent, which raises it with the message
        result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
    tmp = work / f".{RESULT_FILE}.tmp"
    tmp.write_text(json.dumps(result))
    os.replace(tmp, work / RESULT_FILE)
    return 1 if "error" in result else 0


# ---------------------------------------------------------------------------------------------------------------
# The teacher
# ---------------------------------------------------------------------------------------------------------------


class DistilabelTeacher(Teacher):
    """A teacher whose generations come from a distilabel `Pipeline` (`TextGeneration` + a distilabel LLM).

    `llm` picks distilabel's `TransformersLLM` ("transformers", the CPU default), `OpenAILLM` ("openai", any
    OpenAI-compatible server) or `vLLM` ("vllm", GPU). `llm_kwargs` go to that LLM's constructor and must be
    JSON values (e.g. `torch_dtype`, `device_map` for transformers; `dtype`, `extra_kwargs` for vLLM; `timeout`,
    `max_retries` for OpenAI). The option names of the native backends are understood too, so the generation
    stage can pass the same options: `device` (transformers), `base_url`, `api_key_env`, `max_concurrency`
    (openai; it sets TextGeneration's input batch size, which is how many requests OpenAILLM sends at once).
    """

    backend = "distilabel"

    def __init__(
        self,
        model: str = "smollm2",
        llm: str = "transformers",
        *,
        input_batch_size: int = 50,
        cache_dir: str | None = None,
        device: str = "cpu",
        base_url: str = "http://127.0.0.1:8000/v1",
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int | None = None,
        batch_size: int | None = None,
        **llm_kwargs: Any,
    ):
        if llm not in LLMS:
            raise ValueError(f"unknown distilabel llm {llm!r}; choose one of {list(LLMS)}")
        check_distilabel_installed()
        if llm == "vllm" and importlib.util.find_spec("vllm") is None:
            from openr1_data.teachers.vllm_backend import import_vllm

            import_vllm()  # raises with the vLLM install hint
        del batch_size  # accepted for build_teacher parity; TransformersLLM generates one prompt at a time
        self.llm = llm
        self.input_batch_size = int(max_concurrency or input_batch_size)
        self.api_key_env = api_key_env
        if llm == "transformers":
            from openr1_data.teachers.transformers_backend import resolve_model

            path, name = resolve_model(model)  # same provenance name as the native backend (same trace ids)
            super().__init__(name)
            dtype = "float32" if device == "cpu" else "auto"
            self.llm_kwargs = {"model": path, "device": device, "torch_dtype": dtype, **llm_kwargs}
        elif llm == "openai":
            super().__init__(model)
            self.llm_kwargs = {"model": model, "base_url": base_url, **llm_kwargs}
        else:
            super().__init__(model)
            self.llm_kwargs = {"model": model, **llm_kwargs}
        try:
            json.dumps(self.llm_kwargs)
        except TypeError as exc:
            raise ValueError(
                f"distilabel llm options must be JSON values (they go to a child process): {exc}"
            ) from None
        self._own_cache = cache_dir is None
        self.cache_dir = cache_dir or tempfile.mkdtemp(prefix="openr1-distilabel-")

    def __repr__(self) -> str:
        return f"DistilabelTeacher(llm={self.llm!r}, {self.llm_kwargs})"

    def _child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        # the child must import this package even when it runs from a source tree that is not installed
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        env.setdefault("DISTILABEL_CACHE_DIR", self.cache_dir)
        return env

    def _generate(self, prompts: list[Prompt], sampling: SamplingParams, n: int) -> list[list[Completion]]:
        """`n` completions per prompt, in prompt order, from one distilabel pipeline run."""
        rows = prompt_rows(prompts)  # every shape check before distilabel starts anything
        Path(self.cache_dir).mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="run-", dir=self.cache_dir))
        request = {
            "llm": self.llm,
            "llm_kwargs": self.llm_kwargs,
            "api_key_env": self.api_key_env,
            "generation_kwargs": generation_kwargs(self.llm, sampling),
            "n": n,
            "seed": int(sampling.seed),
            "input_batch_size": self.input_batch_size,
            "cache_dir": str(work / "distilabel"),
            "rows": rows,
        }
        (work / REQUEST_FILE).write_text(json.dumps(request))
        try:
            process = subprocess.run([sys.executable, "-m", __name__, str(work)], env=self._child_env())
            result_path = work / RESULT_FILE
            if not result_path.is_file():
                raise RuntimeError(
                    f"the distilabel child process exited with code {process.returncode} without a result "
                    "(killed, or out of memory?); see its log above"
                )
            result = json.loads(result_path.read_text())
        finally:
            shutil.rmtree(work, ignore_errors=True)
        if "error" in result:
            raise RuntimeError(
                f"the distilabel pipeline failed: {result['error']}\n{result.get('traceback', '')}"
            )
        by_index = {row[INDEX_COLUMN]: row for row in result["rows"]}
        missing = [i for i in range(len(rows)) if i not in by_index]
        if missing:
            raise RuntimeError(
                f"the distilabel pipeline lost prompt(s) {missing[:10]} of {len(rows)}; see its log"
            )
        return [
            completions_from_row(by_index[i], n, sampling, result["step"], llm=self.llm)
            for i in range(len(rows))
        ]

    def close(self) -> None:
        """Remove the temporary distilabel cache folder (when this teacher made it). Safe to call twice."""
        if self._own_cache:
            shutil.rmtree(self.cache_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
