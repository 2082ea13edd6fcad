r"""Spiking LSTM (snntorch ``SLSTM``), from scratch: torch only, no ``nn.LSTMCell``.

One step, with ``syn`` the cell state :math:`c` and ``mem`` the hidden state :math:`h`:

.. math::
    \begin{aligned}
    r_t &= \Theta(mem_{t-1} - \vartheta) \quad \text{(detached; the reset signal)} \\
    (i, f, g, o) &= \text{split}_4(W_{ih} x_t + b_{ih} + W_{hh} mem_{t-1} + b_{hh}) \\
    syn_t &= \sigma(f) \odot syn_{t-1} + \sigma(i) \odot \tanh(g) \\
    \tilde{m}_t &= \sigma(o) \odot \tanh(syn_t) \\
    mem_t &= \begin{cases}
        \tilde{m}_t - r_t \vartheta & \text{subtract} \\
        \tilde{m}_t - r_t \tilde{m}_t & \text{zero (syn is not reset)} \\
        \tilde{m}_t & \text{none} \end{cases} \\
    spk_t &= S(mem_t - \vartheta)
    \end{aligned}

where :math:`S` is the Heaviside step with a surrogate gradient. With ``state_quant``, syn and mem
are quantised after the update, and mem once more before firing (as snntorch does).

What the reference code does, and we therefore do too (see reference-notes.md):

- The stored state is replaced by zeros whenever its shape differs from the *input's* shape,
  so with ``input_size != hidden_size`` every step starts from zero state: no recurrence.
- The reset is computed from the previous mem; "zero" resets mem only.
- ``inhibition`` is accepted and ignored.

Fast paths (:func:`slstm_sequence`), each the same sums re-associated (float rounding aside):

- The input projection :math:`W_{ih} x_t + b_{ih} + b_{hh}` is one matmul over all T x B rows
  before the time loop; only :math:`W_{hh} mem_{t-1}` stays inside.
- When the state is zeroed every step, the recurrent matmul vanishes and all steps run at once.
- With gradients, the time loop is one autograd node (:class:`SLSTMRecurrence`) with a
  hand-written backward through time: it saves only the gate activations, tanh(syn) and the reset
  masks, runs one (B, 4H) x (4H, H) matmul per step backwards, and forms the weight gradient
  :math:`\partial W_{hh} = \sum_t \delta G_t^\top mem_{t-1}` as one large matmul after the loop
  (the reference builds T small ones). The spikes are fired outside it, over all steps at once,
  so any surrogate's own backward applies unchanged.
- On CPU, tanh as 2 sigmoid(2 x) - 1 (:mod:`snnbench.neurons.fast_tanh`; there torch's sigmoid
  is several times cheaper than its tanh; on CUDA it is not, and the extra kernels would cost
  launches): the g columns of the projection (one multiply by a (4H,) vector of ones and twos, in
  place of the copy the autograd node makes anyway) and the g rows of a copy of W_hh are doubled
  (exact: a power of two), so ONE sigmoid over each step's contiguous (B, 4H) gates replaces
  three strided calls, then g = 2 s - 1; tanh(syn) the same way. The difference from torch.tanh
  is about one ulp of 1. The backward uses the unscaled W_hh and the derivative 1 - g^2 of the
  stored g, so it is unchanged (timings in docs/performance.md).
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

from typing import Callable, NamedTuple

import torch
import torch.nn as nn

from snnbench.neurons.fast_tanh import doubled_rows, tanh_from_sigmoid_, tanh_into
from snnbench.neurons.snntorch_cell import SnntorchCell, reset_now, winner_mask


class SLSTMState(NamedTuple):
    syn: torch.Tensor
    mem: torch.Tensor


class SLSTMParams(NamedTuple):
    weight_ih: torch.Tensor          # (4H, I), gates in the order i, f, g, o
    weight_hh: torch.Tensor          # (4H, H)
    bias: torch.Tensor | None        # (4H,) = b_ih + b_hh, or None
    threshold: torch.Tensor
    reset_mechanism: str
    spike_fn: Callable[[torch.Tensor], torch.Tensor]
    state_quant: Callable[[torch.Tensor], torch.Tensor] | None


def _cell(gates: torch.Tensor, syn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    i, f, g, o = gates.chunk(4, dim=-1)
    syn = torch.sigmoid(f) * syn + torch.sigmoid(i) * torch.tanh(g)
    return syn, torch.sigmoid(o) * torch.tanh(syn)


def _reset_and_fire(syn, mem, reset, p: SLSTMParams):
    if p.reset_mechanism == "subtract":
        mem = mem - reset * p.threshold
    elif p.reset_mechanism == "zero":
        mem = mem - reset * mem
    if p.state_quant is not None:
        syn, mem = p.state_quant(syn), p.state_quant(mem)
        spk = p.spike_fn(p.state_quant(mem) - p.threshold)
    else:
        spk = p.spike_fn(mem - p.threshold)
    return spk, syn, mem


def reset_signal(mem: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """Detached Heaviside of the previous membrane: which neurons are reset this step."""
    return (mem.detach() > threshold.detach()).to(mem.dtype)


def slstm_step(x_proj: torch.Tensor, state: SLSTMState, p: SLSTMParams) -> tuple[torch.Tensor, SLSTMState]:
    """One step from the projected input ``x_proj = W_ih x_t + b`` (B, 4H) and the previous state."""
    reset = reset_signal(state.mem, p.threshold)
    gates = torch.addmm(x_proj, state.mem, p.weight_hh.t())
    syn, mem = _cell(gates, state.syn)
    spk, syn, mem = _reset_and_fire(syn, mem, reset, p)
    return spk, SLSTMState(syn, mem)


STEP_SWITCHES = ("slstm-reset-zero-mem-only", "slstm-inhibition-ignored")   # run by the step loop


def slstm_step_documented(x_proj: torch.Tensor, state: SLSTMState, p: SLSTMParams, documented,
                          inhibition: bool) -> tuple[torch.Tensor, SLSTMState]:
    """One step with the departures in ``documented`` run as documented (snnbench/departures):
    ``slstm-reset-zero-mem-only``: the crossing membrane reset in its own step (after it fired),
    the cell reading the reset state; ``slstm-inhibition-ignored`` (with ``inhibition``): only the
    neuron with the highest ``mem - threshold`` of each sample may spike. The rest as
    :func:`slstm_step`. (``slstm-state-zeroing`` is the module's choice of state.)"""
    if "slstm-reset-zero-mem-only" not in documented:
        spk, state = slstm_step(x_proj, state, p)
        fired = state.mem if p.state_quant is None else p.state_quant(state.mem)
    else:
        syn, mem = _cell(torch.addmm(x_proj, state.mem, p.weight_hh.t()), state.syn)
        if p.state_quant is not None:
            syn, mem = p.state_quant(syn), p.state_quant(mem)
        fired = mem if p.state_quant is None else p.state_quant(mem)
        spk = p.spike_fn(fired - p.threshold)
        state = SLSTMState(syn, reset_now(mem, p.threshold, p.reset_mechanism))
    if inhibition and "slstm-inhibition-ignored" in documented:
        spk = spk * winner_mask(fired - p.threshold)
    return spk, state


def project_input(x: torch.Tensor, p: SLSTMParams) -> torch.Tensor:
    """``W_ih x + b_ih + b_hh`` for any leading shape, as one matmul."""
    flat = x.reshape(-1, x.shape[-1])
    if p.bias is None:
        out = flat @ p.weight_ih.t()
    else:
        out = torch.addmm(p.bias, flat, p.weight_ih.t())
    return out.reshape(*x.shape[:-1], out.shape[-1])


_RESET_CODE = {"none": 0, "subtract": 1, "zero": 2}


def tanh_via_sigmoid(device: torch.device) -> bool:
    """Whether the loop forms tanh from sigmoids: on CPU only (elsewhere tanh is not slower, and
    the extra kernels would cost launches)."""
    return device.type == "cpu"


def _recurrence(x_proj, syn0, mem0, weight_hh, threshold, reset_code: int, quant, save: bool):
    """The carried-state time loop. Returns syns, mems (T, B, H) and, with ``save``, what the
    backward needs: gate activations (T, B, 4H), tanh(syn) (T, B, H) and reset masks. Without
    ``save`` (inference) ``x_proj`` is overwritten."""
    steps, batch, four_h = x_proj.shape
    hidden = four_h // 4
    # tanh(g) = 2 sigmoid(2 g) - 1, so one sigmoid covers all four gates: the g columns of the
    # projection and the g rows of W_hh doubled (exact: a power of two). The gates are formed in
    # place: in a (scaled) copy of the projection under autograd (x_proj is an input of the
    # autograd Function and must stay as it is), else in the projection itself.
    via_sigmoid = tanh_via_sigmoid(x_proj.device)
    g_cols = slice(2 * hidden, 3 * hidden)
    if via_sigmoid:
        if save:                            # the copy, times (1, 1, 2, 1) per gate
            acts = torch.mul(x_proj, doubled_rows(x_proj.new_ones(four_h), g_cols))
        else:
            acts = x_proj
            acts[..., g_cols].mul_(2)
        weight_hh = doubled_rows(weight_hh, g_cols)
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
            tanh_from_sigmoid_(gates.sigmoid_()[:, g_cols])
        else:
            gates[:, :2 * hidden].sigmoid_()
            g.tanh_()
            o.sigmoid_()
        syn = torch.addcmul(f * syn, i, g, out=syns[t])
        tanh_syn = tanh_into(syn, tanh_c[k]) if via_sigmoid else torch.tanh(syn, out=tanh_c[k])
        mem = torch.mul(o, tanh_syn, out=mems[t])
        if reset_code == 1:
            mem.addcmul_(reset, threshold, value=-1)
        elif reset_code == 2:
            mem.masked_fill_(reset, 0.0)
        if quant is not None:
            syns[t], mems[t] = quant(syn), quant(mem)
            syn, mem = syns[t], mems[t]
    return syns, mems, (acts, tanh_c, resets)


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


def _fire(mem: torch.Tensor, p: SLSTMParams) -> torch.Tensor:
    if p.state_quant is not None:
        mem = p.state_quant(mem)
    return p.spike_fn(mem - p.threshold)


def _zero_state_steps(x: torch.Tensor, p: SLSTMParams):
    """Steps that all start from zero state (the reference's rule when input_size != hidden_size):
    no recurrence, so they are computed together."""
    x_proj = project_input(x, p)
    zeros = torch.zeros(x_proj.shape[:-1] + (x_proj.shape[-1] // 4,), dtype=x.dtype, device=x.device)
    syn, mem = _cell(x_proj, zeros)
    return _reset_and_fire(syn, mem, reset_signal(zeros, p.threshold), p)


CHUNK_BYTES = 4 * 2 ** 20


def _in_time_chunks(fn, x: torch.Tensor, values_per_row: int):
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


def slstm_sequence(x: torch.Tensor, state: SLSTMState, p: SLSTMParams, carry_state: bool = True):
    """All steps of x (T, B, I). Returns spk, syn, mem, each (T, B, H).

    ``carry_state=False`` is the reference's behaviour when input_size != hidden_size: every step
    starts from zero state, so all steps are computed at once.
    """
    needs_grad = torch.is_grad_enabled() and (x.requires_grad or any(
        t is not None and t.requires_grad for t in (p.weight_ih, p.weight_hh, p.bias, p.threshold,
                                                    state.syn, state.mem)))
    if not carry_state:
        if needs_grad:
            return _zero_state_steps(x, p)
        return _in_time_chunks(lambda part: _zero_state_steps(part, p), x, 4 * p.weight_hh.shape[1])
    x_proj = project_input(x, p)
    threshold = p.threshold.to(x.dtype)
    args = (x_proj, state.syn, state.mem, p.weight_hh, threshold, _RESET_CODE[p.reset_mechanism], p.state_quant)
    if needs_grad:
        syns, mems = SLSTMRecurrence.apply(*args)
    else:
        syns, mems, _ = _recurrence(*args, save=False)
    return _fire(mems, p), syns, mems


class SLSTM(SnntorchCell):
    """Drop-in for ``snntorch.SLSTM``: same constructor arguments, ``spk, syn, mem = m(x, syn, mem)``.

    ``m.sequence(x)`` runs a whole (T, B, I) sequence at once (the fast path) and returns
    ``spk, syn, mem`` stacked over time. Parameters use ``nn.LSTMCell``'s names and layout
    (``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``) so weights copy over directly.
    """

    def __init__(self, input_size, hidden_size, bias=True, threshold=1.0, spike_grad=None,
                 surrogate_disable=False, init_hidden=False, inhibition=False, learn_threshold=False,
                 reset_mechanism="none", state_quant=False, output=False, documented=()):
        super().__init__(threshold, spike_grad, surrogate_disable, init_hidden, inhibition, learn_threshold,
                         reset_mechanism, state_quant, output, documented)
        self.input_size = input_size
        self.hidden_size = hidden_size
        bound = 1.0 / hidden_size ** 0.5
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size).uniform_(-bound, bound))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size).uniform_(-bound, bound))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
            self.bias_hh = nn.Parameter(torch.empty(4 * hidden_size).uniform_(-bound, bound))
        else:
            self.bias_ih = self.bias_hh = None

    def params(self) -> SLSTMParams:
        bias = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        return SLSTMParams(self.weight_ih, self.weight_hh, bias, self.threshold,
                           self.reset_mechanism, self.spike_fn, self.state_quant)

    def _current_state(self, x: torch.Tensor) -> SLSTMState:
        """The stored state, or zeros where its shape is not the input's (the reference's rule; the
        state's own shape (B, hidden) as documented, with ``slstm-state-zeroing`` in documented)."""
        shape = (x.shape[0], self.hidden_size)
        same = (lambda t: t.shape == shape) if "slstm-state-zeroing" in self.documented else \
            (lambda t: t.shape == x.shape)
        return SLSTMState(*self.held_state(shape, x, same))

    def _step(self, x_proj: torch.Tensor, state: SLSTMState, p: SLSTMParams):
        if self.documented.intersection(STEP_SWITCHES):
            return slstm_step_documented(x_proj, state, p, self.documented, self.inhibition)
        return slstm_step(x_proj, state, p)

    def forward(self, input_, syn=None, mem=None):
        self.take_call_state(syn, mem)
        p = self.params()
        spk, state = self._step(project_input(input_, p), self._current_state(input_), p)
        return self.call_result(spk, state.syn, state.mem)

    def sequence(self, x, syn=None, mem=None):
        """All T steps of x (T, B, I) from the given (or stored) state; returns stacked spk, syn, mem.
        The fast path, or with documented departures the step loop (:func:`slstm_step_documented`)."""
        self.set_state(syn, mem)
        state = self._current_state(x.new_empty(x.shape[1:]))  # the first step's shape, even for T = 0
        carry = self.input_size == self.hidden_size or "slstm-state-zeroing" in self.documented
        if self.documented.intersection(STEP_SWITCHES) and x.shape[0]:
            p = self.params()
            zeros = SLSTMState(torch.zeros_like(state.syn), torch.zeros_like(state.mem))
            steps = []
            for x_t in project_input(x, p).unbind(0):
                spk_t, state = self._step(x_t, state if carry else zeros, p)
                steps.append((spk_t, state.syn, state.mem))
            spk, syn_t, mem_t = (torch.stack(v) for v in zip(*steps))
            self.syn, self.mem = syn_t[-1], mem_t[-1]
            return spk, syn_t, mem_t
        spk, syn_t, mem_t = slstm_sequence(x, state, self.params(), carry_state=carry)
        if x.shape[0]:
            self.syn, self.mem = syn_t[-1], mem_t[-1]
        return spk, syn_t, mem_t
