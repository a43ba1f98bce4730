"""Training students: TRL configs and script setup (`setup`), the reward registry shared with the filters
(`rewards`) and evaluation on benchmarks (`evaluation`).
"""
