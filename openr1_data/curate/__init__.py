"""Curation: answer verification (`verify`, on the math-verify engine in `answer_verifier`), the LLM judge
(`llm_judge`), format/quality filters (`filters`), selection and pass rates (`selection`), RLT explanation scoring
(`rlt_scoring`) and best-of-K RLT selection (`rlt_select`).
"""
