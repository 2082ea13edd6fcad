"""What a neuron *is*, independent of any implementation of it.

A :class:`NeuronSpec` names the neuron's output fields (the spike field first, then every state
the reference exposes), its canonical parameters (short names, each mapped to where the reference
class holds it, so the same weights load into every implementation), how it is called (its call
convention, which a user's drop-in follows), which constructor arguments a case may give and what
they must be, the case's initial state, and the work no implementation of it can avoid (its speed
of light).

Implementations (the reference library's, ours, a user's) live in :mod:`snnbench.implementations`
and take a spec; a spec knows none of them.

A trace is a dict ``field -> tensor (T, B, ...)``, time-major; its first field is the spike output.
"""

from __future__ import annotations

import importlib
import inspect
import math
from typing import Any, Mapping

import torch

from snnbench import departures, env, inputs, limits
from snnbench.bench import sol
from snnbench.cases import Case, thaw

Trace = dict[str, torch.Tensor]

# How an implementation of a neuron is called (the reference's own call, which drop-ins follow):
CELL = "cell"            # one step per call: spk, syn, mem = m(x_t, syn, mem); x_t (B, ...)
SEQUENCE = "sequence"    # a whole time-major sequence, from zero state: spk = m(x); x (T, B, ...)
SINABS = "sinabs"        # a whole batch-first sequence, state held in the module: spikes = m(x); x (B, T, ...)


class NeuronSpec:
    """Base class: one instance per neuron, filled in by its module under snnbench/specs/."""

    name: str = ""
    library: str = ""            # the distribution that holds the reference: "snntorch" or "sinabs"
    reference_path: str = ""     # "snntorch.SLSTM": where the reference class is imported from
    description: str = ""
    spike_field: str = "spk"
    state_fields: tuple[str, ...] = ()
    call: str = CELL
    # canonical parameter name -> its name in the reference's state_dict
    parameters: Mapping[str, str] = {}
    # constructor arguments written as tables with a ``type`` (built as objects), whatever their default
    object_arguments: tuple[str, ...] = ()

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.spike_field, *self.state_fields)

    # ---- the reference class's constructor ---------------------------------------------------
    def reference_class(self) -> type:
        module, _, name = self.reference_path.rpartition(".")
        return getattr(importlib.import_module(module), name)

    def unavailable(self) -> str | None:
        """Why the installed library cannot serve this neuron (None where it can): a release
        without it (snntorch 0.7.0 has no LeakyParallel), or no library at all."""

        try:
            self.reference_class()
        except (ImportError, AttributeError):
            version = env.version_of(self.library)
            return (f"{self.library} {version} has no {self.reference_path}" if version
                    else f"{self.library} is not installed")
        return None

    def reference_arguments(self) -> dict[str, inspect.Parameter]:
        params = inspect.signature(self.reference_class().__init__).parameters
        return {k: v for k, v in params.items() if k != "self" and v.kind is not v.VAR_KEYWORD
                and v.kind is not v.VAR_POSITIONAL}

    # ---- checking a case -----------------------------------------------------------------------
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
        for key, value in case.params.items():
            why = None if key in self.object_arguments else argument_problem(value, known[key].default)
            if why:
                raise case.error(f"params.{key}", why)
        self.validate_params(case)

    def validate_params(self, case: Case) -> None:
        """Neuron-specific checks; raise ``case.error(key, message)``."""

    def departures(self, case: Case) -> list[str]:
        """The ids of the departures (snnbench/departures/records.toml) that bear on this case."""
        return []

    def notes(self, case: Case) -> list[str]:
        """What else a user should know about this case (precision the reference runs at, say)."""
        return []

    def findings(self, case: Case) -> list[str]:
        """Where the reference departs from its documentation in this case: each departure that
        bears on it and that the installed release shows (its probe), then the notes."""

        return [departures.finding(i) for i in self.departures(case) if departures.holds(i)] + self.notes(case)

    # ---- constructor arguments -----------------------------------------------------------------
    def constructor_kwargs(self, case: Case, device: str, ours: bool, documented=frozenset()) -> dict[str, Any]:
        """The case's params as keyword arguments of the constructor. Object arguments (written as
        tables with a ``type``) are built as the reference library's objects, or as ours when
        ``ours`` (our neurons take our own surrogates and connections, never the library's; with
        the ``documented`` departures run as documented)."""
        raise NotImplementedError

    # ---- state -----------------------------------------------------------------------------------
    def initial_state(self, case: Case, dtype: torch.dtype, device: str) -> dict[str, torch.Tensor]:
        """The state going into the first step (empty for a neuron that always starts at zero)."""
        return {}

    def state_before(self, trace: Trace, state0: dict, t: int) -> dict[str, torch.Tensor]:
        """The state going into step t of a run whose trace is given (its state after step t-1)."""
        if t == 0:
            return dict(state0)
        return {f: trace[f][t - 1] for f in self.state_fields}

    # ---- memory ----------------------------------------------------------------------------------
    def footprint(self, case: Case) -> tuple[int, int]:
        """(elements a run holds per step and batch item, parameter elements), for the memory
        estimate made before a case runs (snnbench/footprint.py). Per step and batch item: the
        input, every output field and the largest working set of one step. Default, for
        elementwise neurons: the input and every field, each of the sample's size."""
        return math.prod(case.sample_shape) * (1 + len(self.fields)), 0

    # ---- benchmarking ----------------------------------------------------------------------------
    def speed_of_light(self, case: Case, dtype: torch.dtype, device: str, mode: str = "forward"):
        """A callable doing the work this case cannot avoid, timed beside the implementations
        (see snnbench/bench/sol.py). ``mode`` is "forward" or "train" (forward and backward).

        Default, for elementwise neurons: a copy of the bytes the neuron must touch, its input and
        every output field (each (T, B, *sample_shape)), read and written again by the backward
        pass in train mode. Neurons whose cost is matmuls or convolutions override this."""

        numel = case.steps * case.batch * math.prod(case.sample_shape) * (1 + len(self.fields))
        return sol.copy_bytes(numel, dtype, device, passes=2 if mode == "train" else 1,
                              what="input and outputs")


def check_learnable(case: Case, key: str, flag: str, default: Any) -> None:
    """A value the reference turns into a parameter when ``flag`` is set must be a float: an
    integer becomes an integer tensor, which cannot require gradients (the reference raises)."""
    value = case.params.get(key, default)
    if case.params.get(flag) and isinstance(value, int) and not isinstance(value, bool):
        raise case.error(f"params.{key}", f"integer {value} with {flag} = true: the reference raises (an integer "
                         f"tensor cannot require gradients); write {float(value)}")


def _numbers(value) -> bool:
    """A number, or a non-empty (nested) list of numbers (a list stands for a tensor)."""
    if isinstance(value, tuple):
        return len(value) > 0 and all(_numbers(v) for v in value)
    return limits.is_number(value)


def argument_problem(value, default) -> str | None:
    """What is wrong with a constructor argument given the type of the reference's default, or
    None: a flag (default True/False) must be true or false, a number (default 1.0, 0) a number or a
    list of numbers, a string a string. Arguments without a typed default (None, objects) are
    checked by the neuron's own validate_params."""
    shown = f"{type(thaw(value)).__name__} {thaw(value)!r}"
    if isinstance(default, bool):
        return None if isinstance(value, bool) else f"must be true or false, got {shown}"
    if limits.is_number(default):
        return None if _numbers(value) else f"must be a number (or a list of numbers), got {shown}"
    if isinstance(default, str):
        return None if isinstance(value, str) else f"must be a string, got {shown}"
    return None


def random_state(case: Case, shape: tuple[int, ...], dtype: torch.dtype, device: str,
                 names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """One seeded initial state tensor per name, each of ``shape`` (zeros for initial_state = zeros)."""
    gen = inputs.generator(case, inputs.STATE)
    return {name: inputs.make_state(case, shape, dtype, device, gen) for name in names}
