"""A user's implementation: a drop-in of the reference class, written without snnbench in mind.

The contract (see the README, "Your own implementation"):

- **Construction**: ``Cls(**params)`` with the reference's constructor arguments (the case's
  params; object arguments such as ``spike_grad`` or ``rec_connect`` as the reference library's
  own objects). It may take ``**kwargs`` and ignore what it does not use.
- **Weights**: it holds its parameters under the reference's names (``lstm_cell.weight_ih``,
  ``rnn.weight_hh_l0``, ``conv.weight``, ``tau_mem``, ``rec_connect.weight``, ...), or declares
  how its names map to the reference's in a class attribute
  ``snnbench_parameter_names = {"its.name": "reference.name"}``. snnbench copies the reference's
  weights into it.
- **Call**: as the reference is called (:mod:`snnbench.specs.base`):
  cell neurons (SLSTM, SConv2dLSTM) ``spk, syn, mem = m(x_t, syn, mem)`` per step (with
  ``init_hidden=True``: ``m.syn``/``m.mem`` set, ``spk = m(x_t)``); LeakyParallel ``spk = m(x)``
  over (T, B, N); ALIF and ALIFRecurrent sinabs' batch-first ``spikes = m(x)`` over (B, T, ...),
  the initial state set through ``init_state_with_shape`` and the attributes ``v_mem``, ``i_syn``,
  ``b``, ``spike_threshold`` where it has them.
- Optionally ``snnbench_neuron = "slstm"`` says which neuron it implements (else a subclass of a
  reference class is taken for that neuron, and otherwise it serves the neuron named on the
  command line).

What can be compared follows from the call: a cell call exposes spikes and both states at every
step and can be stepped from any state; a whole-sequence call exposes its spikes at every step
and, for sinabs, the state it holds after the last step.

Loading (``--impl MODULE:CLASS`` or an entry point of the group ``snnbench.implementations``)
fails with one line naming the implementation and what is wrong (:class:`ImplementationError`).
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from importlib import metadata
from typing import Any

import torch

from snnbench import inputs
from snnbench.cases import Case
from snnbench.errors import SnnbenchError, Unsupported
from snnbench.implementations.base import (
    LAST_STEP,
    Implementation,
    WeightError,
    load_weights,
    trainable,
)
from snnbench.implementations.snntorch_reference import clear_instances
from snnbench.specs.base import CELL, SEQUENCE, SINABS, NeuronSpec, Trace

GROUP = "snnbench.implementations"
SINABS_HELD_STATE = ("v_mem", "b", "spike_threshold")   # what sinabs keeps after a call (not i_syn)


class ImplementationError(SnnbenchError):
    """A user implementation that cannot be loaded or used: one line, exit code 2."""


class CallError(RuntimeError):
    """A user implementation's call returned something the contract does not allow."""


# ---- finding the class ---------------------------------------------------------------------------
def entry_points() -> list[metadata.EntryPoint]:
    return sorted(metadata.entry_points(group=GROUP), key=lambda ep: ep.name)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def load_class(value: str) -> tuple[type, str, str | None]:
    """``MODULE:CLASS`` or an installed entry point's name -> (class, label, distribution name)."""
    if ":" in value:
        module_name, _, attribute = value.partition(":")
        if not module_name or not attribute:
            raise ImplementationError(f"--impl {value}: give it as MODULE:CLASS (e.g. mypkg.fast:FastSLSTM)")
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())     # importable from the current directory, as documented
        try:
            obj: Any = importlib.import_module(module_name)
        except Exception as exc:                # any failure while importing the user's module
            raise ImplementationError(f"--impl {value}: module '{module_name}' does not import: "
                                      f"{_one_line(exc)}") from None
        for part in attribute.split("."):
            if not hasattr(obj, part):
                raise ImplementationError(f"--impl {value}: module '{module_name}' has no '{attribute}'")
            obj = getattr(obj, part)
        return _checked_class(obj, value), value, _distribution_of(module_name)
    for ep in entry_points():
        if ep.name == value:
            try:
                obj = ep.load()
            except Exception as exc:            # the installed package's own import failure
                raise ImplementationError(f"--impl {value}: entry point {ep.value} does not load: "
                                          f"{_one_line(exc)}") from None
            dist = ep.dist.name if getattr(ep, "dist", None) is not None else None
            return _checked_class(obj, value), value, dist
    installed = ", ".join(ep.name for ep in entry_points())
    raise ImplementationError(f"--impl {value}: not native, reference, MODULE:CLASS or an installed implementation"
                              + (f" (installed: {installed})" if installed else " (none is installed)"))


def _checked_class(obj: Any, value: str) -> type:
    if not inspect.isclass(obj):
        raise ImplementationError(f"--impl {value}: is a {type(obj).__name__}, not a class")
    if not issubclass(obj, torch.nn.Module):
        raise ImplementationError(f"--impl {value}: class {obj.__name__} is not a torch.nn.Module")
    return obj


def _distribution_of(module_name: str) -> str | None:
    """The installed distribution that provides a module's top-level package, where there is one."""
    names = metadata.packages_distributions().get(module_name.split(".")[0])
    return names[0] if names else None


def neuron_of(cls: type, known: dict[str, NeuronSpec]) -> str | None:
    """The neuron a class says it implements (``snnbench_neuron``), or the reference it subclasses."""
    declared = getattr(cls, "snnbench_neuron", None)
    if isinstance(declared, str):
        return declared
    matches = []
    for name, spec in known.items():
        try:
            reference = spec.reference_class()
        except Exception:           # a reference absent from the installed library
            continue
        if issubclass(cls, reference):
            matches.append((len(reference.__mro__), name))
    return max(matches)[1] if matches else None    # the most derived (ALIFRecurrent, not ALIF)


# ---- the implementation ----------------------------------------------------------------------------
class UserImplementation(Implementation):
    kind = "user"

    def __init__(self, spec: NeuronSpec, cls: type, label: str, distribution: str | None = None):
        super().__init__(spec)
        self.cls = cls
        self.label = label
        self.distribution = distribution
        self.can_step = spec.call == CELL
        declared = getattr(cls, "snnbench_parameter_names", None) or {}
        if not isinstance(declared, dict):
            raise ImplementationError(f"--impl {label}: snnbench_parameter_names must be a dict "
                                      "{its name: the reference's name}")
        theirs_by_reference = {ref: its for its, ref in declared.items()}
        self.paths = {canonical: theirs_by_reference.get(ref, ref) for canonical, ref in spec.parameters.items()}

    @property
    def name(self) -> str:
        return self.label

    def info(self) -> dict[str, Any]:
        version = None
        if self.distribution:
            try:
                version = metadata.version(self.distribution)
            except metadata.PackageNotFoundError:
                pass
        return {"name": self.label, "kind": self.kind, "class": f"{self.cls.__module__}:{self.cls.__qualname__}",
                "version": version, "package": self.distribution}

    def build(self, case: Case, dtype, device, weights=None) -> torch.nn.Module:
        module = self.cls(**self.spec.constructor_kwargs(case, device, ours=False))
        if not isinstance(module, torch.nn.Module):
            raise CallError(f"{self.label}(...) returned a {type(module).__name__}, not a torch module")
        module = module.to(device=device, dtype=dtype)
        if weights is not None:
            try:
                load_weights(module, weights, self.paths, self.cls.__name__)
            except WeightError as exc:
                raise CallError(f"cannot load the reference's weights: {exc} (hold it under the reference's "
                                "name, or map names with snnbench_parameter_names)") from None
        return module

    def cleanup(self, module) -> None:
        if self.spec.library == "snntorch":

            clear_instances()      # a drop-in may subclass snntorch's neurons, which register themselves

    def parameters(self, module) -> dict[str, torch.Tensor]:
        return trainable(module, self.paths)

    # ---- running, by the neuron's call convention --------------------------------------------
    def run(self, module, x, state0) -> Trace:
        if self.spec.call == CELL:
            return self._run_cell(module, x, state0)
        if self.spec.call == SEQUENCE:
            out = module(x)
            spk = out[0] if isinstance(out, (tuple, list)) else out
            return {self.spec.spike_field: _tensor(spk, "spk = m(x)")}
        if self.spec.call == SINABS:
            return self._run_sinabs(module, x, state0)
        raise ValueError(f"unknown call convention {self.spec.call!r}")

    def step(self, module, x_t, previous) -> Trace:
        trace = self._run_cell(module, x_t.unsqueeze(0), previous)
        return {f: v[0] for f, v in trace.items()}

    def _run_cell(self, module, x, state0) -> Trace:
        holds = getattr(module, "init_hidden", False) is True
        syn, mem = state0["syn"], state0["mem"]
        if holds:
            module.syn, module.mem = syn, mem
        out_fields: dict[str, list[torch.Tensor]] = {"spk": [], "syn": [], "mem": []}
        for t in range(x.shape[0]):
            out = module(x[t]) if holds else module(x[t], syn, mem)
            if isinstance(out, (tuple, list)) and len(out) >= 3:
                spk, syn, mem = out[0], out[1], out[2]
            else:
                spk = out[0] if isinstance(out, (tuple, list)) else out
                syn, mem = getattr(module, "syn", None), getattr(module, "mem", None)
                if not holds and not (isinstance(syn, torch.Tensor) and isinstance(mem, torch.Tensor)):
                    raise CallError("m(x_t, syn, mem) must return spk, syn, mem (or hold them as m.syn, m.mem)")
            out_fields["spk"].append(_tensor(spk, "the spikes of m(x_t, syn, mem)"))
            for name, value in (("syn", syn), ("mem", mem)):
                if isinstance(value, torch.Tensor) and out_fields[name] is not None:
                    out_fields[name].append(value)
                else:
                    out_fields[name] = None     # not exposed at every step: not compared
        return {f: torch.stack(v) for f, v in out_fields.items() if v}

    def _run_sinabs(self, module, x, state0) -> Trace:
        shape = tuple(state0["v_mem"].shape)
        if callable(getattr(module, "init_state_with_shape", None)):
            module.init_state_with_shape(shape)
        settable = [name for name in self.spec.state_fields if isinstance(getattr(module, name, None), torch.Tensor)]
        if not settable and any(bool(v.detach().abs().sum()) for v in state0.values()):
            raise Unsupported(f"{self.label} holds none of {', '.join(self.spec.state_fields)} after "
                              "init_state_with_shape, so it cannot start from the case's random initial state "
                              "(a case with initial_state = \"zeros\" compares it)")
        for name in settable:
            setattr(module, name, state0[name].clone())
        out = module(x.transpose(0, 1))
        spikes = out[0] if isinstance(out, (tuple, list)) else out
        trace = {self.spec.spike_field: _tensor(spikes, "spikes = m(x)").transpose(0, 1)}
        for name in SINABS_HELD_STATE:
            value = getattr(module, name, None)
            if isinstance(value, torch.Tensor) and tuple(value.shape) == shape:
                trace[name] = value.unsqueeze(0)
        return trace

    def exposed(self, trace: Trace) -> dict[str, str]:
        out = super().exposed(trace)
        if self.spec.call == SINABS:
            out.update({f: LAST_STEP for f in SINABS_HELD_STATE if f in trace})
        return out


def _tensor(value: Any, what: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise CallError(f"{what} gave a {type(value).__name__}, not a tensor")
    return value


# ---- checking it up front ----------------------------------------------------------------------------
def check_usable(impl: UserImplementation, case: Case, reference: Implementation) -> None:
    """Build and call the implementation once on a short piece of ``case`` (two steps, CPU, float32),
    so a constructor or call that does not fit the contract is one line before any work."""
    short = case.with_sizes(steps=min(case.steps, 2))
    ref_module = reference.build(short, torch.float32, "cpu")
    module = None
    try:

        weights = reference.weights(ref_module)
        try:
            module = impl.build(short, torch.float32, "cpu", weights)
        except CallError as exc:
            raise ImplementationError(f"--impl {impl.label}: {exc}") from None
        except Unsupported:
            return
        except Exception as exc:
            raise ImplementationError(f"--impl {impl.label}: constructing it with case '{case.name}''s params "
                                      f"raised {_one_line(exc)}") from None
        x = inputs.make_input(short, torch.float32, "cpu")
        state0 = impl.spec.initial_state(short, torch.float32, "cpu")
        call = {CELL: "m(x_t, syn, mem)", SEQUENCE: "spk = m(x) over (T, B, ...)",
                SINABS: "spikes = m(x) over (B, T, ...)"}[impl.spec.call]
        try:
            with torch.no_grad():
                trace = impl.run(module, x, state0)
        except Unsupported:
            return
        except Exception as exc:
            raise ImplementationError(f"--impl {impl.label}: calling it as {call} raised {_one_line(exc)}") from None
        spikes = trace.get(impl.spec.spike_field)
        with torch.no_grad():
            expected = reference.run(ref_module, x, state0)[impl.spec.spike_field]
        if spikes is None or tuple(spikes.shape) != tuple(expected.shape):
            got = "nothing" if spikes is None else f"shape {list(spikes.shape)}"
            raise ImplementationError(f"--impl {impl.label}: calling it as {call} gave spikes of {got}, the "
                                      f"reference's have shape {list(expected.shape)}")
    finally:
        reference.cleanup(ref_module)
        if module is not None:
            impl.cleanup(module)
