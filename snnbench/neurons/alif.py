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

Fast paths (:meth:`ALIF.sequence`; ``m.fast = False`` runs the plain step loop instead):

- The alphas are computed once per call, not once per step.
- :func:`alif_sequence_fused` runs the whole sequence as *one* autograd node
  (:class:`_ALIFSequence`) when the spike function and reset are ours (any surrogate): the forward
  is the same elementwise operations as :func:`alif_step` in the same order (so bit-identical
  values), with no autograd graph built per step. It saves only the outputs (spikes, v_mem, i_syn,
  b) and, with a recurrence, the total input currents. The hand-written backward through time
  recomputes, for all steps at once, the membrane before the reset
  :math:`w_t = \alpha_{mem} v_{t-1} + i_t`, the thresholds, surrogates and masks; the time loop
  then carries only the adjoints of :math:`v, i, b` (a dozen elementwise ops per step, plus one
  ``grad @ W`` or transposed convolution per step for the recurrence). The recurrent weight and
  bias gradients and the alpha gradients are one batched reduction after the loop. Tests check
  the fused path against the step loop (values bitwise, gradients to 1e-10 in float64).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from snnbench.neurons.sinabs_functions import (MaxSpike, MembraneReset, MembraneSubtract, MultiSpike,
                                               SingleExponential, SingleSpike)


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


def alif_step(x: torch.Tensor, state: ALIFState, p: ALIFParams) -> tuple[torch.Tensor, ALIFState]:
    """One step from the total input current ``x`` (B, ...) and the previous state."""
    i_syn = x if p.alpha_syn is None else p.alpha_syn * (state.i_syn + x)
    if p.norm_input:
        i_syn = (1 - p.alpha_mem) * i_syn
    v = p.alpha_mem * state.v_mem + i_syn
    threshold = p.b0 + p.adapt_scale * state.b
    spikes = p.spike_fn.apply(v, threshold, p.surrogate)
    v = p.reset_fn(spikes, v, threshold)
    b = p.alpha_adapt * state.b + (1 - p.alpha_adapt) * spikes
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

    def __call__(self, s, weight, bias):
        return F.linear(s, weight, bias)


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

    def __call__(self, s, weight, bias):
        return F.conv2d(s, weight, bias, self.stride, self.padding, self.dilation, self.groups)


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
                 min_v_mem=None, shape=None, train_alphas=False, norm_input=True, record_states=False):
        super().__init__()
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
                          self.reset_fn, self.surrogate_grad_fn, self.min_v_mem, self.norm_input)

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


# ---- fast path: the whole sequence as one autograd node -----------------------------------------
def fast_path_applies(p: ALIFParams) -> bool:
    """The fused sequence covers our own spike functions and resets (any surrogate callable)."""
    spike_ok = p.spike_fn in (SingleSpike, MultiSpike) or isinstance(p.spike_fn, MaxSpike)
    return spike_ok and isinstance(p.reset_fn, (MembraneSubtract, MembraneReset))


def _spike_rule(spike_fn):
    if isinstance(spike_fn, MaxSpike):
        return lambda v, threshold: spike_fn.rule(v, threshold)
    return lambda v, threshold: spike_fn.rule(v, threshold, None)


class _ALIFSequence(torch.autograd.Function):
    """All T steps forward (the same elementwise operations as :func:`alif_step`, so the same
    values), and a hand-written backward through time. Saved: the outputs and, with a
    recurrence, the total input currents; everything else is recomputed in batch in backward."""

    @staticmethod
    def forward(ctx, x, v0, i0, b0_state, alpha_mem, alpha_adapt, alpha_syn, weight, bias, config):
        p, connect = config
        rule = _spike_rule(p.spike_fn)
        steps = x.shape[0]
        spikes, v_out, i_out, b_out = (torch.empty_like(x) for _ in range(4))
        u_out = torch.empty_like(x) if connect is not None else None
        v, i, b = v0, i0, b0_state
        for t in range(steps):
            u = x[t]
            if connect is not None and t > 0:
                u = u + connect(spikes[t - 1], weight, bias).reshape(u.shape)
                u_out[t] = u
            elif u_out is not None:
                u_out[t] = u
            i = u if alpha_syn is None else alpha_syn * (i + u)
            if p.norm_input:
                i = (1 - alpha_mem) * i
            v = alpha_mem * v + i
            threshold = p.b0 + p.adapt_scale * b
            s = rule(v, threshold)
            v = p.reset_fn(s, v, threshold)
            b = alpha_adapt * b + (1 - alpha_adapt) * s
            if p.min_v_mem is not None:
                v = F.relu(v - p.min_v_mem) + p.min_v_mem
            spikes[t], v_out[t], i_out[t], b_out[t] = s, v, i, b
        threshold_out = p.b0 + p.adapt_scale * b_out
        ctx.config = config
        ctx.save_for_backward(x if u_out is None else u_out, v0, i0, b0_state, alpha_mem, alpha_adapt,
                              alpha_syn, weight, bias, spikes, v_out, i_out, b_out)
        return spikes, v_out, i_out, b_out, threshold_out

    @staticmethod
    def backward(ctx, g_s, g_v, g_i, g_b, g_th):
        p, connect = ctx.config
        (u, v0, i0, b0_state, a_m, a_a, a_s, weight, bias,
         spikes, v_out, i_out, b_out) = ctx.saved_tensors
        zeros = torch.zeros_like(u)
        g_s, g_v, g_i, g_b, g_th = (zeros if g is None else g for g in (g_s, g_v, g_i, g_b, g_th))
        c = p.adapt_scale
        # everything that does not depend on the adjoints, for all steps at once
        v_prev = torch.cat([v0.expand_as(v_out[:1]), v_out[:-1]])
        i_prev = torch.cat([i0.expand_as(i_out[:1]), i_out[:-1]])
        b_prev = torch.cat([b0_state.expand_as(b_out[:1]), b_out[:-1]])
        w = a_m * v_prev + i_out                        # the membrane before the reset
        threshold = p.b0 + c * b_prev                   # what each step fired against
        threshold = threshold.expand_as(w)
        surrogate = p.surrogate(w, threshold)
        reset = p.reset_fn
        if isinstance(reset, MembraneReset):
            dz_dw = (spikes == 0).to(w.dtype)
        else:
            dz_dw = None
        if p.min_v_mem is not None:
            clip = (reset(spikes, w, threshold) - p.min_v_mem > 0).to(w.dtype)
        else:
            clip = None
        subtract_threshold = isinstance(reset, MembraneSubtract) and reset.subtract_value is None
        subtract_value = reset.subtract_value if isinstance(reset, MembraneSubtract) else None
        # the backward recurrence: only what depends on the next step's adjoints
        g_x = torch.empty_like(u)
        adj_w, adj_itot, adj_b = torch.empty_like(u), torch.empty_like(u), torch.empty_like(u)
        g_b_total = g_b + c * g_th
        next_w = next_j = next_bcarry = next_rec = None
        for t in range(u.shape[0] - 1, -1, -1):
            a_b = g_b_total[t] if next_bcarry is None else g_b_total[t] + next_bcarry
            a_v = g_v[t] if next_w is None else g_v[t] + a_m * next_w
            a_i = g_i[t] if (next_j is None or a_s is None) else g_i[t] + a_s * next_j
            a_s_t = g_s[t] + (1 - a_a) * a_b
            if next_rec is not None:
                a_s_t = a_s_t + next_rec
            a_z = a_v if clip is None else a_v * clip[t]
            if subtract_threshold:
                a_s_t = a_s_t - threshold[t] * a_z
                a_thr = -spikes[t] * a_z
            elif subtract_value is not None:
                a_s_t = a_s_t - subtract_value * a_z
                a_thr = None
            else:
                a_thr = None
            a_w = (a_z if dz_dw is None else a_z * dz_dw[t]) + a_s_t * surrogate[t]
            a_itot = a_i + a_w
            a_j = (1 - a_m) * a_itot if p.norm_input else a_itot
            a_u = a_j if a_s is None else a_s * a_j
            g_x[t], adj_w[t], adj_itot[t], adj_b[t] = a_u, a_w, a_itot, a_b
            next_w, next_j = a_w, a_j
            next_bcarry = a_a * a_b if a_thr is None else a_a * a_b + c * a_thr
            if connect is not None and t > 0:
                next_rec = _recurrent_input_grad(connect, a_u, weight, spikes[t - 1])
        # parameter gradients, in batch
        adj_j = (1 - a_m) * adj_itot if p.norm_input else adj_itot
        pre_syn = u if a_s is None else i_prev + u     # j = a_s * pre_syn
        g_am = adj_w * v_prev
        if p.norm_input:
            g_am = g_am - adj_itot * (pre_syn if a_s is None else a_s * pre_syn)
        g_aa = adj_b * (b_prev - spikes)
        grads_alpha = [_reduce(g_am, a_m), _reduce(g_aa, a_a),
                       None if a_s is None else _reduce(adj_j * pre_syn, a_s)]
        g_v0 = _reduce_state(a_m * next_w, v0)
        g_i0 = None if a_s is None else _reduce_state(a_s * next_j, i0)
        g_b0 = _reduce_state(next_bcarry, b0_state)
        g_weight = g_bias = None
        if connect is not None and u.shape[0] > 1:
            g_weight, g_bias = _recurrent_weight_grad(connect, g_x[1:], spikes[:-1], weight, bias)
        return (g_x, g_v0, g_i0, g_b0, *grads_alpha, g_weight, g_bias, None)


def _reduce(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return grad.sum(0).sum_to_size(like.shape)


def _reduce_state(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return grad.sum_to_size(like.shape)


def _recurrent_input_grad(connect, grad_out, weight, s_prev):
    """d loss / d s_{t-1} from d loss / d R(s_{t-1})."""
    if isinstance(connect, LinearConnect):
        return grad_out @ weight
    return torch.nn.grad.conv2d_input(s_prev.shape, weight, grad_out, connect.stride, connect.padding,
                                      connect.dilation, connect.groups)


def _recurrent_weight_grad(connect, grad_out, s_prev, weight, bias):
    """Weight and bias gradients of R over all steps at once."""
    if isinstance(connect, LinearConnect):
        g_out = grad_out.reshape(-1, grad_out.shape[-1])
        g_weight = g_out.t() @ s_prev.reshape(-1, s_prev.shape[-1])
        return g_weight, (None if bias is None else g_out.sum(0))
    g_out = grad_out.reshape(-1, *grad_out.shape[2:])
    g_weight = torch.nn.grad.conv2d_weight(s_prev.reshape(-1, *s_prev.shape[2:]), weight.shape, g_out,
                                           connect.stride, connect.padding, connect.dilation, connect.groups)
    return g_weight, (None if bias is None else g_out.sum((0, 2, 3)))


def alif_sequence_fused(x: torch.Tensor, state: ALIFState, p: ALIFParams, connect=None, weight=None, bias=None):
    """:func:`alif_sequence` as one autograd node (see :class:`_ALIFSequence`)."""
    shape = x.shape[1:]
    v0, i0, b0 = (t.expand(shape) if t.shape != shape else t for t in (state.v_mem, state.i_syn, state.b))
    spikes, v, i, b, threshold = _ALIFSequence.apply(x, v0, i0, b0, p.alpha_mem, p.alpha_adapt, p.alpha_syn,
                                                     weight, bias, (p, connect))
    return spikes, ALIFState(v, i, b, threshold)
