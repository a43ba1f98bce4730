"""A teacher served by a local `transformers serve` for the length of a pipeline (what a CPU machine can run end
to end through the OpenAI-compatible path)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from openr1_data.generate.stage import GenerationConfig
from openr1_data.teachers import Teacher
from openr1_data.teachers.serve import sampling_generation_config


@dataclass
class TeacherServerConfig:
    """Start a local OpenAI-compatible server for the teacher (what a CPU machine can run end to end)."""

    serve_teacher: bool = field(
        default=False,
        metadata={
            "help": "start `transformers serve` on --teacher_model and generate through it (openai backend). On "
            "GPUs, use --teacher_backend vllm, or point --base_url at a running vLLM / SGLang server instead"
        },
    )
    serve_device: str = field(default="cpu", metadata={"help": "device of the served teacher"})
    serve_startup_timeout: float = field(
        default=300.0, metadata={"help": "seconds to wait for the server to answer"}
    )


@contextmanager
def served_teacher(gen_cfg: GenerationConfig, server_cfg: TeacherServerConfig) -> Iterator[Teacher | None]:
    """If `serve_teacher`, run the teacher behind `transformers serve` for the block and yield an `openai` teacher
    for it (pass it to `generate_traces`); else yield None and let generation build the configured teacher.

    `gen_cfg` is updated to what runs (backend `openai`, the server URL, the served folder as model name: the
    served model is pinned, so requests must name it), so the manifest and the card record it. Prompts with a
    pre-filled assistant turn are rendered locally with the model's tokenizer (`transformers serve` cannot
    continue a chat message), and requests carry a sampling generation config when temperature > 0.
    """
    if not server_cfg.serve_teacher:
        yield None
        return
    from openr1_data.teachers.openai_backend import OpenAITeacher
    from openr1_data.teachers.serve import start_transformers_serve
    from openr1_data.teachers.transformers_backend import resolve_model

    path = resolve_model(gen_cfg.teacher_model)[0]
    print(f"Starting `transformers serve {path}` ...", file=sys.stderr)
    with start_transformers_serve(
        path, device=server_cfg.serve_device, startup_timeout=server_cfg.serve_startup_timeout
    ) as server:
        gen_cfg.teacher_backend = "openai"
        gen_cfg.base_url = server.base_url
        gen_cfg.teacher_model = server.model
        gen_cfg.teacher_tokenizer = gen_cfg.teacher_tokenizer or path
        sampling = {"generation_config": sampling_generation_config(path)} if gen_cfg.temperature > 0 else {}
        teacher = OpenAITeacher(
            server.model,
            base_url=server.base_url,
            max_concurrency=gen_cfg.max_concurrency,
            tokenizer=gen_cfg.teacher_tokenizer,
            extra_body=sampling,
        )
        try:
            yield teacher
        finally:
            teacher.close()
