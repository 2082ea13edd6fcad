"""Checks of the Triton kernels in Triton's interpreter, on CPU tensors.

Not collected by itself: test_triton_scan.py runs this file in a fresh interpreter with
TRITON_INTERPRET=1, which Triton reads when it is first imported.
"""

import os

import pytest
import torch

pytest.importorskip("triton")

from snnbench.neurons import leaky_parallel  # noqa: E402
from snnbench.neurons.fused import triton_scan  # noqa: E402


@pytest.fixture
def interpreted():
    assert os.environ.get("TRITON_INTERPRET") == "1" and triton_scan.INTERPRET


def loop_forward(a, decay, prev=None):
    m, out = prev, a.clone()
    for t in range(a.shape[0]):
        out[t] = (out[t] if m is None else torch.addcmul(out[t], decay, m)).clamp_min(0)
        m = out[t]
    return out


def loop_backward(g, mem, decay, delta_next=None):
    delta, out = delta_next, torch.empty_like(g)
    for t in reversed(range(g.shape[0])):
        carried = g[t] if delta is None else g[t] + decay * delta
        delta = torch.where(mem[t] > 0, carried, torch.zeros_like(carried))
        out[t] = delta
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("with_carry", [False, True])
def test_kernels_equal_the_torch_loop(interpreted, dtype, with_carry):
    torch.manual_seed(0)
    T, B, H = 9, 3, 200                              # more columns than one block, a partial last block
    a = torch.randn(T, B, H, dtype=dtype)
    decay = torch.rand(H, dtype=dtype) * 1.5 - 0.25  # negative and > 1 decays too
    prev = torch.randn(B, H, dtype=dtype).clamp_min(0) if with_carry else None
    mem = triton_scan.relu_decay_forward_(a.clone(), decay, prev)
    # default float tolerances: the multiply-add may be fused on one side, a rounding difference only
    torch.testing.assert_close(mem, loop_forward(a, decay, prev))
    assert (mem == 0).any() and (mem > 0).any()

    g = torch.randn(T, B, H, dtype=dtype)
    nxt = torch.randn(B, H, dtype=dtype) if with_carry else None
    delta = triton_scan.relu_decay_backward_(g.clone(), mem, decay, nxt)
    torch.testing.assert_close(delta, loop_backward(g, mem, decay, nxt))


def test_forward_propagates_nan_as_clamp_does(interpreted):
    a = torch.tensor([[[1.0, float("nan"), -1.0]], [[0.5, 0.5, 0.5]]])
    mem = triton_scan.relu_decay_forward_(a.clone(), torch.full((3,), 0.5))
    assert mem[0, 0, 1].isnan() and mem[1, 0, 1].isnan()
    assert mem[0, 0, 2] == 0 and mem[1, 0, 0] == 1.0


def sequence_and_grads(x, model):
    spk, mem = model.sequence(x)
    (spk * torch.linspace(-1, 1, spk.shape[-1], dtype=x.dtype) + mem * 0.3).sum().backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return spk.detach(), mem.detach(), x.grad.clone(), grads


def fused_against_loop(monkeypatch, device, dtype):
    torch.manual_seed(1)
    model = leaky_parallel.LeakyParallel(12, 150, beta=0.7, threshold=0.1, learn_beta=True,
                                         learn_threshold=True, device=device, dtype=dtype)
    x = torch.randn(20, 4, 12, device=device, dtype=dtype)
    assert triton_scan.usable(x)
    fused = sequence_and_grads(x.clone().requires_grad_(True), model)
    model.zero_grad()
    monkeypatch.setenv("SNNBENCH_NO_TRITON", "1")
    assert not triton_scan.usable(x)
    looped = sequence_and_grads(x.clone().requires_grad_(True), model)
    assert 0 < fused[0].mean() < 1
    torch.testing.assert_close(fused[:3], looped[:3])
    assert fused[3].keys() == looped[3].keys() == {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "threshold"}
    torch.testing.assert_close(fused[3], looped[3])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_leaky_parallel_fused_equals_its_torch_loop(interpreted, monkeypatch, dtype):
    fused_against_loop(monkeypatch, "cpu", dtype)
