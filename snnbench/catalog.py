"""What `snnbench list` shows: each neuron, its reference with the installed version, its cases."""

from __future__ import annotations

from snnbench import cases, env, registry
from snnbench.errors import SnnbenchError


def describe() -> list[dict]:
    rows = []
    for name in registry.names():
        adapter = registry.get(name).adapter
        try:
            standard = cases.standard_cases(name)
            case_names = [c.name + (" (bench)" if c.bench else "") for c in standard]
        except SnnbenchError as exc:
            case_names = [f"error: {exc}"]
        rows.append({
            "neuron": name,
            "reference": adapter.reference_path,
            "library": adapter.library,
            "version": env.version_of(adapter.library) or "not installed",
            "description": adapter.description,
            "cases": case_names,
        })
    return rows
