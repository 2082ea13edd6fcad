"""Cases -> benchmark result records and paired comparisons (the report's ``results`` and
``comparisons``; schema in snnbench/results.py).

For each case and mode: build the workload once (one pair, one input, one loss for both impls),
time the chosen impls and the speed-of-light work interleaved, then measure each impl's peak
memory (CPU: a fresh subprocess per measurement; CUDA: the allocator's peak, in process).
"""

from __future__ import annotations

import traceback
import warnings
from dataclasses import dataclass, field
from typing import Callable

import torch

from snnbench import cases, env, inputs, registry, results
from snnbench.bench import memory, stats, timing, workload
from snnbench.cases import Case
from snnbench.errors import SnnbenchError, Unsupported

MODE_CHOICES = ("forward", "train", "all")
IMPL_CHOICES = ("native", "reference", "all")
DTYPE_CHOICES = ("float32", "float64")
SOL = "sol"


@dataclass(frozen=True)
class Options:
    device: str = "cpu"
    dtype: str = "float32"
    modes: tuple[str, ...] = ("forward", "train")
    impls: tuple[str, ...] = ("native", "reference")
    threads: int = field(default_factory=torch.get_num_threads)
    timing: timing.Settings = field(default_factory=timing.Settings)
    memory: bool = True


def parse_modes(choice: str) -> tuple[str, ...]:
    if choice not in MODE_CHOICES:
        raise SnnbenchError(f"--mode must be one of {', '.join(MODE_CHOICES)}, got '{choice}'")
    return workload.MODES if choice == "all" else (choice,)


def parse_impls(choice: str) -> tuple[str, ...]:
    if choice not in IMPL_CHOICES:
        raise SnnbenchError(f"--impl must be one of {', '.join(IMPL_CHOICES)}, got '{choice}'")
    return workload.IMPLS if choice == "all" else (choice,)


def parse_dtype(choice: str) -> str:
    if choice not in DTYPE_CHOICES:
        raise SnnbenchError(f"--dtype must be one of {', '.join(DTYPE_CHOICES)}, got '{choice}'")
    return choice


def apply_threads(n: int | None) -> int:
    if n is None:
        return torch.get_num_threads()
    if n < 1:
        raise SnnbenchError(f"--threads must be a positive integer, got {n}")
    torch.set_num_threads(n)
    return n


def with_min_time(settings: timing.Settings, seconds: float) -> timing.Settings:
    if not seconds > 0:
        raise SnnbenchError(f"--min-time must be positive, got {seconds}")
    from dataclasses import replace

    return replace(settings, min_time_s=seconds)


def throughput(case: Case, neurons_per_sample: int, median_s: float | None) -> dict:
    """neuron_steps_per_s = neurons per sample x T x B / median_s; sequences_per_s = B / median_s."""
    if not median_s:
        return {"neuron_steps_per_s": None, "sequences_per_s": None}
    return {"neuron_steps_per_s": neurons_per_sample * case.steps * case.batch / median_s,
            "sequences_per_s": case.batch / median_s}


def _record(case: Case, options: Options, mode: str, impl: str, samples: list[float],
            neurons: int, sol_median: float | None, warnings_: list[str]) -> dict:
    median = stats.median(samples) if samples else None
    noisy = stats.noise_warning(samples) if samples else None
    return {
        "neuron": case.neuron, "case": case.name, "device": options.device, "dtype": options.dtype,
        "mode": mode, "impl": impl,
        "samples_s": samples, "median_s": median, "iqr_s": stats.iqr(samples) if samples else None,
        "repeats": len(samples),
        "throughput": throughput(case, neurons, median),
        "peak_mem_bytes": None, "mem_method": None,
        "sol_ratio": None if impl == SOL or not (median and sol_median) else median / sol_median,
        "warnings": warnings_ + ([noisy] if noisy else []),
        "case_spec": cases.to_spec(case),
    }


def comparison(case: Case, options: Options, mode: str, native: list[float], reference: list[float]) -> dict:
    """Speedup = median over pairs of reference / native, with a bootstrap 95% interval."""
    ratios = stats.paired_ratios(reference, native)
    lo, hi = stats.bootstrap_median_ci(ratios)
    return {"neuron": case.neuron, "case": case.name, "device": options.device, "dtype": options.dtype,
            "mode": mode, "speedup": stats.median(ratios), "ci": [lo, hi], "ratios": ratios,
            "n_pairs": len(ratios)}


def _error_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {text}{where}"


def _usable_calls(built: workload.Workload, mode: str, chosen: tuple[str, ...],
                  problems: dict[str, list[str]]) -> dict[str, Callable[[], None]]:
    """The calls that run: each impl is tried once; one that fails is reported, not timed."""
    calls = {}
    for impl in chosen:
        fn = built.call(impl, mode)
        try:
            fn()
        except Unsupported as exc:
            problems[impl].append(f"skipped: {exc}")
            continue
        except Exception as exc:  # a crash in one impl is a result, not a traceback
            problems[impl].append(f"error: {_error_line(exc)}")
            continue
        calls[impl] = fn
    return calls


def bench_case_mode(case: Case, mode: str, options: Options) -> tuple[list[dict], list[dict]]:
    """Time, and measure memory of, one case in one mode: result records and comparisons."""
    adapter = registry.get(case.neuron).adapter
    torch_dtype = inputs.DTYPES[options.dtype]
    problems: dict[str, list[str]] = {impl: [] for impl in (*options.impls, SOL)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            built = workload.build(adapter, case, torch_dtype, options.device)
        except Unsupported as exc:
            return _failed(case, mode, options, f"skipped: {exc}"), []
        except Exception as exc:  # a case that cannot be built is a result, not a traceback
            return _failed(case, mode, options, f"error: cannot build: {_error_line(exc)}"), []
        try:
            calls = _usable_calls(built, mode, options.impls, problems)
            sol_work = adapter.speed_of_light(case, torch_dtype, options.device, mode)
            calls[SOL] = sol_work
            samples = timing.interleaved(calls, options.timing, timing.timer_for(options.device))
            peaks = _peaks(built, case, mode, options, [i for i in options.impls if i in calls], problems)
        finally:
            built.close()
    sol_median = stats.median(samples[SOL])
    records = []
    for impl in (*options.impls, SOL):
        record = _record(case, options, mode, impl, samples.get(impl, []), built.neurons_per_sample,
                         sol_median, problems[impl])
        if impl in peaks:
            record["peak_mem_bytes"], record["mem_method"] = peaks[impl]
        if impl == SOL:
            record["sol_work"] = sol_work.description
        records.append(record)
    comparisons = []
    if "native" in samples and "reference" in samples:
        comparisons.append(comparison(case, options, mode, samples["native"], samples["reference"]))
    return records, comparisons


def _failed(case: Case, mode: str, options: Options, reason: str) -> list[dict]:
    return [_record(case, options, mode, impl, [], 0, None, [reason]) for impl in (*options.impls, SOL)]


def _peaks(built: workload.Workload, case: Case, mode: str, options: Options, impls_: list[str],
           problems: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    if not options.memory:
        return {}
    out = {}
    for impl in impls_:
        try:
            if options.device.startswith("cuda"):
                out[impl] = (memory.cuda_peak(built.call(impl, mode), options.device, built.clear_grads),
                             memory.CUDA_METHOD)
            else:
                out[impl] = memory.cpu_peak(cases.to_spec(case), impl, mode, options.dtype,
                                            built.output_shapes, options.threads)
        except memory.MeasurementFailed as exc:
            problems[impl].append(f"no peak memory: {exc}")
    return out


def run(selected: list[Case], options: Options, on_result: Callable[[dict], None] | None = None,
        **extra) -> dict:
    """Every selected case in every chosen mode; the bench report. ``on_result`` sees each record."""
    records, comparisons = [], []
    for case in selected:
        for mode in options.modes:
            rows, pairs = bench_case_mode(case, mode, options)
            records += rows
            comparisons += pairs
            if on_result:
                for row in rows:
                    on_result(row)
    return results.new_report("bench", env.collect(options.device), records, comparisons=comparisons,
                              settings=settings_record(options), **extra)


def run_bench(selected: list[Case], modes: list[str], impls: list[str], device: str = "cpu",
              threads: int | None = None, quick: bool = False, on_result: Callable[[dict], None] | None = None,
              dtype: str = "float32", memory: bool = True, **extra) -> dict:
    """Run cases as a report's rows ran them (the gate's entry point): modes and impls as named in
    the records ("sol" is always run), threads as the report's environment had them."""
    options = Options(device=device, dtype=parse_dtype(dtype),
                      modes=tuple(m for m in dict.fromkeys(modes) if m in workload.MODES),
                      impls=tuple(i for i in dict.fromkeys(impls) if i in workload.IMPLS),
                      threads=apply_threads(threads),
                      timing=timing.Settings.quick() if quick else timing.Settings(), memory=memory)
    return run(selected, options, on_result, **extra)


def settings_record(options: Options) -> dict:
    t = options.timing
    return {"threads": options.threads, "warmup_calls": t.warmup_calls, "warmup_s": t.warmup_s,
            "min_time_s": t.min_time_s, "min_repeats": t.min_repeats, "max_repeats": t.max_repeats,
            "memory": options.memory}
