"""Reports for tests: a quick bench report made through the command line (:func:`bench_report`),
and report editing: after a test changes a report's raw samples or ratios, the figures a writer
derives from them are derived again (:func:`rederive`), as snnbench's own writers do (the loader
refuses a report whose figures do not follow from its samples)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from snnbench.bench import stats
from snnbench.cli import app


def bench_report(cases: Path, tmp_path: Path, *args) -> dict:
    """``snnbench bench slstm --case-file CASES --quick`` with ``args``, its report loaded (a new
    file in ``tmp_path`` each call)."""
    path = tmp_path / f"bench-{len(list(tmp_path.iterdir()))}.json"
    made = CliRunner().invoke(app, [str(a) for a in ("bench", "slstm", "--case-file", cases, "--quick", "--json", path,
                                                     *args)])
    assert made.exit_code == 0, made.output
    return json.loads(path.read_text())


def _side(record: dict) -> None:
    samples = record["samples_s"]
    record["median_s"] = stats.median(samples) if samples else None
    record["iqr_s"] = stats.iqr(samples) if samples else None
    record["repeats"] = len(samples)


def _paired(record: dict, point: str) -> None:
    ratios = record["ratios"]
    record[point] = stats.median(ratios) if ratios else None
    record["n_pairs"] = len(ratios)
    clusters = record.get("ratio_process")
    if ratios and clusters is not None and len(clusters) == len(ratios):
        record["ci"] = list(stats.bootstrap_median_ci_clustered(ratios, clusters))
    else:
        record["ci"] = list(stats.bootstrap_median_ci(ratios)) if ratios else None


def rederive(report: dict) -> dict:
    """The report (changed in place) with every derived figure computed from its samples again."""
    for record in report["results"]:
        if report["kind"] == "bench":
            _side(record)
            batch, median = record["case_spec"]["batch"], record["median_s"]
            old = record.get("throughput") or {}
            if median and old.get("sequences_per_s"):
                scale = old["sequences_per_s"] * median / batch      # 1 / the old median, times the new one
                record["throughput"] = {k: (v / scale if v is not None else None) for k, v in old.items()}
            elif not median:
                record["throughput"] = {k: None for k in old}
        elif report["kind"] == "ab":
            _side(record["base"])
            _side(record["current"])
            n = min(len(record["base"]["samples_s"]), len(record["current"]["samples_s"]))
            record["ratios"] = stats.paired_ratios(record["current"]["samples_s"][:n], record["base"]["samples_s"][:n])
            _paired(record, "slowdown")
    for comparison in report.get("comparisons", []):
        _paired(comparison, "speedup")
    return report
