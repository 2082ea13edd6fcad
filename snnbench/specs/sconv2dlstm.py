"""snntorch.SConv2dLSTM as a specification: fields, parameters, case checks, speed of light."""

from __future__ import annotations

from snnbench.bench.sol import Conv, convs
from snnbench.cases import Case, thaw
from snnbench.specs.snntorch_cell import SnntorchCellSpec

SIZE_KEYS = ("kernel_size", "max_pool", "avg_pool")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _size(value):
    """A case's int or [h, w] size as the constructor takes it (an int, or a tuple of ints)."""
    return tuple(value) if isinstance(value, (list, tuple)) else value


class SConv2dLSTMSpec(SnntorchCellSpec):
    name = "sconv2dlstm"
    reference_path = "snntorch.SConv2dLSTM"
    description = "spiking convolutional LSTM cell (syn = cell state, mem = hidden state)"
    parameters = {
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
            if size[0] > height or size[1] > width:
                raise case.error(f"params.{key}", f"pool size {thaw(p[key])!r} is larger than the image "
                                                  f"{height}x{width} (no pooled output)")
        threshold = p.get("threshold", 1.0)
        if isinstance(threshold, tuple) and len(threshold) == 1:
            threshold = threshold[0]
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise case.error("params.threshold", "must be a number or a one-element list (a longer list would "
                                                 "broadcast over the image's last axis W in the reference, not over "
                                                 "channels)")
        self.validate_common(case)

    @staticmethod
    def _pair(case: Case, key: str, value) -> tuple[int, int]:
        if _is_int(value):
            return value, value
        if isinstance(value, tuple) and len(value) == 2 and all(_is_int(v) for v in value):
            return value
        raise case.error(f"params.{key}", f"must be an integer or a list of two integers, got {thaw(value)!r}")

    def departures(self, case: Case) -> list[str]:
        p = case.params
        ids = ["sconv2dlstm-gate-order"]
        if any(p.get(key, 0) for key in ("max_pool", "avg_pool")) and p.get("reset_mechanism", "none") != "none":
            ids.append("sconv2dlstm-pool-decouples-reset")
        return ids + super().departures(case)

    def notes(self, case: Case) -> list[str]:
        p = case.params
        notes = []
        height, width = case.sample_shape[1:]
        for key in ("max_pool", "avg_pool"):
            size = p.get(key, 0)
            if size and any(n % k for n, k in zip((height, width), self._pair(case, key, size))):
                notes.append(f"{key} {thaw(size)!r} does not divide the image {height}x{width}: the pooling floors "
                             "(the last rows or columns never reach a spike)")
        if p.get("state_quant"):
            notes.append("state_quant returns float32 syn and mem (its levels are float32) in float64 runs, so "
                         "every gradient carries float32 rounding (judged at float32 tolerance)"
                         + ("; with reset 'zero' the reference's two convolutions of a step are rounded "
                            "separately" if p.get("reset_mechanism") == "zero" else ""))
        threshold = p.get("threshold", 1.0)
        if isinstance(threshold, (int, float)) and threshold >= 1.0:
            notes.append("mem = o*tanh(c) < 1, so a threshold >= 1 can never be crossed")
        return notes + super().notes(case)

    def plain_params(self, case: Case) -> dict:
        params = thaw(case.params)
        for key in SIZE_KEYS:
            if key in params:
                params[key] = _size(params[key])
        return params

    def footprint(self, case: Case) -> tuple[int, int]:
        """Input, spk, syn and mem, the four gates and the convolution's input [x_t, mem] per step
        and item; the convolution's weights."""
        p = case.params
        c_in, c_out = p["in_channels"], p["out_channels"]
        kh, kw = self._pair(case, "kernel_size", p["kernel_size"])
        pixels = case.sample_shape[1] * case.sample_shape[2]
        return pixels * (c_in + 3 * c_out + 4 * c_out + c_in + c_out), 4 * c_out * ((c_in + c_out) * kh * kw + 1)

    def state_shape(self, case: Case) -> tuple[int, ...]:
        return (case.batch, case.params["out_channels"], *case.sample_shape[1:])

    def speed_of_light(self, case: Case, dtype, device, mode: str = "forward"):
        """The convolutions no SConv2dLSTM can avoid: each step's ``W * [x_t, mem_{t-1}]``, B frames
        of (C_in + C) -> 4C channels, once per step (mem_{t-1} is only known after the previous
        step). The same multiply-adds can be split into an input conv over all T x B frames and a
        recurrent C -> 4C conv per step; at the bench case's shapes that split was measured slower
        (its 2 -> 4C conv writes a (T, B, 4C, H, W) result and runs far below the machine's rate),
        so the bound is the per-step conv. Train mode adds the backward: the input grad of each
        step's conv (it carries d mem back a step and gives d x), and one weight grad over all
        T x B frames (the weight gradient is a sum over steps, so it need not be taken per step):
        three times the forward multiply-adds. Timed in the faster memory layout (see sol.convs)."""

        p = case.params
        kh, kw = self._pair(case, "kernel_size", p["kernel_size"])
        c_in, c_out = p["in_channels"] + p["out_channels"], 4 * p["out_channels"]
        height, width = case.sample_shape[1:]
        steps, batch = case.steps, case.batch
        products = [Conv(batch, c_in, c_out, height, width, kh, kw, "forward", repeat=steps)]
        if mode == "train":
            products += [Conv(batch, c_in, c_out, height, width, kh, kw, "input_grad", repeat=steps),
                         Conv(steps * batch, c_in, c_out, height, width, kh, kw, "weight_grad")]
        return convs(products, dtype, device, what=mode)


SPEC = SConv2dLSTMSpec()
