"""The work one timing sample measures: one full sequence (T steps) of a case, by one implementation.

Every implementation gets the same case, the same weights (the reference's module is built first,
seeded by the case, and its weights are loaded into every other), the same input, the same initial
state and, in train mode, the same upstream gradients on the same fields:

    the gradient of sum over train fields f of sum(trace[f] * upstream[f])

with ``upstream[f]`` a fixed standard-normal tensor (``inputs.upstream_gradients``) fed to
``torch.autograd.backward`` directly (forming the products would time the loss, the same for
all, not the neuron). The train fields are the fields every timed implementation exposes at
every step (all of them for ours and the reference; the spikes alone when a user's whole-sequence
call returns only those), recorded in the report. A forward call runs under ``torch.no_grad()``;
a train call builds the graph and runs the backward into the input and every parameter (gradients
are cleared before each call, so every call does the same work).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch

from snnbench import inputs
from snnbench.cases import Case
from snnbench.errors import SnnbenchError, Unsupported
from snnbench.implementations.base import EVERY_STEP, Implementation
from snnbench.implementations.reference import ReferenceImplementation
from snnbench.specs.base import NeuronSpec
from snnbench.verify import error_line

MODES = ("forward", "train")


@dataclass
class Workload:
    """Everything built for one case, dtype and device: the modules, the calls to time, and what
    they cost."""

    case: Case
    spec: NeuronSpec
    reference: ReferenceImplementation
    modules: dict[str, tuple[Implementation, torch.nn.Module]]
    x: torch.Tensor
    state0: dict
    upstream: dict[str, torch.Tensor]
    output_shapes: dict[str, tuple[int, ...]]
    train_fields: tuple[str, ...]
    problems: dict[str, str] = field(default_factory=dict)    # implementation -> why it cannot run
    calls: dict[tuple[str, str], Callable[[], None]] = field(default_factory=dict)

    @property
    def neurons_per_sample(self) -> int:
        """Neurons of one sample: the numel of one (step, batch item) of the spike output."""
        return math.prod(self.output_shapes[self.spec.spike_field][2:])

    def call(self, name: str, mode: str) -> Callable[[], None]:
        key = (name, mode)
        if key not in self.calls:
            self.calls[key] = _make_call(self, name, mode)
        return self.calls[key]

    def clear_grads(self) -> None:
        """Free the gradients a train call left behind, so a memory baseline does not hold them."""
        for _, module in self.modules.values():
            for p in module.parameters():
                p.grad = None
        for fn in self.calls.values():
            leaf = getattr(fn, "leaf", None)
            if leaf is not None:
                leaf.grad = None

    def close(self) -> None:
        for impl, module in self.modules.values():
            impl.cleanup(module)


def _make_call(workload: Workload, name: str, mode: str) -> Callable[[], None]:
    if mode not in MODES:
        raise SnnbenchError(f"mode must be one of {', '.join(MODES)}, got '{mode}'")
    impl, module = workload.modules[name]
    state0 = workload.state0
    if mode == "forward":
        x = workload.x

        def forward() -> None:
            with torch.no_grad():
                impl.run(module, x, state0)

        return forward

    x = workload.x.clone().requires_grad_(True)
    upstream = {f: workload.upstream[f] for f in workload.train_fields}
    params = [p for p in module.parameters() if p.requires_grad]

    def train() -> None:
        x.grad = None
        for p in params:
            p.grad = None
        trace = impl.run(module, x, state0)
        fed = [(trace[name], _as(g, trace[name])) for name, g in upstream.items() if trace[name].requires_grad]
        if fed:
            torch.autograd.backward([out for out, _ in fed], [g for _, g in fed])

    train.leaf = x
    return train


def _as(grad: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """The upstream gradient in the output's dtype (a float32 field of a float64 run, say)."""
    return grad if grad.dtype == output.dtype else grad.to(output.dtype)


def build(case: Case, dtype: torch.dtype, device: str, impls: list[Implementation],
          reference: ReferenceImplementation, output_shapes: dict[str, tuple[int, ...]] | None = None,
          train_fields: tuple[str, ...] | None = None) -> Workload:
    """Build the modules, the input, the initial state and the upstream tensors of one case.

    The reference's module is always built (its weights are everyone's); an implementation that
    cannot be built or run is kept out, with the reason in ``problems``. ``output_shapes`` and
    ``train_fields`` (from an earlier build) spare the probing runs, so a memory measurement
    starts from a process that has run nothing yet. Raises Unsupported where the reference
    itself cannot run the case."""
    spec = reference.spec
    with warnings.catch_warnings():  # the references warn about options; compare reports them
        warnings.simplefilter("ignore")
        ref_module = reference.build(case, dtype, device)
        weights = reference.weights(ref_module)
        modules: dict[str, tuple[Implementation, torch.nn.Module]] = {reference.name: (reference, ref_module)}
        problems: dict[str, str] = {}
        for impl in impls:
            if impl.kind == "reference":
                continue
            try:
                modules[impl.name] = (impl, impl.build(case, dtype, device, weights))
            except Unsupported as exc:
                problems[impl.name] = f"skipped: {exc}"
            except Exception as exc:          # a user's constructor, say: a result, not a traceback
                problems[impl.name] = f"error: cannot build: {_error_line(exc)}"
    x = inputs.make_input(case, dtype, device)
    state0 = spec.initial_state(case, dtype, device)
    if output_shapes is None or train_fields is None:
        output_shapes, train_fields = _probe(spec, modules, x, state0, problems)
    like = {name: torch.empty(shape, dtype=dtype, device=device) for name, shape in output_shapes.items()}
    upstream = inputs.upstream_gradients(case, like)
    return Workload(case, spec, reference, modules, x, state0, upstream, output_shapes, tuple(train_fields),
                    problems)


def _probe(spec: NeuronSpec, modules: dict, x: torch.Tensor, state0: dict,
           problems: dict[str, str]) -> tuple[dict[str, tuple[int, ...]], tuple[str, ...]]:
    """One forward run of each implementation without a graph: the reference's field shapes, and
    the fields every implementation exposes at every step (those that train). One that fails here
    is dropped, with the reason."""
    shapes: dict[str, tuple[int, ...]] = {}
    fields = list(spec.fields)
    for name, (impl, module) in list(modules.items()):
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                trace = impl.run(module, x, state0)
        except Exception as exc:
            if impl.kind == "reference":
                raise
            problems[name] = ("skipped: " if isinstance(exc, Unsupported) else "error: ") + _error_line(exc)
            impl.cleanup(module)
            del modules[name]
            continue
        if impl.kind == "reference":
            shapes = {f: tuple(trace[f].shape) for f in spec.fields}
        exposed = impl.exposed(trace)
        fields = [f for f in fields if exposed.get(f) == EVERY_STEP]
    return shapes, tuple(fields)


def _error_line(exc: BaseException) -> str:
    return error_line(exc)
