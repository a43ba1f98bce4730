"""Bad values fail before any work, with exit code 2 and a message naming the field and what is allowed."""

from __future__ import annotations

import pytest

from openr1_data.cli import main as cli_main
from openr1_data.config import parse_config
from openr1_data.generate.stage import GenerationConfig


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--num_generations", "0"], "--num_generations must be a number >= 1, got 0"),
        (["--limit", "-3"], "--limit must be a number >= 1, got -3"),
        (["--batch_size", "0"], "--batch_size must be a number >= 1, got 0"),
        (["--max_new_tokens", "-1"], "--max_new_tokens must be a number >= 1"),
        (["--temperature", "-1"], "--temperature must be between"),
        (["--top_p", "7"], "--top_p must be between"),
        (["--max_concurrency", "0"], "--max_concurrency must be a number >= 1"),
        (["--num_threads", "0"], "--num_threads must be a number >= 1"),
        (["--request_timeout", "0"], "--request_timeout must be a number >= 0.001"),
        (["--max_retries", "-1"], "--max_retries must be a number >= 0"),
        (["--teacher_backend", "gpt"], "--teacher_backend must be one of ['distilabel', 'openai'"),
        (["--prompt_styles", "nonexistent_style"], "nonexistent_style"),
    ],
)
def test_generate_refuses_bad_values_before_any_work(tmp_path, capsys, flags, message):
    out = tmp_path / "gen"
    assert cli_main(["generate", "--output_dir", str(out), "--teacher_model", "/no/model", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (out / "data").exists()  # nothing was generated


def test_a_recipe_string_for_a_list_field_is_one_item_not_characters(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("prompt_styles: r1\n")
    (cfg,) = parse_config([GenerationConfig], ["--config", str(recipe)])
    assert cfg.prompt_styles == ["r1"]


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="num_generations"):
        cli_main(["generate", "--output_dir", str(tmp_path), "--num_generations", "0", "--debug"])


def test_a_finished_pipeline_dataset_is_not_replaced_without_overwrite_and_the_error_comes_first(tmp_path):
    from openr1_data.publish.run import OutputConfig

    folder = tmp_path / "dataset"
    folder.mkdir()
    (folder / "README.md").write_text("an earlier run")
    with pytest.raises(ValueError, match="--overwrite true.*openr1-data push"):
        OutputConfig(dataset_dir=str(folder))
    assert OutputConfig(dataset_dir=str(folder), overwrite=True).overwrite


def test_evaluation_output_folders_are_per_model():
    from openr1_data.train.evaluation import EvalConfig

    assert EvalConfig(model="Qwen/Qwen2.5-1.5B").output_dir.endswith("eval/Qwen--Qwen2.5-1.5B")
    assert EvalConfig(model="smollm2").output_dir != EvalConfig(model="outputs/student-sft").output_dir


def test_torch_threads_follow_the_free_cores_unless_asked(one_torch_thread):
    import os

    import torch

    from openr1_data.teachers import threads
    from openr1_data.teachers.threads import free_cores, set_torch_threads

    assert 1 <= free_cores() <= len(os.sched_getaffinity(0))
    assert set_torch_threads(1) == 1 == torch.get_num_threads()
    threads._first_choice.clear()  # as in a fresh process
    first = set_torch_threads(None)
    assert first == torch.get_num_threads() and 1 <= first <= len(os.sched_getaffinity(0))
    # Later calls keep the first choice: the load average then counts this process's own work as well.
    threads._first_choice[0] = 1 if first > 1 else 2
    assert set_torch_threads(None) == threads._first_choice[0] == torch.get_num_threads()
    assert set_torch_threads(1) == 1 and set_torch_threads(None) == 1  # an explicit choice sticks
    threads._first_choice.clear()  # later tests choose afresh
