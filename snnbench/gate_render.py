"""The gate's table, summary line and markdown. No computation beyond picking what to show."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from snnbench.gate import Check, GateResult

STATUS_STYLE = {"regression": "bold red", "inconclusive": "yellow", "improved": "green", "ok": "dim",
                "new": "cyan"}
SPEED_METRICS = ("speedup", "sol_ratio", "median_s", "peak_mem_bytes")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return f"{value:.2e}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.3g}"
    return str(value)


def shown(result: GateResult, show_all: bool = False) -> list[Check]:
    """What the table lists: every check not ok, and the speed and memory figures, or everything."""
    if show_all:
        return result.checks
    return [c for c in result.checks if c.status != "ok" or c.metric in SPEED_METRICS]


def _where(check: Check) -> list[str]:
    k = check.key
    return [k.get("neuron", ""), k.get("case", ""), k.get("device", ""),
            (k.get("dtype") or "-").replace("float", "f"),
            "/".join(v for v in (k.get("mode"), k.get("impl")) if v) or "-"]


def table(result: GateResult, show_all: bool = False) -> Table | None:
    rows = shown(result, show_all)
    if not rows:
        return None
    title = f"snnbench gate ({result.kind}): what changed"
    t = Table(title=title, header_style="bold")
    columns = ["neuron", "case", "device", "dtype"] + (["mode/impl"] if result.kind == "bench" else []) + \
        ["metric", "baseline", "current", "change", "status", "note"]
    for col in columns:
        t.add_column(col, overflow="fold", justify="right" if col in ("baseline", "current", "change") else "left")
    for c in rows:
        where = _where(c)
        if result.kind != "bench":
            where = where[:4]
        t.add_row(*where, c.metric, _fmt(c.baseline), _fmt(c.current), c.change,
                  Text(c.status, style=STATUS_STYLE.get(c.status, "")), c.detail)
    return t


def summary(result: GateResult, baseline: str, current: str) -> str:
    counts = {s: result.count(s) for s in ("regression", "inconclusive", "improved", "new", "ok")}
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    return (f"gate {result.verdict.upper()} (exit {result.exit_code}): " + (", ".join(parts) or "no checks") +
            f" in {len(result.checks)} checks; baseline {baseline}, current {current}")


def print_gate(result: GateResult, console: Console, baseline: str, current: str, show_all: bool = False) -> None:
    t = table(result, show_all)
    if t is not None:
        console.print(t)
    else:
        console.print(f"[dim]nothing changed beyond its threshold ({len(result.checks)} checks; --all lists them)[/dim]")
    for note in result.warnings:
        console.print(f"[yellow]warning:[/yellow] {note}", highlight=False)
    style = {"ok": "bold green", "regression": "bold red", "inconclusive": "bold yellow"}[result.verdict]
    console.print(f"[{style}]{summary(result, baseline, current)}[/]", highlight=False, soft_wrap=True)


def markdown(result: GateResult, baseline: str, current: str) -> str:
    """A summary fit for a GitHub job summary ($GITHUB_STEP_SUMMARY)."""
    icon = {"ok": ":white_check_mark:", "regression": ":x:", "inconclusive": ":warning:"}[result.verdict]
    lines = [f"## snnbench gate ({result.kind}): {icon} {result.verdict}", "", summary(result, baseline, current), ""]
    rows = shown(result)
    if rows:
        head = ["neuron", "case", "device", "dtype"] + (["mode/impl"] if result.kind == "bench" else []) + \
            ["metric", "baseline", "current", "change", "status", "note"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for c in rows:
            where = _where(c) if result.kind == "bench" else _where(c)[:4]
            cells = where + [c.metric, _fmt(c.baseline), _fmt(c.current), c.change,
                             f"**{c.status}**" if c.status in ("regression", "inconclusive") else c.status, c.detail]
            lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    else:
        lines.append("Nothing changed beyond its threshold.")
    if result.warnings:
        lines += ["", "Warnings:", ""] + [f"- {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"
