"""A case's memory, estimated before it runs; refused, with the estimate, when it cannot fit.

The estimate is a rough upper bound from the case's sizes alone (nothing is built):

    COPIES x T x B x (elements per step and item) x bytes per element
    + STEP_BYTES x T  +  PARAMETER_COPIES x parameter elements x bytes per element

where the elements per step and item (the input, every output field and the largest working set
of one step) and the parameter elements come from the neuron's specification
(``NeuronSpec.footprint``). ``COPIES`` covers what a compare or a train call holds at once: the
reference's and the judged implementation's traces, the step-by-step traces, the autograd graph's
saved activations and the gradients. ``STEP_BYTES`` is the per-step cost that does not scale with
the sizes (tensor and autograd-node objects, the per-step error lists of a compare record).
Measured on this project's CPU (torch 2.13.0, the five neurons, T up to 20000, B x size up to
256 x 512, compare in float32 and float64, bench train in float32): the peak above the idle
process was between 0.16 and 0.84 of this estimate (0.84: LeakyParallel train, B x size large).

Compared with the memory available (Linux ``MemAvailable``; on CUDA the device's free memory);
where that cannot be read the case is not refused.
"""

from __future__ import annotations

from snnbench import specs
from snnbench.cases import Case

COPIES = 16
STEP_BYTES = 64 * 1024
PARAMETER_COPIES = 8
DTYPE_BYTES = {"float32": 4, "float64": 8}


def estimate(case: Case, dtype: str) -> int:
    """Bytes a run of ``case`` in ``dtype`` may hold at its peak (an upper bound, roughly)."""

    per_item, parameters = specs.get(case.neuron).footprint(case)
    width = DTYPE_BYTES[dtype]
    return (COPIES * case.steps * case.batch * per_item * width + STEP_BYTES * case.steps
            + PARAMETER_COPIES * parameters * width)


def available(device: str) -> int | None:
    """Bytes free for a run on ``device``, or None where that cannot be read."""
    if device.startswith("cuda"):
        import torch

        try:
            return int(torch.cuda.mem_get_info(device)[0])
        except Exception:
            return None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def human(n: int) -> str:
    for unit, scale in (("TiB", 2 ** 40), ("GiB", 2 ** 30), ("MiB", 2 ** 20)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n / 2 ** 10:.3g} KiB"


def require(cases: list[Case], dtypes: list[str] | tuple[str, ...], device: str) -> None:
    """Refuse (CaseError: file, case, estimate) the first case that cannot fit in memory."""
    free = available(device)
    if free is None or not dtypes:
        return
    dtype = max(dtypes, key=lambda d: DTYPE_BYTES[d])
    for case in cases:
        need = estimate(case, dtype)
        if need > free:
            raise case.error(None, f"needs about {human(need)} of memory to run in {dtype} (estimated from "
                                   f"steps {case.steps} x batch {case.batch} and the neuron's sizes), "
                                   f"{human(free)} available{' on ' + device if device != 'cpu' else ''}: "
                                   "reduce steps, batch or the sizes")
