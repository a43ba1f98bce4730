"""Summaries by a second model: requested through the generation stage (a real scripted HTTP summariser), kept only
when their answer verifies, resumable, and used as the SFT assistant's final part by `--final_from summary`."""

from __future__ import annotations

import pytest
from datasets import Dataset, load_dataset

from openr1_data.curate.summarize import SummaryConfig, summarize_traces
from openr1_data.generate.stage import GenerationConfig
from openr1_data.publish.local import PublishConfig, publish_local
from openr1_data.schema import ContractError
from tests.scripted_openai import ScriptedOpenAIServer


def _summariser(body: dict, index: int) -> str:
    """Concise and right for a reasoning that found 14; for the other one, it gets the answer wrong."""
    user = body["messages"][-1]["content"]
    return "Add, then double: 7 x 2 = 14. \\boxed{14}" if "= 14" in user else "So it is \\boxed{13}."


def _rows() -> list[dict]:
    base = {
        "answer": "14",
        "source": "test",
        "completion_tokens": 40,
        "finish_reason": "stop",
        "prompt_style": "r1",
    }
    return [
        dict(
            base,
            problem="What is (3 + 4) x 2?",
            problem_id="p1",
            trace_id="t1",
            reasoning="Hmm. 3 + 4 = 7. Wait, let me redo it. 3 + 4 = 7, and 7 x 2 = 14.",
            final="\\boxed{14}",
            completion="...",
        ),  # fmt: skip
        dict(
            base,
            problem="What is 7 x 2?",
            problem_id="p2",
            trace_id="t2",
            reasoning="I think it is 15.",
            final="\\boxed{15}",
            completion="...",
        ),  # fmt: skip
        dict(
            base,
            problem="What is 2 x 7?",
            problem_id="p3",
            trace_id="t3",
            reasoning="",
            final="\\boxed{14}",
            completion="...",
            completion_tokens=2,
        ),  # fmt: skip
    ]


def test_a_summary_is_kept_only_when_it_verifies_and_the_run_resumes(tmp_path):
    with ScriptedOpenAIServer(_summariser) as server:
        gen = GenerationConfig(teacher_backend="openai", teacher_model="summariser", base_url=server.base_url)
        config = SummaryConfig(summary_dir=str(tmp_path / "summaries"), progress=False)
        result = summarize_traces(Dataset.from_list(_rows()), config, generation=gen)
        report = result.report
        assert len(server.requests) == 2  # the trace without reasoning is not sent
        # requests stream concurrently: any order
        sent = [r["messages"][-1]["content"] for r in server.requests]
        assert any("A long solution:\nHmm. 3 + 4 = 7." in text for text in sent)
        assert result.kept["summary"] == ["Add, then double: 7 x 2 = 14. \\boxed{14}", None, None]
        assert result.kept["summary_correct"] == [True, False, None]
        assert (report.asked, report.verified, report.failed_verification) == (2, 1, 1)
        again = summarize_traces(Dataset.from_list(_rows()), config, generation=gen)
        assert len(server.requests) == 2 and again.kept["summary"] == result.kept["summary"]
    with pytest.raises(ValueError, match="summary_dir"):
        summarize_traces(Dataset.from_list(_rows()), SummaryConfig(), generation=gen)

    folder = tmp_path / "dataset"
    publish_local(folder, result.kept.select([0, 1]), settings=PublishConfig(final_from="summary"))
    messages = load_dataset(str(folder), "sft", split="train")["messages"]
    assert messages[0][1]["content"].endswith("</think>\n\nAdd, then double: 7 x 2 = 14. \\boxed{14}")
    assert messages[1][1]["content"].endswith("</think>\n\n\\boxed{15}")  # no verified summary: its own final
    with pytest.raises(ContractError, match="openr1-data summarize"):
        publish_local(tmp_path / "other", Dataset.from_list(_rows()), final_from="summary")
    with pytest.raises(ValueError, match="final_from"):
        PublishConfig(final_from="summary_text")
