"""The audit: every departure of the named neurons' references from their documentation, measured
on the installed release.

For each departure (snnbench/departures/records.toml), its probe says whether the installed
library shows it. Where it does:

- a departure ours can run as documented is measured by judging ours with the documented
  behaviour against the reference on the case where it matters (snnbench/departures/cases.toml),
  with the same engine as ``compare``: the spike rate documented vs actual, the first step where
  they part, the largest difference of each field and of each gradient;
- any other is measured on the reference alone where there is a measure
  (:mod:`snnbench.departures.measures`), else the probe's own check is the evidence.

Each result is a record of the "audit" report (schema in snnbench/results.py).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable

from snnbench import cases, departures, env, implementations, results, specs, verify
from snnbench.departures import measures

AUDIT_DTYPE = "float64"       # the documented behaviour against the code's, with rounding out of the way


def audit_cases() -> dict[str, cases.Case]:
    """The case of each switchable departure, by departure id."""
    path = Path(str(resources.files("snnbench.departures") / "cases.toml"))
    return {case.name: case for case in cases.read_file(path)}


def _effect_of(record: dict) -> dict:
    """The measured effect, from a compare record of ours-as-documented against the reference."""
    fields = {f: d["max_abs"] for f, d in (record.get("forward") or {}).items()}
    gradients = {k: d["max_rel"] for k, d in (record.get("backward") or {}).items()}
    steps = [d["first_divergent_step"] for d in (record.get("forward") or {}).values()
             if d.get("first_divergent_step") is not None]
    first = min(steps) if steps else None
    documented_rate, actual_rate = record.get("judged_spike_rate"), record.get("spike_rate")
    parts = []
    if documented_rate is not None and actual_rate is not None:
        parts.append(f"spike rate {documented_rate:.1%} documented vs {actual_rate:.1%} actual")
    if first is not None:
        worst = max((f for f in fields if (record["forward"][f].get("first_divergent_step") is not None)),
                    key=lambda f: fields[f])
        parts.append(f"first differs at step {first}; largest: {worst} {fields[worst]:.3g}")
    elif fields:
        parts.append("every field equal")
    if gradients:
        worst = max(gradients, key=lambda k: gradients[k])
        parts.append(f"gradient of {worst} differs by {gradients[worst]:.3g} (rel)")
    return {"summary": "; ".join(parts), "spike_rate": {"documented": documented_rate, "actual": actual_rate},
            "first_divergent_step": first, "fields": fields, "gradients": gradients,
            "verdict": record["verdict"], "reason": record["reason"]}


def audit_one(departure: departures.Departure, neuron: str, device: str) -> dict:
    """The audit record of one departure."""
    holds = departures.holds(departure.id)
    result = {"neuron": neuron, "departure": departure.id, "library": departure.library,
              "version": env.version_of(departure.library), "documented": departure.documented,
              "actual": departure.actual, "holds": holds, "case": None, "case_spec": None,
              "method": None, "effect": None}
    if holds is None:
        result["method"] = "absent"
        result["effect"] = {"summary": "the neuron or feature does not exist in the installed release"}
        return result
    if holds is False:
        result["method"] = "not shown"
        result["effect"] = {"summary": "the installed release does what the documentation says (its probe: "
                                       f"{departure.detection})"}
        return result
    case = audit_cases().get(departure.id) if departure.documented_switch else None
    if case is not None and specs.get(case.neuron).unavailable():
        case = None                              # its case's neuron is absent here: measure or probe
    if case is not None:
        case = specs.check(case)
        native = implementations.native(case.neuron)
        documented = native.documented_variant({departure.id})
        record = verify.compare(case, AUDIT_DTYPE, device, documented, implementations.reference(case.neuron))
        if record["verdict"] == "skipped":      # the reference cannot run float64 here: float32 then
            record = verify.compare(case, "float32", device, documented, implementations.reference(case.neuron))
        result.update(neuron=case.neuron, case=case.name, case_spec=cases.to_spec(case), dtype=record["dtype"],
                      method="ours with the documented behaviour vs the reference", effect=_effect_of(record))
        return result
    measured = measures.measure(departure.id)
    if measured is not None:
        result.update(method="measured on the reference", effect=measured)
    else:
        result.update(method="probe", effect={"summary": f"shown by its probe: {departure.detection}"})
    return result


def run_audit(neurons: list[str], device: str = "cpu",
              on_result: Callable[[dict], None] | None = None, skipped: dict[str, str] | None = None) -> dict:
    """Every departure of the named neurons, each once (on the first named neuron it bears on)."""
    records, seen = [], set()
    for neuron in neurons:
        for departure in departures.of_neuron(neuron):
            if departure.id in seen:
                continue
            seen.add(departure.id)
            record = audit_one(departure, neuron, device)
            records.append(record)
            if on_result:
                on_result(record)
    return results.new_report("audit", env.collect(device), records,
                              **({"skipped_neurons": skipped} if skipped else {}))


def measured(report: dict) -> int:
    """How many departures the report measured with a number (not a probe alone)."""
    return sum(r["method"] in ("ours with the documented behaviour vs the reference", "measured on the reference")
               for r in report["results"])
