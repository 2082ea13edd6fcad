"""Every table and markdown snnbench prints, one module per report kind, with one way of writing
numbers (:mod:`snnbench.render.numbers`). No computation beyond picking what to show."""

from __future__ import annotations

from rich.console import Console

from snnbench.render import audit, bench, compare, fuzz


def print_report(report: dict, console: Console, path: str | None = None) -> None:
    """A saved report of any kind, as its command printed it."""

    printer = {"compare": compare.print_compare, "audit": audit.print_audit, "fuzz": fuzz.print_fuzz,
               "ab": bench.print_ab}.get(report["kind"], bench.print_bench)
    printer(report, console, path)


def markdown(report: dict) -> str:
    """A saved report of any kind as markdown."""

    writer = {"compare": compare.compare_markdown, "audit": audit.audit_markdown, "fuzz": fuzz.fuzz_markdown,
              "ab": bench.ab_markdown}.get(report["kind"], bench.bench_markdown)
    return writer(report)
