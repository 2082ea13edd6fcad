"""The work one timing sample measures: one full sequence (T steps) of a case, ours or theirs.

Both implementations get the same case, the same weights (``adapter.build`` builds them as a
pair), the same input, the same initial state and, in train mode, the same loss:

    loss = sum over output fields f of sum(trace[f] * upstream[f])

with ``upstream[f]`` a fixed standard-normal tensor (``inputs.upstream_gradients``). A forward
call runs under ``torch.no_grad()``; a train call builds the graph and runs ``loss.backward()``
into the input and every parameter (gradients are cleared before each call, so every call does
the same work).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch

from snnbench import inputs
from snnbench.cases import Case
from snnbench.errors import SnnbenchError
from snnbench.reference.base import Adapter, Pair

IMPLS = ("native", "reference")
MODES = ("forward", "train")


@dataclass
class Workload:
    """Everything built for one case, dtype and device: the calls to time and what they cost."""

    case: Case
    adapter: Adapter
    pair: Pair
    x: torch.Tensor
    state0: dict
    upstream: dict[str, torch.Tensor]
    output_shapes: dict[str, tuple[int, ...]]
    calls: dict[tuple[str, str], Callable[[], None]] = field(default_factory=dict)

    @property
    def neurons_per_sample(self) -> int:
        """Neurons of one sample: the numel of one (step, batch item) of the spike output."""
        return math.prod(self.output_shapes[self.adapter.spike_field][2:])

    def call(self, impl: str, mode: str) -> Callable[[], None]:
        key = (impl, mode)
        if key not in self.calls:
            self.calls[key] = _make_call(self, impl, mode)
        return self.calls[key]

    def clear_grads(self) -> None:
        """Free the gradients a train call left behind, so a memory baseline does not hold them."""
        for module in (self.pair.native, self.pair.reference):
            for p in module.parameters():
                p.grad = None
        for fn in self.calls.values():
            leaf = getattr(fn, "leaf", None)
            if leaf is not None:
                leaf.grad = None

    def close(self) -> None:
        self.adapter.cleanup(self.pair)


def _run(workload: Workload, impl: str):
    module = getattr(workload.pair, impl)
    run = workload.adapter.run_native if impl == "native" else workload.adapter.run_reference
    return module, run


def _make_call(workload: Workload, impl: str, mode: str) -> Callable[[], None]:
    if impl not in IMPLS:
        raise SnnbenchError(f"impl must be one of {', '.join(IMPLS)}, got '{impl}'")
    if mode not in MODES:
        raise SnnbenchError(f"mode must be one of {', '.join(MODES)}, got '{mode}'")
    module, run = _run(workload, impl)
    state0 = workload.state0
    if mode == "forward":
        x = workload.x

        def forward() -> None:
            with torch.no_grad():
                run(module, x, state0)

        return forward

    x = workload.x.clone().requires_grad_(True)
    upstream = workload.upstream
    params = [p for p in module.parameters() if p.requires_grad]

    def train() -> None:
        x.grad = None
        for p in params:
            p.grad = None
        trace = run(module, x, state0)
        # the gradient of sum_f sum(out_f * upstream_f), fed in directly: forming those products
        # (and their backward) would time the loss, the same for both impls, not the neuron
        fed = [(trace[name], _as(g, trace[name])) for name, g in upstream.items() if trace[name].requires_grad]
        torch.autograd.backward([out for out, _ in fed], [g for _, g in fed])

    train.leaf = x
    return train


def _as(grad: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    """The upstream gradient in the output's dtype (a float32 field of a float64 run, say)."""
    return grad if grad.dtype == output.dtype else grad.to(output.dtype)


def output_shapes_of(adapter: Adapter, pair: Pair, x: torch.Tensor, state0: dict) -> dict[str, tuple[int, ...]]:
    """The shapes of our trace's fields, from one forward run without a graph."""
    with torch.no_grad():
        trace = adapter.run_native(pair.native, x, state0)
    return {name: tuple(trace[name].shape) for name in adapter.fields}


def build(adapter: Adapter, case: Case, dtype: torch.dtype, device: str,
          output_shapes: dict[str, tuple[int, ...]] | None = None) -> Workload:
    """Build the pair, the input, the initial state and the upstream tensors of one case.

    ``output_shapes`` (from an earlier build) spares the probing forward run, so a memory
    measurement starts from a process that has run nothing yet.
    """
    with warnings.catch_warnings():  # the references warn about options; compare reports them
        warnings.simplefilter("ignore")
        pair = adapter.build(case, dtype, device)
    x = inputs.make_input(case, dtype, device)
    state0 = adapter.initial_state(case, dtype, device)
    if output_shapes is None:
        output_shapes = output_shapes_of(adapter, pair, x, state0)
    like = {name: torch.empty(shape, dtype=dtype, device=device) for name, shape in output_shapes.items()}
    upstream = inputs.upstream_gradients(case, like)
    return Workload(case, adapter, pair, x, state0, upstream, output_shapes)
