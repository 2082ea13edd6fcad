"""The verification engine: one implementation judged against the reference -> per-field
differences, verdict.

For one case, dtype and judged implementation (ours by default, or a user's):

1. Same weights (the reference's, loaded into the judged module by canonical name), same input,
   same initial state.
2. Free run: both over the whole sequence. Every field the judged implementation exposes (its
   call decides: spikes and states at every step, or a state only after the last step) is
   compared: max abs error, max rel error (``|ours - ref| / max(|ref|, atol)``), mismatch count
   (``|ours - ref| > atol + rtol * |ref|``), first divergent step, and the per-step max abs error.
   Fields it does not expose are listed in ``not_compared`` with the reason.
3. Step by step (where the implementation can run one step from a given state): at every step it
   runs one step from the *reference's own* state, so a difference cannot cascade; this is what
   pins a failure to its step.
4. Borderline flips: a spike that differs where the reference's membrane lies within
   ``tolerance.borderline`` of its threshold is rounding, not semantics: counted apart. In the
   free run, differences from the first borderline flip on are attributed to it (a cascade) and
   the step-by-step comparison decides.
5. Gradients: a random upstream gradient on every compared field, then d(loss)/d(input) and
   d(loss)/d(every trainable parameter), compared by ``max|ours - ref| / max|ref|``. Where the
   reference's backward raises through a bug it knows
   (``ReferenceImplementation.backward_failure``, matched against the actual error), the forward
   is still judged, ``backward`` stays empty and the reason begins "forward only:".
6. Verdict: pass | fail | uninformative (nothing or everything spiked) | skipped (an option or
   dtype that cannot run, with the reason) | error (a crash, with the message).

On CUDA, TF32 is switched off for matmuls and cuDNN convolutions while a case is compared:
with it, float32 products carry 10-bit mantissas, so two exact implementations that group their
products differently (ours hoists SLSTM's input projection into one matmul over all steps, for
one) differ far beyond the float32 tolerance. Benchmarks run at torch's defaults, which the report's env records.
"""

from __future__ import annotations

import contextlib
import math
import time
import traceback
import warnings
from typing import Any, Iterator

import torch

from snnbench import cases, departures, env, implementations, inputs, values
from snnbench.cases import DEFAULT_TOLERANCES, Case, Tolerance
from snnbench.errors import Unsupported
from snnbench.implementations.base import EVERY_STEP, Implementation
from snnbench.implementations.reference import ReferenceImplementation
from snnbench.specs.base import Trace

VERDICTS = ("pass", "fail", "uninformative", "skipped", "error")


def _non_finite_match(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(both finite, the same non-finite value on both sides: NaN and NaN, or equal infinities)."""
    finite = torch.isfinite(a) & torch.isfinite(b)
    same = ~finite & ((torch.isnan(a) & torch.isnan(b)) | (a == b))
    return finite, same


def field_diff(ours: torch.Tensor, ref: torch.Tensor, tol: Tolerance,
               excused: torch.Tensor | None = None, first_step: int = 0) -> dict[str, Any]:
    """Differences of one field, (T, B, ...) on both sides; ``excused`` marks mismatches to ignore;
    ``first_step`` is the step number of the first row (T - 1 for a field seen after the last step).
    The same non-finite value on both sides (NaN and NaN, or equal infinities) is no difference, and
    is counted under ``non_finite``; a non-finite value on one side only is an infinite error."""
    wide = torch.promote_types(ours.dtype, ref.dtype)
    a = ours.detach().to(wide)
    b = ref.detach().to(wide)
    if a.shape != b.shape:
        return {"max_abs": float("inf"), "max_rel": float("inf"), "mismatches": int(b.numel()),
                "first_divergent_step": first_step, "per_step_max_abs": [],
                "note": f"shape differs: ours {tuple(a.shape)}, reference {tuple(b.shape)}"}
    finite, same = _non_finite_match(a, b)
    inf = torch.full_like(b, float("inf"))
    zero = torch.zeros_like(b)
    err = torch.where(finite, (a - b).abs(), torch.where(same, zero, inf))
    bad = torch.where(finite, err > tol.atol + tol.rtol * b.abs(), ~same)
    if excused is not None:
        bad &= ~excused
    per_step_bad = bad.reshape(bad.shape[0], -1).any(dim=1)
    steps_bad = torch.nonzero(per_step_bad).flatten()
    rel = torch.where(finite, err / b.abs().clamp_min(tol.atol), err)
    out = {
        "max_abs": float(err.max()) if err.numel() else 0.0,
        "max_rel": float(rel.max()) if rel.numel() else 0.0,
        "mismatches": int(bad.sum()),
        "first_divergent_step": int(steps_bad[0]) + first_step if steps_bad.numel() else None,
        "per_step_max_abs": [float(v) for v in err.reshape(err.shape[0], -1).max(dim=1).values],
    }
    if same.any():
        out["non_finite"] = int(same.sum())
    return out


def grad_diff(ours: torch.Tensor | None, ref: torch.Tensor | None, tol: Tolerance) -> dict[str, Any]:
    """``None`` (the parameter did not take part in the loss) is compared as a zero gradient. The
    same non-finite value on both sides is no difference (counted under ``non_finite``); the
    scale is the largest finite magnitude of the reference's gradient."""
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
    finite, same = _non_finite_match(a, b)
    diff = torch.where(finite, (a - b).abs(), torch.where(same, torch.zeros_like(b), torch.full_like(b, math.inf)))
    err = float(diff.max()) if a.numel() else 0.0
    magnitudes = b.abs()[torch.isfinite(b)]
    scale = float(magnitudes.max()) if magnitudes.numel() else 0.0
    rel = err / scale if scale > 0 else (0.0 if err == 0 else float("inf"))
    out = {"max_abs": err, "max_rel": rel, "ok": rel <= tol.grad_rtol or err <= tol.atol}
    if same.any():
        out["non_finite"] = int(same.sum())
    one_side = int((~finite & ~same).sum())
    if one_side:
        out["note"] = f"NaN or infinite on one side only ({one_side} value{'s' if one_side > 1 else ''})"
    return out


def _loss(trace: Trace, upstream: dict[str, torch.Tensor]) -> torch.Tensor | None:
    total = None
    for name, g in upstream.items():
        t = trace[name]
        if not t.requires_grad:
            continue
        term = (t * g.to(t.dtype)).sum()
        total = term if total is None else total + term
    return total


def _gradients(loss, leaves: dict[str, torch.Tensor | None]) -> dict[str, torch.Tensor | None]:
    """d loss / d leaf for each leaf; None for a leaf that is missing or does not require grad."""
    live = {k: v for k, v in leaves.items() if v is not None and v.requires_grad}
    if loss is None or not live:
        return {name: None for name in leaves}
    grads = dict(zip(live, torch.autograd.grad(loss, list(live.values()), allow_unused=True)))
    return {name: grads.get(name) for name in leaves}


def _stepwise(judged: Implementation, module, x: torch.Tensor, state0: dict, ref: Trace,
              fields: list[str], tol: Tolerance, margin: torch.Tensor) -> tuple[dict, int]:
    """Compare each step of the judged implementation, started from the reference's own state,
    with the reference."""
    spec = judged.spec
    steps: dict[str, list[torch.Tensor]] = {f: [] for f in fields}
    with torch.no_grad():
        for t in range(x.shape[0]):
            previous = {k: v.detach() for k, v in spec.state_before(ref, state0, t).items()}
            out = judged.step(module, x[t], previous)
            for f in fields:
                steps[f].append(out[f])
    ours = {f: torch.stack(v) for f, v in steps.items()}
    spike_bad = _mismatch(ours[spec.spike_field], ref[spec.spike_field], tol)
    borderline = spike_bad & (margin.abs() <= tol.borderline) if margin.shape == spike_bad.shape else \
        torch.zeros_like(spike_bad)
    diffs = {}
    for f in fields:
        excused = borderline if ours[f].shape == borderline.shape else None
        diffs[f] = field_diff(ours[f], ref[f], tol, excused)
    return diffs, int(borderline.sum())


def _mismatch(a: torch.Tensor, b: torch.Tensor, tol: Tolerance) -> torch.Tensor:
    wide = torch.promote_types(a.dtype, b.dtype)
    a, b = a.detach().to(wide), b.detach().to(wide)
    return (a - b).abs() > tol.atol + tol.rtol * b.abs()


def _first_failure(diffs: dict[str, dict]) -> tuple[str, dict] | None:
    failing = [(d["first_divergent_step"], f, d) for f, d in diffs.items() if d["mismatches"] and not d.get("excused")]
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


def compare(case: Case, dtype_name: str, device: str, judged: Implementation,
            reference: ReferenceImplementation) -> dict[str, Any]:
    """Judge one implementation against the reference on one case, dtype and device; the result
    record (see results.py)."""
    started = time.perf_counter()
    tol = case.tolerance(dtype_name)
    record: dict[str, Any] = {
        "neuron": case.neuron, "case": case.name, "device": device, "dtype": dtype_name,
        "impl": judged.name, "impl_info": judged.info(),
        "release": f"snntorch {env.version_of('snntorch')}, sinabs {env.version_of('sinabs')}",
        "verdict": "error", "reason": "", "spike_rate": None,
        "forward": {}, "stepwise": {}, "backward": {}, "borderline_flips": 0,
        "compared": {}, "not_compared": {},
        "findings": judged.spec.findings(case),
        "case_spec": cases.to_spec(case),
        "tolerance": dict(tol.__dict__),
    }
    try:
        with warnings.catch_warnings(), full_float32(device):
            warnings.simplefilter("ignore")  # the references warn about options; findings say it once
            _compare_into(record, case, values.torch_dtype(dtype_name), device, tol, judged, reference)
    except Unsupported as exc:
        record["verdict"], record["reason"] = "skipped", str(exc)
    except Exception as exc:  # a crash in either implementation is a result, not a traceback
        record["verdict"] = "error"
        record["reason"] = error_line(exc)
    record["duration_s"] = round(time.perf_counter() - started, 4)
    return record


def error_line(exc: BaseException) -> str:
    """One line for a crash: the exception and where it was raised."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    where = f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {text}{where}"


class JudgedFailed(RuntimeError):
    """The judged implementation raised (the reference ran)."""


def _compare_into(record, case: Case, dtype: torch.dtype, device: str, tol: Tolerance,
                  judged: Implementation, reference: ReferenceImplementation) -> None:
    spec = judged.spec
    ref_module = reference.build(case, dtype, device)
    module = None
    try:
        try:
            module = judged.build(case, dtype, device, reference.weights(ref_module))
        except Unsupported:
            raise
        except Exception as exc:
            raise JudgedFailed(f"{judged.name} could not be built: {error_line(exc)}") from exc
        x = inputs.make_input(case, dtype, device)
        state0 = spec.initial_state(case, dtype, device)
        x_ref = x.clone().requires_grad_(True)
        x_judged = x.clone().requires_grad_(True)

        ref = reference.run(ref_module, x_ref, state0)
        try:
            ours = judged.run(module, x_judged, state0)
        except Unsupported:
            raise
        except Exception as exc:
            raise JudgedFailed(f"{judged.name} failed: {error_line(exc)}") from exc

        exposed = judged.exposed(ours)
        steps = x.shape[0]
        view = {f: (slice(None) if where == EVERY_STEP else slice(steps - 1, steps)) for f, where in exposed.items()}
        record["compared"] = dict(exposed)
        record["not_compared"] = {f: _why_not(judged) for f in spec.fields if f not in exposed}
        ref_seen = {f: ref[f][view[f]] for f in exposed}
        ours_seen = {f: ours[f] for f in exposed}

        spikes = ref[spec.spike_field].detach()
        rate = float((spikes != 0).to(torch.float64).mean())
        record["spike_rate"] = rate
        judged_spikes = ours[spec.spike_field].detach()
        record["judged_spike_rate"] = float((judged_spikes != 0).to(torch.float64).mean()) if judged_spikes.numel() else None
        for f in exposed:
            if ref[f].dtype != ours[f].dtype and judged.kind == "native":
                record["findings"].append(f"reference returns {f} as {str(ref[f].dtype).replace('torch.', '')} "
                                          f"for {str(dtype).replace('torch.', '')} input")

        margin = reference.margin(ref_module, ref)
        free = {f: field_diff(ours_seen[f], ref_seen[f], tol, first_step=0 if exposed[f] == EVERY_STEP else steps - 1)
                for f in exposed}
        spike_flip = _mismatch(ours[spec.spike_field], spikes, tol) \
            if ours[spec.spike_field].shape == spikes.shape else torch.zeros_like(spikes, dtype=torch.bool)
        free_borderline = spike_flip & (margin.abs() <= tol.borderline) if margin.shape == spike_flip.shape \
            else torch.zeros_like(spike_flip)
        first_borderline = None
        if free_borderline.any():
            first_borderline = int(torch.nonzero(free_borderline.reshape(free_borderline.shape[0], -1).any(1))[0])
        free[spec.spike_field]["borderline_flips"] = int(free_borderline.sum())
        record["forward"] = free

        step_borderline = 0
        if judged.can_step:
            fields = [f for f in exposed if exposed[f] == EVERY_STEP]
            try:
                stepwise, step_borderline = _stepwise(judged, module, x, state0, ref, fields, tol, margin)
            except Unsupported:
                raise
            except Exception as exc:
                raise JudgedFailed(f"{judged.name} failed stepping from the reference's state: "
                                   f"{error_line(exc)}") from exc
            record["stepwise"] = stepwise
        else:
            record["stepwise_note"] = (f"not run: {judged.name} runs whole sequences only, so it cannot be "
                                       "started from the reference's state at each step")
        record["borderline_flips"] = max(step_borderline, int(free_borderline.sum()))

        # the loss: a random upstream gradient on every compared field; a field seen only after the
        # last step takes part where both sides keep it in their graph
        upstream = inputs.upstream_gradients(case, ref_seen)
        loss_fields = [f for f in exposed if exposed[f] == EVERY_STEP
                       or (ref_seen[f].requires_grad and ours_seen[f].requires_grad)]
        upstream = {f: upstream[f] for f in loss_fields}
        ref_params = reference.parameters(ref_module)
        judged_params = judged.parameters(module)
        try:
            ref_grads = _gradients(_loss(ref_seen, upstream), {"input": x_ref, **ref_params})
        except RuntimeError as exc:
            why = reference.backward_failure(case, device, exc)
            if why is None:
                raise
            record["findings"].append(why)
            _judge(record, free, record["stepwise"], first_borderline, rate)
            _note_non_finite(record)
            record["reason"] = f"forward only: {why}" + (f"; {record['reason']}" if record["reason"] else "")
            return
        try:
            judged_grads = _gradients(_loss(ours_seen, upstream),
                                      {"input": x_judged, **{k: judged_params.get(k) for k in ref_params}})
        except Exception as exc:
            raise JudgedFailed(f"{judged.name}'s backward failed: {error_line(exc)}") from exc
        for k in judged_params:
            if k not in ref_params:
                record["not_compared"][f"gradient of {k}"] = "the reference does not train it"
        precision = reference.gradient_precision(case, record["dtype"])
        judged_as = {k: precision.get(k, precision.get("*", record["dtype"])) for k in ref_grads}
        record["backward"] = {k: grad_diff(judged_grads[k], ref_grads[k], case.tolerance(judged_as[k]))
                              for k in ref_grads}
        for k, judged_at in judged_as.items():
            if judged_at != record["dtype"]:
                record["backward"][k]["judged_at"] = judged_at
        if dtype == torch.float32:
            truth = Truth(case, device, judged, reference.weights(ref_module), x, state0, view, upstream,
                          list(ref_grads))
            truth.judge(record, ref_seen, ours_seen, ref_grads, judged_grads, spec.spike_field)
        _judge(record, free, record["stepwise"], first_borderline, rate)
        if record["verdict"] == "fail" and judged.kind == "user":
            _hint(record, case, dtype, device, judged, reference.weights(ref_module), x, state0, view, upstream,
                  list(ref_grads), ours_seen, judged_grads, tol)
        _note_non_finite(record)
    finally:
        reference.cleanup(ref_module)
        if module is not None:
            judged.cleanup(module)


def run_and_differentiate(impl: Implementation, case: Case, dtype, device: str, weights, x, state0, view, upstream,
                          names: list[str]) -> tuple[Trace, dict]:
    """Build ``impl`` with ``weights`` in ``dtype``, run it on ``x`` (cast) from ``state0``: the
    fields seen (``view``: field -> the steps compared) and the gradients of the same loss with
    respect to the input and the parameters ``names``."""
    module = impl.build(case, dtype, device, weights)
    try:
        x = x.detach().to(dtype).requires_grad_(True)
        trace = impl.run(module, x, {k: v.to(dtype) for k, v in state0.items()})
        seen = {f: trace[f][view[f]] for f in view}
        params = impl.parameters(module)
        grads = _gradients(_loss(seen, upstream), {"input": x, **{k: params.get(k) for k in names if k != "input"}})
        return {f: v.detach() for f, v in seen.items()}, grads
    finally:
        impl.cleanup(module)


def documented_matches(case: Case, dtype: torch.dtype, device: str, judged: Implementation, candidates: list[str],
                       weights, x, state0, view, upstream, names, judged_seen, judged_grads, tol: Tolerance) -> list[str]:
    """The departures (of ``candidates``) whose documented behaviour the judged implementation
    computes: ours run with it gives the judged fields and gradients within tolerance."""

    native = implementations.native(case.neuron)
    matches = []
    for departure_id in candidates:
        try:
            seen, grads = run_and_differentiate(native.documented_variant({departure_id}), case, dtype, device,
                                                weights, x, state0, view, upstream, names)
        except Exception:               # ours cannot run this documented variant here: no claim
            continue
        fields_equal = all(field_diff(judged_seen[f], seen[f], tol)["mismatches"] == 0 for f in seen)
        grads_equal = all(grad_diff(judged_grads.get(k), grads.get(k), tol)["ok"] for k in grads)
        if fields_equal and grads_equal:
            matches.append(departure_id)
    return matches


TRUTH_FACTOR = 3.0     # how much further from the float64 truth than the reference a float32 result may be
TRUTH_TRUST = 10.0     # how much further from it than our own float32 run the reference may be, for it to count


class Truth:
    """Our implementation run in float64 on the float32 case (its weights, input and initial state
    upcast exactly): the truth a float32 result is measured against.

    A float32 field or gradient that misses the reference by more than the tolerance still passes
    when it is no further from the truth than ``TRUTH_FACTOR`` (3) times the reference is, *and* the
    reference is no further from the truth than ``TRUTH_TRUST`` (10) times our own float32 run is.
    The second condition keeps the truth honest: where the reference's distance from it is
    rounding of the same size as our own float32 rounding, both are rounding (a sum of large
    cancelling terms, say); a distance far beyond ours means the two compute different things, and
    then nothing is excused. Only where the spikes are identical (a flipped spike makes a different
    trajectory, which the borderline rule judges)."""

    def __init__(self, case: Case, device: str, judged: Implementation, weights, x, state0, view, upstream,
                 names: list[str]):

        self.case, self.device, self.judged = case, device, judged
        self.native = implementations.native(case.neuron)
        self.weights, self.x, self.state0 = weights, x, state0
        self.view, self.upstream, self.names = view, upstream, names

    def _run(self, dtype):
        return run_and_differentiate(self.native, self.case, dtype, self.device, self.weights, self.x, self.state0,
                                     self.view, self.upstream, self.names)

    def judge(self, record, ref_seen, judged_seen, ref_grads, judged_grads, spike_field: str) -> None:
        """Measure the reference, ours and the judged implementation against the truth (the
        record's ``float64_truth``), and excuse what the rule above allows."""
        try:
            truth, truth_grads = self._run(torch.float64)
            ours, our_grads = (judged_seen, judged_grads) if self.judged.kind == "native" else self._run(torch.float32)
        except Exception as exc:          # ours cannot run this case in float64: no truth, nothing excused
            record["float64_truth"] = {"note": f"not available: {error_line(exc)}"}
            return
        flips = int((truth[spike_field].to(torch.float64) != ref_seen[spike_field].detach().to(torch.float64)).sum())
        if flips:
            record["float64_truth"] = {"note": f"not used: in float64 {flips} spike(s) differ from the float32 "
                                               "reference's, a different trajectory"}
            return
        same_spikes = record["forward"][spike_field]["mismatches"] == 0
        report = {"factor": TRUTH_FACTOR, "trust": TRUTH_TRUST, "fields": {}, "gradients": {}}
        for f in self.view:
            if f == spike_field:
                continue
            errors = {"reference": _abs_error(ref_seen[f], truth[f]), "ours": _abs_error(ours[f], truth[f]),
                      "judged": _abs_error(judged_seen[f], truth[f])}
            report["fields"][f] = errors
            diff = record["forward"][f]
            if diff["mismatches"] and same_spikes and _within(errors):
                diff["excused"] = _excuse(errors)
        for k in self.names:
            errors = {"reference": _rel_error(ref_grads[k], truth_grads[k]),
                      "ours": _rel_error(our_grads[k], truth_grads[k]),
                      "judged": _rel_error(judged_grads[k], truth_grads[k])}
            report["gradients"][k] = errors
            diff = record["backward"].get(k)
            if diff is not None and not diff["ok"] and same_spikes and _within(errors):
                diff["ok"] = True
                diff["excused"] = _excuse(errors)
        record["float64_truth"] = report


def _within(errors: dict[str, float]) -> bool:
    judged, reference, ours = errors["judged"], errors["reference"], errors["ours"]
    return (math.isfinite(judged) and math.isfinite(reference)
            and judged <= TRUTH_FACTOR * reference and reference <= TRUTH_TRUST * max(ours, 1e-300))


def _excuse(errors: dict[str, float]) -> str:
    return (f"float32 rounding: {errors['judged']:.3g} from the float64 truth, the reference {errors['reference']:.3g} "
            f"(ours in float32 {errors['ours']:.3g})")


def _abs_error(value: torch.Tensor, truth: torch.Tensor) -> float:
    if value.shape != truth.shape:
        return math.inf
    err = (value.detach().to(torch.float64) - truth.to(torch.float64)).abs()
    err = torch.where(torch.isnan(value.detach()) & torch.isnan(truth), torch.zeros_like(err), err)
    return float(torch.nan_to_num(err, nan=math.inf).max()) if err.numel() else 0.0


def _rel_error(value: torch.Tensor | None, truth: torch.Tensor | None) -> float:
    diff = grad_diff(value, truth, DEFAULT_TOLERANCES["float64"])
    return diff["max_rel"]


def _hint(record, case, dtype, device, judged, weights, x, state0, view, upstream, names, judged_seen, judged_grads,
          tol) -> None:
    """Where a user's implementation fails in a case in which the reference departs from its
    documentation: say so, and name the departures whose documented behaviour it computes."""

    applying = [i for i in judged.spec.departures(case) if departures.holds(i)]
    if not applying:
        return
    switchable = [i for i in applying if departures.get(i).documented_switch]
    matches = documented_matches(case, dtype, device, judged, switchable, weights, x, state0, view, upstream,
                                 names, judged_seen, judged_grads, tol)
    record["documented_match"] = matches
    if matches:
        record["hint"] = ("it computes what the documentation says where the reference departs from it: "
                          + "; ".join(departures.finding(i) for i in matches))
    else:
        record["hint"] = ("the reference departs from its documentation in this case ("
                          + ", ".join(applying) + "): an implementation of the documented behaviour fails here")
def _note_non_finite(record: dict) -> None:
    """A finding for values that are not finite on both sides alike (the case drives both
    implementations out of range: compared as equal, but worth knowing)."""
    where = [name for section in ("forward", "stepwise") for name, d in record[section].items() if d.get("non_finite")]
    where += [f"gradient of {name}" for name, d in record["backward"].items() if d.get("non_finite")]
    if where:
        record["findings"].append("non-finite values (NaN or infinite), the same in both implementations, in "
                                  + ", ".join(dict.fromkeys(where)) + ": compared as equal")


def _why_not(judged: Implementation) -> str:
    return {"cell": "not returned by the call", "sequence": "the call returns only the spikes",
            "sinabs": "not held by the module after the call"}.get(judged.spec.call, "not exposed")


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
            record["reason"] = ((("equal step by step; " if stepwise else "not checked step by step; ")
                                 + f"{record['borderline_flips']} borderline spike flip(s) "
                                 f"from step {first_borderline} on make the free run ")
                                + ("and gradients " if bad_grads else "") + "diverge")
