"""Speed of the teach experiment's two inner loops against bare library code: SFT training and held-out evaluation.

SFT: the student trained the way `openr1_data.experiments.runner.train_run` trains it (TRL `SFTTrainer` through
`openr1_data.train.sft.train_sft`: best-fit packing, padding-free, 1 packed row of 384 tokens per step,
assistant-only loss, ChatML template) against TRL's `SFTTrainer` run the way `trl/scripts/sft.py` runs it with
its defaults (no packing, 4 conversations per step, max_length 1024, each batch padded to its longest row). Same
model, same conversations (the experiment's `reference` arm built from the bundled problems and filled to the
step budget by `runner.fill_budget`), same learning rate, same number of optimizer steps. The two see different
numbers of tokens per step, so the fair measure is real (non-padding) tokens per second: TRL's logged
`num_tokens` (attention-mask ones for the padded batches, packed positions for the padding-free rows; neither
counts padding). Wall time includes loading the model and saving it.

Evaluation: `openr1_data.train.evaluation.evaluate` with the `EvalConfig` that `runner.eval_config` builds
(greedy pass@1 on a `heldout=file.jsonl` benchmark, our transformers backend, a fresh output folder per run so
nothing is resumed) against bare transformers: the same rendered prompts (the r1 style, the tokenizer's chat
template with the generation prompt), `model.generate` on each left-padded batch of `--batch_size` prompts,
greedy, the same `max_new_tokens` and end-of-sequence ids. The bare baseline does NOT judge the answers; ours
includes math-verify judging and writing the reports (cheap next to decoding). Problems/s and generated tokens/s
(up to and including the EOS token) exclude loading the model; the wall time includes it.

After one untimed warm-up of each, runs alternate (ours, bare, ours, bare, ...) so a busy machine hurts both
alike; the table shows medians, and each ratio ours / bare is the median over back-to-back pairs. Both methods run
with `--threads` torch threads.

    python benchmarks/teach_speed.py                                    # SmolLM2-135M-Instruct on CPU, minutes
    python benchmarks/teach_speed.py --model path/to/model --steps 20 --problems 64 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def load_train_benchmark():
    """benchmarks/train.py, for its `measure` (one timed training run) and `throughput` helpers."""
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "benchmarks" / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- data ----------------------------------------------------------------------------------------------------------


def make_data(work: Path, problems: int, steps: int, model: str, args: argparse.Namespace):
    """The teach config, the `reference` arm's conversations filled to the step budget, and the held-out files
    (the timed one, and two problems for the warm-up); held-out problems are not among the training ones."""
    from datasets import Dataset

    from openr1_data.experiments.arms import build_reference
    from openr1_data.experiments.config import TeachConfig
    from openr1_data.experiments.runner import fill_budget
    from openr1_data.experiments.split import write_heldout
    from openr1_data.sources.bundled import bundled_problems
    from openr1_data.sources.problems import normalize_problems

    cfg = TeachConfig(
        teach_dir=str(work), student_model=model, train_steps=steps, eval_max_new_tokens=args.max_new_tokens,
        eval_batch_size=args.batch_size, train_device="cpu",
    )  # fmt: skip
    rows = normalize_problems(Dataset.from_list(bundled_problems(problems + max(64, 8 * steps)))).kept
    heldout, train = rows.select(range(problems)), rows.select(range(problems, len(rows)))
    arm = build_reference(train, cfg.eval_prompt_style, work / "arms")
    data = fill_budget(arm, cfg, 0, work / "train_data")
    heldout_file = write_heldout(heldout, work / "heldout.jsonl")
    warm_file = write_heldout(heldout.select(range(min(2, problems))), work / "heldout_warm.jsonl")
    return cfg, str(data), heldout_file, warm_file


# -- SFT -----------------------------------------------------------------------------------------------------------


def ours_sft(model: str, data: str, out: str, steps: int, *, cfg, threads: int):
    """`runner.train_run`'s trainer settings (`runner.sft_args`), with the benchmark's thread count."""
    from trl import ModelConfig

    from openr1_data.experiments.runner import sft_args
    from openr1_data.train.configs import DataArguments
    from openr1_data.train.sft import train_sft

    training_args = sft_args(replace(cfg, train_steps=steps), 0, Path(out))
    training_args.num_threads = threads
    model_args = ModelConfig(model_name_or_path=model, dtype=cfg.train_dtype)
    return train_sft(DataArguments(dataset_name=data), training_args, model_args)


def bare_sft(model: str, data: str, out: str, steps: int, *, cfg):
    """TRL's sft.py path with its defaults (no packing, batches padded to their longest row, loss on every token),
    the same template (so the same tokens are trained), learning rate, dtype and steps."""
    from datasets import load_dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from openr1_data.train.chat_template import CHATML_TEMPLATE

    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.chat_template = CHATML_TEMPLATE
    args = SFTConfig(
        output_dir=out, max_steps=steps, per_device_train_batch_size=4, max_length=1024,
        learning_rate=cfg.learning_rate, eos_token="<|im_end|>", seed=0, logging_steps=1, save_strategy="no",
        report_to="none", bf16=False, use_cpu=True, disable_tqdm=True,
        model_init_kwargs={"dtype": cfg.train_dtype},
    )  # fmt: skip
    dataset = load_dataset("parquet", data_dir=data, split="train")
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    trainer.save_model(out)
    return trainer


# -- evaluation ----------------------------------------------------------------------------------------------------


def ours_eval(model: str, heldout: Path, cfg, threads: int) -> tuple[float, float, int, int]:
    """(load s, generate + judge + report s, problems, generated tokens) of `evaluate` with runner's config."""
    from openr1_data.experiments.runner import eval_config
    from openr1_data.generate.stage import build_teacher
    from openr1_data.train.evaluation import evaluate

    with tempfile.TemporaryDirectory() as out:
        ecfg = eval_config(cfg, model, Path(out), heldout, sampled=False, seed=0)
        start = time.perf_counter()
        # evaluate() builds this very teacher itself; built here only to give it the benchmark's thread count
        teacher = build_teacher(replace(ecfg.generation_config(ecfg.benchmarks[0]), num_threads=threads))
        loaded = time.perf_counter()
        try:
            (score,) = evaluate(ecfg, teacher=teacher)
        finally:
            teacher.close()
        done = time.perf_counter()
    return loaded - start, done - loaded, score.items, round(score.mean_length * score.items)


def bare_eval(
    model: str, heldout: Path, max_new_tokens: int, batch_size: int
) -> tuple[float, float, int, int]:
    """(load s, generate s, problems, generated tokens): `model.generate` on left-padded batches, no judging."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from openr1_data.prompts import get_style

    rows = [json.loads(line) for line in heldout.read_text().splitlines() if line.strip()]
    style = get_style("r1")
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(model)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32).eval()
    eos = lm.generation_config.eos_token_id
    eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in eos_ids:
        eos_ids.append(tokenizer.eos_token_id)  # stop where our backend stops: the same work
    loaded = time.perf_counter()
    tokens = 0
    for i in range(0, len(rows), batch_size):
        texts = [
            tokenizer.apply_chat_template(style.build(r), tokenize=False, add_generation_prompt=True)
            for r in rows[i : i + batch_size]
        ]
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            # pyright: ignore below: transformers' generate mixin type does not bind to its own model classes
            out = lm.generate(  # pyright: ignore[reportAttributeAccessIssue]
                **enc, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=eos_ids,
                pad_token_id=tokenizer.pad_token_id,
            )  # fmt: skip
        for new in out[:, enc["input_ids"].shape[1] :].tolist():
            ends = [k for k, t in enumerate(new) if t in eos_ids]
            tokens += ends[0] + 1 if ends else len(new)
    return loaded - start, time.perf_counter() - loaded, len(rows), tokens


def eval_measures(result: tuple[float, float, int, int]) -> tuple[float, float, float]:
    """(problems/s, generated tokens/s, wall s with loading) of one evaluation run."""
    load, run, problems, tokens = result
    return problems / run, tokens / run, load + run


# -- main ----------------------------------------------------------------------------------------------------------


def alternate(ours, bare, repeats: int, label: str) -> tuple[list[float], list[float], list[float]]:
    """Medians of ours and bare over alternating runs, and the medians of the back-to-back ratios ours / bare."""
    runs: dict[str, list[tuple[float, ...]]] = {"ours": [], "bare": []}
    for _ in range(repeats):
        runs["ours"].append(ours())
        runs["bare"].append(bare())
        print(f"  {label}: ours {runs['ours'][-1]}  bare {runs['bare'][-1]}", file=sys.stderr)
    n = len(runs["ours"][0])
    med = {k: [statistics.median(r[i] for r in v) for i in range(n)] for k, v in runs.items()}
    # Each pair ran back to back under the same machine load: the median of the paired ratios is far less
    # sensitive to other jobs than the ratio of medians.
    paired = [
        [o[i] / b[i] if b[i] else float("nan") for i in range(n)] for o, b in zip(*runs.values(), strict=True)
    ]
    return med["ours"], med["bare"], [statistics.median(p[i] for p in paired) for i in range(n)]


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--model", default="smollm2", help="smollm2 (packaged SmolLM2-135M-Instruct) or a folder"
    )
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps of each training run")
    parser.add_argument("--problems", type=int, default=32, help="held-out problems evaluated per run")
    parser.add_argument("--max_new_tokens", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32, help="sequences per evaluation forward batch")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each method (alternating)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of both methods")
    args = parser.parse_args()
    for name in ("steps", "problems", "max_new_tokens", "batch_size", "repeats", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")

    import logging

    import datasets
    import torch
    import transformers

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("openr1_data").setLevel(logging.ERROR)

    from openr1_data.train.setup import resolve_model_path

    bench = load_train_benchmark()
    model = resolve_model_path(args.model)
    work = Path(tempfile.mkdtemp(prefix="bench-teach-"))
    cfg, data, heldout, warm = make_data(work, args.problems, args.steps, model, args)

    ours_train = partial(ours_sft, cfg=cfg, threads=args.threads)
    bare_train = partial(bare_sft, cfg=cfg)

    def sft(fn, steps: int) -> tuple[float, float, float]:
        return bench.measure(fn, model, data, steps)  # (steps/s, real tokens/s, wall s)

    def ours_ev(file: Path) -> tuple[float, float, float]:
        return eval_measures(ours_eval(model, file, cfg, args.threads))

    def bare_ev(file: Path) -> tuple[float, float, float]:
        return eval_measures(bare_eval(model, file, args.max_new_tokens, args.batch_size))

    for warm_up in (partial(sft, ours_train, 1), partial(sft, bare_train, 1), partial(ours_ev, warm),
                    partial(bare_ev, warm)):  # fmt: skip
        warm_up()  # untimed: imports and first-call caches
    train = alternate(
        partial(sft, ours_train, args.steps), partial(sft, bare_train, args.steps), args.repeats, "SFT"
    )
    evals = alternate(partial(ours_ev, heldout), partial(bare_ev, heldout), args.repeats, "eval")

    print(f"\nmodel: {args.model} ({model}), {args.threads} torch thread(s), {args.repeats} alternating runs each, "
          f"medians; SFT {args.steps} steps; evaluation {args.problems} problems, greedy, max_new_tokens "
          f"{args.max_new_tokens}, batch {args.batch_size}\n")  # fmt: skip
    print("| measure | ours (teach setup) | bare TRL / transformers | ratio ours / bare |")
    print("|---|---:|---:|---:|")
    names = [
        ("SFT steps/s", "SFT real tokens/s", "SFT wall s"),
        ("eval problems/s", "eval generated tokens/s", "eval wall s (with model load)"),
    ]
    for labels, (ours, bare, ratio) in zip(names, (train, evals), strict=True):
        for i, label in enumerate(labels):
            print(f"| {label} | {ours[i]:.3f} | {bare[i]:.3f} | {ratio[i]:.3f} |")
    print(
        "\nSFT: ours packs 1 row of 384 tokens per step, bare TRL pads 4 conversations per step: real tokens/s is "
        "the fair comparison. Eval: ours includes math-verify judging and reports, bare only generates. Ratios: "
        "median over back-to-back pairs (wall time: lower is better)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
