"""snntorch.SLSTM adapter: builds the reference and ours with the same weights, runs both."""

from __future__ import annotations

import torch

from snnbench import inputs
from snnbench.cases import Case
from snnbench.neurons.slstm import SLSTM
from snnbench.reference import snntorch_options
from snnbench.reference.base import Adapter, Pair, Trace, run_reference_guarded, tensor_params


class SLSTMAdapter(Adapter):
    neuron = "slstm"
    library = "snntorch"
    reference_path = "snntorch.SLSTM"
    description = "spiking LSTM cell (syn = cell state, mem = hidden state)"
    state_fields = ("syn", "mem")
    weight_map = {
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
        reset = p.get("reset_mechanism", "none")
        if reset not in ("subtract", "zero", "none"):
            raise case.error("params.reset_mechanism", f"must be 'subtract', 'zero' or 'none', got {reset!r}")
        threshold = p.get("threshold", 1.0)
        if isinstance(threshold, tuple) and len(threshold) not in (1, p["hidden_size"]):
            raise case.error("params.threshold", f"a list threshold needs 1 or hidden_size "
                             f"({p['hidden_size']}) values, got {len(threshold)}")
        for key, value in p.items():
            snntorch_options.validate(case, key, value)

    def findings(self, case: Case) -> list[str]:
        p = case.params
        notes = []
        if p["input_size"] != p["hidden_size"]:
            notes.append("reference zeroes syn and mem on every call because input_size != hidden_size "
                         "(it compares the state's shape with the input's): no recurrence, no reset")
        if p.get("inhibition"):
            notes.append("reference ignores inhibition=True (it only warns)")
        if p.get("reset_mechanism", "none") == "zero":
            notes.append("reset 'zero' resets mem only (syn is never reset); the reference runs the LSTM cell twice")
        if self._float32_threshold_grad(case):
            notes.append("in float64 runs the reference's reset signal is float32, so reset * threshold and the "
                         "threshold's gradient through it are computed in float32 (judged at float32 tolerance)")
        threshold = p.get("threshold", 1.0)
        if isinstance(threshold, (int, float)) and threshold >= 1.0:
            notes.append("mem = o*tanh(c) < 1, so a threshold >= 1 can never be crossed")
        return notes

    def _float32_threshold_grad(self, case: Case) -> bool:
        return bool(case.params.get("learn_threshold")) and case.params.get("reset_mechanism") == "subtract"

    def gradient_precision(self, case: Case, dtype: str) -> dict[str, str]:
        return {"threshold": "float32"} if dtype == "float64" and self._float32_threshold_grad(case) else {}

    def build(self, case: Case, dtype: torch.dtype, device: str) -> Pair:
        ref_kwargs, our_kwargs = snntorch_options.split_kwargs(tensor_params(case.params))
        torch.manual_seed(case.seed * 4 + inputs.WEIGHTS)
        reference = self.reference_class()(**ref_kwargs)
        native = SLSTM(**our_kwargs)
        pair = Pair(reference.to(device=device, dtype=dtype), native.to(device=device, dtype=dtype))
        self.copy_weights(pair)
        return pair

    def cleanup(self, pair: Pair) -> None:
        snntorch_options.clear_instances()

    def initial_state(self, case: Case, dtype, device) -> dict:
        gen = inputs.generator(case, inputs.STATE)
        shape = (case.batch, case.params["hidden_size"])
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

    def speed_of_light(self, case: Case, dtype, device, mode: str = "forward"):
        """The matmuls no SLSTM can avoid: the input projection (T*B, I) @ (I, 4H) and, when the
        state carries (input_size == hidden_size), one recurrent (B, H) @ (H, 4H) per step. With
        input_size != hidden_size the reference zeroes the state every step, so W_hh @ 0 is no
        work. Train mode adds the backward products: d(input) and d(W_ih) of the projection, and
        d(mem) per step plus one d(W_hh) over all steps: about three times the forward."""
        from snnbench.bench.sol import MatMul, matmuls

        p = case.params
        rows, inp, hid = case.steps * case.batch, p["input_size"], p["hidden_size"]
        recurrent = inp == hid
        products = [MatMul(rows, inp, 4 * hid)]
        if recurrent:
            products.append(MatMul(case.batch, hid, 4 * hid, repeat=case.steps))
        if mode == "train":
            products += [MatMul(rows, 4 * hid, inp), MatMul(4 * hid, rows, inp)]
            if recurrent:
                products += [MatMul(case.batch, 4 * hid, hid, repeat=case.steps), MatMul(4 * hid, rows, hid)]
        return matmuls(products, dtype, device, what=mode)

    def margin(self, pair: Pair, trace: Trace) -> torch.Tensor:
        return trace["mem"].detach() - pair.reference.threshold.detach()
