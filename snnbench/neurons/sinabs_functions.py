r"""sinabs-style spike functions, membrane resets and surrogate gradients, from scratch (torch only).

These mirror ``sinabs.activation`` so that a sinabs layer's options have a drop-in here with the
same names and fields. Every spike function takes the membrane ``v`` and the threshold ``B``
(a tensor broadcastable to ``v``) and a surrogate; it passes no gradient to ``B``.

Spike functions (forward; computed in ``v``'s dtype, where sinabs casts to float32):

- ``SingleSpike``: :math:`s = [v - B \ge 0]` (at most one spike per step; fires *at* the threshold).
- ``MultiSpike``: :math:`s = [v > 0] \cdot \operatorname{trunc}(v / B)` (any number of spikes).
- ``MaxSpike(n)``: ``MultiSpike`` clamped from above at ``n`` (no clamp when ``n`` is None).

Backward of all three: :math:`\partial s / \partial v = \text{surrogate}(v, B)`.

Resets (``reset(s, v, B) -> v``):

- ``MembraneSubtract(None)``: :math:`v - s B` (the *current* threshold B, gradient flows into B);
  ``MembraneSubtract(c)``: :math:`v - s c`.
- ``MembraneReset(r)``: :math:`v \cdot [s = 0] + r` (note: r is added everywhere, as in sinabs;
  no gradient through the mask; ``only_spiked``: :math:`v \cdot [s = 0] + r \cdot [s \neq 0]`, as documented).

Surrogates (``surrogate(v, B) -> dS/dv``), with :math:`u = v - B`:

- ``SingleExponential(w, k)``: :math:`\frac{k}{B w} e^{-|u| / (B w)}`
- ``Heaviside(window)``: :math:`[v \ge B - \text{window}] / B` (``relative``: the window times B, as documented)
- ``Gaussian(mu, sigma, k)``: :math:`k\,\mathcal{N}(u; \mu, \sigma)`
- ``MultiGaussian(mu, sigma, h, s, k)``: :math:`k\,((1+h)\mathcal{N}(u;\mu,\sigma)
  - h\mathcal{N}(u;\sigma,s\sigma) - h\mathcal{N}(u;-\sigma,s\sigma))`
- ``PeriodicExponential(w, k)``: :math:`k\,e^{-|\tilde u| / w}` with :math:`\tilde u = u` below the
  threshold and, above it, the distance to the nearest multiple of B folded to
  :math:`B(2\,\mathrm{frac}(v/B - 1/2) - 1)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch

Surrogate = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---- surrogate gradients -------------------------------------------------------------------------
def _gaussian(x: torch.Tensor, mu: float, sigma: float) -> torch.Tensor:
    # sqrt(2 pi) as a float32 tensor, as sinabs computes it (it matters in float64 runs)
    return torch.exp(-((x - mu) ** 2) / (2 * sigma ** 2)) / (sigma * torch.sqrt(2 * torch.tensor(math.pi)))


@dataclass
class SingleExponential:
    grad_width: float = 0.5
    grad_scale: float = 1.0

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        width = threshold * self.grad_width
        return self.grad_scale / width * torch.exp(-torch.abs(v - threshold) / width)


@dataclass
class Heaviside:
    window: float = 1.0
    # departure heaviside-window-absolute run as documented (ours only: not a sinabs argument)
    relative: bool = field(default=False, metadata={"documented": True})

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        window = self.window * threshold if self.relative else self.window
        return (v >= threshold - window).to(v.dtype) / threshold


@dataclass
class Gaussian:
    mu: float = 0.0
    sigma: float = 0.5
    grad_scale: float = 1.0

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        return _gaussian(v - threshold, self.mu, self.sigma) * self.grad_scale


@dataclass
class MultiGaussian:
    mu: float = 0.0
    sigma: float = 0.5
    h: float = 0.15
    s: float = 6.0
    grad_scale: float = 1.0

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        u = v - threshold
        return ((1 + self.h) * _gaussian(u, self.mu, self.sigma)
                - self.h * _gaussian(u, self.sigma, self.s * self.sigma)
                - self.h * _gaussian(u, -self.sigma, self.s * self.sigma)) * self.grad_scale


@dataclass
class PeriodicExponential:
    grad_width: float = 0.5
    grad_scale: float = 1.0

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        normalised = v / threshold - 0.5
        periodic = threshold * (2 * (normalised - torch.floor(normalised)) - 1)
        folded = torch.where(v >= threshold, periodic, v - threshold)
        return self.grad_scale * torch.exp(-torch.abs(folded) / self.grad_width)


SURROGATES = {cls.__name__: cls for cls in
              (SingleExponential, Heaviside, Gaussian, MultiGaussian, PeriodicExponential)}


# ---- spike functions -----------------------------------------------------------------------------
class _SpikeFunction(torch.autograd.Function):
    """Forward by ``rule(v, B, limit)``; backward ``grad * surrogate(v, B)``, nothing to B (with
    ``threshold_grad``, departure ``spike-fn-no-threshold-grad`` run as documented: ``dS/dB =
    -dS/dv``, summed to B's shape)."""

    @staticmethod
    def forward(ctx, v, threshold, surrogate, rule, limit, threshold_grad=False):
        ctx.save_for_backward(v, threshold)
        ctx.surrogate, ctx.threshold_grad = surrogate, threshold_grad
        return rule(v, threshold, limit)

    @staticmethod
    def backward(ctx, grad):
        v, threshold = ctx.saved_tensors
        grad_v = grad * ctx.surrogate(v, threshold)
        grad_threshold = (-grad_v).sum_to_size(threshold.shape) if ctx.threshold_grad else None
        return grad_v, grad_threshold, None, None, None, None


def _single_strict(v, threshold, limit):
    """SingleSpike as documented (departure ``singlespike-fires-at-equal``): ``v - B > 0``."""
    return (v - threshold > 0).to(v.dtype)


def spike(spike_fn, v, threshold, surrogate, documented=frozenset()) -> torch.Tensor:
    """``spike_fn.apply(v, B, surrogate)``, with the departures in ``documented`` run as
    documented: ``singlespike-fires-at-equal`` (fire above B, not at it) and
    ``spike-fn-no-threshold-grad`` (the gradient reaches B)."""
    if not documented.intersection(("singlespike-fires-at-equal", "spike-fn-no-threshold-grad")):
        return spike_fn.apply(v, threshold, surrogate)
    rule = _single if spike_fn is SingleSpike else spike_fn.rule
    if spike_fn is SingleSpike and "singlespike-fires-at-equal" in documented:
        rule = _single_strict
    limit = getattr(spike_fn, "max_num_spikes_per_bin", None)
    return _spike(v, threshold, surrogate, rule, limit, "spike-fn-no-threshold-grad" in documented)


def _single(v, threshold, limit):
    return (v - threshold >= 0).to(v.dtype)


def _multi(v, threshold, limit):
    spikes = (v > 0) * torch.div(v, threshold, rounding_mode="trunc")
    if limit is not None:
        spikes = torch.clamp(spikes, max=limit)
    return spikes.to(v.dtype)


def _spike(v, threshold, surrogate, rule, limit=None, threshold_grad=False):
    """The spikes ``rule(v, B, limit)`` with ``surrogate``'s gradient (B a tensor of v's dtype)."""
    return _SpikeFunction.apply(v, torch.as_tensor(threshold, dtype=v.dtype, device=v.device), surrogate, rule,
                                limit, threshold_grad)


class SingleSpike:
    """At most one spike per step: ``v - B >= 0``."""

    rule = staticmethod(_single)

    @staticmethod
    def apply(v, threshold, surrogate):
        return _spike(v, threshold, surrogate, _single)


class MultiSpike:
    """``trunc(v / B)`` spikes where ``v > 0``."""

    rule = staticmethod(_multi)

    @staticmethod
    def apply(v, threshold, surrogate):
        return _spike(v, threshold, surrogate, _multi)


@dataclass
class MaxSpike:
    """``MultiSpike`` clamped at ``max_num_spikes_per_bin`` (None: no limit)."""

    max_num_spikes_per_bin: Optional[int] = None

    def rule(self, v, threshold, limit=None):
        return _multi(v, threshold, self.max_num_spikes_per_bin)

    def apply(self, v, threshold, surrogate):
        return _spike(v, threshold, surrogate, _multi, self.max_num_spikes_per_bin)


SPIKE_FNS = {"SingleSpike": SingleSpike, "MultiSpike": MultiSpike, "MaxSpike": MaxSpike}


# ---- resets --------------------------------------------------------------------------------------
@dataclass
class MembraneSubtract:
    subtract_value: Optional[float] = None

    def __call__(self, spikes, v, threshold):
        if self.subtract_value is not None:
            return v - spikes * self.subtract_value
        return v - spikes * threshold


@dataclass
class MembraneReset:
    reset_value: float = 0.0
    # departure membrane-reset-adds-everywhere run as documented (ours only: not a sinabs argument)
    only_spiked: bool = field(default=False, metadata={"documented": True})

    def __call__(self, spikes, v, threshold):
        if self.only_spiked:
            return v * (spikes == 0).to(v.dtype) + self.reset_value * (spikes != 0).to(v.dtype)
        return v * (spikes == 0).to(v.dtype) + self.reset_value


RESETS = {"MembraneSubtract": MembraneSubtract, "MembraneReset": MembraneReset}
