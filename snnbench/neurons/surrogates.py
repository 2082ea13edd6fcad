"""Spike functions with surrogate gradients, as autograd Functions (torch only).

Every function here takes the shifted membrane ``u = mem - threshold`` and emits the Heaviside
step ``S = 1 if u > 0 else 0`` (strictly greater, as snntorch does) in ``u``'s dtype; they
differ only in the gradient they pass back.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

SpikeFn = Callable[[torch.Tensor], torch.Tensor]


def step(u: torch.Tensor) -> torch.Tensor:
    """``(u > 0)`` in ``u``'s dtype, written straight into a float tensor: the same values as
    ``(u > 0).to(u.dtype)`` without the bool tensor and its slow conversion."""
    return torch.gt(u, 0, out=torch.empty_like(u))


class ATan(torch.autograd.Function):
    r"""Arc-tangent surrogate.

    Forward: :math:`S = \Theta(u)` (strict). Backward:
    :math:`\partial S/\partial u = \frac{\alpha/2}{1 + (\frac{\pi}{2}\alpha u)^2}`,
    the exact derivative of :math:`\frac{1}{\pi}\arctan(\frac{\pi}{2}\alpha u)`, as snntorch's
    code has it. With ``documented`` (departure ``atan-slope``), the page's formula instead:
    :math:`\frac{1}{\pi}\frac{1}{1 + (\frac{\pi}{2}\alpha u)^2}`.
    """

    @staticmethod
    def forward(ctx, u: torch.Tensor, alpha: float, documented: bool = False) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.alpha, ctx.documented = alpha, documented
        return step(u)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        alpha = ctx.alpha
        scale = 1 / math.pi if ctx.documented else alpha / 2
        return scale / (1 + (math.pi / 2 * alpha * u).pow(2)) * grad, None, None


class StraightThrough(torch.autograd.Function):
    r"""Straight-through estimator: :math:`S = \Theta(u)`, :math:`\partial S/\partial u = 1`."""

    @staticmethod
    def forward(ctx, u: torch.Tensor) -> torch.Tensor:
        return step(u)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad.clone()


class _SlopeSurrogate(torch.autograd.Function):
    r"""Forward :math:`S = \Theta(u)`, keeping u and the slope k for the backward."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, slope: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.slope = slope
        return step(u)


class FastSigmoid(_SlopeSurrogate):
    r"""Fast sigmoid: :math:`\partial S/\partial u = 1 / (1 + k|u|)^2` with slope :math:`k`."""

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        return grad / (ctx.slope * torch.abs(u) + 1.0) ** 2, None


class Sigmoid(_SlopeSurrogate):
    r"""Sigmoid: :math:`\partial S/\partial u = k\,e^{-ku} / (e^{-ku} + 1)^2` with slope :math:`k`."""

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        k = ctx.slope
        return grad * k * torch.exp(-k * u) / ((torch.exp(-k * u) + 1) ** 2), None


class Triangular(torch.autograd.Function):
    r"""snntorch's "triangular": :math:`\partial S/\partial u = \vartheta_t` below zero and
    :math:`-\vartheta_t` at or above it (a constant of each sign, as its code computes; ``threshold``
    is the surrogate's own parameter, not the neuron's)."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, threshold: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.threshold = threshold
        return step(u)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        scaled = grad * ctx.threshold
        return torch.where(u >= 0, -scaled, scaled), None


class SpikeRateEscape(torch.autograd.Function):
    r"""snntorch's "spike_rate_escape": :math:`\partial S/\partial u = k\,e^{-\beta|u - 1|}`."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, beta: float, slope: float) -> torch.Tensor:
        ctx.save_for_backward(u)
        ctx.beta, ctx.slope = beta, slope
        return step(u)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (u,) = ctx.saved_tensors
        return grad * ctx.slope * torch.exp(-ctx.beta * torch.abs(u - 1)), None, None


class HeavisideGrad(torch.autograd.Function):
    r"""snntorch's "heaviside": :math:`\partial S/\partial u = S` (the spike itself)."""

    @staticmethod
    def forward(ctx, u: torch.Tensor) -> torch.Tensor:
        out = step(u)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (out,) = ctx.saved_tensors
        return grad * out


def _heaviside_forward(fn: SpikeFn) -> SpikeFn:
    """Mark a spike function whose forward is :func:`step` (``u > 0``), so a caller that needs no
    gradient may form the same spikes as ``membrane > threshold`` without the subtraction."""
    fn.heaviside = True
    return fn


@_heaviside_forward
def heaviside_no_grad(u: torch.Tensor) -> torch.Tensor:
    """The spike with no gradient at all (snntorch's ``surrogate_disable=True``)."""
    return step(u)


def fires_at_threshold(fn: SpikeFn) -> SpikeFn:
    """``fn`` firing at ``u >= 0`` instead of ``u > 0`` (departure ``atan-strict-heaviside``, the
    page's Heaviside): the spike at exactly ``u = 0`` added, the gradient ``fn``'s own."""
    return lambda u: fn(u) + (u.detach() == 0).to(u.dtype)


def spike_function(spike_grad: SpikeFn | None, surrogate_disable: bool, documented=frozenset()) -> SpikeFn:
    """snntorch's choice of spike function: none of the gradient if disabled, else the given
    surrogate, else ATan with alpha 2. ``documented`` holds the departures to run as documented
    (``atan-slope`` or ``default-spike-fn-atan-slope`` for the default ATan,
    ``atan-strict-heaviside`` for any)."""
    if surrogate_disable:
        fn = heaviside_no_grad
    else:
        default_documented = "atan-slope" in documented or "default-spike-fn-atan-slope" in documented
        fn = spike_grad if spike_grad is not None else atan(documented=default_documented)
    return fires_at_threshold(fn) if "atan-strict-heaviside" in documented else fn


def register_threshold(module: torch.nn.Module, threshold, learn: bool) -> None:
    """The threshold as snntorch holds it: a float32 tensor (``torch.as_tensor``), a parameter
    when learnt, else a buffer; either way it follows the module's ``.to(dtype)``."""
    threshold = torch.as_tensor(threshold)
    if learn:
        module.threshold = torch.nn.Parameter(threshold)
    else:
        module.register_buffer("threshold", threshold)


def atan(alpha: float = 2.0, documented: bool = False) -> SpikeFn:
    return _heaviside_forward(lambda u: ATan.apply(u, alpha, documented))


def straight_through_estimator() -> SpikeFn:
    return _heaviside_forward(lambda u: StraightThrough.apply(u))


def fast_sigmoid(slope: float = 25.0) -> SpikeFn:
    return _heaviside_forward(lambda u: FastSigmoid.apply(u, slope))


def sigmoid(slope: float = 25.0) -> SpikeFn:
    return _heaviside_forward(lambda u: Sigmoid.apply(u, slope))


def triangular(threshold: float = 1) -> SpikeFn:
    return _heaviside_forward(lambda u: Triangular.apply(u, threshold))


def spike_rate_escape(beta: float = 1, slope: float = 25) -> SpikeFn:
    return _heaviside_forward(lambda u: SpikeRateEscape.apply(u, beta, slope))


def heaviside() -> SpikeFn:
    return _heaviside_forward(lambda u: HeavisideGrad.apply(u))


# The snntorch surrogate names we implement, by the name of snntorch's factory function.
SNNTORCH_SURROGATES: dict[str, Callable[..., SpikeFn]] = {
    "atan": atan,
    "straight_through_estimator": straight_through_estimator,
    "fast_sigmoid": fast_sigmoid,
    "sigmoid": sigmoid,
    "triangular": triangular,
    "spike_rate_escape": spike_rate_escape,
    "heaviside": heaviside,
}
