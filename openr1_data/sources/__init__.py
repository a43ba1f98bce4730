"""Problem sources: problem files and Hub sets (`problems`), RLT pair layouts (`layouts`), the bundled
grade-school generator (`bundled`) and the evaluation-benchmark registry (`benchmarks`).
"""
