"""Rich tables and markdown for reports. No computation beyond picking what to show.

Text from reports and case files (names, reasons, paths) is never read as rich markup: the
consoles are made with ``markup=False, emoji=False`` (cli.py) and styles come from Text objects.
"""

from __future__ import annotations

from typing import Iterable

from rich.console import Console
from rich.padding import Padding
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


def impl_label(name: str) -> str:
    """A short name for a table: a user's MODULE:CLASS shows as CLASS."""
    return name.rpartition(":")[2] or name


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
            "-" if fwd is None else f"{_fmt(fwd[1]['max_abs'], 1)} {fwd[0]}",
            "-" if bwd is None else f"{_fmt(bwd[1]['max_rel'], 1)} {bwd[0]}",
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
            "-" if fwd is None else f"{fwd[0]} {_fmt(fwd[1]['max_abs'])}",
            "-" if bwd is None else f"{bwd[0]} {_fmt(bwd[1]['max_rel'])}",
            "; ".join(x for x in (r.get("reason"), r.get("hint")) if x).replace("|", "\\|"),
        ]) + " |")
    notes = findings(report)
    if notes:
        lines += ["", "Reference behaviour that departs from its documentation:", ""]
        lines += [f"- {neuron}: {note}" for neuron, note in notes]
    return "\n".join(lines) + "\n"


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


def print_report(report: dict, console: Console, path: str | None = None) -> None:
    if report["kind"] == "compare":
        print_compare(report, console, path)
    elif report["kind"] == "audit":
        print_audit(report, console, path)
    elif report["kind"] == "fuzz":
        print_fuzz(report, console, path)
    else:
        from snnbench.bench import render as bench_render

        show = bench_render.print_ab if report["kind"] == "ab" else bench_render.print_bench
        show(report, console, path)


def markdown(report: dict) -> str:
    if report["kind"] == "compare":
        return compare_markdown(report)
    if report["kind"] == "audit":
        return audit_markdown(report)
    if report["kind"] == "fuzz":
        lines = ["| neuron | cases | verdicts | failed |", "|---|---|---|---|"]
        for run in report["runs"]:
            lines.append(f"| {run['neuron']} | {run['cases']} | {run['verdicts']} | {run['failed']} |")
        lines += [f"\n- {f['neuron']}: {f['reason']} (case file `{f['case_file']}`)" for f in report["results"]]
        return "\n".join(lines) + "\n"
    from snnbench.bench import render as bench_render

    return bench_render.ab_markdown(report) if report["kind"] == "ab" else bench_render.bench_markdown(report)


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
    from snnbench.audit import measured

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
