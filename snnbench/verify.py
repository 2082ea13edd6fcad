"""The verification engine: same weights, input and initial state -> per-field differences, verdict.

For one case and dtype:

1. Free run: both neurons over the whole sequence. Every field (spikes and each state) compared
   at every step: max abs error, max rel error (``|ours - ref| / max(|ref|, atol)``), mismatch count
   (``|ours - ref| > atol + rtol * |ref|``), first divergent step, and the per-step max abs error.
2. Step by step: at every step ours runs one step from the *reference's own* state, so a
   difference cannot cascade; this is what pins a failure to its step.
3. Borderline flips: a spike that differs where the reference's membrane lies within
   ``tolerance.borderline`` of its threshold is rounding, not semantics: counted apart. In the
   free run, differences from the first borderline flip on are attributed to it (a cascade) and
   the step-by-step comparison decides.
4. Gradients: a random upstream gradient on every output field, then d(loss)/d(input) and
   d(loss)/d(every trainable parameter), compared by ``max|ours - ref| / max|ref|``. Where the
   reference's backward raises through a bug its adapter knows (``Adapter.backward_failure``,
   matched against the actual error), the forward is still judged, ``backward`` stays empty and
   the reason begins "forward only:".
5. Verdict: pass | fail | uninformative (nothing or everything spiked) | skipped (an option or
   dtype that cannot run, with the reason) | error (a crash, with the message).

On CUDA, TF32 is switched off for matmuls and cuDNN convolutions while a case is compared:
with it, float32 products carry 10-bit mantissas, so two exact implementations that group their
products differently (ours hoists SLSTM's input projection into one matmul over all steps, for
one) differ far beyond the float32 tolerance. Benchmarks run at torch's defaults, which the report's env records.
"""

from __future__ import annotations

import contextlib
import time
import traceback
import warnings
from typing import Any, Iterator

import torch

from snnbench import cases, inputs
from snnbench.cases import Case, Tolerance
from snnbench.errors import Unsupported
from snnbench.reference.base import Adapter, Pair, Trace

VERDICTS = ("pass", "fail", "uninformative", "skipped", "error")


def field_diff(ours: torch.Tensor, ref: torch.Tensor, tol: Tolerance,
               excused: torch.Tensor | None = None) -> dict[str, Any]:
    """Differences of one field, (T, B, ...) on both sides; ``excused`` marks mismatches to ignore."""
    wide = torch.promote_types(ours.dtype, ref.dtype)
    a = ours.detach().to(wide)
    b = ref.detach().to(wide)
    if a.shape != b.shape:
        return {"max_abs": float("inf"), "max_rel": float("inf"), "mismatches": int(b.numel()),
                "first_divergent_step": 0, "per_step_max_abs": [],
                "note": f"shape differs: ours {tuple(a.shape)}, reference {tuple(b.shape)}"}
    err = (a - b).abs()
    err = torch.where(torch.isnan(a) & torch.isnan(b), torch.zeros_like(err), err)
    err = torch.nan_to_num(err, nan=float("inf"))
    bad = err > tol.atol + tol.rtol * b.abs()
    if excused is not None:
        bad &= ~excused
    per_step_bad = bad.reshape(bad.shape[0], -1).any(dim=1)
    steps_bad = torch.nonzero(per_step_bad).flatten()
    rel = err / b.abs().clamp_min(tol.atol)
    return {
        "max_abs": float(err.max()) if err.numel() else 0.0,
        "max_rel": float(rel.max()) if rel.numel() else 0.0,
        "mismatches": int(bad.sum()),
        "first_divergent_step": int(steps_bad[0]) if steps_bad.numel() else None,
        "per_step_max_abs": [float(v) for v in err.reshape(err.shape[0], -1).max(dim=1).values],
    }


def grad_diff(ours: torch.Tensor | None, ref: torch.Tensor | None, tol: Tolerance) -> dict[str, Any]:
    """``None`` (the parameter did not take part in the loss) is compared as a zero gradient."""
    if ours is None and ref is None:
        return {"max_abs": 0.0, "max_rel": 0.0, "ok": True, "note": "no gradient on either side"}
    if ours is None:
        ours = torch.zeros_like(ref)
    if ref is None:
        ref = torch.zeros_like(ours)
    a, b = ours.detach().to(torch.float64), ref.detach().to(torch.float64)
    if a.shape != b.shape:
        return {"max_abs": float("inf"), "max_rel": float("inf"), "ok": False,
                "note": f"shape differs: ours {tuple(a.shape)}, reference {tuple(b.shape)}"}
    err = float((a - b).abs().max()) if a.numel() else 0.0
    scale = float(b.abs().max()) if b.numel() else 0.0
    if not (err == err):  # NaN
        err = float("inf")
    rel = err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))
    return {"max_abs": err, "max_rel": rel, "ok": rel <= tol.grad_rtol or err <= tol.atol}


def _loss(trace: Trace, upstream: dict[str, torch.Tensor]) -> torch.Tensor:
    total = None
    for name, g in upstream.items():
        t = trace[name]
        if not t.requires_grad:
            continue
        term = (t * g.to(t.dtype)).sum()
        total = term if total is None else total + term
    return total


def _gradients(loss, leaves: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | None]:
    if loss is None:
        return {name: None for name in leaves}
    grads = torch.autograd.grad(loss, list(leaves.values()), allow_unused=True)
    return dict(zip(leaves, grads))


def _stepwise(adapter: Adapter, pair: Pair, x: torch.Tensor, state0: dict, ref: Trace,
              tol: Tolerance, margin: torch.Tensor) -> tuple[dict, int]:
    """Compare each step of ours, started from the reference's own state, with the reference."""
    steps: dict[str, list[torch.Tensor]] = {f: [] for f in adapter.fields}
    with torch.no_grad():
        for t in range(x.shape[0]):
            previous = {k: v.detach() for k, v in adapter.state_before(ref, state0, t).items()}
            out = adapter.step_native(pair.native, x[t], previous)
            for f in adapter.fields:
                steps[f].append(out[f])
    ours = {f: torch.stack(v) for f, v in steps.items()}
    spike_bad = _mismatch(ours[adapter.spike_field], ref[adapter.spike_field], tol)
    borderline = spike_bad & (margin.abs() <= tol.borderline) if margin.shape == spike_bad.shape else \
        torch.zeros_like(spike_bad)
    diffs = {}
    for f in adapter.fields:
        excused = borderline if ours[f].shape == borderline.shape else None
        diffs[f] = field_diff(ours[f], ref[f], tol, excused)
    return diffs, int(borderline.sum())


def _mismatch(a: torch.Tensor, b: torch.Tensor, tol: Tolerance) -> torch.Tensor:
    wide = torch.promote_types(a.dtype, b.dtype)
    a, b = a.detach().to(wide), b.detach().to(wide)
    return (a - b).abs() > tol.atol + tol.rtol * b.abs()


def _first_failure(diffs: dict[str, dict]) -> tuple[str, dict] | None:
    failing = [(d["first_divergent_step"], f, d) for f, d in diffs.items() if d["mismatches"]]
    if not failing:
        return None
    step, f, d = min(failing, key=lambda item: item[0])
    return f, d


@contextlib.contextmanager
def full_float32(device: str) -> Iterator[None]:
    """TF32 off for CUDA matmuls and convolutions inside the block (a no-op on CPU)."""
    if not device.startswith("cuda"):
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def compare(adapter: Adapter, case: Case, dtype_name: str, device: str) -> dict[str, Any]:
    """Run one case in one dtype on one device; the result record (see results.py)."""
    started = time.perf_counter()
    tol = case.tolerance(dtype_name)
    record: dict[str, Any] = {
        "neuron": case.neuron, "case": case.name, "device": device, "dtype": dtype_name,
        "verdict": "error", "reason": "", "spike_rate": None,
        "forward": {}, "stepwise": {}, "backward": {}, "borderline_flips": 0,
        "findings": adapter.findings(case),
        "case_spec": cases.to_spec(case),
        "tolerance": dict(tol.__dict__),
    }
    try:
        with warnings.catch_warnings(), full_float32(device):
            warnings.simplefilter("ignore")  # the references warn about options; findings say it once
            _compare_into(record, adapter, case, inputs.DTYPES[dtype_name], device, tol)
    except Unsupported as exc:
        record["verdict"], record["reason"] = "skipped", str(exc)
    except Exception as exc:  # a crash in ours or theirs is a result, not a traceback
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        record["verdict"] = "error"
        record["reason"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''} " \
                           f"(at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})"
    record["duration_s"] = round(time.perf_counter() - started, 4)
    return record


def _compare_into(record, adapter: Adapter, case: Case, dtype: torch.dtype, device: str, tol: Tolerance):
    pair = adapter.build(case, dtype, device)
    try:
        x = inputs.make_input(case, dtype, device)
        state0 = adapter.initial_state(case, dtype, device)
        x_ref = x.clone().requires_grad_(True)
        x_nat = x.clone().requires_grad_(True)

        ref = adapter.run_reference(pair.reference, x_ref, state0)
        try:
            ours = adapter.run_native(pair.native, x_nat, state0)
        except Unsupported:
            raise
        except Exception as exc:
            raise RuntimeError(f"ours failed: {type(exc).__name__}: {exc}") from exc

        spikes = ref[adapter.spike_field].detach()
        rate = float((spikes != 0).to(torch.float64).mean())
        record["spike_rate"] = rate
        for f in adapter.fields:
            if ref[f].dtype != ours[f].dtype:
                record["findings"].append(f"reference returns {f} as {str(ref[f].dtype).replace('torch.', '')} "
                                          f"for {str(dtype).replace('torch.', '')} input")

        margin = adapter.margin(pair, ref)
        free = {f: field_diff(ours[f], ref[f], tol) for f in adapter.fields}
        spike_flip = _mismatch(ours[adapter.spike_field], spikes, tol)
        free_borderline = spike_flip & (margin.abs() <= tol.borderline) if margin.shape == spike_flip.shape \
            else torch.zeros_like(spike_flip)
        first_borderline = None
        if free_borderline.any():
            first_borderline = int(torch.nonzero(free_borderline.reshape(free_borderline.shape[0], -1).any(1))[0])
        free[adapter.spike_field]["borderline_flips"] = int(free_borderline.sum())
        record["forward"] = free

        stepwise, step_borderline = _stepwise(adapter, pair, x, state0, ref, tol, margin)
        record["stepwise"] = stepwise
        record["borderline_flips"] = max(step_borderline, int(free_borderline.sum()))

        upstream = inputs.upstream_gradients(case, {f: ref[f] for f in adapter.fields})
        params = adapter.parameter_pairs(pair)
        try:
            ref_grads = _gradients(_loss(ref, upstream), {"input": x_ref, **{k: r for k, (r, _) in params.items()}})
        except RuntimeError as exc:
            why = adapter.backward_failure(case, device, exc)
            if why is None:
                raise
            record["findings"].append(why)
            _judge(record, free, stepwise, first_borderline, rate)
            record["reason"] = f"forward only: {why}" + (f"; {record['reason']}" if record["reason"] else "")
            return
        nat_grads = _gradients(_loss(ours, upstream), {"input": x_nat, **{k: n for k, (_, n) in params.items()}})
        precision = adapter.gradient_precision(case, record["dtype"])
        judged_as = {k: precision.get(k, precision.get("*", record["dtype"])) for k in ref_grads}
        record["backward"] = {k: grad_diff(nat_grads[k], ref_grads[k], case.tolerance(judged_as[k]))
                              for k in ref_grads}
        for k, judged in judged_as.items():
            if judged != record["dtype"]:
                record["backward"][k]["judged_at"] = judged
        _judge(record, free, stepwise, first_borderline, rate)
    finally:
        adapter.cleanup(pair)


def _judge(record, free: dict, stepwise: dict, first_borderline: int | None, rate: float) -> None:
    step_fail = _first_failure(stepwise)
    free_fail = _first_failure(free)
    bad_grads = [k for k, g in record["backward"].items() if not g["ok"]]
    cascade = (free_fail is not None and first_borderline is not None
               and free_fail[1]["first_divergent_step"] >= first_borderline)
    if step_fail is not None:
        f, d = step_fail
        record["verdict"] = "fail"
        record["reason"] = (f"{f} differs at step {d['first_divergent_step']} when started from the reference's "
                            f"own state (max abs {d['max_abs']:.3g}, {d['mismatches']} mismatches)")
    elif free_fail is not None and not cascade:
        f, d = free_fail
        record["verdict"] = "fail"
        record["reason"] = (f"{f} first differs at step {d['first_divergent_step']} "
                            f"(max abs {d['max_abs']:.3g}, {d['mismatches']} mismatches)")
    elif bad_grads and not cascade and first_borderline is None:
        worst = max(bad_grads, key=lambda k: record["backward"][k]["max_rel"])
        g = record["backward"][worst]
        record["verdict"] = "fail"
        record["reason"] = f"gradient of {worst} differs (max rel {g['max_rel']:.3g})" + \
                           (f": {g['note']}" if "note" in g else "")
    elif rate == 0.0 or rate == 1.0:
        record["verdict"] = "uninformative"
        record["reason"] = "no neuron ever spiked" if rate == 0.0 else "every neuron spiked at every step"
    else:
        record["verdict"] = "pass"
        if cascade or first_borderline is not None:
            record["reason"] = (f"equal step by step; {record['borderline_flips']} borderline spike flip(s) "
                                f"from step {first_borderline} on make the free run "
                                + ("and gradients " if bad_grads else "") + "diverge")
