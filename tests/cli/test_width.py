"""Tables read at 80 columns (a CI log): no neuron, case or record name is broken across lines,
and the gate's lines fit."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from snnbench import catalog, judge, specs
from snnbench.render import bench as bench_render
from snnbench.render import catalog as render
from snnbench.render import gate as gate_render
from snnbench.cli import app

ROOT = Path(__file__).resolve().parents[2]
BENCH_CPU = ROOT / "reports" / "baselines" / "bench-cpu.json"
COMPARE = ROOT / "reports" / "baselines" / "compare.json"


def printed(draw) -> str:
    out = io.StringIO()
    draw(Console(file=out, width=80, force_terminal=False, color_system=None))
    return out.getvalue()


def lines_of(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


def assert_whole(text: str, names) -> None:
    lines = lines_of(text)
    broken = [n for n in names if not any(n in line for line in lines)]
    assert not broken, f"broken across lines: {broken}\n{text}"


@pytest.fixture(scope="module")
def bench_cpu() -> dict:
    from snnbench import results

    return results.load(BENCH_CPU)


def names(report: dict) -> set[str]:
    return {r["neuron"] for r in report["results"]} | {r["case"] for r in report["results"]}


def test_bench_tables(bench_cpu):
    text = printed(lambda c: bench_render.print_bench(bench_cpu, c, "reports/baselines/bench-cpu.json"))
    assert_whole(text, names(bench_cpu))
    table_lines = text.split("steps/s: neuron-steps")[0]
    assert max(map(len, lines_of(table_lines))) <= 80


def test_gate_table_fits_and_keeps_names_whole(bench_cpu):
    current = copy.deepcopy(bench_cpu)
    for c in current["comparisons"]:
        c["ratios"] = [r / 1.3 for r in c["ratios"]]
    outcome = judge.judge(bench_cpu, current, judge.Thresholds(strict=True))
    text = printed(lambda c: gate_render.print_gate(outcome, c, "reports/baselines/bench-cpu.json", "now.json"))
    records = {f"{r['neuron']}/{r['case']}" for r in bench_cpu["results"]}
    assert_whole(text, records | {"speedup", "sol_ratio", "peak_mem_bytes", "regression"})
    table = [ln for ln in lines_of(text.split("warning:")[0]) if not ln.startswith("gate ")]  # the summary: one line
    assert max(map(len, table)) <= 80, table
    summary = lines_of(text)[-1]
    assert summary.startswith("gate REGRESSION (exit 1):") and "now.json" in summary   # one line, not wrapped


def test_compare_gate_table(tmp_path):
    from snnbench import results

    base = results.load(COMPARE)
    current = copy.deepcopy(base)
    for r in current["results"][::7]:
        r["verdict"] = "uninformative"
    outcome = judge.judge(base, current)
    text = printed(lambda c: gate_render.print_gate(outcome, c, "compare.json", "now.json"))
    assert_whole(text, {f"{r['neuron']}/{r['case']}" for r in current["results"][::7]})
    assert max(map(len, lines_of(text)[:-1])) <= 80


def test_ab_table(bench_cpu):
    records = []
    for r in bench_cpu["results"]:
        if r["impl"] != "native":
            continue
        side = {"samples_s": r["samples_s"], "median_s": r["median_s"], "iqr_s": r["iqr_s"],
                "peak_mem_bytes": r["peak_mem_bytes"], "error": None}
        records.append({**{k: r[k] for k in ("neuron", "case", "device", "dtype", "mode", "impl")},
                        "base": side, "current": side, "ratios": [1.0] * 9, "slowdown": 1.0, "ci": [0.98, 1.02],
                        "n_pairs": 9, "mem_method": "cpu-peak-rss-worker", "warnings": []})
    report = {"kind": "ab", "environment": bench_cpu["environment"], "results": records,
              "revisions": {"base": {"rev": "HEAD~1", "commit": "a" * 40},
                            "current": {"rev": "working tree", "commit": "b" * 40, "dirty": True}}}
    text = printed(lambda c: bench_render.print_ab(report, c))
    assert_whole(text, names(bench_cpu))
    assert max(map(len, lines_of(text.split("timed in turns")[0]))) <= 80


def test_list(monkeypatch):
    text = printed(lambda c: render.print_catalog(catalog.describe(), [], c))
    every_case = {c.name for n in specs.names() for c in specs.standard_cases(n)}
    assert_whole(text, every_case | set(specs.names()))
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    assert_whole(result.output, every_case)


def test_gate_markdown_is_one_row_per_check(bench_cpu):
    outcome = judge.judge(bench_cpu, bench_cpu)
    text = gate_render.markdown(outcome, "a.json", "b.json")
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + len(gate_render.shown(outcome))
    assert json.dumps(text)  # plain text
