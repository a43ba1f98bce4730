"""`openr1-data label-steps`, `prm-select` and `summarize`: process supervision on traces, and summaries.

    openr1-data label-steps --input outputs/gen --output_dir outputs/labelled                      # rules (free)
    openr1-data label-steps --input outputs/gen --output_dir outputs/labelled --labeler rollouts \
        --rollouts_per_step 4 --stop_at_first_error true --teacher_model smollm2                    # Math-Shepherd
    openr1-data prm-select --input outputs/verified --output_dir outputs/best --prm_model outputs/prm

`label-steps` keeps every row and adds `steps`, `step_labels`, `first_error_step` and `step_label_source`; the
rollout continuations are generation-stage traces in `--rollout_dir` (default OUTPUT_DIR-rollouts): rerun the same
command after a kill and it resumes. The rollout teacher takes `openr1-data generate`'s teacher and sampling flags.
`prm-select` keeps the best `--per_problem` traces of each problem by a trained PRM's score. `summarize` asks a
second model (the same teacher flags) for a concise, verified `summary` of each trace's reasoning:

    openr1-data summarize --input outputs/curated --output_dir outputs/summarized --teacher_model MODEL
"""

from __future__ import annotations

import dataclasses
from dataclasses import MISSING, asdict

from openr1_data.cli.common import parse_stage, write_results
from openr1_data.curate.prm_scoring import PRMSelectConfig, select_by_prm
from openr1_data.curate.step_labels import StepLabelConfig, label_steps
from openr1_data.curate.summarize import SummaryConfig, summarize_traces
from openr1_data.generate.stage import GenerationConfig

# Generation flags the labeler sets itself (the folder, the continuation style, k).
_SET_BY_LABELER = {"output_dir", "prompt_styles", "num_generations"}


def _teacher_args() -> type:
    """`GenerationConfig`'s teacher and sampling fields as their own flags (owned there, not copied here)."""
    specs = []
    # The declared annotations, not `f.type`: an HfArgumentParser that parsed GenerationConfig before this
    # import has replaced `f.type` in place (`int | None` becomes `int`).
    declared = GenerationConfig.__annotations__
    for f in dataclasses.fields(GenerationConfig):
        if f.name in _SET_BY_LABELER:
            continue
        default = (
            dataclasses.field(default_factory=f.default_factory, metadata=f.metadata)
            if f.default_factory is not MISSING
            else dataclasses.field(default=f.default, metadata=f.metadata)
        )
        specs.append((f.name, declared.get(f.name, f.type), default))
    cls = dataclasses.make_dataclass("TeacherArgs", specs)
    cls.__module__ = GenerationConfig.__module__  # its annotations resolve where GenerationConfig's do
    cls.__doc__ = "The rollout teacher or summariser and its sampling (the flags of `openr1-data generate`)."
    return cls


TeacherArgs = _teacher_args()


def label_steps_main(argv: list[str]) -> int:
    """`openr1-data label-steps`: segment every trace into steps and label them (rules or rollouts)."""
    io, config, teacher = parse_stage("label-steps", [StepLabelConfig, TeacherArgs], argv)
    generation = None
    if config.labeler == "rollouts":
        config.rollout_dir = config.rollout_dir or f"{io.output_dir.rstrip('/')}-rollouts"
        generation = GenerationConfig(
            **asdict(teacher),
            output_dir=config.rollout_dir,
            num_generations=config.rollouts_per_step,
        )
    result = label_steps(io.read(), config, generation=generation)
    report = result.report
    write_results(io, result.kept, [result], {"step_labels_report": report.as_dict()})
    print(f"labelled the steps of {report.traces} traces -> {io.output_dir}\n{report.table()}")
    if config.labeler == "rollouts":
        print(f"rollouts: {config.rollout_dir} (rerun the same command to resume)")
    return 0


def prm_select_main(argv: list[str]) -> int:
    """`openr1-data prm-select`: keep the best-of-N traces of each problem by a trained PRM's score."""
    io, config = parse_stage("prm-select", [PRMSelectConfig], argv)
    result = select_by_prm(io.read(), config)
    funnel = write_results(io, result.kept, [result])
    print(funnel.table())
    print(f"kept {len(result.kept)} traces (best {config.per_problem} per problem by PRM) -> {io.output_dir}")
    return 0


def summarize_main(argv: list[str]) -> int:
    """`openr1-data summarize`: a concise, verified `summary` of each trace's reasoning by a second model."""
    io, config, teacher = parse_stage("summarize", [SummaryConfig, TeacherArgs], argv)
    config.summary_dir = config.summary_dir or f"{io.output_dir.rstrip('/')}-summaries"
    generation = GenerationConfig(**asdict(teacher), output_dir=config.summary_dir, num_generations=1)
    result = summarize_traces(io.read(), config, generation=generation)
    report = result.report
    write_results(io, result.kept, [result], {"summary_report": report.as_dict()})
    print(f"summarised {report.asked} of {report.traces} traces -> {io.output_dir}: {report.as_dict()}")
    print(f"summariser outputs: {config.summary_dir} (rerun the same command to resume)")
    return 0
