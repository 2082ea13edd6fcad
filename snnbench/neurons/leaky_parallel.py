r"""Parallel leaky neuron (snntorch ``LeakyParallel``), from scratch: torch only, no ``nn.RNN``.

The reference is a one-layer ``nn.RNN(nonlinearity="relu")`` followed by a spike function. Over a
time-major input :math:`x` of shape (L, N, H_in), always starting from zero state:

.. math::
    \begin{aligned}
    mem_{-1} &= 0 \\
    mem_t &= \mathrm{relu}\big(W_{ih} x_t + b_{ih} + W_{hh}\, mem_{t-1} + b_{hh}\big) \\
    spk_t &= S(mem_t - \vartheta) \cdot g
    \end{aligned}

with :math:`S` the Heaviside step (strict, ``u > 0``) with a surrogate gradient (ATan with
alpha = 2 unless ``spike_grad`` is given) and :math:`g` the graded-spikes factor. There is no
reset: a spike does not lower the membrane. ``mem`` is the RNN's output (its hidden state).

What the reference code does, and we therefore do too (see reference-notes.md):

- :math:`W_{hh}` is made diagonal at construction (``weight_hh_enable=False``, the default), so
  each neuron only leaks into itself: :math:`W_{hh} = \mathrm{diag}(d)` with ``d`` the decays.
- ``beta`` (a float or one-element tensor, clamped to [0, 1] once) fills :math:`W_{hh}`; a
  per-neuron tensor is silently ignored (the random init stays); ``beta=None`` keeps the random
  init ``U(-1/sqrt(H), 1/sqrt(H))``, so decays can be negative. With ``weight_hh_enable=True``
  the whole dense matrix is filled with beta (or stays random) and is used as it is.
- ``learn_beta=True`` makes :math:`W_{hh}` trainable (its diagonal only, in diagonal mode), never
  clamped again. ``dropout`` has no effect (a single-layer RNN has no layer to drop between).

A whole sequence (:func:`leaky_parallel_sequence`) with a diagonal :math:`W_{hh}` (the default) runs
the fused path of :mod:`snnbench.neurons.fused.leaky_parallel`: the recurrence elementwise, in
place, chunked, with a hand-written backward through time (on CUDA with Triton, one kernel per
direction); a dense :math:`W_{hh}` runs the step loop (:func:`leaky_parallel_sequence_by_steps`).

Known departures: with an infinite input, the reference computes ``0 * inf = nan`` in the masked
matrix and turns every neuron of that sample to NaN on the next step; the fast path keeps the
other neurons finite. (An infinite or NaN upstream gradient on a silent (mem = 0) neuron gives
0 there, as the reference's relu backward does.) Ours returns spikes in the input's dtype (the
reference's default ATan always returns float32).
"""

from __future__ import annotations

import warnings
from typing import Callable, NamedTuple

import torch
import torch.nn as nn

from snnbench.neurons import surrogates
from snnbench.neurons.fused import leaky_parallel as fused


class LeakyParallelParams(NamedTuple):
    weight_ih: torch.Tensor            # (H, I)
    weight_hh: torch.Tensor            # (H, H); only its diagonal is read when ``diagonal``
    bias_ih: torch.Tensor | None       # (H,)
    bias_hh: torch.Tensor | None       # (H,)
    diagonal: bool
    threshold: torch.Tensor
    graded_spikes_factor: torch.Tensor
    spike_fn: Callable[[torch.Tensor], torch.Tensor]


def project_input(x: torch.Tensor, p: LeakyParallelParams, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``W_ih x + bias`` (default ``b_ih``) for any leading shape, as one matmul."""
    bias = p.bias_ih if bias is None else bias
    flat = x.reshape(-1, x.shape[-1])
    out = flat @ p.weight_ih.t() if bias is None else torch.addmm(bias, flat, p.weight_ih.t())
    return out.reshape(*x.shape[:-1], out.shape[-1])


def recurrent_term(mem: torch.Tensor | None, p: LeakyParallelParams) -> torch.Tensor | None:
    """``W_hh mem + b_hh`` for one step (None when it is zero: no previous state and no bias)."""
    if mem is None:
        return p.bias_hh
    if p.diagonal:
        decay = p.weight_hh.diagonal()
        return decay * mem if p.bias_hh is None else torch.addcmul(p.bias_hh, decay, mem)
    return mem @ p.weight_hh.t() if p.bias_hh is None else torch.addmm(p.bias_hh, mem, p.weight_hh.t())


def fire(mem: torch.Tensor, p: LeakyParallelParams) -> torch.Tensor:
    return p.spike_fn(mem - p.threshold) * p.graded_spikes_factor


def leaky_parallel_step(x_t: torch.Tensor, mem: torch.Tensor | None, p: LeakyParallelParams):
    """One step from the previous membrane (None = zero state): returns ``spk_t, mem_t``."""
    pre = project_input(x_t, p)
    recurrent = recurrent_term(mem, p)
    mem = torch.relu(pre if recurrent is None else pre + recurrent)
    return fire(mem, p), mem


def leaky_parallel_sequence_by_steps(x: torch.Tensor, p: LeakyParallelParams):
    """All steps of x (T, B, I) from zero state as a loop over time: ``spk, mem``, each (T, B, H)."""
    a = project_input(x, p)
    mems, previous = [], None
    for t in range(x.shape[0]):
        recurrent = recurrent_term(previous, p)
        previous = torch.relu(a[t] if recurrent is None else a[t] + recurrent)
        mems.append(previous)
    mem = torch.stack(mems)
    return fire(mem, p), mem


def leaky_parallel_sequence(x: torch.Tensor, p: LeakyParallelParams):
    """All steps of x (T, B, I) from zero state: returns ``spk, mem``, each (T, B, H). With a
    diagonal W_hh by the fused path (:func:`snnbench.neurons.fused.leaky_parallel.diagonal_sequence`),
    else by :func:`leaky_parallel_sequence_by_steps`."""
    if p.diagonal:
        return fused.diagonal_sequence(x, p)
    return leaky_parallel_sequence_by_steps(x, p)


def _beta_fill(beta, per_neuron: bool = False) -> float | torch.Tensor | None:
    """The value the reference fills W_hh with: beta clamped to [0, 1] when it is one value;
    None (keep the random init) when beta is None or a tensor of any other length. With
    ``per_neuron`` (departure ``leakyparallel-per-neuron-beta`` run as documented), a beta with
    one value per neuron is those values, clamped."""
    if beta is None:
        return None
    if not isinstance(beta, torch.Tensor):
        beta = torch.as_tensor([beta])          # as the reference stores a number: float32
    if beta.dim() == 0:
        raise TypeError("beta must be a float or a tensor with one element or one per neuron, "
                        "not a 0-d tensor (snntorch raises here too)")
    if beta.numel() != 1:
        if per_neuron:
            return beta.detach().reshape(-1).clamp(0, 1)
        warnings.warn("LeakyParallel ignores a beta with more than one value (as snntorch does): "
                      "the decays keep their random init", UserWarning, stacklevel=3)
        return None
    return float(beta.detach().clamp(0, 1).reshape(()))


CLAMP_SWITCHES = ("leakyparallel-beta-none-unclamped", "leakyparallel-beta-not-clipped-in-forward")


class LeakyParallel(nn.Module):
    """Drop-in for ``snntorch.LeakyParallel``: same constructor arguments, ``spk = m(x)``.

    ``x`` is (L, N, H_in) or unbatched (L, H_in). ``m.sequence(x)`` returns ``spk, mem`` (the
    reference exposes only the spikes); ``m.step(x_t, mem)`` runs one step from a given membrane.
    Parameters use ``nn.RNN``'s names without the layer suffix (``weight_ih``, ``weight_hh``,
    ``bias_ih``, ``bias_hh``). ``weight_hh`` is kept as the full (H, H) matrix in both modes (the
    diagonal mode reads only its diagonal), so it trains and copies exactly like the reference's.
    """

    def __init__(self, input_size, hidden_size, beta=None, bias=True, threshold=1.0, dropout=0.0,
                 spike_grad=None, surrogate_disable=False, learn_beta=False, learn_threshold=False,
                 graded_spikes_factor=1.0, learn_graded_spikes_factor=False, weight_hh_enable=False,
                 device=None, dtype=None, documented=()):
        super().__init__()
        self.documented = frozenset(documented)
        factory = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.dropout = dropout  # accepted and without effect, as in a single-layer nn.RNN
        self.diagonal = not weight_hh_enable
        bound = 1.0 / hidden_size ** 0.5

        def uniform(*shape):
            return torch.empty(*shape, **factory).uniform_(-bound, bound)

        self.weight_ih = nn.Parameter(uniform(hidden_size, input_size))
        weight_hh = uniform(hidden_size, hidden_size)
        self.bias_ih = nn.Parameter(uniform(hidden_size)) if bias else None
        self.bias_hh = nn.Parameter(uniform(hidden_size)) if bias else None
        fill = _beta_fill(beta, per_neuron="leakyparallel-per-neuron-beta" in self.documented)
        self.documented_weights = set()       # weights whose documented initial value is not the reference's
        if isinstance(fill, torch.Tensor) and fill.numel() == hidden_size:
            weight_hh.diagonal().copy_(fill)
            self.documented_weights.add("weight_hh")
        elif fill is not None and not isinstance(fill, torch.Tensor):
            weight_hh.fill_(fill)
        if self.diagonal:
            weight_hh = torch.diag(weight_hh.diagonal())
        self.weight_hh = nn.Parameter(weight_hh, requires_grad=bool(learn_beta))
        self.spike_fn = surrogates.spike_function(spike_grad, surrogate_disable, self.documented)
        self._scalar("threshold", threshold, learn_threshold)
        self._scalar("graded_spikes_factor", graded_spikes_factor, learn_graded_spikes_factor)

    def _scalar(self, name: str, value, learn: bool) -> None:
        value = torch.as_tensor(value)
        if learn:
            setattr(self, name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    def params(self) -> LeakyParallelParams:
        weight_hh = self.weight_hh
        if self.diagonal and self.documented.intersection(CLAMP_SWITCHES):
            # as documented: the decays (beta) clipped to [0, 1] in the forward pass
            weight_hh = torch.diag(weight_hh.diagonal().clamp(0, 1))
        return LeakyParallelParams(self.weight_ih, weight_hh, self.bias_ih, self.bias_hh, self.diagonal,
                                   self.threshold, self.graded_spikes_factor, self.spike_fn)

    def sequence(self, input_: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``spk, mem`` for a whole (L, N, H_in) or (L, H_in) sequence, from zero state."""
        unbatched = input_.dim() == 2
        x = input_.unsqueeze(1) if unbatched else input_
        spk, mem = leaky_parallel_sequence(x, self.params())
        return (spk.squeeze(1), mem.squeeze(1)) if unbatched else (spk, mem)

    def step(self, x_t: torch.Tensor, mem: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: ``spk_t, mem_t`` from the previous membrane ``mem`` (None = zero state)."""
        return leaky_parallel_step(x_t, mem, self.params())

    def forward(self, input_: torch.Tensor) -> torch.Tensor:
        return self.sequence(input_)[0]
