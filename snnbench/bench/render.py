"""Bench reports as rich tables and markdown. No computation beyond picking what to show.

Text from reports is never read as rich markup (see snnbench/render.py): styles come from Text.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

IMPL_STYLE = {"native": "bold cyan", "reference": "magenta", "sol": "dim"}   # a user's: green


def impl_label(name: str) -> str:
    """A short name for a table: a user's MODULE:CLASS shows as CLASS."""
    return name.rpartition(":")[2] or name


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def rate(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g}{unit}"
    return f"{value:.3g}"


def size(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value} B"


def spread(record: dict) -> str:
    if not record.get("median_s") or record.get("iqr_s") is None:
        return "-"
    return f"{record['iqr_s'] / record['median_s']:.0%}"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def speedup(c: dict) -> str:
    lo, hi = c["ci"]
    return f"{c['speedup']:.2f}x [{lo:.2f}, {hi:.2f}]"


def significance(c: dict) -> str:
    lo, hi = c["ci"]
    if lo > 1:
        return "faster"
    if hi < 1:
        return "slower"
    return "not significant"


def _notes(report: dict) -> list[str]:
    notes = []
    for r in report["results"]:
        for w in r.get("warnings", []):
            notes.append(f"{r['neuron']}/{r['case']} {r['mode']} {r['impl']}: {w}")
    return notes


def results_table(report: dict) -> Table:
    """One block per case (its name on its first row), one row per mode and implementation.
    Throughput in sequences/s and the repeat count are in the JSON and the markdown."""
    table = Table(title="snnbench bench: time per sequence, throughput, peak memory", header_style="bold",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True,
                  caption="steps/s: neuron-steps (neurons x steps x batch) per second; x SoL: time over the "
                          "speed-of-light time of the same case")
    table.add_column("case", overflow="fold", min_width=14, ratio=1)
    for col in ("mode", "impl", "median", "IQR", "steps/s", "peak mem", "x SoL"):
        table.add_column(col, justify="left" if col in ("mode", "impl") else "right", no_wrap=True)
    previous = None
    for r in report["results"]:
        key = (r["neuron"], r["case"], r["device"], r.get("dtype"))
        if previous is not None and key != previous:
            table.add_section()
        t = r.get("throughput") or {}
        noisy = bool(r.get("warnings"))
        table.add_row(f"{r['neuron']}/{r['case']}" if key != previous else "",
                      r["mode"], Text(impl_label(r["impl"]), style=IMPL_STYLE.get(r["impl"], "green")),
                      seconds(r.get("median_s")), Text(spread(r) + ("!" if noisy else ""),
                                                      style="yellow" if noisy else ""),
                      rate(t.get("neuron_steps_per_s")), size(r.get("peak_mem_bytes")), ratio(r.get("sol_ratio")))
        previous = key
    return table


def comparisons_table(report: dict) -> Table:
    table = Table(title="speedup over the reference: reference time / its time, paired (median, 95% CI)",
                  header_style="bold", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("case", overflow="fold", min_width=14, ratio=1)
    for col in ("mode", "impl", "speedup [95% CI]", "pairs", "verdict"):
        table.add_column(col, justify="right" if col in ("speedup [95% CI]", "pairs") else "left", no_wrap=True)
    for c in report.get("comparisons", []):
        verdict = significance(c)
        style = {"faster": "green", "slower": "red"}.get(verdict, "yellow")
        table.add_row(Text(f"{c['neuron']}/{c['case']}"), c["mode"], Text(impl_label(c.get("impl", "native"))),
                      speedup(c), str(c["n_pairs"]), Text(verdict, style=style))
    return table


def print_bench(report: dict, console: Console, path: str | None = None) -> None:
    console.print(results_table(report))
    if report.get("comparisons"):
        console.print(comparisons_table(report))
    notes = _notes(report)
    noisy = [n.split(": noisy")[0] for n in notes if ": noisy:" in n]
    for note in notes:
        if ": noisy:" not in note:
            console.print(Text("  ") + Text("!", style="yellow") + Text(f" {note}"), highlight=False)
    if noisy:
        console.print(Text("  ") + Text("!", style="yellow") + Text(
            " noisy (IQR over 10% of the median, marked !; close other programs or "
            f"raise --min-time): {', '.join(noisy)}"), highlight=False)
    env = report.get("environment", {})
    methods = sorted({r["mem_method"] for r in report["results"] if r.get("mem_method")})
    console.print(f"device {_device(report)}, {env.get('torch_threads')} threads, torch {env.get('torch')}, "
                  f"snntorch {env.get('snntorch')}, sinabs {env.get('sinabs')}; peak memory: "
                  f"{', '.join(methods) or 'not measured'}" + (f"   report: {path}" if path else ""),
                  highlight=False)


def _device(report: dict) -> str:
    env = report.get("environment", {})
    devices = sorted({r["device"] for r in report["results"]})
    gpu = env.get("gpu", {}).get("name") if isinstance(env.get("gpu"), dict) else None
    return ", ".join(devices) + (f" ({gpu})" if gpu else f" ({env.get('cpu')})")


def bench_markdown(report: dict) -> str:
    lines = ["| neuron | case | device | dtype | mode | impl | median | IQR | n | neuron-steps/s | seq/s "
             "| peak mem | x SoL |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        t = r.get("throughput") or {}
        lines.append("| " + " | ".join([
            r["neuron"], r["case"], r["device"], r.get("dtype", "-"), r["mode"], r["impl"],
            seconds(r.get("median_s")), spread(r), str(r.get("repeats", "-")),
            rate(t.get("neuron_steps_per_s")), rate(t.get("sequences_per_s")),
            size(r.get("peak_mem_bytes")), ratio(r.get("sol_ratio")),
        ]) + " |")
    if report.get("comparisons"):
        lines += ["", "| neuron | case | mode | impl | speedup (reference / impl) [95% CI] | pairs | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for c in report["comparisons"]:
            lines.append(f"| {c['neuron']} | {c['case']} | {c['mode']} | {c.get('impl', 'native')} | {speedup(c)} "
                         f"| {c['n_pairs']} | {significance(c)} |")
    notes = _notes(report)
    if notes:
        lines += ["", "Warnings:", ""] + [f"- {n.replace('|', '/')}" for n in notes]
    methods = sorted({r["mem_method"] for r in report["results"] if r.get("mem_method")})
    lines += ["", f"Device {_device(report)}; peak memory: {', '.join(methods) or 'not measured'}."]
    return "\n".join(lines) + "\n"


def profile_table(result: dict) -> Table:
    """Top operators by self CPU time, over ``calls`` profiled calls."""
    cuda = result["device"].startswith("cuda")
    table = Table(title=f"profile {result['neuron']}/{result['case']} {result['impl']} {result['mode']} "
                        f"({result['calls']} calls, {result['device']}, {result['dtype']})", header_style="bold")
    columns = [("operator", "left"), ("calls", "right"), ("self CPU", "right"), ("% self", "right"),
               ("CPU total", "right")] + ([("self CUDA", "right")] if cuda else [])
    for col, justify in columns:
        table.add_column(col, justify=justify, overflow="fold")
    total = result["total_self_cpu_us"] or 1.0
    for op in result["operators"]:
        row = [op["name"], str(op["calls"]), seconds(op["self_cpu_us"] * 1e-6),
               f"{op['self_cpu_us'] / total:.1%}", seconds(op["cpu_total_us"] * 1e-6)]
        if cuda:
            row.append(seconds(op["self_device_us"] * 1e-6))
        table.add_row(*row)
    return table
