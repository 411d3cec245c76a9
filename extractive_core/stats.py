"""Seed statistics: the mean with its spread and interval, and rank correlation."""

from __future__ import annotations

from typing import Sequence

import numpy as np


# The decimals a results file keeps of a per-seed value (a rank is a mean over 20 to 84 items:
# this moves it by at most 5e-5, far below the 2 decimals printed). Statistics are computed
# from the values so kept, so that a reader who recomputes a summary's mean from its ``values``
# gets the summary's mean, and a table and a claim that print the same quantity round it the
# same way (a file's per-seed curves keep their full float32-derived values).
DECIMALS = 4


def kept(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` as a results file keeps them: float64, rounded to ``DECIMALS``."""
    return np.asarray([float(v) for v in values]).round(DECIMALS)


def level_text(level: float) -> str:
    """A confidence level as printed: ``95%``, and a Bonferroni level whole, ``98.75%``."""
    return f"{round(level * 100, 2):g}%"


def summarise(values: Sequence[float], level: float = 0.95) -> dict:
    """Per-seed values (``kept``), their mean, min and max, and a t-interval of the mean as
    ``ci95`` (``level``; with fewer than 3 values there is none: ``range`` holds the min-max,
    and ``interval`` says so), all computed from the kept values. ``bounds`` and
    ``interval_text`` read either. (A bootstrap over 3 seeds has 10 distinct resamples: no
    interval.)"""
    x = kept(values)
    if x.size == 0:
        raise ValueError("no values to summarise")
    out = {"values": x.tolist(), "mean": float(x.mean()), "min": float(x.min()), "max": float(x.max()),
           "n": int(x.size)}
    if x.size < 3:
        out.update(range=[float(x.min()), float(x.max())], interval="min-max (fewer than 3 seeds)")
        return out
    out.update(ci95=list(t_interval(x, level)), interval=f"{level_text(level)} t-interval of the mean")
    return out


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95,
               floor: float = 0.0) -> tuple[float, float]:
    """Student-t interval of the mean of the kept values (``kept``) at ``level``; (-inf, inf)
    with fewer than 2 values.
    ``floor``: the smallest standard deviation to assume (the measurement's resolution), so
    that seeds that agree exactly do not give a zero-width interval that any offset clears."""
    from scipy import stats as scipy_stats

    x = kept(values)
    if x.size < 2:
        return float("-inf"), float("inf")
    sd = max(float(x.std(ddof=1)), float(floor))
    half = float(scipy_stats.t.ppf(0.5 + level / 2, x.size - 1) * sd / np.sqrt(x.size))
    return float(x.mean()) - half, float(x.mean()) + half


def bounds(s: dict) -> tuple[float, float]:
    """The interval of a ``summarise`` or ``paired_difference`` entry: its ``ci95``, or where
    too few seeds give none, the ``range`` it holds instead."""
    lo, hi = s["ci95"] if "ci95" in s else s["range"]
    return float(lo), float(hi)


def interval_text(s: dict, signed: bool = False, label: bool = True) -> str:
    """``mean [lo, hi] (what the interval is, n seeds)``; ``signed`` for differences;
    ``label=False`` leaves the label to a table's caption. One seed has no interval: its
    value alone (``(1 seed)``), never a bracket around one number."""
    f = "+.2f" if signed else ".2f"
    if s["n"] == 1:
        return f"{s['mean']:{f}}" + (" (1 seed)" if label else "")
    lo, hi = bounds(s)
    text = f"{s['mean']:{f}} [{lo:{f}}, {hi:{f}}]"
    return text + (f" ({interval_label(s)})" if label else "")


def interval_column(name: str, entries: Sequence[dict]) -> str:
    """A table column's name for the ``interval_text`` of ``entries``: ``name``, or where some
    entry has 2 seeds (its brackets hold the seeds' min-max, not an interval) ``name [min-max]``
    (one seed's entry is its value alone)."""
    return name if all("ci95" in s or s["n"] == 1 for s in entries) else f"{name} [min-max]"


def interval_label(s: dict) -> str:
    """What the interval of an entry is, and over how many seeds: ``95% t-interval of the mean, 10 seeds``."""
    return f"{s['interval']}, {s['n']} seed{'s' if s['n'] != 1 else ''}"


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    """Spearman rank correlation (``scipy.stats.spearmanr``, ties at their mean rank); nan when
    either side is constant."""
    from scipy import stats as scipy_stats

    x, y = np.asarray(a, float).reshape(-1), np.asarray(b, float).reshape(-1)
    if x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(scipy_stats.spearmanr(x, y).statistic)


def mean_pairwise_spearman(rows: Sequence[Sequence[float]]) -> float:
    """Mean Spearman correlation over all pairs of rows (e.g. seeds' per-layer totals)."""
    pairs = [spearman(rows[i], rows[j]) for i in range(len(rows)) for j in range(i + 1, len(rows))]
    return float(np.nanmean(pairs)) if pairs else float("nan")


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95, floor: float = 0.0) -> dict:
    """``a - b`` seed by seed (the two conditions share seeds): the differences of the kept
    values (``kept``), their mean and a t-interval of the mean (``level``; none with fewer
    than 2 seeds; ``floor``: the smallest standard deviation assumed, as in ``t_interval``),
    computed from the kept differences."""
    x, y = kept(a), kept(b)
    if x.shape != y.shape or x.size == 0:
        raise ValueError(f"paired values need the same non-zero number of seeds, got {x.size} and {y.size}")
    d = (x - y).round(DECIMALS)
    out = {"differences": d.tolist(), "mean": float(d.mean()), "n": int(d.size)}
    if d.size < 2:
        return {**out, "range": [float(d.mean())] * 2, "interval": "none (1 seed)"}
    return {**out, "ci95": list(t_interval(d, level, floor)),
            "interval": f"{level_text(level)} t-interval of the paired mean difference"}


DIRECTIONS = ("lower", "no separation", "higher")  # what ``direction`` reads, in order


def direction(difference: dict) -> str:
    """``lower`` when the interval of a paired difference lies below 0, ``higher`` above,
    else ``no separation`` (with a single seed, never separated)."""
    lo, hi = bounds(difference)
    if difference["n"] < 2:
        return "no separation"
    return "lower" if hi < 0 else "higher" if lo > 0 else "no separation"


def compared(a: str, difference: dict, b: str) -> str:
    """``a is lower than b``, ``a is higher than b`` or ``a is not separated from b``, by the
    interval of the paired ``difference`` a - b (``direction``)."""
    d = direction(difference)
    return f"{a} is not separated from {b}" if d == "no separation" else f"{a} is {d} than {b}"


def r_squared(x: np.ndarray, y: np.ndarray) -> float:
    """Squared Pearson correlation; nan when either side is constant (never a perfect 1)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or x.std() == 0 or y.std() == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1] ** 2)


def permutation_r2(pairs: Sequence[tuple[Sequence[float], Sequence[float]]], resamples: int = 2000,
                   seed: int = 0, groups: Sequence[int] | None = None) -> dict:
    """A permutation test of a scatter's correlation over several seeds. ``pairs``: per seed
    ``(x, y)``, the two scores of each point. The statistic is the mean over seeds of the
    signed r^2, ``r * |r|`` (a negative correlation counts as negative); the null shuffles
    ``y`` against ``x`` within each seed, independently (a numpy Generator of ``seed``), and
    with ``groups`` (one label per point, the same for every seed) only within each group, so
    that what the groups share (say, both scores larger at one token) is in the null too.
    Returns ``statistic``, ``p`` = (1 + #null >= statistic) / (1 + resamples), ``resamples``
    and ``n_points`` (per seed). A seed with a constant or non-finite side (or under 2
    points) has no correlation: statistic nan, p 1.0."""
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise ValueError(f"resamples must be a whole number >= 1, got {resamples!r}")
    if len(pairs) == 0:
        raise ValueError("no seeds to test: pass one (x, y) pair of score lists per seed")
    standard: list[np.ndarray | None] = []
    for k, (a, b) in enumerate(pairs):
        x, y = np.asarray(a, float).reshape(-1), np.asarray(b, float).reshape(-1)
        if x.shape != y.shape:
            raise ValueError(f"seed {k}: x and y differ in length ({x.size} and {y.size})")
        if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()) or x.std() == 0 or y.std() == 0:
            standard.append(None)
            continue
        x, y = x - x.mean(), y - y.mean()
        standard.append(np.stack([x / np.linalg.norm(x), y / np.linalg.norm(y)]))  # r = x . y
    n_points = [len(np.asarray(a).reshape(-1)) for a, _ in pairs]
    out = {"statistic": float("nan"), "p": 1.0, "resamples": int(resamples), "n_points": n_points}
    if any(s is None for s in standard):
        return out
    labels: np.ndarray | float = 0.0  # no groups: one shuffle over all points
    order: np.ndarray | None = None
    if groups is not None:
        labels = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
        if any(n != labels.size for n in n_points):
            raise ValueError(f"groups has {labels.size} labels, the seeds have {n_points} points")
        order = np.argsort(labels, kind="stable")  # each group's points side by side: a within-group shuffle
        labels = labels[order]                     # is then a sort by (group, random key)
    rng = np.random.default_rng(seed)
    observed, null = 0.0, np.zeros(resamples)
    for s in standard:
        assert s is not None
        x, y = s if order is None else s[:, order]
        r = float(x @ y)
        observed += r * abs(r)
        chunk = max(1, 2_000_000 // x.size)  # resamples per block: bounded memory on large scatters
        for start in range(0, resamples, chunk):
            n = min(chunk, resamples - start)
            shuffled = y[(labels + rng.random((n, x.size))).argsort(axis=1)]
            rs = shuffled @ x
            null[start:start + n] += rs * np.abs(rs)
    observed /= len(standard)
    null /= len(standard)
    hits = int(np.count_nonzero(null >= observed - 1e-12))
    return {**out, "statistic": float(observed), "p": (1 + hits) / (1 + resamples)}
