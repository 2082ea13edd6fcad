"""Our SConv2dLSTM against snntorch's: every standard case, the gate activations kept in blocks, the
margin the reference fires on, the options the cases cover, and a negative control.
(The maths by hand and the fast paths: tests/neurons/test_sconv2dlstm.py.)"""

import pytest
import torch

from snnbench import implementations, inputs, specs
from equivalence import assert_equivalent, judge, nudged


ALL = specs.standard_cases("sconv2dlstm")


STANDARD = [c for c in ALL if not c.bench]  # the benchmark case is checked by `snnbench compare`


SPEC = specs.get("sconv2dlstm")


REFERENCE = implementations.reference("sconv2dlstm")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", STANDARD, ids=[c.name for c in STANDARD])
def test_standard_case_is_equivalent(case, dtype):
    assert_equivalent(judge(case, dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gate_activations_kept_in_blocks_of_steps_are_equivalent(monkeypatch, dtype):
    """With the activations split into blocks of one step each (BLOCK_BYTES tiny), the per-step rows
    and the blockwise weight gradient still match the reference, and ours without blocks."""
    from snnbench.neurons.fused import sconv2dlstm

    case = next(c for c in STANDARD if c.params.get("reset_mechanism") == "subtract" and c.params.get("bias", True)
                and c.steps > 2)
    whole = judge(case, dtype)
    monkeypatch.setattr(sconv2dlstm, "BLOCK_BYTES", 1)
    assert len(sconv2dlstm._step_blocks(case.steps, 10, torch.zeros(1))) == case.steps
    blocked = judge(case, dtype)
    assert_equivalent(blocked)
    assert blocked["backward"].keys() == whole["backward"].keys() and "conv_weight" in whole["backward"]
    for name, diff in blocked["backward"].items():
        assert diff["ok"], name


@pytest.mark.parametrize("case", [c for c in STANDARD if c.params.get("max_pool") or c.params.get("avg_pool")
                                  or c.params.get("state_quant")], ids=lambda c: c.name)
def test_margin_is_what_the_reference_fires_on(case):
    """The margin has the spikes' shape and its sign reproduces every reference spike, pooled or not:
    so a flip is judged borderline by the value that decided it."""
    module = REFERENCE.build(case, torch.float32, "cpu")
    try:
        x = inputs.make_input(case, torch.float32, "cpu")
        trace = REFERENCE.run(module, x, SPEC.initial_state(case, torch.float32, "cpu"))
        margin = REFERENCE.margin(module, trace)
    finally:
        REFERENCE.cleanup(module)
    assert margin.shape == trace["spk"].shape
    assert torch.equal((margin > 0).to(trace["spk"].dtype), trace["spk"])
    if case.params.get("max_pool") or case.params.get("avg_pool"):
        assert margin.shape != trace["mem"].shape


def test_standard_cases_cover_the_options():
    params = [c.params for c in STANDARD]
    assert any(isinstance(p["kernel_size"], int) for p in params)
    assert any(isinstance(p["kernel_size"], tuple) and p["kernel_size"][0] != p["kernel_size"][1] for p in params)
    for reset in ("none", "subtract", "zero"):
        assert any(p.get("reset_mechanism", "none") == reset for p in params)
    for flag in ("max_pool", "avg_pool", "learn_threshold", "surrogate_disable", "state_quant", "inhibition"):
        assert any(p.get(flag) for p in params), flag
    assert any(p.get("init_hidden") and p.get("output") for p in params)
    assert any(p.get("bias") is False for p in params)
    assert any(p.get("spike_grad", {}).get("alpha", 2.0) != 2.0 for p in params)


def _nudge_recurrent_tap(module, case):
    # output row 1 (input gate, channel 1); input channel in_channels + 2 is mem channel 2
    module.conv_weight[1, case.params["in_channels"] + 2, 1, 1] += 1e-3


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_nudged_implementation_fails_and_names_the_step(dtype):
    case = next(c for c in STANDARD if c.name == "k3-subtract")
    record = judge(case, dtype, nudged("sconv2dlstm", _nudge_recurrent_tap))
    assert record["verdict"] == "fail"
    # The tap reads the previous mem, which is random at step 0: the first difference is at step 0.
    assert record["stepwise"]["syn"]["first_divergent_step"] == 0
    assert "step 0" in record["reason"]
