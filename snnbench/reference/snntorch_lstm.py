"""What snntorch's two LSTM neurons (SLSTM, SConv2dLSTM) share in an adapter.

Both take ``(x, syn, mem)`` and hold their state on the module (``init_hidden``), both reset from
the previous mem and never reset syn, and both compute their reset signal in float32. A subclass
says which of ours to build, the state's shape, and its own checks and findings.
"""

from __future__ import annotations

from typing import Mapping

import torch

from snnbench import inputs
from snnbench.cases import Case, thaw
from snnbench.reference import snntorch_options
from snnbench.reference.base import Adapter, Pair, Trace, run_reference_guarded


class SnntorchLSTMAdapter(Adapter):
    library = "snntorch"
    state_fields = ("syn", "mem")
    native_class: type = None

    # ---- neuron-specific parts -------------------------------------------------------------
    def state_shape(self, case: Case) -> tuple[int, ...]:
        raise NotImplementedError

    def constructor_params(self, case: Case) -> dict:
        """The case's params as constructor keyword arguments (before object arguments are built)."""
        return thaw(case.params)

    # ---- shared ----------------------------------------------------------------------------
    def validate_common(self, case: Case) -> None:
        reset = case.params.get("reset_mechanism", "none")
        if reset not in ("subtract", "zero", "none"):
            raise case.error("params.reset_mechanism", f"must be 'subtract', 'zero' or 'none', got {reset!r}")
        for key, value in case.params.items():
            snntorch_options.validate(case, key, value)

    def common_findings(self, case: Case, twice: str) -> list[str]:
        """Findings both LSTMs share; ``twice`` names what the reference runs twice for reset 'zero'."""
        p = case.params
        notes = []
        if p.get("inhibition"):
            notes.append("reference ignores inhibition=True (it only warns)")
        if p.get("reset_mechanism", "none") == "zero":
            notes.append(f"reset 'zero' resets mem only (syn is never reset); the reference runs {twice} twice")
        if self._float32_threshold_grad(case):
            notes.append("in float64 runs the reference's reset signal is float32, so reset * threshold and the "
                         "threshold's gradient through it are computed in float32 (judged at float32 tolerance)")
        if self._float32_surrogate_grad(case):
            notes.append("in float64 runs the reference's sigmoid surrogate multiplies the spikes' float32 gradient "
                         "by its slope in float32 (grad_input * slope), so every gradient through the spikes "
                         "carries float32 rounding (judged at float32 tolerance)")
        threshold = p.get("threshold", 1.0)
        if isinstance(threshold, (int, float)) and threshold >= 1.0:
            notes.append("mem = o*tanh(c) < 1, so a threshold >= 1 can never be crossed")
        return notes

    def _float32_threshold_grad(self, case: Case) -> bool:
        return bool(case.params.get("learn_threshold")) and case.params.get("reset_mechanism") == "subtract"

    @staticmethod
    def _float32_surrogate_grad(case: Case) -> bool:
        spike_grad = case.params.get("spike_grad")
        return isinstance(spike_grad, Mapping) and spike_grad.get("type") == "sigmoid" \
            and not case.params.get("surrogate_disable")

    def gradient_precision(self, case: Case, dtype: str) -> dict[str, str]:
        if dtype != "float64":
            return {}
        if self._float32_surrogate_grad(case):
            return {"*": "float32"}
        return {"threshold": "float32"} if self._float32_threshold_grad(case) else {}

    def build(self, case: Case, dtype: torch.dtype, device: str) -> Pair:
        params = self.constructor_params(case)
        params = {k: torch.tensor(v, dtype=torch.float32) if isinstance(v, list) else v for k, v in params.items()}
        ref_kwargs, our_kwargs = snntorch_options.split_kwargs(params)
        torch.manual_seed(case.seed * 4 + inputs.WEIGHTS)
        reference = self.reference_class()(**ref_kwargs)
        native = self.native_class(**our_kwargs)
        pair = Pair(reference.to(device=device, dtype=dtype), native.to(device=device, dtype=dtype))
        self.copy_weights(pair)
        return pair

    def cleanup(self, pair: Pair) -> None:
        snntorch_options.clear_instances()

    def initial_state(self, case: Case, dtype, device) -> dict:
        gen = inputs.generator(case, inputs.STATE)
        shape = self.state_shape(case)
        return {"syn": inputs.make_state(case, shape, dtype, device, gen),
                "mem": inputs.make_state(case, shape, dtype, device, gen)}

    def run_reference(self, reference, x: torch.Tensor, state0: dict) -> Trace:
        return run_reference_guarded(self._run_reference, reference, x, state0)

    def _run_reference(self, reference, x, state0) -> Trace:
        spikes, syns, mems = [], [], []
        if reference.init_hidden:
            reference.syn, reference.mem = state0["syn"], state0["mem"]
            syn = mem = None
        else:
            syn, mem = state0["syn"], state0["mem"]
        for t in range(x.shape[0]):
            if reference.init_hidden:
                reference(x[t])
            else:
                _, syn, mem = reference(x[t], syn, mem)
            # The states the module itself holds after the step: what the next step will read.
            spikes.append(reference.spk)
            syns.append(reference.syn)
            mems.append(reference.mem)
        return {"spk": torch.stack(spikes), "syn": torch.stack(syns), "mem": torch.stack(mems)}

    def run_native(self, native, x: torch.Tensor, state0: dict) -> Trace:
        spk, syn, mem = native.sequence(x, state0["syn"], state0["mem"])
        return {"spk": spk, "syn": syn, "mem": mem}

    def step_native(self, native, x_t, previous) -> Trace:
        native.syn, native.mem = previous["syn"], previous["mem"]
        init_hidden, native.init_hidden = native.init_hidden, False
        try:
            spk, syn, mem = native(x_t)
        finally:
            native.init_hidden = init_hidden
        return {"spk": spk, "syn": syn, "mem": mem}
