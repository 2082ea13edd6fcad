"""What every reference implementation (the library's own class) does, and what it knows.

The reference is the implementation the others are judged against. Beside building and running
the library's class, it knows how to capture its per-step state truthfully (a library that
exposes only its spikes is watched from inside), where its firing variable sits (for borderline
spike flips), which gradients it computes in a lower precision than asked, and which of its
backward failures are known bugs. Subclasses fill in the neuron-specific parts.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from snnbench import env, inputs
from snnbench.cases import Case
from snnbench.errors import Unsupported
from snnbench.implementations.base import Implementation, trainable
from snnbench.specs.base import Trace


class ReferenceImplementation(Implementation):
    kind = "reference"

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "class": self.spec.reference_path,
                "version": env.version_of(self.spec.library)}

    def build(self, case: Case, dtype: torch.dtype, device: str,
              weights: Mapping[str, torch.Tensor] | None = None) -> torch.nn.Module:
        """The library's module, seeded by the case (its own initialisation is the weights every
        other implementation gets), built on CPU in float32 and moved (some references cannot be
        built elsewhere)."""
        torch.manual_seed(case.seed * 4 + inputs.WEIGHTS)
        module = self.spec.reference_class()(**self.spec.constructor_kwargs(case, device, ours=False))
        return module.to(device=device, dtype=dtype)

    def weights(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        """Canonical name -> the module's parameter or buffer, for every one the spec names."""
        params, buffers = dict(module.named_parameters()), dict(module.named_buffers())
        out = {}
        for canonical, path in self.spec.parameters.items():
            if path in params:
                out[canonical] = params[path]
            elif path in buffers:
                out[canonical] = buffers[path]
        return out

    def parameters(self, module: torch.nn.Module) -> dict[str, torch.Tensor]:
        return trainable(module, self.spec.parameters)

    def run(self, module, x, state0) -> Trace:
        return guarded(self.run_reference, module, x, state0)

    def run_reference(self, module, x, state0) -> Trace:
        raise NotImplementedError

    # ---- what is known about the reference -----------------------------------------------------
    def margin(self, module: torch.nn.Module, trace: Trace) -> torch.Tensor:
        """Distance of the reference's firing variable from its threshold, (T, B, ...) like the
        spikes: where it is within tolerance of zero, a spike flip is borderline."""
        raise NotImplementedError

    def gradient_precision(self, case: Case, dtype: str) -> dict[str, str]:
        """Gradients the reference computes in a lower precision than ``dtype``: name (or "*" for
        every gradient) -> the dtype whose tolerance applies. Each entry must match a finding that
        tells the user why."""
        return {}

    def backward_failure(self, case: Case, device: str, error: Exception) -> str | None:
        """Why the reference's backward raised ``error``, where that is a known bug of the reference
        (a finding: the forward is still compared); None for anything else, which is an error."""
        return None


def guarded(fn, *args):
    """Run a reference call; dtype/device failures of the reference become Unsupported (skipped)."""
    try:
        return fn(*args)
    except (RuntimeError, TypeError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if any(word in message.lower() for word in ("dtype", "scalar type", "double", "half", "bfloat", "float")):
            raise Unsupported(f"the reference cannot run this dtype: {type(exc).__name__}: {message}") from exc
        raise
