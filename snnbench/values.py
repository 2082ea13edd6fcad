"""Command-line values, each parsed and checked in one place: device, dtypes, modes, shard, threads,
timing, thresholds, sweeps. Each parser returns the value the commands use, or raises a one-line
SnnbenchError naming the option. The dtypes snnbench compares and times are named once, here."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from snnbench import limits
from snnbench.errors import SnnbenchError

DTYPES = ("float32", "float64")                 # the one table of dtype names
MODES = ("forward", "train")
SIZES = ("steps", "batch")                      # what --vary takes besides a constructor argument


def torch_dtype(name: str):
    """The torch dtype of a dtype name of DTYPES."""
    import torch

    return {"float32": torch.float32, "float64": torch.float64}[name]


def parse_device(device: str) -> str:
    """'cpu', or 'cuda' / 'cuda:N' where CUDA is available; any case is accepted (CPU, Cuda:0)."""
    import torch

    device = device.strip().lower()
    if device == "cpu":
        return device
    if device == "cuda" or device.startswith("cuda:") and device[5:].isdigit():
        if not torch.cuda.is_available():
            raise SnnbenchError(f"--device {device}: CUDA is not available on this machine "
                                f"(torch {torch.__version__}, built with CUDA {torch.version.cuda})")
        return device
    raise SnnbenchError(f"--device must be cpu, cuda or cuda:N, got {device!r}")


def parse_dtypes(choice: str) -> list[str]:
    """``--dtype`` of compare and fuzz: float32, float64 or all."""
    if choice != "all" and choice not in DTYPES:
        raise SnnbenchError(f"--dtype must be one of {', '.join(DTYPES)}, all, got '{choice}'")
    return list(DTYPES) if choice == "all" else [choice]


def parse_dtype(choice: str) -> str:
    """``--dtype`` of bench, sweep and profile: one dtype."""
    if choice not in DTYPES:
        raise SnnbenchError(f"--dtype must be one of {', '.join(DTYPES)}, got '{choice}'")
    return choice


def parse_modes(choice: str) -> tuple[str, ...]:
    if choice != "all" and choice not in MODES:
        raise SnnbenchError(f"--mode must be one of {', '.join(MODES)}, all, got '{choice}'")
    return MODES if choice == "all" else (choice,)


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


def apply_threads(n: int | None, what: str = "--threads") -> int:
    """torch's CPU threads: set to ``n`` (checked), or left as they are; the count in use."""
    import torch

    if n is None:
        return torch.get_num_threads()
    try:
        limits.threads(n)
    except ValueError as exc:
        raise SnnbenchError(f"{what} {exc}") from None
    torch.set_num_threads(n)
    return n


def with_min_time(settings, seconds: float):
    """Timing settings with ``--min-time`` (a positive number of seconds, at most a day)."""
    try:
        limits.seconds(seconds)
    except ValueError as exc:
        raise SnnbenchError(f"--min-time {exc}") from None
    return replace(settings, min_time_s=seconds)


def parse_fraction(text: str, option: str) -> float:
    """'10%' or '0.1' -> 0.1; one-line error otherwise."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise SnnbenchError(f"{option} must look like 10% or 0.1, got '{text}'") from None
    if not math.isfinite(value) or value < 0:
        raise SnnbenchError(f"{option} must be a non-negative percentage or fraction, got '{text}'")
    return value

def parse_factor(value: float, option: str) -> float:
    if not math.isfinite(value) or value < 1:
        raise SnnbenchError(f"{option} must be a factor of at least 1, got {value:g}")
    return value

SIZE_UNITS = {"": 1, "B": 1, "KIB": 2 ** 10, "MIB": 2 ** 20, "GIB": 2 ** 30, "KB": 1000, "MB": 1000 ** 2,
              "GB": 1000 ** 3}

def parse_size(text: str, option: str) -> int:
    """'1MiB', '512 KiB', '2MB' or '1048576' (bytes) -> bytes; one-line error otherwise."""
    raw = text.strip()
    number = raw.rstrip("BbKkMmGgIi ")
    unit = raw[len(number):].strip().upper()
    try:
        value = float(number) * SIZE_UNITS[unit]
    except (ValueError, KeyError):
        raise SnnbenchError(f"{option} must be a size like 1MiB, 512KiB or 1048576 (bytes), got '{text}'") from None
    if not math.isfinite(value) or value < 0:
        raise SnnbenchError(f"{option} must be a non-negative size, got '{text}'")
    return int(value)


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def parse_vary(text: str) -> tuple[str, list[Any]]:
    """'steps=10,100,1000' -> ('steps', [10, 100, 1000])."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise SnnbenchError(f"--vary must look like KEY=V1,V2,... (e.g. steps=10,100,1000), got '{text}'")
    try:
        parsed = [_number(v.strip()) for v in values.split(",") if v.strip()]
    except ValueError:
        raise SnnbenchError(f"--vary {text}: values must be numbers") from None
    if not all(math.isfinite(v) for v in parsed):
        raise SnnbenchError(f"--vary {text}: values must be finite numbers")
    if len(parsed) < 2:
        raise SnnbenchError(f"--vary {text}: give at least two values")
    if len(set(parsed)) != len(parsed):
        raise SnnbenchError(f"--vary {text}: values repeat")
    if key in SIZES and not all(isinstance(v, int) and v > 0 for v in parsed):
        raise SnnbenchError(f"--vary {text}: {key} takes positive integers")
    return key, parsed
