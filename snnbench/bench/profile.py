"""Profile one case under torch.profiler: the top operators by self time, and a Chrome trace.

The call profiled is the one bench times (one full sequence; forward under no_grad, or forward
and backward in train mode), once warmed up and then ``calls`` times. The trace opens in
chrome://tracing or https://ui.perfetto.dev.
"""

from __future__ import annotations

import datetime as _dt
import tempfile
import warnings
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from snnbench import footprint, implementations, results, values
from snnbench.bench import workload
from snnbench.cases import Case
from snnbench.errors import SnnbenchError

TRACES_DIR = results.REPORTS_DIR / "traces"


def _device_time(event, name: str) -> float:
    """Microseconds on the device (torch renamed cuda_* to device_* across versions)."""
    for attr in (f"self_device_{name}", f"self_cuda_{name}"):
        if hasattr(event, attr):
            return float(getattr(event, attr))
    return 0.0


def trace_path(case: Case, impl: str, mode: str) -> Path:
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    label = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in impl)
    return TRACES_DIR / f"{case.neuron}-{case.name}-{label}-{mode}-{stamp}.json"


def profile_case(case: Case, impl: str, mode: str, device: str, dtype: str = "float32", calls: int = 3,
                 top: int = 15, path: Path | None = None) -> dict:
    """{'operators': [{name, calls, self_cpu_us, cpu_total_us, self_device_us}], 'trace': path, ...}.
    ``impl`` as ``--impl`` names it: native, reference or a user's implementation. The trace is
    exported to a private folder, then written to ``path`` by the report writer (atomically, only
    over a regular file)."""
    footprint.require([case], [dtype], device)
    (chosen,) = implementations.select([impl], [case.neuron])[case.neuron]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = workload.build(case, values.torch_dtype(dtype), device, [chosen], implementations.reference(case.neuron))
        try:
            if chosen.name in built.problems:
                raise SnnbenchError(f"{case.neuron}/{case.name}: {chosen.name} cannot run: "
                                    f"{built.problems[chosen.name]}")
            fn = built.call(chosen.name, mode)
            fn()
            cuda = device.startswith("cuda")
            activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
            with profile(activities=activities) as prof:
                for _ in range(calls):
                    fn()
                if cuda:
                    torch.cuda.synchronize(device)
        finally:
            built.close()
    impl = chosen.name
    path = Path(path) if path is not None else trace_path(case, impl, mode)
    with tempfile.TemporaryDirectory(prefix="snnbench-trace-") as folder:
        exported = Path(folder) / ("trace.json.gz" if path.name.endswith(".gz") else "trace.json")
        prof.export_chrome_trace(str(exported))
        if not exported.is_file():
            raise SnnbenchError(f"{path}: torch.profiler wrote no trace; nothing written")
        results.write_bytes(exported.read_bytes(), path)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    operators = [{"name": e.key, "calls": int(e.count), "self_cpu_us": float(e.self_cpu_time_total),
                  "cpu_total_us": float(e.cpu_time_total), "self_device_us": _device_time(e, "time_total")}
                 for e in events[:top]]
    total_self = sum(float(e.self_cpu_time_total) for e in events)
    return {"neuron": case.neuron, "case": case.name, "impl": impl, "mode": mode, "device": device,
            "dtype": dtype, "calls": calls, "operators": operators, "total_self_cpu_us": total_self,
            "trace": str(path)}
