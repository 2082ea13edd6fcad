"""The snnbench command line: parse, call, print, exit code. No logic lives here.

Every command checks its output paths (snnbench.outputs) before it starts its work. Errors are one
line on stderr: snnbench's own (exit 2, or their code) through :func:`handled`, usage errors of the
command line itself (a missing argument, an unknown option, a value that is not a number) through
:class:`OneLineErrors` (exit 2). The consoles never read text as markup or emoji codes: names,
paths and messages are printed as they are; styles come from rich Text objects.

Each command imports what it runs inside its function: ``snnbench --help`` and usage errors answer
in a fraction of a second, without importing torch and the reference libraries. Nowhere else in
the package does an import sit inside a function, except in the A/B worker, which imports the
snnbench of the revision it times.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, List, Optional

import typer
import typer.core
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from snnbench.errors import SnnbenchError


LINE_MAX = 1000


def one_line(message: str) -> str:
    """A message as one line of at most LINE_MAX characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= LINE_MAX else text[:LINE_MAX] + f"... ({len(text)} characters)"


def print_error(message: str) -> None:
    err_console.print(Text("error:", style="bold red") + Text(" " + one_line(message)), highlight=False,
                      soft_wrap=True)


class OneLineErrors(typer.core.TyperGroup):
    """Usage errors of the command line in one line on stderr (exit 2), as snnbench's own errors;
    ``snnbench`` alone still shows the help."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
        except typer.TyperException as exc:      # click's usage and parameter errors
            code = exc.exit_code
            if type(exc).__name__ != "NoArgsIsHelpError":    # that one has printed the help
                ctx = getattr(exc, "ctx", None)
                hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
                print_error(exc.format_message() + hint)
        except typer.Abort:
            code = 1
            err_console.print("aborted")
        if standalone_mode:
            sys.exit(code)
        return code


app = typer.Typer(cls=OneLineErrors, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Verify and benchmark from-scratch spiking neurons against snntorch and sinabs.")
console = Console(markup=False, emoji=False)
err_console = Console(stderr=True, markup=False, emoji=False)


# ---- options shared by several commands (one definition each) ---------------------------------------
Neurons = Annotated[List[str], typer.Argument(help="neuron names, or 'all'")]
Cases = Annotated[Optional[List[str]], typer.Option("--case", help="run only this case (repeatable)")]
CaseFile = Annotated[Optional[Path], typer.Option("--case-file", help="run this file's cases instead (all, or "
                                                                        "those named with --case)")]
OneCase = Annotated[Optional[str], typer.Option("--case", help="the case (default: the neuron's first bench case)")]
OneCaseFile = Annotated[Optional[Path], typer.Option("--case-file", help="take the case from this file")]
Device = Annotated[str, typer.Option("--device", help="cpu or cuda (cuda:N)")]
Dtypes = Annotated[str, typer.Option("--dtype", help="float32, float64 or all")]
Dtype = Annotated[str, typer.Option("--dtype", help="float32 or float64")]
Mode = Annotated[str, typer.Option("--mode", help="forward (no_grad), train (forward + backward) or all")]
Impls = Annotated[Optional[List[str]], typer.Option("--impl", help="native, reference, all (the default: both), or "
                                                    "your drop-in as MODULE:CLASS or an installed name, timed "
                                                    "beside both (repeatable)")]
Threads = Annotated[Optional[int], typer.Option("--threads", help="torch.set_num_threads(N) (default: torch's)")]
Quick = Annotated[bool, typer.Option("--quick", help="few repeats: a smoke run, not a measurement")]
MinTime = Annotated[Optional[float], typer.Option("--min-time", help="seconds timed per implementation (default 1)")]
NoMemory = Annotated[bool, typer.Option("--no-memory", help="skip the peak memory measurements")]
Processes = Annotated[int, typer.Option("--processes", help="with --rev: pairs of worker processes the rounds are "
                                        "spread over, so one process's luck is not taken for a change (default 4)")]
Shard = Annotated[Optional[str], typer.Option("--shard", help="run only shard I of N (I/N), for CI matrices")]
Json = Annotated[Optional[Path], typer.Option("--json", help="report path (default: reports/KIND-*.json)")]
Markdown = Annotated[Optional[Path], typer.Option("--markdown", help="also write markdown here "
                                                  "(e.g. $GITHUB_STEP_SUMMARY)")]


def _written_note() -> str:
    from snnbench import outputs

    done = outputs.written()
    return f"written: {', '.join(done)}" if done else "nothing written"


def handled(fn):
    """Turn snnbench's own errors into one line on stderr and exit code 2; Ctrl-C into 130. Both
    say what the command had written by then."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from snnbench import outputs

        outputs.forget_written()
        try:
            return fn(*args, **kwargs)
        except SnnbenchError as exc:
            print_error(str(exc) + (f" ({_written_note()})" if outputs.written() else ""))
            raise typer.Exit(exc.exit_code)
        except KeyboardInterrupt:
            err_console.print(Text(f"interrupted: {_written_note()}"), highlight=False, soft_wrap=True)
            raise typer.Exit(130)

    return wrapper


def progress_bar() -> Progress:
    """A transient progress bar on a terminal; nothing at all where stderr is not one (a log)."""
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[current]}", markup=False), console=err_console,
                    transient=True, disable=not err_console.is_terminal)


def check_outputs(outputs: dict, inputs: list = (), replace: bool = True) -> None:
    from snnbench import outputs as outputs_mod

    outputs_mod.check(outputs, inputs, replace)


def _version(value: bool) -> None:
    if value:
        from snnbench import __version__

        console.print(Text(f"snnbench {__version__}"), highlight=False)
        raise typer.Exit(0)


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    """Verify and benchmark spiking neurons (ours, yours) against snntorch and sinabs."""


@app.command("list")
@handled
def list_cmd() -> None:
    """Neurons, their references (installed versions), standard cases and installed implementations."""
    from snnbench import catalog
    from snnbench.render import catalog as render

    render.print_catalog(catalog.describe(), catalog.installed_implementations(), console)


@app.command()
@handled
def compare(
    neurons: Neurons,
    case: Cases = None,
    case_file: CaseFile = None,
    device: Device = "cpu",
    dtype: Dtypes = "all",
    json_path: Json = None,
    seed: Optional[int] = typer.Option(None, "--seed", help="override every case's seed"),
    shard: Shard = None,
    impl: Optional[List[str]] = typer.Option(None, "--impl", help="what to judge: native (ours, the default) "
                                             "or your drop-in as MODULE:CLASS or an installed name (repeatable)"),
) -> None:
    """Is it numerically the same as the reference? Exit 0 pass, 1 fail, 2 usage error."""
    from snnbench import compare, results, selection, values
    from snnbench.render import compare as compare_render

    device = values.parse_device(device)
    dtype_names = values.parse_dtypes(dtype)
    report_path = json_path or results.default_path("compare")
    check_outputs({"--json" if json_path else "report": report_path}, [case_file])
    selected = selection.collect_cases(neurons, case, case_file, seed=seed, shard=values.parse_shard(shard))
    chosen = compare.compare_implementations(impl, list(dict.fromkeys(c.neuron for c in selected)))
    compare.check_user_implementations(selected, chosen)
    total = sum(len(chosen[c.neuron]) for c in selected) * len(dtype_names)
    with progress_bar() as bar:
        task = bar.add_task("compare", total=total, current="")

        def advance(record: dict) -> None:
            bar.update(task, advance=1, current=f"{record['neuron']}/{record['case']} {record['dtype']}: "
                                                 f"{record['verdict']}")

        report = compare.run_compare(selected, dtype_names, device, chosen, on_result=advance,
                                    skipped=selection.unavailable_neurons(neurons))
    path = results.save(report, report_path)
    compare_render.print_compare(report, console, str(path))
    raise typer.Exit(compare.exit_code(report))


def bench_options(device: str, dtype: str, mode: str, impl: Optional[List[str]], threads: Optional[int], quick: bool,
                  min_time: Optional[float], memory: bool = True, ab: bool = False):
    from snnbench import values
    from snnbench.bench import runner as bench_runner
    from snnbench.bench import timing

    if quick:
        settings = timing.Settings.quick()
    else:
        from snnbench.bench.ab import MIN_PAIRS

        settings = timing.Settings(min_repeats=MIN_PAIRS) if ab else timing.Settings()
    if min_time is not None:
        settings = values.with_min_time(settings, min_time)
    return bench_runner.Options(device=values.parse_device(device), dtype=values.parse_dtype(dtype),
                                modes=values.parse_modes(mode),
                                impls=tuple(impl or bench_runner.DEFAULT_IMPLS),
                                threads=values.apply_threads(threads), timing=settings, memory=memory)


@app.command()
@handled
def bench(
    neurons: Neurons,
    case: Cases = None,
    case_file: CaseFile = None,
    device: Device = "cpu",
    dtype: Dtype = "float32",
    mode: Mode = "all",
    impl: Impls = None,
    threads: Threads = None,
    quick: Quick = False,
    min_time: MinTime = None,
    no_memory: NoMemory = False,
    json_path: Json = None,
    shard: Shard = None,
    rev: Optional[str] = typer.Option(None, "--rev", help="time ours as of this git revision against the "
                                      "working tree's, in turns in one run (an A/B report)"),
    processes: Processes = 4,
) -> None:
    """How fast, how much memory: ours against the reference, with the speed of light. Exit 0; 1 when
    a case timed no implementation; 2 usage error."""
    from snnbench import compare, results, selection, values
    from snnbench.render import bench as bench_render
    from snnbench.bench import runner as bench_runner

    options = bench_options(device, dtype, mode, impl, threads, quick, min_time, not no_memory, ab=rev is not None)
    report_path = json_path or results.default_path("ab" if rev is not None else "bench")
    check_outputs({"--json" if json_path else "report": report_path}, [case_file])
    selected = selection.collect_cases(neurons, case, case_file, bench_only=True, shard=values.parse_shard(shard))
    if not selected:
        raise SnnbenchError("no bench cases selected (mark cases with bench = true, or name them with --case)")
    if rev is not None:
        report = run_ab(selected, options, rev, impl, processes)
        path = results.save(report, report_path)
        bench_render.print_ab(report, console, str(path))
        return
    chosen = bench_runner.chosen_implementations(options.impls, list(dict.fromkeys(c.neuron for c in selected)))
    compare.check_user_implementations(selected, chosen)
    with progress_bar() as bar:
        task = bar.add_task("bench", total=sum(len(chosen[c.neuron]) + 1 for c in selected) * len(options.modes),
                            current="")

        def advance(record: dict) -> None:
            bar.update(task, advance=1, current=f"{record['neuron']}/{record['case']} {record['mode']}")

        report = bench_runner.run(selected, options, on_result=advance,
                                  **({"skipped_neurons": skipped} if (skipped := selection.unavailable_neurons(neurons))
                                     else {}))
    path = results.save(report, report_path)
    bench_render.print_bench(report, console, str(path))
    exit_if_nothing_timed(report, path)


def exit_if_nothing_timed(report: dict, path: Path) -> None:
    """A bench that timed no implementation of some case and mode did not do its work: exit 1."""
    from snnbench.bench import runner as bench_runner

    missing = bench_runner.timed_nothing(report)
    if missing:
        print_error(f"nothing timed for {', '.join(missing)}: every implementation failed or was skipped "
                    f"(see the warnings); report written: {path}")
        raise typer.Exit(1)


@app.command()
@handled
def sweep(
    neuron: str = typer.Argument(..., help="one neuron"),
    vary: str = typer.Option(..., "--vary", help="KEY=V1,V2,...: steps, batch or a params key"),
    case: OneCase = None,
    case_file: OneCaseFile = None,
    device: Device = "cpu",
    dtype: Dtype = "float32",
    mode: Mode = "forward",
    impl: Impls = None,
    threads: Threads = None,
    quick: Quick = False,
    min_time: MinTime = None,
    no_memory: NoMemory = False,
    json_path: Json = None,
    png: Optional[Path] = typer.Option(None, "--png", help="plot path (default: the report's, .png)"),
) -> None:
    """Bench one case over a range of one parameter; write the report and a PNG plot."""
    from snnbench import compare, results, selection, values
    from snnbench.bench import plot
    from snnbench.render import bench as bench_render
    from snnbench.bench import runner as bench_runner
    from snnbench.bench import sweep as sweep_mod

    plot.require_matplotlib()
    options = bench_options(device, dtype, mode, impl, threads, quick, min_time, not no_memory)
    key, points = values.parse_vary(vary)
    report_path = json_path or results.default_path("sweep")
    png_path = png or report_path.with_suffix(".png")
    check_outputs({"--json" if json_path else "report": report_path, "--png" if png else "plot": png_path},
                  [case_file])
    (base,) = selection.collect_cases([neuron], [case] if case else None, case_file, bench_only=True)[:1] or [None]
    if base is None:
        raise SnnbenchError(f"{neuron}: no bench case to vary; name one with --case")
    chosen = bench_runner.chosen_implementations(options.impls, [base.neuron])
    compare.check_user_implementations([base], chosen)
    with progress_bar() as bar:
        task = bar.add_task("sweep", total=len(points) * len(options.modes) * (len(chosen[base.neuron]) + 1),
                            current="")

        def advance(record: dict) -> None:
            bar.update(task, advance=1, current=f"{record['case']} {record['mode']}")

        report = sweep_mod.run_sweep(base, key, points, options, on_result=advance)
    path = results.save(report, report_path)
    bench_render.print_bench(report, console, str(path))
    picture = plot.sweep_png(report, png_path)
    console.print(Text(f"plot: {picture}"), highlight=False, soft_wrap=True)
    exit_if_nothing_timed(report, path)


@app.command()
@handled
def profile(
    neuron: str = typer.Argument(..., help="one neuron"),
    case: OneCase = None,
    case_file: OneCaseFile = None,
    impl: str = typer.Option("native", "--impl", help="native, reference, or MODULE:CLASS"),
    mode: str = typer.Option("forward", "--mode", help="forward or train"),
    device: Device = "cpu",
    dtype: Dtype = "float32",
    calls: int = typer.Option(3, "--calls", help="profiled calls (after one warm-up call)"),
    top: int = typer.Option(15, "--top", help="operators shown"),
    threads: Threads = None,
    trace: Optional[Path] = typer.Option(None, "--trace", help="Chrome trace path (default: reports/traces/...)"),
) -> None:
    """Run one case under torch.profiler: top operators by self time, and a Chrome trace file."""
    from snnbench import compare, limits, selection, values
    from snnbench.bench import profile as profile_mod
    from snnbench.render import bench as bench_render

    device = values.parse_device(device)
    if impl == "all":
        raise SnnbenchError("--impl: a profile runs one implementation (native, reference or MODULE:CLASS)")
    (mode_name,) = values.parse_modes(mode) if mode != "all" else (None,)
    if mode_name is None:
        raise SnnbenchError("--mode must be forward or train for a profile")
    for option, value in (("--calls", calls), ("--top", top)):
        try:
            limits.count(value, limits.PROFILE_CALLS_MAX)
        except ValueError as exc:
            raise SnnbenchError(f"{option} {exc}") from None
    values.apply_threads(threads)
    (base,) = selection.collect_cases([neuron], [case] if case else None, case_file, bench_only=True)[:1] or [None]
    if base is None:
        raise SnnbenchError(f"{neuron}: no bench case; name one with --case")
    trace = trace or profile_mod.trace_path(base, impl, mode_name)
    check_outputs({"--trace": trace}, [case_file])
    chosen = compare.compare_implementations([impl], [base.neuron]) if impl != "reference" else None
    if chosen:
        compare.check_user_implementations([base], chosen)
    result = profile_mod.profile_case(base, impl, mode_name, device, values.parse_dtype(dtype), calls, top,
                                      trace)
    console.print(bench_render.profile_table(result))
    console.print(Text(f"Chrome trace: {result['trace']}  (open in chrome://tracing or ui.perfetto.dev)"),
                  highlight=False, soft_wrap=True)


@app.command()
@handled
def audit(
    neurons: Neurons,
    device: Device = "cpu",
    json_path: Json = None,
    markdown_path: Markdown = None,
) -> None:
    """Where each reference departs from its documentation, measured on the installed release."""
    from snnbench import audit as audit_mod
    from snnbench import results, selection, values
    from snnbench.render import audit as audit_render

    device = values.parse_device(device)
    names = selection.available_neurons(neurons)
    report_path = json_path or results.default_path("audit")
    check_outputs({"--json" if json_path else "report": report_path, "--markdown": markdown_path})
    with progress_bar() as bar:
        task = bar.add_task("audit", total=None, current="")

        def advance(record: dict) -> None:
            bar.update(task, advance=1, current=record["departure"])

        report = audit_mod.run_audit(names, device, on_result=advance, skipped=selection.unavailable_neurons(neurons))
    path = results.save(report, report_path)
    audit_render.print_audit(report, console, str(path))
    if markdown_path is not None:
        results.write_text(audit_render.audit_markdown(report), markdown_path)


@app.command()
@handled
def fuzz(
    neurons: Neurons,
    seed: int = typer.Option(0, "--seed", help="the same seed draws the same cases"),
    budget: float = typer.Option(60.0, "--budget", help="seconds to spend, shared by the neurons"),
    max_cases: Optional[int] = typer.Option(None, "--max-cases", help="stop each neuron after this many cases "
                                            "(in batches of 8), whatever the budget"),
    impl: str = typer.Option("native", "--impl", help="what to judge: native (ours) or MODULE:CLASS"),
    dtype: Dtypes = "all",
    out: Path = typer.Option(Path("reports") / "fuzz", "--out", help="folder for the case file of a failure"),
    json_path: Json = None,
) -> None:
    """Random valid cases, each compared; a failure is shrunk and written as a case file. Exit 0, 1 or 2."""
    from snnbench import compare, results, selection, specs, values
    from snnbench.fuzz import run as fuzz_run
    from snnbench.render import fuzz as fuzz_render

    names = selection.available_neurons(neurons)
    if not budget > 0 or budget != budget or budget == float("inf"):
        raise SnnbenchError(f"--budget must be a positive number of seconds, got {budget}")
    if impl == "reference":
        raise SnnbenchError("--impl reference: fuzz judges an implementation against the reference")
    if max_cases is not None and max_cases < 1:
        raise SnnbenchError(f"--max-cases must be a positive integer, got {max_cases}")
    dtype_names = values.parse_dtypes(dtype)
    report_path = json_path or results.default_path("fuzz")
    check_outputs({"--json" if json_path else "report": report_path,
                   **{f"--out ({name})": fuzz_run.case_path(out, name, seed) for name in names}})
    if impl != "native":
        chosen = compare.compare_implementations([impl], names)
        compare.check_user_implementations([c for n in names for c in specs.standard_cases(n)[:1]], chosen)
    with progress_bar() as bar:
        task = bar.add_task("fuzz", total=len(names), current="")

        def advance(run) -> None:
            bar.update(task, current=f"{run.neuron}: {run.cases} cases")

        report = fuzz_run.fuzz(names, seed, budget, impl, tuple(dtype_names), out, on_case=advance,
                               max_cases=max_cases)
    path = results.save(report, report_path)
    fuzz_render.print_fuzz(report, console, str(path))
    raise typer.Exit(fuzz_run.exit_code(report))


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


def run_ab(selected: list, options, rev: str, impl: Optional[List[str]], processes: int) -> dict:
    """The A/B run of ``--rev``, with a progress bar."""
    from snnbench.bench import ab

    if impl and list(impl) != ["native"]:
        raise SnnbenchError("--rev times our implementation (native) at REV against the working tree's; "
                            "drop --impl")
    with progress_bar() as bar:
        task = bar.add_task(f"A/B against {rev}", total=processes * len(selected) * len(options.modes), current="")

        def advance(label: str) -> None:
            bar.update(task, advance=1, current=label)

        return ab.run_ab(selected, options, rev, on_step=advance, processes=processes)


@app.command()
@handled
def gate(
    targets: Optional[List[str]] = typer.Argument(None, metavar="BASELINE [CURRENT] | NEURON...",
                                                  help="reports to judge; with --rev, the neurons (default all)"),
    rev: Optional[str] = typer.Option(None, "--rev", help="judge the working tree against this git revision, "
                                      "both timed in turns in one run (the CI use)"),
    processes: Processes = 4,
    case: Optional[List[str]] = typer.Option(None, "--case", help="--rev: run only this case (repeatable)"),
    case_file: Optional[Path] = typer.Option(None, "--case-file", help="--rev: run this file's cases"),
    device: str = typer.Option("cpu", "--device", help="--rev: cpu or cuda"),
    dtype: str = typer.Option("float32", "--dtype", help="--rev: float32 or float64"),
    mode: str = typer.Option("all", "--mode", help="--rev: forward, train or all"),
    threads: Threads = None,
    min_time: Optional[float] = typer.Option(None, "--min-time", help="seconds timed per revision and case "
                                             "(--rev), or per implementation in a re-run"),
    no_memory: NoMemory = False,
    json_path: Optional[Path] = typer.Option(None, "--json", help="save the run made now (--rev, or without CURRENT)"),
    markdown_path: Markdown = None,
    max_error_growth: float = typer.Option(10.0, "--max-error-growth", help="errors may grow by this factor"),
    max_slowdown: str = typer.Option("10%", "--max-slowdown", help="allowed slowdown, e.g. 10% or 0.1"),
    max_memory_growth: str = typer.Option("10%", "--max-memory-growth", help="allowed peak memory growth"),
    min_memory_growth: str = typer.Option("1MiB", "--min-memory-growth", help="memory must also grow by more "
                                          "than this to regress (e.g. 1MiB, 512KiB)"),
    absolute: bool = typer.Option(False, "--absolute", help="gate absolute times even across machines"),
    strict: bool = typer.Option(False, "--strict", help="judge speed and memory of reports from different "
                                "(or unknown) machines"),
    quick: bool = typer.Option(False, "--quick", help="few repeats (a smoke run): --rev and bench re-runs"),
    show_all: bool = typer.Option(False, "--all", help="list every check, not only what changed"),
) -> None:
    """Did anything get worse? Exit 0 no, 1 regression, 3 inconclusive, 2 usage error.

    gate --rev REV [NEURON...]: the working tree against REV, timed in turns in one run.

    gate BASELINE: the baseline's cases run now. gate BASELINE CURRENT: two saved reports.

    gate AB.json: a saved A/B report (bench --rev)."""
    from snnbench import judge, rerun, results, selection, values
    from snnbench.render import gate as gate_render
    from snnbench.render import bench as bench_render

    thresholds = judge.Thresholds(
        max_error_growth=values.parse_factor(max_error_growth, "--max-error-growth"),
        max_slowdown=values.parse_fraction(max_slowdown, "--max-slowdown"),
        max_memory_growth=values.parse_fraction(max_memory_growth, "--max-memory-growth"),
        min_memory_growth=values.parse_size(min_memory_growth, "--min-memory-growth"),
        absolute=absolute, strict=strict)
    targets = list(targets or [])
    check_outputs({"--json": json_path, "--markdown": markdown_path},
                  [case_file] if rev is not None else [Path(t) for t in targets])
    if rev is not None:
        options = bench_options(device, dtype, mode, None, threads, quick, min_time, not no_memory, ab=True)
        selected = selection.collect_cases(targets or ["all"], case, case_file, bench_only=True)
        if not selected:
            raise SnnbenchError("no bench cases selected (mark cases with bench = true, or name them with --case)")
        report = run_ab(selected, options, rev, None, processes)
        saved = f" (report {results.save(report, json_path)})" if json_path else ""
        baseline_name = bench_render.revision_label(report["revisions"]["base"])
        current_name = bench_render.revision_label(report["revisions"]["current"]) + saved
        outcome = judge.judge_ab(report, thresholds)
    else:
        if not targets or len(targets) > 2:
            raise SnnbenchError("name a BASELINE report (and a CURRENT one), or --rev REV to compare with a revision")
        only_rev = [name for name, given in (("--case", case), ("--case-file", case_file), ("--device", device != "cpu"),
                                             ("--dtype", dtype != "float32"), ("--mode", mode != "all"),
                                             ("--threads", threads is not None)) if given]
        if only_rev:
            raise SnnbenchError(f"{only_rev[0]} goes with --rev (a re-run runs the baseline's cases as it ran them)")
        if len(targets) == 2 and json_path is not None:
            raise SnnbenchError("--json saves a run made now; gate BASELINE CURRENT runs nothing")
        baseline_name = targets[0]
        base = results.load(targets[0])
        if not base["results"]:
            raise SnnbenchError(f"{baseline_name}: holds no results: nothing to gate")
        if len(targets) == 2:
            current_name = targets[1]
            outcome = judge.judge(base, results.load(targets[1]), thresholds, (baseline_name, current_name))
        elif base["kind"] == "ab":
            baseline_name = current_name = targets[0]
            outcome = judge.judge_ab(base, thresholds, targets[0])
        else:
            with progress_bar() as bar:
                task = bar.add_task(f"running {Path(targets[0]).name}'s cases", total=len(base["results"]),
                                    current="")

                def advance(record: dict) -> None:
                    bar.update(task, advance=1, current=f"{record['neuron']}/{record['case']} "
                                                         f"{record.get('dtype') or record.get('mode', '')}")

                cur = rerun.rerun(base, targets[0], quick=quick, min_time=min_time, memory=not no_memory,
                                  on_result=advance)
            current_name = str(results.save(cur, json_path)) if json_path else "run now"
            outcome = judge.judge(base, cur, thresholds, (baseline_name, current_name))
    gate_render.print_gate(outcome, console, baseline_name, current_name, show_all)
    if markdown_path is not None:
        results.write_text(gate_render.markdown(outcome, baseline_name, current_name), markdown_path)
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
    console.print(Text(f"baseline {name}: {len(report['results'])} {report['kind']} results -> {path}"),
                  highlight=False, soft_wrap=True)


@app.command("merge")
@handled
def merge_cmd(
    out: Path = typer.Argument(..., help="the merged report to write"),
    inputs: List[Path] = typer.Argument(..., help="reports of one kind, e.g. the shards of a CI matrix"),
    force: bool = typer.Option(False, "--force", help="replace OUT if it exists (never one of the inputs)"),
) -> None:
    """Join reports of the same kind (e.g. from compare --shard I/N on several machines) into OUT,
    a new file (or an existing one with --force)."""
    from snnbench import merge

    report, path = merge.merge_files(str(out), [str(p) for p in inputs], force=force)
    console.print(Text(f"merged {len(inputs)} {report['kind']} reports, {len(report['results'])} results -> {path}"),
                  highlight=False, soft_wrap=True)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print(Text(f"interrupted: {_written_note()}"), highlight=False, soft_wrap=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
