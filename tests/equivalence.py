"""What the neuron tests share: judging a case, the check every standard case must pass, and a
deliberately wrong implementation (ours with one weight moved) as a negative control."""

import torch

from snnbench import implementations, specs, verify


def judge(case, dtype, impl=None, device="cpu", reference=None) -> dict:
    """The compare record of ``impl`` (ours by default) against the reference."""
    return verify.compare(case, dtype, device, impl or implementations.native(case.neuron),
                          reference or implementations.reference(case.neuron))


def nudged(neuron: str, nudge):
    """Ours, with ``nudge(module, case)`` applied after the reference's weights are loaded: an
    implementation that must fail."""
    native = implementations.native(neuron)

    class Nudged(type(native)):
        @property
        def name(self):
            return "nudged"

        def build(self, case, dtype, device, weights=None):
            module = super().build(case, dtype, device, weights)
            with torch.no_grad():
                nudge(module, case)
            return module

    impl = Nudged(specs.get(neuron))
    impl.native_class = native.native_class
    return impl


def assert_equivalent(record: dict) -> None:
    """Pass, or skipped because the reference cannot run the dtype; informative; gradients compared,
    unless the reference's backward crashes through a known bug on CUDA, which a finding states."""
    assert record["verdict"] in ("pass", "skipped"), record["reason"]
    if record["verdict"] == "skipped":
        assert "reference cannot run" in record["reason"]
        return
    assert 0 < record["spike_rate"] < 1
    if record["reason"].startswith("forward only: "):
        why = record["reason"].removeprefix("forward only: ").split("; ")[0]
        assert record["device"].startswith("cuda") and why in record["findings"]
        assert not record["backward"]
    else:
        assert record["backward"], "gradients were compared"
