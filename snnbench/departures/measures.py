"""The measured effect of departures that ours has no documented switch for: each measure runs
the installed reference on a small case and says, with a number, what the departure does there.

``MEASURES`` maps a departure id to a function returning ``{"summary": one line, "value": number}``.
Every measure builds its own seeded modules and leaves snntorch's instance registry as it was.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import Callable

import torch

from snnbench.departures.probes import _sandbox
from snnbench.implementations.sinabs_reference import capture_steps


@contextlib.contextmanager
def _quiet():
    with _sandbox(), torch.enable_grad():
        yield


def _max(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def default_threshold_unreachable() -> dict:
    import snntorch

    with _quiet():
        m = snntorch.SLSTM(8, 8)
        with torch.no_grad():
            for p in m.parameters():
                p.fill_(1.0)
        syn = mem = torch.zeros(4, 8)
        spikes, peak = [], 0.0
        for _ in range(50):
            spk, syn, mem = m(torch.full((4, 8), 5.0), syn, mem)
            spikes.append(spk)
            peak = max(peak, float(mem.max()))
        rate = float(torch.stack(spikes).mean())
    return {"summary": f"saturated gates: mem peaks at {peak:.6f}, spike rate {rate:.0%} at the default threshold 1.0",
            "value": rate}


def implicit_state_reuse() -> dict:
    import snntorch

    with _quiet():
        m = snntorch.SLSTM(4, 4, threshold=0.05)
        x = torch.rand(2, 4)
        first = m(x)[2]
        second = m(x)[2]
    diff = _max(first, second)
    return {"summary": f"the same input twice without syn and mem: the second mem differs by {diff:.3g} (the "
                       "first call's state was reused)", "value": diff}


def reset_setter_ignored() -> dict:
    import snntorch

    with _quiet():
        built = snntorch.SLSTM(4, 4, threshold=0.05, reset_mechanism="zero")
        changed = snntorch.SLSTM(4, 4, threshold=0.05, reset_mechanism="none")
        changed.lstm_cell.load_state_dict(built.lstm_cell.state_dict())
        changed.reset_mechanism = "zero"
        x, mem0 = torch.rand(2, 4), torch.full((2, 4), 0.5)
        want = built(x, torch.zeros(2, 4), mem0.clone())[2]
        got = changed(x, torch.zeros(2, 4), mem0.clone())[2]
    diff = _max(want, got)
    return {"summary": f"set to 'zero' after construction, mem differs from a module built with 'zero' by {diff:.3g}",
            "value": diff}


def instances_grow() -> dict:
    import snntorch
    from snntorch._neurons.neurons import SpikingNeuron

    with _quiet():
        before = len(SpikingNeuron.instances)
        for _ in range(50):
            snntorch.SLSTM(16, 16)
        grown = len(SpikingNeuron.instances) - before
    return {"summary": f"{grown} of 50 neurons built are still held by SpikingNeuron.instances", "value": grown}


def pool_decouples_reset() -> dict:
    import snntorch

    with _quiet():
        m = snntorch.SConv2dLSTM(2, 4, 3, avg_pool=2, threshold=0.05, reset_mechanism="subtract")
        syn = mem = torch.zeros(2, 4, 8, 8)
        resets_without_spike = resets = 0
        for _ in range(10):
            spk, syn, mem_new = m(torch.rand(2, 2, 8, 8), syn, mem)
            crossed = mem > 0.05                                   # what the reset is computed from
            window_spiked = spk.repeat_interleave(2, -1).repeat_interleave(2, -2) > 0
            resets += int(crossed.sum())
            resets_without_spike += int((crossed & ~window_spiked).sum())
            mem = mem_new
    share = resets_without_spike / max(resets, 1)
    return {"summary": f"avg_pool 2: {share:.0%} of {resets} resets came where the pooled window emitted no spike",
            "value": share}


def dropout_noop() -> dict:
    import snntorch

    with _quiet():
        with_dropout = snntorch.LeakyParallel(8, 16, beta=0.5, threshold=0.1, dropout=0.5)
        without = snntorch.LeakyParallel(8, 16, beta=0.5, threshold=0.1)
        without.load_state_dict(with_dropout.state_dict())
        with_dropout.train()
        x = torch.rand(20, 4, 8)
        diff = _max(with_dropout(x), without(x))
    return {"summary": f"dropout 0.5 in training mode: spikes differ from dropout 0 by {diff:g}", "value": diff}


def inf_input_nan() -> dict:
    import snntorch

    with _quiet():
        m = snntorch.LeakyParallel(4, 8, beta=0.5, threshold=0.1)
        x = torch.zeros(3, 1, 4)
        x[0, 0, 0] = float("inf")
        captured = []
        handle = m.rnn.register_forward_hook(lambda _m, _a, out: captured.append(out[0]))
        m(x)
        handle.remove()
        nan = int(torch.isnan(captured[0][1]).sum())
    return {"summary": f"one infinite input: {nan} of 8 neurons are NaN on the next step", "value": nan}


def _alif_trace(record_states: bool, **kwargs):
    import sinabs.layers

    layer = (sinabs.layers.ALIFRecurrent if "rec_connect" in kwargs else sinabs.layers.ALIF)(
        tau_mem=5.0, tau_adapt=20.0, spike_threshold=0.3, record_states=record_states, **kwargs)
    return layer


def record_states_shift() -> dict:
    with _quiet():
        layer = _alif_trace(True, tau_syn=3.0)
        x = torch.rand(2, 20, 8) * 2
        with capture_steps() as steps:
            layer(x)
        true_v = torch.stack([state["v_mem"] for _, state, _, _ in steps], 1)
        diff = _max(layer.recordings["v_mem"], true_v)
    return {"summary": f"recorded v_mem differs from the membrane each step computed by up to {diff:.3g}",
            "value": diff}


def _chunked_difference(**kwargs) -> float:
    with _quiet():
        whole = _alif_trace(False, **kwargs)
        chunked = _alif_trace(False, **kwargs)
        chunked.load_state_dict(whole.state_dict())
        x = torch.rand(2, 20, 8) * 2
        whole(x)
        chunked(x[:, :10])
        chunked(x[:, 10:])
        return _max(whole.v_mem, chunked.v_mem)


def isyn_not_persisted() -> dict:
    diff = _chunked_difference(tau_syn=3.0)
    return {"summary": f"20 steps fed as two calls of 10: the final v_mem differs from one call's by {diff:.3g}",
            "value": diff}


def rec_term_restarts() -> dict:
    torch.manual_seed(0)
    diff = _chunked_difference(rec_connect=torch.nn.Linear(8, 8, bias=False))
    return {"summary": f"20 steps fed as two calls of 10: the final v_mem differs from one call's by {diff:.3g}",
            "value": diff}


MEASURES: dict[str, Callable[[], dict]] = {
    "slstm-default-threshold-unreachable": default_threshold_unreachable,
    "slstm-implicit-state-reuse": implicit_state_reuse,
    "slstm-reset-setter-ignored": reset_setter_ignored,
    "snntorch-instances-grow": instances_grow,
    "sconv2dlstm-pool-decouples-reset": pool_decouples_reset,
    "leakyparallel-dropout-noop": dropout_noop,
    "leakyparallel-inf-input-nan": inf_input_nan,
    "alif-record-states-shift": record_states_shift,
    "alif-isyn-not-persisted": isyn_not_persisted,
    "alifrecurrent-rec-term-restarts": rec_term_restarts,
}


def measure(departure_id: str) -> dict | None:
    """The measured effect of a departure without a switch (None where there is no measure)."""
    fn = MEASURES.get(departure_id)
    if fn is None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()
