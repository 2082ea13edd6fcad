"""The compare runner: each selected case, dtype and implementation judged against the reference
(:func:`snnbench.verify.compare`), into a compare report. (The bench runner is
snnbench.bench.runner.)"""

from __future__ import annotations

from typing import Callable

from snnbench import env, footprint, implementations, results, verify
from snnbench.cases import Case
from snnbench.errors import SnnbenchError
from snnbench.implementations import user


def compare_implementations(values: list[str] | None, neurons: list[str]) -> dict[str, list]:
    """neuron -> the implementations ``compare --impl`` judges (default: ours)."""
    if any(value in ("reference", "all") for value in values or ()):
        raise SnnbenchError("--impl reference: compare judges implementations against the reference; "
                            "name native or your own (MODULE:CLASS)")
    return implementations.select(values, neurons, default=("native",))


def check_user_implementations(selected: list[Case], chosen: dict[str, list]) -> None:
    """Build and call every user implementation once on its neuron's first case: a constructor or
    call that does not fit the contract is one line (exit 2) before any work."""

    if any(isinstance(impl, user.UserImplementation) for impls in chosen.values() for impl in impls):
        footprint.require([c.with_sizes(steps=min(c.steps, 2)) for c in selected], ["float32"], "cpu")
    for neuron, impls in chosen.items():
        first = next((c for c in selected if c.neuron == neuron), None)
        for impl in impls:
            if first is not None and isinstance(impl, user.UserImplementation):
                user.check_usable(impl, first, implementations.reference(neuron))


def run_compare(selected: list[Case], dtype_names: list[str], device: str,
                chosen: dict[str, list] | None = None,
                on_result: Callable[[dict], None] | None = None, skipped: dict[str, str] | None = None) -> dict:
    """Every selected case, dtype and implementation (``chosen``: neuron -> implementations; ours
    by default), judged against the reference. ``skipped``: neurons left out, and why (the
    report's ``skipped_neurons``). A case that cannot fit in memory is refused first."""
    footprint.require(selected, dtype_names, device)
    records = []
    for case in selected:
        reference = implementations.reference(case.neuron)
        judged = (chosen or {}).get(case.neuron) or [implementations.native(case.neuron)]
        for impl in judged:
            for dtype in dtype_names:
                record = verify.compare(case, dtype, device, impl, reference)
                records.append(record)
                if on_result:
                    on_result(record)
    return results.new_report("compare", env.collect(device), records,
                              **({"skipped_neurons": skipped} if skipped else {}))


def exit_code(report: dict) -> int:
    """0 when every verdict is pass or skipped, else 1."""
    return 0 if all(r["verdict"] in ("pass", "skipped") for r in report["results"]) else 1
