"""The A/B worker: one process per revision, serving the coordinator (bench/ab.py) on stdin/stdout.

It is started as ``python -P <this file> TREE`` (``PYTHONPATH`` also starts with TREE), so the
``snnbench`` it imports (neurons, implementations, cases, inputs) is that revision's, and only
that revision's: a finder put first on ``sys.meta_path`` resolves ``snnbench`` and its modules in
TREE alone (an editable install's finder would otherwise fill in a module the revision lacks
from the installed checkout, mixing two trees). This
file, and the timing and memory code it loads by path (timing.py and memory.py beside it, which
import nothing from snnbench at module level), are the coordinator's: both revisions are timed
and measured by the same code, whatever REV's own bench code was, and a revision that predates
the A/B comparison can still be served.

From the revision's snnbench it uses a small surface that two generations of snnbench provide:

- "implementations" (the neuron specs and implementations): ``specs.case_from_spec``,
  ``implementations.reference(neuron)`` (``build``, ``weights``, ``run``, ``exposed``,
  ``cleanup``), ``implementations.native(neuron)`` (``build(..., weights)``, ``run``,
  ``exposed``, ``cleanup``), ``specs.get(neuron)`` (``fields``, ``spike_field``,
  ``initial_state``);
- "adapters" (earlier: one reference adapter per neuron): ``cases.from_spec``,
  ``registry.get(neuron).adapter`` (``build`` -> a pair of modules with the same weights,
  ``initial_state``, ``run_native``, ``fields``, ``spike_field``, ``cleanup``);
- both: ``inputs.make_input`` and ``inputs.upstream_gradients``.

A revision with neither cannot be served (the coordinator says so). The work of one call is
``bench``'s: one full sequence under ``torch.no_grad()`` (forward), or the sequence and the
backward from fixed upstream gradients on the train fields, into the input and every parameter
(train).

Protocol: one JSON object per line each way; every request gets exactly one answer,
``{"ok": true, ...}`` or ``{"ok": false, "error": "one line"}``. The worker's real stdout
carries only answers (anything the revision's code prints goes to stderr).

    hello                             -> api, snnbench (version), root (its snnbench's tree), torch
    setup {threads, device, dtype, warmup_calls, warmup_s}
    build {case_spec}                 -> fields: the train fields (exposed at every step by ours
                                         and, where known, the reference), neurons_per_sample
    prepare {mode, train_fields}      the call, run once and warmed up; garbage collector off
    time                              -> seconds: one timed call
    memory {calls}                    -> peak_bytes, mem_method
    usage                             -> cpu_s: this process's CPU seconds so far
    close                             the case's modules and tensors freed
    exit
"""

from __future__ import annotations

import gc
import importlib.machinery
import importlib.util
import json
import math
import os
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVERY_STEP = "every step"


class OnlyTheRevision:
    """A meta path finder: ``snnbench`` and its modules come from the revision's tree, or not at all."""

    def __init__(self, tree: Path):
        self.tree = tree

    def find_spec(self, name, path=None, target=None):
        if name != "snnbench" and not name.startswith("snnbench."):
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, [str(self.tree)] if name == "snnbench" else path)
        if spec is None:
            raise ModuleNotFoundError(f"No module named {name!r} in {self.tree}", name=name)
        return spec


def _load(name: str):
    """The coordinator's bench module ``name`` (timing or memory), loaded from beside this file."""
    spec = importlib.util.spec_from_file_location(f"_snnbench_ab_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Server:
    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.timing = _load("timing")
        self.peaks = _load("memory")
        self.api: str | None = None
        self.snnbench = None
        self.case = None
        self.call = None
        self.clear = lambda: None
        self.cleanup = lambda: None

    # ---- the revision's snnbench ---------------------------------------------------------------
    def hello(self) -> dict:
        import snnbench

        try:
            from snnbench import implementations, specs  # noqa: F401

            self.api = "implementations"
        except ImportError:
            try:
                from snnbench import registry  # noqa: F401
                from snnbench.cases import from_spec  # noqa: F401

                self.api = "adapters"
            except ImportError:
                self.api = None
        self.snnbench = snnbench
        return {"api": self.api, "snnbench": getattr(snnbench, "__version__", None),
                "root": str(Path(snnbench.__file__).resolve().parent.parent), "torch": self.torch.__version__,
                "pid": os.getpid()}

    def setup(self, threads: int, device: str, dtype: str, warmup_calls: int, warmup_s: float) -> dict:
        self.torch.set_num_threads(int(threads))
        self.device, self.dtype = device, getattr(self.torch, dtype)
        self.settings = self.timing.Settings(warmup_calls=warmup_calls, warmup_s=warmup_s)
        self.timer = self.timing.timer_for(device)
        return {}

    def build(self, case_spec: dict) -> dict:
        self.close()
        torch = self.torch
        from snnbench import inputs

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.api == "implementations":
                built = self._build_implementations(case_spec)
            else:
                built = self._build_adapters(case_spec)
        case, module, run, fields, spike_field = built
        x = inputs.make_input(case, self.dtype, self.device)
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trace = run(x)
        shapes = {f: tuple(trace[f].shape) for f in fields if f in trace}
        like = {f: torch.empty(s, dtype=self.dtype, device=self.device) for f, s in shapes.items()}
        self.case, self.module, self.run, self.x, self.shapes = case, module, run, x, shapes
        self.upstream = inputs.upstream_gradients(case, like)
        steps = [f for f, s in shapes.items() if len(s) >= 2 and s[0] == case.steps]
        return {"fields": steps, "neurons_per_sample": math.prod(shapes[spike_field][2:])}

    def _build_implementations(self, case_spec: dict):
        from snnbench import implementations, specs

        case = specs.case_from_spec(case_spec, "A/B request")
        spec = specs.get(case.neuron)
        reference, native = implementations.reference(case.neuron), implementations.native(case.neuron)
        ref_module = reference.build(case, self.dtype, self.device)
        module = native.build(case, self.dtype, self.device, reference.weights(ref_module))
        state0 = spec.initial_state(case, self.dtype, self.device)

        def cleanup() -> None:
            native.cleanup(module)
            reference.cleanup(ref_module)

        self.cleanup = cleanup

        def run(x):
            return native.run(module, x, state0)

        fields = list(spec.fields)
        try:  # the fields the reference exposes at every step too (what bench trains on)
            from snnbench import inputs

            x = inputs.make_input(case, self.dtype, self.device)
            with self.torch.no_grad():
                exposed = reference.exposed(reference.run(ref_module, x, state0))
                mine = native.exposed(run(x))
            fields = [f for f in fields if exposed.get(f) == EVERY_STEP and mine.get(f) == EVERY_STEP]
        except Exception:
            pass
        return case, module, run, fields, spec.spike_field

    def _build_adapters(self, case_spec: dict):
        from snnbench import registry
        from snnbench.cases import from_spec

        case = from_spec(case_spec, "A/B request")
        adapter = registry.get(case.neuron).adapter
        pair = adapter.build(case, self.dtype, self.device)
        state0 = adapter.initial_state(case, self.dtype, self.device)
        self.cleanup = lambda: adapter.cleanup(pair)

        def run(x):
            return adapter.run_native(pair.native, x, state0)

        return case, pair.native, run, list(adapter.fields), adapter.spike_field

    def prepare(self, mode: str, train_fields: list[str]) -> dict:
        torch = self.torch
        gc.enable()
        run = self.run
        if mode == "forward":
            x = self.x

            def call() -> None:
                with torch.no_grad():
                    run(x)

            self.clear = lambda: None
        elif mode == "train":
            missing = [f for f in train_fields if f not in self.shapes]
            if missing:
                raise RuntimeError(f"its native call returns no {', '.join(missing)} to train on")
            leaf = self.x.clone().requires_grad_(True)
            params = [p for p in self.module.parameters() if p.requires_grad]
            upstream = {f: self.upstream[f] for f in train_fields}

            def clear() -> None:
                leaf.grad = None
                for p in params:
                    p.grad = None

            def call() -> None:
                clear()
                trace = run(leaf)
                fed = [(trace[f], g if g.dtype == trace[f].dtype else g.to(trace[f].dtype))
                       for f, g in upstream.items() if trace[f].requires_grad]
                if fed:
                    torch.autograd.backward([out for out, _ in fed], [g for _, g in fed])

            self.clear = clear
        else:
            raise ValueError(f"unknown mode {mode!r}")
        self.call = None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.timing.warm_up({"call": call}, self.settings, self.timer)
        self.call = call
        gc.collect()
        gc.disable()
        return {}

    def time(self) -> dict:
        return {"seconds": self.timer(self.call)}

    def memory(self, calls: int = 3) -> dict:
        if self.device.startswith("cuda"):
            peaks = [self.peaks.cuda_peak(self.call, self.device, self.clear) for _ in range(calls)]
            method = self.peaks.CUDA_METHOD
        else:
            peaks, method = self.peaks.peaks_in_process(self.call, self.clear, calls)
            if method != self.peaks.CPU_METHOD:
                raise RuntimeError("the peak RSS cannot be reset here (no /proc/self/clear_refs)")
            method = "cpu-peak-rss-worker"
        return {"peak_bytes": max(0, min(peaks)), "mem_method": method}

    def usage(self) -> dict:
        return {"cpu_s": time.process_time()}

    def close(self) -> dict:
        gc.enable()
        try:
            self.cleanup()
        finally:
            self.cleanup = lambda: None
            self.case = self.call = self.module = self.run = self.x = self.upstream = None
            self.clear = lambda: None
            gc.collect()
        return {}

    def handle(self, request: dict) -> dict:
        op = request.get("op")
        args = {k: v for k, v in request.items() if k != "op"}
        if op in ("hello", "setup", "build", "prepare", "time", "memory", "usage", "close"):
            return getattr(self, op)(**args)
        raise ValueError(f"unknown request {op!r}")


def main() -> None:
    tree = Path(sys.argv[1]).resolve()
    sys.path.insert(0, str(tree))
    sys.meta_path.insert(0, OnlyTheRevision(tree))
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)                  # whatever the revision's code prints goes to stderr
    sys.stdout = sys.stderr
    server = Server()
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("op") == "exit":
            break
        try:
            answer = {"ok": True, **server.handle(request)}
        except Exception as exc:  # one line back; the coordinator decides what it means
            answer = {"ok": False, "error": one_line(exc)}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
