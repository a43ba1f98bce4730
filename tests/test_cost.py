"""What each kept row cost: every step of a chain records its wall time, CPU seconds and tokens in the funnel, and
the card prices them per step and per kept row with the user's prices.

The chain runs through the CLI with the real OpenAI client against a local server that scripts its replies and
reports its own token usage (3 tokens per choice), so the tokens out on the card are the server's count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from openr1_data.cli import main as cli_main
from openr1_data.funnel import CostMeter, Funnel, StepCost
from openr1_data.io import read_dataset
from openr1_data.publish.cost import CostPrices, cost_table
from openr1_data.sources.bundled import bundled_problems
from tests.scripted_openai import ScriptedOpenAIServer

PROBLEMS = bundled_problems(6)


def reply(body: dict, index: int) -> str:
    """The right answer for even samples, a wrong one for odd: the filter keeps some and removes some."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    row = next(r for r in PROBLEMS if r["problem"] in user)
    answer = row["answer"] if (body.get("seed") or 0) % 2 == 0 else "-1"
    return f"<think>\nWork it out.\n</think>\nSo \\boxed{{{answer}}}."


def run(*argv: str) -> None:
    assert cli_main(list(argv)) == 0, argv


def test_a_meter_counts_cpu_of_the_process_and_of_the_children_it_waited_for():
    meter = CostMeter()
    end = time.process_time() + 0.3
    while time.process_time() < end:  # 0.3 s of this process's CPU
        pass
    own = meter.lap("busy")
    assert own.cpu_s >= 0.25 and own.wall_s >= own.cpu_s * 0.9 and own.gpu_s is None
    code = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    subprocess.run([sys.executable, "-c", code], check=True)
    child = meter.lap("child", tokens_in=5, tokens_out=7)
    assert child.cpu_s >= 0.25, child  # a child's CPU counts once it was waited for
    assert (child.tokens_in, child.tokens_out) == (5, 7)


def test_prices_turn_seconds_and_tokens_into_money_per_kept_row():
    funnel = Funnel(
        costs=[StepCost("generate", 100.0, 7200.0, 3600.0, 1_000_000, 3_000_000), StepCost("verify", 2, 36)]
    )
    table = cost_table(
        funnel, CostPrices(cpu_hour_cost=0.5, gpu_hour_cost=2.0, token_cost_per_million=0.25), 10
    )
    assert table is not None
    generate, verify = table["steps"]
    assert generate["cost"] == pytest.approx(
        2 * 0.5 + 1 * 2.0 + 4 * 0.25
    )  # 2 CPU hours, 1 GPU hour, 4M tokens
    assert verify["cost"] == pytest.approx(0.01 * 0.5)
    assert table["total"]["cost"] == pytest.approx(4.005) and table["total"][
        "cost_per_kept_row"
    ] == pytest.approx(0.4005)
    assert table["total"]["tokens_out"] == 3_000_000 and table["total"]["gpu_s"] == 3600.0
    unpriced = cost_table(funnel, CostPrices(), 10)
    assert unpriced is not None and unpriced["total"]["cost"] is None
    assert cost_table(Funnel(), CostPrices(), 10) is None
    with pytest.raises(ValueError, match="--gpu_hour_cost must be >= 0"):
        CostPrices(gpu_hour_cost=-1)


def test_the_card_shows_each_steps_time_tokens_and_cost_per_kept_row(tmp_path):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("\n".join(json.dumps(row) for row in PROBLEMS))
    gen, ver, cur, ds = (tmp_path / n for n in ("gen", "ver", "cur", "ds"))
    with ScriptedOpenAIServer(reply) as server:
        run("generate", "--problems", str(problems), "--output_dir", str(gen), "--teacher_backend", "openai",
            "--base_url", server.base_url, "--teacher_model", "scripted", "--num_generations", "2")  # fmt: skip
    run("verify", "--input", str(gen), "--output_dir", str(ver), "--verify_num_proc", "0")
    run("filter", "--input", str(ver), "--output_dir", str(cur))
    run(
        "publish", "--input", str(cur), "--output_dir", str(ds), "--cpu_hour_cost", "3600"
    )  # 1 per CPU second

    costs = {c["step"]: c for c in json.loads((cur / "funnel.json").read_text())["costs"]}
    assert list(costs) == ["generate", "verify", "filter+select"]  # one row per command of the chain
    traces = read_dataset(str(gen / "data"))
    assert (
        costs["generate"]["tokens_out"] == sum(traces["completion_tokens"]) == 3 * len(traces)
    )  # the server's
    assert costs["generate"]["tokens_in"] > 0 and costs["verify"]["tokens_out"] is None
    assert all(c["wall_s"] > 0 and c["cpu_s"] >= 0 for c in costs.values())

    kept = len(read_dataset(str(ds), config="sft"))
    assert 0 < kept < len(traces)
    card = (ds / "README.md").read_text()
    assert "## Cost: what each step spent" in card and "Prices (USD): 3600.0 per CPU hour." in card
    rows = {line.split("|")[1].strip(): line for line in card.splitlines() if line.startswith("| ")}
    total_cpu = sum(c["cpu_s"] for c in costs.values())
    cells = [cell.strip() for cell in rows["total"].split("|")[1:-1]]
    assert float(cells[6]) == pytest.approx(
        total_cpu, rel=0.01, abs=0.01
    )  # cost = CPU seconds at 1 per second
    assert float(cells[7]) == pytest.approx(total_cpu / kept, rel=0.01, abs=0.01)


def test_a_pipeline_charges_verify_apart_from_filter():
    from openr1_data.curate.filters import FilterConfig
    from openr1_data.curate.selection import SelectionConfig
    from openr1_data.curate.verify import VerifyConfig
    from openr1_data.funnel import PipelineRecord
    from openr1_data.pipeline import curate_traces

    rows = []
    for i, problem in enumerate(PROBLEMS[:3]):
        answer = problem["answer"]
        rows.append({**problem, "completion": f"<think>Work.</think> \\boxed{{{answer}}}", "reasoning": "Work.",
                     "final": f"\\boxed{{{answer}}}", "predicted_answer": answer, "finish_reason": "stop",
                     "completion_tokens": 5, "prompt_style": "r1_think", "trace_id": f"t{i}", "problem_id": f"p{i}"})  # fmt: skip
    from datasets import Dataset

    run_record = PipelineRecord()
    curate_traces(
        run_record,
        Dataset.from_list(rows),
        VerifyConfig(verify_num_proc=0),
        FilterConfig(),
        SelectionConfig(),
    )
    assert [c.step for c in run_record.funnel.costs] == ["verify", "filter", "select"]
    assert Funnel.from_dict(json.loads(json.dumps(run_record.funnel.to_dict()))) == run_record.funnel
