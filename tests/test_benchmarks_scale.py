"""benchmarks/scale.py: the workload it plants, its table, and the whole chain at 200 traces (so it cannot rot)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "scale.py"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module
    spec.loader.exec_module(module)
    return module


def test_workload_plants_near_duplicates_and_benchmark_items(scale):
    workload = scale.Workload()
    near, before = workload.problem_of(49), workload.problem_of(48)
    assert near != before and near[1] == before[1]
    assert sum(a != b for a, b in zip(near[0].split(), before[0].split(), strict=True)) == 1
    assert workload.problem_of(500) in workload.planted
    assert workload.problem_of(7) != workload.problem_of(8)
    think = workload.thinking_of(3, 2000)
    assert len(think) >= 2000 and think == workload.thinking_of(3, 2000) != workload.thinking_of(4, 2000)


def test_format_table_gives_one_line_per_stage(scale):
    run = scale.Run(wall=2.0, cpu=4.0, peak_rss=1.5, peak_anon=0.5, stdout="")
    rows = [
        scale.StageRow("verify", 1000, 900, run, 3 * 2**20, baseline=run, limit=750.0),
        scale.StageRow("dedup", 900, 880, run, 2**20),
    ]
    table = scale.format_table(rows).splitlines()
    assert len(table) == 4 and table[0].count("|") == table[2].count("|") == table[3].count("|")
    assert table[2].split("|")[1:8] == [" verify ", " 1,000 ", " 900 ", " 2.0 ", " 4.0 ", " 500 ", " 250 "]
    assert " 750 |" in table[2] and table[3].endswith("| - | - | - | - |")


def test_chain_at_200_traces(scale, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    table = scale.run_chain(200, tmp_path, chars=800, num_proc=1, baseline=False, limit_sample=20, echo=print)
    counts = {r.stage: (r.rows_in, r.rows_out) for r in table}
    # 100 input rows, two traces each, one wrong: filter keeps the right half; row 49 near-duplicates row 48
    assert counts == {
        "import": (200, 200),
        "verify": (200, 200),
        "filter": (200, 100),
        "dedup": (100, 98),
        "decontaminate": (98, 98),
        "publish": (98, 98),
    }
    assert all(r.run.cpu > 0 and r.run.peak_rss > 0 and r.disk > 0 and r.limit for r in table)
    # the baseline of dedup (datasketch LSH) finds the same near-duplicate
    out = tmp_path / "baseline-dedup"
    out.mkdir()
    scale.baseline_child("dedup", scale.data_files(tmp_path / "filter"), str(out), 1)
    assert pq.ParquetFile(out / "data.parquet").metadata.num_rows == 98
