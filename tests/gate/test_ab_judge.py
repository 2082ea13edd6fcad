"""A/B against a git revision, the judge's side: gate needs a baseline or a revision, and the judge
on synthetic A/B reports (the evidence rule, memory, a case the tree cannot run), saved A/B reports
gated alone, merged, and refused when their figures do not follow from their samples.
(The worker and real clones: tests/bench/test_ab_worker.py.)"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from snnbench import judge
from snnbench.cli import app

from reports import rederive

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def one_line_error(result, needle: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.stderr


# ---------------------------------------------------------------- usage errors

def test_gate_needs_a_baseline_or_a_revision():
    one_line_error(invoke("gate"), "--rev REV")


# ---------------------------------------------------------------- the judge on A/B reports

def ab_report(ratio: float = 1.0, spread: float = 0.01, n: int = 15, peaks=(4_000_000, 4_000_000)) -> dict:
    rng = np.random.default_rng(3)
    base = (1e-3 * (1 + spread * rng.standard_normal(n))).tolist()
    current = [b * ratio * (1 + spread * rng.standard_normal()) for b in base]
    ratios = [c / b for c, b in zip(current, base)]
    side = lambda samples, peak: {"samples_s": samples, "median_s": float(np.median(samples)), "iqr_s": 0.0,  # noqa: E731
                                  "repeats": n, "peak_mem_bytes": peak, "error": None}
    record = {"neuron": "leakyparallel", "case": "small", "device": "cpu", "dtype": "float32", "mode": "forward",
              "impl": "native", "base": side(base, peaks[0]), "current": side(current, peaks[1]), "ratios": ratios,
              "slowdown": float(np.median(ratios)), "ci": [0.0, 0.0], "n_pairs": n,
              "mem_method": "cpu-peak-rss-worker", "train_fields": None, "noise": None, "warnings": [],
              "case_spec": {}}
    return rederive({"schema_version": 3, "kind": "ab", "environment": {}, "results": [record],
                     "revisions": {"base": {"rev": "HEAD~1", "commit": "a" * 40, "dirty": False},
                                   "current": {"rev": "working tree", "commit": "b" * 40, "dirty": True}}})


def statuses(report: dict, **thresholds) -> dict[str, str]:
    return {c.metric: c.status for c in judge.judge_ab(report, judge.Thresholds(**thresholds)).checks}


def test_ab_judge_evidence_rule():
    assert statuses(ab_report(1.0)) == {"slowdown": "ok", "peak_mem_bytes": "ok"}
    assert statuses(ab_report(11.0))["slowdown"] == "regression"
    assert statuses(ab_report(1.3))["slowdown"] == "regression"
    assert statuses(ab_report(1.3), max_slowdown=0.5)["slowdown"] == "ok"
    assert statuses(ab_report(0.7))["slowdown"] == "improved"
    assert statuses(ab_report(1.15, spread=0.3))["slowdown"] == "inconclusive"


def test_ab_memory_needs_the_share_and_the_bytes():
    assert statuses(ab_report(peaks=(8 * 1024, 12 * 1024)))["peak_mem_bytes"] == "ok"         # +50%, 4 KiB
    assert statuses(ab_report(peaks=(10 * 2 ** 20, 12 * 2 ** 20)))["peak_mem_bytes"] == "regression"
    assert statuses(ab_report(peaks=(10 * 2 ** 20, 12 * 2 ** 20)), min_memory_growth=4 * 2 ** 20)[
        "peak_mem_bytes"] == "ok"


def test_ab_a_case_the_working_tree_cannot_run_is_a_regression():
    report = ab_report()
    broken = copy.deepcopy(report)
    broken["results"][0]["current"]["error"] = "RuntimeError: shapes do not match"
    outcome = judge.judge_ab(broken)
    assert outcome.exit_code == 1 and outcome.checks[0].detail.startswith("RuntimeError")
    new = copy.deepcopy(report)
    new["results"][0]["base"]["error"] = "CaseError: unknown key"
    assert judge.judge_ab(new).exit_code == 0


def test_a_saved_ab_report_is_gated_alone(tmp_path):
    path = tmp_path / "ab.json"
    path.write_text(json.dumps(ab_report(11.0)))
    result = invoke("gate", path)
    assert result.exit_code == 1, result.output
    assert "(leakyparallel)" in result.output.strip().splitlines()[-1]
    one_line_error(invoke("gate", path, path), "judges it alone")
    shown = invoke("report", path)
    assert shown.exit_code == 0 and "11.00x" in shown.output


def test_ab_reports_merge_only_within_one_comparison(tmp_path):
    from snnbench import merge
    from snnbench.errors import ReportError

    forward, train = ab_report(), ab_report()
    train["results"][0]["mode"] = "train"
    for r in (forward, train):
        r["settings"] = {"min_time_s": 1.0}
    merged = merge.merge([forward, train], ["f.json", "t.json"])
    assert merged["revisions"] == forward["revisions"] and len(merged["results"]) == 2
    train["revisions"]["base"]["commit"] = "c" * 40
    with pytest.raises(ReportError, match="revisions.base"):
        merge.merge([forward, train], ["f.json", "t.json"])


def processes_apart(report: dict, slowdowns: list[float]) -> dict:
    """The report's rounds as len(slowdowns) pairs of processes, pair k's current samples scaled so
    its ratios sit around slowdowns[k] (what one process's core can do to unchanged code)."""
    record = report["results"][0]
    n, k = len(record["ratios"]), len(slowdowns)
    record["ratio_process"] = [i * k // n for i in range(n)]
    record["process_pairs"] = k
    base = record["base"]["samples_s"]
    record["current"]["samples_s"] = [base[i] * slowdowns[record["ratio_process"][i]] for i in range(n)]
    return rederive(report)


def test_ab_pairs_of_processes_that_disagree_are_not_evidence():
    """Rounds that all read 25% slower from one process are a regression; the same median from four
    pairs of processes of which two read 1.0 and two 1.5 is not evidence of a change: the interval
    over the pairs reaches below the threshold."""
    assert statuses(ab_report(1.25, n=40))["slowdown"] == "regression"
    apart = processes_apart(ab_report(1.0, n=40), [1.0, 1.5, 1.0, 1.5])
    assert 1.1 < apart["results"][0]["slowdown"]
    assert statuses(apart)["slowdown"] == "inconclusive"
    together = processes_apart(ab_report(1.0, n=40), [1.3, 1.3, 1.3, 1.3])
    assert statuses(together)["slowdown"] == "regression"


def test_an_ab_report_whose_ratio_processes_do_not_match_its_ratios_is_refused(tmp_path):
    report = processes_apart(ab_report(1.0), [1.0, 1.0])
    report["results"][0]["ratio_process"].pop()
    path = tmp_path / "ab.json"
    path.write_text(json.dumps(report))
    one_line_error(invoke("gate", path), "key 'ratio_process' holds")


def test_an_ab_report_whose_ratios_do_not_follow_from_its_samples_is_refused(tmp_path):
    report = ab_report(1.3)
    report["results"][0]["ratios"][2] *= 2       # the pair's samples say otherwise
    path = tmp_path / "ab.json"
    path.write_text(json.dumps(report))
    one_line_error(invoke("gate", path), "key 'ratios[2]' is")
    report = ab_report(1.3)
    report["results"][0]["slowdown"] = 1.0       # the median of the ratios is 1.3
    path.write_text(json.dumps(report))
    one_line_error(invoke("report", path), "key 'slowdown' is 1.0 but the median of ratios is")
