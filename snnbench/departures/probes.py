"""Probes: tiny runs of the installed reference libraries that tell whether each departure holds.

Every ``probe_<id>()`` runs a tiny, deterministic computation against whatever snntorch / sinabs
is importable and returns ``True`` (the installed library shows the departure: its code differs
from its documentation), ``False`` (the neuron or feature exists and does not show it) or
``None`` (the neuron or feature does not exist in the installed release, or the library is not
installed). A probe never raises. No probe reads a version string, so an unreleased branch is
probed like a release. Each seeds torch inside ``torch.random.fork_rng`` (the caller's RNG is
untouched), silences warnings, removes the snntorch neurons it built from
``SpikingNeuron.instances`` again, and takes milliseconds once the library is imported.

``PROBES`` maps each departure id (snnbench/departures/records.toml) to its probe; ``API_PROBES``
maps each API difference a driver of the references must handle to a probe returning a small
JSON-able value (bool, str, list or None).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import warnings

import torch

__all__ = ["PROBES", "API_PROBES", "LIBRARY"]


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _sandbox():
    """Quiet, seeded, and leaves global state (RNG, snntorch's instance registry) as it was."""
    try:
        from snntorch._neurons.neurons import SpikingNeuron  # noqa: WPS433
        registry = SpikingNeuron.instances
        before = list(registry)
    except Exception:  # snntorch missing or internals moved
        registry = before = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            try:
                with torch.no_grad():
                    yield
            finally:
                if registry is not None:
                    registry[:] = before


def _snn(name):
    """snntorch.<name> or None (library missing or neuron absent in this release)."""
    try:
        import snntorch
    except Exception:
        return None
    return getattr(snntorch, name, None)


def _surrogate(name="atan"):
    try:
        from snntorch import surrogate
    except Exception:
        return None
    return getattr(surrogate, name, None)


def _sinabs_layer(name):
    try:
        import sinabs.layers as layers
    except Exception:
        return None
    return getattr(layers, name, None)


def _sinabs_activation(name):
    try:
        import sinabs.activation as activation
    except Exception:
        return None
    return getattr(activation, name, None)


def _full(shape, value, dtype=torch.float32):
    return torch.full(shape, float(value), dtype=dtype)


def _copy_lstm(dst, src):
    """Copy only the LSTM cell's weights (not the reset_mechanism_val buffer)."""
    dst.lstm_cell.load_state_dict(src.lstm_cell.state_dict())


def _alif(**kwargs):
    """A sinabs ALIF with tau_mem = tau_adapt = 10 unless given; None if ALIF is absent."""
    ALIF = _sinabs_layer("ALIF")
    if ALIF is None:
        return None
    args = dict(tau_mem=10.0, tau_adapt=10.0)
    args.update(kwargs)
    return ALIF(**args)


def _set_state(layer, shape, **values):
    """init_state_with_shape, then overwrite the named buffers with constants."""
    layer.init_state_with_shape(shape)
    for name, value in values.items():
        setattr(layer, name, _full(shape, value))


def _grad_at(fn, value, dtype=torch.float32):
    u = torch.tensor([float(value)], dtype=dtype, requires_grad=True)
    with torch.enable_grad():
        fn(u).sum().backward()
    return u.grad.item()


# ================================================================================================
# snntorch.surrogate.atan / ATan
# ================================================================================================
def probe_atan_slope():
    """Backward of atan(alpha) at u = 0 is alpha/2 (code) instead of 1/pi (documented formula)."""
    atan = _surrogate("atan")
    if atan is None:
        return None
    with _sandbox():
        alpha = 2.0
        g0 = _grad_at(atan(alpha=alpha), 0.0)
        g1 = _grad_at(atan(alpha=alpha), 0.5)
        page0 = 1 / math.pi
        page1 = 1 / math.pi / (1 + (math.pi * 0.5 * alpha / 2) ** 2)
        return not (math.isclose(g0, page0, rel_tol=1e-5) and math.isclose(g1, page1, rel_tol=1e-5))


def probe_default_spike_fn_atan_slope():
    """The neurons' DEFAULT spike functions (SLSTM's: SpikingNeuron.ATan in 0.7.0, surrogate.atan
    from 0.8.0; LeakyParallel's private LeakyParallel.ATan) have the same alpha/2 slope at U = 0,
    not the documented 1/pi. True when every existing default shows it."""
    owners = [c for c in (_snn("SLSTM"), _snn("LeakyParallel")) if c is not None]
    if not owners:
        return None
    with _sandbox():
        results = []
        for cls in owners:
            m = cls(1, 1)
            results.append(_grad_at(m.spike_grad, 0.0))
        return all(math.isclose(g, 1.0, rel_tol=1e-6) for g in results)   # alpha = 2: code 1.0, page 1/pi


def probe_atan_strict_heaviside():
    """Forward spikes with U > Uthr (strict); the page says S = 1 if U >= Uthr."""
    atan = _surrogate("atan")
    if atan is None:
        return None
    with _sandbox():
        return bool(atan()(torch.zeros(1)).item() == 0.0)


def probe_atan_float32_output():
    """A float64 input gives float32 spikes ((u > 0).float())."""
    atan = _surrogate("atan")
    if atan is None:
        return None
    with _sandbox():
        return atan()(torch.ones(1, dtype=torch.float64)).dtype == torch.float32


# ================================================================================================
# snntorch.SLSTM
# ================================================================================================
def probe_slstm_state_zeroing():
    """With input_size != hidden_size the passed/stored state is replaced by zeros on every call."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        m = SLSTM(3, 2)
        x = _full((1, 3), 0.5)
        _, syn_a, mem_a = m(x, _full((1, 2), 0.7), _full((1, 2), 0.4))
        _, syn_b, mem_b = m(x, torch.zeros(1, 2), torch.zeros(1, 2))
        return torch.equal(syn_a, syn_b) and torch.equal(mem_a, mem_b)


def probe_slstm_reset_zero_mem_only():
    """reset 'zero' zeroes only the NEW mem, from the PREVIOUS mem's crossing; syn untouched and
    the LSTM cell of that step still read the un-reset mem (so syn equals the no-reset run)."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        none = SLSTM(2, 2, threshold=0.5, reset_mechanism="none")
        zero = SLSTM(2, 2, threshold=0.5, reset_mechanism="zero")
        _copy_lstm(zero, none)
        x, syn0, mem0 = _full((1, 2), 0.1), _full((1, 2), 0.3), _full((1, 2), 0.9)  # mem0 > thr
        _, syn_n, mem_n = none(x, syn0.clone(), mem0.clone())
        _, syn_z, mem_z = zero(x, syn0.clone(), mem0.clone())
        return bool(torch.equal(syn_z, syn_n) and (mem_z == 0).all() and (mem_n != 0).all())


def probe_slstm_inhibition_ignored():
    """inhibition=True only warns: several neurons of one sample still spike in the same step."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        m = SLSTM(2, 3, threshold=-1.0, inhibition=True)
        spk, _, _ = m(_full((1, 2), 0.1), torch.zeros(1, 3), torch.zeros(1, 3))
        return bool(spk.sum() > 1)


def probe_slstm_default_threshold_unreachable():
    """mem = o * tanh(c) <= 1 and spikes need mem - threshold > 0: the default threshold 1.0 is
    never crossed, even with saturated gates."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        m = SLSTM(2, 2)
        if float(m.threshold) != 1.0:
            return False
        for p in m.lstm_cell.parameters():
            p.fill_(10.0)
        spk, _, mem = m(_full((1, 2), 10.0), _full((1, 2), 10.0), _full((1, 2), 0.99))
        return bool(spk.sum() == 0 and mem.max() >= 0.999)


def probe_slstm_reset_setter_ignored():
    """Setting .reset_mechanism after construction changes the attribute but not the behaviour."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        ref = SLSTM(2, 2, threshold=0.5, reset_mechanism="none")
        m = SLSTM(2, 2, threshold=0.5, reset_mechanism="none")
        _copy_lstm(m, ref)
        m.reset_mechanism = "zero"
        x, syn0, mem0 = _full((1, 2), 0.1), _full((1, 2), 0.3), _full((1, 2), 0.9)
        _, _, mem_ref = ref(x, syn0.clone(), mem0.clone())
        _, _, mem_m = m(x, syn0.clone(), mem0.clone())
        return torch.equal(mem_m, mem_ref)


def probe_slstm_float64_recreated_state_fails():
    """After .double(), a call whose state the module must create itself fails: the zeros it
    creates are float32."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        SLSTM(3, 2, init_hidden=True)(torch.ones(1, 3))          # float32: runs
        m = SLSTM(3, 2, init_hidden=True).double()
        try:
            m(torch.ones(1, 3, dtype=torch.float64))
        except Exception:
            return True
        return False


def probe_slstm_implicit_state_reuse():
    """Without init_hidden, a call with no syn/mem reuses the state left by the previous call
    (the page documents syn_0/mem_0 as the initial state; nothing says omitted means 'carry')."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        m = SLSTM(2, 2)
        x = _full((1, 2), 0.3)
        _, syn1, mem1 = m(x, _full((1, 2), 0.5), _full((1, 2), 0.5))
        syn1, mem1 = syn1.clone(), mem1.clone()
        try:
            _, _, mem_implicit = m(x)
        except Exception:  # 0.7.0: omitting the state is an error, nothing is reused
            return False
        _, _, mem_cont = m(x, syn1.clone(), mem1.clone())
        _, _, mem_zero = m(x, torch.zeros(1, 2), torch.zeros(1, 2))
        return torch.equal(mem_implicit, mem_cont) and not torch.equal(mem_implicit, mem_zero)


def probe_snntorch_instances_grow():
    """Every SLSTM is appended to SpikingNeuron.instances (documented as the registry for
    init_hidden=True) even with init_hidden=False, and never removed."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    from snntorch._neurons.neurons import SpikingNeuron
    with _sandbox():
        n0 = len(SpikingNeuron.instances)
        m = SLSTM(1, 1, init_hidden=False)
        return len(SpikingNeuron.instances) == n0 + 1 and SpikingNeuron.instances[-1] is m


# ================================================================================================
# snntorch.SConv2dLSTM
# ================================================================================================
def _sconv(**kwargs):
    SConv2dLSTM = _snn("SConv2dLSTM")
    if SConv2dLSTM is None:
        return None
    args = dict(in_channels=1, out_channels=1, kernel_size=1)
    args.update(kwargs)
    return SConv2dLSTM(**args)


def probe_sconv2dlstm_gate_order():
    """The conv output is split as i, f, o, g (nn.LSTMCell / the page's equations: i, f, g, o)."""
    if _snn("SConv2dLSTM") is None:
        return None
    with _sandbox():
        m = _sconv()
        b = [0.1, 0.2, 0.3, -0.4]
        m.conv.weight.zero_()
        m.conv.bias.copy_(torch.tensor(b))
        syn0 = 0.5
        _, syn, mem = m(torch.zeros(1, 1, 1, 1), _full((1, 1, 1, 1), syn0), torch.zeros(1, 1, 1, 1))
        sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
        c_ifog = sig(b[1]) * syn0 + sig(b[0]) * math.tanh(b[3])
        h_ifog = sig(b[2]) * math.tanh(c_ifog)
        c_ifgo = sig(b[1]) * syn0 + sig(b[0]) * math.tanh(b[2])
        h_ifgo = sig(b[3]) * math.tanh(c_ifgo)
        got_c, got_h = syn.item(), mem.item()
        is_ifog = math.isclose(got_c, c_ifog, rel_tol=1e-5) and math.isclose(got_h, h_ifog, rel_tol=1e-5)
        is_ifgo = math.isclose(got_c, c_ifgo, rel_tol=1e-5) and math.isclose(got_h, h_ifgo, rel_tol=1e-5)
        return is_ifog and not is_ifgo


def probe_sconv2dlstm_reset_zero_mem_only():
    """As SLSTM: reset 'zero' zeroes only the new mem, from the previous mem; syn untouched."""
    if _snn("SConv2dLSTM") is None:
        return None
    with _sandbox():
        none = _sconv(threshold=0.5, reset_mechanism="none")
        zero = _sconv(threshold=0.5, reset_mechanism="zero")
        zero.conv.load_state_dict(none.conv.state_dict())
        shape = (1, 1, 2, 2)
        x, syn0, mem0 = _full(shape, 0.1), _full(shape, 0.3), _full(shape, 0.9)
        _, syn_n, mem_n = none(x, syn0.clone(), mem0.clone())
        _, syn_z, mem_z = zero(x, syn0.clone(), mem0.clone())
        return bool(torch.equal(syn_z, syn_n) and (mem_z == 0).all() and (mem_n != 0).all())


def probe_sconv2dlstm_inhibition_ignored():
    """inhibition=True only warns: every channel/pixel above threshold spikes."""
    if _snn("SConv2dLSTM") is None:
        return None
    with _sandbox():
        m = _sconv(out_channels=2, threshold=-1.0, inhibition=True)
        shape = (1, 2, 2, 2)
        spk, _, _ = m(_full((1, 1, 2, 2), 0.1), torch.zeros(shape), torch.zeros(shape))
        return bool(spk.sum() > 1)


def probe_sconv2dlstm_pool_decouples_reset():
    """With avg_pool/max_pool the spike comes from the pooled mem but the reset from the unpooled
    mem: a pixel above threshold is reset (subtract) although its pooled window emitted no spike."""
    if _snn("SConv2dLSTM") is None:
        return None
    with _sandbox():
        m = _sconv(avg_pool=2, threshold=0.5, reset_mechanism="subtract")
        m.conv.weight.zero_()
        m.conv.weight[3, 0] = 1.0                       # chunk 3 (g in i,f,o,g) <- input
        m.conv.bias.copy_(torch.tensor([20.0, -20.0, 20.0, 0.0]))  # i=1, f=0, o=1
        x1 = torch.zeros(1, 1, 2, 2)
        x1[0, 0, 0, 0] = 3.0                            # mem1 ~ tanh(tanh(3)) = 0.76 at one pixel
        z = torch.zeros(1, 1, 2, 2)
        spk1, syn1, mem1 = m(x1, z.clone(), z.clone())
        spk2, syn2, mem2 = m(torch.zeros(1, 1, 2, 2), syn1, mem1)
        return bool(mem1[0, 0, 0, 0] > 0.5 and spk1.sum() == 0 and mem2[0, 0, 0, 0] < -0.4)


def probe_sconv2dlstm_even_kernel_crash():
    """An even kernel_size changes the spatial size (padding k//2) and the first step raises,
    although the page says padding keeps the hidden-state size."""
    if _snn("SConv2dLSTM") is None:
        return None
    with _sandbox():
        z = torch.zeros(1, 1, 4, 4)
        _sconv(kernel_size=3)(z, z.clone(), z.clone())             # odd kernel: runs
        m = _sconv(kernel_size=2)
        try:
            m(z, z.clone(), z.clone())
        except Exception:
            return True
        return False


def probe_sconv2dlstm_float64_float32_spikes():
    """After .double() the states are float64 but the spikes come back float32."""
    if _snn("SConv2dLSTM") is None:
        return None
    with _sandbox():
        m = _sconv().double()
        z = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
        spk, syn, mem = m(z, z.clone(), z.clone())
        return spk.dtype == torch.float32 and mem.dtype == torch.float64


# ================================================================================================
# snntorch.LeakyParallel
# ================================================================================================
def rnn_output(lp, x):
    """Run a LeakyParallel on x and capture its ``rnn``'s output sequence (the membrane, which the
    module does not return): ``spk, mem``. The reference implementation uses it too."""
    captured = []
    handle = lp.rnn.register_forward_hook(lambda mod, args, out: captured.append(out[0]))
    try:
        spk = lp(x)
    finally:
        handle.remove()
    (mem,) = captured                  # exactly one rnn call
    return spk, mem


def probe_leakyparallel_per_neuron_beta():
    """A beta tensor with one value per neuron is silently ignored: the diagonal of weight_hh
    stays nn.RNN's random init (snntorch PR #441 is reported to fix this after 1.0.0)."""
    LP = _snn("LeakyParallel")
    if LP is None:
        return None
    with _sandbox():
        beta = torch.tensor([0.1, 0.5, 0.9])
        try:
            lp = LP(2, 3, beta=beta)
        except Exception:
            return False  # rejected loudly: not the silent departure
        return not torch.allclose(torch.diagonal(lp.rnn.weight_hh_l0), beta)


def probe_leakyparallel_dropout_noop():
    """dropout > 0 has no effect (nn.RNN applies dropout only between stacked layers)."""
    LP = _snn("LeakyParallel")
    if LP is None:
        return None
    with _sandbox():
        lp = LP(2, 8, beta=0.5, dropout=0.9, threshold=0.1)
        lp.rnn.weight_ih_l0.fill_(1.0)
        x = torch.ones(4, 1, 2)
        lp.train()
        out_train = lp(x)
        lp.eval()
        out_eval = lp(x)
        return bool(out_eval.sum() > 0 and torch.equal(out_train, out_eval))


def probe_leakyparallel_beta_none_unclamped():
    """beta=None leaves nn.RNN's random diagonal, which can be negative (the page: beta is
    clipped to [0, 1])."""
    LP = _snn("LeakyParallel")
    if LP is None:
        return None
    with _sandbox():
        lp = LP(2, 16)
        return bool(torch.diagonal(lp.rnn.weight_hh_l0).min() < 0)


def probe_leakyparallel_beta_not_clipped_in_forward():
    """The param doc says beta is 'clipped between 0 and 1 during the forward-pass'; the clamp is
    applied once at construction, so a decay outside [0, 1] (e.g. learned) is used as is."""
    LP = _snn("LeakyParallel")
    if LP is None:
        return None
    with _sandbox():
        lp = LP(1, 1, beta=0.5, learn_beta=True, bias=False, threshold=100.0)
        lp.rnn.weight_ih_l0.fill_(1.0)
        lp.rnn.weight_hh_l0.fill_(1.5)
        x = torch.zeros(3, 1, 1)
        x[0] = 1.0
        _, mem = rnn_output(lp, x)
        return math.isclose((mem[2] / mem[1]).item(), 1.5, rel_tol=1e-6)


def probe_leakyparallel_weight_hh_enable_fills_beta():
    """weight_hh_enable=True with a beta fills the WHOLE dense matrix with beta: every neuron
    leaks beta * mem into every other (the page: 'follow the RNN default implementation')."""
    LP = _snn("LeakyParallel")
    if LP is None:
        return None
    with _sandbox():
        lp = LP(2, 3, beta=0.5, weight_hh_enable=True)
        return bool((lp.rnn.weight_hh_l0 == 0.5).all())


def probe_leakyparallel_output_size_doc():
    """The page gives the output spk shape as (L, batch, input_size); it is hidden_size."""
    LP = _snn("LeakyParallel")
    if LP is None:
        return None
    with _sandbox():
        lp = LP(2, 5, beta=0.5)
        return lp(torch.zeros(3, 1, 2)).shape[-1] == 5


def probe_leakyparallel_scalar_tensor_beta_raises():
    """A 0-d tensor beta (a 'single-valued tensor' on the page) raises at construction."""
    LP = _snn("LeakyParallel")
    if LP is None:
        return None
    with _sandbox():
        LP(2, 3, beta=0.5)                                          # a float: accepted
        try:
            LP(2, 3, beta=torch.tensor(0.5))
        except Exception:
            return True
        return False


def probe_leakyparallel_dtype_arg_mask():
    """dtype=float16 at construction: the float32 diagonal mask turns weight_hh to float32 (so the
    forward fails); the documented dtype argument is not honoured."""
    LP = _snn("LeakyParallel")
    if LP is None:
        return None
    if "dtype" not in inspect.signature(LP.__init__).parameters:
        return None
    with _sandbox():
        try:
            lp = LP(2, 3, beta=0.5, dtype=torch.float16)
        except Exception:
            return True
        return lp.rnn.weight_hh_l0.dtype != torch.float16


def probe_leakyparallel_inf_input_nan():
    """An Inf in the input makes the whole next step NaN (0 * inf in the masked hidden matrix)
    instead of inf decaying by beta."""
    LP = _snn("LeakyParallel")
    if LP is None:
        return None
    with _sandbox():
        lp = LP(1, 2, beta=0.5, bias=False)
        lp.rnn.weight_ih_l0.fill_(1.0)
        x = torch.zeros(2, 1, 1)
        x[0] = float("inf")
        _, mem = rnn_output(lp, x)
        return bool(torch.isinf(mem[0]).all() and torch.isnan(mem[1]).all())


# ================================================================================================
# sinabs.layers.ALIF / ALIFRecurrent (and sinabs.activation)
# ================================================================================================
def _alpha(tau):
    return math.exp(-1.0 / tau)


def probe_alif_membrane_subtract_adaptive():
    """MembraneSubtract() subtracts the adaptive threshold b0 + adapt_scale*b, not b0."""
    with _sandbox():
        layer = _alif(adapt_scale=1.8, norm_input=False)
        if layer is None:
            return None
        _set_state(layer, (1, 1), v_mem=0.0, b=0.5)     # B = 1 + 1.8 * 0.5 = 1.9
        s = layer(_full((1, 1, 1), 2.0))                # v = 2.0 >= 1.9: spike
        v = layer.v_mem.item()
        return bool(s.item() == 1 and math.isclose(v, 2.0 - 1.9, abs_tol=1e-5))


def probe_alif_b_not_zeroed():
    """After a spike b = rho*b + (1-rho)*s; the page says b -> 0."""
    with _sandbox():
        layer = _alif(norm_input=False)
        if layer is None:
            return None
        _set_state(layer, (1, 1), v_mem=0.0, b=0.5)
        s = layer(_full((1, 1, 1), 5.0))
        rho = _alpha(10.0)
        return bool(s.item() == 1 and math.isclose(layer.b.item(), rho * 0.5 + (1 - rho), rel_tol=1e-5))


def probe_singlespike_fires_at_equal():
    """SingleSpike fires at v_mem == threshold (v - B >= 0); the param doc says 'above'."""
    with _sandbox():
        layer = _alif(norm_input=False)
        if layer is None:
            return None
        _set_state(layer, (1, 1), v_mem=0.0, b=0.0)     # B = 1.0 exactly
        s = layer(_full((1, 1, 1), 1.0))                # v = 1.0 exactly
        return bool(s.item() == 1)


def probe_alif_synaptic_formula():
    """i_syn <- alpha_syn * (i_syn + x), not the page's alpha_syn * i_syn * (1 - alpha_syn) + x."""
    with _sandbox():
        layer = _alif(tau_syn=2.0, norm_input=False, spike_threshold=torch.tensor(100.0))
        if layer is None:
            return None
        _set_state(layer, (1, 1), v_mem=0.0, i_syn=1.0, b=0.0)
        layer(_full((1, 1, 1), 0.5))
        a = _alpha(2.0)
        code, page = a * (1.0 + 0.5), a * 1.0 * (1 - a) + 0.5
        v = layer.v_mem.item()                          # v = 0 * alpha_mem + i_syn
        return math.isclose(v, code, rel_tol=1e-5) and not math.isclose(v, page, rel_tol=1e-3)


def probe_alif_norm_input_writeback():
    """norm_input stores (1 - alpha_mem) * i_syn back into i_syn, so the synaptic current decays
    by alpha_syn * (1 - alpha_mem) per step (sinabs LIF keeps the normalised value local)."""
    with _sandbox():
        layer = _alif(tau_mem=4.0, tau_syn=3.0, norm_input=True, spike_threshold=torch.tensor(100.0))
        if layer is None:
            return None
        _set_state(layer, (1, 1), v_mem=0.0, i_syn=0.0, b=0.0)
        x = torch.zeros(1, 2, 1)
        x[0, 0, 0] = 1.0
        layer(x)
        am, asyn = _alpha(4.0), _alpha(3.0)
        v1 = (1 - am) * asyn
        written_back = am * v1 + (1 - am) * asyn * (1 - am) * asyn
        kept_local = am * v1 + (1 - am) * asyn * asyn
        v2 = layer.v_mem.item()
        return math.isclose(v2, written_back, rel_tol=1e-5) and not math.isclose(v2, kept_local, rel_tol=1e-3)


def probe_alif_record_states_shift():
    """record_states=True stores the state dict without a copy: recorded v_mem[t] is the next
    step's (pre-reset) v_mem."""
    with _sandbox():
        ALIF = _sinabs_layer("ALIF")
        if ALIF is None:
            return None
        if "record_states" not in inspect.signature(ALIF.__init__).parameters:
            return None
        layer = _alif(norm_input=False, record_states=True, spike_threshold=torch.tensor(100.0))
        _set_state(layer, (1, 1), v_mem=0.0, b=0.0)
        layer(torch.ones(1, 3, 1))                      # true v: 1, 1 + a, 1 + a + a^2
        a = _alpha(10.0)
        rec = layer.recordings["v_mem"][0, :, 0].tolist()
        return math.isclose(rec[0], 1 + a, rel_tol=1e-5) and math.isclose(rec[2], 1 + a + a * a, rel_tol=1e-5)


def probe_alif_isyn_not_persisted():
    """v_mem, b and spike_threshold persist across calls but i_syn is never written back: a sequence
    run in two chunks differs from the same sequence in one call."""
    with _sandbox():
        whole = _alif(tau_syn=5.0, norm_input=False, spike_threshold=torch.tensor(100.0))
        if whole is None:
            return None
        chunked = _alif(tau_syn=5.0, norm_input=False, spike_threshold=torch.tensor(100.0))
        x = torch.zeros(1, 2, 1)
        x[0, 0, 0] = 1.0
        for layer in (whole, chunked):
            _set_state(layer, (1, 1), v_mem=0.0, i_syn=0.0, b=0.0)
        whole(x)
        chunked(x[:, :1])
        chunked(x[:, 1:])
        return not math.isclose(whole.v_mem.item(), chunked.v_mem.item(), rel_tol=1e-6)


def probe_alifrecurrent_rec_term_restarts():
    """ALIFRecurrent's recurrent input starts from zero on every call: chunked != whole."""
    ALIFRecurrent = _sinabs_layer("ALIFRecurrent")
    if ALIFRecurrent is None:
        return None
    with _sandbox():
        def make():
            rec = torch.nn.Linear(1, 1, bias=False)
            rec.weight.fill_(1.0)
            layer = ALIFRecurrent(tau_mem=10.0, tau_adapt=10.0, rec_connect=rec, norm_input=False)
            _set_state(layer, (1, 1), v_mem=0.0, b=0.0)
            return layer
        whole, chunked = make(), make()
        x = torch.zeros(1, 2, 1)
        x[0, 0, 0] = 2.0                                # spike at step 0 -> +1 input at step 1
        s = whole(x)
        chunked(x[:, :1])
        chunked(x[:, 1:])
        return bool(s[0, 0, 0] == 1) and not math.isclose(whole.v_mem.item(), chunked.v_mem.item(), rel_tol=1e-6)


def probe_membrane_reset_adds_everywhere():
    """MembraneReset(reset_value=r) adds r to every neuron's v_mem, not only to those that spiked."""
    MembraneReset = _sinabs_activation("MembraneReset")
    if MembraneReset is None or _sinabs_layer("ALIF") is None:
        return None
    with _sandbox():
        layer = _alif(norm_input=False, reset_fn=MembraneReset(reset_value=0.5),
                      spike_threshold=torch.tensor(1.0))
        _set_state(layer, (1, 2), v_mem=0.0, b=0.0)
        x = torch.tensor([[[2.0, 0.2]]])                # neuron 0 spikes, neuron 1 does not
        s = layer(x)
        v = layer.v_mem[0].tolist()
        return bool(s[0, 0, 0] == 1 and s[0, 0, 1] == 0 and math.isclose(v[1], 0.2 + 0.5, rel_tol=1e-5))


def probe_spike_fn_no_threshold_grad():
    """sinabs spike functions return no gradient for the (adaptive) threshold: dS/dB is dropped,
    unlike the LSNN of Bellec et al. (2018) that the ALIF page cites."""
    SingleSpike = _sinabs_activation("SingleSpike")
    SingleExponential = _sinabs_activation("SingleExponential")
    if SingleSpike is None or SingleExponential is None:
        return None
    with _sandbox():
        v = torch.tensor([0.9], requires_grad=True)
        thr = torch.tensor([1.0], requires_grad=True)
        with torch.enable_grad():
            SingleSpike.apply(v, thr, SingleExponential()).sum().backward()
        return bool(v.grad is not None and v.grad.abs().sum() > 0 and (thr.grad is None or thr.grad.abs().sum() == 0))


def probe_heaviside_window_absolute():
    """sinabs.activation.Heaviside(window): the doc says the window is relative to the threshold;
    the code uses v >= threshold - window (absolute) and divides by the threshold."""
    Heaviside = _sinabs_activation("Heaviside")
    if Heaviside is None:
        return None
    with _sandbox():
        g = Heaviside(window=0.5)(torch.tensor([1.4]), torch.tensor(2.0)).item()
        return g == 0.0                                 # relative: 1.4 >= 2*(1-0.5) -> 1/2


def probe_alif_tau_syn_tensor_raises():
    """A multi-element tau_syn tensor (the signature allows Tensor) raises at construction
    ('if tau_syn' on a tensor)."""
    if _sinabs_layer("ALIF") is None:
        return None
    with _sandbox():
        _alif(tau_syn=torch.tensor(2.0))                            # one value: accepted
        try:
            _alif(tau_syn=torch.tensor([2.0, 3.0]))
        except Exception:
            return True
        return False


def probe_alif_int_tau_raises():
    """An integer tau (tau_mem=10) raises: nn.Parameter of an integer tensor."""
    if _sinabs_layer("ALIF") is None:
        return None
    with _sandbox():
        _alif(tau_mem=10.0, tau_adapt=10.0)                         # floats: accepted
        try:
            _alif(tau_mem=10, tau_adapt=10)
        except Exception:
            return True
        return False


def probe_alif_repr_detaches_alphas():
    """With train_alphas=True, repr() calls detach_() on the alpha parameters: training stops."""
    if _sinabs_layer("ALIF") is None:
        return None
    with _sandbox():
        layer = _alif(tau_syn=5.0, train_alphas=True)
        if not getattr(layer, "alpha_mem", torch.zeros(0)).requires_grad:
            return None
        repr(layer)
        return not layer.alpha_mem.requires_grad


def probe_alif_float64_float32_spikes():
    """float64 input: v_mem is float64 but the spikes (and b) are float32."""
    with _sandbox():
        layer = _alif()
        if layer is None:
            return None
        layer = layer.double()
        s = layer(torch.rand(1, 3, 2, dtype=torch.float64) * 3)
        return s.dtype == torch.float32 and layer.v_mem.dtype == torch.float64


def probe_alifrecurrent_float64_fails():
    """ALIFRecurrent in float64 fails: the float32 spikes are fed to the float64 rec_connect."""
    ALIFRecurrent = _sinabs_layer("ALIFRecurrent")
    if ALIFRecurrent is None:
        return None
    with _sandbox():
        ALIFRecurrent(tau_mem=10.0, tau_adapt=10.0, rec_connect=torch.nn.Linear(2, 2))(torch.rand(1, 3, 2))
        layer = ALIFRecurrent(tau_mem=10.0, tau_adapt=10.0, rec_connect=torch.nn.Linear(2, 2)).double()
        try:
            layer(torch.rand(1, 3, 2, dtype=torch.float64))
        except Exception:
            return True
        return False


def probe_alif_half_computed_float32():
    """float16 input to a .half() ALIF is silently computed and returned in float32."""
    with _sandbox():
        layer = _alif()
        if layer is None:
            return None
        layer = layer.half()
        s = layer(torch.rand(1, 3, 2).half())
        return s.dtype == torch.float32 and layer.v_mem.dtype == torch.float32


def _never_raise(fn):
    """A probe never raises: an unexpected exception (an internal the probe relies on changed in
    some future release) gives None ('cannot be determined here') plus a RuntimeWarning naming it."""
    @functools.wraps(fn)
    def wrapper():
        try:
            return fn()
        except Exception as exc:  # pragma: no cover - only on releases not seen here
            warnings.warn(f"{fn.__name__} could not run: {type(exc).__name__}: {exc}", RuntimeWarning)
            return None
    wrapper.unwrapped = fn
    return wrapper


for _name, _fn in list(globals().items()):
    if _name.startswith("probe_") and callable(_fn):
        globals()[_name] = _never_raise(_fn)


PROBES = {
    # snntorch surrogate
    "atan-slope": probe_atan_slope,
    "default-spike-fn-atan-slope": probe_default_spike_fn_atan_slope,
    "atan-strict-heaviside": probe_atan_strict_heaviside,
    "atan-float32-output": probe_atan_float32_output,
    # SLSTM
    "slstm-state-zeroing": probe_slstm_state_zeroing,
    "slstm-reset-zero-mem-only": probe_slstm_reset_zero_mem_only,
    "slstm-inhibition-ignored": probe_slstm_inhibition_ignored,
    "slstm-default-threshold-unreachable": probe_slstm_default_threshold_unreachable,
    "slstm-reset-setter-ignored": probe_slstm_reset_setter_ignored,
    "slstm-float64-recreated-state-fails": probe_slstm_float64_recreated_state_fails,
    "slstm-implicit-state-reuse": probe_slstm_implicit_state_reuse,
    "snntorch-instances-grow": probe_snntorch_instances_grow,
    # SConv2dLSTM
    "sconv2dlstm-gate-order": probe_sconv2dlstm_gate_order,
    "sconv2dlstm-reset-zero-mem-only": probe_sconv2dlstm_reset_zero_mem_only,
    "sconv2dlstm-inhibition-ignored": probe_sconv2dlstm_inhibition_ignored,
    "sconv2dlstm-pool-decouples-reset": probe_sconv2dlstm_pool_decouples_reset,
    "sconv2dlstm-even-kernel-crash": probe_sconv2dlstm_even_kernel_crash,
    "sconv2dlstm-float64-float32-spikes": probe_sconv2dlstm_float64_float32_spikes,
    # LeakyParallel
    "leakyparallel-per-neuron-beta": probe_leakyparallel_per_neuron_beta,
    "leakyparallel-dropout-noop": probe_leakyparallel_dropout_noop,
    "leakyparallel-beta-none-unclamped": probe_leakyparallel_beta_none_unclamped,
    "leakyparallel-beta-not-clipped-in-forward": probe_leakyparallel_beta_not_clipped_in_forward,
    "leakyparallel-weight-hh-enable-fills-beta": probe_leakyparallel_weight_hh_enable_fills_beta,
    "leakyparallel-output-size-doc": probe_leakyparallel_output_size_doc,
    "leakyparallel-scalar-tensor-beta-raises": probe_leakyparallel_scalar_tensor_beta_raises,
    "leakyparallel-dtype-arg-mask": probe_leakyparallel_dtype_arg_mask,
    "leakyparallel-inf-input-nan": probe_leakyparallel_inf_input_nan,
    # sinabs ALIF / ALIFRecurrent / activation
    "alif-membrane-subtract-adaptive": probe_alif_membrane_subtract_adaptive,
    "alif-b-not-zeroed": probe_alif_b_not_zeroed,
    "singlespike-fires-at-equal": probe_singlespike_fires_at_equal,
    "alif-synaptic-formula": probe_alif_synaptic_formula,
    "alif-norm-input-writeback": probe_alif_norm_input_writeback,
    "alif-record-states-shift": probe_alif_record_states_shift,
    "alif-isyn-not-persisted": probe_alif_isyn_not_persisted,
    "alifrecurrent-rec-term-restarts": probe_alifrecurrent_rec_term_restarts,
    "membrane-reset-adds-everywhere": probe_membrane_reset_adds_everywhere,
    "spike-fn-no-threshold-grad": probe_spike_fn_no_threshold_grad,
    "heaviside-window-absolute": probe_heaviside_window_absolute,
    "alif-tau-syn-tensor-raises": probe_alif_tau_syn_tensor_raises,
    "alif-int-tau-raises": probe_alif_int_tau_raises,
    "alif-repr-detaches-alphas": probe_alif_repr_detaches_alphas,
    "alif-float64-float32-spikes": probe_alif_float64_float32_spikes,
    "alifrecurrent-float64-fails": probe_alifrecurrent_float64_fails,
    "alif-half-computed-float32": probe_alif_half_computed_float32,
}


# ================================================================================================
# API differences a driver must handle (values, not departures)
# ================================================================================================
def api_snntorch_neurons():
    """Which of the covered snntorch neurons exist at the top level (None: snntorch missing)."""
    try:
        import snntorch
    except Exception:
        return None
    return [n for n in ("SLSTM", "SConv2dLSTM", "LeakyParallel") if hasattr(snntorch, n)]


def api_lstm_forward_state_default():
    """Default of SLSTM.forward's syn/mem: 'None' (0.8.0+) or 'False' (0.7.0)."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    return repr(inspect.signature(SLSTM.forward).parameters["mem"].default)


def api_lstm_state_storage():
    """Where SLSTM keeps syn/mem without init_hidden: 'none' (not kept: 0.7.0), 'persistent-buffer'
    (in state_dict: 0.8.x), 'attribute' (plain tensors: 0.9.0), 'nonpersistent-buffer' (0.9.1+)."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        m = SLSTM(1, 1)
        if not hasattr(m, "mem"):
            return "none"
        if "mem" in dict(m.named_buffers()):
            return "persistent-buffer" if "mem" in m.state_dict() else "nonpersistent-buffer"
        return "attribute"


def api_lstm_sets_spk_attribute():
    """Whether a call WITHOUT init_hidden leaves .spk/.syn/.mem on the module (snnbench reads them)."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        m = SLSTM(1, 1)
        m(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1))
        return all(hasattr(m, a) for a in ("spk", "syn", "mem"))


def api_lstm_reset_mem():
    """Whether SLSTM has reset_mem() (0.8.0+) next to the deprecated init_slstm()."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    return hasattr(SLSTM, "reset_mem")


def api_lstm_init_returns_spiketensor():
    """Whether init_slstm() returns the lazy _SpikeTensor placeholders (0.7.0) instead of tensors."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        m = SLSTM(1, 1)
        return any(hasattr(t, "init_flag") for t in m.init_slstm())


def api_default_spike_grad():
    """Default spike_grad of SLSTM: 'SpikingNeuron.ATan.apply' (0.7.0) or 'surrogate.atan' (0.8.0+);
    both use the same formula."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        fn = SLSTM(1, 1).spike_grad
        owner = getattr(fn, "__self__", None)                       # Function.apply bound to its class
        if inspect.isclass(owner):
            return f"{owner.__qualname__}.apply"
        return getattr(fn, "__qualname__", type(fn).__name__)


def api_lstm_float64_with_state():
    """Whether SLSTM(2,2).double() runs a float64 step when float64 syn/mem are passed."""
    SLSTM = _snn("SLSTM")
    if SLSTM is None:
        return None
    with _sandbox():
        m = SLSTM(2, 2).double()
        z = torch.zeros(1, 2, dtype=torch.float64)
        try:
            spk, syn, mem = m(z, z.clone(), z.clone())
        except Exception:
            return False
        return mem.dtype == torch.float64


def api_surrogate_factories():
    """snntorch.surrogate factory functions and their parameters (0.7.0: triangular() has no
    threshold, no custom_surrogate)."""
    try:
        from snntorch import surrogate
    except Exception:
        return None
    return {n: list(inspect.signature(f).parameters) for n, f in sorted(vars(surrogate).items())
            if inspect.isfunction(f) and f.__module__ == surrogate.__name__}


def api_leakyparallel_signature():
    """LeakyParallel constructor parameter names."""
    LP = _snn("LeakyParallel")
    if LP is None:
        return None
    return [p for p in inspect.signature(LP.__init__).parameters if p != "self"]


def api_alif_forward_single_params():
    """Parameters of sinabs.layers.functional.alif.alif_forward_single (snnbench wraps it)."""
    try:
        import sinabs.layers.functional.alif as functional_alif
    except Exception:
        return None
    fn = getattr(functional_alif, "alif_forward_single", None)
    if fn is None:
        return None
    return list(inspect.signature(fn).parameters)


def api_alif_state_buffers():
    """Buffers of an ALIF after init_state_with_shape, without and with tau_syn."""
    if _sinabs_layer("ALIF") is None:
        return None
    with _sandbox():
        out = []
        for kwargs in ({}, {"tau_syn": 5.0}):
            layer = _alif(**kwargs)
            layer.init_state_with_shape((1, 1))
            out.append([n for n, _ in layer.named_buffers()])
        return out


def api_alif_has_record_states():
    ALIF = _sinabs_layer("ALIF")
    if ALIF is None:
        return None
    return "record_states" in inspect.signature(ALIF.__init__).parameters


def api_alif_state_methods():
    """Which state methods exist on ALIF (reset_states, init_state_with_shape, ...)."""
    ALIF = _sinabs_layer("ALIF")
    if ALIF is None:
        return None
    return [m for m in ("init_state_with_shape", "reset_states", "is_state_initialised",
                        "state_has_shape", "handle_state_batch_size_mismatch") if hasattr(ALIF, m)]


def api_alif_signature():
    ALIF = _sinabs_layer("ALIF")
    if ALIF is None:
        return None
    return [p for p in inspect.signature(ALIF.__init__).parameters if p != "self"]


for _name, _fn in list(globals().items()):
    if _name.startswith("api_") and callable(_fn) and not hasattr(_fn, "unwrapped"):
        globals()[_name] = _never_raise(_fn)


API_PROBES = {
    "snntorch-neurons": api_snntorch_neurons,
    "lstm-forward-state-default": api_lstm_forward_state_default,
    "lstm-state-storage": api_lstm_state_storage,
    "lstm-sets-spk-attribute": api_lstm_sets_spk_attribute,
    "lstm-reset-mem": api_lstm_reset_mem,
    "lstm-init-returns-spiketensor": api_lstm_init_returns_spiketensor,
    "default-spike-grad": api_default_spike_grad,
    "lstm-float64-with-state": api_lstm_float64_with_state,
    "surrogate-factories": api_surrogate_factories,
    "leakyparallel-signature": api_leakyparallel_signature,
    "alif-forward-single-params": api_alif_forward_single_params,
    "alif-state-buffers": api_alif_state_buffers,
    "alif-has-record-states": api_alif_has_record_states,
    "alif-state-methods": api_alif_state_methods,
    "alif-signature": api_alif_signature,
}


SINABS_IDS = {
    "alif-membrane-subtract-adaptive", "alif-b-not-zeroed", "singlespike-fires-at-equal",
    "alif-synaptic-formula", "alif-norm-input-writeback", "alif-record-states-shift",
    "alif-isyn-not-persisted", "alifrecurrent-rec-term-restarts", "membrane-reset-adds-everywhere",
    "spike-fn-no-threshold-grad", "heaviside-window-absolute", "alif-tau-syn-tensor-raises",
    "alif-int-tau-raises", "alif-repr-detaches-alphas", "alif-float64-float32-spikes",
    "alifrecurrent-float64-fails", "alif-half-computed-float32",
    "alif-forward-single-params", "alif-state-buffers", "alif-has-record-states",
    "alif-state-methods", "alif-signature",
}
#: which library each probe (departure or API) exercises
LIBRARY = {name: ("sinabs" if name in SINABS_IDS else "snntorch") for name in {**PROBES, **API_PROBES}}
