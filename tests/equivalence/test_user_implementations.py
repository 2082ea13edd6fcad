"""Users' own implementations (--impl MODULE:CLASS, entry points): judged and timed like ours.

The implementations here are written as a user would, without snnbench in mind: the example
package under examples/mysnn, and small modules written into a temporary folder.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from snnbench.cli import app

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mysnn"
EXAMPLE_CASES = EXAMPLE / "cases.toml"


@pytest.fixture
def user_path(tmp_path, monkeypatch):
    """The example package and tmp_path importable, here and in bench's memory subprocesses."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{EXAMPLE}:{tmp_path}")
    return tmp_path


def run(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert "Traceback" not in (result.output or ""), result.output
    return result


def write_module(folder: Path, name: str, source: str) -> None:
    (folder / f"{name}.py").write_text(textwrap.dedent(source))


def report(path: Path) -> list[dict]:
    return json.loads(path.read_text())["results"]


# ---- the example package ---------------------------------------------------------------------------
def test_example_correct_slstm_passes_and_the_late_reset_fails_naming_the_step(user_path):
    out = user_path / "r.json"
    result = run("compare", "slstm", "--impl", "mysnn.slstm:SLSTM", "--impl", "mysnn.slstm:LateResetSLSTM",
                 "--case-file", EXAMPLE_CASES, "--case", "x32-h32-subtract", "--case", "x32-h32-zero", "--json", out)
    assert result.exit_code == 1, result.output
    records = report(out)
    good = [r for r in records if r["impl"] == "mysnn.slstm:SLSTM"]
    late = [r for r in records if r["impl"] == "mysnn.slstm:LateResetSLSTM"]
    assert len(good) == len(late) == 4                 # 2 cases x 2 dtypes each
    assert all(r["verdict"] == "pass" for r in good), [r["reason"] for r in good]
    assert all(r["verdict"] == "fail" for r in late)
    for r in late:
        step = min(d["first_divergent_step"] for d in r["stepwise"].values() if d["mismatches"])
        assert f"at step {step} when started from the reference's own state" in r["reason"]
    info = good[0]["impl_info"]
    assert info["kind"] == "user" and info["class"] == "mysnn.slstm:SLSTM"
    assert good[0]["compared"] == {"spk": "every step", "syn": "every step", "mem": "every step"}
    assert "LateResetSLSTM" in result.output


def test_example_leaky_parallel_passes_on_its_spikes_alone(user_path):
    out = user_path / "r.json"
    result = run("compare", "leakyparallel", "--impl", "mysnn.leaky:LeakyParallel", "--case-file", EXAMPLE_CASES,
                 "--json", out)
    assert result.exit_code == 0, result.output
    for r in report(out):
        assert r["verdict"] == "pass", r["reason"]
        assert r["compared"] == {"spk": "every step"}
        assert r["not_compared"] == {"mem": "the call returns only the spikes"}
        assert r["stepwise"] == {} and "whole sequences" in r["stepwise_note"]
        assert {"input", "weight_ih"} <= set(r["backward"])


@pytest.mark.slow
def test_bench_times_three_implementations_interleaved(user_path):
    out = user_path / "b.json"
    result = run("bench", "slstm", "--impl", "mysnn.slstm:SLSTM", "--case-file", EXAMPLE_CASES,
                 "--case", "x32-h32-subtract", "--quick", "--mode", "train", "--json", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    rows = {r["impl"]: r for r in data["results"]}
    assert list(rows) == ["native", "reference", "mysnn.slstm:SLSTM", "sol"]
    lengths = {len(r["samples_s"]) for r in rows.values()}
    assert len(lengths) == 1 and lengths.pop() >= 3          # one sample of each per round
    mine = rows["mysnn.slstm:SLSTM"]
    assert mine["peak_mem_bytes"] is not None and mine["peak_mem_bytes"] >= 0    # measured in a subprocess
    assert mine["train_fields"] == ["spk", "syn", "mem"] and mine["impl_info"]["kind"] == "user"
    speedups = {c["impl"]: c for c in data["comparisons"]}
    assert set(speedups) == {"native", "mysnn.slstm:SLSTM"}
    assert speedups["mysnn.slstm:SLSTM"]["n_pairs"] == len(mine["samples_s"])


def test_bench_runs_every_case_of_a_case_file(user_path):
    """No `bench = true` in the file: a user's case file runs as it is."""
    out = user_path / "b.json"
    result = run("bench", "slstm", "--case-file", EXAMPLE_CASES, "--quick", "--mode", "forward", "--impl", "native",
                 "--no-memory", "--json", out)
    assert result.exit_code == 0, result.output
    assert {r["case"] for r in report(out)} == {"x32-h32-subtract", "x32-h32-zero", "x64-h64-bench"}


def test_profile_runs_a_user_implementation(user_path):
    result = run("profile", "slstm", "--impl", "mysnn.slstm:SLSTM", "--case-file", EXAMPLE_CASES,
                 "--case", "x32-h32-subtract", "--calls", "1", "--trace", user_path / "t.json")
    assert result.exit_code == 0, result.output
    assert (user_path / "t.json").exists()


# ---- realistic mistakes ----------------------------------------------------------------------------
DOC_ATAN = """
import math
import torch
from mysnn.slstm import SLSTM


class DocATan(torch.autograd.Function):
    # the documentation page's formula: 1/pi * 1 / (1 + (pi/2 alpha u)^2)
    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return 1 / math.pi / (1 + (math.pi / 2 * 2.0 * u) ** 2) * grad


class DocSLSTM(SLSTM):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.spike_grad = DocATan.apply
"""


def test_surrogate_from_the_documentation_fails_on_gradients_alone(user_path):
    write_module(user_path, "docatan", DOC_ATAN)
    out = user_path / "r.json"
    result = run("compare", "slstm", "--impl", "docatan:DocSLSTM", "--case-file", EXAMPLE_CASES,
                 "--case", "x32-h32-subtract", "--json", out)
    assert result.exit_code == 1
    for r in report(out):
        assert r["verdict"] == "fail" and r["reason"].startswith("gradient of"), r["reason"]
        assert all(d["mismatches"] == 0 for d in r["forward"].values())
        assert all(d["mismatches"] == 0 for d in r["stepwise"].values())
        assert not r["backward"]["input"]["ok"]
        # ours with the page's slope computes the same: the hint names that departure
        assert r["documented_match"] == ["default-spike-fn-atan-slope"], r.get("hint")


NO_RELU = """
import torch
from mysnn.leaky import LeakyParallel


class NoReluLeaky(LeakyParallel):
    def forward(self, x):
        w = self.rnn
        decay = w.weight_hh_l0.diagonal()
        drive = x @ w.weight_ih_l0.t() + w.bias_ih_l0 + w.bias_hh_l0
        mem = torch.zeros_like(drive[0])
        spikes = []
        for t in range(x.shape[0]):
            mem = drive[t] + decay * mem               # forgot the relu
            spikes.append(self.spike_grad(mem - self.threshold))
        return torch.stack(spikes)
"""


def test_leaky_parallel_without_relu_fails(user_path):
    write_module(user_path, "norelu", NO_RELU)
    out = user_path / "r.json"
    result = run("compare", "leakyparallel", "--impl", "norelu:NoReluLeaky", "--case-file", EXAMPLE_CASES,
                 "--json", out)
    assert result.exit_code == 1
    assert all(r["verdict"] == "fail" for r in report(out))


def test_documented_behaviour_where_the_reference_departs_gets_a_hint(user_path, write_cases):
    """mysnn's SLSTM carries its state whatever the sizes (as documented); snntorch zeroes it when
    input_size != hidden_size. The failure says that the reference departs from its documentation."""
    path = write_cases(EXAMPLE_CASES.read_text().split("[[case]]")[0] + """
[[case]]
name = "x48-h32"
neuron = "slstm"
steps = 10
batch = 2
sample_shape = [48]
seed = 9
[case.params]
input_size = 48
hidden_size = 32
threshold = 0.1
reset_mechanism = "subtract"
""")
    out = user_path / "r.json"
    result = run("compare", "slstm", "--impl", "mysnn.slstm:SLSTM", "--case-file", path, "--dtype", "float32",
                 "--json", out)
    assert result.exit_code == 1
    (r,) = report(out)
    assert r["verdict"] == "fail" and "documentation" in r["hint"]
    assert r["documented_match"] == ["slstm-state-zeroing"]
    assert any(f.startswith("slstm-state-zeroing: ") for f in r["findings"])


# ---- sinabs drop-ins ---------------------------------------------------------------------------------
PORT = """
import sinabs.layers


class PortedALIF(sinabs.layers.ALIFRecurrent):
    '''A port that keeps sinabs' own code: it must pass.'''
"""


def test_sinabs_drop_in_compares_spikes_and_the_state_it_holds(user_path):
    write_module(user_path, "port", PORT)
    out = user_path / "r.json"
    result = run("compare", "alifrecurrent", "--impl", "port:PortedALIF", "--case", "linear-syn-bias",
                 "--dtype", "float32", "--json", out)
    assert result.exit_code == 0, result.output
    (r,) = report(out)
    assert r["verdict"] == "pass", r["reason"]
    assert r["compared"] == {"spikes": "every step", "v_mem": "last step", "b": "last step",
                             "spike_threshold": "last step"}
    assert r["forward"]["v_mem"]["per_step_max_abs"] == [0.0]
    assert "i_syn" in r["not_compared"]


# ---- bad --impl values: one line, exit 2 ---------------------------------------------------------------
BAD = """
import torch


def not_a_class():
    pass


class NotAModule:
    pass


class RaisesInInit(torch.nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        raise ValueError("this constructor always fails")


class OneArgument(torch.nn.Module):
    snnbench_neuron = "slstm"

    def __init__(self, input_size, hidden_size, **kwargs):
        super().__init__()
        self.lstm_cell = torch.nn.LSTMCell(input_size, hidden_size)

    def forward(self, x):
        return x
"""


@pytest.mark.parametrize("value, message", [
    ("nocolon", "not native, reference, MODULE:CLASS or an installed implementation"),
    ("no_such_module_xyz:Thing", "module 'no_such_module_xyz' does not import: ModuleNotFoundError"),
    ("badimpls:Missing", "module 'badimpls' has no 'Missing'"),
    ("badimpls:not_a_class", "is a function, not a class"),
    ("badimpls:NotAModule", "class NotAModule is not a torch.nn.Module"),
    ("badimpls:RaisesInInit", "raised ValueError: this constructor always fails"),
    ("badimpls:OneArgument", "calling it as m(x_t, syn, mem) raised TypeError"),
    (":Thing", "give it as MODULE:CLASS"),
])
def test_bad_impl_is_one_line_and_exit_2(user_path, value, message):
    write_module(user_path, "badimpls", BAD)
    result = run("compare", "slstm", "--impl", value, "--case", "x32-h32-subtract", "--json", user_path / "r.json")
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert value in result.output and message in " ".join(result.output.split())
    assert not (user_path / "r.json").exists()


def test_reference_is_not_judged_against_itself():
    result = run("compare", "slstm", "--impl", "reference")
    assert result.exit_code == 2 and "--impl reference" in result.output


def test_an_undeclared_implementation_needs_one_neuron(user_path):
    write_module(user_path, "plain", "import torch\n\nclass Plain(torch.nn.Module):\n    pass\n")
    result = run("compare", "slstm", "leakyparallel", "--impl", "plain:Plain")
    assert result.exit_code == 2 and "does not say which neuron" in result.output


# ---- entry points ------------------------------------------------------------------------------------
def test_installed_entry_points_are_listed_and_usable(user_path):
    dist = user_path / "mysnn-0.1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mysnn\nVersion: 0.1.0\n")
    (dist / "entry_points.txt").write_text("[snnbench.implementations]\nmysnn-slstm = mysnn.slstm:SLSTM\n"
                                           "broken = mysnn.nothing:Here\n")
    listed = run("list")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert any(line.split()[:3] == ["mysnn-slstm", "slstm", "mysnn.slstm:SLSTM"] for line in lines if line.strip())
    assert any(line.split()[:1] == ["broken"] for line in lines if line.strip())
    assert "does not load" in " ".join(listed.output.split())
    out = user_path / "r.json"
    result = run("compare", "slstm", "--impl", "mysnn-slstm", "--case-file", EXAMPLE_CASES,
                 "--case", "x32-h32-zero", "--json", out)
    assert result.exit_code == 0, result.output
    (f32, f64) = report(out)
    assert f32["impl"] == "mysnn-slstm" and f32["impl_info"]["version"] == "0.1.0"
    assert f32["verdict"] == f64["verdict"] == "pass"
