"""Our SLSTM against snntorch's: every standard case, and a negative control that must fail."""

import pytest
import torch

from snnbench import implementations, specs
from snnbench.implementations.snntorch_reference import SLSTMReference
from equivalence import assert_equivalent, judge, nudged

STANDARD = specs.standard_cases("slstm")
REFERENCE = implementations.reference("slstm")
# Bench-sized weights (784 x 1000, about 2 s here): judged in the slow run (CI's -m slow), like the
# bench cases. By default the smaller cases cover the same options, unequal sizes by x48-h32-subtract.
SLOW = {"seed-784-1000"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] if c.bench or c.name in SLOW
                                               else []) for c in STANDARD])
def test_standard_case_is_equivalent(case, dtype):
    assert_equivalent(judge(case, dtype))


def test_standard_cases_cover_the_options():
    params = [c.params for c in STANDARD]
    assert any(p["input_size"] == 784 and p["hidden_size"] == 1000 for p in params)
    assert any(p["input_size"] == p["hidden_size"] for p in params)
    for reset in ("none", "subtract", "zero"):
        assert any(p.get("reset_mechanism", "none") == reset for p in params)
    assert any(p.get("learn_threshold") for p in params)
    assert any(p.get("spike_grad", {}).get("alpha", 2.0) != 2.0 for p in params)
    assert any(p.get("bias") is False for p in params)


def _nudge_recurrent(module, case):
    module.weight_hh[3, 5] += 1e-3     # one recurrent weight of ours moved by 1e-3 after loading


def test_nudged_implementation_fails_and_names_the_step():
    case = next(c for c in STANDARD if c.name == "x32-h32-subtract")
    for dtype in ("float32", "float64"):
        record = judge(case, dtype, nudged("slstm", _nudge_recurrent))
        assert record["verdict"] == "fail"
        # The nudged weight reads mem from the previous step: step 0 starts from the same state,
        # so the first difference is at step 0 (random initial mem) in the gate of unit 3.
        step = min(d["first_divergent_step"] for d in record["stepwise"].values() if d["mismatches"])
        assert f"step {step}" in record["reason"]
        assert record["stepwise"]["syn"]["mismatches"] > 0 or record["stepwise"]["mem"]["mismatches"] > 0


def test_nudged_input_weight_fails_even_without_recurrence():
    case = next(c for c in STANDARD if c.name == "x48-h32-subtract")

    def nudge(module, case):
        # row 2: input gate of unit 2 (a forget-gate row would change nothing here, since the
        # reference multiplies it by a zeroed cell state)
        module.weight_ih[2, 2] += 1e-3

    record = judge(case, "float32", nudged("slstm", nudge))
    assert record["verdict"] == "fail"
    assert record["stepwise"]["syn"]["first_divergent_step"] == 0


def test_never_spiking_case_is_uninformative(write_cases):
    path = write_cases("""
[[case]]
name = "default-threshold"
neuron = "slstm"
steps = 5
batch = 2
sample_shape = [8]
[case.params]
input_size = 8
hidden_size = 8
""")
    record = judge(specs.load_cases(path)[0], "float32")
    assert record["verdict"] == "uninformative"
    assert record["spike_rate"] == 0.0
    assert any("threshold >= 1" in f for f in record["findings"])


def test_record_has_the_report_fields():
    case = next(c for c in STANDARD if c.name == "x32-h32-none")
    record = judge(case, "float32")
    for key in ("neuron", "case", "device", "dtype", "verdict", "reason", "spike_rate", "forward", "backward"):
        assert key in record
    assert set(record["forward"]) == {"spk", "syn", "mem"}
    for field in record["forward"].values():
        assert {"max_abs", "max_rel", "mismatches", "first_divergent_step"} <= set(field)
        assert len(field["per_step_max_abs"]) == case.steps
    assert {"input", "weight_ih", "weight_hh", "bias_ih", "bias_hh"} <= set(record["backward"])


def test_sigmoid_surrogate_float64_gradients_are_judged_at_float32_with_a_finding():
    """snntorch's Sigmoid.backward computes grad_input * slope in float32 (its spikes are float32):
    the float64 comparison says so and judges those gradients at float32 tolerance."""
    case = next(c for c in STANDARD if c.name == "sigmoid-surrogate")
    record = judge(case, "float64")
    assert record["verdict"] == "pass", record["reason"]
    assert any("sigmoid surrogate" in f for f in record["findings"])
    assert all(g.get("judged_at") == "float32" for g in record["backward"].values())
    # and the difference is really there: above the float64 tolerance, below float32's
    worst = max(g["max_rel"] for g in record["backward"].values())
    assert case.tolerance("float64").grad_rtol < worst < case.tolerance("float32").grad_rtol


class _RaisesInBackward(torch.autograd.Function):
    """Identity forward; a backward that raises the error PyTorch gives for a clobbered saved tensor."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("one of the variables needed for gradient computation has been modified "
                           "by an inplace operation")


class BrokenBackwardReference(SLSTMReference):
    """The real reference whose backward raises; ``known`` says whether the reference owns the bug."""

    def __init__(self, known: bool):
        super().__init__(specs.get("slstm"))
        self.known = known

    def run_reference(self, module, x, state0):
        trace = super().run_reference(module, x, state0)
        return {**trace, "mem": _RaisesInBackward.apply(trace["mem"])}

    def backward_failure(self, case, device, error):
        return "a known backward bug" if self.known and "inplace" in str(error) else None


def test_known_reference_backward_bug_still_judges_the_forward():
    case = next(c for c in STANDARD if c.name == "x32-h32-zero")
    record = judge(case, "float32", reference=BrokenBackwardReference(known=True))
    assert record["verdict"] == "pass" and record["reason"].startswith("forward only: a known backward bug")
    assert record["backward"] == {} and "a known backward bug" in record["findings"]
    assert record["forward"]["mem"]["mismatches"] == 0


def test_unknown_reference_backward_crash_is_an_error():
    case = next(c for c in STANDARD if c.name == "x32-h32-zero")
    record = judge(case, "float32", reference=BrokenBackwardReference(known=False))
    assert record["verdict"] == "error" and "inplace" in record["reason"]


def test_zero_reset_backward_failure_is_claimed_only_on_cuda_for_the_inplace_error():
    zero = next(c for c in STANDARD if c.params.get("reset_mechanism") == "zero")
    subtract = next(c for c in STANDARD if c.params.get("reset_mechanism") == "subtract")
    inplace = RuntimeError("one of the variables needed for gradient computation has been modified by an "
                           "inplace operation: [torch.cuda.FloatTensor [3, 10]], which is output 1 of "
                           "ThnnFusedLstmCellBackward0")
    assert "cannot train on CUDA" in REFERENCE.backward_failure(zero, "cuda", inplace)
    assert REFERENCE.backward_failure(zero, "cpu", inplace) is None
    assert REFERENCE.backward_failure(subtract, "cuda", inplace) is None
    assert REFERENCE.backward_failure(zero, "cuda", RuntimeError("CUDA out of memory")) is None
