"""Training students: TRL configs (`configs`), chat templates and EOS handling (`chat_template`), training data
and GRPO prompts (`data`), the SFT run (`sft`), model/reward/vLLM glue of the scripts (`setup`), model cards
(`model_card`), the reward package with the one registry shared with the filters (`rewards`), the process reward
model (`prm`) and evaluation on benchmarks (`evaluation`).
"""
