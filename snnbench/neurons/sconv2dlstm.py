r"""Spiking convolutional LSTM (snntorch ``SConv2dLSTM``), from scratch: torch only, no ``nn.Conv2d``.

One step, with ``syn`` the cell state :math:`c` and ``mem`` the hidden state :math:`h`, both
(B, C_out, H, W); :math:`\star` is one 2-D cross-correlation with padding ``k // 2``, stride 1:

.. math::
    \begin{aligned}
    r_t &= \Theta(mem_{t-1} - \vartheta) \quad \text{(detached; the reset signal)} \\
    (i, f, o, g) &= \text{split}_4(W \star [x_t, mem_{t-1}] + b) \quad \text{(channel order i, f, o, g)} \\
    syn_t &= \sigma(f) \odot syn_{t-1} + \sigma(i) \odot \tanh(g) \\
    \tilde{m}_t &= \sigma(o) \odot \tanh(syn_t) \\
    mem_t &= \begin{cases}
        \tilde{m}_t - r_t \vartheta & \text{subtract} \\
        \tilde{m}_t - r_t \tilde{m}_t & \text{zero (syn is not reset)} \\
        \tilde{m}_t & \text{none} \end{cases} \\
    spk_t &= S(P(mem_t) - \vartheta)
    \end{aligned}

where :math:`S` is the Heaviside step with a surrogate gradient and :math:`P` is max- or
average-pooling (kernel = stride = the pool size) or the identity. With ``state_quant``, syn and
mem are quantised after the update, and the pooled mem once more before firing (as snntorch does).

What the reference code does, and we therefore do too (see reference-notes.md):

- The gate order is i, f, o, g (``nn.LSTMCell``'s is i, f, g, o); one bias per gate.
- The reset comes from the previous *unpooled* mem, while the spikes come from the pooled mem: with
  pooling, a neuron can be reset without any spike emitted, and a spike can come without reset.
- "zero" resets mem only; ``inhibition`` is accepted and ignored.
- An even kernel size changes the spatial size (padding ``k // 2``), so the first step fails
  (the new cell state no longer matches syn).

The module's :meth:`SConv2dLSTM.sequence` runs every step of a sequence by the fused path in
:mod:`snnbench.neurons.fused.sconv2dlstm` (the same maths, the time loop as one autograd node with
a hand-written backward), except with ``state_quant``, which runs this step in a loop
(:func:`sconv2dlstm_sequence_by_steps`, plain autograd).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from snnbench.neurons.fused import sconv2dlstm as fused
from snnbench.neurons.fused.sconv2dlstm import MaxPool
from snnbench.neurons.snntorch_cell import SnntorchCell, reset_now, winner_mask


class SConv2dLSTMState(NamedTuple):
    syn: torch.Tensor
    mem: torch.Tensor


class SConv2dLSTMParams(NamedTuple):
    weight_x: torch.Tensor           # (4C, C_in, kh, kw), gates in the order i, f, o, g
    weight_h: torch.Tensor           # (4C, C, kh, kw)
    bias: torch.Tensor | None        # (4C,) or None
    padding: tuple[int, int]
    threshold: torch.Tensor
    reset_mechanism: str
    pool: Callable[[torch.Tensor], torch.Tensor] | None
    spike_fn: Callable[[torch.Tensor], torch.Tensor]
    state_quant: Callable[[torch.Tensor], torch.Tensor] | None


def pair_of(value) -> tuple[int, int]:
    """An int or a 2-sequence of ints as (height, width)."""
    if isinstance(value, int):
        return value, value
    height, width = value
    return int(height), int(width)


def reset_signal(mem: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Detached Heaviside of the previous membrane: which neurons are reset this step."""
    return (mem.detach() > threshold.detach()).to(mem.dtype)


def project_input(x: torch.Tensor, p: SConv2dLSTMParams) -> torch.Tensor:
    """``W_x * x + b`` for frames x (..., C_in, H, W): every leading index in one convolution."""
    frames = x.reshape(-1, *x.shape[-3:])
    out = F.conv2d(frames, p.weight_x, p.bias, padding=p.padding)
    return out.reshape(*x.shape[:-3], *out.shape[-3:])


def _cell(gates: torch.Tensor, syn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    i, f, o, g = gates.chunk(4, dim=-3)
    syn = torch.sigmoid(f) * syn + torch.sigmoid(i) * torch.tanh(g)
    return syn, torch.sigmoid(o) * torch.tanh(syn)


def _quantise_and_pool(syn: torch.Tensor, mem: torch.Tensor, p: SConv2dLSTMParams):
    """syn and mem after ``state_quant`` (if any), and what fires: the (pooled, quantised) mem."""
    if p.state_quant is not None:
        syn, mem = p.state_quant(syn), p.state_quant(mem)
    fired = mem if p.pool is None else p.pool(mem)
    if p.state_quant is not None:
        fired = p.state_quant(fired)
    return syn, mem, fired


def sconv2dlstm_step(x_proj: torch.Tensor, state: SConv2dLSTMState,
                     p: SConv2dLSTMParams) -> tuple[torch.Tensor, SConv2dLSTMState]:
    """One step from the projected input ``x_proj = W_x * x_t + b`` (B, 4C, H, W) and the state."""
    reset = reset_signal(state.mem, p.threshold)
    # .to(): a quantised state is float32 in float64 runs; the reference's cat() promotes it too.
    gates = x_proj + F.conv2d(state.mem.to(x_proj.dtype), p.weight_h, None, padding=p.padding)
    syn, mem = _cell(gates, state.syn)
    if p.reset_mechanism == "subtract":
        mem = mem - reset * p.threshold
    elif p.reset_mechanism == "zero":
        mem = mem - reset * mem
    syn, mem, fired = _quantise_and_pool(syn, mem, p)
    spk = p.spike_fn(fired - p.threshold)
    return spk, SConv2dLSTMState(syn, mem)


STEP_SWITCHES = ("sconv2dlstm-reset-zero-mem-only", "sconv2dlstm-inhibition-ignored", "sconv2dlstm-gate-order")


def sconv2dlstm_step_documented(x_proj: torch.Tensor, state: SConv2dLSTMState, p: SConv2dLSTMParams,
                                documented, inhibition: bool) -> tuple[torch.Tensor, SConv2dLSTMState]:
    """One step with the departures in ``documented`` run as documented (snnbench/departures):
    ``sconv2dlstm-gate-order``: the convolution's output split as i, f, g, o (the equations' and
    nn.LSTMCell's order); ``sconv2dlstm-reset-zero-mem-only``: the crossing membrane reset in its
    own step (after it fired), the convolution reading the reset state;
    ``sconv2dlstm-inhibition-ignored`` (with ``inhibition``): per sample and pixel only the channel
    with the highest (pooled) ``mem - threshold`` may spike. The rest as :func:`sconv2dlstm_step`."""
    late = "sconv2dlstm-reset-zero-mem-only" not in documented
    reset = reset_signal(state.mem, p.threshold) if late else None
    gates = x_proj + F.conv2d(state.mem.to(x_proj.dtype), p.weight_h, None, padding=p.padding)
    if "sconv2dlstm-gate-order" in documented:
        i, f, g, o = gates.chunk(4, dim=-3)
    else:
        i, f, o, g = gates.chunk(4, dim=-3)
    syn = torch.sigmoid(f) * state.syn + torch.sigmoid(i) * torch.tanh(g)
    mem = torch.sigmoid(o) * torch.tanh(syn)
    if late and p.reset_mechanism == "subtract":
        mem = mem - reset * p.threshold
    elif late and p.reset_mechanism == "zero":
        mem = mem - reset * mem
    syn, mem, fired = _quantise_and_pool(syn, mem, p)
    spk = p.spike_fn(fired - p.threshold)
    if inhibition and "sconv2dlstm-inhibition-ignored" in documented:
        spk = spk * winner_mask(fired - p.threshold)
    if not late:
        mem = reset_now(mem, p.threshold, p.reset_mechanism)
    return spk, SConv2dLSTMState(syn, mem)


def sconv2dlstm_sequence_by_steps(x: torch.Tensor, state: SConv2dLSTMState, p: SConv2dLSTMParams):
    """All steps of x (T, B, C_in, H, W) as a loop of :func:`sconv2dlstm_step`: spk, syn and mem stacked."""
    x_proj = project_input(x, p)
    spikes, syns, mems = [], [], []
    # unbind: one backward node that stacks the T gradients (indexing x_proj[t] would give each
    # step's backward a zero-filled gradient of the whole sequence).
    for x_t in x_proj.unbind(0):
        spk, state = sconv2dlstm_step(x_t, state, p)
        spikes.append(spk)
        syns.append(state.syn)
        mems.append(state.mem)
    return torch.stack(spikes), torch.stack(syns), torch.stack(mems)


def sconv2dlstm_sequence(x: torch.Tensor, state: SConv2dLSTMState, p: SConv2dLSTMParams):
    """All steps of x (T, B, C_in, H, W): :func:`sconv2dlstm_step` over every step. Returns spk
    (T, B, C, H/pool, W/pool), syn and mem (T, B, C, H, W). Computed by the fused path
    (:func:`snnbench.neurons.fused.sconv2dlstm.sequence`), or step by step with ``state_quant``."""
    if p.state_quant is not None:
        return sconv2dlstm_sequence_by_steps(x, state, p)
    return fused.sequence(x, state, p)


class SConv2dLSTM(SnntorchCell):
    """Drop-in for ``snntorch.SConv2dLSTM``: same constructor arguments,
    ``spk, syn, mem = m(x, syn, mem)`` for one step of x (B, C_in, H, W).

    ``m.sequence(x, syn, mem)`` runs a whole (T, B, C_in, H, W) sequence with the fast path (the
    time loop as one autograd node, see the module doc) and returns ``spk, syn, mem`` stacked over time.
    Parameters: ``conv_weight`` (4C, C_in + C, kh, kw) and ``conv_bias`` (4C,), the reference's
    ``conv.weight`` and ``conv.bias``, so weights copy over directly. A call is one
    :func:`sconv2dlstm_step`.
    """

    step = staticmethod(sconv2dlstm_step)
    step_documented = staticmethod(sconv2dlstm_step_documented)
    step_switches = STEP_SWITCHES
    project_input = staticmethod(project_input)

    def __init__(self, in_channels, out_channels, kernel_size, bias=True, max_pool=0, avg_pool=0,
                 threshold=1.0, spike_grad=None, surrogate_disable=False, init_hidden=False,
                 inhibition=False, learn_threshold=False, reset_mechanism="none", state_quant=False,
                 output=False, documented=()):
        if max_pool and avg_pool:
            raise ValueError("Only one of either `max_pool` or `avg_pool` may be specified, not both.")
        super().__init__(threshold, spike_grad, surrogate_disable, init_hidden, inhibition, learn_threshold,
                         reset_mechanism, state_quant, output, documented)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        kh, kw = pair_of(kernel_size)
        self.padding = (kh // 2, kw // 2)
        self.max_pool = max_pool
        self.avg_pool = avg_pool
        # nn.Conv2d's default initialisation: uniform(+-1/sqrt(fan_in)) for weight and bias.
        fan_in = (in_channels + out_channels) * kh * kw
        bound = 1.0 / math.sqrt(fan_in)
        self.conv_weight = nn.Parameter(
            torch.empty(4 * out_channels, in_channels + out_channels, kh, kw).uniform_(-bound, bound))
        self.conv_bias = nn.Parameter(torch.empty(4 * out_channels).uniform_(-bound, bound)) if bias else None

    def _pool(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        if self.max_pool:
            return MaxPool(self.max_pool)
        if self.avg_pool:
            size = self.avg_pool
            return lambda mem: F.avg_pool2d(mem, size)
        return None

    def params(self) -> SConv2dLSTMParams:
        c_in = self.in_channels
        return SConv2dLSTMParams(self.conv_weight[:, :c_in], self.conv_weight[:, c_in:], self.conv_bias,
                                 self.padding, self.threshold, self.reset_mechanism, self._pool(),
                                 self.spike_fn, self.state_quant)

    def _current_state(self, frame: torch.Tensor) -> SConv2dLSTMState:
        """The stored state, or zeros where its shape is not (B, C_out, H, W) of this frame."""
        shape = (frame.shape[0], self.out_channels, frame.shape[-2], frame.shape[-1])
        return SConv2dLSTMState(*self.held_state(shape, frame, lambda t: t.shape == shape))

    def sequence(self, x, syn=None, mem=None):
        """All T steps of x (T, B, C_in, H, W) from the given (or stored) state; returns stacked
        spk, syn, mem. The fast path: see the module doc.
        Unlike a call, it takes a state even with ``init_hidden`` (it sets the held state)."""
        self.set_state(syn, mem)
        state = self._current_state(x[0])
        if self.documented.intersection(STEP_SWITCHES):
            spk, syn_t, mem_t = self.steps_one_by_one(x, state, self.params())
        else:
            spk, syn_t, mem_t = sconv2dlstm_sequence(x, state, self.params())
        self.syn, self.mem = syn_t[-1], mem_t[-1]
        return spk, syn_t, mem_t
