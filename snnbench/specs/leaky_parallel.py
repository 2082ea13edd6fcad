"""snntorch.LeakyParallel as a specification: fields, parameters, case checks, speed of light.

The reference is called once over a whole time-major sequence, ``spk = m(x)``, always from zero
state, and returns only the spikes; its membrane (the RNN's hidden state) is a field all the same:
the reference implementation captures it, and ours exposes it.
"""

from __future__ import annotations

import numbers

import torch

from snnbench.bench.sol import MatMul, copy_bytes, matmuls, together
from snnbench.cases import Case, thaw
from snnbench.specs import snntorch_options
from snnbench.specs.base import SEQUENCE, NeuronSpec, check_learnable

FLAGS = ("bias", "surrogate_disable", "learn_beta", "learn_threshold", "learn_graded_spikes_factor",
         "weight_hh_enable")


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class LeakyParallelSpec(NeuronSpec):
    name = "leakyparallel"
    library = "snntorch"
    reference_path = "snntorch.LeakyParallel"
    description = "leaky neuron over a whole sequence via a ReLU RNN (mem = RNN hidden state), no reset"
    state_fields = ("mem",)
    call = SEQUENCE
    object_arguments = snntorch_options.OBJECT_ARGUMENTS
    parameters = {
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
        check_learnable(case, "threshold", "learn_threshold", 1.0)
        check_learnable(case, "graded_spikes_factor", "learn_graded_spikes_factor", 1.0)

    def footprint(self, case: Case) -> tuple[int, int]:
        """Input, spk and mem, and the projection (H) per step and item; W_ih, W_hh, biases."""
        inp, hid = case.params["input_size"], case.params["hidden_size"]
        return inp + 3 * hid, hid * inp + hid * hid + 2 * hid

    def departures(self, case: Case) -> list[str]:
        p = case.params
        beta = p.get("beta")
        ids = []
        if beta is None:
            ids.append("leakyparallel-beta-none-unclamped")
        elif isinstance(beta, tuple) and len(beta) > 1:
            ids.append("leakyparallel-per-neuron-beta")
        if p.get("learn_beta") or (beta is not None and not (isinstance(beta, tuple) and len(beta) > 1)
                                   and not 0 <= (beta[0] if isinstance(beta, tuple) else beta) <= 1):
            ids.append("leakyparallel-beta-not-clipped-in-forward")
        if p.get("weight_hh_enable") and beta is not None:
            ids.append("leakyparallel-weight-hh-enable-fills-beta")
        if p.get("dropout", 0.0):
            ids.append("leakyparallel-dropout-noop")
        ids += snntorch_options.atan_departures(p)
        if not p.get("weight_hh_enable"):
            ids.append("leakyparallel-dtype-arg-mask")
        if self.spikes_carry_gradient(case):
            ids.append("atan-float32-output")
        return ids

    def notes(self, case: Case) -> list[str]:
        p = case.params
        notes = []
        if p.get("surrogate_disable"):
            notes.append("surrogate_disable=True: the spikes carry no gradient (no grad_fn)"
                         + (" except through the learnable graded_spikes_factor"
                            if p.get("learn_graded_spikes_factor") else ""))
        if self.spikes_carry_gradient(case):
            notes.append("gradients of float64 runs are judged at float32 tolerance (the spikes are float32)")
        return notes

    @staticmethod
    def spikes_carry_gradient(case: Case) -> bool:
        p = case.params
        return not p.get("surrogate_disable") or bool(p.get("learn_graded_spikes_factor"))

    def constructor_kwargs(self, case: Case, device: str, ours: bool, documented=frozenset()) -> dict:
        params = {k: torch.tensor(v, dtype=torch.float32) if isinstance(v, list) else v
                  for k, v in thaw(case.params).items()}
        return snntorch_options.build_objects(params, ours, documented)

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


SPEC = LeakyParallelSpec()
