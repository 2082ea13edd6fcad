"""LeakyParallel against snntorch's: every standard case, unbatched input, the per-neuron beta both
ignore, the learned decay's gradient, and a negative control.
(The maths by hand and the hand-written backward: tests/neurons/test_leaky_parallel.py.)"""

from __future__ import annotations

import pytest
import torch

from snnbench import implementations, specs
from snnbench.neurons.leaky_parallel import LeakyParallel
from equivalence import assert_equivalent, judge, nudged


SPEC = specs.get("leakyparallel")


REFERENCE = implementations.reference("leakyparallel")


def test_unbatched_input_matches_reference():
    import snntorch

    torch.manual_seed(5)
    ref = snntorch.LeakyParallel(6, 10, beta=0.6, threshold=0.2)
    ours = LeakyParallel(6, 10, beta=0.6, threshold=0.2)
    with torch.no_grad():
        for name, theirs in SPEC.parameters.items():
            getattr(ours, name).copy_(ref.state_dict()[theirs])
    x = torch.rand(15, 6)
    expected = ref(x)
    got = ours(x)
    assert got.shape == expected.shape == (15, 10)
    assert torch.equal(got, expected)
    assert 0 < expected.mean() < 1


def test_per_neuron_beta_is_ignored_by_reference_and_ours():
    import snntorch

    beta = torch.tensor([0.1, 0.2, 0.3, 0.4])
    torch.manual_seed(7)
    ref = snntorch.LeakyParallel(3, 4, beta=beta)
    torch.manual_seed(7)
    with pytest.warns(UserWarning, match="ignores"):
        ours = LeakyParallel(3, 4, beta=beta)
    assert not torch.allclose(ref.rnn.weight_hh_l0.diagonal(), beta)
    assert torch.equal(ours.weight_hh, ref.rnn.weight_hh_l0)      # same init order and draws


STANDARD = [c for c in specs.standard_cases("leakyparallel") if not c.bench]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", STANDARD, ids=[c.name for c in STANDARD])
def test_standard_case_matches_reference(case, dtype):
    record = judge(case, dtype)
    assert_equivalent(record)
    if record["verdict"] == "pass":
        assert set(record["backward"]) >= {"input", "weight_ih"}


def _nudge_input_weight(module, case):
    module.weight_ih[0, 0] += 1e-3


def test_negative_control_a_nudged_weight_fails_at_a_step():
    case = next(c for c in STANDARD if c.name == "beta-float")
    record = judge(case, "float64", nudged("leakyparallel", _nudge_input_weight))
    assert record["verdict"] == "fail"
    assert "step 0" in record["reason"] and "mem" in record["reason"]


def test_learned_decay_gradient_is_compared_as_the_full_matrix():
    case = next(c for c in STANDARD if c.name == "learn-beta-threshold")
    module = REFERENCE.build(case, torch.float64, "cpu")
    try:
        names = set(REFERENCE.parameters(module))
    finally:
        REFERENCE.cleanup(module)
    assert names == {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "threshold"}
