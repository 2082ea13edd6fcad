"""The fuzz report: cases drawn per neuron, and each failure with its case file."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def print_fuzz(report: dict, console: Console, path: str | None = None) -> None:
    """One line per neuron (cases drawn, verdicts per dtype), then each failure with its case file."""
    console.print(Text(f"snnbench fuzz: seed {report['seed']}, {report['budget_s']:g} s, judging {report['impl']}",
                       style="bold"))
    for run in report["runs"]:
        counts = "; ".join(f"{dtype}: " + ", ".join(f"{n} {v}" for v, n in sorted(per.items()))
                           for dtype, per in run["verdicts"].items()) or "no case ran"
        status = Text(" FAILED" if run["failed"] else " ok", style="bold red" if run["failed"] else "green")
        console.print(Text(f"  {run['neuron']}: {run['cases']} cases in {run['seconds']:.0f} s ({counts})") + status)
    for failure in report["results"]:
        console.print(Text(f"{failure['neuron']}: {failure['reason']}", style="red"))
        console.print(Text(f"  smallest case: {failure['case_file']}"), soft_wrap=True)
        console.print(Text(f"  reproduce: snnbench compare {failure['neuron']} --case-file {failure['case_file']}"),
                      soft_wrap=True)
    console.print(Text(f"{len(report['results'])} failure(s)" if report["results"] else "no failure"))
    if path:
        console.print(Text(f"report: {path}"), soft_wrap=True)


def fuzz_markdown(report: dict) -> str:
    lines = ["| neuron | cases | verdicts | failed |", "|---|---|---|---|"]
    for run in report["runs"]:
        lines.append(f"| {run['neuron']} | {run['cases']} | {run['verdicts']} | {run['failed']} |")
    lines += [f"\n- {f['neuron']}: {f['reason']} (case file `{f['case_file']}`)" for f in report["results"]]
    return "\n".join(lines) + "\n"
