"""The resumable generation stage: problems × prompt styles × samples → one row per trace.

The plan is a fixed list of traces (`plan`), each with its own seed from its trace id. The streaming scheduler
(`scheduler`) keeps the teacher full across the whole plan and writes finished traces as atomic Parquet shards
every `shard_traces` traces or `shard_seconds` seconds (`shards`). Rerunning the same command skips every trace
already written, so a run killed at any point (even SIGKILL) resumes without losing or duplicating a trace, and
ends with the same traces, text for text, an uninterrupted run would have written. `ray_address` spreads the plan
over a Ray cluster (`ray_runner`) with the same guarantee.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from datasets import Dataset, Features

from openr1_data import __version__
from openr1_data.config import check_fields
from openr1_data.funnel import CostMeter, Funnel, StageResult, StageStats, split_by_reason
from openr1_data.generate.plan import Unit, pending_traces, plan_units, trace_rows, trace_seed
from openr1_data.generate.scheduler import Forcing, GenerationSummary, TraceScheduler
from openr1_data.generate.server_pool import ServerPool, as_streaming
from openr1_data.generate.shards import (
    ShardWriter,
    load_traces,
    remove_partial_shards,
    shard_folder,
    write_shard,
    written_trace_ids,
)
from openr1_data.io import FUNNEL_FILE, REJECTED_DIR, hold_folder_lock, write_dataset
from openr1_data.lineage import write_record
from openr1_data.prompts import get_style
from openr1_data.schema import TRACE_FEATURES
from openr1_data.secrets import redact_config
from openr1_data.teachers import BACKENDS, SamplingParams, Teacher, make_teacher
from openr1_data.teachers.base import CONTEXT_OVERFLOW

__all__ = [
    "GenerationConfig",
    "GenerationSummary",
    "Unit",
    "build_teacher",
    "teacher_options",
    "generate_traces",
    "load_traces",
    "plan_units",
    "shard_folder",
    "trace_rows",
    "trace_seed",
    "write_shard",
    "written_trace_ids",
]

MANIFEST = "manifest.json"
# Fields whose change makes old traces incomparable with new ones: refuse to mix them in one folder.
FINGERPRINT_FIELDS = (
    "teacher_backend",
    "teacher_model",
    "temperature",
    "top_p",
    "max_new_tokens",
    "seed",
    "thinking_budget",
    "forced_answer_tokens",
    "force_unclosed_on_stop",
)


@dataclass
class GenerationConfig:
    """How to generate: teacher, prompt styles, samples and sampling parameters, output folder."""

    output_dir: str = field(
        default="outputs/generate", metadata={"help": "folder for the trace shards (resumable)"}
    )
    teacher_backend: str = field(
        default="transformers", metadata={"help": "teacher backend: transformers, openai, vllm, distilabel"}
    )
    teacher_model: str = field(
        default="smollm2",
        metadata={"help": "model id or local folder; 'smollm2' is the packaged SmolLM2-135M-Instruct"},
    )
    prompt_styles: list[str] = field(
        default_factory=lambda: ["r1"],
        metadata={"help": "prompt styles (r1, rlt, ...) or Jinja template paths"},
    )
    num_generations: int = field(default=4, metadata={"help": "samples per problem and style"})
    temperature: float = field(default=0.6, metadata={"help": "sampling temperature (0 = greedy)"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling top_p"})
    max_new_tokens: int = field(default=2048, metadata={"help": "maximum completion tokens per trace"})
    seed: int = field(
        default=42,
        metadata={
            "help": "base seed; every trace derives its own from its trace id (batching never matters)"
        },
    )
    thinking_budget: int | None = field(
        default=None,
        metadata={
            "help": "budget forcing (s1): cap the first generation at this many tokens; a trace cut inside its "
            "think block is closed with '</think> Therefore, the final answer is \\boxed{' and finished by the "
            "teacher (think-style prompts only). None: off"
        },
    )
    force_unclosed_on_stop: bool = field(
        default=False,
        metadata={
            "help": "budget forcing: also force traces that ended on their own without closing the think block, "
            "and close RLT explanations that ended without their closing tag (small models often do both)"
        },
    )
    forced_answer_tokens: int = field(
        default=32, metadata={"help": "budget forcing: tokens for the teacher to finish the forced answer"}
    )
    batch_size: int = field(
        default=8,
        metadata={
            "help": "problems per call for backends that cannot stream (distilabel); the streaming backends "
            "(openai, vllm, transformers) keep their own number of requests in flight and ignore it"
        },
    )
    shard_traces: int = field(
        default=1000, metadata={"help": "write a shard every this many finished traces"}
    )
    shard_seconds: float = field(
        default=30.0, metadata={"help": "... or every this many seconds, whichever comes first"}
    )
    device: str = field(
        default="cpu", metadata={"help": "device for the transformers backend (cpu, cuda, ...)"}
    )
    teacher_batch_size: int = field(
        default=16, metadata={"help": "sequences per forward batch in the transformers backend"}
    )
    num_threads: int | None = field(
        default=None,
        metadata={
            "help": "torch threads of a local CPU teacher (transformers backend); default: the cores that are free "
            "now (one core of a busy 2-core machine), since waiting threads slow every step down"
        },
    )
    teacher_dtype: str = field(
        default="auto",
        metadata={"help": "weights dtype of a local teacher (transformers, vllm): auto, bfloat16..."},
    )
    base_url: str = field(
        default="http://127.0.0.1:8000/v1",
        metadata={
            "help": "OpenAI-compatible server URL (openai backend); several servers of the same model: separate "
            "them with commas or spaces, and each is kept at --max_concurrency requests in flight"
        },
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "environment variable holding the API key (openai backend)"},
    )
    max_concurrency: int = field(
        default=16,
        metadata={
            "help": "requests in flight per server (openai backend), across the whole plan: set it to what the "
            "server decodes at once (vLLM: --max-num-seqs, 256 by default) or a little more"
        },
    )
    request_timeout: float = field(
        default=600.0,
        metadata={
            "help": "openai backend: total deadline in seconds of one request attempt (a server that trickles "
            "bytes cannot hold a request past it)"
        },
    )
    max_retries: int = field(
        default=5,
        metadata={
            "help": "openai backend: retries of a request after 408/429/5xx, connection errors, deadlines and "
            "malformed answers"
        },
    )
    backoff_base: float = field(
        default=1.0, metadata={"help": "openai backend: first retry waits about this many seconds (doubling)"}
    )
    backoff_max: float = field(
        default=30.0, metadata={"help": "openai backend: longest wait between retries (s)"}
    )
    distilabel_llm: str = field(
        default="transformers", metadata={"help": "distilabel backend: its LLM (transformers, openai, vllm)"}
    )
    teacher_tokenizer: str | None = field(
        default=None,
        metadata={
            "help": "openai backend: tokenizer (folder or Hub id) to render prompts locally and continue pre-filled "
            "assistant turns over /v1/completions, for servers without chat continuation (transformers serve)"
        },
    )
    # vLLM engine options (vllm backend): None leaves vLLM's own default
    max_model_len: int | None = field(
        default=None, metadata={"help": "vllm: context length (prompt + completion)"}
    )
    gpu_memory_utilization: float | None = field(
        default=None, metadata={"help": "vllm (GPU): fraction of GPU memory for weights and KV cache (0.9)"}
    )
    kv_cache_space: float | None = field(
        default=None,
        metadata={
            "help": "vllm (CPU): KV cache size in GiB (VLLM_CPU_KVCACHE_SPACE); needed on a shared machine"
        },
    )
    enforce_eager: bool = field(
        default=False,
        metadata={"help": "vllm: no CUDA graphs / compilation (starts much faster, on CPU too)"},
    )
    max_num_seqs: int | None = field(default=None, metadata={"help": "vllm: sequences decoded at once"})
    max_num_batched_tokens: int | None = field(
        default=None, metadata={"help": "vllm: tokens per engine step (CPU: 16384 or more, see the README)"}
    )
    tensor_parallel_size: int | None = field(default=None, metadata={"help": "vllm: GPUs per model replica"})
    data_parallel_size: int | None = field(
        default=None, metadata={"help": "vllm: model replicas (one per GPU)"}
    )
    ray_address: str | None = field(
        default=None,
        metadata={
            "help": "spread generation over a Ray cluster ('auto', or the head's HOST:6379): one teacher replica per "
            "node writing shards into --output_dir, which must be storage every node sees; 'local' starts a "
            "one-machine cluster on 127.0.0.1 only, without the dashboard"
        },
    )
    ray_replicas: int | None = field(
        default=None, metadata={"help": "Ray: teacher replicas (default: one per alive node)"}
    )
    ray_gpus_per_replica: float = field(default=0.0, metadata={"help": "Ray: GPUs each replica reserves"})
    ray_max_restarts: int = field(
        default=3,
        metadata={
            "help": "Ray: replicas started in place of ones whose engine died (per round), while the others keep "
            "going; a trace in flight at two deaths is retried alone, and one that kills its engine alone too is "
            "recorded as failed (finish_reason=error)"
        },
    )

    def __post_init__(self) -> None:
        check_fields(
            self,
            at_least={
                "num_threads": 1,
                "num_generations": 1,
                "max_new_tokens": 1,
                "batch_size": 1,
                "max_concurrency": 1,
                "teacher_batch_size": 1,
                "forced_answer_tokens": 1,
                "thinking_budget": 1,
                "shard_traces": 1,
                "shard_seconds": 0.001,
                "max_model_len": 1,
                "kv_cache_space": 0.001,
                "max_num_seqs": 1,
                "max_num_batched_tokens": 1,
                "tensor_parallel_size": 1,
                "data_parallel_size": 1,
                "ray_replicas": 1,
                "ray_max_restarts": 0,
                "request_timeout": 0.001,
                "max_retries": 0,
                "backoff_base": 0,
                "backoff_max": 0,
            },
            between={
                "temperature": (0.0, 100.0),
                "top_p": (1e-9, 1.0),
                "gpu_memory_utilization": (0.01, 1.0),
            },
            choices={"teacher_backend": BACKENDS},
        )
        if not self.prompt_styles:
            raise ValueError("--prompt_styles needs at least one style, e.g. --prompt_styles r1")

    def sampling(self) -> SamplingParams:
        max_tokens = self.thinking_budget if self.thinking_budget is not None else self.max_new_tokens
        return SamplingParams(self.temperature, self.top_p, max_tokens, self.seed)

    def fingerprint(self) -> dict:
        return {k: getattr(self, k) for k in FINGERPRINT_FIELDS}

    def base_urls(self) -> list[str]:
        """The servers of `base_url` (one, or several separated by commas or spaces)."""
        urls = [u for u in self.base_url.replace(",", " ").split() if u]
        if not urls:
            raise ValueError("--base_url is empty: give the server's URL, e.g. http://127.0.0.1:8000/v1")
        return urls

    def forcing(self) -> Forcing | None:
        """Budget forcing settings, or None when it is off."""
        if self.thinking_budget is None and not self.force_unclosed_on_stop:
            return None
        return Forcing(self.forced_answer_tokens, self.force_unclosed_on_stop)


def teacher_options(cfg: GenerationConfig) -> dict:
    """Every backend option a generation config holds (`make_teacher` gives each backend the ones it names)."""
    return {
        "device": cfg.device,
        "batch_size": cfg.teacher_batch_size,
        "num_threads": cfg.num_threads,
        "dtype": cfg.teacher_dtype,
        "api_key_env": cfg.api_key_env,
        "max_concurrency": cfg.max_concurrency,
        "request_timeout": cfg.request_timeout,
        "max_retries": cfg.max_retries,
        "backoff_base": cfg.backoff_base,
        "backoff_max": cfg.backoff_max,
        "tokenizer": cfg.teacher_tokenizer,  # pre-filled prompts (rlt, r1_think) over /v1/completions
        "llm": cfg.distilabel_llm,
        "max_model_len": cfg.max_model_len,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "kv_cache_space": cfg.kv_cache_space,
        "enforce_eager": cfg.enforce_eager,
        "max_num_seqs": cfg.max_num_seqs,
        "max_num_batched_tokens": cfg.max_num_batched_tokens,
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "data_parallel_size": cfg.data_parallel_size,
    }


def build_teacher(cfg: GenerationConfig) -> Teacher:
    """The teacher a generation config asks for (`make_teacher` routes each backend the options it takes).

    Several `base_url`s with the openai backend make a `ServerPool` that keeps every server full.
    """
    offered = teacher_options(cfg)
    urls = cfg.base_urls()
    if cfg.teacher_backend == "openai" and len(urls) > 1:
        return ServerPool(
            [make_teacher("openai", cfg.teacher_model, offered={**offered, "base_url": u}) for u in urls]
        )
    return make_teacher(cfg.teacher_backend, cfg.teacher_model, offered={**offered, "base_url": urls[0]})


def check_manifest(cfg: GenerationConfig, output_dir: Path) -> None:
    """Refuse to resume into a folder written with a different teacher or sampling; record the config otherwise."""
    path = output_dir / MANIFEST
    if path.exists():
        old = json.loads(path.read_text()).get("fingerprint", {})
        changed = {k: (old.get(k), v) for k, v in cfg.fingerprint().items() if old.get(k) != v}
        if changed:
            details = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise ValueError(
                f"{output_dir} holds traces generated with different settings ({details}). Resuming would mix them. "
                "Use a new --output_dir, or delete that folder to start over."
            )
    output_dir.mkdir(parents=True, exist_ok=True)
    manifest = {
        "fingerprint": cfg.fingerprint(),
        "config": redact_config(asdict(cfg)),
        "openr1_data_version": __version__,
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, path)


def generate_traces(
    problems: Dataset,
    cfg: GenerationConfig,
    teacher: Teacher | None = None,
    progress: bool = True,
    funnel: Funnel | None = None,
    lineage: dict | None = None,
) -> StageResult[GenerationSummary]:
    """Generate (or resume generating) every trace of `problems` × styles × samples into `cfg.output_dir`.

    Returns the stage result: kept = all traces of this plan, read back from the shards; rejected = problems a
    style could not render, e.g. RLT without a solution; report = the `GenerationSummary` of this call. The output is a stage folder:
    shards in `data/` as they are written, then `rejected/generate/`, `generate_report.json` and `funnel.json`
    (`funnel`'s stages, e.g. problem loading, plus this one) once every trace is there, with `lineage` (what the
    folder was made from, `openr1_data.lineage`) when given. One run at a time writes a folder: a second one is
    refused while the first holds its lock (a killed run's lock goes with its process).
    """
    styles = [get_style(s) for s in cfg.prompt_styles]
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with hold_folder_lock(output_dir, "generate"):
        return _generate_locked(problems, cfg, styles, output_dir, teacher, progress, funnel, lineage)


def _generate_locked(
    problems: Dataset,
    cfg: GenerationConfig,
    styles: list,
    output_dir: Path,
    teacher: Teacher | None,
    progress: bool,
    funnel: Funnel | None,
    lineage: dict | None,
) -> StageResult[GenerationSummary]:
    meter = CostMeter()  # this call's cost: a resumed run's earlier calls are not counted again
    check_manifest(cfg, output_dir)
    remove_partial_shards(output_dir)  # we hold the lock: a temp shard here is a killed run's, never finished
    (output_dir / FUNNEL_FILE).unlink(missing_ok=True)  # incomplete until every trace is written
    own_teacher = teacher is None
    teacher = teacher or (_NamedOnly(cfg) if cfg.ray_address else build_teacher(cfg))
    try:
        units, reasons = plan_units(problems, styles, teacher.model_name, cfg.num_generations)
        refuse_if_no_prompt_fits(units, teacher)
        features = Features({**problems.features, **TRACE_FEATURES})
        if cfg.ray_address:
            from openr1_data.generate.ray_runner import run_on_ray

            summary = run_on_ray(
                units, cfg, teacher.model_name, features, progress, build_teacher=build_teacher
            )
        else:
            summary = run_plan(units, cfg, teacher, features, progress)
    finally:
        if own_teacher:
            teacher.close()
    wanted = {tid for u in units for tid in u.trace_ids}
    traces = load_traces(output_dir, wanted)
    if len(traces) != len(wanted):
        raise RuntimeError(f"expected {len(wanted)} traces in {output_dir}, found {len(traces)}")
    refuse_if_every_trace_overflowed(traces)
    result = _stage_result(problems, styles, reasons, traces, cfg.num_generations, summary)
    funnel = Funnel(list(funnel.stages), list(funnel.costs)) if funnel else Funnel()
    funnel.add_cost(meter.lap("generate", summary.prompt_tokens, summary.completion_tokens))
    _finish_folder(output_dir, result, funnel, lineage)
    return result


def refuse_if_no_prompt_fits(units: list[Unit], teacher: Teacher) -> None:
    """One clear error before any compute when the teacher can tell that no prompt of the plan fits its context.

    Prompts are checked in plan order until one fits (usually the first), so a large plan is not rendered up
    front; a teacher that cannot tell before asking (a server) is not asked here."""
    for unit in units:
        if teacher.fits_context(unit.prompt) is not False:
            return
    if units:
        raise ValueError(_no_prompt_fits(f"{len(units)} prompts", f"teacher {teacher.model_name!r}"))


def refuse_if_every_trace_overflowed(traces: Dataset) -> None:
    """The same error after the fact, for a teacher that could only say so per request (an HTTP server's 400)."""
    if len(traces) and all(reason == CONTEXT_OVERFLOW for reason in traces["finish_reason"]):
        raise ValueError(_no_prompt_fits(f"{len(traces)} traces", "the teacher server"))


def _no_prompt_fits(count: str, teacher: str) -> str:
    return (
        f"every prompt of the plan ({count}) is longer than the context of {teacher}: nothing can be generated. "
        "Shorten the problems (or drop the long ones), use a prompt style with a shorter template, or use a "
        "teacher with a longer context (e.g. vLLM --max_model_len)."
    )


def _finish_folder(
    output_dir: Path, result: StageResult[GenerationSummary], funnel: Funnel, lineage: dict | None
) -> None:
    """The rest of the stage folder once all traces are written; funnel.json last, as the completion mark."""
    write_dataset(result.rejected, output_dir / REJECTED_DIR / "generate")
    summary = result.report
    report = {**asdict(summary), "finish_reasons": dict(summary.finish_reasons)}
    report["parse_issues"] = dict(summary.parse_issues)
    (output_dir / "generate_report.json").write_text(json.dumps(report, indent=2))
    if lineage is not None:
        write_record(output_dir, lineage)
    funnel.add(result.stats)
    funnel.save(output_dir / FUNNEL_FILE)


def _stage_result(
    problems: Dataset, styles, reasons: list, traces: Dataset, n: int, summary: GenerationSummary
) -> StageResult[GenerationSummary]:
    """Funnel counts in traces: every planned (problem, style, sample) is either generated or rejected.

    The side output holds one row per rejected trace (the problem row, its style and sample index).
    """
    rejected_rows = [
        dict(problems[i % len(problems)], prompt_style=styles[i // len(problems)].name, sample_index=k)
        for i, reason in enumerate(reasons)
        if reason is not None
        for k in range(n)
    ]
    rejected_reasons = [r for r in reasons if r is not None for _ in range(n)]
    rejected = split_by_reason(Dataset.from_list(rejected_rows), rejected_reasons, stage="generate").rejected
    # rows_in is the plan, not the output: a trace that went missing fails the check instead of vanishing.
    stats = StageStats("generate", len(reasons) * n, len(traces), dict(Counter(rejected_reasons)))
    stats.check()
    return StageResult(traces, rejected, stats, summary)


def run_plan(
    units: list[Unit], cfg: GenerationConfig, teacher: Teacher, features: Features, progress: bool = True
) -> GenerationSummary:
    """Generate every trace of `units` not yet in `cfg.output_dir` through `teacher`, streaming into shards."""
    output_dir = Path(cfg.output_dir)
    done = written_trace_ids(output_dir)
    planned = sum(len(u.trace_ids) for u in units)
    todo = pending_traces(units, done)
    summary = GenerationSummary(planned=planned, skipped_existing=planned - len(todo))
    writer = ShardWriter(shard_folder(output_dir), features, cfg.shard_traces, cfg.shard_seconds)
    scheduler = TraceScheduler(
        todo,
        cfg.sampling(),
        cfg.seed,
        teacher.model_name,
        writer,
        forcing=cfg.forcing(),
        batch_size=cfg.batch_size * cfg.num_generations,
        summary=summary,
        progress=progress,
    )
    return scheduler.run(as_streaming(teacher))


class _NamedOnly(Teacher):
    """Stands in for the teacher on a Ray driver, which plans with the teacher's name but generates nothing
    itself (each replica builds its own teacher)."""

    def __init__(self, cfg: GenerationConfig):
        from openr1_data.teachers.transformers_backend import provenance_name

        super().__init__(provenance_name(cfg.teacher_model))

    def _generate(self, prompts, sampling, n):
        raise RuntimeError("the Ray driver does not generate; its replicas do")
