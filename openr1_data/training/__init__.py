"""Training students: TRL configs (`configs`), chat templates and EOS handling (`chat_template`), training data
and GRPO prompts (`data`), model/reward/vLLM glue of the scripts (`setup`), the reward registry shared with the
filters (`rewards`) and evaluation on benchmarks (`evaluation`).
"""
