"""Bench reports as rich tables and markdown. No computation beyond picking what to show.

Text from reports is never read as rich markup (see snnbench/render/compare.py): styles come from Text.
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from snnbench.render.numbers import impl_label, rate, ratio, seconds, size

IMPL_STYLE = {"native": "bold cyan", "reference": "magenta", "sol": "dim"}   # a user's: green


def spread(record: dict) -> str:
    if not record.get("median_s") or record.get("iqr_s") is None:
        return "-"
    return f"{record['iqr_s'] / record['median_s']:.0%}"


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
    """Each record's warnings; a busy machine once per case and mode (it concerns all its rows)."""
    notes: dict[str, None] = {}
    for r in report["results"]:
        for w in r.get("warnings", []):
            who = f"{r['neuron']}/{r['case']} {r['mode']}" + ("" if w.startswith("busy machine") else f" {r['impl']}")
            notes[f"{who}: {w}"] = None
    return list(notes)


def name_cells(neuron: str, case: str, rows: int) -> list[str]:
    """The case column of a block of ``rows`` rows: the neuron on the first, the case on the second
    (both on the first, one above the other, when the block has one row), so that a narrow
    column (80 columns in a CI log) wraps between the two names, never inside one."""
    if rows == 1:
        return [f"{neuron}\n{case}"]
    return [neuron, case] + [""] * (rows - 2)


def _blocks(records: list[dict], key) -> list[list[dict]]:
    """Consecutive records with the same key, as blocks."""
    blocks: list[list[dict]] = []
    for r in records:
        if blocks and key(blocks[-1][0]) == key(r):
            blocks[-1].append(r)
        else:
            blocks.append([r])
    return blocks


def results_table(report: dict) -> Table:
    """One block per case (its neuron and name on its first rows), one row per mode and
    implementation. Throughput in sequences/s and the repeat count are in the JSON and the
    markdown."""
    table = Table(title="snnbench bench: time per sequence, throughput, peak memory", header_style="bold",
                  box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True,
                  caption="steps/s: neuron-steps (neurons x steps x batch) per second; x SoL: time over the "
                          "speed-of-light time of the same case")
    table.add_column("case", overflow="fold", min_width=14, ratio=1)
    for col in ("mode", "impl", "median", "IQR", "steps/s", "peak mem", "x SoL"):
        table.add_column(col, justify="left" if col in ("mode", "impl") else "right", no_wrap=True)
    blocks = _blocks(report["results"], lambda r: (r["neuron"], r["case"], r["device"], r.get("dtype")))
    for i, block in enumerate(blocks):
        if i:
            table.add_section()
        for name, r in zip(name_cells(block[0]["neuron"], block[0]["case"], len(block)), block):
            t = r.get("throughput") or {}
            noisy = bool(r.get("warnings"))
            table.add_row(Text(name), r["mode"], Text(impl_label(r["impl"]), style=IMPL_STYLE.get(r["impl"], "green")),
                          seconds(r.get("median_s")), Text(spread(r) + ("!" if noisy else ""),
                                                          style="yellow" if noisy else ""),
                          rate(t.get("neuron_steps_per_s")), size(r.get("peak_mem_bytes")), ratio(r.get("sol_ratio")))
    return table


def comparisons_table(report: dict) -> Table:
    table = Table(title="speedup: reference time / its time, paired per round (median, 95% CI)",
                  header_style="bold", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("case", overflow="fold", min_width=14, ratio=1)
    for col in ("mode", "impl", "speedup [95% CI]", "pairs", "verdict"):
        table.add_column(col, justify="right" if col in ("speedup [95% CI]", "pairs") else "left", no_wrap=True)
    for block in _blocks(report.get("comparisons", []), lambda c: (c["neuron"], c["case"], c["device"], c["dtype"])):
        for name, c in zip(name_cells(block[0]["neuron"], block[0]["case"], len(block)), block):
            verdict = significance(c)
            style = {"faster": "green", "slower": "red"}.get(verdict, "yellow")
            table.add_row(Text(name), c["mode"], Text(impl_label(c.get("impl", "native"))),
                          speedup(c), str(c["n_pairs"]), Text(verdict, style=style))
    return table


def print_bench(report: dict, console: Console, path: str | None = None) -> None:
    console.print(results_table(report))
    if report.get("comparisons"):
        console.print(comparisons_table(report))
    for neuron, why in (report.get("skipped_neurons") or {}).items():
        console.print(Text(f"{neuron}: skipped: {why}", style="cyan"), highlight=False)
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


# ---- A/B reports (bench --rev) -------------------------------------------------------------------
def revision_label(info: dict | None) -> str:
    """{'rev': 'HEAD~1', 'commit': 'abc...', 'dirty': False} -> 'HEAD~1 (abc1234567)'."""
    info = info or {}
    short = (info.get("commit") or "?")[:10] + ("+dirty" if info.get("dirty") else "")
    rev = info.get("rev") or "?"
    return short if rev == info.get("commit") else f"{rev} ({short})"


def ab_change(r: dict) -> str:
    """The median slowdown with its interval: '1.02x [0.98, 1.05]'."""
    if r.get("slowdown") is None:
        return "-"
    lo, hi = r.get("ci") or (None, None)
    return f"{r['slowdown']:.2f}x" + (f" [{lo:.2f}, {hi:.2f}]" if lo is not None else "")


def _ab_memory(r: dict) -> str:
    """The working tree's peak and its change from the base's: '952 KiB -7%'."""
    b, c = r["base"].get("peak_mem_bytes"), r["current"].get("peak_mem_bytes")
    if c is None:
        return "-"
    return size(c) + (f" {c / b - 1:+.0%}" if b else "")


def _processes(report: dict) -> str:
    n = (report.get("settings") or {}).get("processes")
    return f" by {n} pairs of processes" if isinstance(n, int) and n > 1 else ""


def ab_table(report: dict) -> Table:
    revs = report.get("revisions", {})
    table = Table(title=f"snnbench A/B: {revision_label(revs.get('current'))} against "
                        f"{revision_label(revs.get('base'))}",
                  header_style="bold", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1),
                  collapse_padding=True,
                  caption=f"timed in turns in one run{_processes(report)}; now/base: median of the per-round "
                          "ratios (> 1: slower now), 95% CI; mem: peak now, change from base")
    table.add_column("case", overflow="fold", min_width=14, ratio=1)
    for col in ("mode", "base", "now", "now/base [95% CI]", "mem"):
        table.add_column(col, justify="left" if col == "mode" else "right", no_wrap=True)
    blocks = _blocks(report["results"], lambda r: (r["neuron"], r["case"], r["device"], r.get("dtype")))
    for i, block in enumerate(blocks):
        if i:
            table.add_section()
        for name, r in zip(name_cells(block[0]["neuron"], block[0]["case"], len(block)), block):
            b, c = r["base"], r["current"]
            noisy = bool(r.get("warnings"))
            table.add_row(Text(name), r["mode"], "error" if b.get("error") else seconds(b.get("median_s")),
                          "error" if c.get("error") else seconds(c.get("median_s")),
                          Text(ab_change(r) + ("!" if noisy else ""), style="yellow" if noisy else ""),
                          _ab_memory(r))
    return table


def _ab_notes(report: dict) -> list[str]:
    notes = []
    for r in report["results"]:
        who = f"{r['neuron']}/{r['case']} {r['mode']}"
        for side in ("base", "current"):
            if r[side].get("error"):
                notes.append(f"{who}: {side} could not run it: {r[side]['error']}")
        notes += [f"{who}: {w}" for w in r.get("warnings", [])]
    return notes


def print_ab(report: dict, console: Console, path: str | None = None) -> None:
    console.print(ab_table(report))
    for note in _ab_notes(report):
        console.print(Text("  ! ", style="yellow") + Text(note), highlight=False)
    env = report.get("environment", {})
    methods = sorted({r["mem_method"] for r in report["results"] if r.get("mem_method")})
    console.print(f"device {_device(report)}, torch threads {env.get('torch_threads')}, torch {env.get('torch')}; "
                  f"peak memory: {', '.join(methods) or 'not measured'}" + (f"   report: {path}" if path else ""),
                  highlight=False)


def ab_markdown(report: dict) -> str:
    revs = report.get("revisions", {})
    lines = [f"A/B: {revision_label(revs.get('current'))} against {revision_label(revs.get('base'))}, "
             f"timed in turns in one run{_processes(report)}.", "",
             "| neuron | case | device | dtype | mode | base | now | now/base [95% CI] | pairs | peak mem base / now |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        b, c = r["base"], r["current"]
        lines.append("| " + " | ".join([
            r["neuron"], r["case"], r["device"], r.get("dtype", "-"), r["mode"],
            "error" if b.get("error") else seconds(b.get("median_s")),
            "error" if c.get("error") else seconds(c.get("median_s")),
            ab_change(r), str(r.get("n_pairs", "-")),
            f"{size(b.get('peak_mem_bytes'))} / {size(c.get('peak_mem_bytes'))}"]) + " |")
    notes = _ab_notes(report)
    if notes:
        lines += ["", "Warnings:", ""] + [f"- {n.replace('|', '/')}" for n in notes]
    return "\n".join(lines) + "\n"
