"""snntorch.LeakyParallel adapter: builds the reference and ours with the same weights, runs both.

The reference returns only spikes. Its membrane is captured truthfully with a forward hook on its
``rnn`` submodule during the very call that produces the spikes: the hook keeps ``output[0]``,
the tensor the reference itself subtracts the threshold from (so gradients of the membrane flow
through the reference's own graph). As a check that this is the right tensor, the spikes are
recomputed from it (``(mem - threshold > 0) * graded_spikes_factor``) and must equal the returned
ones exactly, or the run is an error.
"""

from __future__ import annotations

import numbers

import torch

from snnbench import inputs
from snnbench.cases import Case
from snnbench.neurons.leaky_parallel import LeakyParallel
from snnbench.reference import snntorch_options
from snnbench.reference.base import Adapter, Pair, Trace, run_reference_guarded, tensor_params

FLAGS = ("bias", "surrogate_disable", "learn_beta", "learn_threshold", "learn_graded_spikes_factor",
         "weight_hh_enable")


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class LeakyParallelAdapter(Adapter):
    neuron = "leakyparallel"
    library = "snntorch"
    reference_path = "snntorch.LeakyParallel"
    description = "leaky neuron over a whole sequence via a ReLU RNN (mem = RNN hidden state), no reset"
    state_fields = ("mem",)
    weight_map = {
        "weight_ih": "rnn.weight_ih_l0",
        "weight_hh": "rnn.weight_hh_l0",
        "bias_ih": "rnn.bias_ih_l0",
        "bias_hh": "rnn.bias_hh_l0",
        "threshold": "threshold",
        "graded_spikes_factor": "graded_spikes_factor",
    }

    # ---- checking a case -------------------------------------------------------------------
    def validate_params(self, case: Case) -> None:
        p = case.params
        for key in ("input_size", "hidden_size"):
            if not isinstance(p[key], int) or isinstance(p[key], bool) or p[key] < 1:
                raise case.error(f"params.{key}", f"must be a positive integer, got {p[key]!r}")
        hidden = p["hidden_size"]
        if case.sample_shape != (p["input_size"],):
            raise case.error("sample_shape", f"must be [{p['input_size']}] (input_size) for leakyparallel, "
                             f"got {list(case.sample_shape)}")
        for key in ("device", "dtype"):
            if key in p:
                raise case.error(f"params.{key}", "set by the command line (--device, --dtype): the reference "
                                 "is built on CPU in float32 and moved")
        for key in FLAGS:
            if key in p and not isinstance(p[key], bool):
                raise case.error(f"params.{key}", f"must be true or false, got {p[key]!r}")
        for key in ("beta", "threshold", "graded_spikes_factor"):
            if key not in p:
                continue
            value = p[key]
            if isinstance(value, tuple):
                if len(value) not in (1, hidden) or not all(_is_number(v) for v in value):
                    raise case.error(f"params.{key}", f"a list needs 1 or hidden_size ({hidden}) numbers, "
                                     f"got {list(value)!r}")
            elif not _is_number(value):
                raise case.error(f"params.{key}", f"must be a number or a list of numbers, got {value!r} "
                                 "(omit beta for None: TOML has no null)")
        dropout = p.get("dropout", 0.0)
        if not _is_number(dropout) or not 0 <= dropout <= 1:
            raise case.error("params.dropout", f"must be a number in [0, 1], got {dropout!r}")
        for key, value in p.items():
            snntorch_options.validate(case, key, value)

    def findings(self, case: Case) -> list[str]:
        p = case.params
        beta = p.get("beta")
        notes = []
        if beta is None:
            notes.append("beta omitted (None): the decays are nn.RNN's random init U(-1/sqrt(H), 1/sqrt(H)), "
                         "so about half are negative")
        elif isinstance(beta, tuple) and len(beta) > 1:
            notes.append("reference silently ignores a beta with one value per neuron: the decays stay "
                         "their random init (ours is given the reference's actual matrix)")
        else:
            value = beta[0] if isinstance(beta, tuple) else beta
            if not 0 <= value <= 1:
                notes.append(f"beta {value} is clamped to [0, 1] at construction only")
        if p.get("weight_hh_enable"):
            notes.append("weight_hh_enable=True: the hidden matrix is dense"
                         + (" and every entry is filled with beta: each neuron leaks into every other"
                            if beta is not None and not (isinstance(beta, tuple) and len(beta) > 1)
                            else " and random"))
        if p.get("learn_beta"):
            notes.append("learn_beta=True learns " + ("the whole dense matrix" if p.get("weight_hh_enable") else
                         "the diagonal of rnn.weight_hh_l0 (a hook masks the off-diagonal gradient)")
                         + ", never clamped again")
        if p.get("dropout", 0.0):
            notes.append("dropout has no effect (single-layer nn.RNN; it only warns)")
        if p.get("surrogate_disable"):
            notes.append("surrogate_disable=True: the spikes carry no gradient (no grad_fn)"
                         + (" except through the learnable graded_spikes_factor"
                            if p.get("learn_graded_spikes_factor") else ""))
        elif "spike_grad" not in p:
            notes.append("default spike function is a private LeakyParallel.ATan (alpha = 2), "
                         "not snntorch.surrogate.atan")
        if not p.get("weight_hh_enable"):
            notes.append("the diagonal mask is a CPU float32 eye: built with device= other than CPU the reference "
                         "fails at construction, and with dtype=float16/bfloat16 the mask turns weight_hh to float32 "
                         "so its forward fails (dtype=float64 works); built on CPU float32 and moved, it runs")
        if self._spikes_carry_gradient(case):
            notes.append("in float64 runs the reference's spikes are float32 (its spike functions return "
                         ".float()), so the upstream gradient on the spikes is rounded to float32: "
                         "gradients are judged at float32 tolerance")
        return notes

    def _spikes_carry_gradient(self, case: Case) -> bool:
        p = case.params
        return not p.get("surrogate_disable") or bool(p.get("learn_graded_spikes_factor"))

    def gradient_precision(self, case: Case, dtype: str) -> dict[str, str]:
        if dtype != "float64" or not self._spikes_carry_gradient(case):
            return {}
        return {name: "float32" for name in ("input", *self.weight_map)}

    # ---- building and running --------------------------------------------------------------
    def build(self, case: Case, dtype: torch.dtype, device: str) -> Pair:
        ref_kwargs, our_kwargs = snntorch_options.split_kwargs(tensor_params(case.params))
        torch.manual_seed(case.seed * 4 + inputs.WEIGHTS)
        # Built on CPU in float32 and moved: the reference fails to build on another device.
        reference = self.reference_class()(**ref_kwargs)
        native = LeakyParallel(**our_kwargs)
        pair = Pair(reference.to(device=device, dtype=dtype), native.to(device=device, dtype=dtype))
        self.copy_weights(pair)
        return pair

    def cleanup(self, pair: Pair) -> None:
        snntorch_options.clear_instances()

    def parameter_pairs(self, pair: Pair) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Every parameter the reference trains (weight_hh only with learn_beta), paired with ours.

        Ours keeps the full (H, H) hidden matrix, so with a diagonal matrix the whole gradient is
        compared: its diagonal (the learned decays) and its zero off-diagonal (the reference's
        hook masks it; ours never reads those entries)."""
        pairs = super().parameter_pairs(pair)
        return {name: (ref, ours) for name, (ref, ours) in pairs.items() if ref.requires_grad}

    def run_reference(self, reference, x: torch.Tensor, state0: dict) -> Trace:
        return run_reference_guarded(self._run_reference, reference, x)

    def _run_reference(self, reference, x) -> Trace:
        captured = []
        handle = reference.rnn.register_forward_hook(lambda module, args, output: captured.append(output[0]))
        try:
            spk = reference(x)
        finally:
            handle.remove()
        (mem,) = captured
        again = (mem.detach() - reference.threshold.detach() > 0).to(spk.dtype) * reference.graded_spikes_factor.detach()
        if not torch.equal(again, spk.detach()):
            raise RuntimeError("the captured rnn output does not reproduce the reference's spikes")
        return {"spk": spk, "mem": mem}

    def run_native(self, native, x: torch.Tensor, state0: dict) -> Trace:
        spk, mem = native.sequence(x)
        return {"spk": spk, "mem": mem}

    def step_native(self, native, x_t, previous) -> Trace:
        spk, mem = native.step(x_t, previous.get("mem"))
        return {"spk": spk, "mem": mem}

    def speed_of_light(self, case: Case, dtype, device, mode: str = "forward"):
        """What no LeakyParallel can avoid at this case's shapes (T, B, I -> H):

        - the input projection, one (T*B, I) @ (I, H) matmul; train mode adds its two backward
          products, d(input) = (T*B, H) @ (H, I) and d(W_ih) = (H, T*B) @ (T*B, I);
        - the recurrence and the spikes, elementwise over (T, B, H): the forward reads the
          projection and writes mem and spk (3 passes over T*B*H elements); the backward reads
          mem and the two upstream gradients and writes d(projection) (4 more). Timed as a copy
          of passes * T*B*H / 2 elements (a copy reads and writes each element: 2 passes).

        With ``weight_hh_enable`` (a dense hidden matrix) each step adds a (B, H) @ (H, H)
        product, and train mode its two backward products."""
        from snnbench.bench.sol import MatMul, copy_bytes, matmuls, together

        p = case.params
        steps, batch, inp, hid = case.steps, case.batch, p["input_size"], p["hidden_size"]
        rows = steps * batch
        products = [MatMul(rows, inp, hid)]
        if p.get("weight_hh_enable"):
            products.append(MatMul(batch, hid, hid, repeat=steps))
        passes = 3
        if mode == "train":
            products += [MatMul(rows, hid, inp), MatMul(hid, rows, inp)]
            if p.get("weight_hh_enable"):
                products += [MatMul(batch, hid, hid, repeat=steps), MatMul(hid, rows, hid)]
            passes += 4
        elementwise = copy_bytes(passes * rows * hid // 2, dtype, device,
                                 what=f"recurrence and spikes ({passes} passes over T*B*H)")
        return together([matmuls(products, dtype, device, what="projection"), elementwise], what=mode)

    def margin(self, pair: Pair, trace: Trace) -> torch.Tensor:
        return trace["mem"].detach() - pair.reference.threshold.detach()
