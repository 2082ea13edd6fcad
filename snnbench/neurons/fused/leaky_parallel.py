r"""The fused path of LeakyParallel (:func:`diagonal_sequence`, :class:`DiagonalLeakyParallel`), which
:func:`snnbench.neurons.leaky_parallel.leaky_parallel_sequence` runs when :math:`W_{hh}` is
diagonal: the equation of snnbench/neurons/leaky_parallel.py over the whole sequence. Its parts:

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
"""

from __future__ import annotations

import math

import torch
from torch.autograd.function import once_differentiable

from snnbench.neurons.fused import triton_scan

CHUNK_BYTES = 1 << 20     # the fused loops work on about 1 MiB of each (T, B, H) tensor at a time


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


def diagonal_sequence(x: torch.Tensor, p) -> tuple[torch.Tensor, torch.Tensor]:
    """``spk, mem`` (T, B, H) of all steps of x (T, B, I) from zero state, for a diagonal W_hh;
    ``p`` holds the parameters (:class:`snnbench.neurons.leaky_parallel.LeakyParallelParams`)."""
    both = p.bias_hh if p.bias_ih is None else p.bias_ih if p.bias_hh is None else p.bias_ih + p.bias_hh
    flat = x.reshape(-1, x.shape[-1])
    a = flat @ p.weight_ih.t() if both is None else torch.addmm(both, flat, p.weight_ih.t())
    shape = (*x.shape[:-1], a.shape[-1])
    spk, mem = DiagonalLeakyParallel.apply(a, shape, p.weight_hh.diagonal(), p.threshold,
                                           p.graded_spikes_factor, p.spike_fn)
    return spk.view(shape), mem.view(shape)
