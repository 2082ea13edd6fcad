"""Random valid cases over each neuron's whole option space, as hypothesis strategies.

Each strategy draws a raw case table, exactly what a ``[[case]]`` table of a case file holds
(so a drawn case is written out as a case file as it is). Sizes start at 1; every constructor
option of the reference is drawn in every value form it takes (a number, a one-element list, one
value per neuron; an object argument as a table with its type and arguments); thresholds and
input scales are drawn from ranges where the neuron fires at some steps and not at others, so
most cases are informative. Values are drawn on a grid of hundredths, so a case file reads well
and shrinks towards round numbers.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

SURROGATES = ("atan", "straight_through_estimator", "fast_sigmoid", "sigmoid", "triangular",
              "spike_rate_escape", "heaviside")


def hundredths(low: float, high: float) -> st.SearchStrategy[float]:
    """A float in [low, high] on a grid of 0.01."""
    return st.integers(round(low * 100), round(high * 100)).map(lambda v: v / 100)


def _maybe(key: str, values: st.SearchStrategy, out: dict, draw) -> None:
    """Set ``out[key]`` to a drawn value, or leave the key out (the constructor's default)."""
    if draw(st.booleans()):
        out[key] = draw(values)


@st.composite
def input_spec(draw, scale: float = 1.0) -> dict[str, Any]:
    dist = draw(st.sampled_from(["uniform", "normal", "bernoulli"]))
    if dist == "uniform":
        low = draw(hundredths(-scale, 0.0))
        return {"dist": "uniform", "low": low, "high": draw(hundredths(max(low + 0.1, 0.1), 2 * scale))}
    if dist == "normal":
        return {"dist": "normal", "mean": draw(hundredths(-scale / 4, scale)),
                "std": draw(hundredths(0.1, scale))}
    return {"dist": "bernoulli", "p": draw(hundredths(0.05, 0.95))}


@st.composite
def common(draw, neuron: str, sample_shape: list[int], steps: tuple[int, int] = (1, 8)) -> dict[str, Any]:
    return {"name": "fuzz", "neuron": neuron, "steps": draw(st.integers(*steps)), "batch": draw(st.integers(1, 3)),
            "sample_shape": sample_shape, "seed": draw(st.integers(0, 2 ** 31 - 1)),
            "initial_state": draw(st.sampled_from(["random", "zeros"]))}


@st.composite
def spike_grad(draw) -> dict[str, Any]:
    kind = draw(st.sampled_from(SURROGATES))
    table: dict[str, Any] = {"type": kind}
    if kind == "atan":
        _maybe("alpha", hundredths(0.5, 5.0), table, draw)
    elif kind in ("fast_sigmoid", "sigmoid"):
        _maybe("slope", hundredths(1.0, 40.0), table, draw)
    elif kind == "triangular":
        _maybe("threshold", hundredths(0.1, 2.0), table, draw)
    elif kind == "spike_rate_escape":
        _maybe("beta", hundredths(0.1, 3.0), table, draw)
        _maybe("slope", hundredths(1.0, 40.0), table, draw)
    return table


@st.composite
def state_quant(draw) -> dict[str, Any]:
    table: dict[str, Any] = {"type": "state_quant", "num_bits": draw(st.integers(1, 8))}
    _maybe("uniform", st.booleans(), table, draw)
    _maybe("thr_centered", st.booleans(), table, draw)
    _maybe("threshold", hundredths(0.1, 1.5), table, draw)
    _maybe("lower_limit", hundredths(0.0, 1.0), table, draw)
    _maybe("upper_limit", hundredths(0.0, 1.0), table, draw)
    _maybe("multiplier", hundredths(0.1, 0.95), table, draw)
    return table


@st.composite
def threshold_value(draw, low: float, high: float, neurons: int, per_neuron: bool = True) -> Any:
    """A threshold as a number, a one-element list, or (where allowed) one value per neuron."""
    forms = ["number", "one"] + (["each"] if per_neuron else [])
    form = draw(st.sampled_from(forms))
    if form == "number":
        return draw(hundredths(low, high))
    if form == "one":
        return [draw(hundredths(low, high))]
    return draw(st.lists(hundredths(low, high), min_size=neurons, max_size=neurons))


@st.composite
def snntorch_cell_options(draw, neurons: int, per_neuron_threshold: bool) -> dict[str, Any]:
    """The options SLSTM and SConv2dLSTM share."""
    params: dict[str, Any] = {"threshold": draw(threshold_value(0.01, 0.12, neurons, per_neuron_threshold))}
    _maybe("bias", st.booleans(), params, draw)
    _maybe("reset_mechanism", st.sampled_from(["none", "subtract", "zero"]), params, draw)
    _maybe("learn_threshold", st.booleans(), params, draw)
    _maybe("spike_grad", spike_grad(), params, draw)
    if draw(st.integers(0, 9)) == 0:
        params["surrogate_disable"] = True
    if draw(st.integers(0, 5)) == 0:
        params["state_quant"] = draw(state_quant())
    if draw(st.integers(0, 5)) == 0:
        params["init_hidden"] = True
        _maybe("output", st.booleans(), params, draw)
    _maybe("inhibition", st.booleans(), params, draw)
    return params


@st.composite
def slstm(draw) -> dict[str, Any]:
    hidden = draw(st.integers(1, 12))
    inputs = hidden if draw(st.booleans()) else draw(st.integers(1, 12))
    case = draw(common("slstm", [inputs]))
    case["params"] = {"input_size": inputs, "hidden_size": hidden,
                      **draw(snntorch_cell_options(hidden, per_neuron_threshold=True))}
    case["input"] = draw(input_spec(1.0))
    return case


@st.composite
def sconv2dlstm(draw) -> dict[str, Any]:
    c_in, c_out = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    case = draw(common("sconv2dlstm", [c_in, height, width], steps=(1, 5)))
    odd = st.sampled_from([1, 3, 5])
    kernel = draw(st.one_of(odd, st.lists(odd, min_size=2, max_size=2)))
    params: dict[str, Any] = {"in_channels": c_in, "out_channels": c_out, "kernel_size": kernel,
                              **draw(snntorch_cell_options(c_out, per_neuron_threshold=False))}
    pool = draw(st.sampled_from([None, "max_pool", "avg_pool"]))
    if pool:
        params[pool] = draw(st.one_of(st.integers(1, min(height, width)),
                                      st.tuples(st.integers(1, height), st.integers(1, width)).map(list)))
    case["params"] = params
    case["input"] = draw(input_spec(1.0))
    return case


@st.composite
def leakyparallel(draw) -> dict[str, Any]:
    inputs, hidden = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    case = draw(common("leakyparallel", [inputs], steps=(1, 10)))
    params: dict[str, Any] = {"input_size": inputs, "hidden_size": hidden}
    beta = draw(st.sampled_from(["none", "number", "one", "each"]))
    if beta == "number":
        params["beta"] = draw(hundredths(-0.5, 1.5))
    elif beta == "one":
        params["beta"] = [draw(hundredths(0.0, 1.0))]
    elif beta == "each":
        params["beta"] = draw(st.lists(hundredths(0.0, 1.0), min_size=hidden, max_size=hidden))
    params["threshold"] = draw(threshold_value(0.05, 0.8, hidden))
    for key in ("bias", "learn_beta", "learn_threshold", "learn_graded_spikes_factor", "weight_hh_enable"):
        _maybe(key, st.booleans(), params, draw)
    _maybe("graded_spikes_factor", threshold_value(0.5, 2.0, hidden), params, draw)
    _maybe("dropout", hundredths(0.0, 0.9), params, draw)
    _maybe("spike_grad", spike_grad(), params, draw)
    if draw(st.integers(0, 9)) == 0:
        params["surrogate_disable"] = True
    case["params"] = params
    case["input"] = draw(input_spec(1.0))
    return case


@st.composite
def sinabs_options(draw, sample_shape: list[int], recurrent: bool) -> dict[str, Any]:
    params: dict[str, Any] = {}
    train_alphas = draw(st.booleans())
    if train_alphas:
        params["train_alphas"] = True
    for key, low, high in (("tau_mem", 1.5, 10.0), ("tau_adapt", 2.0, 60.0)):
        form = draw(st.sampled_from(["number", "last-axis", "channels"] if len(sample_shape) == 3
                                    else ["number", "last-axis"]))
        if form == "number":
            params[key] = draw(hundredths(low, high))
        elif form == "last-axis":
            params[key] = draw(st.lists(hundredths(low, high), min_size=sample_shape[-1], max_size=sample_shape[-1]))
        else:
            params[key] = [[[v]] for v in draw(st.lists(hundredths(low, high), min_size=sample_shape[0],
                                                          max_size=sample_shape[0]))]
    if draw(st.booleans()):
        params["tau_syn"] = draw(hundredths(1.0, 10.0))
    _maybe("adapt_scale", hundredths(0.0, 2.0), params, draw)
    _maybe("spike_threshold", hundredths(0.05, 1.0), params, draw)
    spike_fn = draw(st.sampled_from(["SingleSpike", "MultiSpike", "MaxSpike"]))
    if spike_fn != "SingleSpike" or draw(st.booleans()):
        params["spike_fn"] = {"type": spike_fn}
        if spike_fn == "MaxSpike":
            params["spike_fn"]["max_num_spikes_per_bin"] = draw(st.integers(1, 4))
    reset = draw(st.sampled_from(["MembraneSubtract", "MembraneReset"]))
    if reset == "MembraneSubtract":
        table: dict[str, Any] = {"type": reset}
        _maybe("subtract_value", hundredths(0.1, 1.5), table, draw)
    else:
        table = {"type": reset}
        _maybe("reset_value", hundredths(-0.5, 0.5), table, draw)
    if draw(st.booleans()) or reset != "MembraneSubtract" or len(table) > 1:
        params["reset_fn"] = table
    surrogate = draw(st.sampled_from(["SingleExponential", "Heaviside", "Gaussian", "MultiGaussian",
                                      "PeriodicExponential"]))
    table = {"type": surrogate}
    if surrogate in ("SingleExponential", "PeriodicExponential"):
        _maybe("grad_width", hundredths(0.1, 1.0), table, draw)
    if surrogate == "Heaviside":
        _maybe("window", hundredths(0.1, 1.0), table, draw)
    if surrogate in ("Gaussian", "MultiGaussian"):
        _maybe("mu", hundredths(-0.5, 0.5), table, draw)
        _maybe("sigma", hundredths(0.1, 1.0), table, draw)
    if surrogate == "MultiGaussian":
        _maybe("h", hundredths(0.0, 0.5), table, draw)
        _maybe("s", hundredths(1.0, 8.0), table, draw)
    if surrogate != "Heaviside":
        _maybe("grad_scale", hundredths(0.1, 2.0), table, draw)
    if draw(st.booleans()) or len(table) > 1 or surrogate != "SingleExponential":
        params["surrogate_grad_fn"] = table
    if draw(st.booleans()):
        params["min_v_mem"] = draw(hundredths(-2.0, -0.1))
    _maybe("norm_input", st.booleans(), params, draw)
    _maybe("record_states", st.booleans(), params, draw)
    if recurrent:
        params["rec_connect"] = draw(rec_connect(sample_shape))
    return params


@st.composite
def rec_connect(draw, sample_shape: list[int]) -> dict[str, Any]:
    if len(sample_shape) == 1 or draw(st.booleans()):
        table: dict[str, Any] = {"type": "Linear"}
        _maybe("bias", st.booleans(), table, draw)
        return table
    channels = sample_shape[0]
    k_h, k_w = draw(st.sampled_from([1, 3])), draw(st.sampled_from([1, 3]))
    table = {"type": "Conv2d", "kernel_size": k_h if k_h == k_w and draw(st.booleans()) else [k_h, k_w]}
    pad = [(k_h - 1) // 2, (k_w - 1) // 2]
    table["padding"] = pad[0] if pad[0] == pad[1] and draw(st.booleans()) else pad
    groups = draw(st.sampled_from([g for g in range(1, channels + 1) if channels % g == 0]))
    if groups > 1:
        table["groups"] = groups
    _maybe("bias", st.booleans(), table, draw)
    return table


@st.composite
def alif(draw, recurrent: bool = False) -> dict[str, Any]:
    if draw(st.booleans()):
        sample_shape = [draw(st.integers(1, 8))]
    else:
        sample_shape = [draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    neuron = "alifrecurrent" if recurrent else "alif"
    case = draw(common(neuron, sample_shape, steps=(1, 10)))
    case["params"] = draw(sinabs_options(sample_shape, recurrent))
    case["input"] = draw(input_spec(3.0))
    return case


STRATEGIES = {
    "slstm": slstm(),
    "sconv2dlstm": sconv2dlstm(),
    "leakyparallel": leakyparallel(),
    "alif": alif(),
    "alifrecurrent": alif(recurrent=True),
}
