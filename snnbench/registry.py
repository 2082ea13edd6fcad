"""The neurons snnbench covers: name -> reference adapter (which knows ours and theirs)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache

from snnbench.errors import SnnbenchError

# name -> "module:AdapterClass"; modules are imported only when a neuron is used.
_ADAPTERS = {
    "slstm": "snnbench.reference.slstm:SLSTMAdapter",
    "sconv2dlstm": "snnbench.reference.sconv2dlstm:SConv2dLSTMAdapter",
    "leakyparallel": "snnbench.reference.leaky_parallel:LeakyParallelAdapter",
    "alif": "snnbench.reference.alif:ALIFAdapter",
    "alifrecurrent": "snnbench.reference.alif:ALIFRecurrentAdapter",
}


@dataclass(frozen=True)
class NeuronSpec:
    name: str
    adapter: object

    @property
    def library(self) -> str:
        return self.adapter.library

    @property
    def reference(self) -> str:
        return self.adapter.reference_path


def names() -> list[str]:
    return list(_ADAPTERS)


@lru_cache(maxsize=None)
def get(name: str) -> NeuronSpec:
    if name not in _ADAPTERS:
        raise SnnbenchError(f"unknown neuron '{name}' (known: {', '.join(_ADAPTERS)})")
    module, _, cls = _ADAPTERS[name].partition(":")
    return NeuronSpec(name, getattr(importlib.import_module(module), cls)())


def resolve(requested: list[str]) -> list[str]:
    """Neuron names from the command line: 'all' expands; unknown names are errors."""
    if not requested:
        raise SnnbenchError("name at least one neuron, or 'all'")
    out: list[str] = []
    for name in requested:
        for n in (names() if name == "all" else [name]):
            if n not in _ADAPTERS:
                raise SnnbenchError(f"unknown neuron '{n}' (known: {', '.join(_ADAPTERS)}, all)")
            if n not in out:
                out.append(n)
    return out
