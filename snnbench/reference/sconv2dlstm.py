"""snntorch.SConv2dLSTM adapter: builds the reference and ours with the same weights, runs both."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from snnbench import inputs
from snnbench.cases import Case, thaw
from snnbench.neurons.sconv2dlstm import SConv2dLSTM
from snnbench.reference import snntorch_options
from snnbench.reference.base import Adapter, Pair, Trace, run_reference_guarded

SIZE_KEYS = ("kernel_size", "max_pool", "avg_pool")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _size(value):
    """A case's int or [h, w] size as the constructor takes it (an int, or a tuple of ints)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


class SConv2dLSTMAdapter(Adapter):
    neuron = "sconv2dlstm"
    library = "snntorch"
    reference_path = "snntorch.SConv2dLSTM"
    description = "spiking convolutional LSTM cell (syn = cell state, mem = hidden state)"
    state_fields = ("syn", "mem")
    weight_map = {
        "conv_weight": "conv.weight",
        "conv_bias": "conv.bias",
        "threshold": "threshold",
    }

    # ---- checking a case -------------------------------------------------------------------
    def validate_params(self, case: Case) -> None:
        p = case.params
        for key in ("in_channels", "out_channels"):
            if not _is_int(p[key]) or p[key] < 1:
                raise case.error(f"params.{key}", f"must be a positive integer, got {p[key]!r}")
        kernel = self._pair(case, "kernel_size", p["kernel_size"])
        if any(k < 1 for k in kernel):
            raise case.error("params.kernel_size", f"must be positive, got {thaw(p['kernel_size'])!r}")
        if any(k % 2 == 0 for k in kernel):
            raise case.error("params.kernel_size", "even kernel sizes change the spatial size (padding k // 2) "
                                                   "and crash the reference on its first step")
        if len(case.sample_shape) != 3 or case.sample_shape[0] != p["in_channels"]:
            raise case.error("sample_shape", f"must be [{p['in_channels']}, H, W] (in_channels, height, "
                                             f"width) for sconv2dlstm, got {list(case.sample_shape)}")
        height, width = case.sample_shape[1:]
        pools = [key for key in ("max_pool", "avg_pool") if p.get(key, 0)]
        if len(pools) == 2:
            raise case.error("params.avg_pool", "only one of max_pool and avg_pool may be set")
        for key in pools:
            size = self._pair(case, key, p[key])
            if any(s < 1 for s in size):
                raise case.error(f"params.{key}", f"must be positive, got {thaw(p[key])!r}")
            if height % size[0] or width % size[1]:
                raise case.error(f"params.{key}", f"pool size {thaw(p[key])!r} must divide the image size "
                                                  f"{height}x{width}")
        reset = p.get("reset_mechanism", "none")
        if reset not in ("subtract", "zero", "none"):
            raise case.error("params.reset_mechanism", f"must be 'subtract', 'zero' or 'none', got {reset!r}")
        threshold = p.get("threshold", 1.0)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise case.error("params.threshold", "must be a number (a list would broadcast over the "
                                                 "image's last axis W in the reference, not over channels)")
        for key, value in p.items():
            snntorch_options.validate(case, key, value)

    @staticmethod
    def _pair(case: Case, key: str, value) -> tuple[int, int]:
        if _is_int(value):
            return value, value
        if isinstance(value, tuple) and len(value) == 2 and all(_is_int(v) for v in value):
            return value
        raise case.error(f"params.{key}", f"must be an integer or a list of two integers, got {thaw(value)!r}")

    def findings(self, case: Case) -> list[str]:
        p = case.params
        notes = ["gates are split in the order i, f, o, g (nn.LSTMCell's order is i, f, g, o)"]
        for key in ("max_pool", "avg_pool"):
            if p.get(key, 0) and p.get("reset_mechanism", "none") != "none":
                notes.append(f"with {key} the reset comes from the unpooled mem but spikes from the pooled "
                             f"mem: neurons are reset without an emitted spike, and spikes do not reset")
        if p.get("inhibition"):
            notes.append("reference ignores inhibition=True (fire() never applies it)")
        if p.get("reset_mechanism", "none") == "zero":
            notes.append("reset 'zero' resets mem only (syn is never reset); the reference runs the "
                         "convolution twice")
        if self._float32_threshold_grad(case):
            notes.append("in float64 runs the reference's reset signal is float32, so reset * threshold and the "
                         "threshold's gradient through it are computed in float32 (judged at float32 tolerance)")
        if p.get("state_quant"):
            notes.append("state_quant returns float32 syn and mem (its levels are float32) in float64 runs")
        threshold = p.get("threshold", 1.0)
        if isinstance(threshold, (int, float)) and threshold >= 1.0:
            notes.append("mem = o*tanh(c) < 1, so a threshold >= 1 can never be crossed")
        return notes

    def _float32_threshold_grad(self, case: Case) -> bool:
        return bool(case.params.get("learn_threshold")) and case.params.get("reset_mechanism") == "subtract"

    def gradient_precision(self, case: Case, dtype: str) -> dict[str, str]:
        return {"threshold": "float32"} if dtype == "float64" and self._float32_threshold_grad(case) else {}

    # ---- building and running --------------------------------------------------------------
    def build(self, case: Case, dtype: torch.dtype, device: str) -> Pair:
        params = thaw(case.params)
        for key in SIZE_KEYS:
            if key in params:
                params[key] = _size(params[key])
        ref_kwargs, our_kwargs = snntorch_options.split_kwargs(params)
        torch.manual_seed(case.seed * 4 + inputs.WEIGHTS)
        reference = self.reference_class()(**ref_kwargs)
        native = SConv2dLSTM(**our_kwargs)
        pair = Pair(reference.to(device=device, dtype=dtype), native.to(device=device, dtype=dtype))
        self.copy_weights(pair)
        return pair

    def cleanup(self, pair: Pair) -> None:
        snntorch_options.clear_instances()

    def initial_state(self, case: Case, dtype, device) -> dict:
        gen = inputs.generator(case, inputs.STATE)
        shape = (case.batch, case.params["out_channels"], *case.sample_shape[1:])
        return {"syn": inputs.make_state(case, shape, dtype, device, gen),
                "mem": inputs.make_state(case, shape, dtype, device, gen)}

    def run_reference(self, reference, x: torch.Tensor, state0: dict) -> Trace:
        return run_reference_guarded(self._run_reference, reference, x, state0)

    def _run_reference(self, reference, x, state0) -> Trace:
        spikes, syns, mems = [], [], []
        if reference.init_hidden:
            reference.syn, reference.mem = state0["syn"], state0["mem"]
            syn = mem = None
        else:
            syn, mem = state0["syn"], state0["mem"]
        for t in range(x.shape[0]):
            if reference.init_hidden:
                reference(x[t])
            else:
                _, syn, mem = reference(x[t], syn, mem)
            # The states the module itself holds after the step: what the next step will read.
            spikes.append(reference.spk)
            syns.append(reference.syn)
            mems.append(reference.mem)
        return {"spk": torch.stack(spikes), "syn": torch.stack(syns), "mem": torch.stack(mems)}

    def run_native(self, native, x: torch.Tensor, state0: dict) -> Trace:
        spk, syn, mem = native.sequence(x, state0["syn"], state0["mem"])
        return {"spk": spk, "syn": syn, "mem": mem}

    def step_native(self, native, x_t, previous) -> Trace:
        native.syn, native.mem = previous["syn"], previous["mem"]
        init_hidden, native.init_hidden = native.init_hidden, False
        try:
            spk, syn, mem = native(x_t)
        finally:
            native.init_hidden = init_hidden
        return {"spk": spk, "syn": syn, "mem": mem}

    def margin(self, pair: Pair, trace: Trace) -> torch.Tensor:
        """What the reference fires on, minus its threshold, shaped like the spikes: with pooling
        that is the pooled mem (quantised once more with state_quant), not mem itself."""
        reference = pair.reference
        mem = trace["mem"].detach()
        fired = mem.reshape(-1, *mem.shape[2:])
        if reference.max_pool:
            fired = F.max_pool2d(fired, reference.max_pool)
        elif reference.avg_pool:
            fired = F.avg_pool2d(fired, reference.avg_pool)
        if reference.state_quant:
            fired = reference.state_quant(fired)
        fired = fired.reshape(*mem.shape[:2], *fired.shape[1:])
        return fired - reference.threshold.detach()
