"""The generation stage: `stage` (plan, resumable Parquet shards, trace rows) and `budget_forcing` (s1 answer
forcing, RLT explanation closing).
"""
