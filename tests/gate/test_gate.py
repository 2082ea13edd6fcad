"""snnbench gate / merge / baseline: exit codes on real compare reports and synthetic bench reports."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from snnbench import judge, values
from snnbench.cli import app

import tiny
from reports import rederive

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY_CASES = FIXTURES / "slstm-tiny.toml"
BENCH = FIXTURES / "bench-small.json"

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def regressions(baseline: dict, current: dict, thresholds=judge.Thresholds()) -> list:
    return [c for c in judge.judge(baseline, current, thresholds).checks if c.status == "regression"]


def write(path: Path, report: dict) -> Path:
    path.write_text(json.dumps(report))
    return path


def assert_one_line_error(result, needle: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.stderr


# ---------------------------------------------------------------- a real, tiny compare report

@pytest.fixture(scope="module")
def compare_report(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("compare") / "base.json"
    result = invoke("compare", "slstm", "--case-file", TINY_CASES, "--json", path)
    assert result.exit_code == 0, result.output
    return path


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_compare_gate_reruns_the_baselines_cases_and_passes(compare_report, tmp_path):
    now, summary = tmp_path / "now.json", tmp_path / "summary.md"
    result = invoke("gate", compare_report, "--json", now, "--markdown", summary)
    assert result.exit_code == 0, result.output
    assert "gate OK" in result.output
    rerun = load(now)
    key = lambda r: (r["neuron"], r["case"], r["device"], r["dtype"])  # noqa: E731
    assert sorted(map(key, rerun["results"])) == sorted(map(key, load(compare_report)["results"]))
    assert summary.read_text().startswith("## snnbench gate (compare)")


def test_compare_report_against_itself(compare_report):
    assert invoke("gate", compare_report, compare_report).exit_code == 0


@pytest.mark.parametrize("before, after, code", [
    ("pass", "fail", 1), ("pass", "uninformative", 1), ("pass", "error", 1), ("pass", "skipped", 1),
    ("skipped", "skipped", 0), ("skipped", "pass", 0), ("fail", "fail", 0), ("fail", "error", 1),
])
def test_verdict_changes(compare_report, tmp_path, before, after, code):
    base, cur = load(compare_report), load(compare_report)
    base["results"][0]["verdict"] = before
    cur["results"][0]["verdict"] = after
    result = invoke("gate", write(tmp_path / "b.json", base), write(tmp_path / "c.json", cur))
    assert result.exit_code == code, result.output
    if code == 1:
        assert [(c.baseline, c.current, c.change) for c in regressions(base, cur)] == [(before, after, "worse")]


def test_disappeared_case_is_a_regression(compare_report, tmp_path):
    cur = load(compare_report)
    gone = cur["results"].pop(1)
    result = invoke("gate", compare_report, write(tmp_path / "c.json", cur))
    assert result.exit_code == 1
    assert [(c.change, c.key["case"]) for c in regressions(load(compare_report), cur)] == [("disappeared", gone["case"])]


def test_error_growth_beyond_factor_and_floor(compare_report, tmp_path):
    cur = load(compare_report)
    record = cur["results"][0]  # float32: atol 1e-5
    field = next(iter(record["forward"]))
    record["forward"][field]["max_abs"] = 100 * record["tolerance"]["atol"]
    current = write(tmp_path / "c.json", cur)
    assert invoke("gate", compare_report, current).exit_code == 1
    assert invoke("gate", compare_report, current, "--max-error-growth", "1000").exit_code == 0
    # growth of an error that stays below the tolerance's floor is no regression
    record["forward"][field]["max_abs"] = 0.5 * record["tolerance"]["atol"]
    assert invoke("gate", compare_report, write(tmp_path / "c2.json", cur)).exit_code == 0
    # gradients: max_rel against grad_rtol
    grad = next(iter(record["backward"]))
    record["backward"][grad]["max_rel"] = 50 * record["tolerance"]["grad_rtol"]
    record["forward"][field]["max_abs"] = 0.0
    assert invoke("gate", compare_report, write(tmp_path / "c3.json", cur)).exit_code == 1


def test_rerun_on_a_device_this_machine_lacks_exits_2(compare_report, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    base = load(compare_report)
    for r in base["results"]:
        r["device"] = "cuda"
    assert_one_line_error(invoke("gate", write(tmp_path / "b.json", base)), "CUDA is not available")


def test_kinds_must_match(compare_report):
    result = invoke("gate", compare_report, BENCH)
    assert_one_line_error(result, "same kind")


def test_only_compare_and_bench_reports_are_judged_in_pairs():
    from snnbench.errors import ReportError

    other = {"kind": "sweepish", "results": [], "environment": {}}
    with pytest.raises(ReportError, match="gate judges compare and bench reports"):
        judge.judge(other, other)


# ---------------------------------------------------------------- bad input: exit 2, one line

@pytest.mark.parametrize("content, needle", [
    (None, "no such report"),
    ('{"schema_version": 1, "kind": "compare", "environment": {}, "results": {}}', "malformed report"),
    ("truncated", "not valid JSON"),
    ('{"schema_version": 99, "kind": "compare", "environment": {}, "results": []}', "newer than this snnbench"),
    ('{"kind": "compare"}', "no schema_version"),
])
def test_bad_reports_exit_2_with_one_line(tmp_path, content, needle):
    path = tmp_path / "bad.json"
    if content == "truncated":
        text = BENCH.read_text()
        path.write_text(text[: len(text) // 2])
    elif content is not None:
        path.write_text(content)
    assert_one_line_error(invoke("gate", path, BENCH), needle)
    assert_one_line_error(invoke("gate", BENCH, path), needle)


def test_bad_thresholds_exit_2():
    assert_one_line_error(invoke("gate", BENCH, BENCH, "--max-slowdown", "fast"), "--max-slowdown")
    assert_one_line_error(invoke("gate", BENCH, BENCH, "--max-error-growth", "0.5"), "--max-error-growth")


def test_threshold_syntax():
    assert values.parse_fraction("10%", "x") == pytest.approx(0.1)
    assert values.parse_fraction("0.1", "x") == pytest.approx(0.1)
    assert values.parse_fraction(" 2.5% ", "x") == pytest.approx(0.025)


# ---------------------------------------------------------------- synthetic bench reports

@pytest.fixture
def bench() -> dict:
    return load(BENCH)


def rows(report: dict, mode: str | None = None, impl: str | None = None) -> list[dict]:
    return [r for r in report["results"] if (mode is None or r["mode"] == mode) and (impl is None or r["impl"] == impl)]


def slow_speedup(report: dict, factor: float, mode: str = "forward") -> None:
    for c in report["comparisons"]:
        if c["mode"] == mode:
            c["ratios"] = [r / factor for r in c["ratios"]]
    rederive(report)


def test_bench_report_against_itself(bench, tmp_path):
    assert invoke("gate", BENCH, write(tmp_path / "c.json", bench)).exit_code == 0


def test_speedup_30_percent_worse_with_tight_samples_is_a_regression(bench, tmp_path):
    slow_speedup(bench, 1.3)
    current = write(tmp_path / "c.json", bench)
    result = invoke("gate", BENCH, current)
    assert result.exit_code == 1, result.output
    outcome = judge.judge(load(BENCH), bench)
    bad = [c for c in outcome.checks if c.status == "regression"]
    assert [(c.metric, c.key["mode"]) for c in bad] == [("speedup", "forward")]
    assert invoke("gate", BENCH, current, "--max-slowdown", "40%").exit_code == 0
    assert invoke("gate", BENCH, current, "--max-slowdown", "0.4").exit_code == 0


def test_straddling_the_threshold_with_wide_samples_is_inconclusive(bench, tmp_path):
    spread = np.linspace(0.5, 1.5, 15)
    base = copy.deepcopy(bench)
    for report, factor, order in ((base, 1.0, spread), (bench, 1.15, spread[::-1])):
        for c in report["comparisons"]:
            c["ratios"] = [2.0 * s / factor for s in order]
        rederive(report)
    result = invoke("gate", write(tmp_path / "b.json", base), write(tmp_path / "c.json", bench))
    assert result.exit_code == 3, result.output
    assert "inconclusive" in result.output
    # the same slowdown with tight samples is a regression
    slow_speedup(base, 1.0)
    for c in base["comparisons"]:
        c["ratios"] = [2.0 * (1 + 0.005 * np.sin(i)) for i in range(15)]
    for c in bench["comparisons"]:
        c["ratios"] = [2.0 / 1.15 * (1 + 0.005 * np.cos(i)) for i in range(15)]
    rederive(base), rederive(bench)
    assert invoke("gate", write(tmp_path / "b.json", base), write(tmp_path / "c.json", bench)).exit_code == 1


def test_bootstrap_is_repeatable(bench):
    base = copy.deepcopy(bench)
    for c in bench["comparisons"]:
        c["ratios"] = [2.0 / 1.2 * (1 + 0.3 * np.sin(i)) for i in range(15)]
    a = [c.detail for c in judge.judge(base, bench).checks]
    b = [c.detail for c in judge.judge(base, bench).checks]
    assert a == b and any("CI" in d for d in a)


def test_memory_growth(bench, tmp_path):
    for r in rows(bench, impl="native"):
        r["peak_mem_bytes"] = int(r["peak_mem_bytes"] * 1.05)
    assert invoke("gate", BENCH, write(tmp_path / "c.json", bench)).exit_code == 0
    for r in rows(bench, mode="train", impl="native"):
        r["peak_mem_bytes"] = int(r["peak_mem_bytes"] * 1.2)
    result = invoke("gate", BENCH, write(tmp_path / "c.json", bench))
    assert result.exit_code == 1
    assert [(c.metric, c.key["mode"]) for c in regressions(load(BENCH), bench)] == [("peak_mem_bytes", "train")]
    assert invoke("gate", BENCH, write(tmp_path / "c.json", bench), "--max-memory-growth", "30%").exit_code == 0


def _everything_slower(report: dict, factor: float) -> None:
    for r in report["results"]:
        r["samples_s"] = [s * factor for s in r["samples_s"]]
    rederive(report)


def another_cpu(report: dict) -> None:
    """The same host name, CPU label and threads, but another CPU underneath (the issue's case:
    two "AMD EPYC" VMs, a Zen 3 with AVX2 and a Zen 4 with AVX-512)."""
    fingerprint = report["environment"]["fingerprint"]
    fingerprint.update(cpu_model_id="17", cpu_capability="AVX512")


def test_absolute_times_only_on_the_same_machine(bench, tmp_path):
    _everything_slower(bench, 1.3)  # a slower machine: ratios hold, absolute times do not
    same = write(tmp_path / "same.json", bench)
    result = invoke("gate", BENCH, same)
    assert result.exit_code == 1
    assert {c.metric for c in regressions(load(BENCH), bench)} == {"median_s"}
    another_cpu(bench)
    other = write(tmp_path / "other.json", bench)
    result = invoke("gate", BENCH, other)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "the machines differ" in said and "AVX2 vs AVX512" in said, result.output
    result = invoke("gate", BENCH, other, "--absolute")
    assert result.exit_code == 1 and "the machines differ" in " ".join(result.output.split())
    absolute = judge.Thresholds(absolute=True)
    assert {c.metric for c in regressions(load(BENCH), bench, absolute)} == {"median_s"}


def test_same_machine_is_judged_on_the_fingerprint(bench):
    assert judge.same_machine(bench, bench)
    renamed = copy.deepcopy(bench)
    renamed["environment"]["machine"] = "another-runner"      # CI runners get new host names
    assert judge.same_machine(bench, renamed)
    other = copy.deepcopy(bench)
    another_cpu(other)                                         # same label, another CPU
    assert other["environment"]["cpu"] == bench["environment"]["cpu"]
    assert not judge.same_machine(bench, other)
    threads = copy.deepcopy(bench)
    threads["environment"]["torch_threads"] = 4
    assert not judge.same_machine(bench, threads)


def test_a_report_without_a_fingerprint_is_an_unknown_machine(bench, tmp_path):
    old = copy.deepcopy(bench)
    del old["environment"]["fingerprint"]                     # made before fingerprints existed
    assert not judge.same_machine(old, old)
    _everything_slower(bench, 1.3)
    slow_speedup(bench, 1.3)
    result = invoke("gate", write(tmp_path / "old.json", old), write(tmp_path / "c.json", bench))
    assert result.exit_code == 0, result.output
    assert "cannot be told to be the same" in " ".join(result.output.split())


def test_merged_reports_from_several_machines_are_not_one_machine(bench):
    other = copy.deepcopy(bench)
    second = copy.deepcopy(bench["environment"])
    another_cpu({"environment": second})
    other["environments"] = [bench["environment"], second]
    assert judge.same_machine(bench, bench) and not judge.same_machine(bench, other)


def test_sol_ratio_regression(bench, tmp_path):
    for r in rows(bench, mode="train", impl="native"):
        r["samples_s"] = [s * 1.3 for s in r["samples_s"]]
    rederive(bench)
    another_cpu(bench)  # only the same-run figure can tell, and only when asked to judge it
    strict = judge.Thresholds(strict=True)
    outcome = judge.judge(load(BENCH), bench, strict)
    assert [(c.metric, c.key["mode"]) for c in outcome.checks if c.status == "regression"] == [("sol_ratio", "train")]
    assert judge.judge(load(BENCH), bench).exit_code == 0


def test_disappeared_bench_result_and_comparison(bench, tmp_path):
    bench["comparisons"].pop()
    bench["results"] = [r for r in bench["results"] if not (r["mode"] == "train" and r["impl"] == "native")]
    result = invoke("gate", BENCH, write(tmp_path / "c.json", bench))
    assert result.exit_code == 1
    assert sorted(c.metric for c in regressions(load(BENCH), bench) if c.change == "disappeared") == ["result", "speedup"]


def test_bench_gate_reruns_the_baselines_cases_modes_and_impls(tmp_path):
    cases = tmp_path / "tiny.toml"
    cases.write_text(tiny.SLSTM)
    base, now = tmp_path / "base.json", tmp_path / "now.json"
    made = invoke("bench", "slstm", "--case-file", cases, "--quick", "--mode", "train", "--impl", "all",
                  "--no-memory", "--json", base)
    assert made.exit_code == 0, made.output
    # the same code: no regression, however noisy the quick rerun, once a slowdown must pass 10x
    result = invoke("gate", base, "--quick", "--max-slowdown", "900%", "--json", now)
    assert result.exit_code == 0, result.output
    assert "gate" in result.output and "checks" in result.output
    key = lambda r: (r["neuron"], r["case"], r["device"], r["dtype"], r["mode"], r["impl"])  # noqa: E731
    assert sorted(map(key, load(now)["results"])) == sorted(map(key, load(base)["results"]))
    assert {r["mode"] for r in load(now)["results"]} == {"train"}


# ---------------------------------------------------------------- merge and baselines

def test_merge_of_two_shards_equals_the_whole(compare_report, tmp_path):
    shards = []
    for i in (1, 2):
        path = tmp_path / f"shard{i}.json"
        assert invoke("compare", "slstm", "--case-file", TINY_CASES, "--shard", f"{i}/2", "--json", path).exit_code == 0
        shards.append(path)
    merged = tmp_path / "merged.json"
    result = invoke("merge", merged, *shards)
    assert result.exit_code == 0, result.output
    whole, joined = load(compare_report), load(merged)

    def strip(report):
        return sorted((json.dumps({k: v for k, v in r.items() if k != "duration_s"}, sort_keys=True)
                       for r in report["results"]))

    assert strip(joined) == strip(whole)
    assert len(joined["environments"]) == 2 and joined["environment"] == joined["environments"][0]
    assert invoke("gate", compare_report, merged).exit_code == 0
    assert invoke("gate", merged, compare_report).exit_code == 0


def test_merge_refuses_duplicates_and_mixed_kinds(compare_report, tmp_path):
    assert_one_line_error(invoke("merge", tmp_path / "m.json", compare_report, compare_report), "duplicate result")
    assert_one_line_error(invoke("merge", tmp_path / "m.json", compare_report, BENCH), "same kind")
    assert not (tmp_path / "m.json").exists()


def test_merge_bench_reports(bench, tmp_path):
    forward, train = copy.deepcopy(bench), bench
    forward["results"] = rows(bench, mode="forward")
    forward["comparisons"] = [c for c in bench["comparisons"] if c["mode"] == "forward"]
    train["results"] = rows(bench, mode="train")
    train["comparisons"] = [c for c in bench["comparisons"] if c["mode"] == "train"]
    merged = tmp_path / "merged.json"
    assert invoke("merge", merged, write(tmp_path / "f.json", forward), write(tmp_path / "t.json", train)).exit_code == 0
    assert invoke("gate", BENCH, merged).exit_code == 0
    assert len(load(merged)["comparisons"]) == 2


def test_baseline_command_stores_a_report(compare_report, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("baseline", compare_report, "--name", "compare")
    assert result.exit_code == 0, result.output
    stored = tmp_path / "reports" / "baselines" / "compare.json"
    assert load(stored)["results"] == load(compare_report)["results"]
    assert_one_line_error(invoke("baseline", compare_report, "--name", "../evil"), "--name")
    assert_one_line_error(invoke("baseline", tmp_path / "missing.json", "--name", "x"), "no such report")


def test_committed_baseline_loads():
    root = Path(__file__).resolve().parents[2]
    report = load(root / "reports" / "baselines" / "compare.json")
    assert report["kind"] == "compare" and report["results"]
    assert all("case_spec" in r for r in report["results"])


# ---------------------------------------------------------------- machines and memory, on real runs

SMALL_SLSTM = """
[[case]]
name = "small"
bench = true
neuron = "slstm"
steps = 20
batch = 16
sample_shape = [32]
seed = 3
[case.params]
input_size = 32
hidden_size = 64
threshold = 0.05
"""


def _bench_tiny(tmp_path: Path, name: str, *args) -> Path:
    tiny = tmp_path / "small.toml"
    tiny.write_text(SMALL_SLSTM)
    path = tmp_path / name
    made = invoke("bench", "slstm", "--case-file", tiny, "--quick", "--json", path, *args)
    assert made.exit_code == 0, made.output
    return path


@pytest.mark.slow
def test_a_baseline_from_another_cpu_against_unchanged_code_is_not_a_regression(tmp_path):
    """The issue's case: the same code, a baseline from another CPU whose ratios differ (there:
    SConv2dLSTM forward 1.72x -> 1.38x, ALIFRecurrent train 3.06x -> 2.20x)."""
    # Slow: two real bench runs. By default the parts run on their own: a baseline's cases rerun
    # (test_bench_gate_reruns_the_baselines_cases_modes_and_impls), "the machines differ" from the
    # fingerprint (test_absolute_times_only_on_the_same_machine), --strict (test_sol_ratio_regression).
    base = load(_bench_tiny(tmp_path, "here.json", "--no-memory"))
    another_cpu(base)
    for c in base["comparisons"]:
        c["ratios"] = [r * 10 for r in c["ratios"]]    # that CPU favoured ours (a lot, to leave noise no say)
    for r in rows(base, impl="native"):
        r["samples_s"] = [s / 10 for s in r["samples_s"]]
    rederive(base)
    baseline = write(tmp_path / "other-cpu.json", base)
    result = invoke("gate", baseline, "--json", tmp_path / "now.json")   # the baseline's cases, run here now
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "the machines differ" in said and "AVX512 vs " in said, result.output
    strict = invoke("gate", baseline, tmp_path / "now.json", "--strict")
    assert strict.exit_code == 1, strict.output
    assert {c.metric for c in regressions(base, load(tmp_path / "now.json"), judge.Thresholds(strict=True))} \
        == {"speedup", "sol_ratio"}


@pytest.mark.slow
def test_two_quick_runs_of_the_same_code_are_never_a_memory_regression(tmp_path):
    first = _bench_tiny(tmp_path, "first.json", "--impl", "native")
    second = _bench_tiny(tmp_path, "second.json", "--impl", "native")
    a, b = load(first), load(second)
    assert all(r["peak_mem_bytes"] > 0 for r in rows(a, impl="native") + rows(b, impl="native"))
    for x, y in ((a, b), (b, a)):
        checks = [c for c in judge.judge(x, y).checks if c.metric == "peak_mem_bytes"]
        assert len(checks) == 2 and all(c.status in ("ok", "improved") for c in checks), checks


def test_memory_growth_needs_the_share_and_the_floor(bench, tmp_path):
    def peaks(base_bytes, current_bytes, **kw):
        b, c = copy.deepcopy(bench), copy.deepcopy(bench)
        for r in rows(b, mode="forward", impl="native"):
            r["peak_mem_bytes"] = base_bytes
        for r in rows(c, mode="forward", impl="native"):
            r["peak_mem_bytes"] = current_bytes
        return [x.status for x in judge.judge(b, c, judge.Thresholds(**kw)).checks
                if x.metric == "peak_mem_bytes" and x.key["mode"] == "forward"]

    assert peaks(8 * 1024, 12 * 1024) == ["ok"]                      # +50%, but 4 KiB: two quick runs
    assert peaks(10 * 2 ** 20, 12 * 2 ** 20) == ["regression"]      # +20% and 2 MiB
    assert peaks(10 * 2 ** 20, 12 * 2 ** 20, min_memory_growth=4 * 2 ** 20) == ["ok"]
    assert peaks(12 * 2 ** 20, 8 * 2 ** 20) == ["improved"]
    result = invoke("gate", BENCH, BENCH, "--min-memory-growth", "lots")
    assert_one_line_error(result, "--min-memory-growth")
    assert values.parse_size("1MiB", "x") == 2 ** 20 and values.parse_size("512 KiB", "x") == 2 ** 19
    assert values.parse_size("2MB", "x") == 2_000_000 and values.parse_size("4096", "x") == 4096


def test_sol_ratio_interval_keeps_each_rounds_pair(bench):
    """Ours and the speed of light slowed together, round by round (a busy machine): their paired
    ratio is steady, so a 30% change of it is a clear regression. Resampled apart, the common
    swings would hide it."""
    swings = [1.0, 3.0, 1.5, 4.0, 2.0, 1.2, 3.5, 2.5, 1.1, 3.2, 1.8, 2.2, 4.5, 1.4, 2.8]
    base, cur = copy.deepcopy(bench), copy.deepcopy(bench)
    for report, ours in ((base, 1.0e-3), (cur, 1.3e-3)):
        for r in rows(report, mode="forward"):
            seconds = ours if r["impl"] == "native" else 0.25e-3 if r["impl"] == "sol" else 2e-3
            r["samples_s"] = [seconds * s for s in swings]
        rederive(report)
    check = next(c for c in judge.judge(base, cur).checks if c.metric == "sol_ratio" and c.key["mode"] == "forward")
    assert check.status == "regression" and check.change == "30.0% slower", check
    def samples(report, impl):
        return np.array(rows(report, mode="forward", impl=impl)[0]["samples_s"])

    unpaired = [(samples(cur, "native"), 1), (samples(cur, "sol"), -1), (samples(base, "native"), -1),
                (samples(base, "sol"), 1)]
    lo, hi = judge.slowdown_interval(unpaired, judge.Thresholds(), "x")
    assert lo < 1.1 < hi          # the same figure, each set resampled apart: inconclusive


def test_options_that_go_with_rev_are_refused_without_it():
    assert_one_line_error(invoke("gate", BENCH, "--case", "bench-small"), "--case goes with --rev")
    assert_one_line_error(invoke("gate", BENCH, "--mode", "forward"), "--mode goes with --rev")
    assert_one_line_error(invoke("gate", BENCH, BENCH, "--json", "x.json"), "runs nothing")
