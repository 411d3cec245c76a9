"""Seed statistics: the mean with its spread and interval, and rank correlation."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def summarise(values: Sequence[float], resamples: int = 2000, seed: int = 0) -> dict:
    """Per-seed values, their mean, min and max, and a 95% percentile-bootstrap interval of
    the mean (with fewer than 3 values the interval is the min-max range, said as such)."""
    x = np.asarray([float(v) for v in values])
    if x.size == 0:
        raise ValueError("no values to summarise")
    out = {"values": x.round(4).tolist(), "mean": float(x.mean()), "min": float(x.min()), "max": float(x.max()),
           "n": int(x.size)}
    if x.size < 3:
        out.update(ci95=[float(x.min()), float(x.max())], interval="min-max (fewer than 3 seeds)")
        return out
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, (resamples, x.size))].mean(1)
    out.update(ci95=[float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
               interval="95% bootstrap of the mean")
    return out


def ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    x = np.asarray(x, float)
    order = x.argsort(kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):
        tied = x == v
        r[tied] = r[tied].mean()
    return r


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (nan when either side is constant)."""
    ra, rb = ranks(np.asarray(a)), ranks(np.asarray(b))
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def mean_pairwise_spearman(rows: Sequence[Sequence[float]]) -> float:
    """Mean Spearman correlation over all pairs of rows (e.g. seeds' per-layer totals)."""
    pairs = [spearman(rows[i], rows[j]) for i in range(len(rows)) for j in range(i + 1, len(rows))]
    return float(np.nanmean(pairs)) if pairs else float("nan")
