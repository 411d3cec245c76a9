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


def plot_pretraining_order(results: dict[str, Any], chance: float = 9.5) -> plt.Figure:
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


SCORE_ROWS = ("upstream", "informative", "downstream")
EXACT_KINDS = {"upstream": "upstream (outputs held old)", "upstream_own": "upstream (own outputs)",
               "informative": "informative", "downstream": "downstream"}


def plot_score_maps(results: dict[str, Any]) -> plt.Figure:
    """The paper's grid: rows upstream / informative / downstream; columns first-hop MLP,
    first-hop attention, second-hop MLP, second-hop attention; x display tokens, y layers.
    Each panel has its own symmetric colour scale (red helps, blue hurts)."""
    import numpy as np

    hops = list(results["hops"])
    cols = [(hop, comp) for hop in hops for comp in ("mlp", "attn")]
    fig, axes = plt.subplots(3, len(cols), figsize=(3.4 * len(cols), 8.4), squeeze=False)
    for r, kind in enumerate(SCORE_ROWS):
        for c, (hop, comp) in enumerate(cols):
            ax = axes[r][c]
            grid = np.array(results["hops"][hop]["scores"][kind][comp]).T  # layers x tokens
            lim = float(np.abs(grid).max()) or 1.0
            image = ax.imshow(grid, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim)
            tokens = results["hops"][hop]["display_tokens"]
            ax.set_xticks(range(len(tokens)))
            ax.set_xticklabels([t.strip() or repr(t) for t in tokens], rotation=70, fontsize=7)
            ax.set_yticks(range(0, grid.shape[0], max(1, grid.shape[0] // 6)))
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
            if r == 0:
                ax.set_title(f"{HOP_TITLES.get(hop, hop).replace(' OCR', '')} {'MLP' if comp == 'mlp' else 'attention'}",
                             fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{kind}\nlayer")
    fig.suptitle(f"Extractive scores, {results['model']}: mean over seeds {results['seeds']}, "
                 f"{results['n_counterfactuals']} counterfactuals per prompt", fontsize=10)
    fig.tight_layout()
    return fig


def plot_exact_check(results: dict[str, Any]) -> plt.Figure:
    """Linear score against the exact loss change, per component (MLPs and heads), per hop
    and score; the dashed line is y = x."""
    import numpy as np

    hops = [h for h in results["hops"] if "exact" in results["hops"][h]]
    kinds = [k for k in EXACT_KINDS if k in results["hops"][hops[0]]["exact"]["linear"]]
    fig, axes = plt.subplots(len(hops), len(kinds), figsize=(3.7 * len(kinds), 3.3 * len(hops)), squeeze=False)
    for i, hop in enumerate(hops):
        ex = results["hops"][hop]["exact"]
        is_mlp = np.array([n.endswith(".mlp") for n in ex["names"]])
        for j, kind in enumerate(kinds):
            ax = axes[i][j]
            lin, exa = np.array(ex["linear"][kind]), np.array(ex["exact"][kind])
            ax.scatter(exa[~is_mlp], lin[~is_mlp], s=10, alpha=0.6, color="tab:orange", label="heads")
            ax.scatter(exa[is_mlp], lin[is_mlp], s=16, alpha=0.8, color="tab:blue", label="MLPs")
            lo, hi = float(min(lin.min(), exa.min())), float(max(lin.max(), exa.max()))
            ax.plot([lo, hi], [lo, hi], color="grey", ls="--", lw=1)
            s = ex["summary"][kind]["all"]
            ax.set_title(f"{hop.replace('_', '-')} {EXACT_KINDS[kind]}\nr = {s['r']:.2f}, "
                         f"rel. err. {s['relative_error']:.2f}", fontsize=9)
            ax.set_xlabel("exact change of the loss (sign: + helps)", fontsize=8)
            ax.set_ylabel("linear score", fontsize=8)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(f"Exact check, {results['model']}, seed {results['exact_seed']}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_band_map(results: dict[str, Any]) -> plt.Figure:
    """Final implication (solid) and fact (dotted) rank against the start layer of the only
    trained band; one panel per lr, a colour per hop; bars: the seeds' interval (95% bootstrap
    of the mean with 3 or more seeds, else their min-max)."""
    lrs = list(results["lrs"])
    fig, axes = plt.subplots(1, len(lrs), figsize=(5.2 * len(lrs), 3.8), sharey=True, squeeze=False)
    colors = {"first_hop": "tab:blue", "second_hop": "tab:red"}
    for ax, lr in zip(axes[0], lrs):
        for hop, bands in results["lrs"][lr].items():
            x = [b["start"] for b in bands]
            for key, style in (("implication", "-"), ("fact", ":")):
                m = [b[key]["mean"] for b in bands]
                err = [[b[key]["mean"] - b[key]["ci95"][0] for b in bands], [b[key]["ci95"][1] - b[key]["mean"] for b in bands]]
                ax.errorbar(x, m, yerr=err, color=colors.get(hop), ls=style, marker="o", ms=3, capsize=2,
                            label=f"{hop.replace('_', '-')} {key}")
        ax.axhline(9.5, color="grey", ls="--", lw=1)
        width = results["width"]
        trained = "only layer start" if width == 1 else f"only layers start..start+{width - 1}"
        ax.set_title(f"lr {lr}: {trained} trained", fontsize=9)
        ax.set_xlabel("first layer of the trained band")
        ax.set_xticks(results["starts"])
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("final mean rank (0 = best, chance 9.5)")
    axes[0][0].legend(fontsize=7)
    interval = "95% bootstrap interval" if len(results["seeds"]) >= 3 else "min-max"
    fig.suptitle(f"Where should a fact be stored? {results['model']}, seeds {results['seeds']} (bars: {interval})",
                 fontsize=10)
    fig.tight_layout()
    return fig
