"""State quantisation (snntorch's ``state_quant``), torch only.

A state value is replaced by the nearest of a fixed set of levels (the first one on a tie); the
gradient passes straight through. The levels are built as snntorch builds them, in float32:
uniform ``linspace(-thr*(1+lower), thr*(1+upper), 2**num_bits)``, or non-uniform geometric
spacing (base ``multiplier``) packed towards the threshold or towards zero.
"""

from __future__ import annotations

import math

import torch

_DEFAULT_MULTIPLIER = {1: 0.05, 2: 0.1, 3: 0.3, 4: 0.5, 5: 0.7, 6: 0.9, 7: 0.925}


def _geometric(count: int, start: float, span: float, multiplier: float, ascending: bool) -> list[float]:
    """``count`` levels from ``start`` across ``span``, step j of size multiplier**j (normalised).

    The normalising sum adds the terms from the smallest (j = count - 1) to the largest, and the
    share of levels below the centre is ``floor(levels * (below / whole))``, in that order, as
    snntorch computes them: another order differs in the last bit for some settings."""
    if count == 0:
        return []
    total = 0.0
    for j in reversed(range(count)):
        total += multiplier ** j
    room = total / span
    levels, value = [], start
    if ascending:
        for j in range(count):
            levels.append(value)
            value += multiplier ** j / room
    else:
        for j in reversed(range(count)):
            value += multiplier ** j / room
            levels.append(value)
    return levels


def quant_levels(num_bits: int = 8, uniform: bool = True, thr_centered: bool = True, threshold: float = 1,
                 lower_limit: float = 0, upper_limit: float = 0.2, multiplier: float | None = None) -> torch.Tensor:
    num_levels = 2 << num_bits - 1
    low = -(threshold + threshold * lower_limit)
    high = threshold + threshold * upper_limit
    if uniform:
        return torch.linspace(low, high, num_levels, dtype=torch.float32)
    if multiplier is None:
        multiplier = _DEFAULT_MULTIPLIER.get(num_bits, 0.95)
    centre = threshold if thr_centered else 0
    below = (centre - low) / (high - low)
    lower_count = math.floor(num_levels * below)
    upper_count = num_levels - lower_count
    levels = _geometric(lower_count, low, centre - low, multiplier, ascending=True)
    levels += _geometric(upper_count, centre, high - centre, multiplier, ascending=False)
    return torch.tensor(levels, dtype=torch.float32)


class _NearestLevel(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
        levels = levels.to(x.device)
        index = torch.min(torch.abs(levels - x.reshape(-1, 1)), dim=-1)[1]
        return levels[index].reshape(x.shape)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad.clone(), None


class StateQuant:
    """Callable quantiser: ``q(x)`` snaps every element of x to the nearest level."""

    def __init__(self, **options):
        self.options = options
        self.levels = quant_levels(**options)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _NearestLevel.apply(x, self.levels)

    def __repr__(self) -> str:
        return f"StateQuant({', '.join(f'{k}={v}' for k, v in self.options.items())})"
