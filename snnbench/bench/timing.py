"""Timing: warm-up, then calls interleaved round by round (A B C, A B C, ...) until a minimum time.

Every impl gets exactly one call per round, so sample i of one impl and sample i of another were
taken side by side and their ratio is a paired ratio (what holds on a noisy machine). Rounds
go on until the slowest impl has spent ``min_time_s`` in total and there are at least
``min_repeats`` rounds (or ``max_repeats`` is reached); faster impls get as many samples. Every raw sample is kept.

CPU calls are timed with ``time.perf_counter``. CUDA calls are timed with CUDA events recorded
around the call, then synchronised, so the time is what the GPU spent, not the launch time.
Python's garbage collector runs once before the rounds and is off during them, so that a
collection does not land in one impl's samples (tensors are freed by reference counting anyway).

This module imports nothing from snnbench at module level: the A/B worker (bench/ab_worker.py)
loads it by its path, inside a process whose ``snnbench`` is another revision's, so that both
revisions are timed by the same code.
"""

from __future__ import annotations

import gc
import time
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass(frozen=True)
class Settings:
    warmup_calls: int = 2        # per impl, at least
    warmup_s: float = 0.2        # and at least this long per impl
    min_time_s: float = 1.0      # total timed, for the slowest impl
    min_repeats: int = 7
    max_repeats: int = 500

    @classmethod
    def quick(cls) -> "Settings":
        return cls(warmup_calls=1, warmup_s=0.0, min_time_s=0.05, min_repeats=3, max_repeats=20)


def cpu_timer(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cuda_timer(fn: Callable[[], None]) -> float:
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    torch.cuda.synchronize()
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / 1000.0


def timer_for(device: str) -> Callable[[Callable[[], None]], float]:
    return cuda_timer if device.startswith("cuda") else cpu_timer


def warm_up(calls: dict[str, Callable[[], None]], settings: Settings,
            timer: Callable[[Callable[[], None]], float]) -> None:
    for fn in calls.values():
        spent, n = 0.0, 0
        while n < settings.warmup_calls or spent < settings.warmup_s:
            spent += timer(fn)
            n += 1


def interleaved(calls: dict[str, Callable[[], None]], settings: Settings,
                timer: Callable[[Callable[[], None]], float] = cpu_timer) -> dict[str, list[float]]:
    """name -> raw seconds per call; all lists have the same length, sample i from round i."""
    warm_up(calls, settings, timer)
    samples: dict[str, list[float]] = {name: [] for name in calls}
    totals = dict.fromkeys(calls, 0.0)
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        rounds = 0
        while rounds < settings.max_repeats and (
                rounds < settings.min_repeats or max(totals.values()) < settings.min_time_s):
            for name, fn in calls.items():
                seconds = timer(fn)
                samples[name].append(seconds)
                totals[name] += seconds
            rounds += 1
    finally:
        if enabled:
            gc.enable()
    return samples
