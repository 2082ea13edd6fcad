r"""The fused path of ALIF and ALIFRecurrent (:func:`alif_sequence_fused`, which
:meth:`snnbench.neurons.alif.ALIF.sequence` runs where :func:`fast_path_applies`): the step of
snnbench/neurons/alif.py (:func:`~snnbench.neurons.alif.alif_step`) over a whole sequence.

- The alphas are computed once per call, not once per step.
- :func:`alif_sequence_fused` runs the whole sequence as *one* autograd node
  (:class:`_ALIFSequence`) when the spike function and reset are ours (any surrogate), with no
  autograd graph built per step. Its forward does the same elementwise operations as
  :func:`~snnbench.neurons.alif.alif_step` in the same order, so the values are bit-identical, but writes every result
  straight into preallocated (T, B, ...) outputs (``out=`` / in-place ops on per-step views; no
  ``torch.stack``), about ten kernels per step plus the recurrent product:

  * the recurrent ``F.linear(s, W)`` (bias-free, 2-D) is ``torch.mm(s, W.t(), out=buffer)``, the
    same kernel F.linear calls;
  * Python-number operands (``adapt_scale``, ``b0``) are 0-dim tensors of the input's dtype, the
    value the op would cast them to, so no per-step scalar conversion;
  * with ``SingleSpike`` the spike is ``torch.ge(v, B, out=spikes[t])`` (``v - B >= 0`` is
    ``v >= B`` in IEEE arithmetic with gradual underflow), and the products with spikes in the reset
    and in ``b``'s update are fused (``addcmul_``): a product with 0 or 1 is exact, so the single
    rounding of the add is the one the separate ops make.

  Saved: the input (with a recurrence: the total input currents, only when grad is enabled) and the
  outputs themselves. The hand-written backward through time (:func:`_backward`) recomputes the
  membrane before the reset :math:`w_t = \alpha_{mem} v_{t-1} + i_t` (same ops, so the same
  bits) and the surrogate at it (``SingleExponential`` in place in that buffer; other surrogates
  a piece at a time); the thresholds each step fired against are read from the
  ``spike_threshold`` output of the step before. The time loop carries only the adjoints of
  :math:`v, b, w, u` (and :math:`j` with a synapse): seven ``addcmul``-style kernels per step
  plus one ``addmm_`` of ``grad @ W`` (or a transposed convolution) for the recurrence. The
  recurrent weight gradient is one ``(n, (T-1)B) @ ((T-1)B, n)`` product after the loop; the
  alpha gradients are sums of elementwise products.

- The backward takes the steps in chunks, from the last (:data:`BACKWARD_CHUNK`, a measured
  choice, :mod:`snnbench.neurons.fused.autotune`; pin with ``SNNBENCH_PATH_ALIF_BACKWARD_CHUNK``): for
  each chunk, its per-step coefficients (w, the surrogate, the reset's derivatives), then the
  recurrence over its steps, then its terms of the alpha gradients, added to the sums of the
  chunks before. Each chunk's tensors are then used while they are still in cache instead of in
  separate passes over whole (T, B, ...) tensors; ``whole`` (one chunk of all steps) is the
  unchunked form. The adjoints are carried across chunks unchanged and every coefficient is the
  same per-step value, so the candidates differ only in how the alpha gradients' sums are
  grouped (float rounding). Chunk-sized scratch comes in two sets used in turn, since the
  adjoints carried out of a chunk live in its buffers until the next chunk's first step. The
  tuner times the candidates on the first backward of each shape, on that call's own saved
  tensors and gradients (the backward only reads them), then runs the winner for the result.

  Tests check the fused path against the step loop (in float64 the values bitwise and the
  gradients to 1e-10; in float32 the spikes bitwise, the rest to float32 rounding) for every
  spike function, reset, synapse, clip, connection and chunking.
"""

from __future__ import annotations

import torch

from snnbench.neurons.fused import autotune
from snnbench.neurons.sinabs_functions import (MaxSpike, MembraneReset, MembraneSubtract, MultiSpike,
                                               SingleExponential, SingleSpike)


def fast_path_applies(p) -> bool:
    """The fused sequence covers our own spike functions and resets (any surrogate callable), with
    the code's behaviour (no departure run as documented)."""
    spike_ok = p.spike_fn in (SingleSpike, MultiSpike) or isinstance(p.spike_fn, MaxSpike)
    return spike_ok and isinstance(p.reset_fn, (MembraneSubtract, MembraneReset)) and not p.documented \
        and not getattr(p.reset_fn, "only_spiked", False)


def _spike_rule(spike_fn):
    if isinstance(spike_fn, MaxSpike):
        return lambda v, threshold: spike_fn.rule(v, threshold)
    return lambda v, threshold: spike_fn.rule(v, threshold, None)


class _ALIFSequence(torch.autograd.Function):
    """All T steps forward (the same elementwise operations as :func:`alif_step`, so the same
    values), and a hand-written backward through time. Saved: the outputs and, with a
    recurrence, the total input currents; everything else is recomputed in batch in backward."""

    @staticmethod
    def forward(ctx, x, v0, i0, b0_state, alpha_mem, alpha_adapt, alpha_syn, weight, bias, config):
        p, connect, keep_u = config
        inputs = (x, v0, i0, b0_state, alpha_mem, alpha_adapt, alpha_syn, weight, bias)
        # per-step operands without autograd metadata (cheaper dispatch); the originals are saved
        x, v0, i0, b0_state, alpha_mem, alpha_adapt, alpha_syn, weight, bias = (
            None if t is None else t.detach() for t in inputs)
        single = p.spike_fn is SingleSpike          # spikes are 0 or 1: products with them are exact
        rule = _spike_rule(p.spike_fn)
        reset = p.reset_fn
        spikes, v_out, i_out, b_out, th_out = (torch.empty_like(x) for _ in range(5))
        S, V, I, Bs, TH = (o.unbind(0) for o in (spikes, v_out, i_out, b_out, th_out))
        xs = x.unbind(0)
        u_out = torch.empty_like(x) if connect is not None and keep_u else None
        U = u_out.unbind(0) if u_out is not None else None
        scratch = torch.empty_like(x[0])
        scratch_j = torch.empty_like(x[0]) if alpha_syn is not None else None
        k_mem = 1 - alpha_mem if p.norm_input else None
        q_adapt = 1 - alpha_adapt
        threshold = p.b0 + p.adapt_scale * b0_state     # what step 0 fires against
        scale, base = (_as_operand(value, x) for value in (p.adapt_scale, p.b0))
        plain_linear = connect is not None and connect.is_linear and bias is None and x.dim() == 3
        rec_t = weight.t() if plain_linear else None
        rec_buffer = torch.empty_like(x[0]) if plain_linear else None
        # the options, decided once (not per step)
        subtract = isinstance(reset, MembraneSubtract)
        amount = reset.subtract_value if subtract else None     # None: the threshold
        reset_value = None if subtract else reset.reset_value
        min_v_mem = p.min_v_mem
        v, i, b = v0, i0, b0_state
        for t in range(x.shape[0]):
            u = xs[t]
            if connect is not None and t > 0:
                if rec_t is not None:       # what F.linear(s, W) computes, into a reused buffer
                    r = torch.mm(S[t - 1], rec_t, out=rec_buffer)
                else:
                    r = connect(S[t - 1], weight, bias).reshape(u.shape)
                u = torch.add(u, r, out=U[t] if U is not None else scratch)
            elif U is not None:
                U[t].copy_(u)
            if alpha_syn is not None:       # j = alpha_syn * (i + u)
                u = torch.mul(alpha_syn, torch.add(i, u, out=scratch_j), out=scratch_j)
            i = torch.mul(k_mem, u, out=I[t]) if k_mem is not None else I[t].copy_(u)
            vt = torch.mul(alpha_mem, v, out=V[t]).add_(i)       # the membrane before the reset
            if single:                      # v - B >= 0 is v >= B in IEEE arithmetic
                s = torch.ge(vt, threshold, out=S[t])
            else:
                s = S[t].copy_(rule(vt, threshold))
            if subtract:
                if single and amount is None:
                    vt.addcmul_(s, threshold, value=-1)
                elif single:
                    vt.add_(s, alpha=-amount)
                else:
                    vt.sub_(torch.mul(s, threshold if amount is None else amount, out=scratch))
            else:                           # MembraneReset: v * (s == 0) + r
                vt.mul_(torch.eq(s, 0, out=scratch)).add_(reset_value)
            b = torch.mul(alpha_adapt, b, out=Bs[t])
            if single:
                b.addcmul_(s, q_adapt)
            else:
                b.add_(torch.mul(q_adapt, s, out=scratch))
            if min_v_mem is not None:
                vt.sub_(min_v_mem).relu_().add_(min_v_mem)
            threshold = torch.mul(b, scale, out=TH[t]).add_(base)
            v = vt
        ctx.config = config
        ctx.save_for_backward(inputs[0] if u_out is None else u_out, *inputs[1:], spikes, v_out, i_out, b_out, th_out)
        return spikes, v_out, i_out, b_out, th_out

    @staticmethod
    def backward(ctx, g_s, g_v, g_i, g_b, g_th):
        saved = tuple(None if t is None else t.detach() for t in ctx.saved_tensors)
        grads = (g_s, g_v, g_i, g_b, g_th)
        p, connect, _ = ctx.config
        need = ctx.needs_input_grad
        u = saved[0]
        key = ("alif", tuple(u.shape), u.dtype, u.device, type(connect).__name__, _options_key(p),
               tuple(need), tuple(g is None for g in grads))
        chunk = BACKWARD_CHUNK.choose(
            key, lambda candidate: lambda: _backward(saved, grads, ctx.config, need, candidate),
            candidates=_chunk_candidates(u), rounds=2, warmup=False)
        return _backward(saved, grads, ctx.config, need, chunk)


# ---- the backward through time ---------------------------------------------------------------------
BACKWARD_CHUNK = autotune.PathChoice(
    "ALIF_BACKWARD_CHUNK", ("whole", "4MiB", "1MiB", "256KiB"),
    "how many steps the backward handles at once: the per-step coefficients (the membrane before the "
    "reset, the surrogate) and the parameter-gradient products are computed for a chunk of steps "
    "of about this many bytes per tensor, just before and after the chunk's backward recurrence, "
    "while they are in cache (whole: all steps at once)")
_CHUNK_BYTES = {"4MiB": 4 << 20, "1MiB": 1 << 20, "256KiB": 256 << 10}


def _chunk_candidates(u: torch.Tensor) -> tuple[str, ...]:
    """The chunk sizes that give different chunks for this sequence (whole: all steps at once)."""
    out, seen = [], set()
    for name in BACKWARD_CHUNK.candidates:
        n = _chunk_steps(name, u)
        if n not in seen:
            seen.add(n)
            out.append(name)
    return tuple(out)


def _chunk_steps(chunk: str, u: torch.Tensor) -> int:
    steps = u.shape[0]
    if chunk == "whole":
        return max(steps, 1)
    step_bytes = max(1, u[0].numel() * u.element_size())
    return max(1, min(steps, _CHUNK_BYTES[chunk] // step_bytes))


def _options_key(p) -> tuple:
    """What in the options changes the backward's work (for the tuner's key)."""
    return (type(p.spike_fn).__name__ if not isinstance(p.spike_fn, type) else p.spike_fn.__name__,
            type(p.reset_fn).__name__, getattr(p.reset_fn, "subtract_value", None) is None,
            type(p.surrogate).__name__, p.min_v_mem is not None, p.norm_input, p.alpha_syn is not None,
            isinstance(p.adapt_scale, torch.Tensor), tuple(p.alpha_mem.shape))


def _prev_parts(t0: int, n: int, values: torch.Tensor, first: torch.Tensor):
    """The previous step's values for the chunk of steps t0 .. t0 + n - 1, as (j0, j1, prev) parts
    over the chunk's local steps j0 .. j1 - 1 (step -1's value is ``first``)."""
    if t0 > 0:
        return [(0, n, values[t0 - 1:t0 + n - 1])]
    parts = [(0, 1, first.unsqueeze(0))]
    if n > 1:
        parts.append((1, n, values[:n - 1]))
    return parts


def _backward(saved, grads, config, need, chunk: str):
    """The gradients of :class:`_ALIFSequence`'s inputs (see its forward and the module doc).

    The steps are taken from the last in chunks (``chunk``; see :data:`BACKWARD_CHUNK`): for each
    chunk, its per-step coefficients, then the backward recurrence over its steps, then its terms
    of the parameter gradients, summed over the chunks. The recurrence carries only the adjoints
    across chunks; every chunk-sized buffer is scratch, two sets used in turn (the adjoints carried
    out of a chunk live in its buffers until the chunk after next)."""
    p, connect, _ = config
    (u, v0, i0, b0_state, a_m, a_a, a_s, weight, bias, spikes, v_out, i_out, b_out, th_out) = saved
    steps = u.shape[0]
    zero = u.new_zeros(())
    g_s, g_v, g_i, g_b, g_th = (zero.expand(u.shape) if g is None else g for g in grads)
    c = p.adapt_scale
    reset = p.reset_fn
    subtract_threshold = isinstance(reset, MembraneSubtract) and reset.subtract_value is None
    k = 1 - a_m if p.norm_input else None
    q = 1 - a_a
    first_threshold = torch.add(torch.mul(b0_state, c), p.b0)   # what step 0 fired against
    fast_surrogate = type(p.surrogate) is SingleExponential
    need_fired_at = p.min_v_mem is not None or not fast_surrogate
    c_tensor_spikes = subtract_threshold and isinstance(c, torch.Tensor)
    linear = connect is not None and connect.is_linear
    linear_2d = linear and u.dim() == 3
    chunk_steps = _chunk_steps(chunk, u)
    FIRED = (first_threshold, *th_out.unbind(0)[:-1])             # the threshold step t fired against
    S, G_s, G_v, G_i = (z.unbind(0) for z in (spikes, g_s, g_v, g_i))
    g_x = torch.empty_like(u)
    GX = g_x.unbind(0)
    adj_s = torch.empty_like(u[0])
    # two buffers each for the adjoints a step hands to the one before it
    v_bufs = [torch.empty_like(u[0]) for _ in range(2)]
    z_bufs = [torch.empty_like(u[0]) for _ in range(2)] if p.min_v_mem is not None else None
    j_bufs = [torch.empty_like(u[0]) for _ in range(2)] if a_s is not None else None
    sets: list[dict] = []
    spare = None                                                 # a chunk temp for the parameter terms
    g_am = g_aa = g_as = None
    w_next = b_next = z_next = u_next = j_next = None

    def chunk_set(index: int, n: int) -> dict:
        while len(sets) <= index % 2:
            shape = (min(chunk_steps, steps), *u.shape[1:])
            names = ["sigma", "adj_w", "adj_b"] + (["adj_itot"] if a_s is not None else []) \
                + (["fired_at"] if need_fired_at else []) + (["c_spikes"] if c_tensor_spikes else [])
            sets.append({name: u.new_empty(shape) for name in names})
        return {name: buf[:n] for name, buf in sets[index % 2].items()}

    for index, t0 in enumerate(range(((steps - 1) // chunk_steps) * chunk_steps, -1, -chunk_steps)):
        n = min(chunk_steps, steps - t0)
        sl = slice(t0, t0 + n)
        bufs = chunk_set(index, n)
        # ---- the chunk's per-step coefficients (no adjoints in them) ----
        v_parts = _prev_parts(t0, n, v_out, v0)
        th_parts = _prev_parts(t0, n, th_out, first_threshold)
        sigma = bufs["sigma"]                  # the membrane before the reset w, then dS/dv at w
        for j0, j1, prev in v_parts:
            torch.mul(a_m, prev, out=sigma[j0:j1])
        sigma.add_(i_out[sl])
        fired_at = None
        if need_fired_at:
            fired_at = bufs["fired_at"]
            for j0, j1, prev in th_parts:
                fired_at[j0:j1].copy_(prev.expand_as(fired_at[j0:j1]))
        kappa = None                                             # d clip / d z
        if p.min_v_mem is not None:
            kappa = (reset(spikes[sl], sigma, fired_at) - p.min_v_mem > 0).to(u.dtype)
        if fast_surrogate:                     # in place: k / (B w) * exp(-|v - B| / (B w))
            width, scale = p.surrogate.grad_width, p.surrogate.grad_scale
            for j0, j1, threshold in th_parts:
                part = sigma[j0:j1]
                part.sub_(threshold).abs_()
                torch.addcdiv(zero, part, threshold, value=-1 / width, out=part).exp_()
                torch.addcdiv(zero, part, threshold, value=scale / width, out=part)
        else:
            sub = max(1, steps // 8)           # the surrogate's temporaries, a piece at a time
            for s0 in range(0, n, sub):
                sigma[s0:s0 + sub] = p.surrogate(sigma[s0:s0 + sub], fired_at[s0:s0 + sub])
        dz_dw = None                                             # d reset / d w, times kappa
        if isinstance(reset, MembraneReset):
            dz_dw = (spikes[sl] == 0).to(u.dtype)
            if kappa is not None:
                dz_dw.mul_(kappa)
        dz_ds = None                                             # d reset / d s, times kappa
        if subtract_threshold and kappa is not None:
            dz_ds = fired_at.neg_().mul_(kappa)
        elif isinstance(reset, MembraneSubtract) and not subtract_threshold:
            dz_ds = -reset.subtract_value if kappa is None else kappa * -reset.subtract_value
        dz_ds_tensor = isinstance(dz_ds, torch.Tensor)
        c_spikes = None                        # at local j: -c s_{t+1}, c times d reset / d B
        if c_tensor_spikes:
            m = min(n, steps - 1 - t0)
            c_spikes = bufs["c_spikes"]
            if m > 0:
                torch.mul(spikes[t0 + 1:t0 + 1 + m], c, out=c_spikes[:m]).neg_()
        # adj_b starts as the direct gradient of b (through b and spike_threshold) and g_x, without
        # a synapse, as k g_i: the recurrence adds the carried terms in place
        adj_b, adj_w = bufs["adj_b"], bufs["adj_w"]
        if isinstance(c, torch.Tensor):
            torch.mul(g_th[sl], c, out=adj_b).add_(g_b[sl])
        else:
            torch.add(g_b[sl], g_th[sl], alpha=c, out=adj_b)
        if a_s is None and k is not None:
            torch.mul(g_i[sl], k, out=g_x[sl])
        adj_itot = bufs.get("adj_itot")
        AW, AB, SIG = adj_w.unbind(0), adj_b.unbind(0), sigma.unbind(0)
        AI = adj_itot.unbind(0) if adj_itot is not None else None

        # ---- the backward recurrence over the chunk: adjoints of v, b, w, u (and of j) ----
        for t in range(t0 + n - 1, t0 - 1, -1):
            j = t - t0
            a_v = G_v[t] if w_next is None else torch.addcmul(G_v[t], w_next, a_m, out=v_bufs[t % 2])
            a_z = a_v if kappa is None else torch.mul(a_v, kappa[j], out=z_bufs[t % 2])
            a_b = AB[j] if b_next is None else AB[j].addcmul_(b_next, a_a)
            if subtract_threshold and z_next is not None:        # through the next step's reset: -c s dz
                if c_spikes is None:
                    a_b.addcmul_(S[t + 1], z_next, value=-c)
                else:
                    a_b.addcmul_(c_spikes[j], z_next)
            a_s_t = torch.addcmul(G_s[t], a_b, q, out=adj_s)
            if dz_ds_tensor:
                a_s_t.addcmul_(dz_ds[j], a_z)
            elif subtract_threshold:                              # the reset subtracted s B
                a_s_t.addcmul_(FIRED[t], a_z, value=-1)
            elif dz_ds is not None:
                a_s_t.add_(a_z, alpha=dz_ds)
            if u_next is not None:                                # through the recurrence into s_t
                if linear_2d:
                    a_s_t.addmm_(u_next, weight)
                elif linear:
                    a_s_t.view(-1, weight.shape[1]).addmm_(u_next.reshape(-1, weight.shape[0]), weight)
                else:
                    a_s_t.add_(connect.input_grad(u_next, weight, S[t]))
            a_w = torch.addcmul(a_z if dz_dw is None else a_z * dz_dw[j], SIG[j], a_s_t, out=AW[j])
            if a_s is None:
                a_u = (GX[t].addcmul_(a_w, k) if k is not None
                       else torch.add(G_i[t], a_w, out=GX[t]))
            else:
                a_itot = torch.add(G_i[t], a_w, out=AI[j])
                if j_next is not None:
                    a_itot.addcmul_(j_next, a_s)
                j_next = torch.mul(a_itot, k, out=j_bufs[t % 2]) if k is not None else a_itot
                a_u = torch.mul(j_next, a_s, out=GX[t])
            w_next, b_next, z_next = a_w, a_b, a_z
            if connect is not None and t > 0:
                u_next = a_u

        # ---- the chunk's terms of the alpha gradients (adj_w and adj_b are not changed: the first
        # step's adjoints are carried into the next chunk) ----
        if need[4] or need[5] or need[6]:
            if spare is None:
                spare = torch.empty_like(sets[0]["sigma"])
            work, other = sigma, spare[:n]     # sigma is not needed any more
        if need[4] or need[6]:
            g_am_terms = None
            if need[4]:                        # adj_w_t * v_{t-1}
                g_am_terms = work
                for j0, j1, prev in v_parts:
                    torch.mul(adj_w[j0:j1], prev, out=g_am_terms[j0:j1])
            if adj_itot is None:               # no synapse: the current is j = u
                adj_itot = torch.add(adj_w, g_i[sl], out=other)
                pre_syn = u[sl]
            else:                              # j = a_s * (i_prev + u)
                pre_syn = other
                for j0, j1, prev in _prev_parts(t0, n, i_out, i0):
                    torch.add(u[t0 + j0:t0 + j1], prev, out=pre_syn[j0:j1])
            if need[6] and a_s is not None:
                adj_j = adj_itot.mul(k) if k is not None else adj_itot
                term = _reduce(adj_j.mul_(pre_syn) if k is not None else adj_j * pre_syn, a_s)
                g_as = term if g_as is None else g_as + term
                del adj_j
            if need[4]:
                if p.norm_input:               # - adj_itot_t * j_t, in the chunk temp (``other``)
                    jt = adj_itot.mul_(pre_syn) if a_s is None else pre_syn.mul_(adj_itot).mul_(a_s)
                    g_am_terms.sub_(jt)
                term = _reduce(g_am_terms, a_m)
                g_am = term if g_am is None else g_am + term
        if need[5]:                            # adj_b_t * (b_{t-1} - s_t)
            prev_minus_s = work
            for j0, j1, prev in _prev_parts(t0, n, b_out, b0_state):
                torch.sub(prev, spikes[t0 + j0:t0 + j1], out=prev_minus_s[j0:j1])
            term = _reduce(prev_minus_s.mul_(adj_b), a_a)
            g_aa = term if g_aa is None else g_aa + term
        del sigma, kappa, dz_dw, dz_ds, c_spikes, fired_at, adj_itot

    # ---- gradients of the initial state and the recurrent weights ----
    g_v0 = _reduce_state(a_m * w_next, v0) if need[1] else None
    g_i0 = _reduce_state(a_s * j_next, i0) if need[2] and a_s is not None else None
    g_b0 = None
    if need[3]:
        carry = a_a * b_next
        if subtract_threshold:
            carry = carry - c * spikes[0] * z_next
        g_b0 = _reduce_state(carry, b0_state)
    g_weight = g_bias = None
    if connect is not None and steps > 1 and (need[7] or need[8]):
        g_weight, g_bias = connect.weight_grad(g_x[1:], spikes[:-1], weight, bias)
    return (g_x, g_v0, g_i0, g_b0, g_am, g_aa, g_as, g_weight, g_bias, None)


def _as_operand(value, like: torch.Tensor):
    """A Python number as a 0-dim tensor of ``like``'s dtype (the value the op would cast it to), so
    that a per-step op does not convert a wrapped scalar every call; tensors pass through."""
    if isinstance(value, torch.Tensor):
        return value
    return torch.tensor(value, dtype=like.dtype, device=like.device)


def _reduce(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return grad.sum(0).sum_to_size(like.shape)


def _reduce_state(grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return grad.sum_to_size(like.shape)


def alif_sequence_fused(x: torch.Tensor, state, p, connect=None, weight=None, bias=None):
    """:func:`snnbench.neurons.alif.alif_sequence` as one autograd node (see :class:`_ALIFSequence`):
    ``state`` and ``p`` are an ALIFState and ALIFParams, ``connect`` (with ``weight``, ``bias``) the
    recurrent connection or None. Returns the spikes and the per-step states (``type(state)``)."""
    shape = x.shape[1:]
    v0, i0, b0 = (t.expand(shape) if t.shape != shape else t for t in (state.v_mem, state.i_syn, state.b))
    spikes, v, i, b, threshold = _ALIFSequence.apply(x, v0, i0, b0, p.alpha_mem, p.alpha_adapt, p.alpha_syn,
                                                     weight, bias, (p, connect, torch.is_grad_enabled()))
    return spikes, type(state)(v, i, b, threshold)
