"""Seeded tensors for a case: the input sequence, initial states and upstream gradients.

Every tensor is drawn in float64 on the CPU from its own generator stream and then cast, so the
float32 and float64 runs of a case see the same values (up to rounding) on every device.
"""

from __future__ import annotations

import torch

from snnbench.cases import Case

# Offsets that keep the streams of one seed apart.
WEIGHTS, INPUT, STATE, UPSTREAM = 0, 1, 2, 3


def generator(case: Case, stream: int) -> torch.Generator:
    return torch.Generator().manual_seed(case.seed * 4 + stream)


def _draw(shape: tuple[int, ...], dist: str, args, gen: torch.Generator) -> torch.Tensor:
    if dist == "uniform":
        return torch.rand(shape, generator=gen, dtype=torch.float64) * (args["high"] - args["low"]) + args["low"]
    if dist == "normal":
        return torch.randn(shape, generator=gen, dtype=torch.float64) * args["std"] + args["mean"]
    if dist == "bernoulli":
        return (torch.rand(shape, generator=gen, dtype=torch.float64) < args["p"]).to(torch.float64)
    raise ValueError(f"unknown distribution {dist!r}")


def make_input(case: Case, dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
    """The input sequence, time-major: (steps, batch, *sample_shape)."""
    shape = (case.steps, case.batch, *case.sample_shape)
    return _draw(shape, case.input.dist, case.input.args, generator(case, INPUT)).to(device=device, dtype=dtype)


def make_state(case: Case, shape: tuple[int, ...], dtype: torch.dtype, device, gen: torch.Generator,
               low: float = -0.5, high: float = 0.5) -> torch.Tensor:
    """One initial state tensor: zeros, or uniform(low, high) when the case asks for a random state."""
    if case.initial_state == "zeros":
        return torch.zeros(shape, dtype=dtype, device=device)
    values = torch.rand(shape, generator=gen, dtype=torch.float64) * (high - low) + low
    return values.to(device=device, dtype=dtype)


def upstream_gradients(case: Case, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A random upstream gradient (standard normal) for every output field, in a fixed order."""
    gen = generator(case, UPSTREAM)
    return {name: torch.randn(t.shape, generator=gen, dtype=torch.float64).to(device=t.device, dtype=t.dtype)
            for name, t in like.items()}
