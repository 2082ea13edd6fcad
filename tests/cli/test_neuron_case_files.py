"""Bad case files for the neurons with options of their own (ALIF, SConv2dLSTM, LeakyParallel):
each is refused in one line with exit code 2 through `snnbench compare --case-file`, and a good
one passes. (Bad input in general: test_bad_input.py.)"""

from __future__ import annotations

import textwrap
import warnings

import pytest
from typer.testing import CliRunner

from snnbench import specs
from snnbench.cli import app
from snnbench.errors import CaseError


# ---- ALIF ----------------------------------------------------------------------------------------
ALIF_CASE = """
[[case]]
name = "bad"
neuron = "alifrecurrent"
steps = 5
batch = 2
sample_shape = {shape}
[case.params]
tau_mem = {tau_mem}
tau_adapt = 20.0
{extra}
rec_connect = {rec}
"""


@pytest.mark.parametrize("shape, tau_mem, extra, rec, expected", [
    ("[8]", "10", "", '{ type = "Linear", bias = false }', "integer"),
    ("[8]", "10.0", "tau_syn = [2.0, 3.0]", '{ type = "Linear", bias = false }', "tau_syn"),
    ("[8]", "10.0", "", '{ type = "Conv2d", kernel_size = 3, padding = 1 }', "sample_shape"),
    ("[2, 6, 6]", "10.0", "", '{ type = "Conv2d", kernel_size = 3 }', "keep the sample shape"),
    ("[8]", "10.0", "", '{ type = "Linear", in_features = 4 }', "in_features"),
    ("[8]", "10.0", 'spike_fn = { type = "TripleSpike" }', '{ type = "Linear" }', "TripleSpike"),
])
def test_bad_cases_exit_2_with_one_line(tmp_path, shape, tau_mem, extra, rec, expected):
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(ALIF_CASE.format(shape=shape, tau_mem=tau_mem, extra=extra, rec=rec)))
    result = CliRunner().invoke(app, ["compare", "alifrecurrent", "--case-file", str(path),
                                      "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output


# ---- SConv2dLSTM ----------------------------------------------------------------------------------
GOOD = """
[[case]]
name = "small"
neuron = "sconv2dlstm"
steps = 3
batch = 1
sample_shape = [2, 8, 8]
[case.params]
in_channels = 2
out_channels = 2
kernel_size = 3
threshold = 0.05
"""


def write(tmp_path, text):
    path = tmp_path / "cases.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("change, key, message", [
    (("kernel_size = 3", "kernel_size = 4"), "params.kernel_size", "even kernel sizes change the spatial size"),
    (("kernel_size = 3", "kernel_size = [3, 2]"), "params.kernel_size", "even kernel sizes"),
    (("sample_shape = [2, 8, 8]", "sample_shape = [3, 8, 8]"), "sample_shape", "must be [2, H, W]"),
    (("sample_shape = [2, 8, 8]", "sample_shape = [128]"), "sample_shape", "must be [2, H, W]"),
    (("threshold = 0.05", "threshold = 0.05\nmax_pool = 9"), "params.max_pool", "larger than the image"),
    (("threshold = 0.05", "threshold = [0.05, 0.1]"), "params.threshold", "one-element list"),
    (("threshold = 0.05", "threshold = 0.05\nmax_pool = 2\navg_pool = 2"), "params.avg_pool", "only one of"),
])
def test_bad_case_is_a_case_error_and_exit_2(tmp_path, change, key, message):
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(CaseError) as info:
        specs.load_cases(path)
    assert f"key '{key}'" in str(info.value) and message in str(info.value)
    result = CliRunner().invoke(app, ["compare", "sconv2dlstm", "--case-file", str(path),
                                      "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert message in " ".join(result.output.split())


def test_good_case_file_passes_via_cli(tmp_path):
    result = CliRunner().invoke(app, ["compare", "sconv2dlstm", "--case-file", str(write(tmp_path, GOOD)),
                                      "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output


# ---- LeakyParallel ---------------------------------------------------------------------------------
def run_cli_with(tmp_path, body: str):
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(body))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CliRunner().invoke(app, ["compare", "leakyparallel", "--case-file", str(path),
                                        "--json", str(tmp_path / "r.json")])


def _output(result) -> str:
    try:
        return result.output + (result.stderr or "")
    except ValueError:
        return result.output


def test_beta_list_of_wrong_length_exits_2(tmp_path):
    result = run_cli_with(tmp_path, """
        [[case]]
        name = "bad-beta"
        neuron = "leakyparallel"
        steps = 5
        batch = 2
        sample_shape = [4]
        [case.params]
        input_size = 4
        hidden_size = 3
        beta = [0.5, 0.6]
        """)
    assert result.exit_code == 2
    assert "params.beta" in _output(result) and "Traceback" not in _output(result)


def test_wrong_sample_shape_exits_2(tmp_path):
    result = run_cli_with(tmp_path, """
        [[case]]
        name = "bad-shape"
        neuron = "leakyparallel"
        steps = 5
        batch = 2
        sample_shape = [5]
        [case.params]
        input_size = 4
        hidden_size = 3
        beta = 0.5
        """)
    assert result.exit_code == 2
    assert "sample_shape" in _output(result) and "Traceback" not in _output(result)
