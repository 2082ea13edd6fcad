r"""The elementwise leaky-relu recurrence over time as Triton kernels, for CUDA tensors.

On a GPU a per-step Python loop costs a kernel launch or two per step for a few microseconds of
work each; these kernels run all T steps of a (T, N) sequence in one launch, each program
walking down time for a block of N columns (neurons x batch), so the sequence is read and
written once. Used by LeakyParallel's fast path (leaky_parallel.py) on CUDA when Triton is
importable; elsewhere, and with ``SNNBENCH_NO_TRITON=1``, the torch loop runs instead.

Forward, in place over ``a`` (T, N) with per-column decays ``d`` (``d[n % H]``):

.. math:: m_t = \mathrm{relu}(a_t + d \odot m_{t-1}), \qquad m_{-1} = m_{\mathrm{prev}}\ (\text{or } 0)

Backward, in place over ``g`` (T, N), the gradient reaching each :math:`m_t` from outside the
recurrence, given the forward's ``m``:

.. math:: \delta_t = [m_t > 0] \odot (g_t + d \odot \delta_{t+1}), \qquad \delta_T = \delta_{\mathrm{next}}\ (\text{or } 0)

Both are the torch loop's operations in the same order, per element: one multiply-add and a
clamp (NaN propagates, as ``clamp_min`` does), or one multiply-add and a 0/1 mask. The only
rounding difference possible is the multiply-add being fused (one rounding instead of two).

With ``TRITON_INTERPRET=1`` set before this module is imported, Triton runs the kernels on CPU
tensors in its interpreter: that is how the tests check them on machines without a GPU.
"""

from __future__ import annotations

import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # triton is optional: torch loops are used without it
    triton = None

DTYPES = (torch.float32, torch.float64)
BLOCK = 128
INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"


def usable(t: torch.Tensor) -> bool:
    """Whether the kernels can run on ``t``: Triton present, CUDA (or the interpreter), float32 or
    float64, under 2**31 elements."""
    if triton is None or os.environ.get("SNNBENCH_NO_TRITON") == "1" or t.dtype not in DTYPES:
        return False
    if t.numel() >= 2 ** 31:  # the kernels' offsets are 32-bit
        return False
    return t.is_cuda or INTERPRET


if triton is not None:

    @triton.jit
    def _columns(carry_ptr, decay_ptr, N, H, HAS_CARRY: tl.constexpr, BLOCK_N: tl.constexpr):
        """This program's block of columns, its mask, their decays and the carried-in value
        (loaded, or zero)."""
        cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
        keep = cols < N
        d = tl.load(decay_ptr + cols % H, mask=keep)
        if HAS_CARRY:
            carry = tl.load(carry_ptr + cols, mask=keep)
        else:
            carry = tl.zeros([BLOCK_N], dtype=d.dtype)
        return cols, keep, d, carry

    @triton.jit
    def _relu_decay_forward(a_ptr, prev_ptr, decay_ptr, T, N, H, HAS_PREV: tl.constexpr,
                            BLOCK_N: tl.constexpr):
        cols, keep, d, m = _columns(prev_ptr, decay_ptr, N, H, HAS_PREV, BLOCK_N)
        ptr = a_ptr + cols
        t = 0
        while t < T:  # not range(T): Triton 3.6's interpreter fails on it under numpy 2
            m = tl.maximum(tl.load(ptr, mask=keep) + d * m, 0.0, propagate_nan=tl.PropagateNan.ALL)
            tl.store(ptr, m, mask=keep)
            ptr += N
            t += 1

    @triton.jit
    def _relu_decay_backward(g_ptr, mem_ptr, next_ptr, decay_ptr, T, N, H, HAS_NEXT: tl.constexpr,
                             BLOCK_N: tl.constexpr):
        cols, keep, d, delta = _columns(next_ptr, decay_ptr, N, H, HAS_NEXT, BLOCK_N)
        offset = (T - 1) * N + cols
        t = 0
        while t < T:
            m = tl.load(mem_ptr + offset, mask=keep)
            g = tl.load(g_ptr + offset, mask=keep)
            delta = tl.where(m > 0, g + d * delta, 0.0)
            tl.store(g_ptr + offset, delta, mask=keep)
            offset -= N
            t += 1


def _grid(n: int) -> tuple[int]:
    return (triton.cdiv(n, BLOCK),)


def relu_decay_forward_(a: torch.Tensor, decay: torch.Tensor, prev: torch.Tensor | None = None) -> torch.Tensor:
    """``a`` (T, B, H) contiguous, overwritten by the membranes; ``prev`` (B, H) is m_{-1}."""
    T, H = a.shape[0], a.shape[-1]
    N = a[0].numel()
    if T and N:
        _relu_decay_forward[_grid(N)](a, prev if prev is not None else a, decay.contiguous(), T, N, H,
                                      HAS_PREV=prev is not None, BLOCK_N=BLOCK)
    return a


def relu_decay_backward_(g: torch.Tensor, mem: torch.Tensor, decay: torch.Tensor,
                         delta_next: torch.Tensor | None = None) -> torch.Tensor:
    """``g`` (T, B, H) contiguous, overwritten by delta; ``delta_next`` (B, H) is delta_T."""
    T, H = g.shape[0], g.shape[-1]
    N = g[0].numel()
    if T and N:
        _relu_decay_backward[_grid(N)](g, mem, delta_next if delta_next is not None else g,
                                       decay.contiguous(), T, N, H, HAS_NEXT=delta_next is not None,
                                       BLOCK_N=BLOCK)
    return g
