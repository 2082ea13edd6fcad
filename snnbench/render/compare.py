"""The compare report as a rich table and as markdown. No computation beyond picking what to show.

Text from reports and case files (names, reasons, paths) is never read as rich markup: the
consoles are made with ``markup=False, emoji=False`` (cli.py) and styles come from Text objects."""

from __future__ import annotations

from typing import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from snnbench.render.numbers import impl_label, number


VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "uninformative": "yellow",
                 "skipped": "cyan", "error": "bold magenta"}

def worst_forward(record: dict) -> tuple[str, dict] | None:
    fields = record.get("forward") or {}
    if not fields:
        return None
    name = max(fields, key=lambda f: fields[f].get("max_abs", 0.0))
    return name, fields[name]

def worst_backward(record: dict) -> tuple[str, dict] | None:
    grads = record.get("backward") or {}
    if not grads:
        return None
    name = max(grads, key=lambda g: grads[g].get("max_rel", 0.0))
    return name, grads[name]

def first_divergence(record: dict) -> str:
    for section in ("stepwise", "forward"):
        fields = record.get(section) or {}
        failing = [(d["first_divergent_step"], f) for f, d in fields.items() if d.get("mismatches")]
        if failing:
            step, f = min(failing)
            return f"{f} @ {step}"
    return "-"

def compare_table(report: dict, title: str | None = None) -> tuple[Table, list[str]]:
    """The summary table, one row per case, dtype (and implementation, when any but ours was
    judged), and the numbered notes it refers to."""
    results = report["results"]
    impls = list(dict.fromkeys(r.get("impl", "native") for r in results))
    show_impl = impls != ["native"]
    default_title = "snnbench compare: " + (", ".join(impl_label(i) for i in impls) if show_impl else "ours") + \
        " vs reference"
    table = Table(title=title or default_title, header_style="bold")
    columns = [("neuron", "left"), ("case", "left")] + ([("impl", "left")] if show_impl else []) + \
        [("dtype", "left"), ("verdict", "left"), ("spikes", "right"), ("max |Δ| state", "right"),
         ("max Δ grad (rel)", "right"), ("note", "right")]
    for col, justify in columns:
        table.add_column(col, justify=justify, overflow="fold")
    notes: list[str] = []
    for r in results:
        fwd, bwd = worst_forward(r), worst_backward(r)
        rate = r.get("spike_rate")
        reason = r.get("reason") or ""
        if r.get("borderline_flips") and "borderline" not in reason:
            reason = (reason + "; " if reason else "") + f"{r['borderline_flips']} borderline flip(s)"
        if r.get("hint"):
            reason = (reason + "; " if reason else "") + r["hint"]
        mark = ""
        if reason:
            who = f" {impl_label(r.get('impl', 'native'))}" if show_impl else ""
            notes.append(f"{r['neuron']}/{r['case']}{who} {r['dtype']} {r['device']}: {reason}")
            mark = f"[{len(notes)}]"
        row = [Text(r["neuron"]), Text(r["case"])] + ([Text(impl_label(r.get("impl", "native")))] if show_impl else [])
        row += [
            r["dtype"].replace("float", "f"),
            Text(r["verdict"], style=VERDICT_STYLE.get(r["verdict"], "")),
            "-" if rate is None else f"{rate:.0%}" if rate >= 0.01 or rate == 0 else f"{rate:.1%}",
            "-" if fwd is None else f"{number(fwd[1]['max_abs'], 2)} {fwd[0]}",
            "-" if bwd is None else f"{number(bwd[1]['max_rel'], 2)} {bwd[0]}",
            mark,
        ]
        table.add_row(*row)
    return table, notes

def not_compared(report: dict) -> list[str]:
    """What could not be compared, once per implementation and reason."""
    seen: dict[str, None] = {}
    for r in report["results"]:
        for what, why in (r.get("not_compared") or {}).items():
            seen[f"{impl_label(r.get('impl', 'native'))}: {what} not compared ({why})"] = None
        if r.get("stepwise_note"):
            seen[f"{impl_label(r.get('impl', 'native'))}: step by step {r['stepwise_note']}"] = None
    return list(seen)

def findings(report: dict) -> list[tuple[str, str]]:
    """(neuron, finding) pairs, each once: where a reference departs from its documentation."""
    seen: dict[tuple[str, str], None] = {}
    for r in report["results"]:
        for note in r.get("findings", []):
            seen[(r["neuron"], note)] = None
    return list(seen)

def verdict_counts(results: Iterable[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return counts

def print_compare(report: dict, console: Console, path: str | None = None) -> None:
    table, notes = compare_table(report)
    console.print(table)
    for i, note in enumerate(notes, 1):
        console.print(Text(f"  [{i}] ", style="dim") + Text(note), highlight=False)
    for note in not_compared(report):
        console.print(Text("  - " + note, style="dim"), highlight=False)
    notes = findings(report)
    if notes:
        console.print(Text("Reference behaviour that departs from its documentation", style="bold"))
        for neuron, note in notes:
            console.print(Text(f"  {neuron}: ", style="dim") + Text(note), highlight=False)
    for neuron, why in (report.get("skipped_neurons") or {}).items():
        console.print(Text(f"{neuron}: skipped: {why}", style="cyan"), highlight=False)
    counts = verdict_counts(report["results"])
    summary = Text(", ").join(Text(f"{v} {k}", style=VERDICT_STYLE.get(k, "")) for k, v in counts.items())
    if not counts:
        summary = Text("no results")
    env = report.get("environment", {})
    console.print(summary + Text(f"   torch {env.get('torch')}, snntorch {env.get('snntorch')}, "
                                 f"sinabs {env.get('sinabs')}" + (f"   report: {path}" if path else "")))

def compare_markdown(report: dict) -> str:
    lines = ["| neuron | case | impl | device | dtype | verdict | spikes | worst state | worst grad (rel) | notes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        fwd, bwd = worst_forward(r), worst_backward(r)
        rate = r.get("spike_rate")
        lines.append("| " + " | ".join([
            r["neuron"], r["case"], r.get("impl", "native"), r["device"], r["dtype"], f"**{r['verdict']}**",
            "-" if rate is None else f"{rate:.1%}",
            "-" if fwd is None else f"{fwd[0]} {number(fwd[1]['max_abs'])}",
            "-" if bwd is None else f"{bwd[0]} {number(bwd[1]['max_rel'])}",
            "; ".join(x for x in (r.get("reason"), r.get("hint")) if x).replace("|", "\\|"),
        ]) + " |")
    notes = findings(report)
    if notes:
        lines += ["", "Reference behaviour that departs from its documentation:", ""]
        lines += [f"- {neuron}: {note}" for neuron, note in notes]
    return "\n".join(lines) + "\n"
