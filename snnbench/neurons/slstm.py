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

Fast path (:func:`slstm_sequence`): the input projection :math:`W_{ih} x_t + b_{ih} + b_{hh}` is
one matmul over all T x B rows before the time loop; only :math:`W_{hh} mem_{t-1}` stays inside.
When the state is zeroed every step, the recurrent matmul vanishes and all steps run at once. Both
are exact re-associations of the same sums (float rounding aside).
"""

from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import torch
import torch.nn as nn

from snnbench.neurons import surrogates

RESETS = ("subtract", "zero", "none")


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


def project_input(x: torch.Tensor, p: SLSTMParams) -> torch.Tensor:
    """``W_ih x + b_ih + b_hh`` for any leading shape, as one matmul."""
    flat = x.reshape(-1, x.shape[-1])
    if p.bias is None:
        out = flat @ p.weight_ih.t()
    else:
        out = torch.addmm(p.bias, flat, p.weight_ih.t())
    return out.reshape(*x.shape[:-1], out.shape[-1])


def slstm_sequence(x: torch.Tensor, state: SLSTMState, p: SLSTMParams, carry_state: bool = True):
    """All steps of x (T, B, I). Returns spk, syn, mem, each (T, B, H).

    ``carry_state=False`` is the reference's behaviour when input_size != hidden_size: every step
    starts from zero state, so all steps are computed at once.
    """
    x_proj = project_input(x, p)
    if not carry_state:
        zeros = torch.zeros(x_proj.shape[:-1] + (x_proj.shape[-1] // 4,), dtype=x.dtype, device=x.device)
        reset = reset_signal(zeros, p.threshold)
        syn, mem = _cell(x_proj, zeros)
        return _reset_and_fire(syn, mem, reset, p)
    spikes, syns, mems = [], [], []
    for t in range(x.shape[0]):
        spk, state = slstm_step(x_proj[t], state, p)
        spikes.append(spk)
        syns.append(state.syn)
        mems.append(state.mem)
    return torch.stack(spikes), torch.stack(syns), torch.stack(mems)


class SLSTM(nn.Module):
    """Drop-in for ``snntorch.SLSTM``: same constructor arguments, ``spk, syn, mem = m(x, syn, mem)``.

    ``m.sequence(x)`` runs a whole (T, B, I) sequence at once (the fast path) and returns
    ``spk, syn, mem`` stacked over time. Parameters use ``nn.LSTMCell``'s names and layout
    (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``) so weights copy over directly.
    """

    def __init__(self, input_size, hidden_size, bias=True, threshold=1.0, spike_grad=None,
                 surrogate_disable=False, init_hidden=False, inhibition=False, learn_threshold=False,
                 reset_mechanism="none", state_quant=False, output=False):
        super().__init__()
        if reset_mechanism not in RESETS:
            raise ValueError("reset_mechanism must be set to either 'subtract', 'zero', or 'none'.")
        if inhibition:
            warnings.warn("inhibition=True has no effect on SLSTM (the reference never applies it)",
                          UserWarning, stacklevel=2)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.reset_mechanism = reset_mechanism
        self.init_hidden = init_hidden
        self.inhibition = inhibition
        self.output = output
        self.state_quant = state_quant or None
        if surrogate_disable:
            self.spike_fn = surrogates.heaviside_no_grad
        else:
            self.spike_fn = spike_grad if spike_grad is not None else surrogates.atan()
        bound = 1.0 / hidden_size ** 0.5
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
        else:
            self.bias_ih = self.bias_hh = None
        threshold = torch.as_tensor(threshold)
        if learn_threshold:
            self.threshold = nn.Parameter(threshold)
        else:
            self.register_buffer("threshold", threshold)
        self.syn: torch.Tensor | None = None
        self.mem: torch.Tensor | None = None

    def params(self) -> SLSTMParams:
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return SLSTMParams(self.weight_ih, self.weight_hh, bias, self.threshold,
                           self.reset_mechanism, self.spike_fn, self.state_quant)

    def _current_state(self, x: torch.Tensor) -> SLSTMState:
        """The stored state, or zeros where its shape is not the input's (the reference's rule)."""
        shape = (x.shape[0], self.hidden_size)
        syn, mem = self.syn, self.mem
        if syn is None or syn.shape != x.shape:
            syn = torch.zeros(shape, dtype=x.dtype, device=x.device)
        if mem is None or mem.shape != x.shape:
            mem = torch.zeros(shape, dtype=x.dtype, device=x.device)
        return SLSTMState(syn, mem)

    def reset_mem(self):
        self.syn = None if self.syn is None else torch.zeros_like(self.syn)
        self.mem = None if self.mem is None else torch.zeros_like(self.mem)
        return self.syn, self.mem

    def forward(self, input_, syn=None, mem=None):
        if self.init_hidden and (syn is not None or mem is not None):
            raise TypeError("`mem` or `syn` should not be passed as an argument while `init_hidden=True`")
        if syn is not None:
            self.syn = syn
        if mem is not None:
            self.mem = mem
        p = self.params()
        spk, state = slstm_step(project_input(input_, p), self._current_state(input_), p)
        self.syn, self.mem = state.syn, state.mem
        if self.init_hidden and not self.output:
            return spk
        return spk, state.syn, state.mem

    def sequence(self, x, syn=None, mem=None):
        """All T steps of x (T, B, I) from the given (or stored) state; returns stacked spk, syn, mem."""
        if syn is not None:
            self.syn = syn
        if mem is not None:
            self.mem = mem
        carry = self.input_size == self.hidden_size
        state = self._current_state(x[0])
        spk, syn_t, mem_t = slstm_sequence(x, state, self.params(), carry_state=carry)
        self.syn, self.mem = syn_t[-1], mem_t[-1]
        return spk, syn_t, mem_t
