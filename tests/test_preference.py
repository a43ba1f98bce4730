"""Preference pairs from the same generations: the two pair rules on real stage folders (generate → verify →
filter through the CLI, the teacher a real OpenAI client against a scripted local server), the published
`preference` config in TRL's layout with the rule on the card, and a DPO run on a tiny model whose card names it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_dataset
from trl import ModelConfig

from openr1_data.cli import main as cli_main
from openr1_data.config import parse_config
from openr1_data.io import read_dataset
from openr1_data.publish.preference import CORRECT_VS_INCORRECT, SHORT_VS_LONG, pair_traces, to_preference
from openr1_data.schema import ContractError
from openr1_data.sources.bundled import bundled_problems
from openr1_data.train.configs import DataArguments, DPOConfig
from tests.scripted_openai import ScriptedOpenAIServer
from tests.test_sft import load_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROBLEMS = bundled_problems(6)
SAMPLES = 4


def reply(body: dict, index: int) -> str:
    """Right or wrong and short or long by the sample's seed, so problems mix right, wrong, short and long."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    seed = int(body.get("seed") or 0)
    for i, row in enumerate(PROBLEMS):
        if row["problem"] in user:
            answer = row["answer"] if (seed + i) % 3 else f"{row['answer']}1"
            steps = " ".join(f"Step {k}: check the numbers again." for k in range(1 + seed % 5))
            return f"<think>\n{steps}\n</think>\nSo \\boxed{{{answer}}}."
    return "no idea"


def run(*argv: str) -> None:
    assert cli_main(list(argv)) == 0, argv


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, Path]:
    """generate → verify → filter stage folders made by the CLI (no usage block: token counts follow the text)."""
    root = tmp_path_factory.mktemp("preference-chain")
    problems = root / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in PROBLEMS))
    gen, ver, cur = root / "gen", root / "ver", root / "cur"
    with ScriptedOpenAIServer(reply, usage_per_choice=None) as server:
        run("generate", "--input", str(problems), "--output_dir", str(gen), "--teacher_backend", "openai",
            "--base_url", server.base_url, "--teacher_model", "scripted",
            "--num_generations", str(SAMPLES))  # fmt: skip
    run("verify", "--input", str(gen), "--output_dir", str(ver), "--verify_num_proc", "0")
    run("filter", "--input", str(ver), "--output_dir", str(cur))
    return {"root": root, "verify": ver, "filter": cur}


def traces_by_id(folder: Path) -> dict[str, dict]:
    return {row["trace_id"]: row for row in read_dataset(folder).to_list()}


def test_correct_vs_incorrect_pairs_a_kept_right_trace_with_a_wrong_one_of_the_same_problem(chain):
    kept, every = read_dataset(chain["filter"]), read_dataset(chain["verify"])
    pairs = pair_traces(kept, every, CORRECT_VS_INCORRECT)
    kept_rows, all_rows = traces_by_id(chain["filter"]), traces_by_id(chain["verify"])
    # the expected count, from the folders: min(kept right, wrong) per problem
    right = Counter(r["problem_id"] for r in kept_rows.values() if r["correct"] is True)
    wrong = Counter(r["problem_id"] for r in all_rows.values() if r["correct"] is False)
    expected = sum(min(right[p], wrong[p]) for p in right)
    assert expected >= 3 and len(pairs) == expected  # the scripted teacher mixes right and wrong samples
    for chosen, rejected in pairs:
        assert chosen in kept_rows and kept_rows[chosen]["correct"] is True
        assert all_rows[rejected]["correct"] is False
        assert all_rows[chosen]["problem_id"] == all_rows[rejected]["problem_id"]  # never across problems
    used = [tid for pair in pairs for tid in pair]
    assert len(used) == len(set(used))  # each trace in one pair at most
    assert pair_traces(kept, every, CORRECT_VS_INCORRECT) == pairs  # deterministic


def test_short_vs_long_pairs_the_shortest_kept_right_trace_with_the_longest_right_one(chain):
    kept, every = read_dataset(chain["filter"]), read_dataset(chain["verify"])
    rows = to_preference(kept, every, SHORT_VS_LONG)
    all_rows = traces_by_id(chain["verify"])
    right = {}
    for r in all_rows.values():
        if r["correct"] is True:
            right.setdefault(r["problem_id"], []).append(r["completion_tokens"])
    expected = sum(1 for lengths in right.values() if len(set(lengths)) > 1)
    assert expected >= 2 and len(rows) == expected
    assert set(rows["pair_rule"]) == {SHORT_VS_LONG}
    for row in rows.to_list():
        chosen, rejected = all_rows[row["chosen_trace_id"]], all_rows[row["rejected_trace_id"]]
        assert chosen["problem_id"] == rejected["problem_id"] == row["problem_id"]
        assert chosen["correct"] is True and rejected["correct"] is True
        assert row["chosen_tokens"] == min(right[row["problem_id"]]) < row["rejected_tokens"]
        assert row["rejected_tokens"] == max(right[row["problem_id"]])
        assert len(row["chosen"][0]["content"]) < len(row["rejected"][0]["content"])
        assert row["prompt"] == [{"role": "user", "content": chosen["problem"]}]


def test_correct_vs_incorrect_needs_every_verified_trace(chain):
    with pytest.raises(ContractError, match="needs every verified trace.*--all_traces"):
        pair_traces(read_dataset(chain["filter"]), None, CORRECT_VS_INCORRECT)
    with pytest.raises(ValueError, match="preference_pairs must be one of"):
        pair_traces(read_dataset(chain["filter"]), None, "longest_first")


@pytest.fixture(scope="module")
def published(chain) -> Path:
    out = chain["root"] / "dataset"
    run("publish", "--input", str(chain["filter"]), "--output_dir", str(out),
        "--preference_pairs", CORRECT_VS_INCORRECT)  # fmt: skip
    return out


def test_published_preference_config_is_in_trls_layout_and_the_card_names_the_rule(chain, published):
    pairs = load_dataset(str(published), "preference", split="train")
    assert {"prompt", "chosen", "rejected"} <= set(pairs.column_names)
    row = pairs[0]
    assert [m["role"] for m in row["prompt"]] == ["user"]
    assert [m["role"] for m in row["chosen"]] == [m["role"] for m in row["rejected"]] == ["assistant"]
    assert row["chosen"][0]["content"].startswith("<think>\n")
    expected = len(
        pair_traces(read_dataset(chain["filter"]), read_dataset(chain["verify"]), CORRECT_VS_INCORRECT)
    )
    assert len(pairs) == expected and set(pairs["pair_rule"]) == {CORRECT_VS_INCORRECT}
    card = (published / "README.md").read_text()
    assert "## Preference pairs" in card and f"It holds {expected} pair(s)" in card
    assert "**`correct_vs_incorrect`**" in card and "SYNTHETIC-1" in card
    assert "config_name: preference" in card


def test_a_bad_pair_rule_is_a_user_error(chain, capsys):
    code = cli_main(["publish", "--input", str(chain["filter"]), "--output_dir", str(chain["root"] / "bad"),
                     "--preference_pairs", "longest"])  # fmt: skip
    assert code == 2 and "preference_pairs must be one of" in capsys.readouterr().err


def test_dpo_trains_on_the_published_pairs_and_its_card_names_the_rule(tiny_model_dir, published, tmp_path):
    recipe = Path(__file__).resolve().parents[1] / "train" / "recipes" / "dpo_smollm2_cpu.yaml"
    argv = ["--config", str(recipe), "--model_name_or_path", tiny_model_dir, "--dataset_name", str(published),
            "--output_dir", str(tmp_path / "out"), "--max_steps", "2", "--logging_steps", "1",
            "--learning_rate", "1e-3"]  # fmt: skip
    trainer = load_script("dpo").main(*parse_config((DataArguments, DPOConfig, ModelConfig), argv))
    assert trainer.state.global_step == 2
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)
    out = tmp_path / "out"
    assert (out / "model.safetensors").exists()
    card = (out / "README.md").read_text()
    assert "trained with TRL's DPO trainer" in card and "config `preference`" in card
    assert "## Preference pairs" in card and "**`correct_vs_incorrect`**" in card and "SYNTHETIC-1" in card
    assert "| beta | 0.1 |" in card
