"""The command line as a user meets it: exit codes, one-line errors, reports."""

import json

import pytest
import torch
from typer.testing import CliRunner

from snnbench import results
from snnbench.cli import app

import tiny

runner = CliRunner()

NEVER_SPIKES = tiny.SLSTM.replace('name = "tiny"', 'name = "quiet"').replace("threshold = 0.05", "threshold = 1.0")


def run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert "Traceback" not in (result.output or ""), result.output
    return result


def test_compare_passing_case_file_exits_0_and_writes_report(write_cases, tmp_path):
    out = tmp_path / "r.json"
    result = run("compare", "slstm", "--case-file", write_cases(tiny.SLSTM), "--json", out)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["schema_version"] == results.SCHEMA_VERSION and report["kind"] == "compare"
    assert [r["dtype"] for r in report["results"]] == ["float32", "float64"]
    assert all(r["verdict"] == "pass" for r in report["results"])
    env = report["environment"]
    for key in ("python", "torch", "snntorch", "sinabs", "numpy", "platform", "cpu", "torch_threads"):
        assert env.get(key), key
    assert not list(tmp_path.glob(".r.json.*")), "no temporary file left behind"


def test_uninformative_case_exits_1(write_cases, tmp_path):
    result = run("compare", "slstm", "--case-file", write_cases(NEVER_SPIKES), "--dtype", "float32",
                 "--json", tmp_path / "r.json")
    assert result.exit_code == 1
    assert "uninformative" in result.output


def test_case_selection_and_seed(write_cases, tmp_path):
    path = write_cases(tiny.SLSTM + NEVER_SPIKES)
    out = tmp_path / "r.json"
    result = run("compare", "slstm", "--case-file", path, "--case", "tiny", "--dtype", "float32",
                 "--seed", "11", "--json", out)
    assert result.exit_code == 0, result.output
    records = json.loads(out.read_text())["results"]
    assert [(r["case"], r["case_spec"]["seed"]) for r in records] == [("tiny", 11)]


@pytest.mark.parametrize("args, message", [
    (["compare", "nosuchneuron"], "unknown neuron 'nosuchneuron'"),
    (["compare", "slstm", "--case", "nosuchcase"], "unknown case 'nosuchcase'"),
    (["compare", "slstm", "--dtype", "float16"], "--dtype must be one of"),
    (["compare", "slstm", "--case-file", "/nonexistent/cases.toml"], "no such case file"),
    (["report", "/nonexistent/report.json"], "no such report"),
])
def test_usage_errors_exit_2_with_one_line(args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_exits_2():
    result = run("compare", "slstm", "--device", "cuda")
    assert result.exit_code == 2
    assert "CUDA is not available" in result.output


@pytest.mark.parametrize("text, key", [
    (tiny.SLSTM.replace("steps = 4", "steps = 4\ncolour = 3"), "key 'colour'"),
    (tiny.SLSTM.replace("steps = 4", 'steps = "six"'), "key 'steps'"),
    (tiny.SLSTM.replace('neuron = "slstm"', 'neuron = "lstm"'), "unknown neuron 'lstm'"),
    (tiny.SLSTM.replace("threshold = 0.05", "threshold = 0.05\nbeta = 0.5"), "key 'params.beta'"),
    (tiny.SLSTM.replace("sample_shape = [8]", "sample_shape = [9]"), "key 'sample_shape'"),
    (tiny.SLSTM.replace('reset_mechanism = "subtract"', 'reset_mechanism = "sub"'), "key 'params.reset_mechanism'"),
    (tiny.SLSTM + '[case.input]\ndist = "poisson"\n', "key 'input.dist'"),
    (tiny.SLSTM + '[case.input]\ndist = "uniform"\nlo = 0.0\n', "key 'input.lo'"),
    (tiny.SLSTM + '[case.tolerance.float32]\natl = 1e-3\n', "key 'tolerance.float32.atl'"),
    (tiny.SLSTM.replace("threshold = 0.05", 'threshold = 0.05\nspike_grad = { type = "atan", beta = 1.0 }'),
     "key 'params.spike_grad.beta'"),
    (tiny.SLSTM.replace("threshold = 0.05", 'threshold = 0.05\nspike_grad = { type = "nosuch" }'),
     "key 'params.spike_grad.type'"),
    (tiny.SLSTM + tiny.SLSTM, "duplicate case name"),
    ("[[case]\nname = 1", "not valid TOML"),
])
def test_broken_case_files_name_file_case_and_key(write_cases, text, key):
    path = write_cases(text)
    result = run("compare", "slstm", "--case-file", path)
    assert result.exit_code == 2, result.output
    line = " ".join(result.output.split())
    assert str(path.name) in line and key in line, line


def test_report_shows_saved_report_and_markdown(write_cases, tmp_path):
    out = tmp_path / "r.json"
    run("compare", "slstm", "--case-file", write_cases(tiny.SLSTM), "--dtype", "float32", "--json", out)
    shown = run("report", out)
    assert shown.exit_code == 0 and "tiny" in shown.output and "pass" in shown.output
    md = run("report", out, "--markdown")
    assert md.exit_code == 0 and md.output.startswith("| neuron |") and "**pass**" in md.output


@pytest.mark.parametrize("content, message", [
    ('{"schema_version": 1, "kind": "compare", "results": [', "not valid JSON"),
    ('{"kind": "compare"}', "no schema_version"),
    ('{"schema_version": 99, "kind": "compare", "results": [], "environment": {}}', "newer than this snnbench"),
    ('{"schema_version": 1, "kind": "compare", "results": [{"case": "x"}], "environment": {}}', "lacks"),
    ('[1, 2]', "no schema_version"),
])
def test_bad_reports_exit_2(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    result = run("report", path)
    assert result.exit_code == 2
    assert message in result.output


def test_list_shows_neurons_versions_and_cases():
    result = run("list")
    assert result.exit_code == 0
    assert "slstm" in result.output and "snntorch.SLSTM" in result.output and "1.0.0" in result.output
    assert "x32-h32-zero" in result.output
