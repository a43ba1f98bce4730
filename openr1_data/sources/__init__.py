"""Problem sources: problem files and Hub sets (`problems`), RLT pair layouts (`layouts`), code and multiple-choice
layouts (`code_problems`, `mcq_problems`) and a row's domain (`domains`), the bundled grade-school generator
(`bundled`) and the evaluation-benchmark registry (`benchmarks`).
"""
