"""Speed of light: the ideal work (flops, bytes moved) that each neuron's spec declares for a case,
which the bench divides into its measured times. (SLSTM's and the default: test_bench.py.)"""

from __future__ import annotations

import torch

from snnbench import specs


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


def test_speed_of_light_is_the_step_convolutions():
    spec = specs.get("sconv2dlstm")
    case = next(c for c in specs.standard_cases("sconv2dlstm") if c.bench).with_sizes(batch=2)
    forward = spec.speed_of_light(case, torch.float32, "cpu", "forward")
    train = spec.speed_of_light(case, torch.float32, "cpu", "train")
    p, (height, width) = case.params, case.sample_shape[1:]
    macs_per_step = case.batch * height * width * 4 * p["out_channels"] * (p["in_channels"] + p["out_channels"]) * 9
    assert forward.flops == 2 * macs_per_step * case.steps
    assert train.flops == 3 * forward.flops        # + input grads per step, one weight grad over all
    assert "convolutions" in forward.description
    forward()


def test_speed_of_light_is_the_projection_matmuls_and_the_elementwise_passes():
    spec = specs.get("leakyparallel")
    case = next(c for c in specs.standard_cases("leakyparallel") if c.bench)
    I, H = case.params["input_size"], case.params["hidden_size"]
    small = case.with_sizes(steps=3, batch=2)
    forward = spec.speed_of_light(small, torch.float32, "cpu", "forward")
    train = spec.speed_of_light(small, torch.float32, "cpu", "train")
    assert forward.flops == 2 * 3 * 2 * I * H
    assert train.flops == 3 * forward.flops                  # + d(input) and d(W_ih), same size
    assert forward.bytes_moved == 3 * 3 * 2 * H * 4          # read a, write mem and spk
    assert train.bytes_moved == 7 * 3 * 2 * H * 4            # + read mem, d(spk), d(mem), write d(a)
    forward()
    train()
    dense = spec.speed_of_light(small.with_params(weight_hh_enable=True), torch.float32, "cpu", "forward")
    assert dense.flops == forward.flops + 3 * 2 * 2 * H * H  # one (B, H) @ (H, H) per step
