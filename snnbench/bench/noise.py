"""Noise you can see: what else the machine did while snnbench timed.

A :class:`Probe` is read just before and just after the timed rounds of one case and mode:

- the load average (``os.getloadavg``: 1, 5 and 15 minutes) before and after;
- the machine's CPU counters (``/proc/stat``): the share of CPU time the hypervisor stole from
  this VM (``steal``), and the CPU time every process on the machine used;
- the CPU time snnbench's own processes used (this one, and the A/B workers' own figures, given
  to :meth:`Probe.finish`).

``others_cores`` is the CPU time the other processes used per second of the rounds, in cores.
Another process competed when the other processes used more than the cores the timing left
free (``cores - threads``, plus a quarter core for counter granularity), or when the 1-minute
load average after the rounds exceeded the machine's cores; the hypervisor competed when the
steal exceeded 3% of the CPU time. Each gives a warning in the record (and so in the tables).
The CPU counters tick 100 times a second, so windows shorter than a quarter second (``--quick``)
record the figures but do not judge them. Where there is no /proc (macOS) only the load average
is recorded and judged.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

MAX_STEAL = 0.03           # share of CPU time
SPARE_CORES = 0.25         # others may use this much beyond the free cores before it counts
MIN_WINDOW_S = 0.25        # shorter windows are below the counters' resolution


def _loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def _cpu_counters() -> tuple[float, float, float] | None:
    """(busy, steal, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if not first or first[0] != "cpu":
        return None
    values = [int(v) for v in first[1:]] + [0] * 10
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    busy = user + nice + system + irq + softirq           # guest time is inside user already
    return busy / tick, steal / tick, (busy + idle + iowait + steal) / tick


@dataclass
class Probe:
    """Started just before the timed rounds; :meth:`finish` just after."""

    threads: int
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    _wall: float = field(default_factory=time.perf_counter)
    _own: float = field(default_factory=time.process_time)
    _load: list[float] | None = field(default_factory=_loadavg)
    _cpu: tuple[float, float, float] | None = field(default_factory=_cpu_counters)

    def finish(self, workers_cpu_s: float = 0.0) -> dict:
        """The noise record; ``workers_cpu_s``: CPU seconds other processes of this run (the A/B
        workers) used during the rounds."""
        wall = time.perf_counter() - self._wall
        own = time.process_time() - self._own + workers_cpu_s
        cpu = _cpu_counters()
        record = {"wall_s": round(wall, 4), "threads": self.threads, "cores": self.cores,
                  "loadavg_before": self._load, "loadavg_after": _loadavg(), "steal": None, "others_cores": None}
        if cpu is not None and self._cpu is not None and wall >= MIN_WINDOW_S:
            busy, steal, total = (after - before for after, before in zip(cpu, self._cpu))
            if total > 0:
                record["steal"] = round(steal / total, 4)
                record["others_cores"] = round(max(0.0, busy - own) / wall, 3)
        return record


def warning(noise: dict) -> str | None:
    """One line when something competed with the timing, else None."""
    parts = []
    free = max(0, noise["cores"] - noise["threads"])
    others = noise.get("others_cores")
    if others is not None and others > free + SPARE_CORES:
        parts.append(f"other processes used {others:.2f} cores while timing ({noise['cores']} cores, "
                     f"{noise['threads']} threads timed)")
    load = noise.get("loadavg_after")
    if load and load[0] > noise["cores"]:
        parts.append(f"load average {load[0]:.2f} over {noise['cores']} cores")
    if (noise.get("steal") or 0) > MAX_STEAL:
        parts.append(f"the hypervisor stole {noise['steal']:.0%} of the CPU time")
    if not parts:
        return None
    return "busy machine: " + "; ".join(parts) + ": times may be inflated"
