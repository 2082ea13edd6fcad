"""An implementation of a neuron: something that builds a module for a case and runs it.

Every implementation of one neuron (the reference library's, ours, a user's) is built from the
same case with the same weights, runs over the same time-major input from the same initial state,
and returns a *trace*: ``field -> tensor (T, B, ...)`` for the fields it exposes. The verification
engine (:mod:`snnbench.verify`) judges one implementation against another; the bench
(:mod:`snnbench.bench`) times any set of them.

Weights: the reference implementation's module is built first (seeded by the case) and its
parameters, by their canonical names (``spec.parameters``), are loaded into every other
implementation's module (:func:`load_weights`).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from snnbench.cases import Case
from snnbench.specs.base import NeuronSpec, Trace

EVERY_STEP = "every step"
LAST_STEP = "last step"


class Implementation:
    """Base class. ``kind`` is "reference", "native" (ours) or "user"."""

    kind: str = ""
    can_step: bool = False        # can run one step from a given state (the step-by-step check)

    def __init__(self, spec: NeuronSpec):
        self.spec = spec

    @property
    def name(self) -> str:
        """How reports and tables name it: "reference", "native", or the user's MODULE:CLASS."""
        return self.kind

    def info(self) -> dict[str, Any]:
        """What a report records about it: name, kind, the class (MODULE:CLASS) and its version."""
        raise NotImplementedError

    # ---- building ------------------------------------------------------------------------------
    def build(self, case: Case, dtype: torch.dtype, device: str,
              weights: Mapping[str, torch.Tensor] | None = None) -> torch.nn.Module:
        """The module for ``case``, on ``device`` in ``dtype``, holding ``weights`` (canonical
        name -> tensor, from the reference's module)."""
        raise NotImplementedError

    def cleanup(self, module: torch.nn.Module) -> None:
        """Undo global side effects of building (e.g. a library's registry of instances)."""

    # ---- running -------------------------------------------------------------------------------
    def run(self, module: torch.nn.Module, x: torch.Tensor, state0: dict[str, torch.Tensor]) -> Trace:
        """The whole time-major sequence ``x`` from ``state0``: a trace of the fields it exposes."""
        raise NotImplementedError

    def step(self, module: torch.nn.Module, x_t: torch.Tensor, previous: dict[str, torch.Tensor]) -> Trace:
        """One step from the given previous state (each field (B, ...)); fields without the time
        axis. Only where ``can_step``."""
        raise NotImplementedError

    def exposed(self, trace: Trace) -> dict[str, str]:
        """Which of the neuron's fields a trace of this implementation holds, and whether at every
        step (``EVERY_STEP``, (T, B, ...)) or only after the last one (``LAST_STEP``, (1, B, ...))."""
        return {f: EVERY_STEP for f in self.spec.fields if f in trace}

    def parameters(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Canonical name -> the module's trainable tensor, for every parameter it trains."""
        raise NotImplementedError


def find_tensor(module: torch.nn.Module, dotted: str) -> torch.Tensor | None:
    """The tensor at a dotted attribute path of a module (a parameter, buffer or plain tensor
    attribute), or None."""
    obj: Any = module
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if isinstance(obj, torch.Tensor) else None


def trainable(module: torch.nn.Module, paths: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """canonical -> the trainable parameter at ``paths[canonical]`` in ``module`` (those that exist)."""
    params = dict(module.named_parameters())
    return {canonical: params[path] for canonical, path in paths.items()
            if path in params and params[path].requires_grad}


class WeightError(Exception):
    """The reference's weights cannot be loaded into a module (a missing or misshapen tensor)."""


def load_weights(module: torch.nn.Module, weights: Mapping[str, torch.Tensor], paths: Mapping[str, str],
                 where: str) -> None:
    """Copy each canonical weight into the module's tensor at ``paths[canonical]``.

    A weight the reference holds as a parameter must exist in the module with the same shape
    (else the two would not compute with the same weights): :class:`WeightError` names it. One it
    holds as a buffer (a threshold the constructor already set, say) is copied where it exists."""
    with torch.no_grad():
        for canonical, value in weights.items():
            path = paths.get(canonical, canonical)
            target = find_tensor(module, path)
            if target is None:
                if isinstance(value, torch.nn.Parameter):
                    raise WeightError(f"{where} has no '{path}' to hold the reference's {canonical} "
                                      f"(shape {list(value.shape)})")
                continue
            if target.shape != value.shape:
                raise WeightError(f"{where}.{path} has shape {list(target.shape)}, the reference's "
                                  f"{canonical} has {list(value.shape)}")
            target.copy_(value)
