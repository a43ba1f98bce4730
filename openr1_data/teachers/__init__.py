"""Teacher backends behind one interface (`Teacher.generate`, `base`, with the helpers every backend shares): the
transformers, OpenAI-compatible HTTP, vLLM and distilabel backends (`*_backend`, built by `make_teacher`), the
packaged default model (`default_model`), a local `transformers serve` (`serve`) and torch threads from the free
cores (`threads`). Heavy imports stay inside each backend module."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from openr1_data.schema import Prompt
from openr1_data.teachers.base import Completion, SamplingParams, Teacher

# backend name -> "module:Class"; imported only when that backend is asked for.
BACKENDS: dict[str, str] = {
    "transformers": "openr1_data.teachers.transformers_backend:TransformersTeacher",
    "openai": "openr1_data.teachers.openai_backend:OpenAITeacher",
    "vllm": "openr1_data.teachers.vllm_backend:VLLMTeacher",
    "distilabel": "openr1_data.teachers.distilabel_backend:DistilabelTeacher",
}


def backend_class(backend: str) -> type[Teacher]:
    """The teacher class of a backend name (its module is imported now, not before)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown teacher backend {backend!r}; choose one of {sorted(BACKENDS)}")
    module, cls = BACKENDS[backend].split(":")
    return getattr(importlib.import_module(module), cls)


def backend_options(backend: str, offered: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of `offered` that `backend`'s constructor names as parameters (None values left out, so the
    backend's own default applies). The one place that routes a config's options to a backend."""
    params = inspect.signature(backend_class(backend).__init__).parameters
    named = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return {k: v for k, v in offered.items() if k in named and v is not None}


def make_teacher(
    backend: str, model: str, *, offered: Mapping[str, Any] | None = None, **options: Any
) -> Teacher:
    """Build a teacher by backend name ("transformers", "openai", "vllm", ...) and model id or path.

    `options` go to the backend as given (an unknown one is an error of that backend). `offered` are options a
    config holds for every backend (device, base_url, max_concurrency, ...): each backend takes the ones it names.
    """
    cls = backend_class(backend)
    routed = backend_options(backend, offered or {})
    return cls(model, **{**routed, **options})


__all__ = [
    "BACKENDS",
    "Completion",
    "Prompt",
    "SamplingParams",
    "Teacher",
    "backend_class",
    "backend_options",
    "make_teacher",
]
