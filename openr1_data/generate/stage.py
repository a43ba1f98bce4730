"""The resumable generation stage: problems × prompt styles × samples → one row per trace.

Work is planned as a fixed list of units (one per problem and style), cut into fixed batches. Each batch is
generated with a seed derived from its own trace ids and written atomically as one Parquet shard. Rerunning the
same command skips every trace already written, so a run killed at any point (even SIGKILL) resumes without losing
or duplicating a trace, and ends with the same traces an uninterrupted run would have written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
from datasets import Dataset, Features, load_dataset
from tqdm.auto import tqdm

from openr1_data import __version__
from openr1_data.funnel import Funnel, StageResult, StageStats, split_by_reason
from openr1_data.generate.budget_forcing import close_explanations, force_answers
from openr1_data.io import DATA_DIR, FUNNEL_FILE, REJECTED_DIR, write_dataset
from openr1_data.prompts import PromptStyle, get_style
from openr1_data.schema import PROBLEM_ID, TRACE_FEATURES, make_trace_id
from openr1_data.teachers import SamplingParams, Teacher, make_teacher

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
        default=42, metadata={"help": "base seed; each batch derives its own from its trace ids"}
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
    batch_size: int = field(default=8, metadata={"help": "problems per batch (one shard per batch)"})
    device: str = field(
        default="cpu", metadata={"help": "device for the transformers backend (cpu, cuda, ...)"}
    )
    teacher_batch_size: int = field(
        default=16, metadata={"help": "sequences per forward batch in the transformers backend"}
    )
    base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible server URL (openai backend)"}
    )
    api_key_env: str = field(
        default="OPENAI_API_KEY",
        metadata={"help": "environment variable holding the API key (openai backend)"},
    )
    max_concurrency: int = field(default=16, metadata={"help": "concurrent requests (openai backend)"})
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

    def sampling(self) -> SamplingParams:
        max_tokens = self.thinking_budget if self.thinking_budget is not None else self.max_new_tokens
        return SamplingParams(self.temperature, self.top_p, max_tokens, self.seed)

    def fingerprint(self) -> dict:
        return {k: getattr(self, k) for k in FINGERPRINT_FIELDS}


def build_teacher(cfg: GenerationConfig) -> Teacher:
    """The teacher a generation config asks for (`make_teacher` routes each backend the options it takes)."""
    offered = {
        "device": cfg.device,
        "batch_size": cfg.teacher_batch_size,
        "base_url": cfg.base_url,
        "api_key_env": cfg.api_key_env,
        "max_concurrency": cfg.max_concurrency,
        "tokenizer": cfg.teacher_tokenizer,  # pre-filled prompts (rlt, r1_think) over /v1/completions
        "llm": cfg.distilabel_llm,
    }
    return make_teacher(cfg.teacher_backend, cfg.teacher_model, offered=offered)


@dataclass
class Unit:
    """One problem rendered in one style: the prompt the teacher sees and the trace ids of its samples."""

    row: dict
    style: PromptStyle
    trace_ids: list[str]


@dataclass
class GenerationSummary:
    """What one call of the stage did (printed as the closing table)."""

    planned: int = 0
    skipped_existing: int = 0
    generated: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    finish_reasons: Counter = field(default_factory=Counter)
    parse_issues: Counter = field(default_factory=Counter)

    def table(self) -> str:
        rate = self.completion_tokens / self.seconds if self.seconds else 0.0
        rows = [
            ("traces planned", self.planned),
            ("already written (resumed)", self.skipped_existing),
            ("generated now", self.generated),
            ("completion tokens", self.completion_tokens),
            ("tokens/s", f"{rate:.1f}"),
            ("seconds", f"{self.seconds:.1f}"),
            ("finish reasons", dict(self.finish_reasons) or "-"),
            ("parse issues", dict(self.parse_issues) or "-"),
        ]
        return "\n".join(f"  {k:<28}{v}" for k, v in rows)


def shard_folder(output_dir: str | Path) -> Path:
    """Where generation writes its trace shards: the stage folder's `data/`."""
    return Path(output_dir) / DATA_DIR


def written_trace_ids(output_dir: str | Path) -> set[str]:
    """Trace ids of every shard already written (only the id column is read)."""
    ids: set[str] = set()
    for shard in sorted(shard_folder(output_dir).glob("*.parquet")):
        ids.update(pq.read_table(shard, columns=["trace_id"]).column("trace_id").to_pylist())
    return ids


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
    manifest = {"fingerprint": cfg.fingerprint(), "config": asdict(cfg), "openr1_data_version": __version__}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, path)


def plan_units(
    problems: Dataset, styles: list[PromptStyle], teacher_name: str, n: int
) -> tuple[list[Unit], list]:
    """Units in a fixed order (style-major, then problem order) plus per-row rejection reasons for the funnel."""
    units: list[Unit] = []
    reasons: list[str | None] = []
    for style in styles:
        seen: set[str] = set()
        for row in problems:
            # Two rows with one problem_id would share trace ids: the second is a duplicate, not a new problem.
            problem = "duplicate_problem_id" if row[PROBLEM_ID] in seen else style.row_problem(row)
            seen.add(row[PROBLEM_ID])
            reasons.append(f"{style.name}:{problem}" if problem else None)
            if problem:
                continue
            ids = [make_trace_id(row[PROBLEM_ID], style.name, teacher_name, k) for k in range(n)]
            units.append(Unit(row, style, ids))
    return units, reasons


def batch_seed(base_seed: int, trace_ids: list[str]) -> int:
    """A seed that depends only on the base seed and which traces a batch holds (so a resumed batch repeats)."""
    digest = hashlib.sha256(f"{base_seed}:{','.join(trace_ids)}".encode()).hexdigest()
    return int(digest[:8], 16)


def trace_rows(unit: Unit, completions, teacher_name: str) -> Iterator[dict]:
    """One contract row per completion of a unit."""
    prompt = unit.style.build(unit.row)
    for k, completion in enumerate(completions):
        parsed = unit.style.parse(completion.text, unit.row)
        yield {
            **unit.row,
            "sample_index": k,
            "teacher": teacher_name,
            "prompt_style": unit.style.name,
            "prompt": prompt,
            "completion": completion.text,
            "reasoning": parsed.reasoning,
            "final": parsed.final,
            "predicted_answer": parsed.predicted_answer,
            "finish_reason": completion.finish_reason,
            "completion_tokens": completion.completion_tokens,
            "parse_issue": parsed.parse_issue,
            "forced": completion.forced,
            "trace_id": unit.trace_ids[k],
        }


def write_shard(rows: list[dict], features: Features, folder: Path, name: str) -> None:
    """Write rows as one Parquet shard atomically (temp file, fsync, rename): a kill never leaves half a shard."""
    folder.mkdir(parents=True, exist_ok=True)
    table = Dataset.from_list(rows, features=features).data.table
    tmp = folder / f".{name}.tmp"
    pq.write_table(table, tmp)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, folder / name)


def generate_traces(
    problems: Dataset,
    cfg: GenerationConfig,
    teacher: Teacher | None = None,
    progress: bool = True,
    funnel: Funnel | None = None,
) -> tuple[StageResult, GenerationSummary]:
    """Generate (or resume generating) every trace of `problems` × styles × samples into `cfg.output_dir`.

    Returns the stage result (kept = all traces of this plan, read back from the shards; rejected = problems a
    style could not render, e.g. RLT without a solution) and a summary of this call. The output is a stage folder:
    shards in `data/` as they are written, then `rejected/generate/`, `generate_report.json` and `funnel.json`
    (`funnel`'s stages, e.g. problem loading, plus this one) once every trace is there.
    """
    styles = [get_style(s) for s in cfg.prompt_styles]
    output_dir = Path(cfg.output_dir)
    check_manifest(cfg, output_dir)
    (output_dir / FUNNEL_FILE).unlink(missing_ok=True)  # incomplete until every trace is written
    own_teacher = teacher is None
    teacher = teacher or build_teacher(cfg)
    try:
        units, reasons = plan_units(problems, styles, teacher.model_name, cfg.num_generations)
        summary = _run_batches(units, cfg, teacher, output_dir, problems.features, progress)
    finally:
        if own_teacher:
            teacher.close()
    wanted = {tid for u in units for tid in u.trace_ids}
    traces = load_traces(output_dir, wanted)
    if len(traces) != len(wanted):
        raise RuntimeError(f"expected {len(wanted)} traces in {output_dir}, found {len(traces)}")
    result = _stage_result(problems, styles, reasons, traces, cfg.num_generations)
    _finish_folder(output_dir, result, summary, Funnel(list(funnel.stages) if funnel else []))
    return result, summary


def _finish_folder(output_dir: Path, result: StageResult, summary: GenerationSummary, funnel: Funnel) -> None:
    """The rest of the stage folder once all traces are written; funnel.json last, as the completion mark."""
    write_dataset(result.rejected, output_dir / REJECTED_DIR / "generate")
    report = {**asdict(summary), "finish_reasons": dict(summary.finish_reasons)}
    report["parse_issues"] = dict(summary.parse_issues)
    (output_dir / "generate_report.json").write_text(json.dumps(report, indent=2))
    funnel.add(result.stats)
    funnel.save(output_dir / FUNNEL_FILE)


def _stage_result(problems: Dataset, styles, reasons: list, traces: Dataset, n: int) -> StageResult:
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
    return StageResult(traces, rejected, stats)


def _run_batches(
    units: list[Unit],
    cfg: GenerationConfig,
    teacher: Teacher,
    output_dir: Path,
    problem_features,
    progress: bool,
) -> GenerationSummary:
    features = Features({**problem_features, **TRACE_FEATURES})
    done = written_trace_ids(output_dir)
    summary = GenerationSummary(planned=sum(len(u.trace_ids) for u in units))
    summary.skipped_existing = sum(tid in done for u in units for tid in u.trace_ids)
    bar = tqdm(
        total=summary.planned,
        initial=summary.skipped_existing,
        unit="trace",
        disable=not progress,
        desc="generate",
        file=sys.stderr,
    )
    start = time.perf_counter()
    for b in range(0, len(units), cfg.batch_size):
        batch = [u for u in units[b : b + cfg.batch_size] if not all(t in done for t in u.trace_ids)]
        if not batch:
            continue
        sampling = cfg.sampling()
        sampling.seed = batch_seed(cfg.seed, [t for u in batch for t in u.trace_ids])
        prompts = [u.style.build(u.row) for u in batch]
        outputs = teacher.generate(prompts, sampling, n=cfg.num_generations)
        if cfg.thinking_budget is not None or cfg.force_unclosed_on_stop:
            outputs = _apply_budget_forcing(teacher, batch, prompts, outputs, sampling, cfg)
        rows = [
            r
            for unit, completions in zip(batch, outputs, strict=True)
            for r in trace_rows(unit, completions, teacher.model_name)
            if r["trace_id"] not in done
        ]
        write_shard(
            rows,
            features,
            shard_folder(output_dir),
            f"batch-{b // cfg.batch_size:06d}-{sampling.seed:08x}.parquet",
        )
        done.update(r["trace_id"] for r in rows)
        summary.generated += len(rows)
        summary.completion_tokens += sum(r["completion_tokens"] for r in rows)
        summary.finish_reasons.update(r["finish_reason"] for r in rows)
        summary.parse_issues.update(r["parse_issue"] for r in rows if r["parse_issue"])
        summary.seconds = time.perf_counter() - start
        bar.update(len(rows))
        bar.set_postfix(tok_s=f"{summary.completion_tokens / max(summary.seconds, 1e-9):.1f}")
    bar.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _apply_budget_forcing(teacher, batch, prompts, outputs, sampling, cfg: GenerationConfig):
    """Budget forcing: think styles get a forced answer; with `force_unclosed_on_stop`, RLT explanations that
    ended without their closing tag get it. Other styles pass through unchanged."""
    outputs = list(outputs)
    if cfg.force_unclosed_on_stop:
        rlt = [i for i, unit in enumerate(batch) if unit.style.parser == "rlt"]
        for i, samples in zip(rlt, close_explanations([outputs[i] for i in rlt]), strict=True):
            outputs[i] = samples
    think = [i for i, unit in enumerate(batch) if unit.style.parser == "think"]
    forced = force_answers(
        teacher,
        [prompts[i] for i in think],
        [outputs[i] for i in think],
        sampling,
        cfg.forced_answer_tokens,
        also_on_stop=cfg.force_unclosed_on_stop,
    )
    for i, samples in zip(think, forced, strict=True):
        outputs[i] = samples
    return outputs


def load_traces(output_dir: str | Path, trace_ids: set[str] | None = None) -> Dataset:
    """All traces written in `output_dir` (optionally only those in `trace_ids`), as one Dataset."""
    shards = sorted(str(p) for p in shard_folder(output_dir).glob("*.parquet"))
    if not shards:
        return Dataset.from_dict({"trace_id": []})
    traces = load_dataset("parquet", data_files=shards, split="train")
    if trace_ids is not None:
        keep = [i for i, t in enumerate(traces["trace_id"]) if t in trace_ids]
        if len(keep) != len(traces):
            traces = traces.select(keep)
    return traces
