"""Benchmark: measured recall of decontamination, n-gram alone and n-gram + semantic, per kind of variant.

    python benchmarks/decontam_recall.py                  # every offline AIME / MATH-500 item (about 2 minutes)
    python benchmarks/decontam_recall.py --items 20       # quicker
    python benchmarks/decontam_recall.py --json out.json  # also write the numbers

The benchmarks are the offline copies (AIME 2024, AIME 2025, the 311-problem MATH-500 subset). Each is split in
two halves by item (seeded): the index holds one half, and the other half's items are the clean negatives (real
competition problems of the same style that are not in the index: the hard case for a semantic method), with
the bundled grade-school problems. Variants of the indexed items are planted by `openr1_data.dedup.recall`'s
rules (`make_variant`), the decontamination runs as `openr1-data decontaminate` would, and each method's recall
and false-positive rate are printed with 95% Wilson intervals. `--sweep` prints recall and false positives of
the semantic pass at several thresholds (from one run that records every probe's nearest similarity).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets import Dataset, concatenate_datasets  # noqa: E402

from openr1_data.dedup.decontaminate import DecontaminationConfig, decontaminate  # noqa: E402
from openr1_data.dedup.recall import CLEAN, PROBE_KIND, format_recall, probe_set, score_probes  # noqa: E402
from openr1_data.intervals import rate  # noqa: E402
from openr1_data.sources.bundled import bundled_problems  # noqa: E402
from openr1_data.sources.eval_benchmarks import load_benchmark  # noqa: E402

BENCHMARKS = ("aime_2024", "aime_2025", "math_500")


def split_halves(bench: Dataset, seed: int) -> tuple[Dataset, Dataset]:
    """(indexed half, held-out half) of a benchmark, by a seeded shuffle of its items."""
    order = list(range(len(bench)))
    random.Random(f"{seed}|{bench[0]['benchmark']}").shuffle(order)
    half = len(order) // 2
    return bench.select(sorted(order[half:])), bench.select(sorted(order[:half]))


def run(probes: Dataset, config: DecontaminationConfig, indexed: list[Dataset]) -> tuple[list, list, float]:
    """Each probe's `contamination_method` and semantic similarity after one decontamination, and the seconds."""
    started = time.perf_counter()
    data = Dataset.from_dict({"problem": probes["text"], "probe_row": list(range(len(probes)))})
    result = decontaminate(data, config, indexed)
    methods: list = [None] * len(probes)
    sims: list = [None] * len(probes)
    for row in result.rejected.select_columns(
        ["probe_row", "contamination_method", "contamination_similarity"]
    ):
        methods[row["probe_row"]] = row["contamination_method"]
        sims[row["probe_row"]] = row["contamination_similarity"]
    return methods, sims, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--items", type=int, default=1000, help="indexed items planted per benchmark (max: all)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threshold", type=float, default=DecontaminationConfig.semantic_threshold)
    parser.add_argument("--embedding_model", default=DecontaminationConfig.embedding_model)
    parser.add_argument("--sweep", action="store_true", help="semantic recall/false positives per threshold")
    parser.add_argument("--json", type=Path, help="write the reports here")
    args = parser.parse_args()

    halves = [split_halves(load_benchmark(name), args.seed) for name in BENCHMARKS]
    indexed = [a for a, _ in halves]
    held_out = concatenate_datasets([b for _, b in halves])
    negatives = list(held_out["problem"]) + [r["problem"] for r in bundled_problems(100)]
    probes = probe_set(indexed, negatives, args.items, args.seed)
    print(
        f"{len(probes) - len(negatives)} planted variants of {sum(len(a) for a in indexed)} indexed items, "
        f"{len(negatives)} clean rows ({len(held_out)} held-out benchmark items + 100 grade-school problems)"
    )
    base = DecontaminationConfig(benchmarks=list(BENCHMARKS), embedding_model=args.embedding_model)
    reports = {}
    ngram_methods, _, seconds = run(probes, base, indexed)
    reports["ngram"] = score_probes(probes, ngram_methods, ["ngram"]).to_dict()
    print(f"\n## n-gram (8-grams) alone ({seconds:.1f}s)\n{format_recall(reports['ngram'])}")
    semantic = dataclasses.replace(base, semantic=True, semantic_threshold=args.threshold)
    both_methods, _, seconds = run(probes, semantic, indexed)
    reports["ngram+semantic"] = score_probes(probes, both_methods, ["ngram", "semantic"]).to_dict()
    print(
        f"\n## n-gram + semantic ({args.embedding_model}, cosine >= {args.threshold}; {seconds:.1f}s)\n"
        f"{format_recall(reports['ngram+semantic'])}"
    )
    if args.sweep:
        # Threshold -1: every probe gets its nearest item's similarity, so one run gives every threshold.
        _, sims, _ = run(probes, dataclasses.replace(semantic, semantic_threshold=-1.0), indexed)
        kinds = probes[PROBE_KIND]
        planted = [s for s, k in zip(sims, kinds, strict=True) if k != CLEAN]
        clean = [s for s, k in zip(sims, kinds, strict=True) if k == CLEAN]
        print("\n## semantic pass alone, by threshold\nthreshold   recall            false positives")
        sweep = []
        for t in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
            r = rate(sum(s is not None and s >= t for s in planted), len(planted))
            f = rate(sum(s is not None and s >= t for s in clean), len(clean))
            sweep.append({"threshold": t, "recall": r, "false_positive": f})
            print(
                f"{t:<10}  {100 * r['rate']:5.1f}% [{100 * r['low']:.1f}, {100 * r['high']:.1f}]"
                f"   {100 * f['rate']:5.1f}% [{100 * f['low']:.1f}, {100 * f['high']:.1f}]"
            )
        reports["sweep"] = sweep
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1) + "\n")


if __name__ == "__main__":
    main()
