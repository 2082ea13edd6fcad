"""`snnbench list`: the neurons, their references and cases, and the implementations installed
packages register."""

from __future__ import annotations

from rich.console import Console
from rich.padding import Padding
from rich.text import Text


def print_catalog(rows: list[dict], installed: list[dict], console: Console) -> None:
    """`snnbench list`: one block per neuron (names never broken: lines wrap between cases), then
    the implementations installed packages register."""
    console.print(Text("snnbench neurons", style="bold") + Text("  (* marks a bench case)", style="dim"))
    for row in rows:
        console.print(Text(row["neuron"], style="bold cyan") + Text(f"  {row['reference']}  ")
                      + Text(f"({row['library']} {row['version']})", style="dim"))
        console.print(Padding(Text(row["description"]), (0, 0, 0, 2), expand=False))
        console.print(Padding(Text("cases: ", style="dim") + Text(", ".join(row["cases"])), (0, 0, 0, 2), expand=False))
    console.print()
    if not installed:
        console.print(Text("no implementations installed by other packages (entry point group "
                           "snnbench.implementations); use --impl MODULE:CLASS for your own"))
        return
    console.print(Text("installed implementations (use with --impl NAME)", style="bold"))
    for row in installed:
        line = Text(f"  {row['name']}  ", style="bold")
        if row["problem"]:
            line.append(row["problem"], style="red")
        else:
            line.append(f"{row['neuron'] or 'any neuron'}  {row['target']}")
            if row["package"]:
                line.append(f"  ({row['package']} {row['version'] or ''})".rstrip(" )") + ")", style="dim")
        console.print(line)
