"""ALIF / ALIFRecurrent against sinabs: the standard cases, the options they cover, the capture of
the reference's per-step state, and a negative control. (The maths by hand and the fused sequence:
tests/neurons/test_alif.py.)"""

from __future__ import annotations

import pytest
import torch

from snnbench import implementations, inputs, specs
from snnbench.implementations.sinabs_reference import capture_steps
from snnbench.neurons import sinabs_functions as fns
from equivalence import judge, nudged


def _standard(neuron):
    return [c for c in specs.standard_cases(neuron) if not c.bench]


@pytest.mark.parametrize("case", _standard("alifrecurrent") + _standard("alif"), ids=lambda c: f"{c.neuron}-{c.name}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_standard_cases_match_the_reference(case, dtype):
    record = judge(case, dtype)
    if dtype == "float64":
        assert record["verdict"] == "skipped", record["reason"]
        assert "float32" in record["reason"] or "dtype" in record["reason"] or "type" in record["reason"]
    else:
        assert record["verdict"] == "pass", record["reason"]
        assert 0 < record["spike_rate"] < 1


def test_every_option_is_covered_by_a_standard_case():
    params = [c.params for c in specs.standard_cases("alifrecurrent")]
    kinds = lambda key: {p[key]["type"] for p in params if key in p}
    assert kinds("spike_fn") >= {"MultiSpike", "MaxSpike"}
    assert kinds("reset_fn") == {"MembraneSubtract", "MembraneReset"}
    assert kinds("surrogate_grad_fn") >= set(fns.SURROGATES) - {"SingleExponential"}
    assert kinds("rec_connect") == {"Linear", "Conv2d"}
    for key in ("tau_syn", "min_v_mem", "train_alphas", "norm_input"):
        assert any(key in p for p in params), key
    bench = [c for c in specs.standard_cases("alifrecurrent") if c.bench]
    assert [(c.steps, c.batch, c.sample_shape) for c in bench] == [(100, 32, (512,))]


def _reference_and_input(case):
    reference = implementations.reference(case.neuron)
    module = reference.build(case, torch.float32, "cpu")
    return (reference, module, inputs.make_input(case, torch.float32, "cpu"),
            reference.spec.initial_state(case, torch.float32, "cpu"))


def test_capture_does_not_change_what_the_reference_computes():
    case = next(c for c in specs.standard_cases("alifrecurrent") if c.name == "linear-syn-bias")
    reference, module, x, state0 = _reference_and_input(case)
    trace = reference.run(module, x, state0)
    captured_final = {k: getattr(module, k).detach().clone() for k in ("v_mem", "b", "spike_threshold")}
    # the same module again, with no capture: same spikes, same final state, bit for bit
    module.init_state_with_shape(tuple(state0["v_mem"].shape))
    for name, _ in list(module.named_buffers()):
        setattr(module, name, state0[name].clone())
    plain = module(x.transpose(0, 1)).transpose(0, 1)
    assert torch.equal(plain, trace["spikes"])
    for k, v in captured_final.items():
        assert torch.equal(getattr(module, k), v)
        assert torch.equal(trace[k][-1].detach(), v)


def test_record_states_is_shifted_and_the_capture_is_not():
    case = next(c for c in specs.standard_cases("alifrecurrent") if c.name == "linear-syn-bias")
    reference, module, x, state0 = _reference_and_input(case)
    module.record_states = True
    trace = reference.run(module, x, state0)
    rec = {k: v.transpose(0, 1).detach() for k, v in module.recordings.items()}
    assert torch.equal(rec["b"], trace["b"].detach())                         # b is recorded right
    assert torch.equal(rec["i_syn"][:-1], trace["i_syn"][1:].detach())          # i_syn one step late
    assert not torch.equal(rec["v_mem"], trace["v_mem"].detach())
    with capture_steps() as steps:
        pass
    assert steps == []


def test_negative_control_nudged_implementation_fails_naming_a_step():
    case = next(c for c in specs.standard_cases("alifrecurrent") if c.name == "linear-default")

    for target in ("rec_weight", "tau_mem"):
        def nudge(module, case, target=target):
            dict(module.named_parameters())[target].add_(1e-3)

        record = judge(case, "float32", nudged("alifrecurrent", nudge))
        assert record["verdict"] == "fail", (target, record["reason"])
        assert "step" in record["reason"], record["reason"]
