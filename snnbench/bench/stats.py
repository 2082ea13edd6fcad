"""Statistics over raw timing samples: median, interquartile range, bootstrap confidence interval.

Quantiles interpolate linearly between order statistics (numpy's default), so the median of
[1, 2, 3, 4] is 2.5 and its IQR (q75 - q25 = 3.25 - 1.75) is 1.5.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

NOISY_IQR = 0.1          # warn when IQR / median exceeds this
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0       # fixed: the same samples always give the same interval


def median(samples: Sequence[float]) -> float:
    if len(samples) == 0:
        raise ValueError("median of no samples")
    return float(np.median(np.asarray(samples, dtype=np.float64)))


def iqr(samples: Sequence[float]) -> float:
    if len(samples) == 0:
        raise ValueError("IQR of no samples")
    q25, q75 = np.percentile(np.asarray(samples, dtype=np.float64), [25, 75])
    return float(q75 - q25)


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """numerators[i] / denominators[i]: the ratio of each pair of calls timed side by side."""
    if len(numerators) != len(denominators):
        raise ValueError(f"pairs need equal counts, got {len(numerators)} and {len(denominators)}")
    return [float(a) / float(b) for a, b in zip(numerators, denominators)]


def bootstrap_median_ci(values: Sequence[float], confidence: float = 0.95,
                        resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the median: resample with replacement, take each median."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        raise ValueError("bootstrap of no values")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, data.size, size=(resamples, data.size))
    medians = np.median(data[picks], axis=1)
    tail = (1.0 - confidence) / 2 * 100
    lo, hi = np.percentile(medians, [tail, 100 - tail])
    return float(lo), float(hi)


def noise_warning(samples: Sequence[float], limit: float = NOISY_IQR) -> str | None:
    """A warning when the spread is large next to the median, else None."""
    m = median(samples)
    spread = iqr(samples) / m if m > 0 else 0.0
    if spread > limit:
        return f"noisy: IQR is {spread:.0%} of the median (limit {limit:.0%}); close other programs or raise --min-time"
    return None
