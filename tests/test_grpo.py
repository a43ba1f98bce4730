"""train/grpo.py on a tiny model: two GRPO steps with two registry rewards (logged), an RLT-teacher run, prompts in
the generation style, and clear errors for bad rewards, data and settings."""

from __future__ import annotations

import logging

import pytest
from datasets import Dataset
from transformers import AutoTokenizer
from trl import ModelConfig

from openr1_data.config import parse_config
from openr1_data.curate.rlt_scoring import RLTRewardConfig
from openr1_data.funnel import PipelineRecord
from openr1_data.io import read_dataset, write_dataset
from openr1_data.prompts import get_style
from openr1_data.schema import ContractError
from openr1_data.train.chat_template import CHATML_TEMPLATE
from openr1_data.train.configs import GRPOConfig, GRPOScriptArguments
from openr1_data.train.data import build_grpo_prompts, warn_think_prefill
from openr1_data.train.rewards import build_reward_funcs
from openr1_data.train.setup import check_vllm
from tests.test_sft import load_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: threads only add contention


PROBLEMS = [
    {"problem": "What is 2 + 3?", "answer": "5", "solution": "2 + 3 = 5. \\boxed{5}", "level": "easy"},
    {"problem": "What is 4 + 4?", "answer": "8", "solution": "4 + 4 = 8. \\boxed{8}", "level": "easy"},
    {"problem": "What is 6 + 1?", "answer": None, "solution": "6 + 1 = 7. \\boxed{7}", "level": "easy"},
    {"problem": "What is 9 + 9?", "answer": None, "solution": None, "level": "hard"},
    {"problem": "What is 2 + 3?", "answer": "5", "solution": "2 + 3 = 5. \\boxed{5}", "level": "easy"},
]


@pytest.fixture(scope="module")
def problems_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("grpo-data")
    write_dataset(Dataset.from_list(PROBLEMS), folder)
    return str(folder)


def grpo_args(model: str, data: str, out, *extra: str):
    argv = [
        "--model_name_or_path", model, "--dataset_name", data, "--output_dir", str(out),
        "--max_steps", "2", "--per_device_train_batch_size", "4", "--num_generations", "2",
        "--max_completion_length", "12", "--logging_steps", "1", "--report_to", "none",
        "--save_strategy", "no", "--activation_checkpointing", "false", *extra,
    ]  # fmt: skip
    return parse_config((GRPOScriptArguments, GRPOConfig, ModelConfig, RLTRewardConfig), argv)


def test_grpo_two_steps_with_two_registry_rewards_logs_them(tiny_model_dir, problems_dir, tmp_path):
    args = grpo_args(tiny_model_dir, problems_dir, tmp_path, "--reward_funcs", "accuracy", "format")
    trainer = load_script("grpo").main(*args)
    steps = [h for h in trainer.state.log_history if "rewards/accuracy_reward/mean" in h]
    assert len(steps) == 2
    assert all("rewards/format_reward/mean" in h for h in steps)
    assert all(0.0 <= h["rewards/accuracy_reward/mean"] <= 1.0 for h in steps)
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "README.md").exists()
    card = (tmp_path / "README.md").read_text()
    assert "| `accuracy` | 1 |" in card and "| `format` | 1 |" in card and "## Final training metrics" in card
    rejected = read_dataset(tmp_path / "rejected_prompts")  # the prompts GRPO did not get, with their reason
    assert sorted(rejected["rejected_reason"]) == ["duplicate_problem", "no_gold_answer"]


def test_rlt_teacher_run_logs_the_rlt_reward(tiny_model_dir, problems_dir, tmp_path):
    args = grpo_args(
        tiny_model_dir, problems_dir, tmp_path, "--max_steps", "1", "--reward_funcs", "rlt",
        "--prompt_style", "rlt", "--rlt_student_model", tiny_model_dir,
    )  # fmt: skip
    trainer = load_script("grpo").main(*args)
    (step,) = [h for h in trainer.state.log_history if "rewards/rlt/mean" in h]
    # A random tiny teacher never closes its explanation within 12 tokens: every completion gets the penalty.
    assert step["rewards/rlt/mean"] == pytest.approx(-1.0)
    assert step["rlt/penalised"] == pytest.approx(1.0)


def test_grpo_prompts_use_the_generation_style_and_reject_unusable_rows(tiny_model_dir):
    record = PipelineRecord()
    rows = build_grpo_prompts(Dataset.from_list(PROBLEMS), prompt_style="r1", record=record)
    assert rows["problem"] == ["What is 2 + 3?", "What is 4 + 4?", "What is 6 + 1?"]
    assert rows[0]["prompt"] == get_style("r1").build(PROBLEMS[0])
    assert rows["answer"][2] == "7"  # taken from the solution's \boxed{}
    assert rows["level"] == ["easy"] * 3  # extra columns reach the rewards
    assert record.funnel.stages[-1].rejected == {"no_gold_answer": 1, "duplicate_problem": 1}
    assert sorted(record.rejected[-1]["rejected_reason"]) == ["duplicate_problem", "no_gold_answer"]

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    rlt = build_grpo_prompts(Dataset.from_list(PROBLEMS), prompt_style="rlt", tokenizer=tokenizer)
    assert isinstance(rlt[0]["prompt"], str)  # TRL would append a fresh turn to a chat prompt
    assert rlt[0]["prompt"].endswith(
        "<|end_of_solution|>\n\n<|begin_of_explanation|>\n"
    )  # the prefill as written
    assert "2 + 3 = 5. \\boxed{5}" in rlt[0]["prompt"]


def test_bad_grpo_input_fails_early_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"unknown reward function\(s\) \['acuracy'\].*'accuracy'.*'rlt'"):
        build_reward_funcs(["acuracy"], {})
    with pytest.raises(ValueError, match="cosine_max_len"):
        build_reward_funcs(["format"], {"cosine_max_len": 10})
    with pytest.raises(ContractError, match=r"missing column\(s\) \['problem'\]"):
        build_grpo_prompts(Dataset.from_list([{"question": "1+1", "answer": "2"}]))
    with pytest.raises(ContractError, match="no gold answer"):
        build_grpo_prompts(Dataset.from_list([{"problem": "1+1"}]))
    with pytest.raises(ImportError, match=r"openr1-data\[vllm\]"):
        check_vllm(GRPOConfig(output_dir=str(tmp_path), use_vllm=True))


def test_soft_overlong_defaults_to_the_trainer_completion_length():
    (reward,) = build_reward_funcs(["soft_overlong"], {}, prompt_style="r1", max_completion_length=64)
    assert reward.max_completion_len == 64


def test_warns_when_the_template_prefills_think(tiny_model_dir, caplog):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.chat_template = CHATML_TEMPLATE.replace(
        "{{ '<|im_start|>assistant\\n' }}{% endif %}", "{{ '<|im_start|>assistant\\n<think>\\n' }}{% endif %}"
    )
    with caplog.at_level(logging.WARNING, logger="openr1_data.train.data"):
        warn_think_prefill(tokenizer, ["accuracy", "format"])
    assert "--chat_template chatml" in caplog.text
    caplog.clear()
    tokenizer.chat_template = CHATML_TEMPLATE
    warn_think_prefill(tokenizer, ["accuracy", "format"])
    assert caplog.text == ""
