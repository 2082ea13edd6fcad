"""Cases -> benchmark result records and paired comparisons (the report's ``results`` and
``comparisons``; schema in snnbench/results.py).

For each case and mode: build the workload once (the same weights, input and upstream gradients
for every implementation), time the chosen implementations and the speed-of-light work
interleaved, with a noise probe around the rounds (load average, CPU steal, what other processes
used: bench/noise.py), then measure each implementation's peak memory (CPU: a fresh subprocess
per measurement; CUDA: the allocator's peak, in process). Each implementation other than the
reference gets a comparison: its speedup over the reference, paired round by round.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

import torch

from snnbench import cases, env, footprint, implementations, results, values
from snnbench.bench import memory, noise, stats, timing, workload
from snnbench.cases import Case
from snnbench.errors import Unsupported
from snnbench.implementations.base import Implementation
from snnbench.verify import error_line

SOL = "sol"
DEFAULT_IMPLS = ("native", "reference")


@dataclass(frozen=True)
class Options:
    device: str = "cpu"
    dtype: str = "float32"
    modes: tuple[str, ...] = ("forward", "train")
    impls: tuple[str, ...] = DEFAULT_IMPLS     # --impl values: native, reference, all, user implementations
    threads: int = field(default_factory=torch.get_num_threads)
    timing: timing.Settings = field(default_factory=timing.Settings)
    memory: bool = True


def chosen_implementations(values: tuple[str, ...], neurons: list[str]) -> dict[str, list[Implementation]]:
    """neuron -> the implementations to time: those named; a user's alone brings ours and the
    reference beside it."""
    return implementations.select(list(values), neurons, default=DEFAULT_IMPLS, with_builtins=DEFAULT_IMPLS)


def throughput(case: Case, neurons_per_sample: int, median_s: float | None) -> dict:
    """neuron_steps_per_s = neurons per sample x T x B / median_s; sequences_per_s = B / median_s."""
    if not median_s:
        return {"neuron_steps_per_s": None, "sequences_per_s": None}
    return {"neuron_steps_per_s": neurons_per_sample * case.steps * case.batch / median_s,
            "sequences_per_s": case.batch / median_s}


def _record(case: Case, options: Options, mode: str, impl: str, samples: list[float],
            neurons: int, sol_median: float | None, warnings_: list[str], info: dict | None = None,
            train_fields: tuple[str, ...] = ()) -> dict:
    median = stats.median(samples) if samples else None
    noisy = stats.noise_warning(samples) if samples else None
    return {
        "neuron": case.neuron, "case": case.name, "device": options.device, "dtype": options.dtype,
        "mode": mode, "impl": impl, "impl_info": info,
        "train_fields": list(train_fields) if mode == "train" else None,
        "samples_s": samples, "median_s": median, "iqr_s": stats.iqr(samples) if samples else None,
        "repeats": len(samples),
        "throughput": throughput(case, neurons, median),
        "peak_mem_bytes": None, "mem_method": None,
        "sol_ratio": None if impl == SOL or not (median and sol_median) else median / sol_median,
        "warnings": warnings_ + ([noisy] if noisy else []),
        "case_spec": cases.to_spec(case),
    }


def comparison(case: Case, options: Options, mode: str, impl: str, timed: list[float],
               reference: list[float]) -> dict:
    """Speedup of ``impl`` = median over pairs of reference / impl, with a bootstrap 95% interval."""
    ratios = stats.paired_ratios(reference, timed)
    lo, hi = stats.bootstrap_median_ci(ratios)
    return {"neuron": case.neuron, "case": case.name, "device": options.device, "dtype": options.dtype,
            "mode": mode, "impl": impl, "speedup": stats.median(ratios), "ci": [lo, hi], "ratios": ratios,
            "n_pairs": len(ratios)}


def _error_line(exc: BaseException) -> str:
    return error_line(exc)


def _usable_calls(built: workload.Workload, mode: str, names: list[str],
                  problems: dict[str, list[str]]) -> dict[str, Callable[[], None]]:
    """The calls that run: each implementation is tried once; one that fails is reported, not timed."""
    calls = {}
    for name in names:
        if name in built.problems or name not in built.modules:
            continue
        fn = built.call(name, mode)
        try:
            fn()
        except Unsupported as exc:
            problems[name].append(f"skipped: {exc}")
            continue
        except Exception as exc:  # a crash in one implementation is a result, not a traceback
            problems[name].append(f"error: {_error_line(exc)}")
            continue
        calls[name] = fn
    return calls


def bench_case_mode(case: Case, mode: str, options: Options,
                    impls: list[Implementation]) -> tuple[list[dict], list[dict]]:
    """Time, and measure memory of, one case in one mode: result records and comparisons."""
    reference = implementations.reference(case.neuron)
    names = [impl.name for impl in impls]
    infos = {impl.name: impl.info() for impl in impls}
    torch_dtype = values.torch_dtype(options.dtype)
    problems: dict[str, list[str]] = {name: [] for name in (*names, SOL)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            built = workload.build(case, torch_dtype, options.device, impls, reference)
        except Unsupported as exc:
            return _failed(case, mode, options, names, infos, f"skipped: {exc}"), []
        except Exception as exc:  # a case that cannot be built is a result, not a traceback
            return _failed(case, mode, options, names, infos, f"error: cannot build: {_error_line(exc)}"), []
        try:
            for name, why in built.problems.items():
                problems[name].append(why)
            calls = _usable_calls(built, mode, names, problems)
            sol_work = built.spec.speed_of_light(case, torch_dtype, options.device, mode)
            calls[SOL] = sol_work
            probe = noise.Probe(options.threads)
            samples = timing.interleaved(calls, options.timing, timing.timer_for(options.device))
            busy = probe.finish()
            peaks = _peaks(built, case, mode, options, [n for n in names if n in calls], problems)
        finally:
            built.close()
    sol_median = stats.median(samples[SOL])
    records = []
    for name in (*names, SOL):
        record = _record(case, options, mode, name, samples.get(name, []), built.neurons_per_sample,
                         sol_median, problems[name], infos.get(name), built.train_fields)
        if name in peaks:
            record["peak_mem_bytes"], record["mem_method"] = peaks[name]
        if name == SOL:
            record["sol_work"] = sol_work.description
        record["noise"] = busy
        if noise.warning(busy):
            record["warnings"].append(noise.warning(busy))
        records.append(record)
    comparisons = []
    if reference.name in samples:
        for name in names:
            if name != reference.name and name in samples:
                comparisons.append(comparison(case, options, mode, name, samples[name], samples[reference.name]))
    return records, comparisons


def _failed(case: Case, mode: str, options: Options, names: list[str], infos: dict, reason: str) -> list[dict]:
    return [_record(case, options, mode, name, [], 0, None, [reason], infos.get(name)) for name in (*names, SOL)]


def _peaks(built: workload.Workload, case: Case, mode: str, options: Options, names: list[str],
           problems: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    if not options.memory:
        return {}
    out = {}
    for name in names:
        try:
            if options.device.startswith("cuda"):
                out[name] = (memory.cuda_peak(built.call(name, mode), options.device, built.clear_grads),
                             memory.CUDA_METHOD)
            else:
                out[name] = memory.cpu_peak(cases.to_spec(case), name, mode, options.dtype,
                                            built.output_shapes, built.train_fields, options.threads)
        except memory.MeasurementFailed as exc:
            problems[name].append(f"no peak memory: {exc}")
    return out


def run(selected: list[Case], options: Options, on_result: Callable[[dict], None] | None = None,
        **extra) -> dict:
    """Every selected case in every chosen mode; the bench report. ``on_result`` sees each record.
    A case that cannot fit in memory is refused first."""
    footprint.require(selected, [options.dtype], options.device)
    chosen = chosen_implementations(options.impls, list(dict.fromkeys(c.neuron for c in selected)))
    records, comparisons = [], []
    for case in selected:
        for mode in options.modes:
            rows, pairs = bench_case_mode(case, mode, options, chosen[case.neuron])
            records += rows
            comparisons += pairs
            if on_result:
                for row in rows:
                    on_result(row)
    return results.new_report("bench", env.collect(options.device), records, comparisons=comparisons,
                              settings=settings_record(options), **extra)


def timed_nothing(report: dict) -> list[str]:
    """The case and mode of each row group in which no implementation was timed (every one failed
    to build or run, or was skipped): a bench that timed nothing there did not do its work."""
    timed: dict[tuple, bool] = {}
    for r in report["results"]:
        key = (r["neuron"], r["case"], r["mode"])
        timed[key] = timed.get(key, False) or (r["impl"] != SOL and bool(r.get("samples_s")))
    return [f"{neuron}/{case} {mode}" for (neuron, case, mode), ok in timed.items() if not ok]


def settings_record(options: Options) -> dict:
    t = options.timing
    return {"threads": options.threads, "warmup_calls": t.warmup_calls, "warmup_s": t.warmup_s,
            "min_time_s": t.min_time_s, "min_repeats": t.min_repeats, "max_repeats": t.max_repeats,
            "memory": options.memory}


def timing_settings(settings: dict | None) -> timing.Settings:
    """The timing settings a report's ``settings`` recorded; the defaults for what it lacks."""
    default = timing.Settings()
    if not isinstance(settings, dict):
        return default
    values = {}
    for name in ("warmup_calls", "warmup_s", "min_time_s", "min_repeats", "max_repeats"):
        value = settings.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            values[name] = type(getattr(default, name))(value)
    return replace(default, **values)
