"""Measured choices between exact fast paths, made once per process (as cuDNN's benchmark mode).

Some of our fast paths come in several variants that compute the same values (the same
operations on the same operands, only the memory layout, the grouping of work or the order of
float rounding differs) but whose speed depends on the machine: the vector width, the cache
sizes, the memory bandwidth, the thread count. A :class:`PathChoice` names such a decision and
its candidates. On first use for a given key (the neuron path's shapes, dtype, device and the
thread count) :meth:`PathChoice.choose` times every candidate on the real shapes, a few
interleaved rounds of a small piece of the real work (a few milliseconds in all), and keeps the
fastest for the rest of the process; later calls with the same key reuse it without timing.

The environment variable ``SNNBENCH_PATH_<NAME>`` (``<NAME>`` the choice's name) pins a
candidate for every key: no timing is done, and a value that is not one of the candidates is an
error naming them. Tests use it to run every candidate through the same equivalence checks.

What is timed is up to the caller: ``trial(candidate)`` returns a callable that runs one
representative piece of the candidate's work on scratch tensors of the real shapes (so timing
changes no result). On CUDA each timed call is synchronised.
"""

from __future__ import annotations

import os
import time
from typing import Callable, Hashable, Sequence

import torch

from snnbench.errors import SnnbenchError

ENV_PREFIX = "SNNBENCH_PATH_"
ROUNDS = 5            # timed rounds per candidate, interleaved (A B C A B C ...), after one warm-up


class UnknownPathError(SnnbenchError):
    """An ``SNNBENCH_PATH_*`` variable names no candidate of its choice."""


_CHOICES: dict[str, "PathChoice"] = {}


class PathChoice:
    """One decision between exact variants of a fast path, e.g. ``PathChoice("SCONV2DLSTM_GATES",
    ("gate_major", "in_place"))``; pinned by ``SNNBENCH_PATH_SCONV2DLSTM_GATES``."""

    def __init__(self, name: str, candidates: Sequence[str], description: str = ""):
        if not candidates or len(set(candidates)) != len(candidates):
            raise ValueError(f"{name}: candidates must be distinct and at least one, got {candidates!r}")
        self.name = name
        self.candidates = tuple(candidates)
        self.description = description
        self.winners: dict[Hashable, str] = {}
        self.timings: dict[Hashable, dict[str, float]] = {}   # seconds (best round), for inspection
        _CHOICES[name] = self

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name

    def pinned(self) -> str | None:
        """The candidate the environment pins, or None; an unknown value raises."""
        value = os.environ.get(self.env_var, "").strip()
        if not value:
            return None
        if value not in self.candidates:
            raise UnknownPathError(f"{self.env_var}={value!r} is not a candidate of this path; "
                                   f"use one of: {', '.join(self.candidates)} (or unset it to let "
                                   f"snnbench time them)")
        return value

    def choose(self, key: Hashable, trial: Callable[[str], Callable[[], object]],
               candidates: Sequence[str] | None = None, rounds: int = ROUNDS, warmup: bool = True) -> str:
        """The pinned candidate, else the one measured fastest for ``key`` (timed on first use).

        ``candidates`` narrows the field for this key (some variants only apply on some devices
        or shapes); a pin outside it is still honoured where the caller allows it, so callers
        must pass only candidates that are correct for the key. ``trial(c)`` returns a callable
        running a representative piece of candidate ``c``'s work; ``rounds`` and ``warmup`` as in
        :func:`measure` (fewer for trials that run a whole call)."""
        pin = self.pinned()
        if pin is not None:
            return pin
        field = tuple(candidates) if candidates is not None else self.candidates
        full_key = (key, torch.get_num_threads())
        if full_key in self.winners:
            return self.winners[full_key]
        if len(field) == 1:
            winner = field[0]
        else:
            timings = measure({c: trial(c) for c in field}, _device_of(key), rounds, warmup)
            self.timings[full_key] = timings
            winner = min(field, key=timings.get)
        self.winners[full_key] = winner
        return winner

    def clear(self) -> None:
        """Forget the measured winners (tests; a changed machine state)."""
        self.winners.clear()
        self.timings.clear()


def _device_of(key: Hashable) -> str | None:
    """The first ``torch.device`` (or device string) found in a key tuple, for synchronising."""
    items = key if isinstance(key, tuple) else (key,)
    for item in items:
        if isinstance(item, torch.device):
            return item.type
    return None


def measure(calls: dict[str, Callable[[], object]], device: str | None = None,
            rounds: int = ROUNDS, warmup: bool = True) -> dict[str, float]:
    """The best time of each call over ``rounds`` interleaved rounds, after one warm-up call each
    (with ``warmup``). The minimum, not the median: noise from other work only ever adds time."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    with torch.no_grad():
        if warmup:
            for call in calls.values():
                call()
            sync()
        best = {name: float("inf") for name in calls}
        for _ in range(rounds):
            for name, call in calls.items():
                start = time.perf_counter()
                call()
                sync()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def choices() -> dict[str, PathChoice]:
    """Every path choice defined so far (by the modules imported), by name."""
    return dict(_CHOICES)


def clear_all() -> None:
    for choice in _CHOICES.values():
        choice.clear()
