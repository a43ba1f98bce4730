"""Generation throughput: our batched transformers backend vs a plain per-prompt `model.generate` loop, and the
generation stage (planning, parsing, Parquet shards, resume bookkeeping) vs calling the backend directly.

    python benchmarks/generation.py                     # packaged SmolLM2-135M-Instruct, 16 prompts, 64 tokens
    python benchmarks/generation.py --prompts 32 --max_new_tokens 128 --model path/to/model

Greedy decoding, so every method produces the same tokens and the comparison is of the same work.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer

from openr1_data.generate.stage import GenerationConfig, generate_traces
from openr1_data.prompts import get_style
from openr1_data.sources.bundled import bundled_problems
from openr1_data.sources.problems import normalize_problems
from openr1_data.teachers import SamplingParams, make_teacher
from openr1_data.teachers.transformers_backend import resolve_model


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16, help="sequences per forward batch")
    args = parser.parse_args()

    model_path, _ = resolve_model(args.model)
    problems = normalize_problems(Dataset.from_list(bundled_problems(args.prompts))).kept
    style = get_style("r1")
    prompts = [style.build(row) for row in problems]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=args.max_new_tokens)
    teacher = make_teacher("transformers", args.model, batch_size=args.batch_size)
    teacher.generate(prompts[:2], greedy)  # warm-up (first-call allocations)

    loop_s, loop_tokens = per_prompt_loop(model_path, prompts, args.max_new_tokens)

    start = time.perf_counter()
    raw = teacher.generate(prompts, greedy)
    raw_s = time.perf_counter() - start
    raw_tokens = sum(c[0].completion_tokens for c in raw)

    cfg = GenerationConfig(
        output_dir=tempfile.mkdtemp(prefix="bench-gen-"), teacher_model=args.model, prompt_styles=["r1"],
        num_generations=1, temperature=0.0, max_new_tokens=args.max_new_tokens, batch_size=args.prompts,
    )  # fmt: skip
    start = time.perf_counter()
    result, _ = generate_traces(problems, cfg, teacher=teacher, progress=False)
    stage_s = time.perf_counter() - start
    stage_tokens = sum(result.kept["completion_tokens"])

    rows = [
        ("per-prompt model.generate loop (baseline)", loop_s, loop_tokens),
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


if __name__ == "__main__":
    main()
