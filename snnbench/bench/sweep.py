"""Sweeps: one case benchmarked over a range of one parameter (``--vary steps=10,100,1000``).

The varied key is ``steps`` or ``batch`` (the case's sizes) or one of the reference
constructor's arguments (``params``: e.g. ``hidden_size=64,256,1024``). Values are finite
numbers. Each point is a copy of the case named ``<case>.<key>-<value>``, parsed and checked
against the neuron's spec exactly like a case file's, so a value the neuron cannot take is a
one-line error before anything runs.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from snnbench import cases, specs
from snnbench.bench import runner
from snnbench.cases import Case
from snnbench.errors import SnnbenchError

SIZES = ("steps", "batch")


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """'steps=10,100,1000' -> ('steps', [10, 100, 1000])."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise SnnbenchError(f"--vary must look like KEY=V1,V2,... (e.g. steps=10,100,1000), got '{text}'")
    try:
        parsed = [_number(v.strip()) for v in values.split(",") if v.strip()]
    except ValueError:
        raise SnnbenchError(f"--vary {text}: values must be numbers") from None
    if not all(math.isfinite(v) for v in parsed):
        raise SnnbenchError(f"--vary {text}: values must be finite numbers")
    if len(parsed) < 2:
        raise SnnbenchError(f"--vary {text}: give at least two values")
    if len(set(parsed)) != len(parsed):
        raise SnnbenchError(f"--vary {text}: values repeat")
    if key in SIZES and not all(isinstance(v, int) and v > 0 for v in parsed):
        raise SnnbenchError(f"--vary {text}: {key} takes positive integers")
    return key, parsed


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
