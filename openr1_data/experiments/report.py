"""The experiment's report: per arm, pass@1 and format compliance with 95% intervals over seeds and problems;
every pair of arms compared once (paired over problems), each comparison *detected* or *within noise* beside the
smallest difference the design could detect (power.py); a plot, and how to reproduce.

Intervals are a two-level percentile bootstrap: each resample draws the held-out problems with replacement (the
same draw for every arm, so differences are paired) and, per arm, its seeds with replacement. A difference whose
interval contains 0 is reported as within noise.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from openr1_data.experiments.config import TeachConfig
from openr1_data.experiments.power import mdd, measured_se
from openr1_data.experiments.runner import TRAINED, run_paths, seeds_of
from openr1_data.experiments.split import HELDOUT
from openr1_data.intervals import percentile_interval
from openr1_data.schema import CORRECT
from openr1_data.secrets import redact_config

METRICS = ("correct", "finished", "closed_think", "boxed")
LABELS = {"correct": "pass@1", "finished": "stopped on EOS", "closed_think": "closed think", "boxed": "boxed"}


@dataclass
class ArmResult:
    """One arm's per-seed, per-item measurements (seeds x items arrays) and its training record."""

    arm: str
    values: dict[str, np.ndarray]  # metric -> [seeds, items] of 0/1 (the mean over k samples when k > 1)
    lengths: list[float]
    trained: list[dict] = field(default_factory=list)
    maj_at_k: list[float] = field(default_factory=list)  # per seed, when k > 1
    pass_at_k: list[float] = field(default_factory=list)  # per seed, when k > 1


def _samples(folder: Path) -> list[dict]:
    path = folder / "samples" / f"{HELDOUT}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_arm(cfg: TeachConfig, arm: str) -> ArmResult | None:
    """The arm's evaluated seeds (None when none was evaluated)."""
    per_seed: list[dict[str, dict[str, float]]] = []
    lengths: list[float] = []
    trained, maj, any_of_k = [], [], []
    for seed in seeds_of(cfg, arm):
        paths = run_paths(cfg, arm, seed)
        if not (paths.eval / "report.json").exists():
            continue
        rows = _samples(paths.eval)
        by_metric: dict[str, dict[str, float]] = {m: {} for m in METRICS}
        for row in rows:
            by_metric["correct"][row["item_id"]] = float(bool(row[CORRECT]))
            by_metric["finished"][row["item_id"]] = float(row["finish_reason"] == "stop")
            by_metric["closed_think"][row["item_id"]] = float(bool(row["closed_think"]))
            by_metric["boxed"][row["item_id"]] = float(bool(row["boxed"]))
            lengths.append(row["completion_tokens"])
        per_seed.append(by_metric)
        if (paths.root / TRAINED).exists():
            trained.append(json.loads((paths.root / TRAINED).read_text()))
        if (paths.sampled_eval / "report.json").exists():
            report = json.loads((paths.sampled_eval / "report.json").read_text())
            maj.append(report["scores"][HELDOUT]["maj_at_k"])
            any_of_k.append(report["scores"][HELDOUT]["pass_at_k"])
    if not per_seed:
        return None
    items = sorted(per_seed[0]["correct"])
    values = {m: np.array([[seed[m][i] for i in items] for seed in per_seed]) for m in METRICS}
    return ArmResult(arm, values, lengths, trained, maj, any_of_k)


def bootstrap(results: list[ArmResult], resamples: int, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Per arm and metric, `resamples` bootstrap means (problems drawn once per resample for all arms)."""
    rng = np.random.default_rng(seed)
    items = results[0].values["correct"].shape[1]
    item_draws = rng.integers(0, items, size=(resamples, items))
    out: dict[str, dict[str, np.ndarray]] = {}
    for result in results:
        seeds = result.values["correct"].shape[0]
        seed_draws = rng.integers(0, seeds, size=(resamples, seeds))
        out[result.arm] = {}
        for metric, matrix in result.values.items():
            # mean over the drawn seeds of the mean over the drawn items
            picked = matrix[seed_draws[:, :, None], item_draws[:, None, :]]
            out[result.arm][metric] = picked.mean(axis=(1, 2))
    return out


def interval(draws: np.ndarray) -> tuple[float, float]:
    """The 95% percentile interval of bootstrap draws."""
    return percentile_interval(draws)


def compare(results: list[ArmResult], draws: dict[str, dict[str, np.ndarray]]) -> list[dict[str, Any]]:
    """Every pair of arms once, in report order (the later arm minus the earlier one): the paired difference of
    pass@1, its 95% interval, the verdict, and the measured minimum detectable difference (power.py)."""
    out = []
    for i, first in enumerate(results):
        for second in results[i + 1 :]:
            low, high = interval(draws[second.arm]["correct"] - draws[first.arm]["correct"])
            a, b = second.values["correct"], first.values["correct"]
            out.append({
                "arm": second.arm,
                "vs": first.arm,
                "difference": float(a.mean() - b.mean()),
                "interval": (low, high),
                "within_noise": low <= 0.0 <= high,
                "mdd": mdd(measured_se(a, b)),
            })  # fmt: skip
    return out


def seed_spread(result: ArmResult) -> float | None:
    """The SD of the arm's pass@1 across its seeds (None with one seed)."""
    per_seed = result.values["correct"].mean(axis=1)
    return float(per_seed.std(ddof=1)) if len(per_seed) > 1 else None


def summarize(cfg: TeachConfig, arms_info: dict[str, dict]) -> dict[str, Any]:
    """Everything the report shows, as data (written to report.json)."""
    results = [r for arm in cfg.arms if (r := load_arm(cfg, arm)) is not None]
    if not results:
        return {"arms": [], "comparisons": [], "note": "no arm has been evaluated yet"}
    draws = bootstrap(results, cfg.bootstrap_resamples)
    rows = []
    for result in results:
        entry: dict[str, Any] = {
            "arm": result.arm,
            "seeds": int(result.values["correct"].shape[0]),
            "items": int(result.values["correct"].shape[1]),
            "training": arms_info.get(result.arm, {}),
            "trained": result.trained,
            "mean_length": float(np.mean(result.lengths)) if result.lengths else 0.0,
            "seed_sd": seed_spread(result),
        }
        for metric in METRICS:
            entry[metric] = float(result.values[metric].mean())
            entry[f"{metric}_interval"] = interval(draws[result.arm][metric])
        if result.maj_at_k:
            entry["maj_at_k"] = float(np.mean(result.maj_at_k))
            entry["pass_at_k"] = float(np.mean(result.pass_at_k))
        rows.append(entry)
    return {"arms": rows, "comparisons": compare(results, draws), "resamples": cfg.bootstrap_resamples}


def _pct(value: float, bounds: tuple[float, float] | None = None) -> str:
    text = f"{100 * value:.1f}"
    return text if bounds is None else f"{text} [{100 * bounds[0]:.1f}, {100 * bounds[1]:.1f}]"


def verdict(comp: dict[str, Any]) -> str:
    return "within noise" if comp["within_noise"] else "detected"


def markdown(summary: dict[str, Any], cfg: TeachConfig) -> str:
    """The arm table, the table of every pairwise comparison (percentages, 95% intervals in brackets), and a plain
    sentence per comparison."""
    rows = summary.get("arms", [])
    if not rows:
        return "No arm has been evaluated yet."
    k = cfg.eval_samples
    head = "| arm | training conversations | tokens trained | seeds | pass@1 (greedy) | seed SD |"
    head += f" maj@{k} | pass@{k} |" if k > 1 else ""
    head += " stopped on EOS | closed think | boxed | mean length |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        tokens = [t["tokens"] for t in r["trained"]]
        cells = [
            r["arm"],
            str(r["training"].get("conversations", "-")) if r["arm"] != "base" else "-",
            f"{int(np.mean(tokens))}" if tokens else "-",
            str(r["seeds"]),
            _pct(r["correct"], r["correct_interval"]),
            _pct(r["seed_sd"]) if r.get("seed_sd") is not None else "-",
        ]
        if k > 1:
            cells += [_pct(r[m]) if m in r else "-" for m in ("maj_at_k", "pass_at_k")]
        cells += [_pct(r[m], r[f"{m}_interval"]) for m in ("finished", "closed_think", "boxed")]
        cells.append(f"{r['mean_length']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    items = rows[0]["items"]
    text = "\n".join(lines)
    text += (
        f"\n\nPercentages over {items} held-out problems; brackets: 95% bootstrap intervals over seeds and "
        f"problems ({summary['resamples']} resamples). Seed SD: the spread of an arm's pass@1 across its seeds.\n"
    )
    comparisons = summary.get("comparisons", [])
    if not comparisons:
        return text
    text += "\n| comparison | difference in pass@1 | verdict | detectable difference (80% power) |\n|---|---|---|---|\n"
    sentences = []
    for comp in comparisons:
        low, high = comp["interval"]
        name = f"`{comp['arm']}` - `{comp['vs']}`"
        text += (
            f"| {name} | {100 * comp['difference']:+.1f} [{100 * low:.1f}, {100 * high:.1f}] | {verdict(comp)} | "
            f"{100 * comp['mdd']:.1f} |\n"
        )
        if comp["within_noise"]:
            sentences.append(f"`{comp['arm']}` vs `{comp['vs']}`: within noise.")
        else:
            better = "better" if comp["difference"] > 0 else "worse"
            sentences.append(
                f"`{comp['arm']}` is {better} than `{comp['vs']}` ({100 * comp['difference']:+.1f} points)."
            )
    text += (
        "\nEvery pair of arms once, paired over problems (the later arm minus the earlier); detected: the 95% "
        "interval excludes 0. Detectable difference: the smallest difference this comparison finds 80% of the time "
        "at the 5% level, from the measured seed and problem spread (openr1_data/experiments/power.py). "
    )
    return text + " ".join(sentences) + "\n"


def versions() -> dict[str, str]:
    """Package versions and the git commit of the checkout, for reproduction."""
    found = {}
    for name in ("openr1-data", "torch", "transformers", "trl", "datasets", "math-verify", "accelerate"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=10)  # fmt: skip
        if commit.returncode == 0:
            found["git commit"] = commit.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return found


def plot(summary: dict[str, Any], path: Path) -> Path | None:
    """pass@1 and boxed share per arm with their intervals, as a PNG (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = summary["arms"]
    names = [r["arm"] for r in rows]
    fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 3.5))
    x = np.arange(len(names))
    for offset, metric in ((-0.2, "correct"), (0.2, "boxed")):
        means = [100 * r[metric] for r in rows]
        low = [100 * (r[metric] - r[f"{metric}_interval"][0]) for r in rows]
        high = [100 * (r[f"{metric}_interval"][1] - r[metric]) for r in rows]
        ax.bar(x + offset, means, 0.4, yerr=[low, high], capsize=3, label=LABELS[metric])
    ax.set_xticks(x, names)
    ax.set_ylabel("% of held-out problems")
    ax.set_ylim(0, 100)
    ax.legend()
    ax.set_title("Students trained on each arm (95% intervals)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def setup_lines(context: dict[str, Any], arms_info: dict[str, dict]) -> list[str]:
    """The setup in a few lines and two small tables: command, models, split, budget, evaluation, funnel, arms."""
    split, budget, ev, gen = (context.get(k, {}) for k in ("split", "budget", "evaluation", "generation"))
    lines = [
        f"- command: `{' '.join(context.get('command', []))}`",
        f"- student `{context.get('student')}`, teacher `{context.get('teacher')}`, problems `{context.get('problems')}`",
        f"- split (seed {split.get('seed')}): {split.get('train')} training problems, {split.get('heldout')} held "
        f"out; {split.get('train_removed_by_decontamination')} training problems removed for sharing a "
        f"{split.get('ngram_size')}-gram with a held-out one (exact and near duplicates removed before the split)",
        f"- budget of every arm: {budget.get('steps')} steps x {budget.get('rows_per_step')} packed row(s) x "
        f"{budget.get('tokens_per_row')} tokens, learning rate {budget.get('learning_rate')}; {budget.get('equalised')}",
        f"- generation (once, for every arm): {gen.get('traces')} traces, styles {gen.get('prompt_styles')}, "
        f"{gen.get('num_generations')} per problem and style, temperature {gen.get('temperature')}, "
        + (
            f"max {gen.get('max_new_tokens')} tokens"
            if gen.get("thinking_budget") is None
            else f"a thinking budget of {gen['thinking_budget']} tokens (the first generation's limit, in place of "
            f"max_new_tokens), then up to {gen.get('forced_answer_tokens')} forced answer tokens"
        ),
        f"- evaluation: greedy pass@1 in the `{ev.get('prompt_style')}` style, max {ev.get('max_new_tokens')} tokens; "
        f"training conversations ask in the `{ev.get('train_question_style')}` style"
        + (
            f"; maj@{ev.get('k')} and pass@{ev.get('k')} at temperature {ev.get('temperature_of_k')}"
            if (ev.get("k") or 1) > 1
            else ""
        ),
        f"- seconds (this invocation): {context.get('seconds')}",
        "",
        "| stage | in | out | rejected |",
        "|---|---:|---:|---|",
    ]
    for stage in context.get("funnel", []):
        reasons = ", ".join(f"{k} {v}" for k, v in stage.get("rejected", {}).items()) or "-"
        lines.append(f"| {stage['stage']} | {stage['rows_in']} | {stage['rows_out']} | {reasons} |")
    lines += ["", "| arm | conversations | problems | built from |", "|---|---:|---:|---|"]
    for arm, info in arms_info.items():
        lines.append(f"| {arm} | {info['conversations']} | {info['problems']} | {info['built_from']} |")
    return lines


def write_report(cfg: TeachConfig, arms_info: dict[str, dict], context: dict[str, Any]) -> tuple[Path, str]:
    """`report.json`, `report.md` and `report.png` in the experiment folder; returns the markdown path and text."""
    folder = Path(cfg.teach_dir)
    context = redact_config(context)  # the command line and configs may carry a key
    summary = summarize(cfg, arms_info)
    summary.update(context, versions=versions())
    table = markdown(summary, cfg)
    picture = plot(summary, folder / "report.png") if summary["arms"] else None
    md = ["# Does curated data teach better?", "", table]
    if context.get("before_training"):
        md += ["", "## Before training", "", "```", *context["before_training"], "```"]
    md += ["", "## Setup", "", *setup_lines(context, arms_info), "", "Every setting is in `report.json`."]
    md += ["", "## Versions", "", *[f"- {k}: {v}" for k, v in summary["versions"].items()]]
    if picture is not None:
        md += ["", f"![pass@1 and boxed per arm]({picture.name})"]
    text = "\n".join(md) + "\n"
    (folder / "report.json").write_text(json.dumps(summary, indent=2, default=str))
    path = folder / "report.md"
    path.write_text(text)
    return path, table
