"""The neurons snnbench covers, by name, and their cases checked against them.

``get(name)`` gives a neuron's :class:`~snnbench.specs.base.NeuronSpec`; ``load_cases(path)``
parses a case file (:mod:`snnbench.cases`) and checks every case against its neuron's spec;
``standard_cases(name)`` are the cases shipped inside the package (``snnbench/standard_cases``).
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from importlib import resources
from pathlib import Path

from snnbench import cases as cases_mod
from snnbench.cases import Case
from snnbench.errors import SnnbenchError
from snnbench.specs.base import NeuronSpec

# name -> "module:ATTRIBUTE"; modules are imported only when a neuron is used.
_SPECS = {
    "slstm": "snnbench.specs.slstm:SPEC",
    "sconv2dlstm": "snnbench.specs.sconv2dlstm:SPEC",
    "leakyparallel": "snnbench.specs.leaky_parallel:SPEC",
    "alif": "snnbench.specs.alif:ALIF_SPEC",
    "alifrecurrent": "snnbench.specs.alif:ALIF_RECURRENT_SPEC",
}


def names() -> list[str]:
    return list(_SPECS)


@lru_cache(maxsize=None)
def get(name: str) -> NeuronSpec:
    if name not in _SPECS:
        raise SnnbenchError(f"unknown neuron '{name}' (known: {', '.join(_SPECS)})")
    module, _, attribute = _SPECS[name].partition(":")
    return getattr(importlib.import_module(module), attribute)


def resolve(requested: list[str]) -> list[str]:
    """Neuron names from the command line: 'all' expands; unknown names are errors."""
    if not requested:
        raise SnnbenchError("name at least one neuron, or 'all'")
    out: list[str] = []
    for name in requested:
        for n in (names() if name == "all" else [name]):
            if n not in _SPECS:
                raise SnnbenchError(f"unknown neuron '{n}' (known: {', '.join(_SPECS)}, all)")
            if n not in out:
                out.append(n)
    return out


def available(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """The neurons the installed libraries serve, and why each of the others is not served."""
    missing = {name: why for name in names if (why := get(name).unavailable())}
    return [n for n in names if n not in missing], missing


def check(case: Case) -> Case:
    """A parsed case checked against its neuron's spec (CaseError naming file, case and key)."""
    if case.neuron not in _SPECS:
        raise case.error("neuron", f"unknown neuron '{case.neuron}' (known: {', '.join(_SPECS)})")
    why = get(case.neuron).unavailable()
    if why:
        raise case.error("neuron", why)
    get(case.neuron).validate(case)
    return case


def load_cases(path: str | Path, neurons: list[str] | None = None) -> list[Case]:
    """Parse a case file and check every case against its neuron; with ``neurons``, only the
    cases of those (the others are not checked: their library may lack them)."""
    parsed = cases_mod.read_file(path)
    for case in parsed:
        if case.neuron not in _SPECS:
            raise case.error("neuron", f"unknown neuron '{case.neuron}' (known: {', '.join(_SPECS)})")
    return [check(case) for case in parsed if neurons is None or case.neuron in neurons]


def standard_file(neuron: str) -> Path:
    """The shipped case file of a neuron (inside the installed package)."""
    return Path(str(resources.files("snnbench") / "standard_cases" / f"{neuron}.toml"))


def standard_cases(neuron: str) -> list[Case]:
    return load_cases(standard_file(neuron))


def case_from_spec(spec: dict, source: str) -> Case:
    """The Case a report's ``case_spec`` describes, checked like a case file's."""
    return check(cases_mod.from_spec(spec, source))
