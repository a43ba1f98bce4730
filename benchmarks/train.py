"""Overhead of our training scripts: train/sft.py and train/grpo.py against bare TRL scripts, same model, data and
arguments (the baseline is what TRL's own `trl/scripts/sft.py` / `grpo.py` do: load, build the trainer, train).

After one untimed warm-up run of each, runs alternate (ours, bare, ours, bare, ...) so a busy machine hurts both
alike; the table shows the medians of the training throughput TRL measures (steps/s and tokens/s over
`train_runtime`) and of the whole script's wall time (data loading and checks included), and the ratio ours / bare
as the median over back-to-back pairs.

    python benchmarks/train.py                      # SmolLM2-135M on CPU, a few minutes
    python benchmarks/train.py --model tiny --repeats 5
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"train_{name}", ROOT / "train" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_data(folder: Path, n: int) -> tuple[str, str]:
    """SFT conversations and GRPO problems from the bundled problem set, written as local dataset folders."""
    from datasets import Dataset

    from openr1_data.io import write_dataset
    from openr1_data.sources.bundled import bundled_problems

    rows = bundled_problems(n)
    sft = [
        {
            "messages": [
                {"role": "user", "content": r["problem"]},
                {
                    "role": "assistant",
                    "content": f"<think>\n{r['solution']}\n</think>\n\n\\boxed{{{r['answer']}}}",
                },
            ]
        }
        for r in rows
    ]
    write_dataset(Dataset.from_list(sft), folder / "sft")
    write_dataset(Dataset.from_list(rows), folder / "grpo")
    return str(folder / "sft"), str(folder / "grpo")


def throughput(trainer) -> tuple[float, float]:
    """(steps/s, tokens/s) over TRL's measured `train_runtime`."""
    logs = trainer.state.log_history
    runtime = next(h["train_runtime"] for h in logs if "train_runtime" in h)
    tokens = max((h["num_tokens"] for h in logs if "num_tokens" in h), default=0)
    return trainer.state.global_step / runtime, tokens / runtime


def common_args(out: str, steps: int) -> list[str]:
    return [
        "--output_dir", out, "--max_steps", str(steps), "--logging_steps", "1", "--report_to", "none",
        "--save_strategy", "no", "--gradient_checkpointing", "false", "--bf16", "false", "--seed", "0",
        "--dataloader_pin_memory", "false", "--disable_tqdm", "true",
    ]  # fmt: skip


def ours_sft(model: str, data: str, out: str, steps: int):
    from trl import ModelConfig

    from openr1_data.config import parse_config
    from openr1_data.train.configs import DataArguments, SFTConfig

    argv = ["--model_name_or_path", model, "--dataset_name", data, "--chat_template", "chatml",
            "--assistant_only_loss", "true", "--per_device_train_batch_size", "4", "--max_length", "512",
            *common_args(out, steps)]  # fmt: skip
    return load_script("sft").main(*parse_config((DataArguments, SFTConfig, ModelConfig), argv))


def bare_sft(model: str, data: str, out: str, steps: int):
    """TRL's sft.py path: load_dataset, SFTTrainer(model path), train, save."""
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from openr1_data.train.chat_template import CHATML_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = CHATML_TEMPLATE  # same template and EOS as ours, so the same tokens are trained
    parser_args = dict(
        output_dir=out, max_steps=steps, logging_steps=1, report_to="none", save_strategy="no",
        gradient_checkpointing=False, bf16=False, seed=0, dataloader_pin_memory=False, disable_tqdm=True,
        per_device_train_batch_size=4, max_length=512, assistant_only_loss=True, eos_token="<|im_end|>",
        model_init_kwargs={"dtype": "float32"},
    )  # fmt: skip
    dataset = load_dataset("parquet", data_dir=data, split="train")
    trainer = SFTTrainer(
        model=model, args=SFTConfig(**parser_args), train_dataset=dataset, processing_class=tokenizer
    )
    trainer.train()
    trainer.save_model(out)
    return trainer


def grpo_argv(model: str, data: str, out: str, steps: int) -> list[str]:
    return ["--model_name_or_path", model, "--dataset_name", data, "--chat_template", "chatml",
            "--reward_funcs", "accuracy", "format", "--per_device_train_batch_size", "4",
            "--num_generations", "4", "--max_completion_length", "32",
            "--generation_kwargs", '{"min_new_tokens": 32}', *common_args(out, steps)]  # fmt: skip


def ours_grpo(model: str, data: str, out: str, steps: int):
    from trl import ModelConfig

    from openr1_data.config import parse_config
    from openr1_data.curate.rlt_scoring import RLTRewardConfig
    from openr1_data.train.configs import GRPOConfig, GRPOScriptArguments

    types = (GRPOScriptArguments, GRPOConfig, ModelConfig, RLTRewardConfig)
    return load_script("grpo").main(*parse_config(types, grpo_argv(model, data, out, steps)))


def bare_grpo(model: str, data: str, out: str, steps: int):
    """TRL's grpo.py path with the same rewards and prompts (r1 style chat prompts built with a plain map)."""
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from openr1_data.prompts import get_style
    from openr1_data.train.chat_template import CHATML_TEMPLATE
    from openr1_data.train.rewards import get_reward_funcs

    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = CHATML_TEMPLATE
    style = get_style("r1")
    dataset = load_dataset("parquet", data_dir=data, split="train")
    dataset = dataset.map(lambda row: {"prompt": style.build(row), "prompt_style": "r1"})
    args = GRPOConfig(
        output_dir=out, max_steps=steps, logging_steps=1, report_to="none", save_strategy="no",
        gradient_checkpointing=False, bf16=False, seed=0, dataloader_pin_memory=False, disable_tqdm=True,
        per_device_train_batch_size=4, num_generations=4, max_completion_length=32,
        generation_kwargs={"min_new_tokens": 32},  # every completion full length: equal work in both runs
        model_init_kwargs={"dtype": "float32"},
    )  # fmt: skip
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=get_reward_funcs(["accuracy", "format"], style="r1"),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    trainer.train()
    trainer.save_model(out)
    return trainer


def measure(fn, model: str, data: str, steps: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        trainer = fn(model, data, out, steps)
        wall = time.perf_counter() - start
    steps_s, tokens_s = throughput(trainer)
    return steps_s, tokens_s, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default="smollm2", help="smollm2 (packaged SmolLM2-135M), tiny, or a model folder"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each script (alternating)")
    parser.add_argument("--sft_steps", type=int, default=20)
    parser.add_argument("--grpo_steps", type=int, default=4)
    parser.add_argument("--rows", type=int, default=64, help="bundled problems in the data")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    import logging

    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("openr1_data").setLevel(logging.ERROR)

    from openr1_data.train.setup import resolve_model_path

    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    if args.model == "tiny":
        from tests.tiny_models import build_tiny_model

        model = str(build_tiny_model(work / "tiny"))
    else:
        model = resolve_model_path(args.model)
    sft_data, grpo_data = make_data(work, args.rows)

    rows = []
    for name, ours, bare, data, steps in (
        ("SFT", ours_sft, bare_sft, sft_data, args.sft_steps),
        ("GRPO", ours_grpo, bare_grpo, grpo_data, args.grpo_steps),
    ):
        results: dict[str, list[tuple[float, float, float]]] = {"ours": [], "bare": []}
        measure(ours, model, data, 1)  # untimed warm-up of both paths (imports, first-call caches)
        measure(bare, model, data, 1)
        for _ in range(args.repeats):
            results["ours"].append(measure(ours, model, data, steps))
            results["bare"].append(measure(bare, model, data, steps))
            print(f"  {name}: ours {results['ours'][-1]}  bare {results['bare'][-1]}", file=sys.stderr)
        med = {k: [statistics.median(v[i] for v in runs) for i in range(3)] for k, runs in results.items()}
        # Each ours/bare pair ran back to back under the same machine load: the median of the paired ratios is
        # far less sensitive to other jobs than the ratio of medians.
        paired = [
            [o[i] / b[i] if b[i] else float("nan") for i in range(3)]
            for o, b in zip(results["ours"], results["bare"], strict=True)
        ]
        ratios = [statistics.median(p[i] for p in paired) for i in range(3)]
        rows.append((name, steps, med["ours"], med["bare"], ratios))

    threads = f"{args.threads} torch thread(s)" if args.threads else "default torch threads"
    print(f"\nmodel: {args.model} ({model}), {threads}, {args.repeats} alternating runs each, medians\n")
    print("| trainer | steps | ours steps/s | bare TRL steps/s | ours tokens/s | bare tokens/s | ratio steps/s "
          "| ratio tokens/s | ours wall s | bare wall s | ratio wall time |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, steps, o, b, r in rows:
        print(
            f"| {name} | {steps} | {o[0]:.3f} | {b[0]:.3f} | {o[1]:.1f} | {b[1]:.1f} | {r[0]:.3f} | {r[1]:.3f} | "
            f"{o[2]:.1f} | {b[2]:.1f} | {r[2]:.3f} |"
        )
    print("\nratios: ours / bare, median over the back-to-back pairs (wall time: lower is better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
