"""Dataset cards that tell the whole story: Hub metadata, provenance, funnel, decontamination, lengths, plots.

The card is a Jinja template (`openr1_data/publish/templates/dataset_card.md.j2`) rendered over a JSON-serialisable context, so the same
context can be saved next to the data and rendered again at push time (with the Hub repo id in the load snippet).
The YAML header is produced by `huggingface_hub.DatasetCardData`, not hand-written in Jinja, so it is always
valid YAML with the keys the Hub understands. Plots are drawn with matplotlib's object API (no pyplot global
state) and saved without timestamps, so publishing the same data twice writes byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from huggingface_hub import DatasetCard, DatasetCardData
from jinja2 import Environment, StrictUndefined

import openr1_data
from openr1_data.funnel import Funnel
from openr1_data.secrets import redact

TEMPLATE_NAME = "dataset_card.md.j2"
SIZE_BOUNDS = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
]

CONTEXT_FILE, README = ".card_context.json", "README.md"  # hidden files are not uploaded


def find_template(name: str = TEMPLATE_NAME) -> Path:
    """The card template shipped inside the package (`openr1_data/publish/templates/`)."""
    packaged = resources.files("openr1_data.publish") / "templates" / name
    if not packaged.is_file():
        raise FileNotFoundError(f"card template {name!r} is missing from the openr1_data.publish package")
    return Path(str(packaged))


def size_category(n: int) -> str:
    """The Hub's `size_categories` bucket for `n` rows."""
    for bound, label in SIZE_BOUNDS:
        if n < bound:
            return label
    return "n>100M"


def token_stats(values: Sequence[int | None]) -> dict[str, float] | None:
    """count / min / mean / median / p90 / max of token counts (None values skipped); None when empty."""
    arr = np.array([v for v in values if v is not None], dtype=float)
    if arr.size == 0:
        return None
    return {
        "count": int(arr.size),
        "min": int(arr.min()),
        "mean": round(float(arr.mean()), 1),
        "median": round(float(np.median(arr)), 1),
        "p90": round(float(np.percentile(arr, 90)), 1),
        "max": int(arr.max()),
        "total": int(arr.sum()),
    }


def funnel_rows(funnel: Funnel | None) -> list[dict[str, Any]]:
    """The funnel as table rows: stage, in, out, rejected, reasons sorted by count."""
    if funnel is None:
        return []
    return [
        {
            "stage": s.stage,
            "rows_in": s.rows_in,
            "rows_out": s.rows_out,
            "rows_rejected": s.rows_rejected,
            "reasons": sorted(s.rejected.items(), key=lambda kv: (-kv[1], kv[0])),
        }
        for s in funnel.stages
    ]


def build_provenance(
    *,
    teacher_model: str,
    teacher_backend: str,
    prompt_style: str,
    prompt_template: str | Mapping[str, str | None] | None = None,
    sampling: Mapping[str, Any] | None = None,
    sources: Sequence[str | Mapping[str, Any]] = (),
    command: str | Sequence[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The provenance dict the card expects; fills in the project version and the current command line.

    `prompt_template` may be the template text or a mapping {"system", "user", "assistant_prefill"}.
    `command` is the command line that made the data, as the script or CLI received it (secrets are redacted).
    """
    if command is None:
        command = "(not recorded)"
    if not isinstance(command, str):
        command = shlex.join(command)
    return {
        "teacher_model": teacher_model,
        "teacher_backend": teacher_backend,
        "prompt_style": prompt_style,
        "prompt_template": prompt_template,
        "sampling": dict(sampling or {}),
        "sources": list(sources),
        "version": openr1_data.__version__,
        "command": redact(command),
        **extra,
    }


def _template_text(template: str | Mapping[str, str | None] | None) -> str | None:
    if template is None or isinstance(template, str):
        return template
    parts = [f"[{role}]\n{text}" for role, text in template.items() if text]
    return "\n\n".join(parts) or None


PROVENANCE_KEYS = (
    "teacher_model",
    "teacher_backend",
    "prompt_style",
    "prompt_template",
    "sampling",
    "sources",
)


def provenance_context(provenance: Mapping[str, Any] | None) -> dict[str, Any]:
    """Normalize a provenance dict for the template: known keys, then any extra keys as a table."""
    p = dict(provenance or {})
    sources = []
    for src in p.get("sources") or []:
        sources.append(src if isinstance(src, Mapping) else {"name": str(src)})
    known = {*PROVENANCE_KEYS, "version", "command"}
    return {
        "recorded": bool(provenance),
        "teacher_model": p.get("teacher_model"),
        "teacher_backend": p.get("teacher_backend"),
        "prompt_style": p.get("prompt_style"),
        "prompt_template": _template_text(p.get("prompt_template")),
        "sampling": sorted((str(k), v) for k, v in (p.get("sampling") or {}).items()),
        "sources": sources,
        "version": p.get("version") or openr1_data.__version__,
        "command": redact(str(p["command"])) if p.get("command") else None,
        "extra": sorted((str(k), v) for k, v in p.items() if k not in known),
    }


def card_metadata(
    *,
    configs: Mapping[str, Mapping[str, str]],
    default_config: str,
    num_rows: int,
    pretty_name: str,
    license: str,  # noqa: A002 - the Hub's key name
    language: Sequence[str],
    tags: Sequence[str],
) -> DatasetCardData:
    """Hub metadata: license, language, task categories, tags, size, and `configs` with their data files.

    `configs` maps config name -> split -> data file pattern (relative to the repo root).
    """
    yaml_configs = []
    for name, splits in configs.items():
        entry: dict[str, Any] = {
            "config_name": name,
            "data_files": [{"split": split, "path": pattern} for split, pattern in splits.items()],
        }
        if name == default_config:
            entry["default"] = True
        yaml_configs.append(entry)
    base_tags = ["reasoning", "synthetic", "openr1-data"]
    return DatasetCardData(
        pretty_name=pretty_name,
        license=license,
        language=list(language),
        task_categories=["text-generation"],
        tags=[*base_tags, *[t for t in tags if t not in base_tags]],
        size_categories=[size_category(num_rows)],
        configs=yaml_configs,
    )


def format_rate(value: Mapping[str, Any] | None) -> str:
    """A rate with its interval (`openr1_data.intervals.rate`) as a card cell: `83% (71-90%) 25/30`."""
    if not value or value.get("rate") is None:
        return "n/a"
    return (
        f"{100 * value['rate']:.0f}% ({100 * value['low']:.0f}-{100 * value['high']:.0f}%) "
        f"{value['count']}/{value['of']}"
    )


def render_card(context: Mapping[str, Any], template: str | Path | None = None) -> str:
    """Render the card from a context built by `openr1_data.publish.local` (YAML header + Markdown body)."""
    path = Path(template) if template is not None else find_template()
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.filters["num"] = lambda v: f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v
    env.filters["cell"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ")  # one Markdown table cell
    env.filters["rate"] = format_rate
    text = env.from_string(path.read_text()).render(**context)
    # Parse check: DatasetCard raises on invalid YAML, and an absent header parses as empty metadata.
    if not text.startswith("---") or not DatasetCard(text).data.to_dict():
        raise ValueError(f"card template {path} rendered without a YAML metadata header")
    return redact(text)


# ---- plots -----------------------------------------------------------------------------------------------------


def _figure(width: float, height: float):  # -> matplotlib.figure.Figure (imported lazily: slow import)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # No "Software"/date metadata: identical inputs give identical bytes (an idempotent re-push uploads nothing).
    fig.savefig(path, format="png", metadata={"Software": None})
    return path


def plot_funnel(funnel: Funnel, path: str | Path, max_reasons: int = 8) -> Path:
    """Horizontal bars per stage: rows kept, and rejected rows stacked by reason (the top `max_reasons`)."""
    rows = funnel_rows(funnel)
    totals: dict[str, int] = {}
    for r in rows:
        for reason, n in r["reasons"]:
            totals[reason] = totals.get(reason, 0) + n
    top = [r for r, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:max_reasons]]
    from matplotlib.ticker import MaxNLocator

    fig = _figure(8, 1.4 + 0.55 * max(1, len(rows)))
    ax = fig.add_subplot(1, 1, 1)
    labels = [r["stage"] for r in rows][::-1]
    ordered = rows[::-1]
    y = np.arange(len(ordered))
    kept = [r["rows_out"] for r in ordered]
    ax.barh(y, kept, color="#2e7d32", label="kept")
    left = np.array(kept, dtype=float)
    colors = [
        "#c62828",
        "#ef6c00",
        "#f9a825",
        "#6a1b9a",
        "#1565c0",
        "#00838f",
        "#4e342e",
        "#546e7a",
        "#9e9e9e",
    ]
    for i, reason in enumerate([*top, "other"]):
        widths = []
        for r in ordered:
            counts = dict(r["reasons"])
            widths.append(
                sum(n for k, n in counts.items() if k not in top)
                if reason == "other"
                else counts.get(reason, 0)
            )
        if any(widths):
            ax.barh(y, widths, left=left, color=colors[i % len(colors)], label=f"rejected: {reason}")
            left += np.array(widths, dtype=float)
    for yi, r in enumerate(ordered):  # yi: the bar's y position (y is 0..n-1)
        ax.text(left[yi], yi, f"  {r['rows_out']:,}/{r['rows_in']:,}", va="center", fontsize=8)
    ax.set_yticks(y, labels)
    ax.set_xlabel("rows")
    ax.set_title("Pipeline funnel: rows kept and rejected (by reason) at every stage")
    ax.set_xlim(0, max([*left, 1]) * 1.25)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return _save(fig, Path(path))


def plot_lengths(kept_tokens: Sequence[int], all_tokens: Sequence[int] | None, path: str | Path) -> Path:
    """Histogram of completion lengths (tokens): kept traces, and all generated traces when given."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure(8, 3.6)
    ax = fig.add_subplot(1, 1, 1)
    values = [v for v in (all_tokens or kept_tokens) if v is not None] or [0]
    edges = np.histogram_bin_edges(np.array(values, dtype=float), bins=min(40, max(5, len(set(values)))))
    bins = edges.tolist()  # the same edges as floats (matplotlib's stub takes a sequence, not an array)
    if all_tokens:
        ax.hist([v for v in all_tokens if v is not None], bins=bins, color="#9e9e9e", label="all traces")
    ax.hist(
        [v for v in kept_tokens if v is not None], bins=bins, color="#2e7d32", alpha=0.85, label="kept traces"
    )
    ax.set_xlabel("completion length (tokens)")
    ax.set_ylabel("traces")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Length distribution of the traces")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, Path(path))


def rerender_card(folder: str | Path, repo_id: str) -> str | None:
    """The card of a published folder re-rendered for `repo_id` (load snippet), or None to keep README.md as is.

    None when the folder has no saved context or README.md was edited after publishing (the user's edits win).
    """
    folder = Path(folder)
    try:
        saved = json.loads((folder / CONTEXT_FILE).read_text())
        readme = (folder / README).read_bytes()
    except (OSError, ValueError):
        return None
    if hashlib.sha256(readme).hexdigest() != saved.get("readme_sha256"):
        return None
    context = dict(saved["context"], load_target=repo_id)
    return render_card(context, saved.get("template"))


PASS_RATE_BUCKETS = ("0", "(0, 0.25)", "[0.25, 0.5)", "[0.5, 0.75)", "[0.75, 1)", "1")


def pass_rate_histogram(
    kept: Sequence[float | None], rejected: Sequence[float | None]
) -> list[dict[str, Any]]:
    """Problems per pass-rate bucket, kept and rejected (0 and 1 apart: they carry no GRPO signal)."""

    def bucket(rate: float) -> str:
        if rate <= 0:
            return PASS_RATE_BUCKETS[0]
        if rate >= 1:
            return PASS_RATE_BUCKETS[-1]
        return PASS_RATE_BUCKETS[1 + min(3, int(rate * 4))]

    rows = {name: {"bucket": name, "kept": 0, "rejected": 0} for name in PASS_RATE_BUCKETS}
    for key, rates in (("kept", kept), ("rejected", rejected)):
        for rate in rates:
            if rate is not None:
                rows[bucket(rate)][key] += 1
    return list(rows.values())
