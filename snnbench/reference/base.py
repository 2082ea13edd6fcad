"""What every reference adapter does, and the helpers they share.

An adapter knows one neuron: how to check a case's params, build the reference module and ours
with the same weights, draw the initial state, run both over a time-major input capturing every
per-step state, run one step of ours from a given state (to compare step by step from the
reference's own state), and which parameters to compare gradients of.

A trace is a dict ``field -> tensor (T, B, ...)``; its first field is the spike output.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Mapping

import torch

from snnbench.cases import Case, thaw
from snnbench.errors import Unsupported

Trace = dict[str, torch.Tensor]


@dataclass
class Pair:
    """The reference module and ours, built from one case with the same weights."""

    reference: torch.nn.Module
    native: torch.nn.Module


class Adapter:
    """Base class: subclasses fill in the neuron-specific parts."""

    neuron: str = ""
    library: str = ""            # "snntorch" or "sinabs"
    reference_path: str = ""     # "snntorch.SLSTM": module path and class name
    description: str = ""
    spike_field: str = "spk"
    state_fields: tuple[str, ...] = ()
    # ours <- reference parameter names, for copying weights and pairing gradients
    weight_map: Mapping[str, str] = {}

    # ---- what the reference is -------------------------------------------------------------
    def reference_class(self) -> type:
        module, _, name = self.reference_path.rpartition(".")
        return getattr(importlib.import_module(module), name)

    def reference_arguments(self) -> dict[str, inspect.Parameter]:
        params = inspect.signature(self.reference_class().__init__).parameters
        return {k: v for k, v in params.items() if k != "self" and v.kind is not v.VAR_KEYWORD
                and v.kind is not v.VAR_POSITIONAL}

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.spike_field, *self.state_fields)

    # ---- checking a case -------------------------------------------------------------------
    def validate(self, case: Case) -> None:
        """Raise CaseError for params the reference does not take or that cannot fit the case."""
        known = self.reference_arguments()
        for key in case.params:
            if key not in known:
                raise case.error(f"params.{key}",
                                 f"{self.reference_path} takes no argument '{key}' "
                                 f"(it takes: {', '.join(known)})")
        for key, param in known.items():
            if param.default is inspect.Parameter.empty and key not in case.params:
                raise case.error(f"params.{key}", f"missing (required by {self.reference_path})")
        self.validate_params(case)

    def validate_params(self, case: Case) -> None:
        """Neuron-specific checks; raise ``case.error(key, message)``."""

    def gradient_precision(self, case: Case, dtype: str) -> dict[str, str]:
        """Gradients the reference computes in a lower precision than ``dtype``: name (or "*" for
        every gradient) -> the dtype whose tolerance applies. Each entry must match a finding that
        tells the user why."""
        return {}

    def findings(self, case: Case) -> list[str]:
        """Where the reference's code departs from its documentation, for this case."""
        return []

    def backward_failure(self, case: Case, device: str, error: Exception) -> str | None:
        """Why the reference's backward raised ``error``, where that is a known bug of the reference
        (a finding: the forward is still compared); None for anything else, which is an error."""
        return None

    # ---- building and running --------------------------------------------------------------
    def build(self, case: Case, dtype: torch.dtype, device: str) -> Pair:
        raise NotImplementedError

    def initial_state(self, case: Case, dtype: torch.dtype, device: str) -> dict[str, torch.Tensor]:
        return {}

    def run_reference(self, reference, x: torch.Tensor, state0: dict) -> Trace:
        raise NotImplementedError

    def run_native(self, native, x: torch.Tensor, state0: dict) -> Trace:
        raise NotImplementedError

    def step_native(self, native, x_t: torch.Tensor, previous: dict[str, torch.Tensor]) -> Trace:
        """One step of ours from the given previous state (each field (B, ...)); fields as a trace
        without the time axis. Used to compare each step from the reference's own state."""
        raise NotImplementedError

    def state_before(self, trace: Trace, state0: dict, t: int) -> dict[str, torch.Tensor]:
        """The reference's state going into step t (its recorded state after step t-1)."""
        if t == 0:
            return dict(state0)
        return {f: trace[f][t - 1] for f in self.state_fields}

    def margin(self, pair: Pair, trace: Trace) -> torch.Tensor:
        """Distance of the reference's firing variable from its threshold, (T, B, ...) like the
        spikes: where it is within tolerance of zero, a spike flip is borderline."""
        raise NotImplementedError

    def parameter_pairs(self, pair: Pair) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """name -> (reference parameter, our parameter) for every trainable parameter."""
        ref_params = dict(pair.reference.named_parameters())
        nat_params = dict(pair.native.named_parameters())
        return {ours: (ref_params[theirs], nat_params[ours])
                for ours, theirs in self.weight_map.items() if theirs in ref_params}

    def copy_weights(self, pair: Pair) -> None:
        """Give ours the reference's parameters (and matching buffers), by ``weight_map``."""
        ref_state = pair.reference.state_dict()
        with torch.no_grad():
            for ours, theirs in self.weight_map.items():
                if theirs in ref_state:
                    target = _get(pair.native, ours)
                    if target is not None:
                        target.copy_(ref_state[theirs])

    def cleanup(self, pair: Pair) -> None:
        """Undo global side effects of building a reference (e.g. registries of instances)."""

    # ---- benchmarking ----------------------------------------------------------------------
    def speed_of_light(self, case: Case, dtype: torch.dtype, device: str, mode: str = "forward"):
        """A callable doing the work this case cannot avoid, timed beside ours and theirs
        (see snnbench/bench/sol.py). ``mode`` is "forward" or "train" (forward and backward).

        Default, for elementwise neurons: a copy of the bytes the neuron must touch, its input and
        every output field (read and written again by the backward pass in train mode). Neurons
        whose cost is matmuls or convolutions override this with those.
        """
        from snnbench import inputs
        from snnbench.bench import sol

        pair = self.build(case, dtype, device)
        try:
            x = inputs.make_input(case, dtype, device)
            with torch.no_grad():
                trace = self.run_native(pair.native, x, self.initial_state(case, dtype, device))
            numel = x.numel() + sum(trace[f].numel() for f in self.fields)
        finally:
            self.cleanup(pair)
        return sol.copy_bytes(numel, dtype, device, passes=2 if mode == "train" else 1,
                              what="input and outputs")


def _get(module: torch.nn.Module, dotted: str):
    obj: Any = module
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def tensor_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Plain kwargs from frozen case params: lists become float32 tensors, tables stay dicts."""
    out = {}
    for key, value in thaw(params).items():
        out[key] = torch.tensor(value, dtype=torch.float32) if isinstance(value, list) else value
    return out


def run_reference_guarded(fn, *args):
    """Run a reference call; dtype/device failures of the reference become Unsupported (skipped)."""
    try:
        return fn(*args)
    except (RuntimeError, TypeError, ValueError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if any(word in message.lower() for word in ("dtype", "scalar type", "double", "half", "bfloat", "float")):
            raise Unsupported(f"the reference cannot run this dtype: {type(exc).__name__}: {message}") from exc
        raise
