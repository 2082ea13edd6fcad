"""Re-running a saved report's cases (gate BASELINE) and merging reports. (The noise probe:
tests/bench/test_noise.py.)"""

from __future__ import annotations

import copy

import pytest
from typer.testing import CliRunner

from snnbench import merge, rerun
from snnbench.cli import app

from reports import bench_report
from snnbench.errors import ReportError

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_a_float64_baseline_runs_again_in_float64(tiny_case_file, tmp_path):
    base = bench_report(tiny_case_file, tmp_path, "--dtype", "float64", "--mode", "forward", "--impl", "native", "--no-memory")
    now = rerun.rerun(base, "base.json", quick=True)
    key = lambda r: (r["neuron"], r["case"], r["device"], r["dtype"], r["mode"], r["impl"])  # noqa: E731
    assert sorted(map(key, now["results"])) == sorted(map(key, base["results"]))
    assert {r["dtype"] for r in now["results"]} == {"float64"}


def test_the_baselines_timing_and_memory_settings_are_honoured(tiny_case_file, tmp_path):
    base = bench_report(tiny_case_file, tmp_path, "--mode", "forward", "--impl", "native", "--no-memory")
    base["settings"].update(min_time_s=0.02, min_repeats=5, max_repeats=9, warmup_calls=1, warmup_s=0.0)
    now = rerun.rerun(base, "base.json")
    assert now["settings"] == base["settings"]
    assert all(r["peak_mem_bytes"] is None for r in now["results"])      # the baseline measured none
    assert {len(r["samples_s"]) for r in now["results"]} <= set(range(5, 10))
    faster = rerun.rerun(base, "base.json", min_time=0.01)
    assert faster["settings"]["min_time_s"] == 0.01


def test_merge_keeps_settings_and_sweep_and_refuses_different_settings(tiny_case_file, tmp_path):
    forward = bench_report(tiny_case_file, tmp_path, "--mode", "forward", "--no-memory")
    train = bench_report(tiny_case_file, tmp_path, "--mode", "train", "--no-memory")
    for report in (forward, train):
        report["sweep"] = {"key": "steps", "values": [4], "case": "tiny"}
    merged = merge.merge([forward, train], ["forward.json", "train.json"])
    assert merged["settings"] == forward["settings"] and merged["sweep"] == forward["sweep"]
    other = copy.deepcopy(train)
    other["settings"]["min_time_s"] = 5.0
    with pytest.raises(ReportError, match="settings.min_time_s: 0.05 in forward.json, 5.0 here"):
        merge.merge([forward, other], ["forward.json", "other.json"])
    del other["sweep"]
    other["settings"] = forward["settings"]
    with pytest.raises(ReportError, match="sweep: present in forward.json, absent here"):
        merge.merge([forward, other], ["forward.json", "other.json"])
