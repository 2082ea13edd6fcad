"""Object arguments of snntorch neurons, written in case files as tables with a ``type``.

``spike_grad = { type = "atan", alpha = 3.0 }`` names a factory in ``snntorch.surrogate``;
``state_quant = { type = "state_quant", num_bits = 4 }`` names ``snntorch.functional.quant``'s.
Each is built twice: the reference's object from snntorch, ours from snnbench.neurons.
"""

from __future__ import annotations

import inspect
from typing import Any, Mapping

from snnbench.cases import Case
from snnbench.errors import Unsupported
from snnbench.neurons import surrogates
from snnbench.neurons.quant import StateQuant
from snnbench.specs.base import argument_problem

OBJECT_ARGUMENTS = ("spike_grad", "state_quant")


def _factory(key: str, type_name: str):
    if key == "spike_grad":
        import snntorch.surrogate as module
    else:
        from snntorch.functional import quant as module
    fn = getattr(module, type_name, None)
    return fn if callable(fn) and not inspect.isclass(fn) else None


def validate(case: Case, key: str, value: Any) -> None:
    if key not in OBJECT_ARGUMENTS:
        return
    if key == "state_quant" and value is False:
        return
    if not isinstance(value, Mapping) or "type" not in value:
        raise case.error(f"params.{key}", "expected a table with a 'type', e.g. "
                         + ('{ type = "atan", alpha = 2.0 }' if key == "spike_grad"
                            else '{ type = "state_quant", num_bits = 8 }'))
    fn = _factory(key, value["type"]) if isinstance(value["type"], str) else None
    if fn is None:
        raise case.error(f"params.{key}.type", f"snntorch has no {key} function {value['type']!r}")
    accepted = inspect.signature(fn).parameters
    for arg in value:
        if arg != "type" and arg not in accepted:
            raise case.error(f"params.{key}.{arg}",
                             f"{value['type']}() takes no argument '{arg}' (it takes: {', '.join(accepted)})")
        why = None if arg == "type" else argument_problem(value[arg], accepted[arg].default)
        if why:
            raise case.error(f"params.{key}.{arg}", why)


def reference_object(key: str, value: Mapping) -> Any:
    kwargs = {k: v for k, v in value.items() if k != "type"}
    return _factory(key, value["type"])(**kwargs)


def native_object(key: str, value: Mapping, documented=frozenset()) -> Any:
    kwargs = {k: v for k, v in value.items() if k != "type"}
    if key == "state_quant":
        return StateQuant(**kwargs)
    if value["type"] == "atan" and "atan-slope" in documented:
        kwargs["documented"] = True
    factory = surrogates.SNNTORCH_SURROGATES.get(value["type"])
    if factory is None:
        raise Unsupported(f"spike_grad '{value['type']}' is not implemented in snnbench yet "
                          f"(implemented: {', '.join(surrogates.SNNTORCH_SURROGATES)})")
    return factory(**kwargs)


def build_objects(params: dict[str, Any], ours: bool, documented=frozenset()) -> dict[str, Any]:
    """``params`` with each object argument (a table with a ``type``) built: snntorch's object, or
    ours when ``ours`` (running the ``documented`` departures as documented)."""
    out = dict(params)
    for key in OBJECT_ARGUMENTS:
        value = params.get(key)
        if isinstance(value, Mapping):
            out[key] = native_object(key, value, documented) if ours else reference_object(key, value)
    return out


def atan_departures(params: Mapping) -> list[str]:
    """The ATan departures a case's spike function shows: the default ATan's, or a given ATan's;
    none with the surrogate disabled or another surrogate."""
    if params.get("surrogate_disable"):
        return []
    spike_grad = params.get("spike_grad")
    if spike_grad is None:
        return ["default-spike-fn-atan-slope"]
    return ["atan-slope"] if spike_grad.get("type") == "atan" else []


def clear_instances() -> None:
    """snntorch appends every neuron to ``SpikingNeuron.instances`` and never removes it; a
    process that builds many references would grow without bound."""
    from snntorch._neurons.neurons import SpikingNeuron

    SpikingNeuron.instances.clear()
