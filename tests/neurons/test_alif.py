"""ALIF / ALIFRecurrent: hand-derived trajectories, the standard cases against sinabs, the capture of
the reference's per-step state, a negative control, and bad case files."""

from __future__ import annotations

import math
import textwrap

import pytest
import torch
from typer.testing import CliRunner

from snnbench import implementations, inputs, specs
from snnbench.cli import app
from snnbench.implementations.sinabs_reference import capture_steps
from snnbench.neurons import sinabs_functions as fns
from snnbench.neurons.alif import ALIF, ALIFParams, ALIFRecurrent, ALIFState, LinearConnect, alif_step
from equivalence import judge, nudged


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


# ---- against sinabs -------------------------------------------------------------------------------
def _standard(neuron):
    return [c for c in specs.standard_cases(neuron) if not c.bench]


@pytest.mark.parametrize("case", _standard("alifrecurrent") + _standard("alif"), ids=lambda c: f"{c.neuron}-{c.name}")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_standard_cases_match_the_reference(case, dtype):
    record = judge(case, dtype)
    if dtype == "float64":
        assert record["verdict"] == "skipped", record["reason"]
        assert "float32" in record["reason"] or "dtype" in record["reason"] or "type" in record["reason"]
    else:
        assert record["verdict"] == "pass", record["reason"]
        assert 0 < record["spike_rate"] < 1


def test_every_option_is_covered_by_a_standard_case():
    params = [c.params for c in specs.standard_cases("alifrecurrent")]
    kinds = lambda key: {p[key]["type"] for p in params if key in p}
    assert kinds("spike_fn") >= {"MultiSpike", "MaxSpike"}
    assert kinds("reset_fn") == {"MembraneSubtract", "MembraneReset"}
    assert kinds("surrogate_grad_fn") >= set(fns.SURROGATES) - {"SingleExponential"}
    assert kinds("rec_connect") == {"Linear", "Conv2d"}
    for key in ("tau_syn", "min_v_mem", "train_alphas", "norm_input"):
        assert any(key in p for p in params), key
    bench = [c for c in specs.standard_cases("alifrecurrent") if c.bench]
    assert [(c.steps, c.batch, c.sample_shape) for c in bench] == [(100, 32, (512,))]


def _reference_and_input(case):
    reference = implementations.reference(case.neuron)
    module = reference.build(case, torch.float32, "cpu")
    return (reference, module, inputs.make_input(case, torch.float32, "cpu"),
            reference.spec.initial_state(case, torch.float32, "cpu"))


def test_capture_does_not_change_what_the_reference_computes():
    case = next(c for c in specs.standard_cases("alifrecurrent") if c.name == "linear-syn-bias")
    reference, module, x, state0 = _reference_and_input(case)
    trace = reference.run(module, x, state0)
    captured_final = {k: getattr(module, k).detach().clone() for k in ("v_mem", "b", "spike_threshold")}
    # the same module again, with no capture: same spikes, same final state, bit for bit
    module.init_state_with_shape(tuple(state0["v_mem"].shape))
    for name, _ in list(module.named_buffers()):
        setattr(module, name, state0[name].clone())
    plain = module(x.transpose(0, 1)).transpose(0, 1)
    assert torch.equal(plain, trace["spikes"])
    for k, v in captured_final.items():
        assert torch.equal(getattr(module, k), v)
        assert torch.equal(trace[k][-1].detach(), v)


def test_record_states_is_shifted_and_the_capture_is_not():
    case = next(c for c in specs.standard_cases("alifrecurrent") if c.name == "linear-syn-bias")
    reference, module, x, state0 = _reference_and_input(case)
    module.record_states = True
    trace = reference.run(module, x, state0)
    rec = {k: v.transpose(0, 1).detach() for k, v in module.recordings.items()}
    assert torch.equal(rec["b"], trace["b"].detach())                         # b is recorded right
    assert torch.equal(rec["i_syn"][:-1], trace["i_syn"][1:].detach())          # i_syn one step late
    assert not torch.equal(rec["v_mem"], trace["v_mem"].detach())
    with capture_steps() as steps:
        pass
    assert steps == []


def test_negative_control_nudged_implementation_fails_naming_a_step():
    case = next(c for c in specs.standard_cases("alifrecurrent") if c.name == "linear-default")

    for target in ("rec_weight", "tau_mem"):
        def nudge(module, case, target=target):
            dict(module.named_parameters())[target].add_(1e-3)

        record = judge(case, "float32", nudged("alifrecurrent", nudge))
        assert record["verdict"] == "fail", (target, record["reason"])
        assert "step" in record["reason"], record["reason"]


# ---- bad case files: one line, exit code 2 ---------------------------------------------------------
BASE = """
[[case]]
name = "bad"
neuron = "alifrecurrent"
steps = 5
batch = 2
sample_shape = {shape}
[case.params]
tau_mem = {tau_mem}
tau_adapt = 20.0
{extra}
rec_connect = {rec}
"""


@pytest.mark.parametrize("shape, tau_mem, extra, rec, expected", [
    ("[8]", "10", "", '{ type = "Linear", bias = false }', "integer"),
    ("[8]", "10.0", "tau_syn = [2.0, 3.0]", '{ type = "Linear", bias = false }', "tau_syn"),
    ("[8]", "10.0", "", '{ type = "Conv2d", kernel_size = 3, padding = 1 }', "sample_shape"),
    ("[2, 6, 6]", "10.0", "", '{ type = "Conv2d", kernel_size = 3 }', "keep the sample shape"),
    ("[8]", "10.0", "", '{ type = "Linear", in_features = 4 }', "in_features"),
    ("[8]", "10.0", 'spike_fn = { type = "TripleSpike" }', '{ type = "Linear" }', "TripleSpike"),
])
def test_bad_cases_exit_2_with_one_line(tmp_path, shape, tau_mem, extra, rec, expected):
    path = tmp_path / "bad.toml"
    path.write_text(textwrap.dedent(BASE.format(shape=shape, tau_mem=tau_mem, extra=extra, rec=rec)))
    result = CliRunner().invoke(app, ["compare", "alifrecurrent", "--case-file", str(path),
                                      "--json", str(tmp_path / "r.json")])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_our_module_rejects_what_the_reference_rejects():
    with pytest.raises(RuntimeError):
        ALIF(10, 20.0)
    with pytest.raises(RuntimeError):
        ALIF(10.0, 20.0, tau_syn=torch.tensor([1.0, 2.0]))


# ---- the fused sequence is the step loop ----------------------------------------------------------
CHUNKS = ("whole", "4MiB", "1MiB", "256KiB")


def shrink_chunks(monkeypatch, chunk: str, step_bytes: int = 3 * 6 * 8):
    """Pin the backward's chunking and shrink its sizes to 4, 3 and 1 steps of ``step_bytes``."""
    from snnbench.neurons import alif as module
    monkeypatch.setenv("SNNBENCH_PATH_ALIF_BACKWARD_CHUNK", chunk)
    monkeypatch.setattr(module, "_CHUNK_BYTES", {"4MiB": 4 * step_bytes, "1MiB": 3 * step_bytes,
                                                  "256KiB": step_bytes})


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
    results = []
    for fast in (True, False):
        m.fast = fast
        xs = x.clone().requires_grad_(True)
        state = ALIFState(*(t.clone().requires_grad_(True) for t in state0))
        spikes, states = m.sequence(xs, state)
        fields = [spikes, *states]
        loss = sum((f * g).sum() for f, g in zip(fields, upstream))
        leaves = [xs, state.v_mem, state.i_syn, state.b, *m.parameters()]
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)
        results.append(([f.detach() for f in fields], grads))
    (fused, fused_grads), (loop, loop_grads) = results
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
    results = []
    for fast in (True, False):
        m.fast = fast
        xs = x.clone().requires_grad_(True)
        state = ALIFState(*(t.clone().requires_grad_(True) for t in state0))
        spikes, states = m.sequence(xs, state)
        loss = sum((f * g).sum() for f, g in zip([spikes, *states], upstream))
        leaves = [xs, state.v_mem, state.b, *m.parameters()]
        results.append(([spikes, *states], torch.autograd.grad(loss, leaves)))
    (fused, fused_grads), (loop, loop_grads) = results
    assert 0 < float((loop[0] != 0).float().mean()) < 1
    assert torch.equal(fused[0], loop[0])
    for a, b in zip(fused, loop):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    for a, b in zip(fused_grads, loop_grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_the_backward_chunking_is_measured_once_per_shape_when_not_pinned(monkeypatch):
    from snnbench.neurons import alif as module
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


# ---- speed of light -------------------------------------------------------------------------------
def test_recurrent_speed_of_light_counts_the_recurrent_products():
    spec = specs.get("alifrecurrent")
    case = next(c for c in specs.standard_cases("alifrecurrent") if c.name == "linear-default")
    T, B, n = case.steps, case.batch, case.sample_shape[-1]
    forward = spec.speed_of_light(case, torch.float32, "cpu", "forward")
    train = spec.speed_of_light(case, torch.float32, "cpu", "train")
    step = 2 * B * n * n                                 # (B, n) @ (n, n), at every step but the first
    assert forward.flops == (T - 1) * step
    assert train.flops == 3 * (T - 1) * step            # + d(spikes) per step + one d(W) over all steps
    state_bytes = T * B * n * 6 * 4                      # input + five output fields, float32
    assert forward.bytes_moved == 2 * state_bytes and train.bytes_moved == 4 * state_bytes
    forward()
    train()
    conv = next(c for c in specs.standard_cases("alifrecurrent") if c.name == "conv-subtract-value")
    C, H, W = conv.sample_shape
    work = spec.speed_of_light(conv, torch.float32, "cpu", "forward")
    assert work.flops == (conv.steps - 1) * 2 * (conv.batch * H * W) * (C * 9) * C    # im2col product, 3x3
    plain = specs.get("alif")
    alif_case = specs.standard_cases("alif")[0]
    assert plain.speed_of_light(alif_case, torch.float32, "cpu", "forward").flops == 0   # elementwise bound
