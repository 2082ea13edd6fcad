"""Sweeps: one case benchmarked over a range of one parameter (``--vary steps=10,100,1000``).

The varied key is ``steps`` or ``batch`` (the case's sizes) or one of the reference
constructor's arguments (``params``: e.g. ``hidden_size=64,256,1024``). Values are finite
numbers. Each point is a copy of the case named ``<case>.<key>-<value>``, parsed and checked
against the neuron's spec exactly like a case file's, so a value the neuron cannot take is a
one-line error before anything runs.
"""

from __future__ import annotations

from typing import Any, Callable

from snnbench import cases, specs
from snnbench.values import SIZES
from snnbench.bench import runner
from snnbench.cases import Case
from snnbench.errors import SnnbenchError


def point_name(case: Case, key: str, value: Any) -> str:
    """'bench-x512-h512' varied by steps=100 -> 'bench-x512-h512.steps-100' (a valid case name)."""
    return f"{case.name}.{key}-{value}"


def value_of(record: dict, key: str) -> Any:
    """The varied parameter's value in a result record, read from its case_spec."""
    spec = record["case_spec"]
    return spec[key] if key in SIZES else spec["params"][key]


def varied_cases(case: Case, key: str, values: list[Any]) -> list[Case]:
    spec = specs.get(case.neuron)
    if key not in SIZES and key not in spec.reference_arguments():
        raise SnnbenchError(f"--vary {key}: not steps, batch or an argument of {spec.reference_path} "
                            f"(it takes: {', '.join(spec.reference_arguments())})")
    out = []
    for value in values:
        raw = {k: v for k, v in cases.to_spec(case).items() if k != "source"}
        if key in SIZES:
            raw[key] = value
        else:
            raw["params"][key] = value
        raw["name"] = point_name(case, key, value)
        out.append(specs.check(cases.parse_case(raw, case.source, 0)))
    return out


def run_sweep(case: Case, key: str, values: list[Any], options: runner.Options,
              on_result: Callable[[dict], None] | None = None) -> dict:
    """The bench report of every point, with ``sweep``: {key, values, case}."""
    points = varied_cases(case, key, values)
    return runner.run(points, options, on_result=on_result,
                            sweep={"key": key, "values": values, "case": case.name})
