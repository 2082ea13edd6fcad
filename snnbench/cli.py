"""The snnbench command line: parse, call, print, exit code. No logic lives here."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from snnbench.errors import SnnbenchError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Verify and benchmark from-scratch spiking neurons against snntorch and sinabs.")
console = Console()
err_console = Console(stderr=True)


def handled(fn):
    """Turn snnbench's own errors into one line on stderr and exit code 2; Ctrl-C into 130."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SnnbenchError as exc:
            err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print("interrupted: no report written")
            raise typer.Exit(130)

    return wrapper


def progress_bar() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[current]}"), console=err_console,
                    transient=True)


@app.command("list")
@handled
def list_cmd() -> None:
    """Neurons, their references (installed versions) and standard cases."""
    from snnbench import catalog, render

    console.print(render.catalog_table(catalog.describe()))


@app.command()
@handled
def compare(
    neurons: List[str] = typer.Argument(..., help="neuron names, or 'all'"),
    case: Optional[List[str]] = typer.Option(None, "--case", help="run only this case (repeatable)"),
    case_file: Optional[Path] = typer.Option(None, "--case-file", help="run this file's cases instead"),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda"),
    dtype: str = typer.Option("all", "--dtype", help="float32, float64 or all"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="report path (default: reports/compare-*.json)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="override every case's seed"),
    shard: Optional[str] = typer.Option(None, "--shard", help="run only shard I of N (I/N), for CI matrices"),
) -> None:
    """Is ours numerically the same as the reference? Exit 0 pass, 1 fail, 2 usage error."""
    from snnbench import render, results, runner

    device = runner.check_device(device)
    dtype_names = runner.dtypes(dtype)
    selected = runner.collect_cases(neurons, case, case_file, seed=seed, shard=runner.parse_shard(shard))
    with progress_bar() as bar:
        task = bar.add_task("compare", total=len(selected) * len(dtype_names), current="")

        def advance(record: dict) -> None:
            bar.update(task, advance=1, current=f"{record['neuron']}/{record['case']} {record['dtype']}: "
                                                 f"{record['verdict']}")

        report = runner.run_compare(selected, dtype_names, device, on_result=advance)
    path = results.save(report, json_path or results.default_path("compare"))
    render.print_compare(report, console, str(path))
    raise typer.Exit(runner.exit_code(report))


@app.command()
@handled
def report(
    path: Path = typer.Argument(..., help="a saved report"),
    markdown: bool = typer.Option(False, "--markdown", help="print markdown instead of a table"),
) -> None:
    """Show a saved report again."""
    from snnbench import render, results

    data = results.load(path)
    if markdown:
        print(render.markdown(data), end="")
    else:
        render.print_report(data, console, str(path))


@app.command()
@handled
def gate(
    baseline: Path = typer.Argument(..., help="the baseline report"),
    current: Optional[Path] = typer.Argument(None, help="the report to judge (default: run the baseline's cases now)"),
    json_path: Optional[Path] = typer.Option(None, "--json", help="save the run made now (without CURRENT) here"),
    markdown_path: Optional[Path] = typer.Option(None, "--markdown", help="also write a markdown summary here "
                                                 "(e.g. $GITHUB_STEP_SUMMARY)"),
    max_error_growth: float = typer.Option(10.0, "--max-error-growth", help="errors may grow by this factor"),
    max_slowdown: str = typer.Option("10%", "--max-slowdown", help="allowed slowdown, e.g. 10% or 0.1"),
    max_memory_growth: str = typer.Option("10%", "--max-memory-growth", help="allowed peak memory growth"),
    absolute: bool = typer.Option(False, "--absolute", help="gate absolute times even across machines"),
    quick: bool = typer.Option(False, "--quick", help="bench baselines: run the cases in quick mode"),
    show_all: bool = typer.Option(False, "--all", help="list every check, not only what changed"),
) -> None:
    """Did anything get worse than the baseline? Exit 0 no, 1 regression, 3 inconclusive, 2 usage error."""
    from snnbench import gate as gate_mod
    from snnbench import gate_render, results

    thresholds = gate_mod.Thresholds(
        max_error_growth=gate_mod.parse_factor(max_error_growth, "--max-error-growth"),
        max_slowdown=gate_mod.parse_fraction(max_slowdown, "--max-slowdown"),
        max_memory_growth=gate_mod.parse_fraction(max_memory_growth, "--max-memory-growth"),
        absolute=absolute)
    base, cur = gate_mod.load_pair(baseline, current)
    if cur is None:
        total = len(base["results"])
        with progress_bar() as bar:
            task = bar.add_task(f"running {baseline.name}'s cases", total=total, current="")

            def advance(record: dict) -> None:
                bar.update(task, advance=1, current=f"{record['neuron']}/{record['case']} "
                                                     f"{record.get('dtype') or record.get('mode', '')}")

            cur = gate_mod.rerun(base, str(baseline), quick=quick, on_result=advance)
        current_name = str(results.save(cur, json_path)) if json_path else "run now"
    else:
        current_name = str(current)
    outcome = gate_mod.gate(base, cur, thresholds, (str(baseline), current_name))
    gate_render.print_gate(outcome, console, str(baseline), current_name, show_all)
    if markdown_path is not None:
        results.write_text(gate_render.markdown(outcome, str(baseline), current_name), markdown_path)
    raise typer.Exit(outcome.exit_code)


@app.command("baseline")
@handled
def baseline_cmd(
    report_path: Path = typer.Argument(..., help="the report to keep as a baseline"),
    name: str = typer.Option(..., "--name", help="baseline name: reports/baselines/NAME.json"),
) -> None:
    """Copy (or refresh) a report into reports/baselines/NAME.json, for `gate` and to commit."""
    from snnbench import baselines

    path, report = baselines.store(report_path, name)
    console.print(f"baseline {name}: {len(report['results'])} {report['kind']} results -> {path}", highlight=False)


@app.command("merge")
@handled
def merge_cmd(
    out: Path = typer.Argument(..., help="the merged report to write"),
    inputs: List[Path] = typer.Argument(..., help="reports of one kind, e.g. the shards of a CI matrix"),
) -> None:
    """Join reports of the same kind (e.g. from compare --shard I/N on several machines)."""
    from snnbench import merge

    report, path = merge.merge_files(str(out), [str(p) for p in inputs])
    console.print(f"merged {len(inputs)} {report['kind']} reports, {len(report['results'])} results -> {path}",
                  highlight=False)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
