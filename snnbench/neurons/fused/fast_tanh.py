"""tanh as 2 sigmoid(2 x) - 1 = 1 - 2 sigmoid(-2 x): the forms our LSTM cells use on their hot paths.

On CPU torch's sigmoid is several times cheaper than its tanh, so this is faster even as four
operations (measurements in docs/performance.md). It is the same function: the difference from
``torch.tanh`` is an absolute rounding error of about one ulp of 1 (from the final
subtraction), far inside the equivalence tolerances. Doubling is exact (a power
of two), so a pre-activation can also be doubled upstream, in the rows of the weights that
produce it, leaving one sigmoid over all the gates of a cell (see the SLSTM and SConv2dLSTM).

The mirrored form tanh(x) = 1 - 2 sigmoid(-2 x) lets a product with tanh fold into one fused
op: a tanh(x) = a - 2 a sigmoid(-2 x) is ``addcmul(a, a, s, value=-2)``, and the derivative is
1 - tanh(x)^2 = 4 s (1 - s), the sigmoid's own derivative times 4 (see SConv2dLSTM). Its
rounding is of the same size as the other form's (about one ulp of 1, absolute).
"""

from __future__ import annotations

import torch


def tanh_into(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """tanh(x) = 2 sigmoid(2 x) - 1, written into ``out`` (which is returned). 2 x is formed as
    x + x (exact, the same value): an out-of-place multiply by a Python number takes a slower
    kernel on CPU."""
    return torch.add(x, x, out=out).sigmoid_().mul_(2).sub_(1)


def tanh_from_sigmoid_(s: torch.Tensor) -> torch.Tensor:
    """In place: sigmoid(2 x) -> tanh(x) = 2 s - 1."""
    return s.mul_(2).sub_(1)


def neg_double_sigmoid_into(x: torch.Tensor, out: torch.Tensor, minus_two: torch.Tensor) -> torch.Tensor:
    """sigmoid(-2 x) into ``out`` (returned); ``minus_two`` is a 0-dim tensor -2 of x's dtype (an
    out-of-place multiply by a Python number takes a slower kernel on CPU). tanh(x) = 1 - 2 out."""
    return torch.mul(x, minus_two, out=out).sigmoid_()


def scaled_rows(tensor: torch.Tensor, rows: slice, factor: float,
                memory_format=torch.preserve_format) -> torch.Tensor:
    """A copy of ``tensor`` with ``rows`` of its first axis times ``factor`` (a power of two, or
    minus one: exact)."""
    scaled = tensor.clone(memory_format=memory_format)
    scaled[rows] *= factor
    return scaled


def doubled_rows(tensor: torch.Tensor, rows: slice, memory_format=torch.preserve_format) -> torch.Tensor:
    """A copy of ``tensor`` (weights or biases) with ``rows`` of its first axis times 2: the outputs
    they produce are then exactly twice the pre-activation, ready for one sigmoid and
    :func:`tanh_from_sigmoid_`."""
    doubled = tensor.clone(memory_format=memory_format)
    doubled[rows] *= 2
    return doubled
