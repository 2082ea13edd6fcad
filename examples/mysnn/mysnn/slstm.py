"""A spiking LSTM cell written from its equations: a drop-in for snntorch.SLSTM.

It takes snntorch's constructor arguments (those it does not use are accepted and ignored) and is
called the same way, one step at a time: ``spk, syn, mem = m(x_t, syn, mem)``. Its parameters
have names of its own; ``snnbench_parameter_names`` tells snnbench which of snntorch's they are,
so the same weights load into both.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


class ATan(torch.autograd.Function):
    """Heaviside forward; backward alpha/2 / (1 + (pi/2 alpha u)^2), snntorch's default surrogate."""

    @staticmethod
    def forward(ctx, u, alpha):
        ctx.save_for_backward(u)
        ctx.alpha = alpha
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return ctx.alpha / 2 / (1 + (math.pi / 2 * ctx.alpha * u) ** 2) * grad, None


class SLSTM(nn.Module):
    snnbench_neuron = "slstm"
    snnbench_parameter_names = {"w_x": "lstm_cell.weight_ih", "w_h": "lstm_cell.weight_hh",
                                "b_x": "lstm_cell.bias_ih", "b_h": "lstm_cell.bias_hh"}

    def __init__(self, input_size, hidden_size, bias=True, threshold=1.0, spike_grad=None,
                 reset_mechanism="none", learn_threshold=False, **unused):
        super().__init__()
        bound = 1 / math.sqrt(hidden_size)
        self.w_x = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.w_h = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        self.b_x = nn.Parameter(torch.zeros(4 * hidden_size)) if bias else None
        self.b_h = nn.Parameter(torch.zeros(4 * hidden_size)) if bias else None
        threshold = torch.as_tensor(threshold, dtype=torch.float32)
        if learn_threshold:
            self.threshold = nn.Parameter(threshold)
        else:
            self.register_buffer("threshold", threshold)
        self.spike_grad = spike_grad or (lambda u: ATan.apply(u, 2.0))
        self.reset_mechanism = reset_mechanism

    def cell(self, x, syn, mem):
        gates = x @ self.w_x.t() + mem @ self.w_h.t()
        if self.b_x is not None:
            gates = gates + self.b_x + self.b_h
        i, f, g, o = gates.chunk(4, dim=-1)
        syn = torch.sigmoid(f) * syn + torch.sigmoid(i) * torch.tanh(g)
        return syn, torch.sigmoid(o) * torch.tanh(syn)

    def reset(self, mem, reset):
        if self.reset_mechanism == "subtract":
            return mem - reset * self.threshold
        if self.reset_mechanism == "zero":
            return mem - reset * mem
        return mem

    def forward(self, x, syn, mem):
        reset = (mem - self.threshold > 0).to(mem.dtype).detach()    # from the previous step's mem
        syn, mem = self.cell(x, syn, mem)
        mem = self.reset(mem, reset)
        return self.spike_grad(mem - self.threshold), syn, mem


class LateResetSLSTM(SLSTM):
    """The same cell with a realistic mistake: the reset is taken from this step's membrane (as a
    LIF neuron would) instead of the previous one's."""

    def forward(self, x, syn, mem):
        syn, mem = self.cell(x, syn, mem)
        reset = (mem - self.threshold > 0).to(mem.dtype).detach()    # wrong step: this step's mem
        mem = self.reset(mem, reset)
        return self.spike_grad(mem - self.threshold), syn, mem
