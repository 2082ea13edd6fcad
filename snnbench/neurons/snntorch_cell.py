"""What our drop-ins for snntorch's recurrent cells (SLSTM, SConv2dLSTM) share: the choice of
reset and spike function, the threshold as snntorch holds it, the ``syn``/``mem`` state the module
keeps between calls, the ``init_hidden`` / ``output`` conventions of a call, and the documented
behaviour of the reset and of inhibition (the switches of departures, see snnbench/departures).

Documented reset (``<neuron>-reset-zero-mem-only`` run as documented): "the reset mechanism
applied to mem each time the threshold is met": the new membrane that crosses the threshold is
reset in the same step (after it fired), so the next step reads the reset state. (The code
instead reads the un-reset state and subtracts from the *next* step's membrane.)

Documented inhibition (``<neuron>-inhibition-ignored`` run as documented, with
``inhibition=True``): "suppresses all spiking other than the neuron with the highest state": per
sample (and pixel), only the neuron with the highest ``mem - threshold`` may spike, as snntorch's
own unused ``fire_inhibition`` computes it.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from snnbench.neurons import surrogates

RESETS = ("subtract", "zero", "none")


class SnntorchCell(nn.Module):
    """A cell's call is one step of its maths: ``step(project_input(x, p), state, p)``, or with
    departures among ``step_switches`` run as documented, ``step_documented``. Each cell names
    these (its functions), ``params()`` and ``_current_state(x)``."""

    step = None               # (x_proj, state, p) -> (spk, state)
    step_documented = None    # (x_proj, state, p, documented, inhibition) -> (spk, state)
    step_switches: tuple[str, ...] = ()
    project_input = None      # (x, p) -> x_proj, for any leading shape

    def __init__(self, threshold, spike_grad, surrogate_disable, init_hidden, inhibition, learn_threshold,
                 reset_mechanism, state_quant, output, documented=()):
        super().__init__()
        if reset_mechanism not in RESETS:
            raise ValueError("reset_mechanism must be set to either 'subtract', 'zero', or 'none'.")
        if inhibition:
            warnings.warn(f"inhibition=True has no effect on {type(self).__name__} "
                          "(the reference never applies it)", UserWarning, stacklevel=3)
        self.reset_mechanism = reset_mechanism
        self.init_hidden = init_hidden
        self.inhibition = inhibition
        self.output = output
        self.state_quant = state_quant or None
        self.documented = frozenset(documented)
        self.spike_fn = surrogates.spike_function(spike_grad, surrogate_disable, self.documented)
        surrogates.register_threshold(self, threshold, learn_threshold)
        self.syn: torch.Tensor | None = None
        self.mem: torch.Tensor | None = None

    def set_state(self, syn=None, mem=None) -> None:
        """Hold the given state (either part may be None: keep what is held)."""
        if syn is not None:
            self.syn = syn
        if mem is not None:
            self.mem = mem

    def held_state(self, shape: tuple[int, ...], like: torch.Tensor, keeps) -> tuple[torch.Tensor, torch.Tensor]:
        """The held syn and mem, each replaced by zeros of ``shape`` (``like``'s dtype and device)
        where it is missing or ``keeps(tensor)`` is false: each cell states its own rule."""
        def held(t):
            return t if t is not None and keeps(t) else torch.zeros(shape, dtype=like.dtype, device=like.device)

        return held(self.syn), held(self.mem)

    def take_call_state(self, syn, mem) -> None:
        """A call's state arguments, which snntorch refuses when the module holds its own."""
        if self.init_hidden and (syn is not None or mem is not None):
            raise TypeError("`mem` or `syn` should not be passed as an argument while `init_hidden=True`")
        self.set_state(syn, mem)

    def call_result(self, spk, syn, mem):
        """Hold the new state and return what snntorch returns: spikes alone with init_hidden
        (unless output), else spikes and both states."""
        self.syn, self.mem = syn, mem
        if self.init_hidden and not self.output:
            return spk
        return spk, syn, mem

    def _step(self, x_proj: torch.Tensor, state, p):
        if self.documented.intersection(self.step_switches):
            return self.step_documented(x_proj, state, p, self.documented, self.inhibition)
        return self.step(x_proj, state, p)

    def forward(self, input_, syn=None, mem=None):
        """One step of x (B, ...): ``spk, syn, mem`` (or ``spk`` alone with ``init_hidden``)."""
        self.take_call_state(syn, mem)
        p = self.params()
        spk, state = self._step(self.project_input(input_, p), self._current_state(input_), p)
        return self.call_result(spk, state.syn, state.mem)

    def steps_one_by_one(self, x: torch.Tensor, state, p, carry: bool = True):
        """All steps of x (T, B, ...) as calls of :meth:`_step` (the documented departures' path):
        ``spk, syn, mem`` stacked. Without ``carry`` every step starts from zero state."""
        zeros = type(state)(torch.zeros_like(state.syn), torch.zeros_like(state.mem))
        steps = []
        for x_t in self.project_input(x, p).unbind(0):
            spk_t, state = self._step(x_t, state if carry else zeros, p)
            steps.append((spk_t, state.syn, state.mem))
        return tuple(torch.stack(v) for v in zip(*steps))

    def reset_mem(self):
        self.syn = None if self.syn is None else torch.zeros_like(self.syn)
        self.mem = None if self.mem is None else torch.zeros_like(self.mem)
        return self.syn, self.mem


def winner_mask(u: torch.Tensor) -> torch.Tensor:
    """1 at the neuron (axis 1) with the highest ``u`` of each sample (and pixel), else 0."""
    return torch.zeros_like(u).scatter_(1, u.detach().argmax(dim=1, keepdim=True), 1.0)


def reset_now(mem: torch.Tensor, threshold: torch.Tensor, reset_mechanism: str) -> torch.Tensor:
    """The documented reset: the membrane that crosses the threshold, reset in the same step."""
    crossed = (mem.detach() > threshold.detach()).to(mem.dtype)
    if reset_mechanism == "subtract":
        return mem - crossed * threshold
    if reset_mechanism == "zero":
        return mem - crossed * mem
    return mem
