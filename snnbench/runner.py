"""What the commands do, between parsing and printing: pick cases, run them, build the report."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from snnbench import cases as cases_mod
from snnbench import env, registry, results, verify
from snnbench.cases import Case
from snnbench.errors import SnnbenchError

DTYPE_CHOICES = ("float32", "float64", "all")


def check_device(device: str) -> str:
    if device == "cpu":
        return device
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise SnnbenchError(f"--device {device}: CUDA is not available on this machine "
                                f"(torch {torch.__version__}, built with CUDA {torch.version.cuda})")
        return device
    raise SnnbenchError(f"--device must be cpu or cuda, got '{device}'")


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
        raise SnnbenchError(f"--shard must look like I/N (e.g. 1/4), got '{shard}'") from None
    if not 1 <= index <= count:
        raise SnnbenchError(f"--shard {shard}: need 1 <= I <= N")
    return index, count


def collect_cases(neurons: list[str], case_names: list[str] | None, case_file: Path | None,
                  seed: int | None = None, bench_only: bool = False,
                  shard: tuple[int, int] | None = None) -> list[Case]:
    """The cases to run: a case file's, or each neuron's standard ones; filtered by name."""
    names = registry.resolve(neurons)
    if case_file is not None:
        loaded = cases_mod.load(case_file)
        pool = [c for c in loaded if c.neuron in names]
        where = str(case_file)
        if not pool:
            raise SnnbenchError(f"{case_file}: no cases for {', '.join(names)}")
    else:
        pool = [c for n in names for c in cases_mod.standard_cases(n)]
        where = "the standard cases of " + ", ".join(names)
    if case_names:
        unknown = [n for n in case_names if n not in {c.name for c in pool}]
        if unknown:
            raise SnnbenchError(f"unknown case '{unknown[0]}' in {where} "
                                f"(known: {', '.join(c.name for c in pool)})")
        selected = [c for c in pool if c.name in case_names]
    else:
        selected = [c for c in pool if c.bench] if bench_only else pool
    if seed is not None:
        selected = [c.with_seed(seed) for c in selected]
    if shard is not None:
        index, count = shard
        selected = selected[index - 1::count]
    return selected


def run_compare(selected: list[Case], dtype_names: list[str], device: str,
                on_result: Callable[[dict], None] | None = None) -> dict:
    records = []
    for case in selected:
        adapter = registry.get(case.neuron).adapter
        for dtype in dtype_names:
            record = verify.compare(adapter, case, dtype, device)
            records.append(record)
            if on_result:
                on_result(record)
    return results.new_report("compare", env.collect(device), records)


def exit_code(report: dict) -> int:
    """0 when every verdict is pass or skipped, else 1."""
    return 0 if all(r["verdict"] in ("pass", "skipped") for r in report["results"]) else 1
