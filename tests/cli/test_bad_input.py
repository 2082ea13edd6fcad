"""Bad input never wins (issue 16): broken case files, malformed reports, odd paths and options.

Each bad input gets its honest exit code (2 for a usage or input error) and ONE line of output;
nothing the user had is overwritten or replaced (file bytes, mode and type compared before and
after); every report written is strict JSON. The rules these tests hold, and where they live:
numbers are checked where they enter (snnbench/limits.py, cases.py, specs), output paths before
any work (snnbench/outputs.py), reports field by field on reading (snnbench/schema.py), strict JSON
on writing (results.to_json), and consoles that never read text as markup (cli.py).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from snnbench import results, specs, verify
from snnbench.cases import DEFAULT_TOLERANCES
from snnbench.cli import app

import tiny
from reports import rederive

runner = CliRunner()

LEAKY = """
[[case]]
name = "leaky"
neuron = "leakyparallel"
steps = 4
batch = 2
sample_shape = [8]
[case.params]
input_size = 8
hidden_size = 8
beta = 0.5
threshold = 0.1
"""

ALIF = """
[[case]]
name = "alif"
neuron = "alif"
steps = 4
batch = 2
sample_shape = [8]
[case.params]
tau_mem = 10.0
tau_adapt = 20.0
spike_threshold = 0.2
"""


# ---------------------------------------------------------------- helpers

def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in (result.output or ""), result.output
    return result


def strict_json(path: Path) -> dict:
    """json.loads that refuses NaN, Infinity and -Infinity (not JSON)."""
    def refuse(token):
        raise ValueError(f"{path}: {token} is not JSON")

    return json.loads(Path(path).read_text(), parse_constant=refuse)


def snapshot(folder: Path, extra: tuple = ()) -> dict:
    """Every file under ``folder`` (and ``extra`` paths): its type, mode, device and bytes."""
    seen = {}
    paths = [p for p in folder.rglob("*")] + [Path(p) for p in extra]
    for path in paths:
        st = os.lstat(path)
        data = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
        seen[str(path)] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_rdev, data)
    return seen


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Run in an empty folder (default reports would go to ./reports)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refused(folder: Path, args: list, needle: str, code: int = 2, extra: tuple = ()) -> str:
    """Run a bad command: its exit code, one line naming the problem, nothing written or changed."""
    before = snapshot(folder, extra)
    result = invoke(*args)
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert needle in lines[0], lines[0]
    assert snapshot(folder, extra) == before, "a bad command changed or left files"
    return lines[0]


def case_file(folder: Path, text: str, name: str = "cases.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# ---------------------------------------------------------------- numbers in case files

@pytest.mark.parametrize("text, key", [
    # a NaN tolerance passed every value (NaN comparisons are false)
    (tiny.SLSTM + "[case.tolerance.float32]\natol = nan\nrtol = 0.0\n", "tolerance.float32.atol"),
    (tiny.SLSTM + "[case.tolerance.float64]\ngrad_rtol = inf\n", "tolerance.float64.grad_rtol"),
    (tiny.SLSTM.replace("threshold = 0.05", "threshold = nan"), "params.threshold"),
    (tiny.SLSTM.replace("threshold = 0.05", "threshold = inf"), "params.threshold"),
    (tiny.SLSTM.replace("threshold = 0.05", "threshold = [0.1, -inf]"), "params.threshold[1]"),
    (tiny.SLSTM.replace("threshold = 0.05", 'threshold = 0.05\nspike_grad = { type = "atan", alpha = nan }'),
     "params.spike_grad.alpha"),
    (tiny.SLSTM + '[case.input]\ndist = "normal"\nmean = 0.0\nstd = inf\n', "input.std"),
    (tiny.SLSTM + '[case.input]\ndist = "normal"\nmean = -inf\n', "input.mean"),
    (LEAKY.replace("beta = 0.5", "beta = nan"), "params.beta"),
    (ALIF.replace("tau_mem = 10.0", "tau_mem = inf"), "params.tau_mem"),
    (ALIF.replace("tau_mem = 10.0", "tau_mem = 10.0\ntrain_alphas = true\ntau_syn = nan"), "params.tau_syn"),
])
def test_non_finite_numbers_in_a_case_are_refused(here, text, key):
    path = case_file(here, text)
    line = refused(here, ["compare", "all", "--case-file", path], f"key '{key}'")
    assert path.name in line and "finite" in line


@pytest.mark.parametrize("text, key, why", [
    (tiny.SLSTM.replace("seed = 3", f"seed = {2 ** 63 - 1}"), "seed", "from 0 to 2**62 - 1"),
    (tiny.SLSTM.replace("seed = 3", "seed = -1"), "seed", "from 0 to 2**62 - 1"),
    (tiny.SLSTM.replace('threshold = 0.05', 'threshold = "0.1"'), "params.threshold", "must be a number"),
    (tiny.SLSTM.replace('threshold = 0.05', 'threshold = true'), "params.threshold", "must be a number"),
    (tiny.SLSTM.replace('threshold = 0.05', 'threshold = 0.05\nlearn_threshold = "yes"'), "params.learn_threshold",
     "true or false"),
    (tiny.SLSTM.replace('threshold = 0.05', 'threshold = 0.05\nbias = 2'), "params.bias", "true or false"),
    (tiny.SLSTM.replace('reset_mechanism = "subtract"', 'reset_mechanism = 3'), "params.reset_mechanism",
     "must be a string"),
    (tiny.SLSTM.replace('threshold = 0.05', 'threshold = 0.05\nspike_grad = { type = "atan", alpha = "2" }'),
     "params.spike_grad.alpha", "must be a number"),
    (tiny.SLSTM.replace('threshold = 0.05', 'threshold = 0.05\nspike_grad = { type = 5 }'), "params.spike_grad.type",
     "no spike_grad function"),
    (LEAKY.replace("beta = 0.5", 'beta = 0.5\nlearn_beta = 1'), "params.learn_beta", "true or false"),
    (LEAKY.replace("beta = 0.5", 'beta = 0.5\ndropout = "0"'), "params.dropout", "must be a number"),
    (ALIF.replace("tau_mem = 10.0", "tau_mem = 10.0\nnorm_input = 0"), "params.norm_input", "true or false"),
    (ALIF.replace("tau_mem = 10.0", "tau_mem = 10.0\nadapt_scale = false"), "params.adapt_scale",
     "must be a number"),
    (tiny.SLSTM.replace("steps = 4", "steps = 1000000000000"), "steps", "at most 2147483647"),
    (tiny.SLSTM.replace("batch = 2", "batch = 1000000000000"), "batch", "at most 2147483647"),
    (tiny.SLSTM.replace("sample_shape = [8]", "sample_shape = [8000000000000]"), "sample_shape", "at most"),
])
def test_wrong_types_and_ranges_in_a_case_are_refused(here, text, key, why):
    line = refused(here, ["compare", "all", "--case-file", case_file(here, text)], f"key '{key}'")
    assert why in line


def test_the_largest_seed_runs(here):
    path = case_file(here, tiny.SLSTM.replace("seed = 3", f"seed = {2 ** 62 - 1}"))
    result = invoke("compare", "slstm", "--case-file", path, "--dtype", "float32", "--json", here / "r.json")
    assert result.exit_code == 0, result.output
    assert strict_json(here / "r.json")["results"][0]["case_spec"]["seed"] == 2 ** 62 - 1


def test_a_case_that_cannot_fit_in_memory_is_refused_with_the_estimate(here):
    huge = tiny.SLSTM.replace("batch = 2", "batch = 100000000")
    path = case_file(here, huge)
    for command in (["compare", "slstm"], ["bench", "slstm", "--quick"], ["sweep", "slstm", "--vary", "steps=2,3"]):
        line = refused(here, command + ["--case-file", path, "--json", here / "r.json"], "needs about")
        assert "case 'tiny" in line and "available" in line and "iB" in line


def test_the_memory_estimate_bounds_a_measured_run():
    """The issue's run: steps 100000, batch 1, 8 neurons peaked at 2.96 GB; the estimate is above."""
    from snnbench import footprint

    (case,) = [c for c in specs.standard_cases("slstm") if c.params["input_size"] == c.params["hidden_size"]][:1]
    case = case.with_sizes(steps=100000, batch=1, sample_shape=(8,)).with_params(input_size=8, hidden_size=8)
    assert footprint.estimate(case, "float64") > 2.96e9


# ---------------------------------------------------------------- numbers in options

@pytest.mark.parametrize("args, needle", [
    (["compare", "slstm", "--seed", "99999999999999999999"], "--seed must be an integer from 0 to 2**62 - 1"),
    (["compare", "slstm", "--seed", "-3"], "--seed must be an integer from 0"),
    (["bench", "slstm", "--threads", "100000"], "--threads must be from 1 to"),
    (["bench", "slstm", "--threads", "0"], "--threads must be from 1 to"),
    (["profile", "slstm", "--threads", "100000"], "--threads must be from 1 to"),
    (["bench", "slstm", "--min-time", "inf"], "--min-time must be a positive number"),
    (["bench", "slstm", "--min-time", "nan"], "--min-time must be a positive number"),
    (["sweep", "slstm", "--vary", "threshold=nan,inf"], "values must be finite"),
    (["sweep", "slstm", "--vary", "threshold=0.1,inf"], "values must be finite"),
    (["sweep", "slstm", "--vary", "steps=10,1000000000000"], "at most 2147483647"),
    (["profile", "slstm", "--calls", "0"], "--calls must be from 1 to"),
    (["gate", "x.json", "--max-slowdown", "nan"], "--max-slowdown"),
    (["compare", "slstm", "--shard", "5/99999999999999"], "--shard"),
])
def test_out_of_range_options_are_refused(here, args, needle):
    refused(here, args, needle)


def test_an_empty_shard_is_refused(here):
    path = case_file(here, tiny.SLSTM)
    refused(here, ["compare", "slstm", "--case-file", path, "--shard", "2/2"], "--shard 2/2 holds no case (1 case")
    refused(here, ["bench", "slstm", "--case-file", path, "--shard", "3/3"], "holds no case")


def test_device_names_are_read_case_insensitively(here):
    path = case_file(here, tiny.SLSTM)
    result = invoke("compare", "slstm", "--case-file", path, "--dtype", "float32", "--device", "CPU",
                    "--json", here / "r.json")
    assert result.exit_code == 0, result.output
    assert strict_json(here / "r.json")["results"][0]["device"] == "cpu"
    refused(here, ["compare", "slstm", "--device", "tpu"], "--device must be cpu, cuda or cuda:N")


# ---------------------------------------------------------------- usage errors and --version

@pytest.mark.parametrize("args, needle", [
    (["compare"], "Missing argument"),
    (["compare", "slstm", "--nosuch"], "No such option: --nosuch"),
    (["bench", "slstm", "--threads", "x"], "Invalid value for '--threads'"),
    (["compare", "slstm", "--seed", "abc"], "Invalid value for '--seed'"),
    (["nosuchcommand"], "No such command"),
    (["merge"], "Missing argument"),
    (["gate", "--nosuch"], "No such option: --nosuch"),
])
def test_usage_errors_are_one_line(here, args, needle):
    line = refused(here, args, needle)
    assert line.startswith("error:") and "--help" in line


def test_version_and_bare_help():
    from snnbench import __version__

    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"snnbench {__version__}"
    bare = invoke()
    assert "Usage" in bare.output and "compare" in bare.output


# ---------------------------------------------------------------- case files and cases

def test_a_directory_as_case_file(here):
    refused(here, ["compare", "slstm", "--case-file", here], "is a directory, not a case file")


def test_an_unknown_case_among_many_is_one_short_line(here):
    many = "".join(tiny.SLSTM.replace('name = "tiny"', f'name = "c{i}"') for i in range(1000))
    line = refused(here, ["compare", "slstm", "--case-file", case_file(here, many), "--case", "c10x"],
                   "unknown case 'c10x'")
    assert len(line) < 200 and "1000 cases" in line and "c10" in line


# ---------------------------------------------------------------- user text is not markup

@pytest.mark.parametrize("text, needle", [
    (tiny.SLSTM.replace('reset_mechanism = "subtract"', 'reset_mechanism = "sub[/]tract"'), "'sub[/]tract'"),
    (tiny.SLSTM.replace('reset_mechanism = "subtract"', 'reset_mechanism = "[bold]zero"'), "'[bold]zero'"),
    (tiny.SLSTM.replace('threshold = 0.05', 'threshold = 0.05\n"weird[/]key" = 1'), "'weird[/]key'"),
    (tiny.SLSTM.replace('threshold = 0.05', 'threshold = 0.05\n":smile:" = 1'), "':smile:'"),
])
def test_bracketed_text_in_errors_is_printed_as_it_is(here, text, needle):
    refused(here, ["compare", "slstm", "--case-file", case_file(here, text)], needle)


def test_bracketed_folder_names_are_printed_as_they_are(here):
    folder = here / "run[/]one [bold]x"       # folders "run[" and "]one [bold]x"
    folder.mkdir(parents=True)
    path = case_file(folder, tiny.SLSTM)
    out = folder / "r.json"
    result = invoke("compare", "slstm", "--case-file", path, "--dtype", "float32", "--json", out)
    assert result.exit_code == 0, result.output
    assert "[/]one [bold]x" in " ".join(result.output.split())
    shown = invoke("report", out)
    assert shown.exit_code == 0 and "[/]one [bold]x" in " ".join(shown.output.split())
    gated = invoke("gate", out, out, "--markdown", folder / "g[x].md")
    assert gated.exit_code == 0 and "run[/]one [bold]x" in " ".join(gated.output.split())
    refused(here, ["compare", "slstm", "--case", "a[red]b"], "'a[red]b'")


# ---------------------------------------------------------------- NaN on both sides is no difference

def test_matching_non_finite_values_are_no_difference():
    tol = DEFAULT_TOLERANCES["float32"]
    nan, inf = float("nan"), float("inf")
    both = torch.tensor([[nan, inf, -inf, 1.0]])
    d = verify.grad_diff(both, both.clone(), tol)
    assert d["ok"] and d["max_abs"] == 0 and d["non_finite"] == 3
    assert not verify.grad_diff(torch.tensor([[nan, 1.0]]), torch.tensor([[0.0, 1.0]]), tol)["ok"]
    assert not verify.grad_diff(torch.tensor([[inf]]), torch.tensor([[-inf]]), tol)["ok"]
    f = verify.field_diff(both, both.clone(), tol)
    assert f["mismatches"] == 0 and f["non_finite"] == 3
    one_side = verify.field_diff(torch.tensor([[1.0, 2.0]]), torch.tensor([[inf, 2.0]]), tol)
    assert one_side["mismatches"] == 1 and one_side["max_abs"] == inf


def test_a_case_driving_both_sides_to_nan_is_not_a_failure(here):
    """Input values of 1e300 overflow float32 on both sides: every state and gradient is NaN or
    infinite in both; that is no difference (a finding), and the report is strict JSON."""
    text = tiny.SLSTM + '[case.input]\ndist = "normal"\nmean = 0.0\nstd = 1e300\n'
    out = here / "r.json"
    result = invoke("compare", "slstm", "--case-file", case_file(here, text), "--dtype", "float32", "--json", out)
    record = strict_json(out)["results"][0]
    assert record["verdict"] != "fail", record["reason"]
    assert any("non-finite values" in f for f in record["findings"])
    assert result.exit_code == (0 if record["verdict"] == "pass" else 1)


# ---------------------------------------------------------------- strict JSON reports

def test_non_finite_numbers_are_written_as_null_with_a_note_and_read_back(tmp_path):
    record = {"neuron": "slstm", "case": "a", "device": "cpu", "dtype": "float32", "impl": "native",
              "verdict": "fail", "spike_rate": float("nan"),
              "forward": {"spk/x": {"max_abs": float("inf"), "max_rel": float("-inf"), "mismatches": 1,
                                    "first_divergent_step": 0, "per_step_max_abs": [1.0, float("inf")]}}}
    path = results.save(results.new_report("compare", {}, [record]), tmp_path / "r.json")
    data = strict_json(path)
    assert data["results"][0]["forward"]["spk/x"]["max_abs"] is None
    assert {(n["path"], n["value"]) for n in data["non_finite"]} == {
        ("/results/0/spike_rate", "nan"), ("/results/0/forward/spk~1x/max_abs", "inf"),
        ("/results/0/forward/spk~1x/max_rel", "-inf"), ("/results/0/forward/spk~1x/per_step_max_abs/1", "inf")}
    loaded = results.load(path)
    fwd = loaded["results"][0]["forward"]["spk/x"]
    assert fwd["max_abs"] == float("inf") and fwd["max_rel"] == float("-inf") and fwd["per_step_max_abs"][1] == float("inf")
    assert "non_finite" not in loaded


def test_a_report_with_nan_tokens_is_stored_and_merged_as_strict_json(compare_report, here):
    data = json.loads(compare_report.read_text())
    data["schema_version"] = 2
    data["results"][0]["forward"]["mem"]["max_abs"] = float("nan")
    old = here / "old.json"
    old.write_text(json.dumps(data))          # Python writes a NaN token: what version 2 did
    result = invoke("baseline", old, "--name", "kept")
    assert result.exit_code == 0, result.output
    kept = strict_json(here / "reports" / "baselines" / "kept.json")
    assert {"path": "/results/0/forward/mem/max_abs", "value": "nan"} in kept["non_finite"]
    assert invoke("merge", here / "m.json", old).exit_code == 0
    assert strict_json(here / "m.json")["non_finite"] == kept["non_finite"]
    assert invoke("report", here / "m.json").exit_code == 0


@pytest.mark.parametrize("note, needle", [
    ([{"path": "/results/0/case", "value": "nan"}], "not a null"),
    ([{"path": "/nosuch/0", "value": "inf"}], "not a null"),
    ([{"path": "/results/0/spike_rate", "value": "big"}], "non_finite[0].value"),
    ("x", "non_finite"),
])
def test_a_malformed_non_finite_note_is_refused(compare_report, here, note, needle):
    data = json.loads(compare_report.read_text())
    data["results"][0]["spike_rate"] = None
    data["non_finite"] = note
    path = here / "bad.json"
    path.write_text(json.dumps(data))
    refused(here, ["report", path], needle)


# ---------------------------------------------------------------- malformed reports

@pytest.fixture(scope="module")
def compare_report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("compare")
    path = folder / "c.json"
    result = invoke("compare", "slstm", "--case-file", case_file(folder, tiny.SLSTM), "--dtype", "float32",
                    "--json", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def bench_report(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bench")
    path = folder / "b.json"
    result = invoke("bench", "slstm", "--case-file", case_file(folder, tiny.SLSTM), "--quick", "--no-memory",
                    "--mode", "forward", "--json", path)
    assert result.exit_code == 0, result.output
    return path


def _set(*keys_and_value):
    *keys, value = keys_and_value

    def change(report):
        target = report
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return change


COMPARE_DAMAGE = [
    (_set("results", 0, "verdict", 5), "key 'verdict' must be one of pass"),
    (_set("results", 0, "verdict", "great"), "key 'verdict' must be one of"),
    (_set("results", 0, "forward", "x"), "key 'forward' must be a table"),
    (_set("results", 0, "forward", "mem", "max_abs", "x"), "key 'forward.mem.max_abs' must be a number"),
    (_set("results", 0, "backward", "input", "ok", "yes"), "key 'backward.input.ok' must be true or false"),
    (_set("results", 0, "findings", "x"), "key 'findings' must be a list"),
    (_set("results", 0, "case_spec", "steps", "4"), "key 'case_spec.steps' must be an integer"),
    (_set("results", 0, "tolerance", "atol", None), "key 'tolerance.atol' must be a number"),
    (_set("results", 0, "neuron", ["slstm"]), "key 'neuron' must be a string"),
    (_set("results", 0, "impl", None), "key 'impl' must be a string"),
    (_set("environment", "torch_threads", "2"), "key 'environment.torch_threads' must be an integer"),
    (_set("environment", "gpu", "h100"), "key 'environment.gpu' must be a table"),
    (_set("results", {}), "key 'results' must be a list"),
]

BENCH_DAMAGE = [
    (_set("results", 0, "samples_s", "x"), "key 'samples_s' must be a list"),
    (_set("results", 0, "samples_s", [0.1, "x"]), "key 'samples_s[1]' must be a number"),
    (_set("results", 0, "median_s", "x"), "key 'median_s' must be a number"),
    (_set("results", 0, "mode", "sideways"), "key 'mode' must be one of forward, train"),
    (_set("results", 0, "neuron", ["slstm"]), "key 'neuron' must be a string"),
    (_set("results", 0, "throughput", 5), "key 'throughput' must be a table"),
    (_set("results", 0, "warnings", [1]), "key 'warnings[0]' must be a string"),
    (_set("comparisons", 0, "ci", None), "key 'ci' must be a list"),
    (_set("comparisons", 0, "ci", [1.0]), "key 'ci' must hold 2 values"),
    (_set("comparisons", 0, "speedup", "fast"), "key 'speedup' must be a number"),
    (_set("comparisons", 0, "n_pairs", 2.5), "key 'n_pairs' must be an integer"),
    (_set("settings", "threads", "2"), "key 'settings.threads' must be an integer"),
    # figures that no longer follow from the samples (a hand-edited report)
    (_set("results", 0, "median_s", 1e-9), "result 0 (slstm/tiny/"),
    (_set("results", 0, "median_s", 1e-9), "key 'median_s' is 1e-09 but samples_s give"),
    (_set("results", 0, "iqr_s", 0.0), "key 'iqr_s' is 0.0 but samples_s give"),
    (_set("results", 0, "repeats", 10 ** 6), "key 'repeats' is 1000000 but samples_s give"),
    (_set("results", 0, "throughput", "sequences_per_s", 1e12), "key 'throughput.sequences_per_s' is 1000000000000.0"),
    (_set("comparisons", 0, "speedup", 99.0), "key 'speedup' is 99.0 but the median of ratios is"),
    (_set("comparisons", 0, "n_pairs", 1000), "key 'n_pairs' is 1000 but ratios hold"),
    (_set("comparisons", 0, "ci", [0.0, 1e9]), "key 'ci' [0.0, 1000000000.0] is not an interval within"),
]


def _commands(bad: Path, good: Path, folder: Path) -> list[list]:
    return [["report", bad], ["report", bad, "--markdown"], ["gate", bad, good], ["gate", good, bad],
            ["gate", bad], ["merge", folder / "merged.json", good, bad], ["baseline", bad, "--name", "broken"]]


def _refused_by(commands, source: Path, here: Path, damage, needle: str) -> None:
    data = json.loads(source.read_text())
    damage(data)
    bad = here / "bad.json"
    bad.write_text(json.dumps(data))
    good = here / "good.json"
    good.write_bytes(source.read_bytes())
    for command in commands(bad, good, here):
        line = refused(here, command, needle)
        assert "bad.json: malformed report" in line


@pytest.mark.parametrize("damage, needle", COMPARE_DAMAGE + BENCH_DAMAGE)
def test_malformed_reports_are_refused(compare_report, bench_report, here, damage, needle):
    """Every damage, through the report reader and the gate (the full matrix of readers: slow)."""
    source = compare_report if (damage, needle) in COMPARE_DAMAGE else bench_report
    _refused_by(lambda bad, good, folder: [["report", bad], ["gate", bad, good]], source, here, damage, needle)


@pytest.mark.parametrize("damage, needle", [COMPARE_DAMAGE[0], BENCH_DAMAGE[0], BENCH_DAMAGE[-1]])
def test_a_malformed_report_is_refused_by_every_reader(compare_report, bench_report, here, damage, needle):
    source = compare_report if (damage, needle) in COMPARE_DAMAGE else bench_report
    _refused_by(_commands, source, here, damage, needle)


@pytest.mark.slow
@pytest.mark.parametrize("damage, needle", COMPARE_DAMAGE + BENCH_DAMAGE)
def test_malformed_reports_are_refused_by_every_reader(compare_report, bench_report, here, damage, needle):
    source = compare_report if (damage, needle) in COMPARE_DAMAGE else bench_report
    _refused_by(_commands, source, here, damage, needle)


# ---------------------------------------------------------------- the gate never passes unchecked

def test_a_figure_lost_since_the_baseline_is_a_regression(bench_report, here):
    data = strict_json(bench_report)
    for record in data["results"]:
        if record["impl"] == "native":
            record.update(samples_s=[], sol_ratio=None, warnings=["error: it crashed"])
    rederive(data)
    current = here / "now.json"
    current.write_text(json.dumps(data))
    result = invoke("gate", bench_report, current)
    assert result.exit_code == 1, result.output
    assert "regression" in result.output


def test_memory_measured_in_the_baseline_but_not_now_is_not_ok(here):
    bench = strict_json(Path(__file__).resolve().parents[1] / "fixtures" / "bench-small.json")
    for record in bench["results"]:
        record["peak_mem_bytes"] = None
    current = here / "now.json"
    current.write_text(json.dumps(bench))
    result = invoke("gate", Path(__file__).resolve().parents[1] / "fixtures" / "bench-small.json", current)
    assert result.exit_code == 3, result.output
    assert "gate INCONCLUSIVE" in result.output


def test_an_empty_baseline_is_nothing_to_gate(compare_report, here):
    data = strict_json(compare_report)
    data["results"] = []
    empty = here / "empty.json"
    empty.write_text(json.dumps(data))
    refused(here, ["gate", empty, compare_report], "holds no results: nothing to gate")


# ---------------------------------------------------------------- outputs never replace inputs

def test_merge_without_out_does_not_overwrite_the_first_report(compare_report, here):
    a, b = here / "a.json", here / "b.json"
    a.write_bytes(compare_report.read_bytes())
    b.write_bytes(compare_report.read_bytes())
    refused(here, ["merge", a, b], "exists; pass --force to replace it")
    refused(here, ["merge", "--force", a, a, b], "is an input of this command")
    other = here / "other.json"
    other.write_text("keep me")
    result = invoke("merge", "--force", other, a)
    assert result.exit_code == 0 and strict_json(other)["kind"] == "compare"


def test_no_output_may_be_an_input(compare_report, here):
    base = here / "B.json"
    base.write_bytes(compare_report.read_bytes())
    cases = case_file(here, tiny.SLSTM, "X.toml")
    refused(here, ["gate", base, "--json", base], "is an input of this command")
    refused(here, ["gate", base, "--markdown", base], "is an input of this command")
    refused(here, ["compare", "slstm", "--case-file", cases, "--json", cases], "is an input of this command")
    refused(here, ["bench", "slstm", "--case-file", cases, "--json", cases], "is an input of this command")
    refused(here, ["sweep", "slstm", "--case-file", cases, "--vary", "steps=2,3", "--png", cases],
            "is an input of this command")
    refused(here, ["profile", "slstm", "--case-file", cases, "--case", "tiny", "--trace", cases],
            "is an input of this command")
    link = here / "link.toml"
    link.symlink_to(cases)
    refused(here, ["compare", "slstm", "--case-file", link, "--json", cases], "is an input of this command")
    refused(here, ["gate", base, "--json", here / "o.json", "--markdown", here / "o.json"], "the same file as")


@pytest.mark.parametrize("option", ["--json", "--markdown"])
def test_outputs_onto_directories_and_empty_names_are_refused_before_any_work(compare_report, here, option):
    folder = here / "dir"
    folder.mkdir()
    refused(here, ["gate", compare_report, option, folder], "is a directory, not a file")
    refused(here, ["gate", compare_report, option, ""], "not a file name")
    refused(here, ["compare", "slstm", "--json", folder], "is a directory, not a file")
    refused(here, ["compare", "slstm", "--json", ""], "not a file name")
    refused(here, ["sweep", "slstm", "--vary", "steps=2,3", "--png", folder], "is a directory, not a file")


@pytest.mark.parametrize("name, minor", [("null", 3), ("full", 7)])
def test_device_nodes_are_never_replaced(here, name, minor):
    """The issue ran --json /dev/full as root. Here a private node of the same device (char 1, minor),
    made in the test's folder where mknod is allowed, so a regression cannot replace the system's."""
    device = here / "dev" / name
    device.parent.mkdir()
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    path = case_file(here, tiny.SLSTM)
    refused(here, ["compare", "slstm", "--case-file", path, "--json", device], "is a character device")
    refused(here, ["profile", "slstm", "--case-file", path, "--trace", device], "is a character device")
    refused(here, ["merge", "--force", device, path], "is a character device")
    with pytest.raises(results.ReportError, match="not a regular file"):
        results.save(results.new_report("compare", {}, []), device)
    assert stat.S_ISCHR(os.lstat(device).st_mode) and os.lstat(device).st_rdev == os.makedev(1, minor)


def test_a_fifo_is_never_written(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(results.ReportError, match="is a pipe"):
        results.save(results.new_report("compare", {}, []), fifo)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_unwritable_places_are_refused_before_any_work(here):
    path = case_file(here, tiny.SLSTM)
    blocker = here / "a-file"
    blocker.write_text("not a folder")
    refused(here, ["profile", "slstm", "--case-file", path, "--trace", blocker / "t.json"], "is not a folder")
    refused(here, ["compare", "slstm", "--case-file", path, "--json", blocker / "r.json"], "is not a folder")
    assert not list(here.rglob("*.tmp"))


def test_a_trace_is_written_through_the_report_writer(here):
    trace = here / "traces" / "t.json"
    result = invoke("profile", "slstm", "--case-file", case_file(here, tiny.SLSTM), "--calls", "1", "--trace", trace)
    assert result.exit_code == 0, result.output
    assert trace.is_file() and json.loads(trace.read_text())
    assert not [p for p in here.rglob("*") if p.name.startswith(".")]


# ---------------------------------------------------------------- files get the user's umask

@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_get_the_users_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        path = results.save(results.new_report("compare", {}, []), tmp_path / "r.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode


def test_a_replaced_file_keeps_its_mode(tmp_path):
    path = tmp_path / "r.json"
    path.write_text("{}")
    os.chmod(path, 0o640)
    results.save(results.new_report("compare", {}, []), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640


# ---------------------------------------------------------------- messages tell the truth

def test_ctrl_c_while_the_table_prints_says_the_report_was_written(here, monkeypatch):
    from snnbench.render import compare as render

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "print_compare", interrupted)
    out = here / "r.json"
    result = invoke("compare", "slstm", "--case-file", case_file(here, tiny.SLSTM), "--dtype", "float32", "--json", out)
    assert result.exit_code == 130
    assert result.output.strip() == f"interrupted: written: {out}"
    assert strict_json(out)["results"][0]["verdict"] == "pass"


def test_ctrl_c_before_anything_was_written_says_so(here, monkeypatch):
    from snnbench import compare as runner_mod

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner_mod, "run_compare", interrupted)
    result = invoke("compare", "slstm", "--case-file", case_file(here, tiny.SLSTM), "--json", here / "r.json")
    assert result.exit_code == 130 and result.output.strip() == "interrupted: nothing written"
    assert not (here / "r.json").exists()


def test_a_bench_that_timed_nothing_does_not_exit_0(here):
    """The reference alone, in float64 where it cannot run: nothing is timed; the report says why."""
    alif = case_file(here, ALIF)
    out = here / "b.json"
    result = invoke("bench", "alif", "--case-file", alif, "--impl", "reference", "--dtype", "float64", "--quick",
                    "--no-memory", "--mode", "forward", "--json", out)
    assert result.exit_code == 1, result.output
    assert "nothing timed for alif/alif forward" in result.output and str(out) in result.output
    assert strict_json(out)["kind"] == "bench"
