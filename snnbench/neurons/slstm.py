r"""Spiking LSTM (snntorch ``SLSTM``), from scratch: torch only, no ``nn.LSTMCell``.

One step, with ``syn`` the cell state :math:`c` and ``mem`` the hidden state :math:`h`:

.. math::
    \begin{aligned}
    r_t &= \Theta(mem_{t-1} - \vartheta) \quad \text{(detached; the reset signal)} \\
    (i, f, g, o) &= \text{split}_4(W_{ih} x_t + b_{ih} + W_{hh} mem_{t-1} + b_{hh}) \\
    syn_t &= \sigma(f) \odot syn_{t-1} + \sigma(i) \odot \tanh(g) \\
    \tilde{m}_t &= \sigma(o) \odot \tanh(syn_t) \\
    mem_t &= \begin{cases}
        \tilde{m}_t - r_t \vartheta & \text{subtract} \\
        \tilde{m}_t - r_t \tilde{m}_t & \text{zero (syn is not reset)} \\
        \tilde{m}_t & \text{none} \end{cases} \\
    spk_t &= S(mem_t - \vartheta)
    \end{aligned}

where :math:`S` is the Heaviside step with a surrogate gradient. With ``state_quant``, syn and mem
are quantised after the update, and mem once more before firing (as snntorch does).

What the reference code does, and we therefore do too (see reference-notes.md):

- The stored state is replaced by zeros whenever its shape differs from the *input's* shape,
  so with ``input_size != hidden_size`` every step starts from zero state: no recurrence.
- The reset is computed from the previous mem; "zero" resets mem only.
- ``inhibition`` is accepted and ignored.

A whole sequence (:func:`slstm_sequence`): the input projection
:math:`W_{ih} x_t + b_{ih} + b_{hh}` is one matmul over all T x B rows before the time loop (only
:math:`W_{hh} mem_{t-1}` stays inside); when the state is zeroed every step the recurrent matmul
vanishes and all steps are computed at once. The carried-state time loop is the fused path of
:mod:`snnbench.neurons.fused.slstm` (one autograd node with a hand-written backward through time).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn as nn

from snnbench.neurons.fused import slstm as fused
from snnbench.neurons.snntorch_cell import SnntorchCell, reset_now, winner_mask


class SLSTMState(NamedTuple):
    syn: torch.Tensor
    mem: torch.Tensor


class SLSTMParams(NamedTuple):
    weight_ih: torch.Tensor          # (4H, I), gates in the order i, f, g, o
    weight_hh: torch.Tensor          # (4H, H)
    bias: torch.Tensor | None        # (4H,) = b_ih + b_hh, or None
    threshold: torch.Tensor
    reset_mechanism: str
    spike_fn: Callable[[torch.Tensor], torch.Tensor]
    state_quant: Callable[[torch.Tensor], torch.Tensor] | None


def _cell(gates: torch.Tensor, syn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    i, f, g, o = gates.chunk(4, dim=-1)
    syn = torch.sigmoid(f) * syn + torch.sigmoid(i) * torch.tanh(g)
    return syn, torch.sigmoid(o) * torch.tanh(syn)


def _reset_and_fire(syn, mem, reset, p: SLSTMParams):
    if p.reset_mechanism == "subtract":
        mem = mem - reset * p.threshold
    elif p.reset_mechanism == "zero":
        mem = mem - reset * mem
    if p.state_quant is not None:
        syn, mem = p.state_quant(syn), p.state_quant(mem)
        spk = p.spike_fn(p.state_quant(mem) - p.threshold)
    else:
        spk = p.spike_fn(mem - p.threshold)
    return spk, syn, mem


def reset_signal(mem: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Detached Heaviside of the previous membrane: which neurons are reset this step."""
    return (mem.detach() > threshold.detach()).to(mem.dtype)


def slstm_step(x_proj: torch.Tensor, state: SLSTMState, p: SLSTMParams) -> tuple[torch.Tensor, SLSTMState]:
    """One step from the projected input ``x_proj = W_ih x_t + b`` (B, 4H) and the previous state."""
    reset = reset_signal(state.mem, p.threshold)
    gates = torch.addmm(x_proj, state.mem, p.weight_hh.t())
    syn, mem = _cell(gates, state.syn)
    spk, syn, mem = _reset_and_fire(syn, mem, reset, p)
    return spk, SLSTMState(syn, mem)


STEP_SWITCHES = ("slstm-reset-zero-mem-only", "slstm-inhibition-ignored")   # run by the step loop


def slstm_step_documented(x_proj: torch.Tensor, state: SLSTMState, p: SLSTMParams, documented,
                          inhibition: bool) -> tuple[torch.Tensor, SLSTMState]:
    """One step with the departures in ``documented`` run as documented (snnbench/departures):
    ``slstm-reset-zero-mem-only``: the crossing membrane reset in its own step (after it fired),
    the cell reading the reset state; ``slstm-inhibition-ignored`` (with ``inhibition``): only the
    neuron with the highest ``mem - threshold`` of each sample may spike. The rest as
    :func:`slstm_step`. (``slstm-state-zeroing`` is the module's choice of state.)"""
    if "slstm-reset-zero-mem-only" not in documented:
        spk, state = slstm_step(x_proj, state, p)
        fired = state.mem if p.state_quant is None else p.state_quant(state.mem)
    else:
        syn, mem = _cell(torch.addmm(x_proj, state.mem, p.weight_hh.t()), state.syn)
        if p.state_quant is not None:
            syn, mem = p.state_quant(syn), p.state_quant(mem)
        fired = mem if p.state_quant is None else p.state_quant(mem)
        spk = p.spike_fn(fired - p.threshold)
        state = SLSTMState(syn, reset_now(mem, p.threshold, p.reset_mechanism))
    if inhibition and "slstm-inhibition-ignored" in documented:
        spk = spk * winner_mask(fired - p.threshold)
    return spk, state


def project_input(x: torch.Tensor, p: SLSTMParams) -> torch.Tensor:
    """``W_ih x + b_ih + b_hh`` for any leading shape, as one matmul."""
    flat = x.reshape(-1, x.shape[-1])
    if p.bias is None:
        out = flat @ p.weight_ih.t()
    else:
        out = torch.addmm(p.bias, flat, p.weight_ih.t())
    return out.reshape(*x.shape[:-1], out.shape[-1])


def _fire(mem: torch.Tensor, p: SLSTMParams) -> torch.Tensor:
    if p.state_quant is not None:
        mem = p.state_quant(mem)
    return p.spike_fn(mem - p.threshold)


def _zero_state_steps(x: torch.Tensor, p: SLSTMParams):
    """Steps that all start from zero state (the reference's rule when input_size != hidden_size):
    no recurrence, so they are computed together."""
    x_proj = project_input(x, p)
    zeros = torch.zeros(x_proj.shape[:-1] + (x_proj.shape[-1] // 4,), dtype=x.dtype, device=x.device)
    syn, mem = _cell(x_proj, zeros)
    return _reset_and_fire(syn, mem, reset_signal(zeros, p.threshold), p)


def slstm_sequence(x: torch.Tensor, state: SLSTMState, p: SLSTMParams, carry_state: bool = True):
    """All steps of x (T, B, I): :func:`slstm_step` over every step. Returns spk, syn, mem, each
    (T, B, H).

    ``carry_state=False`` is the reference's behaviour when input_size != hidden_size: every step
    starts from zero state, so all steps are computed at once (without gradients in chunks of
    the time axis, :func:`snnbench.neurons.fused.slstm.in_time_chunks`). With a carried state the
    time loop is the fused path (:func:`snnbench.neurons.fused.slstm.sequence`).
    """
    if not carry_state:
        needs_grad = torch.is_grad_enabled() and (x.requires_grad or any(
            t is not None and t.requires_grad for t in (p.weight_ih, p.weight_hh, p.bias, p.threshold)))
        if needs_grad:
            return _zero_state_steps(x, p)
        return fused.in_time_chunks(lambda part: _zero_state_steps(part, p), x, 4 * p.weight_hh.shape[1])
    syns, mems = fused.sequence(project_input(x, p), state, p)
    return _fire(mems, p), syns, mems


class SLSTM(SnntorchCell):
    """Drop-in for ``snntorch.SLSTM``: same constructor arguments, ``spk, syn, mem = m(x, syn, mem)``.

    ``m.sequence(x)`` runs a whole (T, B, I) sequence at once (the fast path) and returns
    ``spk, syn, mem`` stacked over time. Parameters use ``nn.LSTMCell``'s names and layout
    (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``) so weights copy over directly.
    A call is one :func:`slstm_step`.
    """

    step = staticmethod(slstm_step)
    step_documented = staticmethod(slstm_step_documented)
    step_switches = STEP_SWITCHES
    project_input = staticmethod(project_input)

    def __init__(self, input_size, hidden_size, bias=True, threshold=1.0, spike_grad=None,
                 surrogate_disable=False, init_hidden=False, inhibition=False, learn_threshold=False,
                 reset_mechanism="none", state_quant=False, output=False, documented=()):
        super().__init__(threshold, spike_grad, surrogate_disable, init_hidden, inhibition, learn_threshold,
                         reset_mechanism, state_quant, output, documented)
        self.input_size = input_size
        self.hidden_size = hidden_size
        bound = 1.0 / hidden_size ** 0.5
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
        else:
            self.bias_ih = self.bias_hh = None

    def params(self) -> SLSTMParams:
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return SLSTMParams(self.weight_ih, self.weight_hh, bias, self.threshold,
                           self.reset_mechanism, self.spike_fn, self.state_quant)

    def _current_state(self, x: torch.Tensor) -> SLSTMState:
        """The stored state, or zeros where its shape is not the input's (the reference's rule; the
        state's own shape (B, hidden) as documented, with ``slstm-state-zeroing`` in documented)."""
        shape = (x.shape[0], self.hidden_size)
        same = (lambda t: t.shape == shape) if "slstm-state-zeroing" in self.documented else \
            (lambda t: t.shape == x.shape)
        return SLSTMState(*self.held_state(shape, x, same))

    def sequence(self, x, syn=None, mem=None):
        """All T steps of x (T, B, I) from the given (or stored) state; returns stacked spk, syn, mem.
        The fast path, or with documented departures the step loop (:func:`slstm_step_documented`)."""
        self.set_state(syn, mem)
        state = self._current_state(x.new_empty(x.shape[1:]))  # the first step's shape, even for T = 0
        carry = self.input_size == self.hidden_size or "slstm-state-zeroing" in self.documented
        if self.documented.intersection(STEP_SWITCHES) and x.shape[0]:
            spk, syn_t, mem_t = self.steps_one_by_one(x, state, self.params(), carry)
        else:
            spk, syn_t, mem_t = slstm_sequence(x, state, self.params(), carry_state=carry)
        if x.shape[0]:
            self.syn, self.mem = syn_t[-1], mem_t[-1]
        return spk, syn_t, mem_t
