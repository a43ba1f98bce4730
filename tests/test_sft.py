"""train/sft.py on a tiny model: the loss goes down, only assistant tokens are trained, the student learns to
stop, data comes from published folders or mixtures, and bad input fails early with a clear message."""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

import pytest
from datasets import Dataset
from transformers import AutoTokenizer
from trl import ModelConfig

from openr1_data.config import parse_config
from openr1_data.io import write_dataset
from openr1_data.schema import ContractError
from openr1_data.train.chat_template import CHATML_TEMPLATE, prepare_tokenizer
from openr1_data.train.configs import DataArguments, GRPOConfig, SFTConfig, bf16_available
from openr1_data.train.data import load_sft_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: threads only add contention

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """Import a script of train/ as a module (they are scripts, not package modules)."""
    spec = importlib.util.spec_from_file_location(f"train_{name}", ROOT / "train" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sft_rows(n: int, offset: int = 0) -> list[dict]:
    rows = []
    for i in range(offset, offset + n):
        a, b = i % 9 + 1, i // 9 + 2
        rows.append(
            {
                "messages": [
                    {"role": "user", "content": f"What is {a} + {b}?"},
                    {
                        "role": "assistant",
                        "content": f"<think>\n{a} + {b} = {a + b}\n</think>\n\n\\boxed{{{a + b}}}",
                    },
                ],
                "problem": f"What is {a} + {b}?",
                "answer": str(a + b),
            }
        )
    return rows


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("sft-data")
    write_dataset(Dataset.from_list(sft_rows(32)), folder)
    return str(folder)


def sft_args(model: str, data: str, out: Path, *extra: str):
    argv = [
        "--model_name_or_path", model, "--dataset_name", data, "--output_dir", str(out),
        "--per_device_train_batch_size", "8", "--learning_rate", "3e-3", "--logging_steps", "5",
        "--report_to", "none", "--save_strategy", "no", "--activation_checkpointing", "false",
        "--lr_scheduler_type", "constant", *extra,
    ]  # fmt: skip
    return parse_config((DataArguments, SFTConfig, ModelConfig), argv)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, data_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft-out")
    trainer = load_script("sft").main(
        *sft_args(tiny_model_dir, data_dir, out, "--max_steps", "30", "--assistant_only_loss", "true")
    )
    return trainer, out


def test_sft_loss_decreases_over_30_steps(trained):
    trainer, _ = trained
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 6
    assert losses[-1] < 0.6 * losses[0], losses


def test_sft_saves_model_tokenizer_card_and_stops_on_the_turn_end(trained):
    _, out = trained
    for name in ("model.safetensors", "config.json", "tokenizer.json", "README.md", "generation_config.json"):
        assert (out / name).exists(), name
    card = (out / "README.md").read_text()
    assert "sft" in card and "None" not in card  # not TRL's "Model Card for None"
    assert "trained with TRL's SFT trainer" in card and "a local dataset folder" in card
    assert "| max_steps |" in card and "## Final training metrics" in card and "| train_loss |" in card
    tokenizer = AutoTokenizer.from_pretrained(out)
    eos = json.loads((out / "generation_config.json").read_text())["eos_token_id"]
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in (eos if isinstance(eos, list) else [eos])


def test_sft_loss_is_masked_to_assistant_tokens(trained):
    trainer, _ = trained
    tokenizer = trainer.processing_class
    batch = trainer.data_collator([trainer.train_dataset[0]])
    ids, labels = batch["input_ids"][0], batch["labels"][0]
    trained_text = tokenizer.decode(ids[labels != -100])
    masked_text = tokenizer.decode(ids[labels == -100])
    assert (
        trained_text == "<think>\n1 + 2 = 3\n</think>\n\n\\boxed{3}<|im_end|>"
    )  # the end-of-turn is learned too
    assert "What is 1 + 2?" in masked_text and "<think>" not in masked_text


def test_sft_without_messages_column_says_how_to_make_one(tmp_path):
    write_dataset(Dataset.from_list([{"problem": "1+1", "answer": "2"}]), tmp_path)
    with pytest.raises(ContractError, match=r"missing column\(s\) \['messages'\].*publish"):
        load_sft_dataset(DataArguments(dataset_name=str(tmp_path)))


def test_sft_names_the_bad_row(tmp_path):
    rows = sft_rows(3)
    rows[2]["messages"] = [{"role": "user", "content": "only a question"}]
    write_dataset(Dataset.from_list(rows), tmp_path)
    with pytest.raises(ContractError, match="row 2.*no non-empty assistant message"):
        load_sft_dataset(DataArguments(dataset_name=str(tmp_path)))


def test_weighted_mixture_and_eval_split(tmp_path):
    write_dataset(Dataset.from_list(sft_rows(20)), tmp_path / "a")
    write_dataset(Dataset.from_list(sft_rows(10, offset=50)), tmp_path / "b")
    mixture = {
        "datasets": [{"id": str(tmp_path / "a"), "weight": 0.5}, {"id": str(tmp_path / "b"), "weight": 2.0}],
        "test_split_size": 0.2,
    }
    train, test = load_sft_dataset(DataArguments(dataset_mixture=mixture))
    assert len(train) + len(test) == 10 + 20 and len(test) == 6
    assert train.column_names == ["messages"]
    users = [m[0]["content"] for m in list(train["messages"]) + list(test["messages"])]
    from_b = [u for u in users if u in {r["problem"] for r in sft_rows(10, offset=50)}]
    assert len(from_b) == 20  # weight 2 repeats the second dataset
    with pytest.raises(ValueError, match="unknown key"):
        load_sft_dataset(DataArguments(dataset_mixture={"datasets": [{"id": "x", "wieght": 1}]}))


def test_published_folder_with_several_configs_uses_the_sft_config(tmp_path):
    write_dataset(Dataset.from_list(sft_rows(4)), tmp_path / "data" / "sft", name="train")
    write_dataset(
        Dataset.from_list([{"problem": "p", "answer": "1"}]), tmp_path / "data" / "rejected", name="train"
    )
    (tmp_path / "README.md").write_text(
        "---\nconfigs:\n- config_name: sft\n  data_files:\n  - split: train\n    path: data/sft/*.parquet\n"
        "- config_name: rejected\n  data_files:\n  - split: train\n    path: data/rejected/*.parquet\n---\n"
    )
    train, _ = load_sft_dataset(DataArguments(dataset_name=str(tmp_path)))
    assert len(train) == 4


def test_bf16_on_a_cpu_only_machine_falls_back_to_fp32(tmp_path, caplog):
    if bf16_available():
        pytest.skip("this machine runs bf16")
    with caplog.at_level(logging.WARNING, logger="openr1_data.train.configs"):
        config = SFTConfig(output_dir=str(tmp_path), bf16=True)
    assert config.bf16 is False and "fp32" in caplog.text
    assert GRPOConfig(output_dir=str(tmp_path)).bf16 is False  # TRL's default (bf16) would refuse to start


def test_eos_becomes_the_turn_end_so_a_base_model_learns_to_stop(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    tokenizer.eos_token = "<|endoftext|>"  # like a base model's tokenizer
    assert prepare_tokenizer(tokenizer, chat_template="chatml") == "<|im_end|>"
    assert prepare_tokenizer(tokenizer, chat_template="chatml", eos_token="<|endoftext|>") == "<|endoftext|>"


def test_templates_that_would_break_training_are_refused(tiny_model_dir, tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    strips_think = CHATML_TEMPLATE.replace(
        "message['content'] + '<|im_end|>'", "message['content'].split('</think>')[-1] + '<|im_end|>'"
    )
    with pytest.raises(ValueError, match="removes <think>.*--chat_template chatml"):
        prepare_tokenizer(tokenizer, chat_template=strips_think)
    no_markers = tmp_path / "plain.jinja"
    no_markers.write_text(CHATML_TEMPLATE.replace("{% generation %}", "").replace("{% endgeneration %}", ""))
    with pytest.raises(ValueError, match=r"\{% generation %\} markers.*--chat_template chatml"):
        prepare_tokenizer(tokenizer, chat_template=str(no_markers), assistant_only_loss=True)
    with pytest.raises(ValueError, match="does not have"):
        prepare_tokenizer(tokenizer, chat_template="{{ '<|start_header_id|>' }}")


def test_model_card_names_base_model_dataset_and_the_data_funnel(tmp_path):
    from types import SimpleNamespace

    from openr1_data.funnel import Funnel, StageStats
    from openr1_data.train.model_card import render_model_card

    args = SimpleNamespace(learning_rate=1e-5, max_steps=10, seed=0)
    card = render_model_card(
        model_name="student", base_model="Qwen/Qwen2.5-1.5B", dataset_name="me/traces", trainer_kind="sft",
        training_args=args, tags=["math"],
    )  # fmt: skip
    assert "base_model: Qwen/Qwen2.5-1.5B" in card and "- me/traces" in card and "- math" in card
    folder = tmp_path / "dataset"
    folder.mkdir()
    Funnel([StageStats("filter", 10, 4, {"too_long": 6})]).save(folder / "funnel.json")
    card = render_model_card(
        model_name="student", base_model="Qwen/Qwen2.5-1.5B", dataset_name=str(folder), trainer_kind="sft",
        training_args=args, tags=[],
    )  # fmt: skip
    assert "datasets:" not in card and "a local dataset folder (`dataset`)" in card and "too_long: 6" in card
    # the packaged default student is named by its Hub id; rewards, the config and the final metrics are stated
    card = render_model_card(
        model_name="student", base_model="smollm2", dataset_name=str(folder), trainer_kind="grpo",
        training_args=args, tags=[], dataset_config="problems", rewards=[("accuracy", 1.0), ("format", 0.5)],
        metrics={"train_loss": 0.12345, "reward": 0.75},
    )  # fmt: skip
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card and "config `problems`" in card
    assert "| `accuracy` | 1 |" in card and "| `format` | 0.5 |" in card
    assert "| train_loss | 0.1235 |" in card and "| reward | 0.75 |" in card
