"""Baselines: reports kept under reports/baselines/NAME.json, committed, and gated against."""

from __future__ import annotations

from pathlib import Path

from snnbench import outputs, results
from snnbench.cases import NAME_PATTERN
from snnbench.errors import SnnbenchError

BASELINES_DIR = results.REPORTS_DIR / "baselines"


def path_of(name: str) -> Path:
    if not NAME_PATTERN.match(name) or name.startswith("."):
        raise SnnbenchError(f"--name {name!r}: use only letters, digits, '-', '_' and '.' (not first)")
    return BASELINES_DIR / f"{name}.json"


def store(report_path: str | Path, name: str) -> tuple[Path, dict]:
    """Load (checking and upgrading to the current schema) and save atomically as baseline NAME
    (replacing the baseline of that name, but never the report being stored)."""
    target = path_of(name)
    outputs.check({f"--name {name}": target}, [report_path])
    report = results.load(report_path)
    return results.save(report, target), report
