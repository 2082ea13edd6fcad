"""The fresh process of a CPU peak-memory measurement (``python -m snnbench.bench.memory_child``):
its request as JSON on stdin (case, implementation, mode, dtype, shapes, threads), its answer as
one JSON line on stdout. How the peak is taken is bench/memory.py's; this module builds the case.
"""

from __future__ import annotations

import json
import sys

import torch

from snnbench import implementations, specs, values
from snnbench.bench import workload
from snnbench.bench.memory import CALLS, peaks_in_process


def child_measure(request: dict) -> dict:
    """In the fresh process: build, warm up, reset the peak, run once; peak above idle."""
    torch.set_num_threads(request["threads"])
    case = specs.case_from_spec(request["case_spec"], "memory request")
    (impl,) = implementations.select([request["impl"]], [case.neuron])[case.neuron]
    shapes = {k: tuple(v) for k, v in request["output_shapes"].items()}
    built = workload.build(case, values.torch_dtype(request["dtype"]), "cpu", [impl],
                           implementations.reference(case.neuron), shapes, tuple(request["train_fields"]))
    if impl.name in built.problems:
        raise RuntimeError(built.problems[impl.name])
    peaks, method = peaks_in_process(built.call(impl.name, request["mode"]), built.clear_grads,
                                     request.get("calls", CALLS))
    built.close()
    return {"peak_bytes": max(0, min(peaks)), "peaks_bytes": peaks, "mem_method": method}


def main() -> None:
    request = json.loads(sys.stdin.read())
    print(json.dumps(child_measure(request)))


if __name__ == "__main__":
    main()
