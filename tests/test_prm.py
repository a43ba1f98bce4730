"""The `prm` config (TRL stepwise supervision) written by publishing, train/prm.py on a tiny model (the loss goes
down, step metrics on a held-out split), and the trained PRM used for best-of-N selection and as a GRPO reward."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from datasets import Dataset, load_dataset
from trl import ModelConfig

from openr1_data.config import parse_config
from openr1_data.curate.prm_scoring import (
    PRM_SCORE,
    PRMScorer,
    PRMSelectConfig,
    aggregate,
    prm_inputs,
    select_by_prm,
)
from openr1_data.curate.step_labels import StepLabelConfig, label_steps
from openr1_data.publish.local import publish_local
from openr1_data.publish.prm import labelled_prefix, to_prm
from openr1_data.schema import ContractError
from openr1_data.train.prm import PRMConfig, PRMDataArguments, check_prm_rows
from openr1_data.train.rewards import get_reward_funcs

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: threads only add contention

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"train_{name}", ROOT / "train" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trace_rows(n: int) -> list[dict]:
    """Step-style traces of "(a + b) x 2"; every third one writes a false sum, every fifth a false product."""
    rows = []
    for i in range(n):
        a, b = i % 7 + 2, i % 5 + 3
        s = a + b + (1 if i % 3 == 0 else 0)
        d = s * 2 + (1 if i % 5 == 0 else 0)
        reasoning = f"Step 1: {a} + {b} = {s}.\nStep 2: {s} \\times 2 = {d}.\nStep 3: The answer is {d}."
        rows.append(
            {
                "problem": f"Problem {i}: what is ({a} + {b}) times 2?",
                "answer": str((a + b) * 2),
                "source": "test",
                "problem_id": f"p{i}",
                "trace_id": f"t{i}",
                "prompt_style": "steps",
                "completion": f"<think>\n{reasoning}\n</think>\n\\boxed{{{d}}}",
                "reasoning": reasoning,
                "final": f"\\boxed{{{d}}}",
                "completion_tokens": 30,
                "finish_reason": "stop",
            }
        )
    return rows


@pytest.fixture(scope="module")
def labelled() -> Dataset:
    return label_steps(Dataset.from_list(trace_rows(48)), StepLabelConfig(labeler="rules")).kept


def test_prm_rows_stop_at_the_first_wrong_step_and_before_unlabelled_ones():
    assert labelled_prefix(["a", "b", "c"], [True, False, True]) == (["a", "b"], [True, False])
    assert labelled_prefix(["a", "b", "c"], [True, None, True]) == (["a"], [True])
    assert labelled_prefix(["a"], [None]) == ([], [])


def test_to_prm_is_trl_stepwise_supervision(labelled):
    prm = to_prm(labelled)
    assert len(prm) == 48 and {"prompt", "completions", "labels", "label_source"} <= set(prm.column_names)
    row = prm[0]  # i = 0: a false sum (step 1), so the row stops there
    assert row["prompt"].startswith("Problem 0") and row["labels"] == [False] and row["first_error_step"] == 1
    assert prm[1]["labels"] == [True, True, True] and prm[5]["labels"] == [True, False]
    with pytest.raises(ContractError, match="label-steps"):
        to_prm(Dataset.from_list(trace_rows(2)))


@pytest.fixture(scope="module")
def published(tmp_path_factory, labelled) -> Path:
    folder = tmp_path_factory.mktemp("pub") / "dataset"
    kept = labelled.filter(lambda r: r["first_error_step"] is None)  # curation keeps the right traces...
    publish_local(folder, kept, all_traces=labelled, test_size=0.25, seed=0)  # ...the PRM learns from all
    return folder


def test_publish_writes_a_prm_config_with_its_label_source_in_the_card(published):
    card = (published / "README.md").read_text()
    assert "config_name: prm" in card and "Label source: rules (exact arithmetic check" in card
    train = load_dataset(str(published), "prm", split="train")
    test = load_dataset(str(published), "prm", split="test")
    assert len(train) + len(test) == 48 and not set(train["problem_id"]) & set(test["problem_id"])
    assert False in [label for row in train["labels"] for label in row]  # the wrong steps are there
    check_prm_rows(train)


def test_bad_prm_rows_name_the_row():
    rows = Dataset.from_list([{"prompt": "p", "completions": ["a", "b"], "labels": [True]}])
    with pytest.raises(ContractError, match="row 0 needs a prompt and as many `labels`"):
        check_prm_rows(rows)
    with pytest.raises(ContractError, match="missing column"):
        check_prm_rows(Dataset.from_list([{"prompt": "p"}]))


def test_prm_inputs_score_the_last_token_of_each_step(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    ids, positions = prm_inputs(tok, "What is 3 + 4?", ["3 + 4 = 7", "The answer is 7"], "\n", 256)
    assert len(positions) == 2 and positions[-1] == len(ids) - 1
    newline = tok("\n", add_special_tokens=False)["input_ids"][-1]
    assert all(ids[p] == newline for p in positions)
    assert tok.decode(ids[positions[0] + 1 : positions[1] + 1]) == "The answer is 7\n"
    _, cut = prm_inputs(tok, "What is 3 + 4?", ["3 + 4 = 7"] * 50, "\n", 40)
    assert 0 < len(cut) < 50  # steps beyond max_length are not scored


@pytest.fixture(scope="module")
def trained(published, tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("prm-model")
    args = parse_config(
        (PRMDataArguments, PRMConfig, ModelConfig),
        [
            "--config", str(ROOT / "train" / "recipes" / "prm_tiny_cpu.yaml"),
            "--model_name_or_path", tiny_model_dir, "--dataset_name", str(published),
            "--output_dir", str(out), "--max_steps", "30", "--learning_rate", "3e-3", "--warmup_steps", "0",
            "--per_device_train_batch_size", "64", "--lr_scheduler_type", "constant",  # full-batch steps
            "--logging_steps", "1", "--max_length", "128",
        ],
    )  # fmt: skip
    trainer = load_script("prm").main(*args)
    return trainer, out


def test_prm_training_loss_decreases_and_reports_step_metrics(trained):
    trainer, out = trained
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5, losses  # full-batch steps: a steady descent
    metrics = json.loads((out / "prm_eval.json").read_text())
    assert {"eval_step_accuracy", "eval_step_f1", "eval_error_f1", "eval_steps"} <= set(metrics)
    assert metrics["eval_steps"] > 0 and 0.0 <= metrics["eval_step_accuracy"] <= 1.0
    assert (out / "config.json").exists() and (out / "README.md").exists()
    assert json.loads((out / "config.json").read_text())["prm_step_separator"] == "\n"


def test_the_trained_prm_picks_the_best_of_n_and_scores_grpo_completions(trained, labelled):
    _, out = trained
    scorer = PRMScorer(str(out))
    assert scorer._model is None  # nothing loaded until the first score
    traces = labelled.select(range(12))
    scores = scorer.score(traces["problem"], traces["steps"])
    assert [len(s) for s in scores] == [3] * 12 and all(0.0 <= p <= 1.0 for s in scores for p in s)
    # Best-of-N: two problems with six traces each; the kept one has the best min-over-steps score.
    grouped = traces.map(lambda r, i: {"problem_id": f"g{i % 2}"}, with_indices=True)
    result = select_by_prm(grouped, PRMSelectConfig(prm_model=str(out), per_problem=1), scorer=scorer)
    assert len(result.kept) == 2 and result.stats.rejected == {"not_best_by_prm": 10}
    for g in ("g0", "g1"):
        group = [aggregate(s) for s, p in zip(scores, grouped["problem_id"], strict=True) if p == g]
        assert [r[PRM_SCORE] for r in result.kept if r["problem_id"] == g] == [pytest.approx(max(group))]
    prod = select_by_prm(
        grouped, PRMSelectConfig(prm_model=str(out), prm_aggregate="prod", per_problem=2), scorer=scorer
    )
    assert len(prod.kept) == 4
    # The GRPO reward loads the same PRM lazily and gives the same min-over-steps scores.
    reward = get_reward_funcs(["prm"], prm_model=str(out))[0]
    columns = {
        "problem": list(traces["problem"]),
        "prompt_style": list(traces["prompt_style"]),
    }  # as TRL passes them
    got = reward(list(traces["completion"]), **columns)
    assert got == pytest.approx([aggregate(s) for s in scores])
    with pytest.raises(ValueError, match="needs a trained PRM"):
        get_reward_funcs(["prm"])
