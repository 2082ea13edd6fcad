"""sinabs.layers.ALIF and ALIFRecurrent as specifications: fields, parameters, case checks,
initial state, speed of light.

Both are called sinabs' way: one batch-first call over the whole sequence, ``spikes = m(x)`` with x
(B, T, ...), the state (v_mem, b, spike_threshold; i_syn restarts) held in the module between
calls. The traced fields, time-major: spikes, v_mem, i_syn (the synaptic current; without tau_syn
the step's normalised input current, which sinabs keeps in the same slot), b, spike_threshold (the
threshold after the step, b0 + adapt_scale * b).
"""

from __future__ import annotations

import importlib
import math
from dataclasses import fields as dataclass_fields
from typing import Any, Mapping

import torch

from snnbench import inputs
from snnbench.bench import sol
from snnbench.bench.sol import MatMul
from snnbench.cases import Case, thaw
from snnbench.neurons import alif as native_alif
from snnbench.neurons import sinabs_functions
from snnbench.specs.base import SINABS, NeuronSpec, Trace

TAUS = ("tau_mem", "tau_adapt", "tau_syn")
FLAGS = ("train_alphas", "norm_input", "record_states")
OPTION_TABLES = {
    "spike_fn": sinabs_functions.SPIKE_FNS,
    "reset_fn": sinabs_functions.RESETS,
    "surrogate_grad_fn": sinabs_functions.SURROGATES,
}
REC_KEYS = {
    "Linear": {"bias", "in_features", "out_features"},
    "Conv2d": {"bias", "in_channels", "out_channels", "kernel_size", "padding", "stride", "dilation", "groups"},
}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _two(value) -> tuple[int, int]:
    """A Conv2d size as (height, width): an int for both, or a pair."""
    return tuple(value) if isinstance(value, (tuple, list)) else (value, value)


def _number_or_list(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(_number_or_list(v) for v in value)


def _contains_int(value) -> bool:
    if isinstance(value, (list, tuple)):
        return False   # lists become float32 tensors
    return isinstance(value, int) and not isinstance(value, bool)


def _values(value) -> list[float]:
    if isinstance(value, (list, tuple)):
        return [x for v in value for x in _values(v)]
    return [float(value)]


def _shape_of(value) -> tuple[int, ...]:
    return tuple(torch.tensor(thaw(value), dtype=torch.float64).shape)


class ALIFSpec(NeuronSpec):
    name = "alif"
    library = "sinabs"
    reference_path = "sinabs.layers.ALIF"
    description = "adaptive LIF (b = threshold adaptation, spike_threshold = b0 + adapt_scale*b)"
    spike_field = "spikes"
    state_fields = ("v_mem", "i_syn", "b", "spike_threshold")
    call = SINABS
    parameters = {
        "tau_mem": "tau_mem", "tau_adapt": "tau_adapt", "tau_syn": "tau_syn",
        "alpha_mem": "alpha_mem", "alpha_adapt": "alpha_adapt", "alpha_syn": "alpha_syn",
    }
    recurrent = False

    # ---- checking a case -----------------------------------------------------------------------
    def validate_params(self, case: Case) -> None:
        p = case.params
        if len(case.sample_shape) not in (1, 3):
            raise case.error("sample_shape", "sinabs ALIF takes (B, T, C) or (B, T, C, H, W) input: give "
                             f"[C] or [C, H, W], got {list(case.sample_shape)}")
        if "shape" in p:
            raise case.error("params.shape", "set from the case's batch and sample_shape; leave it out")
        train_alphas = p.get("train_alphas", False)
        full = (case.batch, *case.sample_shape)
        for key in TAUS:
            if key not in p:
                continue
            value = p[key]
            if not _number_or_list(value):
                raise case.error(f"params.{key}", f"must be a number or a list of numbers, got {value!r}")
            if _contains_int(value) and not train_alphas:
                raise case.error(f"params.{key}", f"integer {value!r}: the reference raises (nn.Parameter of an "
                                 f"integer tensor: 'Only Tensors of floating point and complex dtype can "
                                 f"require gradients'); write {float(value)}")
            if any(v <= 0 for v in _values(value)):
                raise case.error(f"params.{key}", f"time constants must be positive, got {thaw(value)!r}")
            if isinstance(value, tuple):
                try:
                    if torch.broadcast_shapes(_shape_of(value), full) != full:
                        raise RuntimeError
                except RuntimeError:
                    raise case.error(f"params.{key}", f"shape {list(_shape_of(value))} does not broadcast to the "
                                     f"state shape (batch, *sample_shape) = {list(full)}") from None
        tau_syn = p.get("tau_syn")
        if isinstance(tau_syn, tuple) and len(_values(tau_syn)) > 1 and not train_alphas:
            raise case.error("params.tau_syn", "a multi-element tau_syn makes the reference raise ('Boolean value "
                             "of Tensor with more than one value is ambiguous': it tests `if tau_syn`); "
                             "use one value or train_alphas = true")
        for key in ("adapt_scale", "spike_threshold"):
            if key in p and not _number_or_list(p[key]):
                raise case.error(f"params.{key}", f"must be a number or a list of numbers, got {p[key]!r}")
            if key in p and isinstance(p[key], tuple):
                try:
                    torch.broadcast_shapes(_shape_of(p[key]), full)
                except RuntimeError:
                    raise case.error(f"params.{key}", f"shape {list(_shape_of(p[key]))} does not broadcast to "
                                     f"{list(full)}") from None
        if "spike_threshold" in p and any(v <= 0 for v in _values(p["spike_threshold"])):
            raise case.error("params.spike_threshold", "must be positive (the spike functions divide by it)")
        if "min_v_mem" in p and (isinstance(p["min_v_mem"], bool) or not isinstance(p["min_v_mem"], (int, float))):
            raise case.error("params.min_v_mem", f"must be a number, got {p['min_v_mem']!r}")
        for key in FLAGS:
            if key in p and not isinstance(p[key], bool):
                raise case.error(f"params.{key}", f"must be true or false, got {p[key]!r}")
        for key, table in OPTION_TABLES.items():
            if key in p:
                self._check_option(case, key, p[key], table)

    def _check_option(self, case: Case, key: str, spec: Any, table: Mapping[str, Any]) -> None:
        if not isinstance(spec, Mapping) or not isinstance(spec.get("type"), str):
            raise case.error(f"params.{key}", f"must be a table with a 'type' ({', '.join(table)})")
        kind = spec["type"]
        if kind not in table:
            raise case.error(f"params.{key}.type", f"unknown '{kind}' (known: {', '.join(table)})")
        cls = table[kind]
        known = ({f.name for f in dataclass_fields(cls) if not f.metadata.get("documented")}
                 if hasattr(cls, "__dataclass_fields__") else set())
        for arg, value in spec.items():
            if arg == "type":
                continue
            if arg not in known:
                raise case.error(f"params.{key}.{arg}", f"{kind} takes no '{arg}'"
                                 + (f" (it takes: {', '.join(sorted(known))})" if known else " (it takes nothing)"))
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise case.error(f"params.{key}.{arg}", f"must be a number, got {value!r}")

    # ---- what the case means -------------------------------------------------------------------
    def departures(self, case: Case) -> list[str]:
        p = case.params
        ids = []
        reset = p.get("reset_fn", {"type": "MembraneSubtract"})
        if reset["type"] == "MembraneSubtract" and reset.get("subtract_value") is None:
            ids.append("alif-membrane-subtract-adaptive")
        if reset["type"] == "MembraneReset" and reset.get("reset_value", 0.0) != 0:
            ids.append("membrane-reset-adds-everywhere")
        ids.append("alif-b-not-zeroed")
        if p.get("spike_fn", {"type": "SingleSpike"})["type"] == "SingleSpike":
            ids.append("singlespike-fires-at-equal")
        ids.append("spike-fn-no-threshold-grad")
        if p.get("surrogate_grad_fn", {}).get("type") == "Heaviside":
            ids.append("heaviside-window-absolute")
        if p.get("tau_syn") is not None:
            ids += ["alif-synaptic-formula", "alif-isyn-not-persisted"]
            if p.get("norm_input", True):
                ids.append("alif-norm-input-writeback")
        if self.recurrent:
            ids.append("alifrecurrent-rec-term-restarts")
        if p.get("record_states"):
            ids.append("alif-record-states-shift")
        if p.get("train_alphas"):
            ids.append("alif-repr-detaches-alphas")
        ids.append("alifrecurrent-float64-fails" if self.recurrent else "alif-float64-float32-spikes")
        return ids

    def notes(self, case: Case) -> list[str]:
        p = case.params
        notes = []
        if not p.get("train_alphas"):
            notes.append("the taus are trainable parameters by default (their gradients are compared)")
        if len(case.sample_shape) == 3 and any(isinstance(p.get(k), tuple) and len(_shape_of(p[k])) == 1
                                               for k in (*TAUS, "adapt_scale", "spike_threshold")):
            notes.append("a 1-D per-neuron list on (C, H, W) input broadcasts over the last axis (W), not the "
                         "channels")
        return notes

    # ---- constructor arguments and state -------------------------------------------------------
    def constructor_kwargs(self, case: Case, device: str, ours: bool, documented=frozenset()) -> dict[str, Any]:
        sinabs_activation = None if ours else importlib.import_module("sinabs.activation")
        out: dict[str, Any] = {}
        for key, value in thaw(case.params).items():
            if key in OPTION_TABLES:
                kind = value["type"]
                args = {k: v for k, v in value.items() if k != "type"}
                cls = OPTION_TABLES[key][kind] if ours else getattr(sinabs_activation, kind)
                out[key] = cls if kind in ("SingleSpike", "MultiSpike") else cls(**args)
            elif key == "rec_connect":
                out[key] = self._rec_connect(case, value, ours)
            elif isinstance(value, list):
                tensor = torch.tensor(value, dtype=torch.float32)
                out[key] = tensor if key in TAUS else tensor.to(device)
            else:
                out[key] = value
        return out

    def _rec_connect(self, case: Case, spec: dict, ours: bool):
        raise NotImplementedError      # ALIF has no recurrent connection; ALIFRecurrent builds it

    def initial_state(self, case: Case, dtype, device) -> dict:
        gen = inputs.generator(case, inputs.STATE)
        shape = (case.batch, *case.sample_shape)
        v_mem = inputs.make_state(case, shape, dtype, device, gen)
        i_syn = inputs.make_state(case, shape, dtype, device, gen)
        b = inputs.make_state(case, shape, dtype, device, gen, low=0.0, high=0.5)
        p = tensor_or_float(case.params.get("spike_threshold", 1.0), device)
        scale = tensor_or_float(case.params.get("adapt_scale", 1.8), device)
        return {"v_mem": v_mem, "i_syn": i_syn, "b": b, "spike_threshold": (p + scale * b).to(dtype)}

    def state_before(self, trace: Trace, state0: dict, t: int) -> dict[str, torch.Tensor]:
        state = super().state_before(trace, state0, t)
        if t > 0:
            state["spikes"] = trace["spikes"][t - 1]
        return state


class ALIFRecurrentSpec(ALIFSpec):
    name = "alifrecurrent"
    reference_path = "sinabs.layers.ALIFRecurrent"
    description = "adaptive LIF with a recurrent connection (Linear or Conv2d) added to the next step's input"
    parameters = {**ALIFSpec.parameters, "rec_weight": "rec_connect.weight", "rec_bias": "rec_connect.bias"}
    recurrent = True

    def validate_params(self, case: Case) -> None:
        super().validate_params(case)
        spec = case.params["rec_connect"]
        if not isinstance(spec, Mapping) or spec.get("type") not in REC_KEYS:
            raise case.error("params.rec_connect", "must be a table with type = \"Linear\" or \"Conv2d\"")
        kind = spec["type"]
        for key, value in spec.items():
            if key == "type":
                continue
            if key not in REC_KEYS[kind]:
                raise case.error(f"params.rec_connect.{key}", f"{kind} here takes: {', '.join(sorted(REC_KEYS[kind]))}")
            if key == "bias":
                if not isinstance(value, bool):
                    raise case.error("params.rec_connect.bias", f"must be true or false, got {value!r}")
                continue
            least = 0 if key == "padding" else 1
            pair = key in ("kernel_size", "padding", "stride", "dilation")
            values = value if pair and isinstance(value, tuple) and len(value) == 2 else (value,)
            if not all(_is_int(v) and v >= least for v in values):
                raise case.error(f"params.rec_connect.{key}", f"must be a {'non-negative' if least == 0 else 'positive'} "
                                 f"integer" + (" or a list of two" if pair else "") + f", got {thaw(value)!r}")
        args = self._rec_args(case, thaw(spec))
        shape = case.sample_shape
        if kind == "Linear":
            if args["in_features"] != shape[-1]:
                raise case.error("params.rec_connect.in_features", f"the Linear recurrence reads the last axis of the "
                                 f"sample_shape {list(shape)}: in_features must be {shape[-1]}, got {args['in_features']}")
            if args["out_features"] != args["in_features"]:
                raise case.error("params.rec_connect.out_features", "the recurrent output is reshaped to the sample "
                                 f"shape: out_features must equal in_features ({args['in_features']})")
            return
        if len(shape) != 3:
            raise case.error("sample_shape", f"a Conv2d recurrence needs sample_shape [C, H, W], got {list(shape)}")
        if args["in_channels"] != shape[0] or args["out_channels"] != shape[0]:
            raise case.error("params.rec_connect", f"in_channels and out_channels must be the sample's channels "
                             f"({shape[0]}), got {args['in_channels']} and {args['out_channels']}")
        groups = args.get("groups", 1)
        if shape[0] % groups:
            raise case.error("params.rec_connect.groups", f"must divide the channels ({shape[0]}), got {groups}")
        k, pad, stride, dil = (_two(args.get(key, default)) for key, default in
                               (("kernel_size", 1), ("padding", 0), ("stride", 1), ("dilation", 1)))
        out_hw = [(n + 2 * p - d * (kk - 1) - 1) // st + 1 for n, kk, p, st, d in zip(shape[1:], k, pad, stride, dil)]
        if out_hw != list(shape[1:]):
            raise case.error("params.rec_connect", f"the convolution maps {list(shape[1:])} to {out_hw}; the recurrent "
                             f"output must keep the sample shape (e.g. padding = {[d * (kk - 1) // 2 for kk, d in zip(k, dil)]}"
                             " with stride 1)")

    @staticmethod
    def _rec_args(case: Case, spec: dict) -> dict:
        args = {k: v for k, v in spec.items() if k != "type"}
        if spec["type"] == "Linear":
            args.setdefault("in_features", case.sample_shape[-1])
            args.setdefault("out_features", args["in_features"])
        else:
            if "kernel_size" not in args:
                raise case.error("params.rec_connect.kernel_size", "missing (required by Conv2d)")
            args.setdefault("in_channels", case.sample_shape[0])
            args.setdefault("out_channels", args["in_channels"])
        return args

    def speed_of_light(self, case: Case, dtype, device, mode: str = "forward"):
        """What no ALIFRecurrent can avoid: the recurrent product R(s_{t-1}) at every step but the
        first (T - 1 products, sequential: each needs the previous step's spikes), plus the
        elementwise state traffic (the input and the five output fields, as in the default bound).

        Linear over the last axis (n features, ``rows`` = batch x the other sample axes): a
        (rows, n) @ (n, n) product per step. Conv2d: the same FLOPs as its im2col product,
        (B*H*W, C_in*k*k) @ (C_in*k*k, C_out) per step. Train mode adds the backward products: the
        gradient into the previous spikes, one more such product per step, and the weight
        gradient, one product over all steps ((n, (T-1)*rows) @ ((T-1)*rows, n)); the state bytes are
        read and written again by the backward pass (two passes).
        """

        products = self._recurrent_products(case, mode)
        numel = case.steps * case.batch * math.prod(case.sample_shape) * (1 + len(self.fields))
        passes = 2 if mode == "train" else 1
        matmul = sol.matmuls(products, dtype, device)
        copy = sol.copy_bytes(numel, dtype, device, passes=passes)

        def run() -> None:
            matmul()
            copy()

        return sol.Work(run, f"{mode}: {matmul.description} + state bytes: {copy.description}",
                        flops=matmul.flops, bytes_moved=copy.bytes_moved)

    def footprint(self, case: Case) -> tuple[int, int]:
        """The default (input and every field) plus the recurrent term per step and item; the
        connection's weights."""
        elements, _ = super().footprint(case)
        args = self._rec_args(case, thaw(case.params["rec_connect"]))
        if case.params["rec_connect"]["type"] == "Linear":
            weights = args["in_features"] * args["out_features"]
        else:
            kernel = args["kernel_size"]
            kk = kernel * kernel if isinstance(kernel, int) else math.prod(kernel)
            weights = args["in_channels"] * args["out_channels"] * kk
        return elements + math.prod(case.sample_shape), weights + math.prod(case.sample_shape)

    def _recurrent_products(self, case: Case, mode: str) -> list:
        spec = thaw(case.params["rec_connect"])
        args = self._rec_args(case, spec)
        steps = case.steps - 1          # the first step has no recurrent term
        if steps <= 0:
            return []
        if spec["type"] == "Linear":
            rows, k, n = case.batch * math.prod(case.sample_shape[:-1]), args["in_features"], args["out_features"]
        else:
            kk = math.prod(_two(args["kernel_size"]))
            rows = case.batch * math.prod(case.sample_shape[1:])
            k, n = args["in_channels"] // args.get("groups", 1) * kk, args["out_channels"]
        products = [MatMul(rows, k, n, repeat=steps)]
        if mode == "train":
            products += [MatMul(rows, n, k, repeat=steps), MatMul(n, steps * rows, k)]
        return products

    def _rec_connect(self, case: Case, spec: dict, ours: bool):
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in self._rec_args(case, spec).items()}
        if ours:
            return (native_alif.LinearConnect if spec["type"] == "Linear" else native_alif.Conv2dConnect)(**args)
        return getattr(torch.nn, spec["type"])(**args)


def tensor_or_float(value, device):
    if isinstance(value, (list, tuple)):
        return torch.tensor(thaw(value), dtype=torch.float32, device=device)
    return float(value)


ALIF_SPEC = ALIFSpec()
ALIF_RECURRENT_SPEC = ALIFRecurrentSpec()
