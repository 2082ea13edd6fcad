"""tanh as 2 sigmoid(2 x) - 1: the form our LSTM cells use on their hot paths.

On CPU torch's sigmoid is several times cheaper than its tanh, so this is faster even as four
operations (measurements in docs/performance.md). It is the same function: the difference from
``torch.tanh`` is an absolute rounding error of about one ulp of 1 (from the final
subtraction), far inside the equivalence tolerances. Doubling is exact (a power
of two), so a pre-activation can also be doubled upstream, in the rows of the weights that
produce it, leaving one sigmoid over all the gates of a cell (see the SLSTM and SConv2dLSTM).
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


def doubled_rows(tensor: torch.Tensor, rows: slice, memory_format=torch.preserve_format) -> torch.Tensor:
    """A copy of ``tensor`` (weights or biases) with ``rows`` of its first axis times 2: the outputs
    they produce are then exactly twice the pre-activation, ready for one sigmoid and
    :func:`tanh_from_sigmoid_`."""
    doubled = tensor.clone(memory_format=memory_format)
    doubled[rows] *= 2
    return doubled
