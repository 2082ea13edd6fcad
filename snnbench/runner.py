"""The compare runner: pick cases, judge each implementation on each against the reference, build
the report. (The bench runner is snnbench.bench.runner.)"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from snnbench import env, footprint, implementations, limits, results, specs, verify
from snnbench.cases import Case
from snnbench.errors import SnnbenchError

DTYPE_CHOICES = ("float32", "float64", "all")


def check_device(device: str) -> str:
    """'cpu', or 'cuda' / 'cuda:N' where CUDA is available; any case is accepted (CPU, Cuda:0)."""
    device = device.strip().lower()
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:") and device[5:].isdigit():
        if not torch.cuda.is_available():
            raise SnnbenchError(f"--device {device}: CUDA is not available on this machine "
                                f"(torch {torch.__version__}, built with CUDA {torch.version.cuda})")
        return device
    raise SnnbenchError(f"--device must be cpu, cuda or cuda:N, got {device!r}")


def dtypes(choice: str) -> list[str]:
    if choice not in DTYPE_CHOICES:
        raise SnnbenchError(f"--dtype must be one of {', '.join(DTYPE_CHOICES)}, got '{choice}'")
    return ["float32", "float64"] if choice == "all" else [choice]


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    if shard is None:
        return None
    try:
        index, count = (int(v) for v in shard.split("/"))
    except ValueError:
        raise SnnbenchError(f"--shard must look like I/N (e.g. 1/4), got {shard!r}") from None
    if not 1 <= index <= count <= limits.SIZE_MAX:
        raise SnnbenchError(f"--shard {shard}: need 1 <= I <= N")
    return index, count


def available_neurons(neurons: list[str]) -> list[str]:
    """The named neurons ('all' expanded) that the installed libraries serve. One named outright
    that is not served is an error; inside 'all' it is left out (``unavailable_neurons`` says why)."""
    names, missing = specs.available(specs.resolve(neurons))
    for name, why in missing.items():
        if name in neurons:
            raise SnnbenchError(f"{name}: {why}")
    if not names:
        raise SnnbenchError("none of the named neurons is served by the installed libraries: "
                            + "; ".join(missing.values()))
    return names


def unavailable_neurons(neurons: list[str]) -> dict[str, str]:
    """The neurons of 'all' that the installed libraries do not serve, and why."""
    return specs.available(specs.resolve(neurons))[1]


def _names(names: list[str], wanted: str, limit: int = 8) -> str:
    """Known names for an error line: all of a few; of many, the closest to ``wanted`` and a count."""
    if len(names) <= limit:
        return ", ".join(names)
    import difflib

    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.6)
    return f"{len(names)} cases; {'closest' if close else 'e.g.'}: {', '.join(close or names[:3])}"


def collect_cases(neurons: list[str], case_names: list[str] | None, case_file: Path | None,
                  seed: int | None = None, bench_only: bool = False,
                  shard: tuple[int, int] | None = None) -> list[Case]:
    """The cases to run: a case file's, or each neuron's standard ones (for a bench, those marked
    ``bench = true``); filtered by name."""
    names = available_neurons(neurons)
    if case_file is not None:
        pool = specs.load_cases(case_file, names)
        where = str(case_file)
        if not pool:
            raise SnnbenchError(f"{case_file}: no cases for {', '.join(names)}")
    else:
        pool = [c for n in names for c in specs.standard_cases(n)]
        where = "the standard cases of " + ", ".join(names)
    if case_names:
        known = {c.name for c in pool}
        unknown = [n for n in case_names if n not in known]
        if unknown:
            raise SnnbenchError(f"unknown case {unknown[0]!r} in {where} "
                                f"(known: {_names([c.name for c in pool], unknown[0])})")
        selected = [c for c in pool if c.name in case_names]
    else:
        # the bench flag picks among the standard cases; a case file's cases all run
        selected = [c for c in pool if c.bench] if bench_only and case_file is None else pool
    if seed is not None:
        try:
            limits.seed(seed)
        except ValueError as exc:
            raise SnnbenchError(f"--seed {exc}") from None
        selected = [c.with_seed(seed) for c in selected]
    if shard is not None:
        index, count = shard
        total = len(selected)
        selected = selected[index - 1::count]
        if not selected:
            raise SnnbenchError(f"--shard {index}/{count} holds no case ({total} case{'s' if total != 1 else ''} "
                                f"selected): use at most {total} shards")
    return selected


def compare_implementations(values: list[str] | None, neurons: list[str]) -> dict[str, list]:
    """neuron -> the implementations ``compare --impl`` judges (default: ours)."""
    if any(value in ("reference", "all") for value in values or ()):
        raise SnnbenchError("--impl reference: compare judges implementations against the reference; "
                            "name native or your own (MODULE:CLASS)")
    return implementations.select(values, neurons, default=("native",))


def check_user_implementations(selected: list[Case], chosen: dict[str, list]) -> None:
    """Build and call every user implementation once on its neuron's first case: a constructor or
    call that does not fit the contract is one line (exit 2) before any work."""
    from snnbench.implementations import user

    if any(isinstance(impl, user.UserImplementation) for impls in chosen.values() for impl in impls):
        footprint.require([c.with_sizes(steps=min(c.steps, 2)) for c in selected], ["float32"], "cpu")
    for neuron, impls in chosen.items():
        first = next((c for c in selected if c.neuron == neuron), None)
        for impl in impls:
            if first is not None and isinstance(impl, user.UserImplementation):
                user.check_usable(impl, first, implementations.reference(neuron))


def run_compare(selected: list[Case], dtype_names: list[str], device: str,
                chosen: dict[str, list] | None = None,
                on_result: Callable[[dict], None] | None = None, skipped: dict[str, str] | None = None) -> dict:
    """Every selected case, dtype and implementation (``chosen``: neuron -> implementations; ours
    by default), judged against the reference. ``skipped``: neurons left out, and why (the
    report's ``skipped_neurons``). A case that cannot fit in memory is refused first."""
    footprint.require(selected, dtype_names, device)
    records = []
    for case in selected:
        reference = implementations.reference(case.neuron)
        judged = (chosen or {}).get(case.neuron) or [implementations.native(case.neuron)]
        for impl in judged:
            for dtype in dtype_names:
                record = verify.compare(case, dtype, device, impl, reference)
                records.append(record)
                if on_result:
                    on_result(record)
    return results.new_report("compare", env.collect(device), records,
                              **({"skipped_neurons": skipped} if skipped else {}))


def exit_code(report: dict) -> int:
    """0 when every verdict is pass or skipped, else 1."""
    return 0 if all(r["verdict"] in ("pass", "skipped") for r in report["results"]) else 1
