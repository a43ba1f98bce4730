"""The generation stage: `stage` (`generate_traces`: the resumable stage folder and its trace rows), `plan` (the
traces to write and their per-trace seeds), `scheduler` (streaming requests to a teacher), `shards` (atomic Parquet
shards), `server_pool` (several servers as one teacher), `ray_runner` (replicas on a Ray cluster) and
`budget_forcing` (s1 answer forcing, RLT explanation closing).
"""
