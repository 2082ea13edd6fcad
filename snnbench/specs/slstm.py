"""snntorch.SLSTM as a specification: fields, parameters, case checks, speed of light."""

from __future__ import annotations

from snnbench import departures
from snnbench.bench.sol import MatMul, matmuls
from snnbench.cases import Case
from snnbench.specs.snntorch_cell import SnntorchCellSpec


class SLSTMSpec(SnntorchCellSpec):
    name = "slstm"
    reference_path = "snntorch.SLSTM"
    description = "spiking LSTM cell (syn = cell state, mem = hidden state)"
    parameters = {
        "weight_ih": "lstm_cell.weight_ih",
        "weight_hh": "lstm_cell.weight_hh",
        "bias_ih": "lstm_cell.bias_ih",
        "bias_hh": "lstm_cell.bias_hh",
        "threshold": "threshold",
    }

    def validate_params(self, case: Case) -> None:
        p = case.params
        for key in ("input_size", "hidden_size"):
            if not isinstance(p[key], int) or isinstance(p[key], bool) or p[key] < 1:
                raise case.error(f"params.{key}", f"must be a positive integer, got {p[key]!r}")
        if case.sample_shape != (p["input_size"],):
            raise case.error("sample_shape", f"must be [{p['input_size']}] (input_size) for slstm, "
                             f"got {list(case.sample_shape)}")
        threshold = p.get("threshold", 1.0)
        if isinstance(threshold, tuple) and len(threshold) not in (1, p["hidden_size"]):
            raise case.error("params.threshold", f"a list threshold needs 1 or hidden_size "
                             f"({p['hidden_size']}) values, got {len(threshold)}")
        self.validate_common(case)

    def footprint(self, case: Case) -> tuple[int, int]:
        """Input, spk, syn and mem, and the four gates per step and item; the LSTM cell's weights."""
        inp, hid = case.params["input_size"], case.params["hidden_size"]
        return inp + 3 * hid + 4 * hid, 4 * hid * (inp + hid + 2) + hid

    def state_shape(self, case: Case) -> tuple[int, ...]:
        return case.batch, case.params["hidden_size"]

    def zeroes_state(self, case: Case) -> bool:
        """Whether the reference zeroes the state every call here (its probe decides whether the
        installed release does it at all)."""

        p = case.params
        return p["input_size"] != p["hidden_size"] and departures.holds("slstm-state-zeroing") is not False

    def departures(self, case: Case) -> list[str]:
        p = case.params
        ids = ["slstm-state-zeroing"] if p["input_size"] != p["hidden_size"] else []
        threshold = p.get("threshold", 1.0)
        if isinstance(threshold, (int, float)) and threshold >= 1.0:
            ids.append("slstm-default-threshold-unreachable")
        return ids + super().departures(case)

    def notes(self, case: Case) -> list[str]:
        notes = super().notes(case)
        if case.params.get("state_quant"):
            notes.append("state_quant returns float32 syn and mem, so the reference cannot run float64 even with "
                         "input_size == hidden_size (its next LSTMCell step raises on the dtype mismatch); a "
                         "single step runs, its gradients carrying float32 rounding (judged at float32 tolerance)")
        return notes

    def speed_of_light(self, case: Case, dtype, device, mode: str = "forward"):
        """The matmuls no SLSTM can avoid: the input projection (T*B, I) @ (I, 4H) and, when the
        state carries, one recurrent (B, H) @ (H, 4H) per step. Where the reference zeroes the state
        every step (input_size != hidden_size, in releases that show ``slstm-state-zeroing``),
        W_hh @ 0 is no work. Train mode adds the backward products: d(input) and d(W_ih) of the projection, and
        d(mem) per step plus one d(W_hh) over all steps: about three times the forward."""

        p = case.params
        rows, inp, hid = case.steps * case.batch, p["input_size"], p["hidden_size"]
        recurrent = not self.zeroes_state(case)
        products = [MatMul(rows, inp, 4 * hid)]
        if recurrent:
            products.append(MatMul(case.batch, hid, 4 * hid, repeat=case.steps))
        if mode == "train":
            products += [MatMul(rows, 4 * hid, inp), MatMul(4 * hid, rows, inp)]
            if recurrent:
                products += [MatMul(case.batch, 4 * hid, hid, repeat=case.steps), MatMul(4 * hid, rows, hid)]
        return matmuls(products, dtype, device, what=mode)


SPEC = SLSTMSpec()
