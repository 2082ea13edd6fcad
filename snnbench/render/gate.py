"""The gate's table, summary line and markdown. No computation beyond picking what to show.

The terminal table is laid out by hand to fit the console (80 columns in a CI log) without
breaking a name: each record gets a line of its own (neuron/case, device, dtype, mode,
implementation), its checks follow indented in aligned columns, and a check's note goes on the
line under it, wrapped between words.
"""

from __future__ import annotations

import textwrap

from rich.console import Console
from rich.text import Text

from snnbench.render.numbers import number, seconds, size
from snnbench.judge import MEASURED, Check, GateResult

STATUS_STYLE = {"regression": "bold red", "inconclusive": "yellow", "improved": "green", "ok": "dim",
                "new": "cyan", "info": "blue"}
SECONDS_METRICS = ("median_s", "slowdown")


def shown(result: GateResult, show_all: bool = False) -> list[Check]:
    """What the table lists: every check not ok, and the speed and memory figures, or everything."""
    if show_all:
        return result.checks
    return [c for c in result.checks if c.status != "ok" or c.metric in MEASURED]


def record_name(check: Check) -> str:
    k = check.key
    parts = [f"{k.get('neuron', '')}/{k.get('case', '')}", k.get("device", ""), k.get("dtype") or ""]
    parts += [v for v in (k.get("mode"), k.get("impl")) if v]
    return " ".join(p for p in parts if p)


def value_text(check: Check, value) -> str:
    if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
        return number(value)
    if check.metric == "speedup":
        return f"{value:.3g}x"
    if check.metric == "peak_mem_bytes":
        return size(value)
    if check.metric in SECONDS_METRICS:
        return seconds(value)
    return number(value)


def labels(result: GateResult) -> tuple[str, str]:
    return ("base", "current") if result.kind == "ab" else ("baseline", "current")


def _grouped(rows: list[Check]) -> dict[str, list[Check]]:
    groups: dict[str, list[Check]] = {}
    for c in rows:
        groups.setdefault(record_name(c), []).append(c)
    return groups


def _wrap(text: str, width: int, indent: int) -> list[str]:
    return textwrap.wrap(text, max(20, width - indent), break_long_words=False, break_on_hyphens=False) or [""]


def table_lines(result: GateResult, width: int = 80, show_all: bool = False) -> list[Text]:
    """The table as lines of at most ``width`` columns (a name longer than a line runs over)."""
    rows = shown(result, show_all)
    if not rows:
        return []
    head = ("check",) + labels(result) + ("change", "status")
    cells = [(c.metric, value_text(c, c.baseline), value_text(c, c.current), c.change, c.status) for c in rows]
    widths = [max(len(head[i]), *(len(cell[i]) for cell in cells)) for i in range(1, 5)]
    rest = sum(widths) + 2 * 4
    metric_width = max(len(head[0]), min(max(len(cell[0]) for cell in cells) + 2, width - rest))
    justify = (str.ljust, str.rjust, str.rjust, str.ljust, str.ljust)

    def line(values: tuple[str, ...], status_style: str = "", bold: bool = False) -> Text:
        first = values[0].ljust(metric_width)
        parts = [justify[i](v, widths[i - 1]) for i, v in enumerate(values) if i > 0]
        text = Text(first + "  " + "  ".join(parts[:-1]) + "  ", style="bold" if bold else "")
        text.append(parts[-1].rstrip(), style=status_style)
        return text

    out = [Text(f"snnbench gate ({result.kind}): what changed", style="bold"), line(head, bold=True)]
    by_record = {id(c): cell for c, cell in zip(rows, cells)}
    for name, checks in _grouped(rows).items():
        for piece in _wrap(name, width, 0):
            out.append(Text(piece, style="bold cyan"))
        for c in checks:
            metric, *values = by_record[id(c)]
            if len("  " + metric) > metric_width:
                out.append(Text("  " + metric))
                metric = ""
            out.append(line(("  " + metric, *values), STATUS_STYLE.get(c.status, "")))
            if c.detail:
                out += [Text("    " + piece, style="dim") for piece in _wrap(c.detail, width, 4)]
    return out


def summary(result: GateResult, baseline: str, current: str) -> str:
    counts = {s: result.count(s) for s in ("regression", "inconclusive", "improved", "info", "new", "ok")}
    parts = []
    for status, n in counts.items():
        if not n:
            continue
        part = f"{n} {status}{'s' if status == 'regression' and n > 1 else ''}"
        if status in ("regression", "inconclusive"):
            part += f" ({', '.join(result.neurons(status))})"
        parts.append(part)
    return (f"gate {result.verdict.upper()} (exit {result.exit_code}): " + (", ".join(parts) or "no checks") +
            f" in {len(result.checks)} checks; {labels(result)[0]} {baseline}, current {current}")


def print_gate(result: GateResult, console: Console, baseline: str, current: str, show_all: bool = False) -> None:
    lines = table_lines(result, console.width, show_all)
    if lines:
        for line in lines:
            console.print(line, soft_wrap=True, highlight=False)
    else:
        console.print(Text(f"nothing changed beyond its threshold ({len(result.checks)} checks; --all lists them)",
                           style="dim"))
    for note in result.warnings:
        console.print(Text("warning: ", style="yellow") + Text(note), highlight=False)
    style = {"ok": "bold green", "regression": "bold red", "inconclusive": "bold yellow"}[result.verdict]
    console.print(Text(summary(result, baseline, current), style=style), highlight=False, soft_wrap=True)


def markdown(result: GateResult, baseline: str, current: str) -> str:
    """A summary fit for a GitHub job summary ($GITHUB_STEP_SUMMARY)."""
    icon = {"ok": ":white_check_mark:", "regression": ":x:", "inconclusive": ":warning:"}[result.verdict]
    lines = [f"## snnbench gate ({result.kind}): {icon} {result.verdict}", "", summary(result, baseline, current), ""]
    rows = shown(result)
    if rows:
        head = ["record", "metric", *labels(result), "change", "status", "note"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for c in rows:
            status = f"**{c.status}**" if c.status in ("regression", "inconclusive") else c.status
            cells = [record_name(c), c.metric, value_text(c, c.baseline), value_text(c, c.current), c.change,
                     status, c.detail]
            lines.append("| " + " | ".join(str(x).replace("|", "\\|") for x in cells) + " |")
    else:
        lines.append("Nothing changed beyond its threshold.")
    if result.warnings:
        lines += ["", "Warnings:", ""] + [f"- {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"
