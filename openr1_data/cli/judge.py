"""`openr1-data judge`: ask an LLM judge about the traces math-verify could not settle (yes/no).

    openr1-data judge --input outputs/verified --output_dir outputs/judged --judge_model MODEL \
        --judge_base_url http://127.0.0.1:8000/v1
"""

from __future__ import annotations

from openr1_data.cli.common import parse_stage, write_results
from openr1_data.curate.llm_judge import JudgeConfig, judge_traces


def main(argv: list[str]) -> int:
    """Entry point of `openr1-data judge`: every row is kept, with the judge columns added."""
    io, config = parse_stage("judge", [JudgeConfig], argv)
    result = judge_traces(io.read(), config)
    write_results(io, result.kept, [result], {"judge_report": result.report.as_dict()})
    print(f"judged traces -> {io.output_dir}\n{result.report.table()}")
    return 0
