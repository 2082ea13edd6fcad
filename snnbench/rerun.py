"""Run a saved report's cases again, as it ran them: the gate's ``snnbench gate BASELINE``.

Every record carries its full case (``case_spec``), so the baseline needs no case files. A
compare report's cases run again with each record's device, dtype and implementation. A bench
report's run again with each record's device, dtype, mode and implementation, with the threads
and the timing and memory settings the report recorded (``settings``; ``quick`` or ``min_time``
override the timing). Runs of several devices or dtypes are merged into one report.
"""

from __future__ import annotations

from typing import Any, Callable

from snnbench import compare, merge, specs, values
from snnbench.bench import runner as bench_runner
from snnbench.bench import timing, workload
from snnbench.errors import ReportError, SnnbenchError


def cases_of(report: dict, source: str) -> list[tuple[Any, dict]]:
    """(Case, first record) for each distinct case of a report, in report order, from case_spec."""

    seen: dict[tuple, tuple[Any, dict]] = {}
    for i, record in enumerate(report["results"]):
        spec = record.get("case_spec")
        if not isinstance(spec, dict):
            raise ReportError(f"{source}: result {i} ({record.get('neuron')}/{record.get('case')}) has no "
                              "case_spec, so its case cannot run again; pass a CURRENT report instead")
        key = (record["neuron"], record["case"])
        if key not in seen:
            seen[key] = (specs.case_from_spec(spec, source), record)
    return list(seen.values())


def rerun(baseline: dict, source: str, quick: bool = False, min_time: float | None = None,
          memory: bool = True, on_result: Callable[[dict], None] | None = None) -> dict:
    """The baseline's cases run now; ``memory=False`` skips the peak memory even where the
    baseline measured it."""
    cases = cases_of(baseline, source)
    if not cases:
        raise ReportError(f"{source}: the report holds no results to run again")
    if baseline["kind"] == "compare":
        reports = _rerun_compare(baseline, source, cases, on_result)
    elif baseline["kind"] == "bench":
        reports = _rerun_bench(baseline, source, cases, quick, min_time, memory, on_result)
    else:
        raise ReportError(f"{source}: a {baseline['kind']} report cannot run again; gate it alone "
                          "(snnbench gate REPORT) or make a new one (--rev)")
    if len(reports) == 1:
        return reports[0]

    return merge.merge(reports, [f"run {i + 1}" for i in range(len(reports))])


def _groups(rows: list[dict], fields: tuple[str, ...]) -> dict[tuple, list[dict]]:
    out: dict[tuple, list[dict]] = {}
    for r in rows:
        out.setdefault(tuple(r.get(f) for f in fields), []).append(r)
    return out


def _rerun_compare(baseline: dict, source: str, cases: list, on_result) -> list[dict]:
    # group cases by (device, dtypes, implementations) so each runs exactly what the baseline ran
    groups: dict[tuple, list] = {}
    for case, _ in cases:
        rows = [r for r in baseline["results"] if (r["neuron"], r["case"]) == (case.neuron, case.name)]
        for device, on_device in _groups(rows, ("device",)).items():
            dtype_names = tuple(dict.fromkeys(r["dtype"] for r in on_device))
            impls = tuple(dict.fromkeys(r.get("impl", "native") for r in on_device))
            groups.setdefault((device[0], dtype_names, impls), []).append(case)
    reports = []
    for (device, dtype_names, impls), group in groups.items():
        _check_runnable(source, device, dtype_names)
        chosen = {}
        for neuron in dict.fromkeys(c.neuron for c in group):
            chosen.update(compare.compare_implementations(list(impls), [neuron]))
        reports.append(compare.run_compare(group, list(dtype_names), device, chosen, on_result=on_result))
    return reports


def _rerun_bench(baseline: dict, source: str, cases: list, quick: bool, min_time: float | None,
                 memory: bool, on_result) -> list[dict]:

    settings = baseline.get("settings") if isinstance(baseline.get("settings"), dict) else {}
    threads = settings.get("threads") or baseline.get("environment", {}).get("torch_threads")
    timed = timing.Settings.quick() if quick else bench_runner.timing_settings(settings)
    if min_time is not None:
        timed = values.with_min_time(timed, min_time)
    measure_memory = memory and settings.get("memory", True) is not False
    reports = []
    for (device, dtype), rows in _groups(baseline["results"], ("device", "dtype")).items():
        _check_runnable(source, device, ())
        dtype = values.parse_dtype(dtype or "float32")
        names = {(r["neuron"], r["case"]) for r in rows}
        group = [case for case, _ in cases if (case.neuron, case.name) in names]
        options = bench_runner.Options(
            device=device, dtype=dtype,
            modes=tuple(m for m in dict.fromkeys(r["mode"] for r in rows) if m in workload.MODES),
            impls=tuple(i for i in dict.fromkeys(r["impl"] for r in rows) if i != bench_runner.SOL),
            threads=values.apply_threads(threads), timing=timed, memory=measure_memory)
        reports.append(bench_runner.run(group, options, on_result=on_result))
    return reports


def _check_runnable(source: str, device: str, dtype_names: tuple[str, ...]) -> None:
    try:
        values.parse_device(device)
        for dtype in dtype_names:
            values.parse_dtypes(dtype)
    except SnnbenchError as exc:
        raise SnnbenchError(f"{source}: cannot run the baseline's cases here: {exc}") from None
