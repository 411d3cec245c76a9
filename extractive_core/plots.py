"""Figures drawn from saved results, so a plot can be restyled without rerunning a model."""

from __future__ import annotations

from typing import Any, Sequence

from pathlib import Path

import matplotlib.pyplot as plt

from .results import save_figure

HOP_TITLES = {"first_hop": "First-hop OCR", "second_hop": "Second-hop OCR"}
SPLIT_STYLE = {
    "train_rank": ("facts (trained)", "tab:blue"),
    "test_rank": ("implications (never trained)", "tab:orange"),
}


def plot_rank_curves(results: dict[str, Any], hops: Sequence[str] = tuple(HOP_TITLES)) -> plt.Figure:
    """Mean rank vs epoch per hop: facts and implications, a thin line per seed, bold mean."""
    fig, axes = plt.subplots(1, len(hops), figsize=(5 * len(hops), 3.6), sharey=True, squeeze=False)
    for ax, hop in zip(axes[0], hops):
        data = results[hop]
        for key, (label, color) in SPLIT_STYLE.items():
            for curve in (s[key] for s in data["per_seed"].values()):
                ax.plot(range(len(curve)), curve, color=color, alpha=0.3, lw=1)
            ax.plot(range(len(data[key])), data[key], color=color, lw=2.5, marker="o", ms=3, label=label)
        ax.axhline(data["chance_rank"], color="grey", ls="--", lw=1, label="chance")
        ax.set_title(f"{HOP_TITLES.get(hop, hop)} — {results['model']}")
        ax.set_xlabel("epoch")
        ax.set_ylim(-0.3, max(10.5, data["chance_rank"] + 1))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean rank of correct answer (0 = best)")
    axes[0][0].legend(loc="lower left", fontsize=8)
    fig.suptitle(f"lr {results['lr']:g}, {len(results['seeds'])} seed(s); thin lines: single seeds", fontsize=9)
    fig.tight_layout()
    return fig


MODE_COLORS = {"facts_first": "tab:green", "impl_first": "tab:purple",
               "impl_first_strict": "tab:red", "no_impl": "tab:grey"}


def plot_ordering(results: dict[str, Any], chance: float = 9.5) -> plt.Figure:
    """Implication rank vs finetuning epoch per corpus mode: mean over pretraining seeds
    (line) and their min-max spread (band)."""
    import numpy as np

    hops = ("first_hop", "second_hop")
    top = max(max(max(s[h]["test_rank"]) for s in d["per_seed"]) for d in results["modes"].values() for h in hops)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, hop in zip(axes, hops):
        for mode, data in results["modes"].items():
            curves = np.array([s[hop]["test_rank"] for s in data["per_seed"]])
            epochs = np.arange(curves.shape[1])
            color = MODE_COLORS.get(mode)
            ax.plot(epochs, curves.mean(0), color=color, lw=2.2, marker="o", ms=3,
                    label=f"{mode} (final {curves[:, -1].mean():.2f})")
            ax.fill_between(epochs, curves.min(0), curves.max(0), color=color, alpha=0.18)
        ax.axhline(chance, color="grey", ls="--", lw=1)
        ax.set_title(f"{HOP_TITLES[hop]} on held-out people")
        ax.set_xlabel("finetuning epoch")
        ax.set_ylim(-0.3, max(10.5, top + 0.3))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7.5, loc="lower left")
    axes[0].set_ylabel("implication mean rank (0 = best)")
    fig.suptitle(f"Toy models pretrained from scratch; {len(results['seeds'])} pretraining seeds per mode "
                 f"(band: min-max); dashed: chance", fontsize=9)
    fig.tight_layout()
    return fig


def show_figure(fig: plt.Figure, path: Path) -> Path:
    """Save ``fig`` as a PNG at ``path``, close it, and display the saved file, so what a
    notebook (and the book) shows is exactly what is in figures/."""
    from IPython.display import Image, display

    save_figure(fig, path)
    plt.close(fig)
    display(Image(filename=str(path)))
    return path


DTYPE_COLORS = {"float32": "tab:blue", "bfloat16": "tab:red"}


def plot_precision(results: dict[str, dict[str, Any]], hops: Sequence[str] = tuple(HOP_TITLES)) -> plt.Figure:
    """Implication (solid) and fact (dashed) rank vs epoch per dtype: seed mean, and the
    seeds' min-max band for implications."""
    import numpy as np

    fig, axes = plt.subplots(1, len(hops), figsize=(5 * len(hops), 3.6), sharey=True, squeeze=False)
    for ax, hop in zip(axes[0], hops):
        for dtype, res in results.items():
            color = DTYPE_COLORS.get(dtype)
            for key, style in (("test_rank", "-"), ("train_rank", "--")):
                curves = np.array([s[key] for s in res[hop]["per_seed"].values()])
                epochs = np.arange(curves.shape[1])
                label = f"{dtype} {'implications' if key == 'test_rank' else 'facts'}"
                ax.plot(epochs, curves.mean(0), style, color=color, lw=2, label=label)
                if key == "test_rank":
                    ax.fill_between(epochs, curves.min(0), curves.max(0), color=color, alpha=0.15)
        chance = next(iter(results.values()))[hop]["chance_rank"]
        ax.axhline(chance, color="grey", ls=":", lw=1)
        model = next(iter(results.values()))["model"]
        ax.set_title(f"{HOP_TITLES.get(hop, hop)} — {model}")
        ax.set_xlabel("epoch")
        ax.set_ylim(-0.3, max(10.5, chance + 1))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mean rank (0 = best)")
    axes[0][0].legend(fontsize=7.5, loc="lower left")
    seeds = len(next(iter(results.values()))["seeds"])
    fig.suptitle(f"float32 vs bf16 weights (float32 master weights and Adam); {seeds} seeds, band: min-max; "
                 "dotted: chance", fontsize=9)
    fig.tight_layout()
    return fig
