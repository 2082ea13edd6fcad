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

Fast path (:class:`DiagonalLeakyParallel`), used when :math:`W_{hh}` is diagonal. Its parts:

1. The input projection for all L x N rows in one matmul, with both biases folded into it:
   :math:`a_t = W_{ih} x_t + (b_{ih} + b_{hh})` (the same sum; only the rounding order of the
   additions differs).
2. The recurrence is elementwise, :math:`mem_t = \mathrm{relu}(a_t + d \odot mem_{t-1})`, written in
   place over ``a`` (one fused multiply-add and one clamp per step), instead of a (N, H) x (H, H)
   matmul per step. This is exact: the reference's off-diagonal products are ``0 * mem`` = 0
   and adding zeros changes no sum (infinities excepted, see below).
3. The steps run in chunks of about ``CHUNK_BYTES`` (1 MiB) of (steps, N, H); each chunk's spikes
   are formed right after its recurrence, while it is still in cache, into the preallocated
   output. The spike function is the given one (any surrogate), so the spikes are the same.
4. The backward through time is written by hand, chunk by chunk from the last, and saves only
   ``mem`` (the output itself) and the small decays, threshold and graded factor: no
   (T, N, H) tensor of ``mem - threshold`` is kept for the surrogate. Per chunk it recomputes
   ``u = mem - threshold`` and differentiates the spike function alone on it (autograd of the
   surrogate on a cache-sized piece, so it is exactly the surrogate's own gradient), then with
   the relu mask :math:`r_t = [mem_t > 0]` (as ``sign(mem_t)``: mem >= 0)
   :math:`\delta_t = r_t \odot (\partial L/\partial mem_t + d \odot \delta_{t+1})`, computed as
   :math:`r_t \odot g_t + (r_t \odot d) \odot \delta_{t+1}` (the same value: r is 0 or 1) with
   one multiply-add per step. Then :math:`\partial L/\partial a_t = \delta_t` (autograd of the
   matmul gives d(input), d(W_ih) and both biases from it),
   :math:`\partial L/\partial d = \sum_{t \ge 1, n} \delta_t\, mem_{t-1}`,
   :math:`\partial L/\partial \vartheta = -\sum \partial L/\partial u` and
   :math:`\partial L/\partial g = \sum S(u)\, \partial L/\partial spk` (summed to their shapes).
   The gradient of the off-diagonal entries of W_hh is zero, as the reference's hook makes it.

On CUDA with Triton (:mod:`triton_scan`), steps 2 and 4's per-step loops are one kernel launch
each over the whole sequence, doing the same per-element operations (a multiply-add and a
clamp; a multiply-add and the 0/1 mask), and the spike function and its surrogate run once
over the whole (T, B, H) tensor instead of per chunk.

Known departures: with an infinite input, the reference computes ``0 * inf = nan`` in the masked
matrix and turns every neuron of that sample to NaN on the next step; the fast path keeps the
other neurons finite. (An infinite or NaN upstream gradient on a silent (mem = 0) neuron gives
0 there, as the reference's relu backward does.) Ours returns spikes in the input's dtype (the
reference's default ATan always returns float32).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable, NamedTuple

import torch
import torch.nn as nn
from torch.autograd.function import once_differentiable

from snnbench.neurons import surrogates, triton_scan

CHUNK_BYTES = 1 << 20     # the fused loops work on about 1 MiB of each (T, B, H) tensor at a time


class LeakyParallelParams(NamedTuple):
    weight_ih: torch.Tensor            # (H, I)
    weight_hh: torch.Tensor            # (H, H); only its diagonal is read when ``diagonal``
    bias_ih: torch.Tensor | None       # (H,)
    bias_hh: torch.Tensor | None       # (H,)
    diagonal: bool
    threshold: torch.Tensor
    graded_spikes_factor: torch.Tensor
    spike_fn: Callable[[torch.Tensor], torch.Tensor]


def _chunk_steps(batch_hidden: int, element_size: int) -> int:
    """Steps per chunk of the fused loops: about CHUNK_BYTES of one (steps, B, H) tensor, so a
    chunk's few temporaries stay in cache."""
    return max(1, CHUNK_BYTES // max(1, batch_hidden * element_size))


class DiagonalLeakyParallel(torch.autograd.Function):
    r"""The diagonal recurrence and the spikes of a whole (T, B, H) sequence in one pass, with
    the backward through time by hand (see the module docstring, fast path). Inputs: ``a`` (the
    projected input with both biases, as the matmul's (T * B, H) output; overwritten by ``mem``),
    the (T, B, H) shape, the decays ``d`` (H,), the threshold, the graded-spikes factor and the
    spike function. Returns ``spk, mem``, both (T * B, H)."""

    @staticmethod
    def forward(ctx, a, shape, decay, threshold, graded, spike_fn):
        mem = a.view(shape)                               # in place: a is ours and not needed again
        T = shape[0]
        fused = triton_scan.usable(mem)
        steps = T if fused else _chunk_steps(math.prod(shape[1:]), mem.element_size())
        spk = None
        for start in range(0, T, steps):
            stop = min(start + steps, T)
            if fused:
                triton_scan.relu_decay_forward_(mem[start:stop], decay, mem[start - 1] if start else None)
            else:
                if start == 0:
                    mem[0].clamp_min_(0)                  # mem_{-1} = 0: relu(a_0)
                for t in range(max(start, 1), stop):
                    torch.addcmul(mem[t], decay, mem[t - 1], out=mem[t]).clamp_min_(0)
            fired = spike_fn(mem[start:stop] - threshold)
            if spk is None:
                spk = torch.empty(a.shape, dtype=torch.result_type(fired, graded), device=a.device)
            torch.mul(fired, graded, out=spk.view(mem.shape)[start:stop])
        if spk is None:                                   # no steps at all
            spk = (spike_fn(mem - threshold) * graded).reshape(a.shape)
        ctx.mark_dirty(a)
        ctx.save_for_backward(a, decay, threshold, graded)
        ctx.spike_fn = spike_fn
        ctx.shape = shape
        return spk, a

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_spk, grad_mem):
        flat, decay, threshold, graded = ctx.saved_tensors
        need_a, _, need_decay, need_threshold, need_graded, _ = ctx.needs_input_grad
        mem = flat.view(ctx.shape)
        grad_spk, grad_mem = grad_spk.view(mem.shape), grad_mem.view(mem.shape)
        delta = torch.empty_like(mem)
        grad_decay = torch.zeros_like(decay) if need_decay else None
        grad_thr = torch.zeros_like(threshold) if need_threshold else None
        grad_gsf = torch.zeros_like(graded) if need_graded else None
        T = mem.shape[0]
        fused = triton_scan.usable(mem)
        steps = T if fused else _chunk_steps(math.prod(mem.shape[1:]), mem.element_size())
        for start in reversed(range(0, T, steps)):
            stop = min(start + steps, T)
            m = mem[start:stop]
            d = delta[start:stop]
            g_spk = grad_spk[start:stop]
            # the spike path: dL/du of spk = S(u) g with u = mem - threshold, by autograd of the
            # spike function alone on this chunk (its surrogate, whatever it is)
            with torch.enable_grad():
                u = (m - threshold.detach()).requires_grad_(True)
                fired = ctx.spike_fn(u)
            if need_graded:                                # dL/dg = sum S(u) dL/dspk
                grad_gsf += (g_spk * fired.detach()).sum_to_size(graded.shape)
            if fired.requires_grad:
                (grad_u,) = torch.autograd.grad(fired, u, g_spk * graded)
                torch.add(grad_mem[start:stop], grad_u, out=d)     # all of dL/dmem_t but the carried term
                if need_threshold:                         # dL/dthreshold = -sum dL/du
                    grad_thr -= grad_u.sum_to_size(threshold.shape)
            else:
                d.copy_(grad_mem[start:stop])
            if fused:
                triton_scan.relu_decay_backward_(d, m, decay, delta[stop] if stop < T else None)
            else:
                silent = m <= 0                            # where relu passes no gradient (mem >= 0)
                for t in reversed(range(start, stop)):
                    if t + 1 < T:
                        delta[t].addcmul_(decay, delta[t + 1])
                    delta[t].masked_fill_(silent[t - start], 0.0)   # a select, as relu's backward: a
                    # non-finite gradient on a silent neuron gives 0 there, not 0 * inf = NaN
            lo = max(start, 1)
            if need_decay and lo < stop:                   # dL/dd = sum_{t>=1} delta_t mem_{t-1}
                grad_decay += (delta[lo:stop] * mem[lo - 1:stop - 1]).sum(dim=(0, 1))
        if not (T and fired.requires_grad):
            grad_thr = None                                # no surrogate: nothing reaches the threshold
        return delta.view(flat.shape) if need_a else None, None, grad_decay, grad_thr, grad_gsf, None


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


def leaky_parallel_sequence(x: torch.Tensor, p: LeakyParallelParams):
    """All steps of x (T, B, I) from zero state: returns ``spk, mem``, each (T, B, H)."""
    if p.diagonal:
        both = p.bias_hh if p.bias_ih is None else p.bias_ih if p.bias_hh is None else p.bias_ih + p.bias_hh
        flat = x.reshape(-1, x.shape[-1])
        a = flat @ p.weight_ih.t() if both is None else torch.addmm(both, flat, p.weight_ih.t())
        shape = (*x.shape[:-1], a.shape[-1])
        spk, mem = DiagonalLeakyParallel.apply(a, shape, p.weight_hh.diagonal(), p.threshold,
                                               p.graded_spikes_factor, p.spike_fn)
        return spk.view(shape), mem.view(shape)
    a = project_input(x, p)
    mems, previous = [], None
    for t in range(x.shape[0]):
        recurrent = recurrent_term(previous, p)
        previous = torch.relu(a[t] if recurrent is None else a[t] + recurrent)
        mems.append(previous)
    mem = torch.stack(mems)
    return fire(mem, p), mem


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
