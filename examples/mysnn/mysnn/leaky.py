"""A parallel leaky layer written from its equations: a drop-in for snntorch.LeakyParallel.

Called like the reference over a whole time-major sequence, ``spk = m(x)`` with x (T, B, N), from
zero state: mem_t = relu(W x_t + b + beta * mem_{t-1}), spk_t = Heaviside(mem_t - threshold). Its
parameters carry the reference's names (``rnn.weight_ih_l0`` ...), so no name map is needed.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from mysnn.slstm import ATan


class _Weights(nn.Module):
    def __init__(self, input_size, hidden_size, beta):
        super().__init__()
        bound = 1 / math.sqrt(hidden_size)
        self.weight_ih_l0 = nn.Parameter(torch.empty(hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh_l0 = nn.Parameter(torch.eye(hidden_size) * (beta if beta is not None else 0.9),
                                         requires_grad=False)
        self.bias_ih_l0 = nn.Parameter(torch.zeros(hidden_size))
        self.bias_hh_l0 = nn.Parameter(torch.zeros(hidden_size))


class LeakyParallel(nn.Module):
    snnbench_neuron = "leakyparallel"

    def __init__(self, input_size, hidden_size, beta=None, threshold=1.0, spike_grad=None, **unused):
        super().__init__()
        self.rnn = _Weights(input_size, hidden_size, beta)
        self.register_buffer("threshold", torch.as_tensor(threshold, dtype=torch.float32))
        self.spike_grad = spike_grad or (lambda u: ATan.apply(u, 2.0))

    def forward(self, x):
        w = self.rnn
        decay = w.weight_hh_l0.diagonal()
        drive = x @ w.weight_ih_l0.t() + w.bias_ih_l0 + w.bias_hh_l0
        mem = torch.zeros_like(drive[0])
        spikes = []
        for t in range(x.shape[0]):
            mem = torch.relu(drive[t] + decay * mem)
            spikes.append(self.spike_grad(mem - self.threshold))
        return torch.stack(spikes)
