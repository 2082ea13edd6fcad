r"""The fused paths of the SLSTM (:func:`sequence`, :func:`in_time_chunks`; run by
:func:`snnbench.neurons.slstm.slstm_sequence`): the step of snnbench/neurons/slstm.py over a
whole sequence, each the same sums re-associated (float rounding aside).

- With gradients, the time loop is one autograd node (:class:`SLSTMRecurrence`) with a
  hand-written backward through time: it saves only the gate activations, tanh(syn) and the reset
  masks, runs one (B, 4H) x (4H, H) matmul per step backwards, and forms the weight gradient
  :math:`\partial W_{hh} = \sum_t \delta G_t^\top mem_{t-1}` as one large matmul after the loop
  (the reference builds T small ones). The spikes are fired outside it, over all steps at once,
  so any surrogate's own backward applies unchanged.
- On CPU, tanh as 1 - 2 sigmoid(-2 x) (:mod:`snnbench.neurons.fused.fast_tanh`; there torch's
  sigmoid is several times cheaper than its tanh; on CUDA it is not, and the extra kernels would
  cost launches): the g columns of the projection (one multiply by a (4H,) vector of ones and
  minus twos, in place of the copy the autograd node makes anyway) and the g rows of a copy of
  W_hh are times -2 (exact: a power of two and a sign), so ONE sigmoid over each step's
  contiguous (B, 4H) gates replaces three strided calls and gives s_g = sigmoid(-2 g). The
  products with a tanh then fold into fused ops, as in the SConv2dLSTM: syn = (i + f syn) -
  2 i s_g (two ``addcmul``), t = sigmoid(-2 syn) (a multiply by a 0-dim -2 and a sigmoid) and
  mem = o - 2 o t (one ``addcmul``): 6 kernels per step where 2 sigmoid(2 x) - 1 took 10. The
  difference from torch.tanh is about one ulp of 1. The backward first turns the saved s_g and
  t into tanh(g) = 1 - 2 s_g and tanh(syn) = 1 - 2 t (one pass each over all steps), then uses
  the unscaled W_hh and the derivative 1 - g^2 as before (timings in docs/performance.md).
- Reset "zero" runs the cell once (the reference runs it twice for the same value).
- Reset "subtract" keeps its masks as 0/1 in the input's dtype, so mem - r thr is one fused
  ``addcmul_`` per step (exact: r thr is 0 or thr, and the one rounding is the subtraction's)
  instead of a bool-to-float conversion, a product and a subtraction; without a reset no mask
  is formed at all.
- Inference with zeroed state runs in chunks of the time axis written into preallocated
  outputs, so its peak memory is the outputs plus one chunk, not the whole (T, B, 4H) gates.
- The backward overwrites the saved gate activations with the gate gradients, step by step,
  instead of allocating a second (T, B, 4H) buffer.
"""

from __future__ import annotations

import torch

from snnbench.neurons.fused.fast_tanh import minus_two_like, neg_double_sigmoid_into, scaled_rows


_RESET_CODE = {"none": 0, "subtract": 1, "zero": 2}


def tanh_via_sigmoid(device: torch.device) -> bool:
    """Whether the loop forms tanh from sigmoids: on CPU only (elsewhere tanh is not slower, and
    the extra kernels would cost launches)."""
    return device.type == "cpu"


G_SCALE = -2.0      # the g columns of the gates on CPU: one sigmoid gives s_g = sigmoid(-2 g)


def _recurrence(x_proj, syn0, mem0, weight_hh, threshold, reset_code: int, quant, save: bool):
    """The carried-state time loop. Returns syns, mems (T, B, H) and, with ``save``, what the
    backward needs: gate activations (T, B, 4H), tanh(syn) (T, B, H) and reset masks (on CPU the
    g block of the activations holds sigmoid(-2 g) and ``tanh_c`` holds sigmoid(-2 syn): see
    :func:`_tanh_from_neg_double_sigmoid_`). Without ``save`` (inference) ``x_proj`` is
    overwritten."""
    steps, batch, four_h = x_proj.shape
    hidden = four_h // 4
    # tanh(g) = 1 - 2 sigmoid(-2 g), so one sigmoid covers all four gates: the g columns of the
    # projection and the g rows of W_hh times -2 (exact: a power of two and a sign). The gates
    # are formed in place: in a (scaled) copy of the projection under autograd (x_proj is an
    # input of the autograd Function and must stay as it is), else in the projection itself.
    via_sigmoid = tanh_via_sigmoid(x_proj.device)
    g_cols = slice(2 * hidden, 3 * hidden)
    if via_sigmoid:
        if save:                            # the copy, times (1, 1, -2, 1) per gate
            acts = torch.mul(x_proj, scaled_rows(x_proj.new_ones(four_h), g_cols, G_SCALE))
        else:
            acts = x_proj
            acts[..., g_cols].mul_(G_SCALE)
        weight_hh = scaled_rows(weight_hh, g_cols, G_SCALE)
        minus_two = minus_two_like(x_proj)
    else:
        acts = x_proj.clone() if save else x_proj
    tanh_c = x_proj.new_empty(steps if save else 1, batch, hidden)
    # the reset masks: 0/1 in x's dtype for "subtract" (mem -= r thr is then one addcmul, exact:
    # r thr is 0 or thr), bool for "zero" (a masked fill); none without a reset
    reset_dtype = x_proj.dtype if reset_code == 1 else torch.bool
    resets = (torch.empty(steps if save else 1, batch, hidden, dtype=reset_dtype, device=x_proj.device)
              if reset_code else None)
    syns = x_proj.new_empty(steps, batch, hidden)
    mems = x_proj.new_empty(steps, batch, hidden)
    w_t = weight_hh.t()
    syn, mem = syn0, mem0
    for t in range(steps):
        k = t if save else 0
        if reset_code:
            reset = torch.gt(mem, threshold, out=resets[k])
        gates = acts[t].addmm_(mem, w_t)
        i, f, g, o = gates.chunk(4, dim=-1)
        if via_sigmoid:
            # g now holds s_g = sigmoid(-2 g): i tanh(g) = i - 2 i s_g, and with t = sigmoid(-2 syn)
            # o tanh(syn) = o - 2 o t: syn and mem are two and one fused ops
            gates.sigmoid_()
            syn = torch.addcmul(i, f, syn, out=syns[t]).addcmul_(i, g, value=-2)
            t_c = neg_double_sigmoid_into(syn, tanh_c[k], minus_two)
            mem = torch.addcmul(o, o, t_c, value=-2, out=mems[t])
        else:
            gates[:, :2 * hidden].sigmoid_()
            g.tanh_()
            o.sigmoid_()
            syn = torch.addcmul(f * syn, i, g, out=syns[t])
            mem = torch.mul(o, torch.tanh(syn, out=tanh_c[k]), out=mems[t])
        if reset_code == 1:
            mem.addcmul_(reset, threshold, value=-1)
        elif reset_code == 2:
            mem.masked_fill_(reset, 0.0)
        if quant is not None:
            syns[t], mems[t] = quant(syn), quant(mem)
            syn, mem = syns[t], mems[t]
    return syns, mems, (acts, tanh_c, resets)


def _tanh_from_neg_double_sigmoid_(s: torch.Tensor) -> torch.Tensor:
    """In place: s = sigmoid(-2 x) -> tanh(x) = 1 - 2 s (the multiply by -2 is exact, so the one
    rounding is the addition's, as in the forward's fused forms)."""
    return s.mul_(-2).add_(1)


class SLSTMRecurrence(torch.autograd.Function):
    """The carried-state time loop of the SLSTM as one node: (x_proj, syn0, mem0, W_hh, threshold)
    -> (syn, mem) stacked over time, with the backward through time written out.

    Gradients: for mem_t = o * tanh(c_t) - r_t * thr (subtract) or (1 - r_t) * o * tanh(c_t)
    (zero), with r_t = [mem_{t-1} > thr] detached and state_quant straight-through (identity).
    Everything that does not depend on the incoming gradient (the gate derivatives times the
    values they multiply) is formed for all steps at once before the loop, leaving a handful of
    operations and one (B, 4H) x (4H, H) matmul per step."""

    @staticmethod
    def forward(ctx, x_proj, syn0, mem0, weight_hh, threshold, reset_code: int, quant):
        syns, mems, (acts, tanh_c, resets) = _recurrence(x_proj, syn0, mem0, weight_hh, threshold,
                                                         reset_code, quant, save=True)
        ctx.reset_code = reset_code
        ctx.via_sigmoid = tanh_via_sigmoid(x_proj.device)
        ctx.threshold_shape = threshold.shape
        ctx.save_for_backward(acts, tanh_c, resets, syns, mems, syn0, mem0, weight_hh)
        return syns, mems

    @staticmethod
    def backward(ctx, d_syns, d_mems):
        # The saved gate activations are overwritten, step by step, with the gate gradients (a
        # second backward through this graph is refused by autograd's version check).
        acts, tanh_c, resets, syns, mems, syn0, mem0, weight_hh = ctx.saved_tensors
        steps, batch, four_h = acts.shape
        hidden = four_h // 4
        i, f, g, o = acts.chunk(4, dim=-1)
        if ctx.via_sigmoid:                 # saved as sigmoid(-2 g) and sigmoid(-2 syn)
            _tanh_from_neg_double_sigmoid_(g)
            _tanh_from_neg_double_sigmoid_(tanh_c)
        # What each gate's pre-activation gradient is, per unit of dc (i, f, g) or of dm (o):
        # i <- g * i(1-i);  f <- c_prev * f(1-f);  g <- i * (1-g^2);  o <- tanh_c * o(1-o)
        dc_from_dm = o * (1 - tanh_c * tanh_c)
        o.mul_(1 - o).mul_(tanh_c)
        by_dc_f = torch.cat([syn0.unsqueeze(0), syns[:-1]])
        by_dc_f.mul_(f).mul_(1 - f)
        by_dc_i = (1 - i).mul_(i).mul_(g)
        g.mul_(g).neg_().add_(1).mul_(i)
        i.copy_(by_dc_i)
        del by_dc_i
        d_mem_next = torch.zeros_like(mem0)
        d_syn_next = torch.zeros_like(syn0)
        for t in reversed(range(steps)):
            dm = d_mem_next if d_mems is None else d_mems[t] + d_mem_next
            if ctx.reset_code == 2:
                dm = dm.masked_fill(resets[t], 0.0)
            dc = d_syn_next if d_syns is None else d_syns[t] + d_syn_next
            dc = torch.addcmul(dc, dm, dc_from_dm[t])
            d_syn_next = dc * f[t]
            torch.mul(by_dc_f[t], dc, out=f[t])
            i[t].mul_(dc)
            g[t].mul_(dc)
            o[t].mul_(dm)
            d_mem_next = acts[t] @ weight_hh
        d_gates = acts
        mem_prev = torch.cat([mem0.unsqueeze(0), mems[:-1]])
        d_weight_hh = d_gates.reshape(-1, four_h).t() @ mem_prev.reshape(-1, hidden)
        d_threshold = None
        if ctx.needs_input_grad[4]:
            if ctx.reset_code == 1:
                # mem_t -= r_t * thr: d thr = -sum_t r_t * d mem_t, d mem_t as it reached the reset
                d_mem_at_reset = (d_mems if d_mems is not None else torch.zeros_like(mems)).clone()
                d_mem_at_reset[:-1] += d_gates[1:] @ weight_hh
                d_threshold = -(d_mem_at_reset * resets).sum_to_size(ctx.threshold_shape)
            else:
                d_threshold = torch.zeros(ctx.threshold_shape, dtype=acts.dtype, device=acts.device)
        return d_gates, d_syn_next, d_mem_next, d_weight_hh, d_threshold, None, None


CHUNK_BYTES = 4 * 2 ** 20


def in_time_chunks(fn, x: torch.Tensor, values_per_row: int):
    """``fn`` over slices of the time axis, written into outputs allocated once: the peak memory
    of inference is the outputs plus one chunk's temporaries (about CHUNK_BYTES), not T of them."""
    if x.shape[0] == 0:
        return fn(x)
    per_step = x.shape[1] * values_per_row * x.element_size()
    chunk = max(1, CHUNK_BYTES // max(per_step, 1))
    outputs = None
    for start in range(0, x.shape[0], chunk):
        parts = fn(x[start:start + chunk])
        if outputs is None:
            outputs = [torch.empty((x.shape[0], *t.shape[1:]), dtype=t.dtype, device=t.device) for t in parts]
        for out, part in zip(outputs, parts):
            out[start:start + part.shape[0]] = part
    return tuple(outputs)


def sequence(x_proj: torch.Tensor, state, p) -> tuple[torch.Tensor, torch.Tensor]:
    """syn and mem (T, B, H) of every step from the projected inputs ``x_proj`` (T, B, 4H) and the
    carried ``state`` (syn, mem); ``p`` holds the step's parameters
    (:class:`snnbench.neurons.slstm.SLSTMParams`). Without gradients ``x_proj`` is overwritten."""
    threshold = p.threshold.to(x_proj.dtype)
    args = (x_proj, state.syn, state.mem, p.weight_hh, threshold, _RESET_CODE[p.reset_mechanism], p.state_quant)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in args[:5]):
        return SLSTMRecurrence.apply(*args)
    syns, mems, _ = _recurrence(*args, save=False)
    return syns, mems
