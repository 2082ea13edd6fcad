"""Where the reference libraries depart from their documentation, as data.

Each departure is a record in ``records.toml`` (shipped with the package: it is snnbench's
reference documentation of the references): its id, the snnbench neurons it affects, what the
documentation says, what the code does, where it lives, the releases where it was found, and how
it is detected. Detection is a probe (:mod:`snnbench.departures.probes`): a tiny run of the
*installed* library, run once per process on first use, so whatever release (or unreleased
branch) is installed is judged by what it does, never by its version string.

Departures with a ``documented_switch`` can be turned off in our neurons: ours then runs the
documented behaviour. That serves two ends: where the installed release does *not* show a
departure (an older release, or a fix on a main branch), ours follows it and still matches the
reference; and ``snnbench audit`` measures each departure by running ours with the documented
behaviour against the reference.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from snnbench.departures import probes


@dataclass(frozen=True)
class Departure:
    id: str
    neurons: tuple[str, ...]
    library: str
    subject: str
    summary: str               # one line: what the code does, for the findings under a table
    documented: str
    actual: str
    source: tuple[str, ...]
    holds_in: tuple[str, ...]
    absent_in: tuple[str, ...]
    detection: str
    documented_switch: bool    # ours can run the documented behaviour instead
    why: str = ""


@lru_cache(maxsize=None)
def records() -> dict[str, Departure]:
    """Every departure, by id, in the order of records.toml."""
    text = (resources.files("snnbench.departures") / "records.toml").read_text()
    out = {}
    for raw in tomllib.loads(text)["departure"]:
        fields: dict[str, Any] = dict(raw)
        for key in ("neurons", "source", "holds_in", "absent_in"):
            fields[key] = tuple(fields.get(key, ()))
        fields.setdefault("documented_switch", False)
        out[fields["id"]] = Departure(**fields)
    return out


def get(departure_id: str) -> Departure:
    return records()[departure_id]


def of_neuron(neuron: str) -> list[Departure]:
    return [d for d in records().values() if neuron in d.neurons]


@lru_cache(maxsize=None)
def holds(departure_id: str) -> bool | None:
    """Whether the installed library shows the departure (its probe; run once per process):
    True, False, or None where the neuron or feature does not exist in the installed release."""

    return probes.PROBES[departure_id]()


def switches_for_installed(neuron: str) -> frozenset[str]:
    """The departures with a switch that the installed release does NOT show: ours runs their
    documented behaviour, so that it matches what the installed reference does."""
    return frozenset(d.id for d in of_neuron(neuron) if d.documented_switch and holds(d.id) is False)


def finding(departure_id: str) -> str:
    """The line a compare report lists for a departure that applies to its case."""
    return f"{departure_id}: {get(departure_id).summary}"
