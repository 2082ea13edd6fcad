"""ALIF / ALIFRecurrent, our maths: hand-derived trajectories, spike counts, surrogate gradient and
resets by hand, and the fused sequence (every backward chunking) against the step loop.
(Against sinabs: tests/equivalence/test_alif_reference.py; bad case files: tests/cli.)"""

from __future__ import annotations

import math

import pytest
import torch

from snnbench.neurons import sinabs_functions as fns
from snnbench.neurons.alif import ALIF, ALIFParams, ALIFRecurrent, ALIFState, LinearConnect, alif_step


def _params(tau_mem=2.0, tau_adapt=4.0, tau_syn=None, adapt_scale=2.0, b0=1.0, spike_fn=fns.SingleSpike,
            reset=fns.MembraneSubtract(), min_v_mem=None, norm_input=True):
    alpha = lambda tau: None if tau is None else torch.exp(torch.tensor(-1.0 / tau, dtype=torch.float64))
    return ALIFParams(alpha(tau_mem), alpha(tau_adapt), alpha(tau_syn), adapt_scale, b0, spike_fn, reset,
                      fns.SingleExponential(), min_v_mem, norm_input)


def _zeros():
    z = torch.zeros(1, 1, dtype=torch.float64)
    return ALIFState(z, z, z, z + 1.0)


def _run(p, xs, state=None):
    state = state or _zeros()
    out = []
    for x in xs:
        s, state = alif_step(torch.tensor([[x]], dtype=torch.float64), state, p)
        out.append((float(s), float(state.v_mem), float(state.i_syn), float(state.b), float(state.spike_threshold)))
    return out


# ---- the maths, by hand ---------------------------------------------------------------------------
def test_trajectory_subtracts_the_adaptive_threshold():
    am, aa = math.exp(-1 / 2), math.exp(-1 / 4)
    out = _run(_params(), [3.0, 3.0, 0.0, 3.0])
    # step 1: i = (1-am)*3; v = i >= B = 1 -> spike, v -= 1; b = (1-aa); threshold = 1 + 2b
    i = (1 - am) * 3
    v1, b1 = i - 1.0, 1 - aa
    assert out[0] == pytest.approx((1.0, v1, i, b1, 1 + 2 * b1), abs=1e-12)
    # step 2: v = am*v1 + i = 1.2898 < B = 1.4424: no spike; b decays
    v2, b2 = am * v1 + i, aa * b1
    assert v2 < 1 + 2 * b1
    assert out[1] == pytest.approx((0.0, v2, i, b2, 1 + 2 * b2), abs=1e-12)
    # step 3: no input; v decays
    v3, b3 = am * v2, aa * b2
    assert out[2] == pytest.approx((0.0, v3, 0.0, b3, 1 + 2 * b3), abs=1e-12)
    # step 4: v = am*v3 + i >= B = 1 + 2*b3 -> spike; the reset subtracts B (not b0 = 1)
    v4, threshold = am * v3 + i, 1 + 2 * b3
    assert v4 >= threshold
    b4 = aa * b3 + (1 - aa)
    assert out[3] == pytest.approx((1.0, v4 - threshold, i, b4, 1 + 2 * b4), abs=1e-12)
    assert abs((v4 - threshold) - (v4 - 1.0)) > 0.1   # b0 would be visibly different


def test_trajectory_synapse_reset_and_clip():
    am, aa, asyn = math.exp(-1 / 2), math.exp(-1 / 4), math.exp(-1 / 3)
    p = _params(tau_syn=3.0, reset=fns.MembraneReset(reset_value=0.0), min_v_mem=-0.1)
    out = _run(p, [6.0, -8.0])
    # step 1: i = asyn*(0 + 6), normalised and written back: i1 = (1-am)*asyn*6 = 1.6... >= 1: spike, v -> 0
    i1 = (1 - am) * asyn * 6
    assert i1 >= 1.0
    b1 = 1 - aa
    assert out[0] == pytest.approx((1.0, 0.0, i1, b1, 1 + 2 * b1), abs=1e-12)
    # step 2: the *normalised* i1 is what decays: i2 = (1-am)*asyn*(i1 - 8); v = am*0 + i2 < -0.1: clipped
    i2 = (1 - am) * asyn * (i1 - 8)
    assert i2 < -0.1
    assert out[1] == pytest.approx((0.0, -0.1, i2, aa * b1, 1 + 2 * aa * b1), abs=1e-12)


def test_multi_and_max_spike_count_thresholds():
    v = torch.tensor([-2.5, 0.0, 0.5, 1.0, 2.7, 4.2], dtype=torch.float64)
    surrogate = fns.SingleExponential()
    assert fns.MultiSpike.apply(v, torch.tensor(1.0), surrogate).tolist() == [0, 0, 0, 1, 2, 4]
    assert fns.MaxSpike(2).apply(v, torch.tensor(1.0), surrogate).tolist() == [0, 0, 0, 1, 2, 2]
    assert fns.SingleSpike.apply(v, torch.tensor(1.0), surrogate).tolist() == [0, 0, 0, 1, 1, 1]


def test_surrogate_gradient_by_hand():
    # one step, no synapse: d spike / d x = (1 - am) * k/(B w) * exp(-|v - B|/(B w)), nothing through B
    am = math.exp(-1 / 2)
    x = torch.tensor([[1.2]], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([[0.25]], dtype=torch.float64, requires_grad=True)
    state = ALIFState(torch.zeros(1, 1, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64), b, b)
    s, _ = alif_step(x, state, _params(reset=fns.MembraneSubtract(0.0)))
    s.sum().backward()
    v, threshold, width = (1 - am) * 1.2, 1 + 2 * 0.25, (1 + 2 * 0.25) * 0.5
    assert float(x.grad) == pytest.approx((1 - am) / width * math.exp(-abs(v - threshold) / width), rel=1e-12)
    assert b.grad is None or float(b.grad) == 0.0


def test_recurrent_term_enters_before_the_synapse_and_starts_at_zero():
    m = ALIFRecurrent(2.0, 4.0, LinearConnect(1, 1, bias=False), tau_syn=3.0, adapt_scale=0.0,
                      spike_threshold=0.5).double()
    with torch.no_grad():
        m.rec_weight.fill_(10.0)
    am, asyn = math.exp(-1 / 2), math.exp(-1 / 3)
    x = torch.tensor([[[2.0], [0.0]]], dtype=torch.float64)       # (B=1, T=2, C=1)
    spikes = m(x)
    i1 = (1 - am) * asyn * 2.0
    assert i1 >= 0.5 and spikes[0, 0, 0] == 1
    v1 = i1 - 0.5
    i2 = (1 - am) * asyn * (i1 + 0.0 + 10.0 * 1.0)              # the recurrent spike term joins the input
    assert float(m.v_mem.detach()[0, 0]) == pytest.approx(am * v1 + i2 - 0.5, abs=1e-12)
    # a second call starts the recurrent term (and i_syn) afresh: zero input gives no new current
    m.v_mem = torch.zeros_like(m.v_mem)
    m(torch.zeros_like(x[:, :1]))
    assert float(m.v_mem.detach()[0, 0]) == 0.0


# ---- ours rejects what the reference rejects -----------------------------------------------------


def test_our_module_rejects_what_the_reference_rejects():
    with pytest.raises(RuntimeError):
        ALIF(10, 20.0)
    with pytest.raises(RuntimeError):
        ALIF(10.0, 20.0, tau_syn=torch.tensor([1.0, 2.0]))


# ---- the fused sequence is the step loop ----------------------------------------------------------
CHUNKS = ("whole", "4MiB", "1MiB", "256KiB")


def shrink_chunks(monkeypatch, chunk: str, step_bytes: int = 3 * 6 * 8):
    """Pin the backward's chunking and shrink its sizes to 4, 3 and 1 steps of ``step_bytes``."""
    from snnbench.neurons.fused import alif as module
    monkeypatch.setenv("SNNBENCH_PATH_ALIF_BACKWARD_CHUNK", chunk)
    monkeypatch.setattr(module, "_CHUNK_BYTES", {"4MiB": 4 * step_bytes, "1MiB": 3 * step_bytes,
                                                  "256KiB": step_bytes})


def fused_and_loop(m, x, state0, upstream, with_i_syn: bool):
    """``(fields, gradients)`` of m's fused sequence, then of its step loop, from the same input,
    state and upstream gradients (into x, the state and every parameter; with ``with_i_syn`` also
    into i_syn, where a gradient may be absent: None on both paths)."""
    results = []
    for fast in (True, False):
        m.fast = fast
        xs = x.clone().requires_grad_(True)
        state = ALIFState(*(t.clone().requires_grad_(True) for t in state0))
        spikes, states = m.sequence(xs, state)
        fields = [spikes, *states]
        loss = sum((f * g).sum() for f, g in zip(fields, upstream))
        leaves = [xs, state.v_mem, *([state.i_syn] if with_i_syn else []), state.b, *m.parameters()]
        grads = torch.autograd.grad(loss, leaves, allow_unused=with_i_syn)
        results.append(([f.detach() for f in fields], grads))
    return results


@pytest.mark.parametrize("options", [
    dict(),
    dict(tau_syn=3.0, reset_fn=fns.MembraneReset(0.1), min_v_mem=-0.2, spike_fn=fns.MultiSpike),
    dict(tau_syn=3.0, reset_fn=fns.MembraneSubtract(0.5), spike_fn=fns.MaxSpike(2), norm_input=False,
         train_alphas=True, surrogate_grad_fn=fns.Gaussian()),
    dict(min_v_mem=-0.1, surrogate_grad_fn=fns.PeriodicExponential()),
])
@pytest.mark.parametrize("connect", [None, LinearConnect(6, 6, bias=True), LinearConnect(6, 6, bias=False), "conv"])
@pytest.mark.parametrize("chunk", CHUNKS)
def test_fused_sequence_equals_the_step_loop(monkeypatch, options, connect, chunk):
    """Every candidate of the backward's chunking (SNNBENCH_PATH_ALIF_BACKWARD_CHUNK, chunk sizes
    shrunk to 4, 3 and 1 steps of the 10, so chunks are uneven and single steps occur) gives the
    step loop's gradients; the forward is bitwise the step loop's."""
    shrink_chunks(monkeypatch, chunk)
    torch.manual_seed(0)
    shape = (2, 3, 3) if connect == "conv" else (6,)
    if connect == "conv":
        from snnbench.neurons.alif import Conv2dConnect
        connect = Conv2dConnect(2, 2, 3, padding=1, bias=True)
    kwargs = dict(adapt_scale=0.8, spike_threshold=0.3, **options)
    taus = (torch.rand(shape[-1]) * 8 + 2, 20.0)
    m = (ALIF(*taus, **kwargs) if connect is None else ALIFRecurrent(*taus, connect, **kwargs)).double()
    gen = torch.Generator().manual_seed(1)
    x = torch.rand((10, 3, *shape), generator=gen, dtype=torch.float64) * 2 - 0.3
    state0 = [torch.rand((3, *shape), generator=gen, dtype=torch.float64) * 0.5 for _ in range(4)]
    upstream = [torch.randn((10, 3, *shape), generator=gen, dtype=torch.float64) for _ in range(5)]
    (fused, fused_grads), (loop, loop_grads) = fused_and_loop(m, x, state0, upstream, with_i_syn=True)
    assert 0 < float((loop[0] != 0).double().mean()) < 1
    for a, b in zip(fused, loop):
        assert torch.equal(a, b)
    for a, b in zip(fused_grads, loop_grads):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("options", [dict(), dict(tau_syn=3.0, min_v_mem=-0.2, spike_fn=fns.MultiSpike,
                                                   reset_fn=fns.MembraneReset(0.1))])
def test_fused_sequence_equals_the_step_loop_in_float32(monkeypatch, chunk, options):
    """The same in float32, the dtype users run: gradients to float32 rounding for every chunking,
    with trainable per-neuron taus and the recurrent weights."""
    shrink_chunks(monkeypatch, chunk, step_bytes=3 * 6 * 4)
    torch.manual_seed(2)
    m = ALIFRecurrent(torch.rand(6) * 8 + 2, torch.rand(6) * 20 + 5, LinearConnect(6, 6, bias=False),
                      adapt_scale=0.8, spike_threshold=0.3, **options)
    gen = torch.Generator().manual_seed(3)
    x = torch.rand((10, 3, 6), generator=gen) * 2 - 0.3
    state0 = [torch.rand((3, 6), generator=gen) * 0.5 for _ in range(4)]
    upstream = [torch.randn((10, 3, 6), generator=gen) for _ in range(5)]
    (fused, fused_grads), (loop, loop_grads) = fused_and_loop(m, x, state0, upstream, with_i_syn=False)
    assert 0 < float((loop[0] != 0).float().mean()) < 1
    assert torch.equal(fused[0], loop[0])
    for a, b in zip(fused, loop):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    for a, b in zip(fused_grads, loop_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_the_backward_chunking_is_measured_once_per_shape_when_not_pinned(monkeypatch):
    from snnbench.neurons.fused import alif as module
    monkeypatch.delenv("SNNBENCH_PATH_ALIF_BACKWARD_CHUNK", raising=False)
    monkeypatch.setattr(module, "_CHUNK_BYTES", {"4MiB": 4 * 24, "1MiB": 2 * 24, "256KiB": 24})
    module.BACKWARD_CHUNK.clear()
    m = ALIFRecurrent(10.0, 20.0, LinearConnect(6, 6, bias=False))
    for _ in range(2):
        x = torch.rand(8, 1, 6, requires_grad=True)
        spikes, states = m.sequence(x, ALIFState(*(torch.zeros(1, 6) for _ in range(4))))
        (spikes.sum() + states.v_mem.sum()).backward()
    assert len(module.BACKWARD_CHUNK.winners) == 1
    assert set(next(iter(module.BACKWARD_CHUNK.timings.values()))) == set(CHUNKS)


def test_resets_by_hand():
    s = torch.tensor([1.0, 0.0])
    v = torch.tensor([2.0, 0.3])
    threshold = torch.tensor([1.5, 1.5])
    assert fns.MembraneSubtract()(s, v, threshold).tolist() == pytest.approx([0.5, 0.3])
    assert fns.MembraneSubtract(0.5)(s, v, threshold).tolist() == pytest.approx([1.5, 0.3])
    # sinabs adds reset_value to every membrane, not only to those that spiked
    assert fns.MembraneReset(0.1)(s, v, threshold).tolist() == pytest.approx([0.1, 0.4])

