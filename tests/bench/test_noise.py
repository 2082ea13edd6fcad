"""The noise probe: bench records carry the noise around their rounds, a competing process is seen,
and when the noise earns a warning. (Re-running a saved report: tests/gate/test_rerun.py.)"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from snnbench.bench import noise

from reports import bench_report


def test_bench_records_carry_the_noise_around_their_rounds(tiny_case_file, tmp_path):
    report = bench_report(tiny_case_file, tmp_path, "--mode", "forward", "--no-memory")
    for r in report["results"]:
        n = r["noise"]
        assert n["threads"] == report["settings"]["threads"] and n["wall_s"] > 0
        assert len(n["loadavg_before"]) == len(n["loadavg_after"]) == 3


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
