"""What snntorch's two LSTM neurons (SLSTM, SConv2dLSTM) share as specifications.

Both are called one step at a time, ``spk, syn, mem = m(x_t, syn, mem)`` (or ``m(x_t)`` holding
their state with ``init_hidden``), reset from the previous mem and never reset syn, and compute
their reset signal in float32. A subclass says the state's shape, and its own checks and findings.
"""

from __future__ import annotations

from typing import Mapping

import torch

from snnbench.cases import Case, thaw
from snnbench.specs import snntorch_options
from snnbench.specs.base import CELL, NeuronSpec, check_learnable, random_state


class SnntorchCellSpec(NeuronSpec):
    library = "snntorch"
    state_fields = ("syn", "mem")
    call = CELL
    object_arguments = snntorch_options.OBJECT_ARGUMENTS

    # ---- neuron-specific parts -------------------------------------------------------------
    def state_shape(self, case: Case) -> tuple[int, ...]:
        raise NotImplementedError

    def plain_params(self, case: Case) -> dict:
        """The case's params as plain values (before object arguments are built)."""
        return thaw(case.params)

    # ---- shared ----------------------------------------------------------------------------
    def validate_common(self, case: Case) -> None:
        reset = case.params.get("reset_mechanism", "none")
        if reset not in ("subtract", "zero", "none"):
            raise case.error("params.reset_mechanism", f"must be 'subtract', 'zero' or 'none', got {reset!r}")
        for key, value in case.params.items():
            snntorch_options.validate(case, key, value)
        check_learnable(case, "threshold", "learn_threshold", 1.0)

    def departures(self, case: Case) -> list[str]:
        p, n = case.params, self.name
        ids = []
        if p.get("reset_mechanism", "none") != "none":
            ids.append(f"{n}-reset-zero-mem-only")
        if p.get("inhibition"):
            ids.append(f"{n}-inhibition-ignored")
        ids += snntorch_options.atan_departures(p)
        return ids

    def notes(self, case: Case) -> list[str]:
        p = case.params
        notes = []
        if self.float32_threshold_grad(case):
            notes.append("in float64 runs the reference's reset signal is float32, so reset * threshold and the "
                         "threshold's gradient through it are computed in float32 (judged at float32 tolerance)")
        if self.float32_surrogate_grad(case):
            notes.append(f"in float64 runs the reference's {p['spike_grad']['type']} surrogate multiplies the spikes' "
                         "float32 gradient by its parameter in float32 (grad_input * slope or threshold), so every "
                         "gradient through the spikes carries float32 rounding (judged at float32 tolerance)")
        return notes

    @staticmethod
    def float32_threshold_grad(case: Case) -> bool:
        return bool(case.params.get("learn_threshold")) and case.params.get("reset_mechanism") == "subtract"

    # snntorch surrogates whose backward multiplies the spikes' float32 gradient by a scalar first
    FLOAT32_BACKWARD = ("sigmoid", "spike_rate_escape", "triangular")

    @classmethod
    def float32_surrogate_grad(cls, case: Case) -> bool:
        spike_grad = case.params.get("spike_grad")
        return isinstance(spike_grad, Mapping) and spike_grad.get("type") in cls.FLOAT32_BACKWARD \
            and not case.params.get("surrogate_disable")

    def constructor_kwargs(self, case: Case, device: str, ours: bool, documented=frozenset()) -> dict:
        params = {k: torch.tensor(v, dtype=torch.float32) if isinstance(v, list) else v
                  for k, v in self.plain_params(case).items()}
        return snntorch_options.build_objects(params, ours, documented)

    def initial_state(self, case: Case, dtype, device) -> dict:
        return random_state(case, self.state_shape(case), dtype, device, ("syn", "mem"))
