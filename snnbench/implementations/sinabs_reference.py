"""sinabs' ALIF and ALIFRecurrent as reference implementations, with their per-step state
captured truthfully.

sinabs' ``record_states`` stores the state dict without copying it, so its recorded v_mem and
i_syn are one step late; and running the reference one step per call would change what it
computes (i_syn and the recurrent term restart at every call). Instead, while the reference runs
its whole sequence in one call, :func:`capture_steps` wraps the functional step
``sinabs.layers.functional.alif.alif_forward_single`` that its loop calls, and keeps the state the
step returns (the live tensors, so gradients flow through them) plus the membrane before the reset
and the threshold the step fired against (for the borderline margin). The wrapper calls the
original unchanged; tests check that the captured run gives the same spikes and final states as
an uncaptured one.

sinabs is batch-first (B, T, ...); traces are time-major (T, B, ...): the input is transposed.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager

import torch

from snnbench.cases import Case
from snnbench.errors import Unsupported
from snnbench.implementations.reference import ReferenceImplementation
from snnbench.specs.base import Trace

FLOAT64_REASON = ("the reference cannot run float64 truthfully: its spikes are float32 (.float()) and the 0-dim "
                  "alpha_adapt does not promote them, so (1 - alpha_adapt) * spikes, and with it b, v_mem and "
                  "spike_threshold, carry float32 rounding (errors ~1e-9, above float64 tolerance)")


@contextmanager
def capture_steps():
    """While active, every sinabs ALIF step appends (spikes, state after, v before reset, threshold
    fired against) to the yielded list. The step itself is the original, called unchanged."""
    module = importlib.import_module("sinabs.layers.functional.alif")
    original = module.alif_forward_single
    steps: list[tuple[torch.Tensor, dict, torch.Tensor, torch.Tensor]] = []

    def recording(*args, **kwargs):
        state_in = kwargs["state"] if "state" in kwargs else args[5]
        spikes, state = original(*args, **kwargs)
        # sinabs mutates the dict it was given up to the reset (which returns a copy): it now
        # holds this step's membrane before the reset and the threshold the spikes were made with.
        steps.append((spikes, dict(state), state_in["v_mem"], state_in["spike_threshold"]))
        return spikes, state

    module.alif_forward_single = recording
    try:
        yield steps
    finally:
        module.alif_forward_single = original


class ALIFReference(ReferenceImplementation):
    def build(self, case: Case, dtype, device, weights=None):
        if dtype == torch.float64 and not self.spec.recurrent:
            raise Unsupported(FLOAT64_REASON)
        return super().build(case, dtype, device)

    def run_reference(self, module, x, state0) -> Trace:
        module.init_state_with_shape(tuple(state0["v_mem"].shape))
        for name, _ in list(module.named_buffers()):
            setattr(module, name, state0[name].clone())
        with capture_steps() as steps:
            out = module(x.transpose(0, 1))
        trace = {"spikes": out.transpose(0, 1)}
        for f in self.spec.state_fields:
            trace[f] = torch.stack([state[f] for _, state, _, _ in steps])
        v_before = torch.stack([v.detach() for _, _, v, _ in steps])
        fired_at = torch.stack([torch.broadcast_to(th.detach(), v.shape) for _, _, v, th in steps])
        trace["_margin"] = spike_margin(module.spike_fn, v_before, fired_at)
        return trace

    def margin(self, module, trace: Trace) -> torch.Tensor:
        return trace["_margin"]


def spike_margin(spike_fn, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Distance of the membrane (before reset) from where the spike count changes."""
    if getattr(spike_fn, "__name__", "") == "SingleSpike":
        return v - threshold
    limit = getattr(spike_fn, "max_num_spikes_per_bin", None)
    k = torch.round(v / threshold).clamp(min=1)
    if limit is not None:
        k = k.clamp(max=limit)
    return v - k * threshold
