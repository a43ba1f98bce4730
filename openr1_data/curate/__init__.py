"""Curation: answer verification (`verify`: dispatch per domain, on the math-verify engine in `answer_verifier`, the
code sandbox in `sandbox` / `sandbox_boot` and `code_verify`, and the choice-letter check in `mcq`), the LLM judge
and its client (`llm_judge`), format/quality filters (`filters`), selection and pass rates (`selection`), RLT
explanation scoring (`rlt_scoring`) and best-of-K RLT selection (`rlt_select`), reasoning steps and their checks
(`steps`), step labels (`step_labels`), PRM scoring and best-of-N selection (`prm_scoring`), and verified summaries
(`summarize`).
"""
