"""The ranges every number a user gives must lie in, in one place.

Case files (:mod:`snnbench.cases`) and command-line options (the parsers in runner.py,
bench/runner.py, bench/sweep.py, gate.py) check their numbers here as they enter, so a value
out of range is one line naming where it came from, never a crash later. Each check returns the
value or raises ``ValueError`` with what is wrong (callers add the file, case and key, or the
option).
"""

from __future__ import annotations

import math
import os
from numbers import Real

# Seeds: torch's generators take 64-bit seeds and a case's streams are seeded ``seed * 4 + stream``
# (snnbench/inputs.py), so a seed is an integer from 0 to 2**62 - 1.
SEED_MAX = 2 ** 62 - 1
# Steps, batch and every sample dimension: at most 2**31 - 1, so that no index or size product of
# one dimension can overflow; the memory estimate (snnbench/footprint.py) bounds their product.
SIZE_MAX = 2 ** 31 - 1
# --min-time: at most a day per implementation.
MIN_TIME_MAX_S = 86400.0
# --calls and --top of a profile.
PROFILE_CALLS_MAX = 10_000


def is_number(value) -> bool:
    """A real number, not a bool (TOML's true is not 1)."""
    return isinstance(value, Real) and not isinstance(value, bool)


def finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number, got {value}")
    return value


def seed(value: int) -> int:
    if not 0 <= value <= SEED_MAX:
        raise ValueError(f"must be an integer from 0 to 2**62 - 1 ({SEED_MAX}), got {value}")
    return value


def size(value: int) -> int:
    if not 1 <= value <= SIZE_MAX:
        raise ValueError(f"must be a positive integer of at most {SIZE_MAX}, got {value}")
    return value


def max_threads() -> int:
    """Torch threads: at most four per core, and never fewer than 256 allowed (a baseline taken on a
    larger machine must still run here)."""
    return max(256, 4 * (os.cpu_count() or 1))


def threads(value: int) -> int:
    top = max_threads()
    if not 1 <= value <= top:
        raise ValueError(f"must be from 1 to {top} on this machine, got {value}")
    return value


def seconds(value: float) -> float:
    if not (math.isfinite(value) and 0 < value <= MIN_TIME_MAX_S):
        raise ValueError(f"must be a positive number of seconds of at most {MIN_TIME_MAX_S:g}, got {value}")
    return value


def count(value: int, top: int) -> int:
    if not 1 <= value <= top:
        raise ValueError(f"must be from 1 to {top}, got {value}")
    return value
