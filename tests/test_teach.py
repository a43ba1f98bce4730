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
from openr1_data.experiments.report import ArmResult, bootstrap, interval
from openr1_data.io import read_dataset
from openr1_data.prompts.styles import R1_INSTRUCTION
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
        "arms": ["base", "reference", "uncurated", "curated", "rlt_best", "step_checked", "format_only", "incorrect",
                 "longest_half"],
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


def test_the_powered_cpu_recipe_holds_out_enough_problems_for_every_control_arm():
    module = load_pipeline("teach")
    path = ROOT / "pipelines" / "recipes" / "teach_cpu_arith.yaml"
    problems, *_, teach = parse_config(module.CONFIGS, ["--config", str(path)])
    assert problems.problems == "arithmetic" and (problems.arithmetic_low, problems.arithmetic_high) == (
        1,
        14,
    )
    assert teach.eval_size >= 128 and 14 * 14 - teach.eval_size >= 50  # a + b in 1..14: 196 problems
    assert {"base", "uncurated", "format_only", "curated", "reference", "incorrect"} <= set(teach.arms)


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
    # The kill may land between the report and the deletion of the trained model: make that case certain, the
    # resumed run must clean it up (it once left 0.5 GB behind).
    leftover = first.parent.parent / "model"
    leftover.mkdir(exist_ok=True)
    (leftover / "model.safetensors").write_bytes(b"0" * 1024)

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
    # Every pair of evaluated arms is compared once, with a verdict and its detectable difference
    pairs = [(c["arm"], c["vs"]) for c in report["comparisons"]]
    assert len(pairs) == len(rows) * (len(rows) - 1) // 2 and len({frozenset(p) for p in pairs}) == len(pairs)
    assert all(0 <= c["mdd"] < 1 for c in report["comparisons"])  # the tiny model is never right: 0 here
    markdown = (out / "report.md").read_text()
    assert markdown.count("| `reference` - `base` |") == 1 and "## Before training" in markdown
    assert "| arm |" in markdown and "within noise" in markdown and "## Versions" in markdown
    # The strategy arms are built and described (the tiny model's traces fail the format filters, so like
    # `curated` they have no conversations here).
    assert all(f"| {arm} |" in markdown for arm in ("format_only", "incorrect", "longest_half"))
    assert (out / "report.png").stat().st_size > 1000

    # A rerun with a different budget would mix old and new runs in one report: refused before any work
    changed = subprocess.run(
        [*command, "--train_steps", "4"], env=env, capture_output=True, text=True, timeout=300
    )
    assert changed.returncode == 2 and "train_steps: 3 -> 4" in changed.stderr
    assert "Traceback" not in changed.stderr


def test_dry_run_states_teacher_arms_and_power_before_any_training(tmp_path, tiny_model_dir, capsys):
    """--dry_run generates and curates, prints the teacher's pass rate, every arm's size and the power statement,
    warns about answers longer than the evaluation's budget, and trains nothing; the arithmetic source and a training
    question style of its own are used."""
    from openr1_data.experiments.power import planned_mdd
    from openr1_data.prompts.styles import R1_SYSTEM

    config = recipe(tmp_path, tiny_model_dir)
    argv = ["--config", str(config), "--dry_run", "--problems", "arithmetic", "--arithmetic_high", "6",
            "--eval_size", "16", "--arms", "base", "reference", "uncurated", "curated", "format_only",
            "--train_prompt_style", "r1_system", "--eval_max_new_tokens", "4"]  # fmt: skip
    assert run_command("pipelines/teach.py", load_pipeline("teach").main, argv) == 0
    out = capsys.readouterr().out
    out_dir = tmp_path / "teach"
    assert not (out_dir / "runs").exists() and not (out_dir / "report.md").exists()  # nothing trained
    assert "Teacher: " in out and "R1 traces correct" in out and "pass@2" in out
    for arm in ("base", "reference", "uncurated", "curated", "format_only"):
        assert f"  {arm}: " in out
    assert (
        "correct R1 traces kept by verify, filter and select (--keep all)" not in out
    )  # the recipe keeps all
    assert "right and wrong R1 traces kept by verify, filter and select (--keep all)" in out
    uncurated = read_dataset(out_dir / "arms" / "uncurated")
    assert len(uncurated) == 6 * 2 and all(
        m[-1]["content"].startswith("<think>\n") for m in uncurated["messages"]
    )
    assert (
        "WARNING: arm `uncurated` trains on answers of up to" in out
    )  # 16-token traces, a 4-token evaluation
    assert "WARNING: arm `reference`" in out
    reference = read_dataset(out_dir / "arms" / "reference")
    assert all(m[0] == {"role": "system", "content": R1_SYSTEM} for m in reference["messages"])
    assert all(m[1]["content"].startswith("What is ") for m in reference["messages"])
    planned = planned_mdd(16, 2, 2, 0.15)
    assert f"two trained arms: the smallest detectable difference is {100 * planned:.1f} points" in out
    assert "Dry run: nothing trained" in out


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


@pytest.mark.parametrize("steps", [1, 3, 10, 99, 100, 400])
def test_every_step_of_the_budget_trains_at_a_nonzero_learning_rate(tmp_path, steps):
    """transformers' warmup starts at lr 0: a short budget gets no warmup, so its first step trains too."""
    import torch
    from transformers import get_scheduler

    from openr1_data.experiments.config import TeachConfig
    from openr1_data.experiments.runner import sft_args

    args = sft_args(TeachConfig(train_steps=steps, student_model="unused"), 0, tmp_path)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=args.learning_rate)
    scheduler = get_scheduler(
        args.lr_scheduler_type,
        optimizer,
        num_warmup_steps=args.get_warmup_steps(steps),
        num_training_steps=steps,
    )
    rates = []
    for _ in range(steps):
        rates.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert rates[1 if steps >= 100 else 0] > 0  # long budgets warm up from their second step
    assert sum(r == 0 for r in rates) == (1 if steps >= 100 else 0)


def test_selection_arms_are_named_curations_of_the_same_traces(tmp_path):
    """Each strategy arm is the curated pool under its own SelectionConfig: the harm control holds only wrong traces,
    format_only right and wrong ones, and the strategies' own reasons are in the arm's funnel."""
    from openr1_data.curate.filters import FilterConfig
    from openr1_data.curate.selection import SelectionConfig
    from openr1_data.curate.verify import VerifyConfig
    from openr1_data.experiments.arms import SELECTION_ARMS, CurationSettings, build_arms
    from tests.test_selection import CORPUS, verified_corpus

    traces = verified_corpus().remove_columns(["correct", "verify_error"])  # the arms verify them
    train = traces.select_columns(["problem", "answer", "problem_id"])  # unused by these arms
    curation = CurationSettings(VerifyConfig(verify_num_proc=0), FilterConfig(), SelectionConfig(per_problem=3),
                                None, None, "teacher")  # fmt: skip
    built = build_arms(["curated", *SELECTION_ARMS], train, traces, "r1", tmp_path, curation)
    arms = {a.arm: a for a in built}
    gold = {pid: CORPUS[pid][3] for pid in CORPUS}

    def answers(arm: str) -> list[bool]:
        data = read_dataset(arms[arm].folder)
        pairs = zip(data["messages"], data["problem_id"], strict=True)
        return [m[-1]["content"].endswith(f"\\boxed{{{gold[p]}}}") for m, p in pairs]

    assert arms["curated"].conversations == 13  # per_problem=3 of the curation's selection: a2 has 4 correct
    assert arms["format_only"].conversations == 28 and sum(answers("format_only")) == 14
    assert arms["incorrect"].conversations == 14 and not any(answers("incorrect"))
    assert all(answers("hard_half")) and arms["hard_half"].problems == 4  # pass rate <= 0.5: a3, g1, g2, n2
    assert all(answers("longest_half")) and arms["longest_half"].conversations == 7  # half of 14 correct
    assert arms["diverse_half"].conversations == 3 and arms["diverse_half"].problems == 3  # 7 problems // 2
    reasons = {arm: {r for stage in arms[arm].funnel for r in stage["rejected"]} for arm in SELECTION_ARMS}
    assert "correct" in reasons["incorrect"] and "not_longest" in reasons["longest_half"]
    assert "not_drawn" in reasons["diverse_half"] and "pass_rate_above_high" in reasons["hard_half"]


def test_a_folder_written_before_a_field_existed_resumes_unless_the_field_leaves_its_default(tmp_path):
    from openr1_data.curate.selection import SelectionConfig
    from openr1_data.experiments.config import TeachConfig
    from openr1_data.experiments.settings import SETTINGS, check_settings

    configs = [SelectionConfig(), TeachConfig()]
    check_settings(tmp_path, configs)
    written = json.loads((tmp_path / SETTINGS).read_text())
    del written["SelectionConfig"]["length_unit"]  # as a folder written before the field was added
    (tmp_path / SETTINGS).write_text(json.dumps(written))
    check_settings(tmp_path, configs)  # the default is what the old runs did: no change
    with pytest.raises(ValueError, match="SelectionConfig.length_unit: 'trace' -> 'problem'"):
        check_settings(tmp_path, [SelectionConfig(length_unit="problem"), TeachConfig()])
    with pytest.raises(ValueError, match="TeachConfig.train_steps: 10 -> 4"):
        check_settings(tmp_path, [SelectionConfig(), TeachConfig(train_steps=4)])
