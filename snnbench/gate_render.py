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


def _where(check: Check) -> str:
    k = check.key
    parts = [f"{k.get('neuron', '')}/{k.get('case', '')}", k.get("device", ""),
             (k.get("dtype") or "").replace("float", "f")]
    parts += [v for v in (k.get("mode"), k.get("impl")) if v]
    return " ".join(p for p in parts if p)


def _value(check: Check, value) -> str:
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return _fmt(value)
    if check.metric == "speedup":
        return f"{value:.3g}x"
    if check.metric == "peak_mem_bytes":
        return f"{value / 1e6:.1f} MB"
    if check.metric == "median_s":
        return f"{value * 1e3:.3g} ms"
    return _fmt(value)


HEAD = ["record", "metric", "baseline", "current", "change", "status", "note"]


def _cells(c: Check) -> list[str]:
    return [_where(c), c.metric, _value(c, c.baseline), _value(c, c.current), c.change]


def table(result: GateResult, show_all: bool = False) -> Table | None:
    rows = shown(result, show_all)
    if not rows:
        return None
    t = Table(title=f"snnbench gate ({result.kind}): what changed", header_style="bold")
    for col in HEAD:
        t.add_column(col, overflow="fold", justify="right" if col in ("baseline", "current", "change") else "left")
    for c in rows:
        t.add_row(*_cells(c), Text(c.status, style=STATUS_STYLE.get(c.status, "")), c.detail)
    return t


def summary(result: GateResult, baseline: str, current: str) -> str:
    counts = {s: result.count(s) for s in ("regression", "inconclusive", "improved", "new", "ok")}
    parts = [f"{n} {s}{'s' if s == 'regression' and n > 1 else ''}" for s, n in counts.items() if n]
    return (f"gate {result.verdict.upper()} (exit {result.exit_code}): " + (", ".join(parts) or "no checks") +
            f" in {len(result.checks)} checks; baseline {baseline}, current {current}")


def print_gate(result: GateResult, console: Console, baseline: str, current: str, show_all: bool = False) -> None:
    t = table(result, show_all)
    if t is not None:
        console.print(t)
    else:
        console.print(Text(f"nothing changed beyond its threshold ({len(result.checks)} checks; --all lists them)",
                           style="dim"))
    for note in result.warnings:
        console.print(Text("warning:", style="yellow") + Text(f" {note}"), highlight=False)
    style = {"ok": "bold green", "regression": "bold red", "inconclusive": "bold yellow"}[result.verdict]
    console.print(Text(summary(result, baseline, current), style=style), highlight=False, soft_wrap=True)


def markdown(result: GateResult, baseline: str, current: str) -> str:
    """A summary fit for a GitHub job summary ($GITHUB_STEP_SUMMARY)."""
    icon = {"ok": ":white_check_mark:", "regression": ":x:", "inconclusive": ":warning:"}[result.verdict]
    lines = [f"## snnbench gate ({result.kind}): {icon} {result.verdict}", "", summary(result, baseline, current), ""]
    rows = shown(result)
    if rows:
        lines += ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
        for c in rows:
            cells = _cells(c) + [f"**{c.status}**" if c.status in ("regression", "inconclusive") else c.status,
                                 c.detail]
            lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    else:
        lines.append("Nothing changed beyond its threshold.")
    if result.warnings:
        lines += ["", "Warnings:", ""] + [f"- {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"
