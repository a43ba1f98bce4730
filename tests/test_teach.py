"""The teach experiment (pipelines/teach.py) end to end on a tiny real model: the split is decontaminated across,
every arm is built from one generation run and trained for the same budget, every student is evaluated on the
held-out problems, the report carries intervals, and a SIGKILL mid-training resumes without redoing finished runs.
The report's bootstrap is checked on known data."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from openr1_data.cli import run_command
from openr1_data.config import parse_config
from openr1_data.io import read_dataset
from openr1_data.prompts.styles import R1_INSTRUCTION
from openr1_data.teach.report import ArmResult, bootstrap, interval
from tests.scripts import ROOT, load_pipeline

pytestmark = pytest.mark.slow


def ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = "".join(c.lower() if c.isalnum() else " " for c in text).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def recipe(tmp_path: Path, model: str) -> Path:
    settings = {
        "problems": "bundled", "bundled_size": 40, "teach_dir": str(tmp_path / "teach"), "eval_size": 8,
        "train_size": 6, "seeds": 2, "student_model": model, "train_steps": 3, "train_max_length": 96,
        "eval_max_new_tokens": 12, "eval_batch_size": 8, "teacher_backend": "transformers", "teacher_model": model,
        "prompt_styles": ["r1_think", "rlt"], "num_generations": 2, "max_new_tokens": 16, "thinking_budget": 8,
        "force_unclosed_on_stop": True, "forced_answer_tokens": 4, "output_dir": str(tmp_path / "teach" / "gen"),
        "keep": "all", "verify_num_proc": 0, "rlt_student_model": model, "num_threads": 1,
    }  # fmt: skip
    path = tmp_path / "teach.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def test_recipes_parse_and_field_names_are_unique():
    module = load_pipeline("teach")
    names = [f.name for cls in module.CONFIGS for f in dataclasses.fields(cls)]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    for name in ("teach_cpu", "teach_gpu"):
        configs = parse_config(
            module.CONFIGS, ["--config", str(ROOT / "pipelines" / "recipes" / f"{name}.yaml")]
        )
        teach = configs[-1]
        assert teach.seeds >= 3 and set(teach.arms) >= {
            "base",
            "reference",
            "uncurated",
            "curated",
            "rlt_best",
        }


def test_unknown_arm_is_a_user_error(tmp_path, capsys):
    argv = ["--teach_dir", str(tmp_path), "--arms", "base", "best_guess"]
    code = run_command("pipelines/teach.py", load_pipeline("teach").main, argv)
    assert code == 2
    assert "best_guess" in capsys.readouterr().err


def test_teach_end_to_end_resumes_after_a_kill(tmp_path, tiny_model_dir):
    config = recipe(tmp_path, tiny_model_dir)
    out = tmp_path / "teach"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, str(ROOT / "pipelines" / "teach.py"), "--config", str(config)]

    # Kill the run while the second training run of `reference` is under way (the first one is complete).
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)  # fmt: skip
    first = out / "runs" / "reference" / "seed-0" / "eval" / "report.json"
    deadline = time.time() + 240
    while time.time() < deadline and not first.exists() and proc.poll() is None:
        time.sleep(0.05)
    assert first.exists(), "the first training run must finish before the kill for this test to mean anything"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = first.stat().st_mtime_ns

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "reference seed 0: complete, skipped" in done.stdout
    assert first.stat().st_mtime_ns == finished_before  # not redone

    # The split: disjoint, and no training problem shares an 8-gram with a held-out one
    heldout = [json.loads(x) for x in (out / "split" / "heldout.jsonl").read_text().splitlines()]
    assert len(heldout) == 8
    reference = read_dataset(out / "arms" / "reference")
    train_problems = [m[0]["content"].removesuffix("\n" + R1_INSTRUCTION) for m in reference["messages"]]
    assert len(train_problems) == 6 and not set(train_problems) & {h["problem"] for h in heldout}
    held_grams = set().union(*(ngrams(h["problem"], 8) for h in heldout))
    assert not any(ngrams(p, 8) & held_grams for p in train_problems)

    # Arms: the question is the evaluation's; the uncurated arm is every R1 trace with the prefill the teacher had
    assert all(m[0] == {"role": "user", "content": m[0]["content"]} and m[0]["content"].endswith(R1_INSTRUCTION)
               for m in reference["messages"])  # fmt: skip
    uncurated = read_dataset(out / "arms" / "uncurated")
    assert len(uncurated) == 6 * 2 and all(
        m[-1]["content"].startswith("<think>") for m in uncurated["messages"]
    )

    # Every trained run had the same budget: the same steps, and tokens up to the packing fill
    report = json.loads((out / "report.json").read_text())
    rows = {r["arm"]: r for r in report["arms"]}
    assert {"base", "reference", "uncurated"} <= set(rows)
    for arm, row in rows.items():
        assert row["items"] == 8
        assert row["seeds"] == (1 if arm == "base" else 2)
        for run in row["trained"]:
            assert run["steps"] == 3 and 0.5 * 3 * 96 <= run["tokens"] <= 3 * 96
        for metric in ("correct", "finished", "closed_think", "boxed"):
            low, high = row[f"{metric}_interval"]
            assert 0.0 <= low <= row[metric] <= high <= 1.0
    assert not list(
        (out / "runs").glob("*/seed-*/model")
    )  # students are dropped once measured (--keep_models)
    markdown = (out / "report.md").read_text()
    assert "| arm |" in markdown and "within noise" in markdown and "## Versions" in markdown
    assert (out / "report.png").stat().st_size > 1000

    # A rerun with a different budget would mix old and new runs in one report: refused before any work
    changed = subprocess.run(
        [*command, "--train_steps", "4"], env=env, capture_output=True, text=True, timeout=300
    )
    assert changed.returncode == 2 and "train_steps: 3 -> 4" in changed.stderr
    assert "Traceback" not in changed.stderr


def test_bootstrap_separates_real_differences_from_noise():
    rng = np.random.default_rng(0)
    items = 40

    def arm(name: str, p: float, seeds: int = 3) -> ArmResult:
        values = (rng.random((seeds, items)) < p).astype(float)
        return ArmResult(name, {m: values for m in ("correct", "finished", "closed_think", "boxed")}, [1.0])

    results = [arm("base", 0.1, 1), arm("same", 0.1), arm("better", 0.9)]
    draws = bootstrap(results, 2000)
    low, high = interval(draws["better"]["correct"] - draws["base"]["correct"])
    assert low > 0.5  # 0.9 against 0.1 on 40 problems is no accident
    low, high = interval(draws["same"]["correct"] - draws["base"]["correct"])
    assert low < 0 < high  # the same rate is within noise
    low, high = interval(draws["better"]["correct"])
    assert low < results[2].values["correct"].mean() < high and high - low < 0.25
