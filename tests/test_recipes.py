"""Every recipe in train/recipes parses into the script's dataclasses and passes the checks its script runs before
any work (reward names, prompt style, chat template, data source, benchmarks), including GPU recipes that cannot
run here. The CPU SFT recipe also builds a trainer on a tiny model and data, so its TRL arguments are valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import Dataset
from trl import ModelConfig

from openr1_data.config import parse_config
from openr1_data.curate.rlt_scoring import RLTRewardConfig
from openr1_data.io import write_dataset
from openr1_data.prompts import get_style
from openr1_data.sources.eval_benchmarks import list_benchmarks
from openr1_data.train.chat_template import resolve_chat_template
from openr1_data.train.configs import DataArguments, DPOConfig, GRPOConfig, GRPOScriptArguments, SFTConfig
from openr1_data.train.data import parse_mixture
from openr1_data.train.evaluation import EvalConfig
from openr1_data.train.prm import PRMConfig, PRMDataArguments
from openr1_data.train.rewards import RLT_REWARD, check_reward_names, parse_params
from openr1_data.train.wordle_play import WordlePlayConfig
from tests.test_sft import load_script, sft_rows

RECIPES = sorted((Path(__file__).resolve().parents[1] / "train" / "recipes").glob("*.yaml"))
KINDS = {
    "sft": (DataArguments, SFTConfig, ModelConfig),
    "dpo": (DataArguments, DPOConfig, ModelConfig),
    "grpo": (GRPOScriptArguments, GRPOConfig, ModelConfig, RLTRewardConfig),
    "rlt": (GRPOScriptArguments, GRPOConfig, ModelConfig, RLTRewardConfig),
    "eval": (EvalConfig,),
    "prm": (PRMDataArguments, PRMConfig, ModelConfig),
    "play": (WordlePlayConfig,),
}


def parse(recipe: Path, *overrides: str):
    return parse_config(KINDS[recipe.name.split("_")[0]], ["--config", str(recipe), *overrides])


def test_there_are_cpu_and_gpu_recipes_for_every_script():
    names = {r.name for r in RECIPES}
    assert {"sft_smollm2_cpu.yaml", "grpo_smollm2_cpu.yaml", "rlt_teacher_smollm2_cpu.yaml"} <= names
    assert {r.split("_")[0] for r in names} == set(KINDS)
    assert any("gpu" in n and n.startswith("sft") for n in names) and any("vllm" in n for n in names)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_parses_and_validates(recipe):
    parsed = parse(recipe)
    if recipe.name.startswith("eval"):
        (cfg,) = parsed
        get_style(cfg.prompt_style)
        assert all(b.split("@")[0] in list_benchmarks() for b in cfg.benchmarks)
        return
    if recipe.name.startswith("play"):  # the Wordle play evaluation: held-out secrets, whole games
        (cfg,) = parsed
        assert cfg.split == "eval" and cfg.num_games >= 1
        return
    data, train, model = parsed[:3]
    assert model.model_name_or_path and train.output_dir
    assert data.dataset_name or parse_mixture(data.dataset_mixture)[0]
    if getattr(train, "chat_template", None):
        resolve_chat_template(train.chat_template)
    cpu = "_cpu" in recipe.name
    if cpu:
        assert train.bf16 is False and not getattr(train, "use_vllm", False) and not train.push_to_hub
    if isinstance(data, GRPOScriptArguments):
        check_reward_names(data.reward_funcs)
        parse_params(data.reward_params)
        get_style(data.prompt_style)
        if train.reward_weights is not None:
            assert len(train.reward_weights) == len(data.reward_funcs)
        if RLT_REWARD in data.reward_funcs:
            rlt = parsed[3]
            assert rlt.rlt_student_model and data.prompt_style == "rlt"
            assert (rlt.rlt_solution_weights, rlt.rlt_kl_weights) == ([1.0, 0.01], [3.0, 0.03])


def test_command_line_overrides_the_recipe():
    recipe = next(r for r in RECIPES if r.name == "sft_smollm2_cpu.yaml")
    _, train, model = parse(recipe, "--learning_rate", "0.5", "--model_name_or_path", "other")
    assert train.learning_rate == 0.5 and model.model_name_or_path == "other"


def test_a_typo_in_a_recipe_is_an_error(tmp_path):
    bad = tmp_path / "sft_typo.yaml"
    bad.write_text("model_name_or_path: smollm2\nlearning_rat: 0.1\n")
    with pytest.raises(ValueError, match="learning_rat"):
        parse_config(KINDS["sft"], ["--config", str(bad)])


def test_cpu_sft_recipe_runs_a_step_on_a_tiny_model(tiny_model_dir, tmp_path):
    write_dataset(Dataset.from_list(sft_rows(8)), tmp_path / "data")
    recipe = next(r for r in RECIPES if r.name == "sft_smollm2_cpu.yaml")
    args = parse(
        recipe, "--model_name_or_path", tiny_model_dir, "--dataset_name", str(tmp_path / "data"),
        "--output_dir", str(tmp_path / "out"), "--max_steps", "1",
    )  # fmt: skip
    trainer = load_script("sft").main(*args)
    assert trainer.state.global_step == 1 and (tmp_path / "out" / "model.safetensors").exists()
