"""Deduplication and decontamination: one text normalization (`normalize`), exact and MinHash near-duplicate
removal (`duplicates`), n-gram overlap with evaluation benchmarks (`decontaminate`).
"""
