"""The audit report: each departure, whether the installed release shows it, its measured effect."""

from __future__ import annotations

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from snnbench.audit import measured

AUDIT_STYLE = {True: "bold yellow", False: "green", None: "dim"}

def print_audit(report: dict, console: Console, path: str | None = None) -> None:
    """One block per departure: its id and neuron, whether the installed release shows it, and the
    measured effect (lines wrap between words, never inside an id)."""
    env = report.get("environment", {})
    console.print(Text(f"snnbench audit: snntorch {env.get('snntorch')}, sinabs {env.get('sinabs')}", style="bold"))
    for r in report["results"]:
        shown = {True: "departs", False: "as documented", None: "absent"}[r["holds"]]
        console.print(Text(f"{r['departure']}", style="bold") + Text(f"  {r['neuron']}  ")
                      + Text(shown, style=AUDIT_STYLE[r["holds"]]))
        if r["holds"]:
            console.print(Padding(Text("documented: ", style="dim") + Text(r["documented"]), (0, 0, 0, 2), expand=False))
        effect = (r.get("effect") or {}).get("summary") or ""
        how = f" ({r['method']}" + (f", case {r['case']}" if r.get("case") else "") + ")"
        console.print(Padding(Text("effect: ", style="dim") + Text(effect) + Text(how, style="dim"), (0, 0, 0, 2),
                              expand=False))

    departing = sum(r["holds"] is True for r in report["results"])
    console.print(Text(f"{len(report['results'])} departures: {departing} shown by the installed release, "
                       f"{measured(report)} with a measured effect"))
    for neuron, why in (report.get("skipped_neurons") or {}).items():
        console.print(Text(f"{neuron}: skipped: {why}", style="cyan"))
    if path:
        console.print(Text(f"report: {path}"), soft_wrap=True)

def audit_markdown(report: dict) -> str:
    env = report.get("environment", {})
    lines = [f"Audit of snntorch {env.get('snntorch')} and sinabs {env.get('sinabs')} (snnbench "
             f"{report.get('snnbench')}).", "",
             "| departure | neuron | installed release | documented | measured effect |", "|---|---|---|---|---|"]
    for r in report["results"]:
        shown = {True: "departs", False: "as documented", None: "absent"}[r["holds"]]
        effect = ((r.get("effect") or {}).get("summary") or "") + f" ({r['method']})"
        lines.append("| " + " | ".join(x.replace("|", "\\|") for x in (r["departure"], r["neuron"], shown,
                                                                        r["documented"], effect)) + " |")
    return "\n".join(lines) + "\n"
