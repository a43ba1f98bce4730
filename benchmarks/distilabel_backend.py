"""The distilabel adapter vs the native transformers backend on the same prompts (greedy, so same work).

    python benchmarks/distilabel_backend.py                      # packaged SmolLM2-135M-Instruct, 8 prompts, 32 tokens
    python benchmarks/distilabel_backend.py --prompts 16 --max_new_tokens 64 --model path/to/model

Rows: the native backend (model load, then one batched call), the distilabel adapter (one call: child interpreter,
distilabel workers, model load, TransformersLLM generation one prompt at a time), and the adapter's fixed cost
(one prompt, one token). Also reports how many greedy texts are identical between the two.
"""

from __future__ import annotations

import argparse
import os
import time

from openr1_data.prompts import get_style
from openr1_data.sources.bundled import bundled_problems
from openr1_data.teachers import SamplingParams, make_teacher
from openr1_data.teachers.distilabel_backend import DistilabelTeacher


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max_new_tokens", type=int, default=32)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("DISTILABEL_LOG_LEVEL", "WARNING")

    style = get_style("r1")
    prompts = [style.build(row) for row in bundled_problems(args.prompts)]
    greedy = SamplingParams(temperature=0.0, max_new_tokens=args.max_new_tokens)
    rows = []

    start = time.perf_counter()
    native = make_teacher("transformers", args.model, batch_size=16)
    loaded = time.perf_counter()
    native_out = native.generate(prompts, greedy)
    done = time.perf_counter()
    native_tokens = sum(c[0].completion_tokens for c in native_out)
    rows.append(("native transformers (load + call)", done - start, native_tokens))
    rows.append(("native transformers (call only)", done - loaded, native_tokens))

    with DistilabelTeacher(args.model) as teacher:
        start = time.perf_counter()
        adapted = teacher.generate(prompts, greedy)
        rows.append(("distilabel TransformersLLM (one call)", time.perf_counter() - start, None))
        adapted_tokens = sum(c[0].completion_tokens for c in adapted)
        rows[-1] = (rows[-1][0], rows[-1][1], adapted_tokens)
        start = time.perf_counter()
        teacher.generate(prompts[:1], SamplingParams(temperature=0.0, max_new_tokens=1))
        rows.append(("distilabel fixed cost (1 prompt, 1 token)", time.perf_counter() - start, 1))

    same = sum(a[0].text.strip() == b[0].text.strip() for a, b in zip(native_out, adapted, strict=True))
    base = rows[0][1]
    print(
        f"\n{args.prompts} prompts x {args.max_new_tokens} tokens, greedy, model {args.model}, load {os.getloadavg()}"
    )
    print(f"{'method':<44}{'seconds':>9}{'tokens':>8}{'tok/s':>8}{'vs native':>11}")
    for name, seconds, tokens in rows:
        print(f"{name:<44}{seconds:>9.1f}{tokens:>8}{tokens / seconds:>8.1f}{seconds / base:>10.2f}x")
    print(f"identical greedy texts: {same}/{len(prompts)}")


if __name__ == "__main__":
    main()
