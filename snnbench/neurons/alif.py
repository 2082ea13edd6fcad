r"""Adaptive LIF (sinabs ``ALIF`` / ``ALIFRecurrent``), from scratch: torch only.

One step, with input current :math:`x_t` (for ``ALIFRecurrent``:
:math:`x_t + R(s_{t-1})`, the recurrent term reshaped to the sample shape and zero at the first
step of every call), :math:`\alpha = e^{-1/\tau}` for each time constant:

.. math::
    \begin{aligned}
    i_t &= \begin{cases} \alpha_{syn} (i_{t-1} + x_t) & \text{with } \tau_{syn} \\
                         x_t & \text{without} \end{cases} \\
    i_t &\leftarrow (1 - \alpha_{mem})\, i_t \quad \text{(norm\_input; the normalised value is the
          state)} \\
    v &= \alpha_{mem} v_{t-1} + i_t \\
    B_t &= b_0 + \text{adapt\_scale}\; b_{t-1} \quad \text{(the threshold this step fires against)} \\
    s_t &= \text{spike\_fn}(v, B_t) \\
    v &\leftarrow \text{reset\_fn}(s_t, v, B_t) \\
    b_t &= \alpha_{adapt} b_{t-1} + (1 - \alpha_{adapt})\, s_t \\
    \text{spike\_threshold}_t &= b_0 + \text{adapt\_scale}\; b_t \\
    v_t &= \max(v, \text{min\_v\_mem}) \quad \text{(after the reset, when min\_v\_mem is set)}
    \end{aligned}

Spike functions, resets and surrogates are in :mod:`snnbench.neurons.sinabs_functions`. The spike
function passes no gradient to :math:`B_t`; the default reset ``MembraneSubtract()`` subtracts
:math:`s_t B_t` (the adaptive threshold, not :math:`b_0`), so gradients do reach :math:`b` through
the reset. :math:`b` is never zeroed. Taus (or, with ``train_alphas``, the alphas) are trainable.

What the reference code does, and we therefore do too (see reference-notes.md):

- ``i_syn`` is read from the module at each call but never written back, and the recurrent term
  restarts from zero: only ``v_mem``, ``b`` and ``spike_threshold`` persist between calls.
- ``tau_syn`` that is falsy (0) means no synaptic filter unless ``train_alphas``.

A whole sequence (:meth:`ALIF.sequence`) runs the fused path of :mod:`snnbench.neurons.fused.alif`
(the alphas once per call, the time loop as one autograd node with a hand-written backward through
time) when it covers the options (our spike functions and resets, any surrogate, no departure run
as documented); else, or with ``m.fast = False``, the step loop :func:`alif_sequence`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from snnbench.neurons.fused.alif import alif_sequence_fused, fast_path_applies
from snnbench.neurons.sinabs_functions import (Heaviside, MembraneReset, MembraneSubtract, SingleExponential,
                                               SingleSpike, spike)


class ALIFState(NamedTuple):
    v_mem: torch.Tensor
    i_syn: torch.Tensor
    b: torch.Tensor
    spike_threshold: torch.Tensor


class ALIFParams(NamedTuple):
    alpha_mem: torch.Tensor
    alpha_adapt: torch.Tensor
    alpha_syn: Optional[torch.Tensor]     # None: no synaptic filter
    adapt_scale: Any                      # float or tensor
    b0: Any                               # float or tensor: the base threshold
    spike_fn: Any                         # has .apply(v, threshold, surrogate)
    reset_fn: Callable
    surrogate: Callable
    min_v_mem: Optional[float]
    norm_input: bool
    documented: frozenset = frozenset()    # departures run as documented (snnbench/departures)


# the departures ours can run as documented (alif_step; the fused path runs the code's behaviour)
SWITCHES = ("alif-membrane-subtract-adaptive", "alif-b-not-zeroed", "singlespike-fires-at-equal",
            "alif-synaptic-formula", "alif-norm-input-writeback", "membrane-reset-adds-everywhere",
            "spike-fn-no-threshold-grad", "heaviside-window-absolute")


def alif_step(x: torch.Tensor, state: ALIFState, p: ALIFParams) -> tuple[torch.Tensor, ALIFState]:
    """One step from the total input current ``x`` (B, ...) and the previous state (the module
    docstring's equations). With departures in ``p.documented``, as their documentation says:
    ``alif-synaptic-formula``: i = alpha_syn i (1 - alpha_syn) + x; ``alif-norm-input-writeback``:
    the normalised current drives v but i_syn keeps the filtered value;
    ``alif-membrane-subtract-adaptive``: MembraneSubtract() subtracts b0, not B;
    ``alif-b-not-zeroed``: b -> 0 where a spike was emitted; ``singlespike-fires-at-equal``,
    ``spike-fn-no-threshold-grad``, ``membrane-reset-adds-everywhere``,
    ``heaviside-window-absolute``: in the spike function, reset and surrogate
    (snnbench/neurons/sinabs_functions.py)."""
    doc = p.documented
    if p.alpha_syn is None:
        i_syn = x
    elif "alif-synaptic-formula" in doc:
        i_syn = p.alpha_syn * state.i_syn * (1 - p.alpha_syn) + x
    else:
        i_syn = p.alpha_syn * (state.i_syn + x)
    current = i_syn
    if p.norm_input:
        current = (1 - p.alpha_mem) * i_syn
        if p.alpha_syn is None or "alif-norm-input-writeback" not in doc:
            i_syn = current                     # the code keeps the normalised value as i_syn
    v = p.alpha_mem * state.v_mem + current
    threshold = p.b0 + p.adapt_scale * state.b
    spikes = spike(p.spike_fn, v, threshold, p.surrogate, doc)
    subtract_b0 = ("alif-membrane-subtract-adaptive" in doc and isinstance(p.reset_fn, MembraneSubtract)
                   and p.reset_fn.subtract_value is None)
    v = p.reset_fn(spikes, v, torch.as_tensor(p.b0, dtype=v.dtype, device=v.device) if subtract_b0 else threshold)
    b = p.alpha_adapt * state.b + (1 - p.alpha_adapt) * spikes
    if "alif-b-not-zeroed" in doc:
        b = b * (spikes == 0).to(b.dtype)
    if p.min_v_mem is not None:
        v = F.relu(v - p.min_v_mem) + p.min_v_mem
    return spikes, ALIFState(v, i_syn, b, p.b0 + p.adapt_scale * b)


def alif_sequence(x: torch.Tensor, state: ALIFState, p: ALIFParams,
                  recurrent: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None):
    """All steps of a time-major x (T, B, ...). ``recurrent(x_t, s_prev)`` returns
    ``x_t + R(s_prev)`` (None: plain ALIF). Returns spikes (T, B, ...) and the stacked states."""
    spikes, v_mem, i_syn, b, threshold = [], [], [], [], []
    s = None
    for t in range(x.shape[0]):
        x_t = x[t] if (recurrent is None or s is None) else recurrent(x[t], s)
        s, state = alif_step(x_t, state, p)
        spikes.append(s)
        v_mem.append(state.v_mem)
        i_syn.append(state.i_syn)
        b.append(state.b)
        threshold.append(state.spike_threshold)
    return torch.stack(spikes), ALIFState(torch.stack(v_mem), torch.stack(i_syn), torch.stack(b),
                                          torch.stack(threshold))


# ---- the recurrent connection, as raw parameters -------------------------------------------------
@dataclass(frozen=True)
class LinearConnect:
    """``R(s) = s W^T + b`` over the last axis (as ``nn.Linear`` would), from raw parameters."""

    in_features: int
    out_features: int
    bias: bool = True

    def weight_shape(self) -> tuple[int, ...]:
        return (self.out_features, self.in_features)

    def bias_shape(self) -> tuple[int, ...]:
        return (self.out_features,)

    is_linear: ClassVar[bool] = True

    def __call__(self, s, weight, bias):
        return F.linear(s, weight, bias)

    def input_grad(self, grad_out, weight, s_prev):
        """d loss / d s_{t-1} from d loss / d R(s_{t-1})."""
        return grad_out @ weight

    def weight_grad(self, grad_out, s_prev, weight, bias):
        """Weight and bias gradients of R over all steps at once (leading axes summed)."""
        g_out = grad_out.reshape(-1, grad_out.shape[-1])
        g_weight = g_out.t() @ s_prev.reshape(-1, s_prev.shape[-1])
        return g_weight, (None if bias is None else g_out.sum(0))


@dataclass(frozen=True)
class Conv2dConnect:
    """``R(s) = conv2d(s, W) + b`` (as ``nn.Conv2d`` would), from raw parameters."""

    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, int]
    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] = 0
    dilation: int | tuple[int, int] = 1
    groups: int = 1
    bias: bool = True

    def weight_shape(self) -> tuple[int, ...]:
        k = self.kernel_size if isinstance(self.kernel_size, tuple) else (self.kernel_size,) * 2
        return (self.out_channels, self.in_channels // self.groups, *k)

    def bias_shape(self) -> tuple[int, ...]:
        return (self.out_channels,)

    is_linear: ClassVar[bool] = False

    def __call__(self, s, weight, bias):
        return F.conv2d(s, weight, bias, self.stride, self.padding, self.dilation, self.groups)

    def input_grad(self, grad_out, weight, s_prev):
        """d loss / d s_{t-1} from d loss / d R(s_{t-1})."""
        return torch.nn.grad.conv2d_input(s_prev.shape, weight, grad_out, self.stride, self.padding,
                                          self.dilation, self.groups)

    def weight_grad(self, grad_out, s_prev, weight, bias):
        """Weight and bias gradients of R over all steps at once (steps and batch summed)."""
        g_out = grad_out.reshape(-1, *grad_out.shape[2:])
        g_weight = torch.nn.grad.conv2d_weight(s_prev.reshape(-1, *s_prev.shape[2:]), weight.shape, g_out,
                                               self.stride, self.padding, self.dilation, self.groups)
        return g_weight, (None if bias is None else g_out.sum((0, 2, 3)))


def _as_parameter(value) -> nn.Parameter:
    """An integer tau raises here, as in sinabs (an integer tensor cannot require gradients)."""
    return nn.Parameter(torch.as_tensor(value).clone())


class ALIF(nn.Module):
    """Drop-in for ``sinabs.layers.ALIF``: same constructor, batch-first ``spikes = m(x)`` with x
    (B, T, ...); ``v_mem``, ``b`` and ``spike_threshold`` persist between calls.

    ``m.sequence(x, state)`` runs a time-major (T, B, ...) sequence from an explicit
    :class:`ALIFState` and returns the spikes and every per-step state, stacked over time.
    """

    def __init__(self, tau_mem, tau_adapt, tau_syn=None, adapt_scale=1.8, spike_threshold=1.0,
                 spike_fn=SingleSpike, reset_fn=MembraneSubtract(), surrogate_grad_fn=SingleExponential(),
                 min_v_mem=None, shape=None, train_alphas=False, norm_input=True, record_states=False,
                 documented=()):
        super().__init__()
        self.documented = frozenset(documented).intersection(SWITCHES)
        if "membrane-reset-adds-everywhere" in self.documented and isinstance(reset_fn, MembraneReset):
            reset_fn = MembraneReset(reset_fn.reset_value, only_spiked=True)
        if "heaviside-window-absolute" in self.documented and isinstance(surrogate_grad_fn, Heaviside):
            surrogate_grad_fn = Heaviside(surrogate_grad_fn.window, relative=True)
        self.train_alphas = train_alphas
        if train_alphas:
            self.alpha_mem = nn.Parameter(torch.exp(-1 / torch.as_tensor(tau_mem)))
            self.alpha_adapt = nn.Parameter(torch.exp(-1 / torch.as_tensor(tau_adapt)))
            self.alpha_syn = (nn.Parameter(torch.exp(-1 / torch.as_tensor(tau_syn)))
                              if tau_syn is not None else None)
        else:
            if tau_syn is not None and torch.as_tensor(tau_syn).numel() > 1:
                raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous "
                                   "(the reference tests `if tau_syn`)")
            self.tau_mem = _as_parameter(tau_mem)
            self.tau_adapt = _as_parameter(tau_adapt)
            self.tau_syn = _as_parameter(tau_syn) if tau_syn else None   # 0 means none, as in sinabs
        self.adapt_scale = adapt_scale
        self.b0 = spike_threshold
        self.spike_fn = spike_fn
        self.reset_fn = reset_fn
        self.surrogate_grad_fn = surrogate_grad_fn
        self.min_v_mem = min_v_mem
        self.norm_input = norm_input
        self.has_syn = tau_syn is not None
        self.fast = True
        self.v_mem: torch.Tensor | None = None
        self.i_syn: torch.Tensor | None = None
        self.b: torch.Tensor | None = None
        self.spike_threshold: torch.Tensor | None = None
        if shape:
            self.reset_states(shape)

    # ---- parameters and state ----------------------------------------------------------------
    def alphas(self) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        if self.train_alphas:
            return self.alpha_mem, self.alpha_adapt, self.alpha_syn
        alpha_syn = torch.exp(-1 / self.tau_syn) if self.tau_syn is not None else None
        return torch.exp(-1 / self.tau_mem), torch.exp(-1 / self.tau_adapt), alpha_syn

    def params(self) -> ALIFParams:
        alpha_mem, alpha_adapt, alpha_syn = self.alphas()
        return ALIFParams(alpha_mem, alpha_adapt, alpha_syn, self.adapt_scale, self.b0, self.spike_fn,
                          self.reset_fn, self.surrogate_grad_fn, self.min_v_mem, self.norm_input, self.documented)

    def reset_states(self, shape, dtype=torch.float32, device=None) -> None:
        zeros = torch.zeros(shape, dtype=dtype, device=device)
        self.v_mem, self.i_syn, self.b, self.spike_threshold = zeros, zeros, zeros, zeros

    def _state_for(self, x: torch.Tensor) -> ALIFState:
        shape = (x.shape[0], *x.shape[2:])
        if self.v_mem is None or self.v_mem.shape != shape:
            self.reset_states(shape, device=x.device)
        return ALIFState(self.v_mem, self.i_syn, self.b, self.spike_threshold)

    def _recurrent(self) -> Callable | None:
        return None

    def _connection(self) -> tuple:
        """(connect, weight, bias) of the recurrence, or Nones."""
        return None, None, None

    # ---- running ------------------------------------------------------------------------------
    def sequence(self, x: torch.Tensor, state: ALIFState) -> tuple[torch.Tensor, ALIFState]:
        """Time-major x (T, B, ...) from ``state``: spikes and per-step states, each (T, B, ...).
        Uses the fused sequence when it covers the options (``fast=False`` forces the step loop)."""
        p = self.params()
        if self.fast and fast_path_applies(p):
            return alif_sequence_fused(x, state, p, *self._connection())
        return alif_sequence(x, state, p, self._recurrent())

    def step(self, x_t: torch.Tensor, state: ALIFState, previous_spikes: torch.Tensor | None = None):
        """One step; for ALIFRecurrent ``previous_spikes`` feeds the recurrence (None: none yet)."""
        recurrent = self._recurrent()
        if recurrent is not None and previous_spikes is not None:
            x_t = recurrent(x_t, previous_spikes)
        return alif_step(x_t, state, self.params())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        state = self._state_for(x)
        spikes, states = self.sequence(x.transpose(0, 1), state)
        # as in sinabs: i_syn is not written back
        self.v_mem, self.b, self.spike_threshold = states.v_mem[-1], states.b[-1], states.spike_threshold[-1]
        return spikes.transpose(0, 1)


class ALIFRecurrent(ALIF):
    """Drop-in for ``sinabs.layers.ALIFRecurrent`` whose ``rec_connect`` is a
    :class:`LinearConnect` or :class:`Conv2dConnect` description: its weight and bias are raw
    parameters ``rec_weight`` and ``rec_bias`` applied with ``F.linear`` / ``F.conv2d``."""

    def __init__(self, tau_mem, tau_adapt, rec_connect: LinearConnect | Conv2dConnect, tau_syn=None, **kwargs):
        super().__init__(tau_mem, tau_adapt, tau_syn=tau_syn, **kwargs)
        self.rec_connect = rec_connect
        self.rec_weight = nn.Parameter(torch.empty(rec_connect.weight_shape()))
        nn.init.kaiming_uniform_(self.rec_weight, a=math.sqrt(5))
        if rec_connect.bias:
            fan_in = self.rec_weight[0].numel()
            bound = 1 / math.sqrt(fan_in)
            self.rec_bias = nn.Parameter(torch.empty(rec_connect.bias_shape()).uniform_(-bound, bound))
        else:
            self.rec_bias = None

    def _connection(self) -> tuple:
        return self.rec_connect, self.rec_weight, self.rec_bias

    def _recurrent(self) -> Callable:
        weight, bias, connect = self.rec_weight, self.rec_bias, self.rec_connect

        def recurrent(x_t, s):
            return x_t + connect(s, weight, bias).reshape(x_t.shape)
        return recurrent
