"""What `snnbench list` shows: each neuron, its reference with the installed version, its standard
cases; and the implementations installed packages register (entry points)."""

from __future__ import annotations

from snnbench import env, specs
from snnbench.errors import SnnbenchError
from snnbench.implementations import user


def describe() -> list[dict]:
    rows = []
    for name in specs.names():
        spec = specs.get(name)
        try:
            standard = specs.standard_cases(name)
            case_names = [c.name + ("*" if c.bench else "") for c in standard]
        except SnnbenchError as exc:
            case_names = [f"error: {exc}"]
        rows.append({
            "neuron": name,
            "reference": spec.reference_path,
            "library": spec.library,
            "version": env.version_of(spec.library) or "not installed",
            "description": spec.description,
            "cases": case_names,
        })
    return rows


def installed_implementations() -> list[dict]:
    """Every entry point of the group snnbench.implementations: name, what it points at, its
    package and version, and the neuron it says it implements (or why it cannot be loaded)."""

    rows = []
    for ep in user.entry_points():
        dist = ep.dist.name if getattr(ep, "dist", None) is not None else None
        row = {"name": ep.name, "target": ep.value, "package": dist,
               "version": env.version_of(dist) if dist else None, "neuron": None, "problem": None}
        try:
            cls, _, _ = user.load_class(ep.name)
            row["neuron"] = user.neuron_of(cls, {n: specs.get(n) for n in specs.names()})
        except SnnbenchError as exc:
            row["problem"] = str(exc)
        rows.append(row)
    return rows
