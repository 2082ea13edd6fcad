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

Fast path (:func:`sconv2dlstm_sequence`, without ``state_quant``), the same sums as the step,
only the float rounding of a few pointwise formulas differs:

- The time loop is one autograd node (:class:`SConv2dLSTMRecurrence`); each step runs one
  convolution over the concatenated [x_t, mem_{t-1}] (C_in + C channels, like the reference).
  Hoisting the input part W_x * x (an exact split of the sum over input channels) was tried and
  dropped: it materialises a (T, B, 4C, H, W) projection (the forward's peak memory) and its
  2 -> 4C convolution runs far below the machine's rate, so it was slower than the per-step conv.
- The cell's pointwise maths is eager torch. Fusing it with ``torch.compile`` (inductor: one C++
  loop per step) was measured and dropped: on hot data the fused kernel took 1.27 ms against
  1.41 ms for the eager ops below, but whole bench-case sequences ran slower (61 vs 57 ms,
  interleaved, 2 threads), and it costs a C++ compiler and 6.5 s of compile time. The sigmoids
  (1.25M values per step, compute-bound) are most of the cell either way.
- On CPU everything is channels-last: oneDNN's convolutions with few channels are several times
  faster in it. A gate sliced out of a channels-last (B, 4C, H, W) tensor is 4C-strided rows of C
  values, slow for pointwise maths, so each step's activations are written gate-major (four dense
  (B, C, H, W) tensors, :func:`_gate_views`); the gate *gradients* are later written over the same
  storage in the (B, 4C, H, W) channels-last order the convolution backward reads.
- tanh is formed as 2 sigmoid(2 x) - 1 (on CPU torch's sigmoid is about 3x faster than its tanh;
  measured 0.40 vs 0.99 ms per 262K float32 values, 1 thread). For the g gate the factor 2 is folded
  into a copy of the g rows of W and b (a power of two: the conv gives exactly 2 g), so ONE sigmoid
  over the whole (B, 4C, H, W) conv output writes all four gates gate-major (1.1 ms instead of
  3.1 ms for the sigmoid over i, f, o plus tanh over g), then g = 2 s - 1 in place; tanh(syn) the
  same way (:mod:`snnbench.neurons.fast_tanh`: about one ulp of 1 from torch.tanh, far inside the
  float32 and float64 tolerances). The backward uses the unscaled W and the derivative 1 - g^2 of
  the stored g, so it is unchanged.
- Each step's upstream gradients of syn and mem (NCHW from most losses) are copied, as the loop
  reaches the step, into reused step buffers in channels-last, as a batch of (C, H*W) matrix
  transposes (:func:`_copy_in_layout`, several times faster on CPU than a plain layout copy).
  Converting the whole sequences up front took two fresh sequence-sized buffers, first-touched
  every call; per step, the train bench case's peak memory fell from 124 to 106 MiB and its
  backward from 137-154 to 124 ms (measured alone and interleaved with the reference).
- Backward through time by hand, saving only the conv inputs, the gate activations, tanh(syn) and
  the reset masks: per step, the gate gradients from the state gradients (the partial products
  and the activation derivatives of the four gates into two gate-major scratch buffers, sigma' of
  i, f, o in one op over their contiguous block, then one multiply writes all four gate gradients
  in the convolution's layout; the carried d syn and d mem are added in place into the step
  buffers of the step before), then one input-grad
  convolution (d x_t and d mem_{t-1} at once). The weight and bias gradients, sums over steps,
  are weight-grad convolutions over all T x B frames after the loop, one per block of steps
  (below; the reference runs T).
- The saved gate activations are kept in blocks of whole steps of at most 16 MiB
  (:func:`_step_blocks`), and the weight-grad convolution runs once per block, summed (the same
  sum over steps, grouped). One 40 MiB buffer (the train bench case) sits above glibc's mmap
  threshold, so every call first-touched fresh pages: 16,750 page faults per train call, 2,554
  with blocks (measured alone; interleaved with the reference as the bench runs them, 17,201 ->
  10,080).
- The spikes (pooling and surrogate) are fired outside that node, over all steps at once, so any
  surrogate's own backward applies unchanged.
- Reset "zero": the reference runs the convolution twice with the same inputs; once is the same.
- ``state_quant`` runs step by step through :func:`sconv2dlstm_step` (plain autograd).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from snnbench.neurons.fast_tanh import doubled_rows, tanh_from_sigmoid_, tanh_into
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
    if p.state_quant is not None:
        syn, mem = p.state_quant(syn), p.state_quant(mem)
    fired = mem if p.pool is None else p.pool(mem)
    if p.state_quant is not None:
        fired = p.state_quant(fired)
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
    if p.state_quant is not None:
        syn, mem = p.state_quant(syn), p.state_quant(mem)
    fired = mem if p.pool is None else p.pool(mem)
    if p.state_quant is not None:
        fired = p.state_quant(fired)
    spk = p.spike_fn(fired - p.threshold)
    if inhibition and "sconv2dlstm-inhibition-ignored" in documented:
        spk = spk * winner_mask(fired - p.threshold)
    if not late:
        mem = reset_now(mem, p.threshold, p.reset_mechanism)
    return spk, SConv2dLSTMState(syn, mem)


def _layout(device: torch.device) -> torch.memory_format:
    """Channels-last on CPU: oneDNN's convolutions with few channels run several times faster in
    it than in NCHW. Elsewhere the default layout."""
    return torch.channels_last if device.type == "cpu" else torch.contiguous_format


_RESET_CODE = {"none": 0, "subtract": 1, "zero": 2}


def _frames(steps: int, batch: int, channels: int, like: torch.Tensor, layout, dtype=None) -> torch.Tensor:
    """An uninitialised (steps, batch, channels, H, W) buffer whose (batch, ...) slices are in ``layout``."""
    height, width = like.shape[-2:]
    flat = torch.empty(steps * batch, channels, height, width, dtype=dtype or like.dtype, device=like.device,
                       memory_format=layout)
    return flat.view(steps, batch, channels, height, width)


def _gate_views(block: torch.Tensor, batch: int, hidden: int, height: int, width: int, layout):
    """Two views of one step's gate storage (4 * B * C * H * W elements).

    ``by_gate`` (4, B, C, H, W): each gate a dense (B, C, H, W) tensor in ``layout``, so the cell's
    pointwise maths runs on dense tensors (a gate sliced out of a (B, 4C, H, W) channels-last
    tensor is 4C-strided rows of C values, several times slower to read and write).
    ``conv`` (B, 4C, H, W) in ``layout``: what the convolutions read. The backward overwrites the
    activations (``by_gate``) with the gate gradients (``conv``) once it has read them."""
    if layout == torch.channels_last:
        by_gate = block.view(4, batch, height, width, hidden).permute(0, 1, 4, 2, 3)
        conv = block.view(batch, height, width, 4 * hidden).permute(0, 3, 1, 2)
    else:  # NCHW: each gate is B blocks of C * H * W contiguous values
        by_gate = block.view(batch, 4, hidden, height, width).transpose(0, 1)
        conv = block.view(batch, 4 * hidden, height, width)
    return by_gate, conv


def _split_gates(pre: torch.Tensor, hidden: int) -> torch.Tensor:
    """(B, 4C, H, W) -> a (4, B, C, H, W) view: gate-major, the order i, f, o, g kept."""
    return pre.unflatten(1, (4, hidden)).transpose(0, 1)


def _double_g_rows(tensor: torch.Tensor | None, hidden: int, layout) -> torch.Tensor | None:
    """A copy of W (4C, ...) in ``layout``, or of b (4C,), with the g gate's rows (the last C) times 2."""
    if tensor is None:
        return None
    memory_format = layout if tensor.dim() == 4 else torch.preserve_format
    return doubled_rows(tensor, slice(3 * hidden, None), memory_format)


def _copy_in_layout(frames: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Copy frames (N, C, H, W), in any layout, into ``out`` (same shape, its own layout).
    NCHW -> channels-last runs as a batch of (C, H*W) matrix transposes: the same copy as
    ``out.copy_(frames)``, about 7x faster on CPU (1.4 vs 9.8 ms for 160 x 16 x 32 x 32 float32,
    1 thread)."""
    channels_last = out.is_contiguous(memory_format=torch.channels_last) and not out.is_contiguous()
    if channels_last and frames.is_contiguous():
        n, c, h, w = frames.shape
        out.permute(0, 2, 3, 1).view(n, h * w, c).copy_(frames.view(n, c, h * w).transpose(1, 2))
        return out
    return out.copy_(frames)


BLOCK_BYTES = 16 * 2 ** 20


class _StepRows:
    """Row k of a sequence kept as blocks of consecutive steps (see :func:`_step_blocks`)."""

    def __init__(self, blocks: list[torch.Tensor]):
        self.blocks, self.per_block = blocks, blocks[0].shape[0]

    def __getitem__(self, k: int) -> torch.Tensor:
        return self.blocks[k // self.per_block][k % self.per_block]


def _step_blocks(steps: int, values: int, like: torch.Tensor) -> list[torch.Tensor]:
    """``steps`` rows of ``values`` each, as blocks of whole steps of at most BLOCK_BYTES (at least
    one step). glibc serves an allocation at or above its mmap threshold (which adapts, up to
    32 MiB) with fresh pages, and first-touching them costs about as much as the pointwise maths
    written into them (40 MiB of gate activations per call in the train bench case); blocks of
    16 MiB are mostly served again from memory freed by the previous call."""
    per_block = max(1, BLOCK_BYTES // max(1, values * like.element_size()))
    return [like.new_empty(min(per_block, steps - start), values) for start in range(0, max(steps, 1), per_block)]


def _recurrence(x, syn0, mem0, weight, bias, threshold, padding, reset_code: int, save: bool,
                keep_resets: bool = False):
    """The carried-state time loop: one convolution per step over [x_t, mem_{t-1}].

    Returns syns, mems (T, B, C, H, W) and, with ``save``, what the backward needs: the conv
    inputs [x_t, mem_{t-1}] (T, B, C_in + C, H, W), the gate activations (one flat block per
    step, see :func:`_gate_views`), tanh(syn) and, with ``keep_resets``, the reset masks (as 0/1 in
    x's dtype for "subtract", where mem -= r * thr is one addcmul; bool for "zero")."""
    steps, batch, c_in, height, width = x.shape
    hidden = weight.shape[0] // 4
    layout = _layout(x.device)
    # tanh(g) = 2 sigmoid(2 g) - 1: the g rows of W and b doubled (exact: a power of two), so one
    # sigmoid covers all four gates.
    weight, bias = _double_g_rows(weight, hidden, layout), _double_g_rows(bias, hidden, layout)
    kept = steps if save else 1
    # Conv inputs [x_t, mem_{t-1}]: every step's x is copied in at once; mem_{t-1} as it comes.
    inputs = _frames(kept, batch, c_in + hidden, x, layout)
    if save:
        inputs[:, :, :c_in] = x
    acts = _StepRows(_step_blocks(kept, 4 * batch * hidden * height * width, x))
    tanh_c = _frames(kept, batch, hidden, x, layout)
    reset_dtype = x.dtype if reset_code == 1 else torch.bool
    resets = _frames(steps if keep_resets else 1, batch, hidden, x, layout, reset_dtype) if reset_code else None
    syns = _frames(steps, batch, hidden, x, layout)
    mems = _frames(steps, batch, hidden, x, layout)
    syn, mem = syn0, mem0
    for t in range(steps):
        k = t if save else 0
        frame = inputs[k]
        if not save:
            frame[:, :c_in] = x[t]
        frame[:, c_in:] = mem
        if reset_code:
            reset = torch.gt(mem, threshold, out=resets[t if keep_resets else 0])
        pre = _split_gates(F.conv2d(frame, weight, bias, padding=padding), hidden)
        act, _ = _gate_views(acts[k], batch, hidden, height, width, layout)
        torch.sigmoid(pre, out=act)
        del pre
        i, f, o, g = act.unbind(0)
        tanh_from_sigmoid_(g)
        syn = torch.mul(f, syn, out=syns[t]).addcmul_(i, g)
        mem = torch.mul(o, tanh_into(syn, tanh_c[k]), out=mems[t])
        if reset_code == 1:
            mem.addcmul_(reset, threshold, value=-1)   # r * thr is 0 or thr: exactly mem - r thr
        elif reset_code == 2:
            mem.masked_fill_(reset, 0.0)
    return syns, mems, (inputs, acts.blocks, tanh_c, resets)


class SConv2dLSTMRecurrence(torch.autograd.Function):
    """The time loop as one autograd node: (x, syn0, mem0, W, b, threshold) -> (syn, mem) stacked
    over time, with the backward through time written out.

    Per step backwards: the gate gradients from the state gradients (written over the saved gate
    activations, which that step no longer needs), then one input-grad convolution that gives
    d[x_t, mem_{t-1}]. After the loop, a weight-grad convolution over the frames of each block of
    steps gives dW and db, summed over the blocks. The reset r_t = [mem_{t-1} > thr] is detached:
    mem_t = m_t - r_t thr (subtract) passes d mem to m_t and -sum(d mem * r_t) to thr;
    mem_t = (1 - r_t) m_t (zero) masks it."""

    @staticmethod
    def forward(ctx, x, syn0, mem0, weight, bias, threshold, padding, reset_code: int):
        # The masks are needed by the backward for "zero", and for "subtract" only for d threshold.
        keep_resets = reset_code == 2 or (reset_code == 1 and ctx.needs_input_grad[5])
        syns, mems, (inputs, acts, tanh_c, resets) = _recurrence(x, syn0, mem0, weight, bias, threshold,
                                                                 padding, reset_code, True, keep_resets)
        ctx.reset_code = reset_code
        ctx.padding = padding
        ctx.has_bias = bias is not None
        ctx.threshold_shape = threshold.shape
        ctx.block_steps = acts[0].shape[0]
        ctx.save_for_backward(inputs, tanh_c, resets, syns, syn0, weight, *acts)
        return syns, mems

    @staticmethod
    def backward(ctx, d_syns, d_mems):
        inputs, tanh_c, resets, syns, syn0, weight, *blocks = ctx.saved_tensors
        acts = _StepRows(blocks)
        steps, batch, c_in_all, height, width = inputs.shape
        hidden = weight.shape[0] // 4
        c_in = c_in_all - hidden
        layout = _layout(inputs.device)
        weight = weight.contiguous(memory_format=layout)
        padding = list(ctx.padding)
        need_x = ctx.needs_input_grad[0]
        # Without d x, the input grad is only needed for mem: the recurrent part of the kernel.
        grad_weight = weight if need_x else weight[:, c_in:]
        d_x = torch.empty_like(inputs[:, :, :c_in]) if need_x else None
        want_thr = ctx.reset_code == 1 and ctx.needs_input_grad[5]
        d_thr = torch.zeros((), dtype=weight.dtype, device=weight.device) if want_thr else None
        one = torch.ones((), dtype=weight.dtype, device=weight.device)
        # Each step's upstream gradients are copied into step buffers of our own in the states'
        # layout (mixed layouts make every op slower), where the carried gradients are added in
        # place: two of each, the step's and the one before it. (Converting whole sequences at
        # once costs two fresh sequence-sized buffers, first-touched every call.)
        step_grads = [_frames(1, batch, hidden, inputs, layout)[0] for _ in range(4)]
        dc_bufs, dm_bufs = step_grads[:2], step_grads[2:]

        def upstream(grads: torch.Tensor, t: int, bufs: list[torch.Tensor]) -> torch.Tensor:
            return _copy_in_layout(grads[t], bufs[t % 2])
        # Per-step scratch, gate-major like the activations: the partial products and the
        # activation derivatives of the four gates (their product is the gate gradient).
        partials = weight.new_empty(4 * batch * hidden * height * width)
        derivs = torch.empty_like(partials)
        partials, _ = _gate_views(partials, batch, hidden, height, width, layout)
        derivs, _ = _gate_views(derivs, batch, hidden, height, width, layout)
        d_syn0 = d_mem0 = None
        dc, dm = upstream(d_syns, steps - 1, dc_bufs), upstream(d_mems, steps - 1, dm_bufs)
        for t in reversed(range(steps)):
            # dc, dm: the step's upstream gradients with the carried ones added in
            if want_thr:
                d_thr = d_thr - (dm * resets[t]).sum()
            elif ctx.reset_code == 2:
                dm.masked_fill_(resets[t], 0.0)
            act, d_act = _gate_views(acts[t], batch, hidden, height, width, layout)
            i, f, o, g = act.unbind(0)
            tc = tanh_c[t]
            dc.addcmul_(dm, torch.addcmul(one, tc, tc, value=-1).mul_(o))  # + dm o (1 - tanh^2(c))
            c_prev = syns[t - 1] if t > 0 else syn0
            # Read before d_act (act's storage) is written: partials i, f, o, g = dc g, dc c_{t-1},
            # dm tanh(c), dc i; derivatives sigma' = s - s^2 (i, f, o at once) and tanh' = 1 - g^2.
            torch.mul(dc, g, out=partials[0])
            torch.mul(dc, c_prev, out=partials[1])
            torch.mul(dm, tc, out=partials[2])
            torch.mul(dc, i, out=partials[3])
            torch.addcmul(act[:3], act[:3], act[:3], value=-1, out=derivs[:3])
            torch.addcmul(one, g, g, value=-1, out=derivs[3])
            if t > 0:
                dc_next = upstream(d_syns, t - 1, dc_bufs).addcmul_(dc, f)
            else:
                d_syn0 = dc * f
            del i, f, o, g, act
            torch.mul(partials, derivs, out=_split_gates(d_act, hidden))
            frame = inputs[t] if need_x else inputs[t][:, c_in:]
            d_frame = torch.ops.aten.convolution_backward(
                d_act, frame, grad_weight, None, [1, 1], padding, [1, 1], False, [0, 0], 1,
                [True, False, False])[0]
            if need_x:
                d_x[t] = d_frame[:, :c_in]
                d_frame = d_frame[:, c_in:]
            if t > 0:
                dc, dm = dc_next, upstream(d_mems, t - 1, dm_bufs).add_(d_frame)
            else:
                d_mem0 = d_frame
        d_weight = d_bias = None
        for start, block in zip(range(0, steps, ctx.block_steps), blocks):   # one conv per block of steps
            n = block.shape[0]
            _, d_acts = _gate_views(block, n * batch, hidden, height, width, layout)
            frames = inputs[start:start + n].view(n * batch, *inputs.shape[2:])
            d_w, d_b = torch.ops.aten.convolution_backward(
                d_acts, frames, weight, [weight.shape[0]] if ctx.has_bias else None, [1, 1], padding, [1, 1],
                False, [0, 0], 1, [False, True, ctx.has_bias])[1:]
            d_weight = d_w if d_weight is None else d_weight.add_(d_w)
            d_bias = d_b if d_bias is None else d_bias.add_(d_b)
        if want_thr:
            d_thr = d_thr.reshape(ctx.threshold_shape)  # a scalar threshold (lists are refused)
        elif ctx.needs_input_grad[5]:
            d_thr = torch.zeros(ctx.threshold_shape, dtype=weight.dtype, device=weight.device)
        return (d_x, d_syn0, d_mem0, d_weight.contiguous(), d_bias if ctx.has_bias else None,
                d_thr, None, None)


def _fire(mems: torch.Tensor, p: SConv2dLSTMParams) -> torch.Tensor:
    """The spikes of all steps at once, from the (pooled) mems (T, B, C, H, W)."""
    frames = mems.reshape(-1, *mems.shape[2:])
    fired = frames if p.pool is None else p.pool(frames)
    return p.spike_fn(fired - p.threshold).reshape(*mems.shape[:2], *fired.shape[1:])


def _sequence_step_by_step(x: torch.Tensor, state: SConv2dLSTMState, p: SConv2dLSTMParams):
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
    """All steps of x (T, B, C_in, H, W). Returns spk (T, B, C, H/pool, W/pool), syn and mem
    (T, B, C, H, W). With ``state_quant`` it runs step by step (:func:`sconv2dlstm_step`)."""
    if p.state_quant is not None:
        return _sequence_step_by_step(x, state, p)
    weight = torch.cat([p.weight_x, p.weight_h], dim=1)
    threshold = p.threshold
    syn0, mem0 = state.syn.to(x.dtype), state.mem.to(x.dtype)
    args = (x, syn0, mem0, weight, p.bias, threshold, p.padding, _RESET_CODE[p.reset_mechanism])
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in args[:6]):
        syns, mems = SConv2dLSTMRecurrence.apply(*args)
    else:
        syns, mems, _ = _recurrence(*args, save=False)
    return _fire(mems, p), syns, mems


class SConv2dLSTM(SnntorchCell):
    """Drop-in for ``snntorch.SConv2dLSTM``: same constructor arguments,
    ``spk, syn, mem = m(x, syn, mem)`` for one step of x (B, C_in, H, W).

    ``m.sequence(x, syn, mem)`` runs a whole (T, B, C_in, H, W) sequence with the fast path (the
    time loop as one autograd node, see the module doc) and returns ``spk, syn, mem`` stacked over time.
    Parameters: ``conv_weight`` (4C, C_in + C, kh, kw) and ``conv_bias`` (4C,), the reference's
    ``conv.weight`` and ``conv.bias``, so weights copy over directly.
    """

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
            size = self.max_pool
            return lambda mem: F.max_pool2d(mem, size)
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

    def _step(self, x_proj: torch.Tensor, state: SConv2dLSTMState, p: SConv2dLSTMParams):
        if self.documented.intersection(STEP_SWITCHES):
            return sconv2dlstm_step_documented(x_proj, state, p, self.documented, self.inhibition)
        return sconv2dlstm_step(x_proj, state, p)

    def forward(self, input_, syn=None, mem=None):
        self.take_call_state(syn, mem)
        p = self.params()
        spk, state = self._step(project_input(input_, p), self._current_state(input_), p)
        return self.call_result(spk, state.syn, state.mem)

    def sequence(self, x, syn=None, mem=None):
        """All T steps of x (T, B, C_in, H, W) from the given (or stored) state; returns stacked
        spk, syn, mem. The fast path: see the module doc.
        Unlike a call, it takes a state even with ``init_hidden`` (it sets the held state)."""
        self.set_state(syn, mem)
        state = self._current_state(x[0])
        if self.documented.intersection(STEP_SWITCHES):
            p = self.params()
            steps = []
            for x_t in project_input(x, p).unbind(0):
                spk_t, state = self._step(x_t, state, p)
                steps.append((spk_t, state.syn, state.mem))
            spk, syn_t, mem_t = (torch.stack(v) for v in zip(*steps))
        else:
            spk, syn_t, mem_t = sconv2dlstm_sequence(x, state, self.params())
        self.syn, self.mem = syn_t[-1], mem_t[-1]
        return spk, syn_t, mem_t
