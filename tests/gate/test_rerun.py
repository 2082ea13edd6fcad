"""Re-running a saved report's cases (gate BASELINE), merging reports, and the noise probe."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snnbench import merge, rerun
from snnbench.bench import noise
from snnbench.cli import app
from snnbench.errors import ReportError

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def bench_report(cases: Path, tmp_path: Path, *args) -> dict:
    path = tmp_path / f"bench-{len(list(tmp_path.iterdir()))}.json"
    made = invoke("bench", "slstm", "--case-file", cases, "--quick", "--json", path, *args)
    assert made.exit_code == 0, made.output
    return json.loads(path.read_text())


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


def test_bench_records_carry_the_noise_around_their_rounds(tiny_case_file, tmp_path):
    report = bench_report(tiny_case_file, tmp_path, "--mode", "forward", "--no-memory")
    for r in report["results"]:
        n = r["noise"]
        assert n["threads"] == report["settings"]["threads"] and n["wall_s"] > 0
        assert len(n["loadavg_before"]) == len(n["loadavg_after"]) == 3


# ---------------------------------------------------------------- the noise probe

def test_a_competing_process_is_seen():
    """Processes burning every core while a probe is open: the probe sees their CPU time."""
    import os

    cores = os.cpu_count() or 1
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores)]
    try:
        time.sleep(0.2)
        probe = noise.Probe(threads=cores)
        time.sleep(0.8)
        record = probe.finish()
    finally:
        for p in burners:
            p.kill()
            p.wait()
    if record["others_cores"] is None:
        pytest.skip("no /proc/stat here")
    assert record["others_cores"] > 0.5, record
    assert "other processes used" in noise.warning(record)


def test_noise_warning_rules():
    quiet = {"cores": 4, "threads": 2, "others_cores": 2.1, "loadavg_after": [3.5, 1, 1], "steal": 0.01}
    assert noise.warning(quiet) is None                    # others used the two free cores, no more
    assert "other processes used 2.50 cores" in noise.warning(dict(quiet, others_cores=2.5))
    assert "load average 4.50 over 4 cores" in noise.warning(dict(quiet, loadavg_after=[4.5, 1, 1]))
    assert "stole 10%" in noise.warning(dict(quiet, steal=0.1))
    short = {"cores": 2, "threads": 2, "others_cores": None, "loadavg_after": None, "steal": None}
    assert noise.warning(short) is None
