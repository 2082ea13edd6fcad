"""A real install: the wheel built from this tree, installed non-editable, run from an empty folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_carries_the_cases_and_runs_from_an_empty_directory(tmp_path):
    wheels = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheels.glob("snnbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"snnbench/standard_cases/{n}.toml" for n in ("slstm", "sconv2dlstm", "leakyparallel", "alif",
                                                          "alifrecurrent")} <= set(names)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import snnbench; print(snnbench.__file__)"], cwd=empty, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target)), where            # the installed copy, not this checkout
    done = subprocess.run([sys.executable, "-m", "snnbench", "compare", "slstm", "--case", "x32-h32-subtract",
                           "--dtype", "float32"], cwd=empty, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    (report,) = (empty / "reports").glob("compare-*.json")
    assert json.loads(report.read_text())["results"][0]["verdict"] == "pass"
    version = subprocess.run([sys.executable, "-m", "snnbench", "--version"], cwd=empty, env=env,
                             capture_output=True, text=True, check=True).stdout
    assert version.split() == ["snnbench", json.loads(report.read_text())["snnbench"]]
