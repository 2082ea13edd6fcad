"""LeakyParallel, our maths: hand-derived trajectories, the step and dense paths against the fast one,
the hand-written (fused) backward against gradcheck and plain autograd, what it saves.
(Against snntorch: tests/equivalence/test_leaky_parallel_reference.py; bad case files: tests/cli.)"""

from __future__ import annotations

import pytest
import torch

from snnbench.neurons import surrogates
from snnbench.neurons.fused import leaky_parallel as fused_leaky_parallel
from snnbench.neurons.fused.leaky_parallel import DiagonalLeakyParallel
from snnbench.neurons.leaky_parallel import LeakyParallel

X = torch.tensor([1.0, 0.0, -2.0, 1.0]).reshape(4, 1, 1)     # (T, B, H_in)


def two_neurons(**kwargs) -> LeakyParallel:
    """H_in = 1 -> H = 2 with input weights +1 and -1, so neuron 1 sees -x."""
    m = LeakyParallel(1, 2, beta=0.5, threshold=0.75, graded_spikes_factor=2.0, **kwargs)
    with torch.no_grad():
        m.weight_ih.copy_(torch.tensor([[1.0], [-1.0]]))
        if m.bias_ih is not None:
            m.bias_ih.fill_(0.25)
            m.bias_hh.fill_(0.25)
    return m


def test_hand_derived_trajectory_diagonal():
    # mem_t = relu(w x_t + 0.5 mem_{t-1}); x = 1, 0, -2, 1
    # neuron 0 (w=+1): relu(1) = 1; relu(0 + .5) = .5; relu(-2 + .25) = 0; relu(1 + 0) = 1
    # neuron 1 (w=-1): relu(-1) = 0; relu(0 + 0) = 0; relu(2 + 0) = 2; relu(-1 + 1) = 0
    spk, mem = two_neurons(bias=False).sequence(X)
    expected_mem = torch.tensor([[1.0, 0.0], [0.5, 0.0], [0.0, 2.0], [1.0, 0.0]])
    assert torch.equal(mem[:, 0], expected_mem)
    # spikes where mem > 0.75, scaled by the graded factor 2
    assert torch.equal(spk[:, 0], 2.0 * torch.tensor([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [1.0, 0.0]]))


def test_hand_derived_trajectory_with_biases():
    # b_ih + b_hh = 0.5 added every step (also at t = 0, where W_hh @ 0 + b_hh = b_hh)
    # neuron 0: 1 + .5 = 1.5; 0 + .5 + .75 = 1.25; -2 + .5 + .625 < 0 -> 0; 1 + .5 + 0 = 1.5
    # neuron 1: -1 + .5 < 0 -> 0; 0 + .5 + 0 = .5; 2 + .5 + .25 = 2.75; -1 + .5 + 1.375 = .875
    _, mem = two_neurons().sequence(X)
    assert torch.equal(mem[:, 0], torch.tensor([[1.5, 0.0], [1.25, 0.5], [0.0, 2.75], [1.5, 0.875]]))


def test_hand_derived_trajectory_dense():
    # weight_hh_enable=True with beta 0.5: every entry of W_hh is 0.5, so each mem_t adds
    # 0.5 * (sum of the previous mems) to both neurons:
    # t0: [1, 0]; t1: [0, 0] + .5 * 1 = [.5, .5]; t2: [-2, 2] + .5 = [0, 2.5]; t3: [1, -1] + 1.25 = [2.25, .25]
    m = two_neurons(bias=False, weight_hh_enable=True)
    assert torch.equal(m.weight_hh, torch.full((2, 2), 0.5))
    _, mem = m.sequence(X)
    assert torch.equal(mem[:, 0], torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 2.5], [2.25, 0.25]]))


def test_step_and_dense_paths_agree_with_fast_path():
    torch.manual_seed(0)
    fast = LeakyParallel(5, 7, beta=0.8, threshold=0.3)
    dense = LeakyParallel(5, 7, beta=0.8, threshold=0.3, weight_hh_enable=True)
    dense.load_state_dict(fast.state_dict())          # the diagonal matrix, run as a dense one
    x = torch.randn(12, 3, 5, dtype=torch.float32)
    spk, mem = fast.sequence(x)
    spk_d, mem_d = dense.sequence(x)
    torch.testing.assert_close(mem, mem_d, rtol=1e-6, atol=1e-7)
    previous = None
    for t in range(12):
        spk_t, previous = fast.step(x[t], previous)
        torch.testing.assert_close(previous, mem[t], rtol=1e-6, atol=1e-7)
    assert 0 < spk.mean() < 1


def _fused(a, decay, threshold, graded, spike_fn):
    """The fused function on a copy of ``a`` (it overwrites its input with mem), in (T, B, H)."""
    spk, mem = DiagonalLeakyParallel.apply(a.reshape(-1, a.shape[-1]).clone(), a.shape, decay, threshold, graded,
                                           spike_fn)
    return spk.view(a.shape), mem.view(a.shape)


@pytest.mark.parametrize("chunk_bytes", [8 * 2 * 4 * 2, 1 << 20])      # chunks of 2 steps, one chunk
def test_fused_backward_gradcheck(monkeypatch, chunk_bytes):
    # A smooth spike function (sigmoid), so finite differences see the spike path too; per-neuron
    # threshold and a graded factor, both differentiated; decays of both signs.
    monkeypatch.setattr(fused_leaky_parallel, "CHUNK_BYTES", chunk_bytes)
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(7, 2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    decay = torch.rand(4, generator=gen, dtype=torch.float64).mul(1.6).sub(0.3).requires_grad_(True)
    threshold = torch.rand(4, generator=gen, dtype=torch.float64).requires_grad_(True)
    graded = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    _, mem = _fused(a, decay, threshold, graded, torch.sigmoid)
    assert 0 < (mem > 0).double().mean() < 1            # the relu mask matters in this check
    assert torch.autograd.gradcheck(lambda *args: _fused(*args, torch.sigmoid),
                                    (a, decay, threshold, graded), eps=1e-6, atol=1e-7)


def _unfused(a, decay, threshold, graded, spike_fn):
    """The same maths step by step with plain autograd."""
    mems, previous = [], None
    for t in range(a.shape[0]):
        previous = torch.relu(a[t] if previous is None else torch.addcmul(a[t], decay, previous))
        mems.append(previous)
    mem = torch.stack(mems)
    return spike_fn(mem - threshold) * graded, mem


@pytest.mark.parametrize("chunk_bytes", [5 * 3 * 4, 3 * 5 * 3 * 4, 1 << 20])   # 1 step, 3 steps, all
def test_fused_path_matches_plain_autograd_with_atan(monkeypatch, chunk_bytes):
    monkeypatch.setattr(fused_leaky_parallel, "CHUNK_BYTES", chunk_bytes)
    gen = torch.Generator().manual_seed(4)
    leaves = (torch.randn(10, 3, 5, generator=gen, requires_grad=True),
              torch.rand(5, generator=gen).requires_grad_(True),
              torch.tensor(0.3, requires_grad=True), torch.tensor(1.5, requires_grad=True))
    up_spk, up_mem = torch.randn(10, 3, 5, generator=gen), torch.randn(10, 3, 5, generator=gen)
    results = []
    for run in (_fused, _unfused):
        spk, mem = run(*leaves, surrogates.atan(2.0))
        grads = torch.autograd.grad((spk * up_spk).sum() + (mem * up_mem).sum(), leaves)
        results.append((spk, mem, grads))
    (spk, mem, grads), (spk_u, mem_u, grads_u) = results
    assert 0 < spk.mean() < 1.5
    assert torch.equal(spk, spk_u) and torch.equal(mem, mem_u)
    for got, expected in zip(grads, grads_u):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_fused_function_saves_only_mem_decay_and_scalars():
    a = torch.randn(9 * 3, 5, requires_grad=True).clone()
    decay = torch.rand(5, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(tuple(t.shape)) or t, lambda t: t):
        DiagonalLeakyParallel.apply(a, (9, 3, 5), decay, torch.tensor(0.5), torch.tensor(1.0), surrogates.atan())
    assert sorted(saved) == [(), (), (5,), (27, 5)]         # threshold, factor, decays, mem


def test_no_surrogate_leaves_a_learned_threshold_without_gradient_but_trains_the_graded_factor():
    torch.manual_seed(2)
    m = LeakyParallel(4, 6, beta=0.5, threshold=0.1, surrogate_disable=True, learn_threshold=True,
                      learn_graded_spikes_factor=True)
    x = torch.randn(5, 3, 4, requires_grad=True)
    spk, mem = m.sequence(x)
    assert 0 < spk.mean() < 1
    (spk.sum() + mem.sum()).backward()
    assert m.threshold.grad is None
    assert float(m.graded_spikes_factor.grad) == float((spk > 0).sum())    # d(sum g S)/dg = sum S
    assert x.grad is not None and x.grad.abs().sum() > 0
