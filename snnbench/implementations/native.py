"""Ours: snnbench's from-scratch neurons (snnbench.neurons) as implementations.

Our modules are drop-ins of the reference classes (same constructor arguments, same call), hold
their parameters under the spec's canonical names, and add what the reference lacks: a whole
sequence in one call (``sequence``, the fast path that bench times) and one step from any given
state (``step``, for the step-by-step check).
"""

from __future__ import annotations

from typing import Any

import torch

from snnbench import __version__, departures
from snnbench.implementations.base import Implementation, load_weights, trainable
from snnbench.neurons.alif import ALIFState
from snnbench.specs.base import Trace


class NativeImplementation(Implementation):
    kind = "native"
    can_step = True
    native_class: type = None
    documented: frozenset[str] = frozenset()     # departures to run as their documentation says

    def documented_variant(self, documented) -> "NativeImplementation":
        """Ours with these departures run as documented (``audit`` judges it against the reference)."""
        variant = type(self)(self.spec)
        variant.native_class = self.native_class
        variant.documented = frozenset(documented)
        return variant

    @property
    def name(self) -> str:
        return "native" if not self.documented else "native (documented: " + ", ".join(sorted(self.documented)) + ")"

    def info(self) -> dict[str, Any]:
        cls = self.native_class
        return {"name": self.name, "kind": self.kind, "class": f"{cls.__module__}:{cls.__qualname__}",
                "version": __version__, "documented": sorted(self.switches())}

    def _names(self) -> dict[str, str]:
        return {canonical: canonical for canonical in self.spec.parameters}

    def switches(self) -> frozenset[str]:
        """The departures ours runs as documented: those asked for, and those with a switch that
        the installed reference does not show (so ours matches whatever release is installed)."""
        return self.documented | departures.switches_for_installed(self.spec.name)

    def build(self, case, dtype, device, weights=None) -> torch.nn.Module:
        documented = self.switches()
        kwargs = self.spec.constructor_kwargs(case, device, ours=True, documented=documented)
        module = self.native_class(**kwargs, **({"documented": documented} if documented else {}))
        module = module.to(device=device, dtype=dtype)
        if weights is not None:
            # a weight whose documented initial value differs (a per-neuron beta, say) keeps it
            keep = getattr(module, "documented_weights", set())
            load_weights(module, {k: v for k, v in weights.items() if k not in keep}, self._names(), "ours")
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
        return ALIFState(values["v_mem"], values["i_syn"], values["b"], values["spike_threshold"])

    def run(self, module, x, state0) -> Trace:
        spikes, states = module.sequence(x, self._state(state0))
        return {"spikes": spikes, **states._asdict()}

    def step(self, module, x_t, previous) -> Trace:
        spikes, state = module.step(x_t, self._state(previous), previous.get("spikes"))
        return {"spikes": spikes, **state._asdict()}
