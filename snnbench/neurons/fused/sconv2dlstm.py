r"""The fused path of SConv2dLSTM (:func:`sequence`, which :func:`snnbench.neurons.sconv2dlstm.sconv2dlstm_sequence`
runs without ``state_quant``): the same sums as the step of snnbench/neurons/sconv2dlstm.py,
whose equation it computes; only the float rounding of a few pointwise formulas differs. Measurements and the tuning history
(what was tried and dropped, on which machine) are in docs/performance.md.

- The time loop is one autograd node (:class:`SConv2dLSTMRecurrence`); each step runs one
  convolution over the concatenated [x_t, mem_{t-1}] (C_in + C channels, like the reference).
- On CPU everything is channels-last (oneDNN's channels-last convolution kernels are the fast
  ones for few channels). The cell's pointwise maths is eager torch.
- tanh is formed as 1 - 2 sigmoid(-2 x) (:mod:`snnbench.neurons.fused.fast_tanh`; torch's sigmoid is
  cheaper than its tanh on CPU; about one ulp of 1 from torch.tanh, far inside the float32 and
  float64 tolerances). For the g gate the factor -2 is folded into a copy of the g rows of W and
  b (exact: a power of two and a sign), so ONE sigmoid covers all four gates, giving i, f, o and
  s_g = sigmoid(-2 g); then syn = (i + f syn) - 2 i s_g (= f syn + i tanh(g); two ``addcmul``),
  t = sigmoid(-2 syn) and mem = o - 2 o t (= o tanh(syn), one fused ``addcmul``). The gates are only read, and
  tanh' = 1 - tanh^2 = 4 s (1 - s): the backward takes s (1 - s) of all four gates in one op
  and applies the g gate's factor 4 exactly, to the g rows of the W its convolutions use and to
  the g rows of d W and d b.
- Where each step's sigmoid writes the gate activations is a measured choice
  (:data:`GATE_ORDER`, :mod:`snnbench.neurons.fused.autotune`; pin with
  ``SNNBENCH_PATH_SCONV2DLSTM_GATES``), because which is faster depends on the machine:
  ``gate_major`` writes four dense (B, C, H, W) gate tensors (the sigmoid reads the convolution's
  channels-last output and writes it transposed; the cell's maths then runs on dense tensors),
  ``conv_order`` keeps the convolution's own (B, 4C, H, W) layout (the sigmoid is a dense pass,
  in place without autograd; the cell's maths runs on strided gate views, 4C-strided rows of C
  values), ``conv_halves`` the same layout from two convolutions of 2C output channels ([i, f]
  and [o, g]), each one's sigmoid taken right after it while its output is in cache (each output
  channel is the same sum as in the one convolution). All apply the same operations to the same
  values. The tuner times one step of each (convolution, sigmoid, cell; with autograd also the
  gate gradients) on scratch tensors of the real shapes.
  The gate *gradients* are written over the saved activations in the convolution's layout,
  which for ``conv_order`` is the activations' own (dense ops).
- Each step's upstream gradients of syn and mem (NCHW from most losses) are copied, as the loop
  reaches the step, into reused step buffers in channels-last (:func:`_copy_in_layout`), rather
  than converting whole sequences into fresh sequence-sized buffers (first-touched every call).
- Backward through time by hand, saving only the conv inputs, the gate activations, t and the
  reset masks: per step, the gate gradients from the state gradients (the partial products and
  the sigmoids' derivatives of the four gates into two scratch buffers laid out like the
  activations, then one multiply writes all four gate gradients in the convolution's layout; the carried d syn and d mem are added in place into
  the step buffers of the step before), then one input-grad convolution for d mem_{t-1} (and
  d x_t). The weight gradient, a sum over steps, is weight-grad convolutions over all T x B
  frames after the loop, one per block of steps (below; the reference runs T); the bias
  gradient is the plain sum of the gate gradients over those positions, taken apart from the
  convolution (oneDNN's fused bias sum costs more than the sum alone).
- The shape of each step's input-grad convolution is a measured choice (:data:`INPUT_GRAD`;
  ``SNNBENCH_PATH_SCONV2DLSTM_INPUT_GRAD``): ``joint`` over the channels needed ([x_t, mem_{t-1}],
  or mem_{t-1} alone when x needs no gradient), ``padded`` over those channels rounded up to a
  multiple of 8 with zero weights (oneDNN's kernels are faster for some channel counts; the extra
  outputs are dropped, the kept ones are the same sums), or ``split``: mem_{t-1} per step and d x
  after the loop, one input-grad convolution per block of steps (the same sums, grouped by
  block). d x is written in x's own layout, so autograd does not copy it again.
- The saved gate activations are kept in blocks of whole steps of at most 16 MiB
  (:func:`_step_blocks`), and the weight-grad convolution runs once per block, summed (the same
  sum over steps, grouped): one buffer above glibc's mmap threshold would be served with fresh
  pages, first-touched on every call.
- The spikes (pooling and surrogate) are fired outside that node, over all steps at once, so any
  surrogate's own backward applies unchanged. Max-pooling without autograd takes the window
  maxima as elementwise maxima of strided views (:class:`MaxPool`: the same values, without the
  argmax indices ``max_pool2d`` computes on CPU).
- Reset "zero": the reference runs the convolution twice with the same inputs; once is the same.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from snnbench.neurons.fused import autotune
from snnbench.neurons.fused.fast_tanh import minus_two_like, neg_double_sigmoid_into, scaled_rows


def _layout(device: torch.device) -> torch.memory_format:
    """Channels-last on CPU, where oneDNN's convolutions with few channels are fastest in it.
    Elsewhere the default layout."""
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


def _scaled_g_rows(tensor: torch.Tensor | None, hidden: int, layout, factor: float) -> torch.Tensor | None:
    """A copy of W (4C, ...) in ``layout``, or of b (4C,), with the g gate's rows (the last C) times
    ``factor`` (a power of two, maybe negative: exact)."""
    if tensor is None:
        return None
    memory_format = layout if tensor.dim() == 4 else torch.preserve_format
    return scaled_rows(tensor, slice(3 * hidden, None), factor, memory_format)


def _copy_channels(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """``dst[...] = src`` for (..., C, H, W) tensors where ``dst`` is a channel slice of a
    channels-last buffer: copied as (N, H, W, C) views, so the copy's loops run over the pixels
    rather than over the few channels of each (about twice as fast for 2 channels)."""
    if dst.dim() < 4 or src.shape != dst.shape:
        return dst.copy_(src)
    n = src.shape[:-3].numel()
    try:
        dst_view = dst.view(n, *dst.shape[-3:])
        src_view = src.reshape(n, *src.shape[-3:])
    except RuntimeError:
        return dst.copy_(src)
    dst_view.permute(0, 2, 3, 1).copy_(src_view.permute(0, 2, 3, 1))
    return dst


def _copy_in_layout(frames: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Copy frames (N, C, H, W), in any layout, into ``out`` (same shape, its own layout).
    NCHW -> channels-last runs as a batch of (C, H*W) matrix transposes: the same copy as
    ``out.copy_(frames)``, by a kernel that was faster on some CPUs (docs/performance.md)."""
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
    32 MiB) with fresh pages, first-touched on every call; blocks of 16 MiB are mostly served
    again from memory freed by the previous call."""
    per_block = max(1, BLOCK_BYTES // max(1, values * like.element_size()))
    return [like.new_empty(min(per_block, steps - start), values) for start in range(0, max(steps, 1), per_block)]


# ---- the activations' layout: a measured choice (see snnbench.neurons.fused.autotune) --------------------
GATE_ORDER = autotune.PathChoice(
    "SCONV2DLSTM_GATES", ("gate_major", "conv_order", "conv_halves"),
    "where each step's sigmoid writes the gate activations: four dense gate tensors (gate_major), "
    "or the convolution's own (B, 4C, H, W) layout with the cell maths on strided gate views "
    "(conv_order), or that layout from two convolutions of 2C output channels each, each one's "
    "sigmoid taken right after it (conv_halves)")


def _storage_order(order: str) -> str:
    """How ``order`` lays out the saved activations: conv_halves as conv_order."""
    return "conv_order" if order == "conv_halves" else order


def _act_views(block: torch.Tensor, order: str, batch: int, hidden: int, height: int, width: int, layout):
    """``(gates, conv)``: two views of one step's activation storage (4 * B * C * H * W elements).

    ``gates`` (4, B, C, H, W) is what the cell maths reads (gate k is ``gates[k]``); ``conv``
    (B, 4C, H, W) in ``layout`` is what the convolutions read, and where the backward writes the
    gate gradients over the activations once it has read them. ``gate_major``: the activations are
    stored as four dense gate tensors (:func:`_gate_views`). ``conv_order``: they are stored in
    ``conv``'s own order, so ``gates`` is a strided view of it (with channels-last, each gate is
    4C-strided rows of C values; with NCHW, B dense blocks per gate)."""
    if _storage_order(order) == "gate_major":
        return _gate_views(block, batch, hidden, height, width, layout)
    if layout == torch.channels_last:
        conv = block.view(batch, height, width, 4 * hidden).permute(0, 3, 1, 2)
    else:
        conv = block.view(batch, 4 * hidden, height, width)
    return _split_gates(conv, hidden), conv


class _Convolve:
    """One step's convolution(s) over [x_t, mem_{t-1}] and the sigmoid of all four gates, in
    ``order`` (see :data:`GATE_ORDER`), from W and b with the g rows already scaled. Returns the
    gates i, f, o, s_g: views of ``block`` (the step's saved activations) when given, else of the
    convolution outputs themselves (the sigmoid in place) or, for gate_major, of ``block``
    regardless (scratch). conv_halves runs the convolution as two of 2C output channels ([i, f]
    and [o, g]): each output channel is the same sum as in the one convolution."""

    def __init__(self, weight, bias, order: str, hidden: int, padding, layout):
        self.order, self.hidden, self.padding, self.layout = order, hidden, padding, layout
        if order == "conv_halves":
            half = 2 * hidden
            self.parts = [(weight[k * half:(k + 1) * half].contiguous(memory_format=layout),
                           None if bias is None else bias[k * half:(k + 1) * half].contiguous())
                          for k in range(2)]
        else:
            self.parts = [(weight, bias)]

    def __call__(self, frame: torch.Tensor, block: torch.Tensor | None):
        hidden, layout = self.hidden, self.layout
        batch, _, height, width = frame.shape
        outs = [F.conv2d(frame, w, b, padding=self.padding) for w, b in self.parts]
        if block is None and self.order != "gate_major":          # in place on the outputs
            for out in outs:
                out.sigmoid_()
            return tuple(part for out in outs for part in out.split(hidden, dim=1))
        gates, conv = _act_views(block, self.order, batch, hidden, height, width, layout)
        if self.order == "gate_major":
            torch.sigmoid(_split_gates(outs[0], hidden), out=gates)
        elif len(outs) == 1:
            torch.sigmoid(outs[0], out=conv)
        else:
            for k, out in enumerate(outs):
                torch.sigmoid(out, out=conv[:, 2 * hidden * k:2 * hidden * (k + 1)])
        return gates.unbind(0)


G_SCALE = -2.0          # the g rows of W and b in the forward: one sigmoid gives s_g = sigmoid(-2 g)
G_GRAD_SCALE = 4.0      # d tanh(g)/dg = 4 s_g (1 - s_g): the backward's g rows of W, d W and d b


def _cell_step(gates, syn, syn_out, tanh_out, mem_out, reset, threshold, reset_code: int, minus_two):
    """The cell from one step's sigmoids i, f, o and s_g = sigmoid(-2 g) (tanh(g) = 1 - 2 s_g):
    writes syn = f syn + i tanh(g) (as (i + f syn) - 2 i s_g: two fused ops, one pass fewer over
    the strided gate views than a separate multiply and add), t = sigmoid(-2 syn) into
    ``tanh_out`` (tanh(syn) = 1 - 2 t; the backward reads t) and mem = o tanh(syn) (as
    o - 2 o t, one fused op), then the reset. The gates are only read."""
    i, f, o, s_g = gates
    syn = torch.addcmul(i, f, syn, out=syn_out).addcmul_(i, s_g, value=-2)
    t = neg_double_sigmoid_into(syn, tanh_out, minus_two)
    mem = torch.addcmul(o, o, t, value=-2, out=mem_out)
    if reset_code == 1:
        mem.addcmul_(reset, threshold, value=-1)   # r * thr is 0 or thr: exactly mem - r thr
    elif reset_code == 2:
        mem.masked_fill_(reset, 0.0)
    return syn, mem


def _gate_grads(gates, conv, order: str, dc, dm, c_prev, t_c, partials, derivs, scratch, carry):
    """One step backwards from the state gradients ``dc`` (in place: + the path through mem) and
    ``dm``: the gate gradients written over the activations, in ``conv`` (the convolution's
    layout), and d c_{t-1} = ``carry`` + dc f (a new tensor when ``carry`` is None), returned.
    ``t_c`` is the step's sigmoid(-2 syn).

    The partial products (dc tanh(g), dc c_{t-1}, dm tanh(c), dc i) and the sigmoids' derivatives
    s (1 - s) of all four gates (one op) go to the scratch ``partials`` and ``derivs``, two
    (gates, conv) view pairs in ``order``; their product is the gate gradient, the g gate's
    divided by 4 (tanh'(g) = 4 s_g (1 - s_g)): the caller's convolutions apply the 4 exactly."""
    i, f, o, s_g = gates.unbind(0)
    order = _storage_order(order)
    u = torch.addcmul(t_c, t_c, t_c, value=-1, out=scratch).mul_(o)   # o t (1 - t)
    dc.addcmul_(dm, u, value=4)                                      # + dm o (1 - tanh^2(c))
    (p_gates, p_conv), (d_gates, d_conv) = partials, derivs
    torch.addcmul(dc, dc, s_g, value=-2, out=p_gates[0])             # dc tanh(g)
    torch.mul(dc, c_prev, out=p_gates[1])
    torch.addcmul(dm, dm, t_c, value=-2, out=p_gates[2])             # dm tanh(c)
    torch.mul(dc, i, out=p_gates[3])
    if order == "conv_order":       # the activations are ``conv`` itself: dense ops
        torch.addcmul(conv, conv, conv, value=-1, out=d_conv)
    else:
        torch.addcmul(gates, gates, gates, value=-1, out=d_gates)
    carried = dc * f if carry is None else carry.addcmul_(dc, f)
    # all reads of the activations are done: the gradients go over them
    if order == "gate_major":
        torch.mul(p_gates, d_gates, out=_split_gates(conv, p_gates.shape[2]))
    else:   # the scratch is in the conv's own order: one dense product
        torch.mul(p_conv, d_conv, out=conv)
    return carried


def _gate_order(x: torch.Tensor, weight: torch.Tensor, bias, padding, save: bool, reset_code: int) -> str:
    """The activation layout for this shape, dtype, device and mode: pinned by
    ``SNNBENCH_PATH_SCONV2DLSTM_GATES``, else measured once per process (:mod:`autotune`) on one
    step's work (the convolution(s), the sigmoid and the cell; with ``save`` also the backward's
    gate gradients) on scratch tensors of the real shapes."""
    _, batch, _, height, width = x.shape
    key = ("sconv2dlstm", (batch, *weight.shape, height, width), x.dtype, x.device, save, reset_code,
           bias is not None)
    return GATE_ORDER.choose(key, lambda order: _step_trial(order, x, weight, bias, padding, save, reset_code),
                             rounds=3)


def _step_trial(order, x, weight, bias, padding, save, reset_code):
    """A callable running one step's work in ``order`` on scratch tensors of the real shapes
    (random values: the costs depend little on them)."""
    _, batch, _, height, width = x.shape
    hidden = weight.shape[0] // 4
    layout = _layout(x.device)
    gen = torch.Generator(device=x.device).manual_seed(0)

    def frame(channels):
        return torch.randn(batch, channels, height, width, generator=gen, dtype=x.dtype,
                           device=x.device).contiguous(memory_format=layout)

    inputs = frame(weight.shape[1])
    convolve = _Convolve(weight.detach().contiguous(memory_format=layout),
                         None if bias is None else bias.detach(), order, hidden, padding, layout)
    syn, dc, dm, c_prev = frame(hidden), frame(hidden), frame(hidden), frame(hidden)
    syn_out, tanh_out, mem_out, carry, scratch_u = (torch.empty_like(syn) for _ in range(5))
    reset = (syn > 0).to(x.dtype if reset_code == 1 else torch.bool) if reset_code else None
    threshold = torch.ones((), dtype=x.dtype, device=x.device)
    minus_two = torch.full((), -2.0, dtype=x.dtype, device=x.device)
    size = 4 * batch * hidden * height * width
    block = x.new_empty(size) if save or order == "gate_major" else None
    scratch = [_act_views(x.new_empty(size), order, batch, hidden, height, width, layout) for _ in range(2)]

    def run():
        gates = convolve(inputs, block)
        _cell_step(gates, syn, syn_out, tanh_out, mem_out, reset, threshold, reset_code, minus_two)
        if save:
            stored, conv = _act_views(block, order, batch, hidden, height, width, layout)
            _gate_grads(stored, conv, order, dc, dm, c_prev, tanh_out, scratch[0], scratch[1], scratch_u, carry)
    return run


def _recurrence(x, syn0, mem0, weight, bias, threshold, padding, reset_code: int, save: bool,
                keep_resets: bool = False, order: str | None = None):
    """The carried-state time loop: one convolution per step over [x_t, mem_{t-1}].

    Returns syns, mems (T, B, C, H, W) and, with ``save``, what the backward needs: the conv
    inputs [x_t, mem_{t-1}] (T, B, C_in + C, H, W), the gate activations (one flat block per
    step, laid out in ``order``, see :func:`_act_views`), tanh(syn) and, with ``keep_resets``, the
    reset masks (as 0/1 in x's dtype for "subtract", where mem -= r * thr is one addcmul; bool for
    "zero"), and the order."""
    steps, batch, c_in, height, width = x.shape
    hidden = weight.shape[0] // 4
    layout = _layout(x.device)
    # tanh(g) = 1 - 2 sigmoid(-2 g): the g rows of W and b times -2 (exact), so one sigmoid covers
    # all four gates.
    weight, bias = _scaled_g_rows(weight, hidden, layout, G_SCALE), _scaled_g_rows(bias, hidden, layout, G_SCALE)
    if order is None:
        order = _gate_order(x, weight, bias, padding, save, reset_code)
    convolve = _Convolve(weight, bias, order, hidden, padding, layout)
    minus_two = minus_two_like(x)
    kept = steps if save else 1
    # Conv inputs [x_t, mem_{t-1}]: every step's x is copied in at once; mem_{t-1} as it comes.
    inputs = _frames(kept, batch, c_in + hidden, x, layout)
    if save:
        _copy_channels(x, inputs[:, :, :c_in])
    # without save, only gate_major needs a block: the others' sigmoid runs in place on the conv output
    acts = _StepRows(_step_blocks(kept, 4 * batch * hidden * height * width, x)) \
        if save or order == "gate_major" else None
    tanh_c = _frames(kept, batch, hidden, x, layout)
    reset_dtype = x.dtype if reset_code == 1 else torch.bool
    resets = _frames(steps if keep_resets else 1, batch, hidden, x, layout, reset_dtype) if reset_code else None
    syns = _frames(steps, batch, hidden, x, layout)
    mems = _frames(steps, batch, hidden, x, layout)
    syn, mem = syn0, mem0
    reset = None
    # per-step views taken once (the loop's Python overhead is a few percent of a step)
    frames, tanhs, syn_rows, mem_rows = inputs.unbind(0), tanh_c.unbind(0), syns.unbind(0), mems.unbind(0)
    x_slot, mem_slots = frames[0][:, :c_in], [frame[:, c_in:] for frame in frames]
    reset_rows = resets.unbind(0) if reset_code else None
    xs = x.unbind(0)
    for t in range(steps):
        k = t if save else 0
        if not save:
            x_slot.copy_(xs[t])
        mem_slots[k].copy_(mem)
        if reset_code:
            reset = torch.gt(mem, threshold, out=reset_rows[t if keep_resets else 0])
        gates = convolve(frames[k], None if acts is None else acts[k])
        syn, mem = _cell_step(gates, syn, syn_rows[t], tanhs[k], mem_rows[t], reset, threshold, reset_code, minus_two)
    return syns, mems, (inputs, None if acts is None else acts.blocks, tanh_c, resets, order)


# ---- the input gradient of each step's convolution: a measured choice --------------------------------
INPUT_GRAD = autotune.PathChoice(
    "SCONV2DLSTM_INPUT_GRAD", ("joint", "padded", "split"),
    "how each backward step's input-grad convolution is shaped: over the channels it needs "
    "(joint: [x_t, mem_{t-1}], or mem_{t-1} alone when x needs no gradient), over those channels "
    "rounded up to a multiple of 8 with zero weights (padded), or over mem_{t-1} alone with the "
    "input part d x_t done after the loop, one convolution per block of steps (split)")
PAD_CHANNELS = 8


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _input_grad_candidates(c_in: int, hidden: int, need_x: bool) -> tuple[str, ...]:
    """The input-grad shapes that differ for these channel counts."""
    wanted = c_in + hidden if need_x else hidden
    out = ["joint"]
    if _round_up(wanted, PAD_CHANNELS) != wanted:
        out.append("padded")
    if need_x:
        out.append("split")
    return tuple(out)


class _InputGrad:
    """d [x_t, mem_{t-1}] of one step from its gate gradients (the convolution's input gradient),
    in one of the shapes of :data:`INPUT_GRAD`. Every shape computes, for each input channel it
    keeps, the same sum over (gate channel, tap) as the joint convolution; zero-weight channels
    only add outputs that are dropped, and the split does the x channels' sums later."""

    def __init__(self, how: str, weight: torch.Tensor, c_in: int, batch: int, height: int, width: int,
                 layout, padding, need_x: bool):
        self.how, self.c_in, self.padding, self.need_x = how, c_in, padding, need_x
        hidden = weight.shape[0] // 4
        first = 0 if need_x and how != "split" else c_in          # the input channels done per step
        kept = weight[:, first:]
        channels = kept.shape[1]
        if how == "padded":
            channels = _round_up(channels, PAD_CHANNELS)
            padded = weight.new_zeros((weight.shape[0], channels, *weight.shape[2:]))
            padded[:, :kept.shape[1]] = kept
            kept = padded
        self.first, self.hidden = first, hidden
        self.weight = kept.contiguous(memory_format=layout)
        # the convolution reads only the shape, dtype and layout of its input: a stand-in
        self.like = torch.empty((batch, channels, height, width), dtype=weight.dtype, device=weight.device,
                                memory_format=layout)
        self.weight_x = weight[:, :c_in].contiguous(memory_format=layout) if how == "split" and need_x else None

    def step(self, d_act: torch.Tensor) -> torch.Tensor:
        """d [x_t, mem_{t-1}] (or d mem_{t-1} alone where x is done later or needs none), as a
        (B, channels, H, W) tensor whose channels start at input channel ``first``."""
        return torch.ops.aten.convolution_backward(
            d_act, self.like, self.weight, None, [1, 1], self.padding, [1, 1], False, [0, 0], 1,
            [True, False, False])[0]

    def d_mem(self, d_frame: torch.Tensor) -> torch.Tensor:
        start = self.c_in - self.first
        return d_frame[:, start:start + self.hidden]

    def d_x_step(self, d_frame: torch.Tensor) -> torch.Tensor | None:
        """The step's d x_t, where the step's convolution gave it."""
        return d_frame[:, :self.c_in] if self.need_x and self.first == 0 else None

    def d_x_frames(self, d_acts: torch.Tensor, frames_x: torch.Tensor) -> torch.Tensor:
        """d x of a block of frames (split): one input-grad convolution over them."""
        return torch.ops.aten.convolution_backward(
            d_acts, frames_x, self.weight_x, None, [1, 1], self.padding, [1, 1], False, [0, 0], 1,
            [True, False, False])[0]


def _input_grad_trial(how, weight, c_in, batch, height, width, layout, padding, need_x, dtype, device):
    """One step's input-grad work in shape ``how`` on scratch gate gradients (for split, with one
    step's share of the x part)."""
    grad = _InputGrad(how, weight, c_in, batch, height, width, layout, padding, need_x)
    d_act = torch.randn((batch, weight.shape[0], height, width), dtype=dtype, device=device) \
        .contiguous(memory_format=layout)
    frames_x = torch.empty((batch, c_in, height, width), dtype=dtype, device=device, memory_format=layout)

    def run():
        grad.step(d_act)
        if how == "split":
            grad.d_x_frames(d_act, frames_x)
    return run


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
        syns, mems, (inputs, acts, tanh_c, resets, order) = _recurrence(
            x, syn0, mem0, weight, bias, threshold, padding, reset_code, True, keep_resets)
        ctx.reset_code = reset_code
        ctx.padding = padding
        ctx.has_bias = bias is not None
        ctx.threshold_shape = threshold.shape
        ctx.block_steps = acts[0].shape[0]
        ctx.order = order
        ctx.x_contiguous = x.is_contiguous()     # d x in x's layout: autograd would copy it into it
        ctx.save_for_backward(inputs, tanh_c, resets, syns, syn0, weight, *acts)
        return syns, mems

    @staticmethod
    def backward(ctx, d_syns, d_mems):
        inputs, tanh_c, resets, syns, syn0, weight, *blocks = ctx.saved_tensors
        acts = _StepRows(blocks)
        order = ctx.order
        steps, batch, c_in_all, height, width = inputs.shape
        hidden = weight.shape[0] // 4
        c_in = c_in_all - hidden
        layout = _layout(inputs.device)
        dims = (batch, hidden, height, width, layout)
        # the g gate's gradients come out of the step maths divided by 4: the convolutions use W's
        # g rows times 4 (exact), and d W, d b get the same factor below
        weight = _scaled_g_rows(weight, hidden, layout, G_GRAD_SCALE)
        padding = list(ctx.padding)
        need_x = ctx.needs_input_grad[0]
        # Without d x, the input grad is only needed for mem: the recurrent part of the kernel.
        key = ("sconv2dlstm-input-grad", (batch, c_in, hidden, height, width, *weight.shape[2:]), weight.dtype,
               weight.device, need_x)
        how = INPUT_GRAD.choose(
            key, lambda how: _input_grad_trial(how, weight, c_in, batch, height, width, layout, padding, need_x,
                                               weight.dtype, weight.device),
            candidates=_input_grad_candidates(c_in, hidden, need_x))
        input_grad = _InputGrad(how, weight, c_in, batch, height, width, layout, padding, need_x)
        d_x = None
        if need_x:
            d_x = inputs.new_empty(inputs[:, :, :c_in].shape) if ctx.x_contiguous \
                else torch.empty_like(inputs[:, :, :c_in])
        want_thr = ctx.reset_code == 1 and ctx.needs_input_grad[5]
        d_thr = torch.zeros((), dtype=weight.dtype, device=weight.device) if want_thr else None
        # Each step's upstream gradients are copied into step buffers of our own in the states'
        # layout (mixed layouts make every op slower), where the carried gradients are added in
        # place: two of each, the step's and the one before it. (Converting whole sequences at
        # once costs two fresh sequence-sized buffers, first-touched every call.)
        step_grads = [_frames(1, batch, hidden, inputs, layout)[0] for _ in range(4)]
        dc_bufs, dm_bufs = step_grads[:2], step_grads[2:]

        def upstream(grads: torch.Tensor, t: int, bufs: list[torch.Tensor]) -> torch.Tensor:
            return _copy_in_layout(grads[t], bufs[t % 2])
        # Per-step scratch in the activations' order: the partial products and the activation
        # derivatives of the four gates (their product is the gate gradient).
        size = 4 * batch * hidden * height * width
        partials = _act_views(weight.new_empty(size), order, *dims)
        derivs = _act_views(weight.new_empty(size), order, *dims)
        scratch = torch.empty_like(dc_bufs[0])
        d_syn0 = d_mem0 = None
        dc, dm = upstream(d_syns, steps - 1, dc_bufs), upstream(d_mems, steps - 1, dm_bufs)
        for t in reversed(range(steps)):
            # dc, dm: the step's upstream gradients with the carried ones added in
            if want_thr:
                d_thr = d_thr - (dm * resets[t]).sum()
            elif ctx.reset_code == 2:
                dm.masked_fill_(resets[t], 0.0)
            gates, d_act = _act_views(acts[t], order, *dims)
            c_prev = syns[t - 1] if t > 0 else syn0
            carry = upstream(d_syns, t - 1, dc_bufs) if t > 0 else None
            dc_next = _gate_grads(gates, d_act, order, dc, dm, c_prev, tanh_c[t], partials, derivs, scratch, carry)
            del gates
            d_frame = input_grad.step(d_act)
            if need_x and how != "split":
                d_x[t] = input_grad.d_x_step(d_frame)
            d_frame = input_grad.d_mem(d_frame)
            if t > 0:
                dc, dm = dc_next, upstream(d_mems, t - 1, dm_bufs).add_(d_frame)
            else:
                d_syn0, d_mem0 = dc_next, d_frame
        d_weight = d_bias = None
        for start, block in zip(range(0, steps, ctx.block_steps), blocks):   # one conv per block of steps
            n = block.shape[0]
            _, d_acts = _act_views(block, order, n * batch, hidden, height, width, layout)
            frames = inputs[start:start + n].view(n * batch, *inputs.shape[2:])
            # the bias gradient is a plain sum, taken apart from the convolution (oneDNN's fused
            # one costs more than the sum alone); the same sum over the block's positions
            d_w = torch.ops.aten.convolution_backward(
                d_acts, frames, weight, None, [1, 1], padding, [1, 1], False, [0, 0], 1,
                [False, True, False])[1]
            d_weight = d_w if d_weight is None else d_weight.add_(d_w)
            if ctx.has_bias:
                d_b = d_acts.sum((0, 2, 3))
                d_bias = d_b if d_bias is None else d_bias.add_(d_b)
            if need_x and how == "split":          # d x of the block's frames
                d_x[start:start + n].view(n * batch, *d_x.shape[2:]).copy_(
                    input_grad.d_x_frames(d_acts, frames[:, :c_in]))
        d_weight[3 * hidden:] *= G_GRAD_SCALE
        if ctx.has_bias:
            d_bias[3 * hidden:] *= G_GRAD_SCALE
        if want_thr:
            d_thr = d_thr.reshape(ctx.threshold_shape)  # a scalar threshold (lists are refused)
        elif ctx.needs_input_grad[5]:
            d_thr = torch.zeros(ctx.threshold_shape, dtype=weight.dtype, device=weight.device)
        return (d_x, d_syn0, d_mem0, d_weight.contiguous(), d_bias if ctx.has_bias else None,
                d_thr, None, None)


class MaxPool:
    """``F.max_pool2d(frames, size)`` (kernel = stride = size, the last rows and columns that do not
    fill a window dropped). Where no gradient is wanted and the size is a small int, the maximum is
    taken as a chain of elementwise ``torch.maximum`` over the window's strided views: the same
    values (a maximum rounds nothing; NaN propagates in both), without the argmax indices that
    ``max_pool2d`` computes on CPU even without autograd. With autograd, ``max_pool2d`` itself
    (its backward routes each gradient to the first maximum of its window)."""

    def __init__(self, size):
        self.size = size

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        size = self.size
        if (torch.is_grad_enabled() and frames.requires_grad) or not isinstance(size, int) or not 1 < size <= 4:
            return F.max_pool2d(frames, size)
        height, width = (frames.shape[-2] // size) * size, (frames.shape[-1] // size) * size
        if height == 0 or width == 0:
            return F.max_pool2d(frames, size)
        rows = frames[..., 0:height:size, :width]
        for k in range(1, size):
            rows = torch.maximum(rows, frames[..., k:height:size, :width])
        out = rows[..., 0::size]
        for k in range(1, size):
            out = torch.maximum(out, rows[..., k::size])
        return out


def fire(mems: torch.Tensor, p) -> torch.Tensor:
    """The spikes of all steps at once, from the (pooled) mems (T, B, C, H, W). Where no gradient
    is wanted and the spike function's forward is the Heaviside step of ``fired - threshold``
    (ours are), the spikes are ``fired > threshold`` directly: the same values (in IEEE arithmetic
    with gradual underflow a - b > 0 exactly when a > b), one pass fewer."""
    frames = mems.reshape(-1, *mems.shape[2:])
    fired = frames if p.pool is None else p.pool(frames)
    wants_grad = torch.is_grad_enabled() and (fired.requires_grad or p.threshold.requires_grad)
    if getattr(p.spike_fn, "heaviside", False) and not wants_grad:
        dtype = torch.result_type(fired, p.threshold)
        spikes = torch.gt(fired, p.threshold, out=torch.empty(fired.shape, dtype=dtype, device=fired.device))
    else:
        spikes = p.spike_fn(fired - p.threshold)
    return spikes.reshape(*mems.shape[:2], *fired.shape[1:])


def sequence(x: torch.Tensor, state, p):
    """syn and mem (T, B, C, H, W) of all steps of x (T, B, C_in, H, W) from ``state`` (syn, mem), and
    the spikes: ``(spk, syn, mem)``, as the step loop gives them. ``p`` holds the step's parameters
    (:class:`snnbench.neurons.sconv2dlstm.SConv2dLSTMParams`); ``state_quant`` is not done here."""
    weight = torch.cat([p.weight_x, p.weight_h], dim=1)
    syn0, mem0 = state.syn.to(x.dtype), state.mem.to(x.dtype)
    args = (x, syn0, mem0, weight, p.bias, p.threshold, p.padding, _RESET_CODE[p.reset_mechanism])
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in args[:6]):
        syns, mems = SConv2dLSTMRecurrence.apply(*args)
    else:
        syns, mems, _ = _recurrence(*args, save=False)
    return fire(mems, p), syns, mems
