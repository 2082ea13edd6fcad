"""Our SConv2dLSTM, its maths: steps by hand, the fused sequence and its hand-written backward (every
candidate of the measured choices) against the step loop, the forward-only pooling and spikes.
(Against snntorch: tests/equivalence/test_sconv2dlstm_reference.py; bad case files: tests/cli.)"""

import math

import pytest
import torch

from snnbench.neurons.sconv2dlstm import SConv2dLSTM

# ---- the step maths, by hand ---------------------------------------------------------------------
# A 1 -> 1 channel cell on a 1x3 image with a (1, 3) kernel (padding (0, 1)). Each gate's kernel is
# (input taps, recurrent taps) over the columns (left, centre, right); gates in the order i, f, o, g.
X_TAPS = {"i": (0.1, 0.5, -0.2), "f": (0.0, 1.0, 0.3), "o": (-0.4, -0.5, 0.2), "g": (0.2, 2.0, 0.1)}
H_TAPS = {"i": (0.05, 0.3, 0.0), "f": (0.1, 0.2, -0.1), "o": (0.0, 0.4, 0.3), "g": (-0.2, 0.1, 0.0)}
BIAS = {"i": 0.1, "f": 0.0, "o": 0.2, "g": -0.1}
GATES = ("i", "f", "o", "g")


def sig(v):
    return 1 / (1 + math.exp(-v))


def hand_module(threshold, **kw):
    m = SConv2dLSTM(1, 1, (1, 3), threshold=threshold, **kw).double()
    with torch.no_grad():
        for row, gate in enumerate(GATES):
            m.conv_weight[row, 0, 0] = torch.tensor(X_TAPS[gate], dtype=torch.float64)
            m.conv_weight[row, 1, 0] = torch.tensor(H_TAPS[gate], dtype=torch.float64)
            m.conv_bias[row] = BIAS[gate]
    return m


def correlate(taps, row, w):
    """Cross-correlation of a 3-tap kernel with a row at column w, zero padding 1."""
    padded = [0.0, *row, 0.0]
    return sum(taps[k] * padded[w + k] for k in range(3))


def hand_step(x, c, h):
    """x, c, h: rows of 3 floats. Returns the new c and the un-reset h."""
    new_c, new_h = [], []
    for w in range(3):
        pre = {g: correlate(X_TAPS[g], x, w) + correlate(H_TAPS[g], h, w) + BIAS[g] for g in GATES}
        cw = sig(pre["f"]) * c[w] + sig(pre["i"]) * math.tanh(pre["g"])
        new_c.append(cw)
        new_h.append(sig(pre["o"]) * math.tanh(cw))
    return new_c, new_h


def as_tensor(row):
    return torch.tensor(row, dtype=torch.float64).reshape(1, 1, 1, 3)


@pytest.mark.parametrize("reset", ["none", "subtract", "zero"])
def test_three_steps_match_hand_derivation(reset):
    """Reset from the previous mem, syn never reset. 0.125 is exact in float32 (the reference's
    threshold dtype), so the hand value and the module's agree exactly."""
    threshold = 0.125
    m = hand_module(threshold, reset_mechanism=reset)
    xs = [[0.9, -0.3, 0.5], [0.8, 0.1, -0.6], [-0.4, 0.7, 0.2]]
    c, h = [0.3, -0.2, 0.1], [0.25, 0.05, -0.3]  # column 0 starts above threshold: it is reset first
    syn, mem = as_tensor(c), as_tensor(h)
    resets_seen, spikes_seen = 0, []
    for x in xs:
        r = [1.0 if v > threshold else 0.0 for v in h]
        resets_seen += sum(r)
        c, h_new = hand_step(x, c, h)
        if reset == "subtract":
            h_new = [v - rv * threshold for v, rv in zip(h_new, r)]
        elif reset == "zero":
            h_new = [v * (1 - rv) for v, rv in zip(h_new, r)]
        h = h_new
        spk, syn, mem = m(as_tensor(x), syn, mem)
        assert syn.flatten().tolist() == pytest.approx(c, abs=1e-12)
        assert mem.flatten().tolist() == pytest.approx(h, abs=1e-12)
        assert spk.flatten().tolist() == [1.0 if v > threshold else 0.0 for v in h]
        spikes_seen.extend(spk.flatten().tolist())
    assert resets_seen > 0 and 0.0 in spikes_seen and 1.0 in spikes_seen


def test_max_pool_fires_on_pooled_mem_and_resets_from_unpooled():
    """max_pool (1, 3): one spike per image from max(mem); each column is reset from its own mem."""
    threshold = 0.125
    m = hand_module(threshold, reset_mechanism="subtract", max_pool=(1, 3))
    x, c, h = [0.9, -0.3, 0.5], [0.3, -0.2, 0.1], [0.25, 0.05, -0.3]
    spk, syn, mem = m(as_tensor(x), as_tensor(c), as_tensor(h))
    c_new, h_new = hand_step(x, c, h)
    h_new = [v - (threshold if old > threshold else 0.0) for v, old in zip(h_new, h)]
    assert spk.shape == (1, 1, 1, 1)
    assert spk.item() == (1.0 if max(h_new) > threshold else 0.0)
    assert mem.flatten().tolist() == pytest.approx(h_new, abs=1e-12)
    assert syn.flatten().tolist() == pytest.approx(c_new, abs=1e-12)


def test_sequence_fast_path_equals_step_by_step():
    torch.manual_seed(0)
    m = SConv2dLSTM(2, 3, (3, 5), threshold=0.05, reset_mechanism="subtract", avg_pool=2).double()
    x = torch.randn(5, 2, 2, 6, 4, dtype=torch.float64)
    syn0 = torch.rand(2, 3, 6, 4, dtype=torch.float64) - 0.5
    mem0 = torch.rand(2, 3, 6, 4, dtype=torch.float64) - 0.5
    spk_seq, syn_seq, mem_seq = m.sequence(x, syn0, mem0)
    syn, mem = syn0, mem0
    for t in range(x.shape[0]):
        spk, syn, mem = m(x[t], syn, mem)
        torch.testing.assert_close(syn_seq[t], syn, atol=1e-13, rtol=0)
        torch.testing.assert_close(mem_seq[t], mem, atol=1e-13, rtol=0)
        assert torch.equal(spk_seq[t], spk)
    assert spk_seq.shape == (5, 2, 3, 3, 2)


@pytest.mark.parametrize("layout", ["channels_last", "contiguous_format"])
@pytest.mark.parametrize("reset", ["none", "subtract", "zero"])
def test_recurrence_gradients_equal_autograd_of_the_steps(monkeypatch, layout, reset):
    """The hand-written backward through time (both gate layouts: channels-last is the CPU's, NCHW
    the other devices') gives autograd's gradients of the step-by-step maths, to float64 rounding."""
    from snnbench.neurons import sconv2dlstm as module
    from snnbench.neurons.fused import sconv2dlstm as fused
    monkeypatch.setattr(fused, "_layout", lambda device: getattr(torch, layout))
    torch.manual_seed(1)
    m = SConv2dLSTM(2, 3, (3, 5), threshold=0.05, reset_mechanism=reset, learn_threshold=True,
                    max_pool=2).double()
    x = torch.randn(4, 2, 2, 6, 4, dtype=torch.float64, requires_grad=True)
    syn0 = (torch.rand(2, 3, 6, 4, dtype=torch.float64) - 0.5).requires_grad_()
    mem0 = (torch.rand(2, 3, 6, 4, dtype=torch.float64) - 0.5).requires_grad_()
    ups = [torch.randn(4, 2, 3, 3, 2, dtype=torch.float64), torch.randn(4, 2, 3, 6, 4, dtype=torch.float64),
           torch.randn(4, 2, 3, 6, 4, dtype=torch.float64)]
    leaves = [x, syn0, mem0, m.conv_weight, m.conv_bias, m.threshold]

    def grads(outputs):
        loss = sum((out * up).sum() for out, up in zip(outputs, ups))
        return torch.autograd.grad(loss, leaves)

    fast = m.sequence(x, syn0, mem0)
    assert fast[2].grad_fn is not None and "Recurrence" in type(fast[1].grad_fn).__name__
    by_step = module.sconv2dlstm_sequence_by_steps(x, module.SConv2dLSTMState(syn0, mem0), m.params())
    for ours, theirs in zip(fast, by_step):
        torch.testing.assert_close(ours, theirs, atol=1e-13, rtol=0)
    for name, ours, theirs in zip(["x", "syn0", "mem0", "weight", "bias", "threshold"],
                                  grads(fast), grads(by_step)):
        torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=1e-12, msg=name)


@pytest.mark.parametrize("upstream", ["channels-last", "spikes-only"])
def test_recurrence_gradients_for_other_upstream_layouts(upstream):
    """The backward copies each step's upstream gradients into its own channels-last buffers:
    from channels-last gradients (a plain copy, not the NCHW transpose) and from the zeros that
    autograd fills in for unused syn and mem, the same gradients as autograd of the steps."""
    from snnbench.neurons import sconv2dlstm as module
    torch.manual_seed(3)
    m = SConv2dLSTM(2, 3, 3, threshold=0.05, reset_mechanism="subtract", max_pool=2).double()
    x = torch.randn(4, 2, 2, 6, 4, dtype=torch.float64, requires_grad=True)
    state = module.SConv2dLSTMState(torch.rand(2, 3, 6, 4, dtype=torch.float64) - 0.5,
                                    torch.rand(2, 3, 6, 4, dtype=torch.float64) - 0.5)
    ups = [torch.randn(4, 2, 3, 3, 2, dtype=torch.float64)]
    if upstream == "channels-last":
        ups += [torch.randn(8, 3, 6, 4, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
                .view(4, 2, 3, 6, 4) for _ in range(2)]
        assert not ups[1].is_contiguous()
    leaves = [x, m.conv_weight, m.conv_bias]

    def grads(outputs):
        return torch.autograd.grad(sum((out * up).sum() for out, up in zip(outputs, ups)), leaves)

    fast = module.sconv2dlstm_sequence(x, state, m.params())
    by_step = module.sconv2dlstm_sequence_by_steps(x, state, m.params())
    for name, ours, theirs in zip(["x", "weight", "bias"], grads(fast), grads(by_step)):
        torch.testing.assert_close(ours, theirs, atol=1e-12, rtol=1e-12, msg=name)


GATE_ORDERS = ("gate_major", "conv_order", "conv_halves")
INPUT_GRADS = ("joint", "padded", "split")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("input_grad", INPUT_GRADS)
@pytest.mark.parametrize("order", GATE_ORDERS)
@pytest.mark.parametrize("reset, need_x", [("subtract", True), ("zero", True), ("none", False)])
def test_every_fast_path_candidate_equals_the_step_loop(monkeypatch, order, input_grad, dtype, reset, need_x):
    """Each candidate of the measured choices (pinned through its environment variable) gives the
    step-by-step loop's outputs and gradients, to rounding: the gate activations' layout
    (SNNBENCH_PATH_SCONV2DLSTM_GATES) and the shape of the input-grad convolution
    (SNNBENCH_PATH_SCONV2DLSTM_INPUT_GRAD), with and without d x. One step per block of saved
    activations, so the split's blockwise d x runs more than once."""
    from snnbench.neurons import sconv2dlstm as module
    from snnbench.neurons.fused import sconv2dlstm as fused
    monkeypatch.setenv("SNNBENCH_PATH_SCONV2DLSTM_GATES", order)
    monkeypatch.setenv("SNNBENCH_PATH_SCONV2DLSTM_INPUT_GRAD", input_grad)
    monkeypatch.setattr(fused, "BLOCK_BYTES", 1)
    torch.manual_seed(5)
    m = SConv2dLSTM(2, 3, 3, threshold=0.05, reset_mechanism=reset, learn_threshold=True, max_pool=2).to(dtype)
    x = torch.randn(4, 2, 2, 6, 4, dtype=dtype, requires_grad=need_x)
    state = module.SConv2dLSTMState((torch.rand(2, 3, 6, 4, dtype=dtype) - 0.5).requires_grad_(),
                                    (torch.rand(2, 3, 6, 4, dtype=dtype) - 0.5).requires_grad_())
    ups = [torch.randn(4, 2, 3, 3, 2, dtype=dtype), torch.randn(4, 2, 3, 6, 4, dtype=dtype),
           torch.randn(4, 2, 3, 6, 4, dtype=dtype)]
    leaves = [state.syn, state.mem, m.conv_weight, m.conv_bias, m.threshold] + ([x] if need_x else [])

    def grads(outputs):
        return torch.autograd.grad(sum((out * up).sum() for out, up in zip(outputs, ups)), leaves)

    tol = dict(atol=1e-12, rtol=1e-12) if dtype == torch.float64 else dict(atol=2e-5, rtol=2e-5)
    by_step = module.sconv2dlstm_sequence_by_steps(x, state, m.params())
    with torch.no_grad():                                   # the forward-only path
        fast = module.sconv2dlstm_sequence(x, state, m.params())
    for ours, theirs in zip(fast, by_step):
        torch.testing.assert_close(ours, theirs.detach(), **tol)
    fast = module.sconv2dlstm_sequence(x, state, m.params())
    assert "Recurrence" in type(fast[1].grad_fn).__name__
    for ours, theirs in zip(fast, by_step):
        torch.testing.assert_close(ours, theirs, **tol)
    names = ["syn0", "mem0", "weight", "bias", "threshold", "x"]
    for name, ours, theirs in zip(names, grads(fast), grads(by_step)):
        torch.testing.assert_close(ours, theirs, **tol, msg=name)


def test_the_choices_are_measured_once_per_shape_when_not_pinned(monkeypatch):
    from snnbench.neurons.fused import sconv2dlstm as fused
    for name in ("GATES", "INPUT_GRAD"):
        monkeypatch.delenv(f"SNNBENCH_PATH_SCONV2DLSTM_{name}", raising=False)
    fused.GATE_ORDER.clear()
    fused.INPUT_GRAD.clear()
    m = SConv2dLSTM(2, 3, 3, threshold=0.05, reset_mechanism="subtract")
    x = torch.randn(3, 2, 2, 5, 5, requires_grad=True)
    spk, syn, mem = m.sequence(x)
    (spk.sum() + syn.sum() + mem.sum()).backward()
    with torch.no_grad():
        m.sequence(x)
    assert len(fused.GATE_ORDER.winners) == 2              # one key with saved activations, one without
    assert set(fused.GATE_ORDER.winners.values()) <= set(GATE_ORDERS)
    assert len(fused.INPUT_GRAD.winners) == 1
    timings = next(iter(fused.INPUT_GRAD.timings.values()))
    assert set(timings) == {"joint", "padded", "split"}     # 2 + 3 = 5 channels: padding to 8 differs


@pytest.mark.parametrize("size", [2, 3])
def test_max_pool_without_autograd_is_max_pool2d(size):
    """The indices-free max pool of the forward-only path: the same values as F.max_pool2d (NaN
    included; rows and columns that do not fill a window dropped), and max_pool2d itself where a
    gradient is wanted."""
    import torch.nn.functional as F
    from snnbench.neurons.fused.sconv2dlstm import MaxPool
    x = torch.randn(4, 3, 7, 8, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    x[1, 2, 0, 0] = float("nan")
    with torch.no_grad():
        ours, theirs = MaxPool(size)(x), F.max_pool2d(x, size)
    assert ours.shape == theirs.shape
    assert torch.equal(ours.isnan(), theirs.isnan()) and torch.equal(ours.nan_to_num(), theirs.nan_to_num())
    x.requires_grad_()
    assert "MaxPool2DWithIndices" in type(MaxPool(size)(x).grad_fn).__name__


def test_spikes_without_autograd_are_the_spike_functions():
    """Without autograd our Heaviside surrogates' spikes are formed as mem > threshold (the same
    values); a spike function of the user's own is still called."""
    from snnbench.neurons import surrogates
    torch.manual_seed(7)
    x = torch.randn(3, 2, 2, 6, 4, dtype=torch.float64)
    for spike_grad, expect_own in [(None, False), (surrogates.fast_sigmoid(), False),
                                   (lambda u: (u > 0.05).to(u.dtype) * 3, True)]:
        m = SConv2dLSTM(2, 3, 3, threshold=0.05, reset_mechanism="subtract", spike_grad=spike_grad).double()
        with torch.no_grad():
            spk, _, mem = m.sequence(x)
        expected = (mem - m.threshold > 0.05).double() * 3 if expect_own else (mem - m.threshold > 0).double()
        assert torch.equal(spk, expected)
        assert 0 < float(expected.mean()) < 3
