"""Rich tables and markdown for reports. No computation beyond picking what to show."""

from __future__ import annotations

from typing import Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "uninformative": "yellow",
                 "skipped": "cyan", "error": "bold magenta"}


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if value == float("inf"):
            return "inf"
        return f"{value:.{digits}e}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.{digits + 1}g}"
    return str(value)


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
    """The summary table, one row per case and dtype, and the numbered notes it refers to."""
    table = Table(title=title or "snnbench compare: ours vs reference", header_style="bold")
    for col, justify in [("neuron", "left"), ("case", "left"), ("dtype", "left"), ("verdict", "left"),
                         ("spikes", "right"), ("max |Δ| state", "right"), ("max Δ grad (rel)", "right"),
                         ("note", "right")]:
        table.add_column(col, justify=justify, overflow="fold")
    notes: list[str] = []
    for r in report["results"]:
        fwd, bwd = worst_forward(r), worst_backward(r)
        rate = r.get("spike_rate")
        reason = r.get("reason") or ""
        if r.get("borderline_flips") and "borderline" not in reason:
            reason = (reason + "; " if reason else "") + f"{r['borderline_flips']} borderline flip(s)"
        mark = ""
        if reason:
            notes.append(f"{r['neuron']}/{r['case']} {r['dtype']} {r['device']}: {reason}")
            mark = f"[{len(notes)}]"
        table.add_row(
            r["neuron"], r["case"], r["dtype"].replace("float", "f"),
            Text(r["verdict"], style=VERDICT_STYLE.get(r["verdict"], "")),
            "-" if rate is None else f"{rate:.0%}" if rate >= 0.01 or rate == 0 else f"{rate:.1%}",
            "-" if fwd is None else f"{_fmt(fwd[1]['max_abs'], 1)} {fwd[0]}",
            "-" if bwd is None else f"{_fmt(bwd[1]['max_rel'], 1)} {bwd[0]}",
            mark,
        )
    return table, notes


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
        console.print(f"  [dim][{i}][/dim] {note}", highlight=False)
    notes = findings(report)
    if notes:
        console.print("[bold]Reference behaviour that departs from its documentation[/bold]")
        for neuron, note in notes:
            console.print(f"  [dim]{neuron}:[/dim] {note}")
    counts = verdict_counts(report["results"])
    summary = ", ".join(f"[{VERDICT_STYLE.get(k, '')}]{v} {k}[/]" for k, v in counts.items())
    env = report.get("environment", {})
    console.print(f"{summary}   torch {env.get('torch')}, snntorch {env.get('snntorch')}, "
                  f"sinabs {env.get('sinabs')}" + (f"   report: {path}" if path else ""))


def compare_markdown(report: dict) -> str:
    lines = ["| neuron | case | device | dtype | verdict | spikes | worst state | worst grad (rel) | notes |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        fwd, bwd = worst_forward(r), worst_backward(r)
        rate = r.get("spike_rate")
        lines.append("| " + " | ".join([
            r["neuron"], r["case"], r["device"], r["dtype"], f"**{r['verdict']}**",
            "-" if rate is None else f"{rate:.1%}",
            "-" if fwd is None else f"{fwd[0]} {_fmt(fwd[1]['max_abs'])}",
            "-" if bwd is None else f"{bwd[0]} {_fmt(bwd[1]['max_rel'])}",
            (r.get("reason") or "").replace("|", "\\|"),
        ]) + " |")
    notes = findings(report)
    if notes:
        lines += ["", "Reference behaviour that departs from its documentation:", ""]
        lines += [f"- {neuron}: {note}" for neuron, note in notes]
    return "\n".join(lines) + "\n"


def catalog_table(rows: list[dict]) -> Table:
    table = Table(title="snnbench neurons", header_style="bold")
    for col in ("neuron", "reference", "installed", "standard cases"):
        table.add_column(col, overflow="fold")
    for row in rows:
        name = Text(row["neuron"], style="bold")
        name.append("\n" + row["description"], style="dim")
        table.add_row(name, Text(row["reference"]), Text(f"{row['library']} {row['version']}"),
                      Text(", ".join(row["cases"])))
    return table


def implementations_table(rows: list[dict]) -> Table:
    """Implementations installed packages register (entry points of snnbench.implementations)."""
    table = Table(title="installed implementations (use with --impl NAME)", header_style="bold")
    for col in ("name", "neuron", "class", "package"):
        table.add_column(col, overflow="fold")
    for row in rows:
        neuron = Text(row["problem"], style="red") if row["problem"] else Text(row["neuron"] or "any")
        package = f"{row['package']} {row['version'] or ''}".strip() if row["package"] else "-"
        table.add_row(Text(row["name"]), neuron, Text(row["target"]), Text(package))
    return table


def print_report(report: dict, console: Console, path: str | None = None) -> None:
    if report["kind"] == "compare":
        print_compare(report, console, path)
    else:
        from snnbench.bench import render as bench_render

        bench_render.print_bench(report, console, path)


def markdown(report: dict) -> str:
    if report["kind"] == "compare":
        return compare_markdown(report)
    from snnbench.bench import render as bench_render

    return bench_render.bench_markdown(report)
