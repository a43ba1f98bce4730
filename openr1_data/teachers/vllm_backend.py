"""Teacher on vLLM's offline engine (`vllm.LLM.chat`), for GPU machines.

vLLM is imported only when this teacher is built; without it the error says how to install it. vLLM honours
`SamplingParams(n=...)`, so one request per prompt carries all `n` samples. Prompts ending with an assistant
message are continued (`continue_final_message=True`), the others get a new assistant turn.

The mapping between our types and vLLM's lives in small pure functions (`sampling_kwargs`,
`group_by_continuation`, `completion_from_output`) so it can be tested where vLLM cannot be installed.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any

from openr1_data.teachers.base import Completion, Prompt, SamplingParams, Teacher, continues_assistant
from openr1_data.teachers.openai_backend import normalize_finish_reason, request_seed, validate_prompts

VLLM_INSTALL_HINT = 'pip install "openr1-data[vllm]"'


def import_vllm() -> Any:
    """Import vLLM or raise an `ImportError` that says how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise ImportError(
            f"the 'vllm' teacher backend needs vLLM, which is not installed ({exc}). Install it with: "
            f"{VLLM_INSTALL_HINT} (Linux with an NVIDIA GPU; vllm 0.29-0.32 keep the torch 2.13 pin). "
            "Without a GPU, use the 'transformers' backend, or the 'openai' backend against a remote server."
        ) from exc
    return vllm


def sampling_kwargs(sampling: SamplingParams, n: int, prompt_index: int) -> dict[str, Any]:
    """Keyword arguments of `vllm.SamplingParams` for one prompt.

    Each prompt gets its own seed (the seed the HTTP teacher uses for that prompt's first sample), so two
    identical prompts in one call still get different samples, and a rerun gets the same ones.
    """
    return {
        "n": int(n),
        "temperature": float(sampling.temperature),
        "top_p": float(sampling.top_p),
        "max_tokens": int(sampling.max_new_tokens),
        "seed": request_seed(sampling.seed, prompt_index, 0, n),
        "stop": list(sampling.stop) or None,
    }


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
    """A teacher on `vllm.LLM`. `llm_kwargs` go to `vllm.LLM` (e.g. `tensor_parallel_size`,
    `data_parallel_size`, `max_model_len`, `gpu_memory_utilization`, `dtype`); `chat_template_kwargs` go to
    every `LLM.chat` call (e.g. `{"enable_thinking": True}`)."""

    backend = "vllm"

    def __init__(self, model: str, chat_template_kwargs: dict[str, Any] | None = None, **llm_kwargs: Any):
        vllm = import_vllm()
        super().__init__(model)
        self._vllm = vllm
        self.chat_template_kwargs = dict(chat_template_kwargs or {})
        self.llm = vllm.LLM(model=model, **llm_kwargs)

    def generate(
        self, prompts: Sequence[Prompt], sampling: SamplingParams, n: int = 1
    ) -> list[list[Completion]]:
        """Return `n` completions per prompt, in prompt order (one `LLM.chat` call per continuation mode)."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        validate_prompts(prompts)
        results: list[list[Completion]] = [[] for _ in prompts]
        for continue_final, indices in group_by_continuation(prompts).items():
            params = [self._vllm.SamplingParams(**sampling_kwargs(sampling, n, i)) for i in indices]
            outputs = self.llm.chat(
                [[dict(m) for m in prompts[i]] for i in indices],
                params,
                use_tqdm=False,
                add_generation_prompt=not continue_final,
                continue_final_message=continue_final,
                chat_template_kwargs=self.chat_template_kwargs or None,
            )
            for index, output in zip(indices, outputs, strict=True):
                results[index] = completions_from_request_output(output)
        return results

    def close(self) -> None:
        """Drop the engine and free GPU memory."""
        if getattr(self, "llm", None) is None:
            return
        self.llm = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass
