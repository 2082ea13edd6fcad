"""Implementations of the neurons: the reference library's, ours (``native``), and the user's.

``reference(spec)`` and ``native(spec)`` give the built-in two; ``select(values, neurons)`` turns
the command line's ``--impl`` values (native, reference, all, MODULE:CLASS, or the name of an
installed entry point of the group ``snnbench.implementations``) into the implementations to run
for each neuron.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from snnbench import specs
from snnbench.errors import SnnbenchError
from snnbench.implementations import user
from snnbench.implementations.base import Implementation
from snnbench.implementations.native import NativeImplementation
from snnbench.implementations.reference import ReferenceImplementation

BUILTIN = ("native", "reference")

# neuron -> (reference implementation, our implementation, our module class), as import paths
_IMPLEMENTATIONS = {
    "slstm": ("snntorch_reference:SLSTMReference", "native:SnntorchCellNative", "snnbench.neurons.slstm:SLSTM"),
    "sconv2dlstm": ("snntorch_reference:SConv2dLSTMReference", "native:SnntorchCellNative",
                    "snnbench.neurons.sconv2dlstm:SConv2dLSTM"),
    "leakyparallel": ("snntorch_reference:LeakyParallelReference", "native:LeakyParallelNative",
                      "snnbench.neurons.leaky_parallel:LeakyParallel"),
    "alif": ("sinabs_reference:ALIFReference", "native:ALIFNative", "snnbench.neurons.alif:ALIF"),
    "alifrecurrent": ("sinabs_reference:ALIFReference", "native:ALIFNative", "snnbench.neurons.alif:ALIFRecurrent"),
}


def _import(path: str, package: str = "snnbench.implementations"):
    module, _, name = path.partition(":")
    if not module.startswith("snnbench."):
        module = f"{package}.{module}"
    return getattr(importlib.import_module(module), name)


@lru_cache(maxsize=None)
def reference(neuron: str) -> ReferenceImplementation:
    return _import(_IMPLEMENTATIONS[neuron][0])(specs.get(neuron))


@lru_cache(maxsize=None)
def native(neuron: str) -> NativeImplementation:
    impl = _import(_IMPLEMENTATIONS[neuron][1])(specs.get(neuron))
    impl.native_class = _import(_IMPLEMENTATIONS[neuron][2])
    return impl


def builtin(name: str, neuron: str) -> Implementation:
    return native(neuron) if name == "native" else reference(neuron)


def select(values: list[str] | None, neurons: list[str], default: tuple[str, ...] = ("native",),
           with_builtins: tuple[str, ...] = ()) -> dict[str, list[Implementation]]:
    """neuron -> the implementations the ``--impl`` values name for it, in order.

    ``all`` stands for native and reference. Without values, ``default``. When the values name
    only user implementations, ``with_builtins`` are put first (bench times the reference and ours
    beside a user's implementation). A user implementation serves the neuron it declares
    (``snnbench_neuron``, or the reference class it subclasses); one that declares none serves
    the neuron named, and must not be given for several."""

    values = list(values or default)
    names: list[str] = []
    for value in values:
        for name in (BUILTIN if value == "all" else (value,)):
            if name not in names:
                names.append(name)
    users = [name for name in names if name not in BUILTIN]
    if users and len(users) == len(names):
        names = list(with_builtins) + names
    loaded = {name: user.load_class(name) for name in users}
    known = {n: specs.get(n) for n in neurons}
    out: dict[str, list[Implementation]] = {n: [] for n in neurons}
    for name in names:
        if name in BUILTIN:
            for n in neurons:
                out[n].append(builtin(name, n))
            continue
        cls, label, dist = loaded[name]
        target = user.neuron_of(cls, {n: specs.get(n) for n in specs.names()})
        if target is None:
            if len(neurons) > 1:
                raise SnnbenchError(f"--impl {label}: it does not say which neuron it implements and "
                                    f"{len(neurons)} are named; name one neuron, or set snnbench_neuron "
                                    "on the class")
            target = neurons[0]
        if target not in specs.names():
            raise SnnbenchError(f"--impl {label}: snnbench_neuron = {target!r} is not a neuron snnbench "
                                f"knows ({', '.join(specs.names())})")
        if target not in known:
            raise SnnbenchError(f"--impl {label} implements {target}, which is not among the neurons named "
                                f"({', '.join(neurons)})")
        out[target].append(user.UserImplementation(specs.get(target), cls, label, dist))
    return out
