"""Generation throughput, two benchmarks.

`capacity`: the generation stage against a server of fixed capacity, vs the ideal client. The server is simulated
(tests/fakes/capacity_server.py, real HTTP on 127.0.0.1 in its own process): `--slots` sequences decode at once
at `--token_rate` tokens/s each, trace lengths are lognormal (mean 3,000 tokens, capped at 16,384), later requests
queue. The ideal client keeps exactly `--slots` requests in flight and takes every result as it finishes (what a
hand-written asyncio client at its best does); the stage runs with its defaults and only `--max_concurrency` set.
Reported: the server's utilisation (busy slot-seconds / slots x wall time) and tokens/s against the ideal.

    python benchmarks/generation.py capacity                      # 1,000 and 10,000 traces, 64 slots
    python benchmarks/generation.py capacity --traces 1000 --two_servers

`transformers`: our batched transformers backend vs a plain per-prompt `model.generate` loop, and the stage
(planning, parsing, Parquet shards, resume bookkeeping) vs calling the backend directly. Greedy decoding, so every
method produces the same tokens and the comparison is of the same work.

    python benchmarks/generation.py transformers                  # packaged SmolLM2-135M-Instruct, 16 prompts
    python benchmarks/generation.py transformers --prompts 32 --max_new_tokens 128 --model path/to/model

`refill`: the transformers teacher that refills freed batch slots (this tree) against the one that lets a batch
drain before starting the next (`--baseline_ref`, main by default: its backend module is loaded from git), through
the generation stage on two workloads: `quickstart` (pipelines/recipes/quickstart.yaml: 8 bundled problems x r1_think
and rlt x 2 samples, thinking budget 160 with forcing) and `teach` (the teach recipe's shape, many short prompts:
`What is a + b?` in r1_think, 4 samples, thinking budget 48, forced answers of 16 tokens, 32 sequences in flight).
Sampled as the recipes sample; both teachers see the same plan and seeds. Reported: tokens/s, and the seconds
until the first trace came back (what a progress bar shows).

    python benchmarks/generation.py refill                        # both workloads, once each
    python benchmarks/generation.py refill --workloads teach --teach_problems 96 --repeats 2
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import httpx
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from openr1_data.generate.plan import plan_units, trace_seed
from openr1_data.generate.stage import GenerationConfig, generate_traces
from openr1_data.prompts import get_style
from openr1_data.sources.bundled import arithmetic_problems, bundled_problems
from openr1_data.sources.problems import normalize_problems
from openr1_data.teachers import SamplingParams, make_teacher
from openr1_data.teachers.transformers_backend import resolve_model

ROOT = Path(__file__).resolve().parents[1]


def per_prompt_loop(model_path: str, prompts: list, max_new_tokens: int) -> tuple[float, int]:
    """The baseline a user would write: one `model.generate` call per prompt."""
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    tokens = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for messages in prompts:
            enc = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)  # fmt: skip
            new = out[0, enc["input_ids"].shape[1] :].tolist()
            eos = tokenizer.eos_token_id
            tokens += new.index(eos) + 1 if eos in new else len(new)
    return time.perf_counter() - start, tokens


def hf_batched(teacher, prompts: list, max_new_tokens: int) -> tuple[float, int]:
    """`model.generate` on the whole left-padded batch: every row decodes until the longest one ends."""
    tokenizer, model = teacher.tokenizer, teacher.model
    enc = tokenizer(
        [teacher.render(p) for p in prompts], return_tensors="pt", padding=True, add_special_tokens=False
    )
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=teacher.eos_ids,
                             pad_token_id=tokenizer.pad_token_id)  # fmt: skip
    seconds = time.perf_counter() - start
    greedy = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens)
    rows = out[:, enc["input_ids"].shape[1] :].tolist()
    return seconds, sum(teacher._to_completion(r, greedy).completion_tokens for r in rows)


def transformers_benchmark(args: argparse.Namespace) -> None:
    model_path, _ = resolve_model(args.model)
    problems = normalize_problems(Dataset.from_list(bundled_problems(args.prompts))).kept
    style = get_style("r1")
    prompts = [style.build(row) for row in problems]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=args.max_new_tokens)
    torch.set_num_threads(args.num_threads)
    teacher = make_teacher(
        "transformers", args.model, batch_size=args.batch_size, num_threads=args.num_threads
    )
    teacher.generate(prompts[:2], greedy)  # warm-up (first-call allocations)

    loop_s, loop_tokens = per_prompt_loop(model_path, prompts, args.max_new_tokens)
    hf_s, hf_tokens = hf_batched(teacher, prompts, args.max_new_tokens)

    start = time.perf_counter()
    raw = teacher.generate(prompts, greedy)
    raw_s = time.perf_counter() - start
    raw_tokens = sum(c[0].completion_tokens for c in raw)

    cfg = GenerationConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-gen-"), teacher_model=args.model, prompt_styles=["r1"],
        num_generations=1, temperature=0.0, max_new_tokens=args.max_new_tokens, batch_size=args.prompts,
    )  # fmt: skip
    start = time.perf_counter()
    result = generate_traces(problems, cfg, teacher=teacher, progress=False)
    stage_s = time.perf_counter() - start
    stage_tokens = sum(result.kept["completion_tokens"])

    rows = [
        ("per-prompt model.generate loop (baseline)", loop_s, loop_tokens),
        (f"model.generate on the padded batch ({args.prompts})", hf_s, hf_tokens),
        (f"our backend, batched ({args.batch_size} seqs)", raw_s, raw_tokens),
        ("generation stage (backend + parse + shards)", stage_s, stage_tokens),
    ]
    print(
        f"\n{args.prompts} prompts, greedy, max_new_tokens={args.max_new_tokens}, {torch.get_num_threads()} threads"
    )
    print(f"{'method':<46}{'seconds':>9}{'tokens':>8}{'tok/s':>9}{'vs loop':>9}")
    for name, seconds, tokens in rows:
        rate = tokens / seconds
        print(f"{name:<46}{seconds:>9.1f}{tokens:>8}{rate:>9.1f}{rate / (loop_tokens / loop_s):>8.2f}x")
    print(f"\nstage overhead over the raw backend: {100 * (stage_s / raw_s - 1):+.1f}% (target < 5%)")


# -- capacity -----------------------------------------------------------------------------------------------------


class SimulatedServer:
    """tests/fakes/capacity_server.py in its own process (so its work does not share the client's interpreter)."""

    def __init__(self, slots: int, token_rate: float):
        self.slots = slots
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.capacity_server", "--slots", str(slots),
             "--token_rate", str(token_rate)],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            self.process.kill()
            raise RuntimeError(f"the simulated server did not start: {line!r}")
        self.root = f"http://127.0.0.1:{int(line.split()[1])}"
        self.base_url = f"{self.root}/v1"

    def reset(self) -> None:
        httpx.post(f"{self.root}/reset")

    def stats(self) -> dict:
        return httpx.get(f"{self.root}/stats").json()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def capacity_plan(
    traces: int, teacher: str = "sim"
) -> tuple[Dataset, GenerationConfig, list[tuple[list, int]]]:
    """The problems and config of a stage run with defaults, and its requests (prompt, seed): the ideal client
    sends the very same requests, so both get the same trace lengths from the simulated server."""
    cfg = GenerationConfig(teacher_backend="openai", teacher_model="sim")
    problems = normalize_problems(Dataset.from_list(bundled_problems(traces // cfg.num_generations))).kept
    units, _ = plan_units(problems, [get_style(s) for s in cfg.prompt_styles], teacher, cfg.num_generations)
    requests = [(u.prompt, trace_seed(cfg.seed, t)) for u in units for t in u.trace_ids]
    return problems, cfg, requests


async def ideal_client(servers: list[SimulatedServer], requests: list, max_tokens: int) -> tuple[float, int]:
    """Every server's slots always full: one request per free slot, each result taken as soon as it comes."""
    queue = list(reversed(requests))
    tokens = 0

    async def worker(client: httpx.AsyncClient, url: str) -> None:
        nonlocal tokens
        while queue:
            prompt, seed = queue.pop()
            body = {"model": "sim", "messages": prompt, "max_tokens": max_tokens, "seed": seed,
                    "temperature": 0.6, "top_p": 0.95}  # fmt: skip
            answer = (await client.post(f"{url}/chat/completions", json=body)).json()
            tokens += answer["usage"]["completion_tokens"]

    limits = httpx.Limits(max_connections=sum(s.slots for s in servers))
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        start = time.perf_counter()
        await asyncio.gather(*(worker(client, s.base_url) for s in servers for _ in range(s.slots)))
        return time.perf_counter() - start, tokens


def stage_run(servers: list[SimulatedServer], traces: int, max_tokens: int, max_concurrency: int):
    """The generation stage with its defaults (4 samples per problem, ...), only --max_concurrency set."""
    problems, cfg, _ = capacity_plan(traces)
    cfg.output_dir = tempfile.mkdtemp(prefix="bench-capacity-")
    cfg.base_url = ",".join(s.base_url for s in servers)
    cfg.max_concurrency = max_concurrency
    cfg.max_new_tokens = max_tokens
    start = time.perf_counter()
    summary = generate_traces(problems, cfg, progress=False).report
    return time.perf_counter() - start, summary.completion_tokens


def _run_ideal(servers: list[SimulatedServer], traces: int) -> tuple[float, int]:
    return asyncio.run(ideal_client(servers, capacity_plan(traces)[2], 16384))


def measure(name: str, servers: list[SimulatedServer], run) -> dict:
    for server in servers:
        server.reset()
    seconds, tokens = run()
    busy = sum(s.stats()["busy_seconds"] for s in servers)
    slots = sum(s.slots for s in servers)
    return {"name": name, "seconds": seconds, "tokens": tokens, "busy": busy / (slots * seconds)}


def capacity_benchmark(args: argparse.Namespace) -> None:
    layouts = [("one server", [args.slots])]
    if args.two_servers:
        layouts.append(("two servers", [args.slots // 2, args.slots - args.slots // 2]))
    print(f"simulated server: {args.slots} decode slots in all, {args.token_rate:.0f} tokens/s per sequence, "
          "lognormal lengths (mean 3,000, cap 16,384)")  # fmt: skip
    print(f"{'traces':>7}  {'layout':<12}{'client':<52}{'server busy':>12}{'tokens/s':>11}{'vs ideal':>9}")
    for traces in args.traces:
        for layout, slots in layouts:
            servers = [SimulatedServer(n, args.token_rate) for n in slots]
            try:
                ideal = measure("ideal client (slots always full)", servers,
                                partial(_run_ideal, servers, traces))  # fmt: skip
                flag = f"--max_concurrency {slots[0]}"
                urls = " --base_url A,B" if len(slots) > 1 else ""
                stage = measure(f"openr1-data generate, defaults,{urls} {flag}", servers,
                                partial(stage_run, servers, traces, 16384, slots[0]))  # fmt: skip
            finally:
                for server in servers:
                    server.stop()
            base = ideal["tokens"] / ideal["seconds"]
            for row in (ideal, stage):
                rate = row["tokens"] / row["seconds"]
                print(f"{traces:>7}  {layout:<12}{row['name']:<52}{row['busy']:>11.0%}{rate:>11,.0f}"
                      f"{rate / base:>9.2f}")  # fmt: skip


# -- vLLM ----------------------------------------------------------------------------------------------------------


def vllm_benchmark(args: argparse.Namespace) -> None:
    """Raw `vllm.LLM.chat` on every prompt at once (seeded like the stage) vs the stage on the same engine, and
    the stage over HTTP against `vllm serve` of the same model; same prompts, same seeds, same budget."""
    import os

    from openr1_data.procs import watched_command
    from openr1_data.teachers.serve import LocalServer, free_port, wait_until_ready

    os.environ.setdefault("VLLM_NO_USAGE_STATS", "1")
    problems, cfg, requests = capacity_plan(args.prompts * 4)
    cfg.teacher_backend, cfg.teacher_model, cfg.max_new_tokens = "vllm", args.model, args.max_new_tokens
    options = dict(kv_cache_space=args.kv_cache_space, enforce_eager=True, max_model_len=2048)
    teacher = make_teacher("vllm", args.model, **options)
    cfg.teacher_model = teacher.model_name
    _, _, requests = capacity_plan(args.prompts * 4, teacher.model_name)
    vllm = teacher._vllm
    params = [
        vllm.SamplingParams(
            n=1, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_new_tokens, seed=seed
        )
        for _, seed in requests
    ]
    teacher.llm.chat([p for p, _ in requests[:4]], params[:4], use_tqdm=False)  # warm-up
    rows = []
    teacher.llm.reset_prefix_cache()
    start = time.perf_counter()
    outputs = teacher.llm.chat([p for p, _ in requests], params, use_tqdm=False)
    raw_s = time.perf_counter() - start
    rows.append(
        ("raw vllm.LLM.chat, every prompt at once", raw_s, sum(len(o.outputs[0].token_ids) for o in outputs))
    )
    teacher.llm.reset_prefix_cache()
    cfg.output_dir = tempfile.mkdtemp(prefix="bench-vllm-")
    start = time.perf_counter()
    summary = generate_traces(problems, cfg, teacher=teacher, progress=False).report
    rows.append(
        (
            "openr1-data generate --teacher_backend vllm",
            time.perf_counter() - start,
            summary.completion_tokens,
        )
    )
    teacher.close()

    port = free_port()
    log = Path(tempfile.mkdtemp()) / "vllm-serve.log"
    command = watched_command([
        "-m", "vllm.entrypoints.openai.api_server", "--model", resolve_model(args.model)[0],
        "--served-model-name", cfg.teacher_model, "--host", "127.0.0.1", "--port", str(port), "--enforce-eager",
        "--max-model-len", "2048", "--no-enable-chunked-prefill", "--max-num-seqs", str(args.max_num_seqs),
    ])  # fmt: skip
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": str(int(args.kv_cache_space))}
    with open(log, "ab") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = LocalServer(process=process, host="127.0.0.1", port=port, model=cfg.teacher_model, log_path=log)
    try:
        wait_until_ready(server, 900)
        http = GenerationConfig(**{**cfg.__dict__, "teacher_backend": "openai", "base_url": server.base_url,
                                   "max_concurrency": args.max_num_seqs,
                                   "output_dir": tempfile.mkdtemp(prefix="bench-vllm-http-")})  # fmt: skip
        start = time.perf_counter()
        summary = generate_traces(problems, http, progress=False).report
        rows.append((f"vllm serve + generate --max_concurrency {args.max_num_seqs}", time.perf_counter() - start,
                     summary.completion_tokens))  # fmt: skip
    finally:
        server.stop()
    print(f"\n{len(requests)} traces ({args.prompts} problems x 4), SmolLM2-135M on vLLM CPU, "
          f"max_new_tokens={args.max_new_tokens}, sampled (temperature {cfg.temperature}), the stage's seeds")  # fmt: skip
    print(f"{'method':<52}{'seconds':>9}{'tokens':>8}{'tok/s':>9}{'vs raw':>8}")
    base = rows[0][2] / rows[0][1]
    for name, seconds, tokens in rows:
        print(f"{name:<52}{seconds:>9.1f}{tokens:>8}{tokens / seconds:>9.1f}{tokens / seconds / base:>8.2f}")


# -- refill -------------------------------------------------------------------------------------------------------


def baseline_teacher_class(ref: str):
    """`TransformersTeacher` as it is at git `ref`, loaded from that commit's file (it shares this tree's base)."""
    source = subprocess.run(
        ["git", "show", f"{ref}:openr1_data/teachers/transformers_backend.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    path = Path(tempfile.mkdtemp(prefix="bench-baseline-")) / "baseline_transformers_backend.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_transformers_backend", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TransformersTeacher


def refill_workload(name: str, args: argparse.Namespace) -> tuple[Dataset, dict]:
    """The problems and generation settings of a workload (as its recipe sets them)."""
    if name == "quickstart":
        problems = bundled_problems(8)
        settings = dict(
            prompt_styles=["r1_think", "rlt"], num_generations=2, thinking_budget=160,
            force_unclosed_on_stop=True, forced_answer_tokens=16, teacher_batch_size=16,
        )  # fmt: skip
    else:
        problems = arithmetic_problems(1, 14)[: args.teach_problems]
        settings = dict(
            prompt_styles=["r1_think"], num_generations=4, temperature=0.7, top_p=0.95, max_new_tokens=48,
            thinking_budget=48, force_unclosed_on_stop=True, forced_answer_tokens=16, teacher_batch_size=32,
        )  # fmt: skip
    return normalize_problems(Dataset.from_list(problems)).kept, settings


def timed_stage(teacher, problems: Dataset, settings: dict, model: str) -> tuple[float, int, float]:
    """(seconds, completion tokens, seconds to the first trace) of one generation stage run through `teacher`."""
    first: list[float] = []
    stream = teacher.stream

    def stream_noting_the_first_trace(feed) -> None:
        complete = feed.complete

        def noted(request, completion) -> None:
            first[:1] = first[:1] or [time.perf_counter()]
            complete(request, completion)

        feed.complete = noted
        stream(feed)

    teacher.stream = stream_noting_the_first_trace
    cfg = GenerationConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-refill-"), teacher_model=model, **settings
    )
    start = time.perf_counter()
    result = generate_traces(problems, cfg, teacher=teacher, progress=False)
    seconds = time.perf_counter() - start
    return seconds, sum(result.kept["completion_tokens"]), (first[0] - start) if first else float("nan")


def refill_benchmark(args: argparse.Namespace) -> None:
    torch.set_num_threads(args.num_threads)
    kinds = {
        f"drain, then next batch ({args.baseline_ref})": baseline_teacher_class(args.baseline_ref),
        "refill freed slots (this tree)": type(make_teacher("transformers", args.model, batch_size=1)),
    }
    for workload in args.workloads:
        problems, settings = refill_workload(workload, args)
        teachers = {
            name: cls(args.model, batch_size=settings["teacher_batch_size"], num_threads=args.num_threads)
            for name, cls in kinds.items()
        }
        runs: dict[str, list[tuple[float, int, float]]] = {name: [] for name in kinds}
        for _ in range(args.repeats):  # alternate, so a change in the machine's load hits both alike
            for name, teacher in teachers.items():
                runs[name].append(timed_stage(teacher, problems, settings, args.model))
        print(f"\n{workload}: {len(problems)} problems, {settings}, {torch.get_num_threads()} threads")
        print(f"{'teacher':<44}{'seconds':>9}{'tokens':>8}{'tok/s':>9}{'first trace s':>15}")
        rates = {}
        for name, measured in runs.items():
            seconds = sum(m[0] for m in measured)
            tokens = sum(m[1] for m in measured)
            rates[name] = tokens / seconds
            first = sum(m[2] for m in measured) / len(measured)
            print(f"{name:<44}{seconds:>9.1f}{tokens:>8}{rates[name]:>9.1f}{first:>15.1f}")
        base, new = rates.values()
        print(f"tokens/s ratio, refill / drain: {new / base:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    capacity = commands.add_parser("capacity", help="the stage vs the ideal client on a simulated server")
    capacity.add_argument("--traces", type=int, nargs="+", default=[1000, 10000])
    capacity.add_argument("--slots", type=int, default=64, help="decode slots (all servers together)")
    capacity.add_argument("--token_rate", type=float, default=7500.0, help="tokens/s of one sequence")
    capacity.add_argument("--two_servers", action="store_true", help="also: the slots split over two servers")
    engine = commands.add_parser("vllm", help="the vLLM backend and vllm serve vs raw vllm.LLM (needs vLLM)")
    engine.add_argument("--model", default="smollm2")
    engine.add_argument("--prompts", type=int, default=16, help="problems (4 traces each)")
    engine.add_argument("--max_new_tokens", type=int, default=256)
    engine.add_argument("--kv_cache_space", type=float, default=2.0, help="GiB (vLLM on CPU)")
    engine.add_argument("--max_num_seqs", type=int, default=64, help="vllm serve --max-num-seqs")
    local = commands.add_parser("transformers", help="the transformers backend vs a per-prompt loop")
    local.add_argument("--model", default="smollm2")
    local.add_argument("--prompts", type=int, default=16)
    local.add_argument("--max_new_tokens", type=int, default=64)
    local.add_argument("--batch_size", type=int, default=16, help="sequences per forward batch")
    local.add_argument("--num_threads", type=int, default=2, help="torch threads for every method")
    refill = commands.add_parser("refill", help="the transformers teacher refilling freed slots vs draining")
    refill.add_argument("--model", default="smollm2")
    refill.add_argument(
        "--workloads", nargs="+", default=["quickstart", "teach"], choices=["quickstart", "teach"]
    )
    refill.add_argument(
        "--teach_problems", type=int, default=64, help="teach workload: first N of 196 problems"
    )
    refill.add_argument("--baseline_ref", default="main", help="git ref of the backend to compare against")
    refill.add_argument("--repeats", type=int, default=1, help="runs of each teacher, alternating")
    refill.add_argument("--num_threads", type=int, default=2, help="torch threads for both teachers")
    args = parser.parse_args()
    if args.command == "refill":
        refill_benchmark(args)
    elif args.command == "capacity":
        capacity_benchmark(args)
    elif args.command == "vllm":
        vllm_benchmark(args)
    else:
        transformers_benchmark(args)


if __name__ == "__main__":
    main()
