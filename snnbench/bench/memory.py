"""Peak memory of one call (one full sequence), measured for real.

CPU (``mem_method = "cpu-peak-rss-subprocess"``): every measurement runs in a fresh Python
process (``python -m snnbench.bench.memory_child``, its request as JSON on stdin), so nothing another
measurement allocated or cached is in the way. The child builds the module, input and upstream
tensors, runs the call once (lazy initialisation is not the call's memory), then ``CALLS``
times: free what it can (``gc.collect``, glibc ``malloc_trim``), take its idle RSS as the
baseline, reset the kernel's high-water mark (``/proc/self/clear_refs``), run the call, read the
peak RSS (``VmHWM``; see :func:`_peak_rss_bytes` for why not ``ru_maxrss``) minus the baseline.
The smallest of these is reported (RSS noise only ever adds). The peak is what the process
really held: tensors plus the allocator's own overhead. Where the high-water mark cannot be reset
the child skips the warm-up call instead (``mem_method = "cpu-peak-rss-subprocess-noreset"``).

The A/B workers (bench/ab_worker.py) measure in their own process with the same steps
(:func:`peaks_in_process`, ``mem_method = "cpu-peak-rss-worker"``), after timing each case: a
process that already ran other cases, the same history for both revisions, so the two figures
compare with each other rather than with a fresh process's.

This module imports nothing from snnbench (the child's own code, which builds the case, is
bench/memory_child.py): the A/B worker loads it by its path, inside a process whose ``snnbench``
is another revision's.

CUDA (``mem_method = "cuda-max-memory-allocated"``): in process, after timing:
``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the bytes allocated
before the call (the module, input and upstream tensors).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Callable

import torch

CPU_METHOD = "cpu-peak-rss-subprocess"
CPU_METHOD_NORESET = "cpu-peak-rss-subprocess-noreset"
CUDA_METHOD = "cuda-max-memory-allocated"
SUBPROCESS_TIMEOUT_S = 600
CALLS = 3                # measured calls per child; the smallest peak is reported
PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent


class MeasurementFailed(RuntimeError):
    """A measurement that could not be made (the child failed); the reason is the message."""


# ---- CUDA, in process -------------------------------------------------------------------------
def cuda_peak(fn: Callable[[], None], device: str, before: Callable[[], None] | None = None) -> int:
    """Peak bytes allocated during ``fn()`` above those allocated before it (after ``before()``,
    which frees what earlier calls left behind, e.g. gradients)."""
    if before is not None:
        before()
    torch.cuda.synchronize(device)
    gc.collect()
    baseline = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return int(torch.cuda.max_memory_allocated(device) - baseline)


# ---- CPU, in a fresh process ------------------------------------------------------------------
def _status_bytes(field: str) -> int:
    """A field of /proc/self/status in bytes (0 where the kernel does not report it)."""
    found = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    return int(found.group(1)) * 1024 if found else 0


def _rss_bytes() -> int:
    return _status_bytes("VmRSS")


def _peak_rss_bytes() -> int:
    """This process's peak RSS: the kernel's high-water mark of its own memory map (VmHWM).

    Not ``getrusage().ru_maxrss``: on Linux that is also at least the peak of the memory map the
    process had before ``exec`` (the parent's, which the child was forked from), so a child of a
    big parent would report the parent's size. ``ru_maxrss`` is the fallback where there is no
    /proc.
    """
    hwm = _status_bytes("VmHWM")
    if hwm:
        return hwm
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024   # bytes on macOS, kB on Linux


def _reset_high_water_mark() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _trim() -> None:
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peaks_in_process(fn: Callable[[], None], clear: Callable[[], None], calls: int = CALLS) -> tuple[list[int], str]:
    """Peak RSS above idle of ``calls`` calls of ``fn`` in this process, after one unmeasured
    call: free what can be freed (``clear()``, the garbage collector, glibc's ``malloc_trim``),
    take the idle RSS, reset the high-water mark, call, read the peak. Where the mark cannot be
    reset, one call measured from a mark that this process's history may already have raised."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # start the thread pools
    can_reset = _reset_high_water_mark()
    if not can_reset:
        clear()
        _trim()
        baseline = _rss_bytes()
        fn()
        return [_peak_rss_bytes() - baseline], CPU_METHOD_NORESET
    fn()
    peaks = []
    for _ in range(calls):
        clear()
        _trim()
        baseline = _rss_bytes()
        _reset_high_water_mark()
        fn()
        peaks.append(_peak_rss_bytes() - baseline)
    return peaks, CPU_METHOD


def cpu_peak(case_spec: dict, impl: str, mode: str, dtype: str, output_shapes: dict,
             train_fields: tuple[str, ...], threads: int) -> tuple[int, str]:
    """Peak bytes of one call above idle, measured in a fresh subprocess; and the method used.
    ``impl`` is an implementation's name as ``--impl`` takes it (a user's MODULE:CLASS is imported
    again in the child, from the same current directory and PYTHONPATH)."""
    request = {"case_spec": case_spec, "impl": impl, "mode": mode, "dtype": dtype,
               "output_shapes": {k: list(v) for k, v in output_shapes.items()},
               "train_fields": list(train_fields), "threads": threads}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PACKAGE_ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
    try:
        done = subprocess.run([sys.executable, "-m", "snnbench.bench.memory_child"], input=json.dumps(request),
                              capture_output=True, text=True, env=env, timeout=SUBPROCESS_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise MeasurementFailed(f"memory measurement took over {SUBPROCESS_TIMEOUT_S} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise MeasurementFailed(f"memory subprocess failed (exit {done.returncode}): {tail}")
    answer = json.loads(lines[-1])
    return int(answer["peak_bytes"]), answer["mem_method"]
