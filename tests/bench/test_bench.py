"""Benchmarks: statistics with known answers, interleaved pairing, the CLI end to end on a tiny
case, real peak memory that grows with the batch, speed-of-light work, and bad inputs.
Timing speeds are never asserted: only structure and what must hold on any machine."""

import json
import os

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from snnbench import cases, implementations, results, specs, values
from snnbench.bench import memory, stats, timing, workload
from snnbench.cli import app
from snnbench.specs.base import NeuronSpec

import tiny

cli = CliRunner()


def _build(case, dtype=torch.float32, device="cpu"):
    """The workload of ours and the reference for one case."""
    return workload.build(case, dtype, device, [implementations.native(case.neuron)],
                          implementations.reference(case.neuron))

TINY = tiny.SLSTM + """
[[case]]
name = "not-bench"
neuron = "slstm"
steps = 4
batch = 3
sample_shape = [8]
seed = 4
[case.params]
input_size = 8
hidden_size = 8
threshold = 0.05
"""

RESULT_KEYS = {"neuron", "case", "device", "dtype", "mode", "impl", "samples_s", "median_s", "iqr_s",
               "repeats", "throughput", "peak_mem_bytes", "mem_method", "sol_ratio", "warnings", "case_spec"}
COMPARISON_KEYS = {"neuron", "case", "device", "dtype", "mode", "speedup", "ci", "ratios", "n_pairs"}


@pytest.fixture
def tiny_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def run(*args):
    result = cli.invoke(app, [str(a) for a in args])
    assert "Traceback" not in (result.output or ""), result.output
    return result


# ---- statistics ---------------------------------------------------------------------------------
def test_median_and_iqr_known_values():
    assert stats.median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert stats.iqr([1.0, 2.0, 3.0, 4.0]) == pytest.approx(1.5)      # 3.25 - 1.75
    assert stats.median([5.0, 1.0, 3.0]) == 3.0
    assert stats.iqr(list(range(1, 10))) == pytest.approx(4.0)       # 7 - 3
    assert stats.iqr([2.0] * 5) == 0.0


def test_noise_warning_only_when_spread_is_large():
    assert stats.noise_warning([1.0, 1.0, 1.01, 1.0]) is None
    warning = stats.noise_warning([1.0, 2.0, 3.0, 4.0])               # IQR 1.5 / median 2.5 = 60%
    assert warning is not None and "60%" in warning


def test_paired_ratios_divide_pair_by_pair():
    assert stats.paired_ratios([2.0, 9.0], [1.0, 3.0]) == [2.0, 3.0]
    with pytest.raises(ValueError):
        stats.paired_ratios([1.0], [1.0, 2.0])


def test_bootstrap_interval_of_constant_is_that_constant():
    assert stats.bootstrap_median_ci([1.7] * 20) == (1.7, 1.7)


def test_clustered_bootstrap_widens_with_disagreeing_clusters_and_is_plain_for_one():
    rng = np.random.default_rng(4)
    values = list(1 + 0.01 * rng.standard_normal(40))
    assert stats.bootstrap_median_ci_clustered(values, [0] * 40) == stats.bootstrap_median_ci(values)
    apart = [v * (1.3 if i % 4 == 1 else 1.0) for i, v in enumerate(values)]   # one cluster of four 30% off
    clusters = [i % 4 for i in range(40)]
    lo_p, hi_p = stats.bootstrap_median_ci(apart)
    lo_c, hi_c = stats.bootstrap_median_ci_clustered(apart, clusters)
    assert hi_p < 1.05                                     # pooled, the odd cluster hardly moves the median
    assert lo_c <= 1.0 and hi_c >= 1.25                    # drawn twice or more, it does
    with pytest.raises(ValueError):
        stats.bootstrap_median_ci_clustered(values, clusters[:-1])


def test_the_pairs_of_ab_workers_share_their_cpus_in_turn():
    from snnbench.bench import ab

    available = sorted(os.sched_getaffinity(0))
    assert ab.shared_cpus(0, len(available)) is None            # they need every CPU: no pinning
    if len(available) >= 2:
        firsts = {min(ab.shared_cpus(k, 1)) for k in range(len(available))}
        assert firsts == set(available)                         # each pair on the next CPU
        assert all(len(ab.shared_cpus(k, 1)) == 1 for k in range(3))


def test_bootstrap_interval_brackets_the_median_and_narrows_with_more_data():
    small = [float(v) for v in range(1, 12)]            # median 6
    large = [float(v) for v in range(1, 12)] * 20       # same distribution, 20x the samples
    lo_s, hi_s = stats.bootstrap_median_ci(small)
    lo_l, hi_l = stats.bootstrap_median_ci(large)
    assert lo_s <= 6.0 <= hi_s and lo_l <= 6.0 <= hi_l
    assert hi_l - lo_l < hi_s - lo_s
    assert stats.bootstrap_median_ci(small) == (lo_s, hi_s)  # fixed seed: repeatable


# ---- interleaving -------------------------------------------------------------------------------
def test_interleaved_rounds_alternate_and_pair_samples():
    order = []
    rounds = {"a": 0, "b": 0}

    def fake_timer(fn):
        """Round k takes k seconds for a and 2k for b: only a true pairing gives ratio 2 each time."""
        fn()
        name = order[-1]
        rounds[name] += 1
        return rounds[name] * (1.0 if name == "a" else 2.0)

    calls = {"a": lambda: order.append("a"), "b": lambda: order.append("b")}
    settings = timing.Settings(warmup_calls=1, warmup_s=0.0, min_time_s=0.0, min_repeats=5, max_repeats=5)
    samples = timing.interleaved(calls, settings, fake_timer)
    timed = order[2:]                                   # after one warm-up call each
    assert timed == ["a", "b"] * 5
    assert len(samples["a"]) == len(samples["b"]) == 5
    assert stats.paired_ratios(samples["b"], samples["a"]) == [2.0] * 5
    assert stats.median(samples["a"]) == 4.0            # rounds 2..6 (round 1 was the warm-up)


def test_interleaved_runs_until_the_slowest_reaches_min_time():
    calls = {"a": lambda: None, "b": lambda: None}
    settings = timing.Settings(warmup_calls=0, warmup_s=0.0, min_time_s=3.0, min_repeats=1, max_repeats=100)
    samples = timing.interleaved(calls, settings, lambda fn: (fn(), 1.0 if fn is calls["a"] else 0.5)[1])
    assert len(samples["a"]) == 3 and len(samples["b"]) == 3


# ---- workload and speed of light ------------------------------------------------------------------
def _tiny_case(tmp_path, **sizes):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    case = specs.load_cases(path)[0]
    return case.with_sizes(**sizes) if sizes else case


def test_train_call_gives_both_impls_the_same_gradients(tmp_path):
    """Same weights, input and loss: the train calls of ours and theirs compute the same gradients.

    float64, judged like compare judges gradients (max error over max magnitude), at 1e-6: the
    reference returns spk as float32 even for float64 input, so on its side the spike path's
    upstream gradient is rounded to float32 (a different loss would be off by O(1))."""
    case = _tiny_case(tmp_path)
    built = _build(case, torch.float64)
    try:
        for impl in ("native", "reference"):
            built.call(impl, "train")()
        ref_params = dict(built.modules["reference"][1].named_parameters())
        nat_params = dict(built.modules["native"][1].named_parameters())
        compared = 0
        for ours, theirs in specs.get("slstm").parameters.items():
            if theirs in ref_params:
                g_ref, g_nat = ref_params[theirs].grad, nat_params[ours].grad
                assert g_ref is not None and g_nat is not None, ours
                assert float((g_nat - g_ref).abs().max() / g_ref.abs().max()) < 1e-6, ours
                compared += 1
        assert compared == 4
    finally:
        built.close()
    assert built.neurons_per_sample == 8


def test_train_call_feeds_the_gradient_of_the_upstream_loss(tmp_path):
    """The train call hands the upstream gradients to autograd directly: the same gradients as
    backward of sum_f sum(out_f * upstream_f)."""
    case = _tiny_case(tmp_path)
    built = _build(case, torch.float64)
    assert built.train_fields == ("spk", "syn", "mem")
    try:
        for impl in ("native", "reference"):
            call = built.call(impl, "train")
            call()
            chosen, module = built.modules[impl]
            fed = [call.leaf.grad.clone()] + [p.grad.clone() for p in module.parameters() if p.requires_grad]
            built.clear_grads()
            x = call.leaf.detach().clone().requires_grad_(True)
            trace = chosen.run(module, x, built.state0)
            sum((trace[name] * g).sum() for name, g in built.upstream.items()).backward()
            explicit = [x.grad] + [p.grad for p in module.parameters() if p.requires_grad]
            assert len(fed) == len(explicit) > 1
            for a, b in zip(fed, explicit):
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    finally:
        built.close()


def test_slstm_speed_of_light_train_is_three_times_forward_flops(tmp_path):
    spec = specs.get("slstm")
    case = _tiny_case(tmp_path)
    T, B, I, H = case.steps, case.batch, 8, 8
    forward = spec.speed_of_light(case, torch.float32, "cpu", "forward")
    train = spec.speed_of_light(case, torch.float32, "cpu", "train")
    assert forward.flops == 2 * T * B * I * 4 * H + T * 2 * B * H * 4 * H
    assert train.flops == 3 * forward.flops
    forward()
    train()
    unequal = case.with_params(input_size=12).with_sizes(sample_shape=(12,))
    no_recurrence = spec.speed_of_light(unequal, torch.float32, "cpu", "forward")
    assert no_recurrence.flops == 2 * T * B * 12 * 4 * H   # state zeroed every step: no W_hh work


def test_default_speed_of_light_copies_input_and_outputs(tmp_path):
    spec = specs.get("slstm")
    case = _tiny_case(tmp_path)
    work = NeuronSpec.speed_of_light(spec, case, torch.float32, "cpu", "forward")
    numel = case.steps * case.batch * (8 + 3 * 8)       # input + spk, syn, mem
    assert work.bytes_moved == 2 * numel * 4            # read and written once
    assert NeuronSpec.speed_of_light(spec, case, torch.float32, "cpu", "train").bytes_moved == 2 * work.bytes_moved
    work()


# ---- memory ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_cpu_peak_memory_rises_with_batch(tmp_path):
    case = _tiny_case(tmp_path, steps=10, sample_shape=(512,)).with_params(input_size=512, hidden_size=512)
    peaks = {}
    for batch in (8, 512):
        sized = case.with_sizes(batch=batch)
        built = _build(sized)
        built.close()
        peaks[batch], method = memory.cpu_peak(cases.to_spec(sized), "native", "forward", "float32",
                                               built.output_shapes, built.train_fields, 2)
        assert method.startswith("cpu-peak-rss-subprocess")
    # B=512 materialises (T, B, 4H) gates and three (T, B, H) outputs: ~73 MB in float32.
    assert peaks[512] > 4 * peaks[8]
    assert peaks[512] - peaks[8] > 30 * 2 ** 20


@pytest.mark.slow
def test_cpu_peak_memory_does_not_inherit_the_parents_size(tmp_path):
    """The child is forked from this process: its ru_maxrss starts at our size, its VmHWM does not."""
    case = _tiny_case(tmp_path)
    built = _build(case)
    built.close()
    ballast = torch.ones(64 * 2 ** 20)          # 256 MiB resident in the parent
    peak, _ = memory.cpu_peak(cases.to_spec(case), "native", "forward", "float32", built.output_shapes,
                              built.train_fields, 1)
    assert float(ballast[-1]) == 1.0
    assert peak < 32 * 2 ** 20                  # a 4 x 3 x 8 case needs far less than the ballast


# ---- the command line -------------------------------------------------------------------------------
def test_bench_quick_writes_a_loadable_report(tiny_file, tmp_path):
    out = tmp_path / "b.json"
    result = run("bench", "slstm", "--case-file", tiny_file, "--case", "tiny", "--quick", "--mode", "forward",
                 "--json", out)
    assert result.exit_code == 0, result.output
    report = results.load(out, "bench")
    rows = report["results"]
    assert [r["case"] for r in rows] == ["tiny"] * 3          # only the named case ran
    assert [r["impl"] for r in rows] == ["native", "reference", "sol"]
    for r in rows:
        assert RESULT_KEYS <= set(r), RESULT_KEYS - set(r)
        assert r["mode"] == "forward" and r["device"] == "cpu" and r["dtype"] == "float32"
        assert r["repeats"] == len(r["samples_s"]) >= 3
        assert r["median_s"] == pytest.approx(stats.median(r["samples_s"]))
        assert r["throughput"]["sequences_per_s"] == pytest.approx(2 / r["median_s"])   # tiny: batch 2
        assert r["throughput"]["neuron_steps_per_s"] == pytest.approx(8 * 4 * 2 / r["median_s"])
        assert cases.from_spec(r["case_spec"], "test").name == "tiny"
    by_impl = {r["impl"]: r for r in rows}
    assert by_impl["sol"]["sol_ratio"] is None and by_impl["sol"]["peak_mem_bytes"] is None
    for impl in ("native", "reference"):
        assert by_impl[impl]["sol_ratio"] == pytest.approx(by_impl[impl]["median_s"] / by_impl["sol"]["median_s"])
        # measured (a tiny case may need no page beyond what the allocator already holds: 0 is honest)
        assert isinstance(by_impl[impl]["peak_mem_bytes"], int) and by_impl[impl]["peak_mem_bytes"] >= 0
        assert by_impl[impl]["mem_method"].startswith("cpu-peak-rss-subprocess")
    (comparison,) = report["comparisons"]
    assert COMPARISON_KEYS <= set(comparison) and comparison["impl"] == "native"
    assert comparison["n_pairs"] == len(comparison["ratios"]) == by_impl["native"]["repeats"]
    assert comparison["ratios"] == pytest.approx(
        [r / n for r, n in zip(by_impl["reference"]["samples_s"], by_impl["native"]["samples_s"])])
    lo, hi = comparison["ci"]
    assert lo <= comparison["speedup"] <= hi
    shown = run("report", out, "--markdown")
    assert shown.exit_code == 0 and "speedup" in shown.output and "| tiny |" in shown.output


def test_bench_train_native_only_has_no_comparison(tiny_file, tmp_path):
    out = tmp_path / "b.json"
    result = run("bench", "slstm", "--case-file", tiny_file, "--case", "tiny", "--quick", "--mode", "train", "--impl", "native",
                 "--no-memory", "--threads", "1", "--json", out)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert [r["impl"] for r in report["results"]] == ["native", "sol"]
    assert report["comparisons"] == []
    assert report["settings"]["threads"] == 1


@pytest.mark.parametrize("args, message", [
    (["--mode", "sideways"], "--mode"),
    (["--impl", "both"], "--impl"),
    (["--dtype", "float16"], "--dtype"),
    (["--threads", "0"], "--threads"),
    (["--shard", "3/2"], "--shard"),
    (["--min-time", "0"], "--min-time"),
    (["--case", "nope"], "unknown case"),
])
def test_bad_bench_inputs_exit_2_in_one_line(tiny_file, tmp_path, args, message):
    result = run("bench", "slstm", "--case-file", tiny_file, "--json", tmp_path / "b.json", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "b.json").exists()


def test_unknown_neuron_exits_2(tmp_path):
    result = run("bench", "nosuchneuron", "--json", tmp_path / "b.json")
    assert result.exit_code == 2 and "unknown neuron" in result.output


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_exits_2(tiny_file, tmp_path):
    result = run("bench", "slstm", "--case-file", tiny_file, "--device", "cuda", "--json", tmp_path / "b.json")
    assert result.exit_code == 2 and "CUDA is not available" in result.output


# ---- CUDA (skipped without a GPU) -----------------------------------------------------------------
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_bench_uses_events_and_allocator_peak(tiny_file, tmp_path):
    out = tmp_path / "b.json"
    result = run("bench", "slstm", "--case-file", tiny_file, "--case", "tiny", "--quick", "--device", "cuda", "--json", out)
    assert result.exit_code == 0, result.output
    report = results.load(out, "bench")
    for r in report["results"]:
        assert r["device"] == "cuda" and all(s > 0 for s in r["samples_s"])
        if r["impl"] != "sol":
            assert r["mem_method"] == memory.CUDA_METHOD and r["peak_mem_bytes"] > 0
    assert report["environment"].get("gpu")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_peak_memory_rises_with_batch(tmp_path):
    case = _tiny_case(tmp_path, steps=10, sample_shape=(512,)).with_params(input_size=512, hidden_size=512)
    peaks = {}
    for batch in (8, 512):
        built = _build(case.with_sizes(batch=batch), device="cuda")
        fn = built.call("native", "train")
        fn()  # warm-up: cuBLAS workspaces and other lazy allocations are not the call's memory
        peaks[batch] = memory.cuda_peak(fn, "cuda", built.clear_grads)
        built.close()
    assert peaks[512] > 4 * peaks[8] > 0


# ---- sweep and profile ------------------------------------------------------------------------------
def test_parse_vary():
    from snnbench.errors import SnnbenchError

    assert values.parse_vary("steps=10,100,1000") == ("steps", [10, 100, 1000])
    assert values.parse_vary("threshold=0.05, 0.1") == ("threshold", [0.05, 0.1])
    for bad in ("steps", "steps=", "steps=10", "steps=10,x", "steps=10,10", "batch=0,4", "=1,2"):
        with pytest.raises(SnnbenchError):
            values.parse_vary(bad)


def test_varied_cases_are_valid_cases(tmp_path):
    from snnbench.bench import sweep

    case = _tiny_case(tmp_path)
    points = sweep.varied_cases(case, "hidden_size", [8, 16])
    assert [p.params["hidden_size"] for p in points] == [8, 16]
    assert [sweep.value_of({"case_spec": cases.to_spec(p)}, "hidden_size") for p in points] == [8, 16]
    for p in points:  # names survive the round trip through a report's case_spec
        assert cases.from_spec(cases.to_spec(p), "test").name == p.name
    with pytest.raises(Exception, match="sample_shape"):
        sweep.varied_cases(case, "input_size", [8, 16])   # 16 needs sample_shape [16]


def test_sweep_writes_report_and_png(tiny_file, tmp_path):
    out, png = tmp_path / "s.json", tmp_path / "s.png"
    result = run("sweep", "slstm", "--case-file", tiny_file, "--vary", "batch=2,6", "--quick", "--no-memory",
                 "--impl", "native", "--json", out, "--png", png)
    assert result.exit_code == 0, result.output
    report = results.load(out, "bench")
    assert report["sweep"] == {"key": "batch", "values": [2, 6], "case": "tiny"}
    assert sorted({r["case_spec"]["batch"] for r in report["results"]}) == [2, 6]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_bad_vary_exits_2(tiny_file, tmp_path):
    result = run("sweep", "slstm", "--case-file", tiny_file, "--vary", "colour=1,2", "--json", tmp_path / "s.json")
    assert result.exit_code == 2 and "colour" in result.output


def test_plot_without_matplotlib_is_one_line_error(monkeypatch):
    import sys

    from snnbench.bench import plot
    from snnbench.errors import SnnbenchError

    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib -> ImportError
    with pytest.raises(SnnbenchError, match=r"snnbench\[plot\]"):
        plot.require_matplotlib()


def test_profile_prints_operators_and_writes_chrome_trace(tiny_file, tmp_path):
    trace = tmp_path / "trace.json"
    result = run("profile", "slstm", "--case-file", tiny_file, "--mode", "train", "--calls", "1", "--trace", trace)
    assert result.exit_code == 0, result.output
    assert "aten::" in result.output and str(trace) in result.output.replace("\n", "")
    events = json.loads(trace.read_text())["traceEvents"]
    assert any(str(e.get("name", "")).startswith("aten::") for e in events)


def test_profile_bad_impl_exits_2(tiny_file):
    result = run("profile", "slstm", "--case-file", tiny_file, "--impl", "all")
    assert result.exit_code == 2


def test_profile_bad_threads_exits_2(tiny_file):
    result = run("profile", "slstm", "--case-file", tiny_file, "--threads", "0")
    assert result.exit_code == 2 and "--threads must be from 1 to" in result.output


@pytest.mark.slow
def test_cpu_train_peak_counts_the_gradients(tmp_path):
    """A train call allocates a gradient for every weight: its peak is at least their size (the
    gradients of the previous call are freed before the baseline, not counted in it)."""
    case = _tiny_case(tmp_path, steps=4, batch=2, sample_shape=(512,)).with_params(input_size=512, hidden_size=512)
    built = _build(case)
    weight_bytes = sum(p.numel() * 4 for p in built.modules["native"][1].parameters())   # 8 MiB of weights
    built.close()
    peak, _ = memory.cpu_peak(cases.to_spec(case), "reference", "train", "float32", built.output_shapes,
                              built.train_fields, 1)
    assert peak >= weight_bytes
