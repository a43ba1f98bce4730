"""The teach experiment: does curated data teach a student better? Split problems, generate once, build one
training set per arm, train the same student on each for the same budget over several seeds, evaluate on the
held-out split, and report with intervals (`pipelines/teach.py` runs it)."""
