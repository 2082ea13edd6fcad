"""tanh(x) = 1 - 2 sigmoid(-2 x): the form our LSTM cells use on their CPU hot paths.

On CPU torch's sigmoid is several times cheaper than its tanh (measurements in
docs/performance.md). It is the same function: the difference from ``torch.tanh`` is an absolute
rounding error of about one ulp of 1 (from the final subtraction), far inside the equivalence
tolerances. Scaling by -2 is exact (a power of two and a sign), so a pre-activation can be scaled
upstream, in the rows of the weights that produce it, leaving one sigmoid over all the gates of
a cell (see the SLSTM and SConv2dLSTM). A product with tanh then folds into one fused op:
a tanh(x) = a - 2 a sigmoid(-2 x) is ``addcmul(a, a, s, value=-2)``, and the derivative is
1 - tanh(x)^2 = 4 s (1 - s), the sigmoid's own derivative times 4.
"""

from __future__ import annotations

import torch


_MINUS_TWO: dict = {}


def minus_two_like(like: torch.Tensor) -> torch.Tensor:
    """A 0-dim -2 of ``like``'s dtype and device, made once per dtype and device (for
    :func:`neg_double_sigmoid_into`)."""
    key = (like.dtype, like.device)
    if key not in _MINUS_TWO:
        _MINUS_TWO[key] = torch.full((), -2.0, dtype=like.dtype, device=like.device)
    return _MINUS_TWO[key]


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
