"""Our SLSTM and ATan against values derived by hand (no reference library involved)."""

import math

import pytest
import torch

from snnbench.neurons import surrogates
from snnbench.neurons.fused import slstm as fused_slstm
from snnbench.neurons.slstm import SLSTM


def sig(v):
    return 1 / (1 + math.exp(-v))


def one_unit(reset_mechanism="none", threshold=0.1, **kw):
    """A 1 -> 1 SLSTM with hand-set weights: gate pre-activations i=0.5x, f=1.0x, g=2.0x, o=-0.5x
    from the input, recurrent weights 0.3, 0.2, 0.1, 0.4 and biases (b_ih + b_hh) 0.1, 0, -0.1, 0.2."""
    m = SLSTM(1, 1, threshold=threshold, reset_mechanism=reset_mechanism, **kw).double()
    with torch.no_grad():
        m.weight_ih.copy_(torch.tensor([[0.5], [1.0], [2.0], [-0.5]], dtype=torch.float64))
        m.weight_hh.copy_(torch.tensor([[0.3], [0.2], [0.1], [0.4]], dtype=torch.float64))
        m.bias_ih.copy_(torch.tensor([0.05, 0.0, -0.05, 0.1], dtype=torch.float64))
        m.bias_hh.copy_(torch.tensor([0.05, 0.0, -0.05, 0.1], dtype=torch.float64))
    return m


def hand_step(x, c, h):
    i = sig(0.5 * x + 0.3 * h + 0.1)
    f = sig(1.0 * x + 0.2 * h + 0.0)
    g = math.tanh(2.0 * x + 0.1 * h - 0.1)
    o = sig(-0.5 * x + 0.4 * h + 0.2)
    c = f * c + i * g
    return c, o * math.tanh(c)


def test_one_step_matches_hand_derivation():
    m = one_unit()
    spk, syn, mem = m(torch.tensor([[0.7]], dtype=torch.float64),
                      torch.tensor([[0.2]], dtype=torch.float64), torch.tensor([[-0.3]], dtype=torch.float64))
    c, h = hand_step(0.7, 0.2, -0.3)
    assert syn.item() == pytest.approx(c, abs=1e-12)
    assert mem.item() == pytest.approx(h, abs=1e-12)
    assert spk.item() == (1.0 if h > 0.1 else 0.0)


@pytest.mark.parametrize("reset", ["none", "subtract", "zero"])
def test_three_steps_with_each_reset(reset):
    """Equal sizes, so the state carries; reset from the previous mem, syn never reset.
    (0.125 is exact in float32, the dtype the threshold is stored in, as snntorch stores it.)"""
    threshold = 0.125
    m = one_unit(reset, threshold)
    xs = [0.9, 0.8, -0.4]
    c, h = 0.3, 0.25  # h starts above threshold: the first step is reset
    syn, mem = torch.tensor([[c]], dtype=torch.float64), torch.tensor([[h]], dtype=torch.float64)
    for x in xs:
        reset_now = 1.0 if h > threshold else 0.0
        c, h_new = hand_step(x, c, h)
        if reset == "subtract":
            h_new -= reset_now * threshold
        elif reset == "zero":
            h_new *= 1 - reset_now
        h = h_new
        spk, syn, mem = m(torch.tensor([[x]], dtype=torch.float64), syn, mem)
        assert syn.item() == pytest.approx(c, abs=1e-12)
        assert mem.item() == pytest.approx(h, abs=1e-12)
        assert spk.item() == (1.0 if h > threshold else 0.0)


def test_unequal_sizes_zero_the_state_every_step():
    """input_size != hidden_size: the reference's shape check discards the state each call."""
    torch.manual_seed(0)
    m = SLSTM(3, 2, threshold=0.05).double()
    x = torch.rand(4, 3, dtype=torch.float64)
    fresh = SLSTM(3, 2, threshold=0.05).double()
    fresh.load_state_dict(m.state_dict())
    m(x)  # leaves a stored state behind
    spk, syn, mem = m(x, torch.ones(4, 2, dtype=torch.float64), torch.ones(4, 2, dtype=torch.float64))
    spk0, syn0, mem0 = fresh(x)
    assert torch.equal(syn, syn0) and torch.equal(mem, mem0)


def test_sequence_equals_step_by_step_calls():
    torch.manual_seed(1)
    m = SLSTM(5, 5, threshold=0.05, reset_mechanism="subtract").double()
    x = torch.randn(7, 3, 5, dtype=torch.float64)
    syn0, mem0 = torch.rand(3, 5, dtype=torch.float64), torch.rand(3, 5, dtype=torch.float64)
    spk_seq, syn_seq, mem_seq = m.sequence(x, syn0, mem0)
    syn, mem = syn0, mem0
    for t in range(7):
        spk, syn, mem = m(x[t], syn, mem)
        torch.testing.assert_close(spk, spk_seq[t], rtol=0, atol=0)
        torch.testing.assert_close(mem, mem_seq[t], rtol=1e-12, atol=1e-12)
    assert spk_seq.sum() > 0


@pytest.mark.parametrize("via_sigmoid", [True, False], ids=["tanh-from-sigmoid", "torch-tanh"])
def test_sequence_fast_path_values_and_gradients_equal_the_step_loop(monkeypatch, via_sigmoid):
    """Both forms of the fast loop's tanh (sigmoid-based on CPU, torch.tanh elsewhere), forced
    here on CPU, against step-by-step calls (plain autograd through torch.tanh)."""
    monkeypatch.setattr(fused_slstm, "tanh_via_sigmoid", lambda device: via_sigmoid)
    torch.manual_seed(2)
    m = SLSTM(6, 6, threshold=0.05, reset_mechanism="subtract").double()
    x = torch.randn(5, 3, 6, dtype=torch.float64, requires_grad=True)
    syn0, mem0 = torch.rand(3, 6, dtype=torch.float64), torch.rand(3, 6, dtype=torch.float64)
    upstream = torch.randn(3, 5, 3, 6, dtype=torch.float64)

    def grads(outputs):
        loss = sum((out * u).sum() for out, u in zip(outputs, upstream))
        return torch.autograd.grad(loss, [x, *m.parameters()])

    fast = m.sequence(x, syn0, mem0)
    fast_grads = grads(fast)
    steps, syn, mem = [], syn0, mem0
    for t in range(5):
        spk, syn, mem = m(x[t], syn, mem)
        steps.append((spk, syn, mem))
    loop = [torch.stack(field) for field in zip(*steps)]
    for got, want in zip(fast, loop):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    for got, want in zip(fast_grads, grads(loop)):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    assert loop[0].sum() > 0


def test_init_hidden_returns_spikes_only_and_keeps_state():
    m = one_unit(init_hidden=True)
    out = m(torch.tensor([[0.7]], dtype=torch.float64))
    assert isinstance(out, torch.Tensor)
    with pytest.raises(TypeError):
        m(torch.tensor([[0.7]], dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))
    m.output = True
    spk, syn, mem = m(torch.tensor([[0.7]], dtype=torch.float64))
    assert syn is m.syn and mem is m.mem


def test_atan_forward_is_strict_and_backward_matches_its_formula():
    alpha = 3.0
    u = torch.tensor([-0.5, 0.0, 0.2], dtype=torch.float64, requires_grad=True)
    s = surrogates.ATan.apply(u, alpha)
    assert s.tolist() == [0.0, 0.0, 1.0]
    s.backward(torch.tensor([1.0, 2.0, -1.0], dtype=torch.float64))
    expected = [alpha / 2 / (1 + (math.pi / 2 * alpha * v) ** 2) * g for v, g in [(-0.5, 1.0), (0.0, 2.0), (0.2, -1.0)]]
    assert u.grad.tolist() == pytest.approx(expected, rel=1e-14)
    assert u.grad[1].item() == pytest.approx(alpha)  # alpha / 2 * 2 at u = 0


def test_atan_gradient_is_derivative_of_its_smooth_spike():
    """The code's backward is the exact derivative of (1/pi) atan(pi alpha u / 2)."""
    alpha = 2.0
    u = torch.linspace(-1, 1, 11, dtype=torch.float64, requires_grad=True)
    surrogates.ATan.apply(u, alpha).sum().backward()
    v = u.detach().clone().requires_grad_(True)
    (torch.atan(math.pi * alpha * v / 2) / math.pi).sum().backward()
    torch.testing.assert_close(u.grad, v.grad, rtol=1e-13, atol=0)


def test_straight_through_passes_gradient_unchanged():
    u = torch.tensor([-1.0, 1.0], requires_grad=True)
    surrogates.StraightThrough.apply(u).backward(torch.tensor([3.0, -2.0]))
    assert u.grad.tolist() == [3.0, -2.0]


def test_surrogate_disable_gives_no_gradient_through_spikes():
    m = one_unit(surrogate_disable=True)
    spk, _, _ = m(torch.tensor([[0.7]], dtype=torch.float64))
    assert spk.grad_fn is None
