"""Statistics over raw timing samples: median, interquartile range, paired ratios and the one
bootstrap that every confidence interval of snnbench comes from (bench's speedups, the gate's
slowdowns, the A/B comparison of two revisions).

Quantiles interpolate linearly between order statistics (numpy's default), so the median of
[1, 2, 3, 4] is 2.5 and its IQR (q75 - q25 = 3.25 - 1.75) is 1.5.

The bootstrap (:func:`bootstrap_interval`) is a percentile bootstrap of a product of medians,
each raised to +1 or -1: ``median(a) / median(b)`` is ``[(a, 1), (b, -1)]``, and the median of
one set of paired ratios is ``[(ratios, 1)]``. Each set is resampled on its own, with a seeded
generator, so the same samples always give the same interval.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

NOISY_IQR = 0.1          # warn when IQR / median exceeds this
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0       # fixed: the same samples always give the same interval
CONFIDENCE = 0.95


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


def bootstrap_interval(parts: Sequence[tuple[Sequence[float], int]], confidence: float = CONFIDENCE,
                       resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int | Sequence[int] = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of ``prod(median(values) ** power for values, power in parts)``.

    Each set of values is resampled with replacement on its own (``resamples`` times), the
    statistic is taken on every resample, and the interval is the central ``confidence`` share
    of those."""
    if not parts:
        raise ValueError("bootstrap of nothing")
    rng = np.random.default_rng(seed)
    total = np.ones(resamples)
    for values, power in parts:
        data = np.asarray(values, dtype=np.float64)
        if data.size == 0:
            raise ValueError("bootstrap of no values")
        picks = rng.integers(0, data.size, size=(resamples, data.size))
        total *= np.median(data[picks], axis=1) ** power
    tail = (1.0 - confidence) / 2 * 100
    lo, hi = np.percentile(total, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_median_ci(values: Sequence[float], confidence: float = CONFIDENCE,
                        resamples: int = BOOTSTRAP_RESAMPLES,
                        seed: int | Sequence[int] = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of one set of values."""
    return bootstrap_interval([(values, 1)], confidence, resamples, seed)


def bootstrap_median_ci_clustered(values: Sequence[float], clusters: Sequence[int],
                                  confidence: float = CONFIDENCE, resamples: int = BOOTSTRAP_RESAMPLES,
                                  seed: int | Sequence[int] = BOOTSTRAP_SEED) -> tuple[float, float]:
    """Percentile bootstrap interval of the median of values that come in clusters (the rounds
    of one pair of processes): each resample draws the clusters with replacement, then each
    drawn cluster's values with replacement, and takes the median of them all. What differs
    from one process to the next (memory layout, which core) then widens the interval, as it
    should; one cluster gives the plain bootstrap."""
    data = np.asarray(values, dtype=np.float64)
    labels = np.asarray(clusters)
    if data.size == 0 or data.size != labels.size:
        raise ValueError("bootstrap needs one cluster label per value")
    groups = [data[labels == k] for k in np.unique(labels)]
    if len(groups) == 1:
        return bootstrap_median_ci(values, confidence, resamples, seed)
    rng = np.random.default_rng(seed)
    medians = np.empty(resamples)
    for i in range(resamples):
        drawn = [groups[k] for k in rng.integers(0, len(groups), size=len(groups))]
        medians[i] = np.median(np.concatenate([g[rng.integers(0, g.size, size=g.size)] for g in drawn]))
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
