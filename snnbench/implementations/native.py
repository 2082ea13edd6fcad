"""Ours: snnbench's from-scratch neurons (snnbench.neurons) as implementations.

Our modules are drop-ins of the reference classes (same constructor arguments, same call), hold
their parameters under the spec's canonical names, and add what the reference lacks: a whole
sequence in one call (``sequence``, the fast path that bench times) and one step from any given
state (``step``, for the step-by-step check).
"""

from __future__ import annotations

from typing import Any

import torch

from snnbench import __version__
from snnbench.implementations.base import Implementation, load_weights, trainable
from snnbench.specs.base import Trace


class NativeImplementation(Implementation):
    kind = "native"
    can_step = True
    native_class: type = None

    def info(self) -> dict[str, Any]:
        cls = self.native_class
        return {"name": self.name, "kind": self.kind, "class": f"{cls.__module__}:{cls.__qualname__}",
                "version": __version__}

    def _names(self) -> dict[str, str]:
        return {canonical: canonical for canonical in self.spec.parameters}

    def build(self, case, dtype, device, weights=None) -> torch.nn.Module:
        module = self.native_class(**self.spec.constructor_kwargs(case, device, ours=True))
        module = module.to(device=device, dtype=dtype)
        if weights is not None:
            load_weights(module, weights, self._names(), "ours")
        return module

    def parameters(self, module) -> dict[str, torch.Tensor]:
        return trainable(module, self._names())


class SnntorchCellNative(NativeImplementation):
    """Our SLSTM and SConv2dLSTM."""

    def run(self, module, x, state0) -> Trace:
        spk, syn, mem = module.sequence(x, state0["syn"], state0["mem"])
        return {"spk": spk, "syn": syn, "mem": mem}

    def step(self, module, x_t, previous) -> Trace:
        module.syn, module.mem = previous["syn"], previous["mem"]
        init_hidden, module.init_hidden = module.init_hidden, False
        try:
            spk, syn, mem = module(x_t)
        finally:
            module.init_hidden = init_hidden
        return {"spk": spk, "syn": syn, "mem": mem}


class LeakyParallelNative(NativeImplementation):
    def run(self, module, x, state0) -> Trace:
        spk, mem = module.sequence(x)
        return {"spk": spk, "mem": mem}

    def step(self, module, x_t, previous) -> Trace:
        spk, mem = module.step(x_t, previous.get("mem"))
        return {"spk": spk, "mem": mem}


class ALIFNative(NativeImplementation):
    """Our ALIF and ALIFRecurrent (the spec says which)."""

    @staticmethod
    def _state(values):
        from snnbench.neurons.alif import ALIFState

        return ALIFState(values["v_mem"], values["i_syn"], values["b"], values["spike_threshold"])

    def run(self, module, x, state0) -> Trace:
        spikes, states = module.sequence(x, self._state(state0))
        return {"spikes": spikes, **states._asdict()}

    def step(self, module, x_t, previous) -> Trace:
        spikes, state = module.step(x_t, self._state(previous), previous.get("spikes"))
        return {"spikes": spikes, **state._asdict()}
