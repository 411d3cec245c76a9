"""Figures drawn from saved results, so a plot can be restyled without rerunning a model."""

from __future__ import annotations

from typing import Any, Sequence

from pathlib import Path

import matplotlib.pyplot as plt

from .claim_rules import LEARNED, band_fact_learned, p_text
from .datasets import implication_chance
from .stats import bounds
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


def plot_pretraining_order(results: dict[str, Any], chance: float | None = None) -> plt.Figure:
    """Implication rank vs finetuning epoch per corpus mode: mean over pretraining seeds
    (line) and their min-max spread (band)."""
    import numpy as np

    hops = ("first_hop", "second_hop")
    if chance is None:  # the two-hop implications' chance, from their options
        chance = implication_chance(hops)
    top = max(max(max(s[h]["test_rank"]) for s in d["per_seed"]) for d in results["modes"].values() for h in hops)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, hop in zip(axes, hops):
        for mode, data in results["modes"].items():
            curves = np.array([s[hop]["test_rank"] for s in data["per_seed"]])
            epochs = np.arange(curves.shape[1])
            color = MODE_COLORS.get(mode)
            ax.plot(epochs, curves.mean(0), color=color, lw=2.2, marker="o", ms=3,
                    label=f"{mode} (final {data[hop]['mean']:.2f})")  # the summary the tables print
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
    """Save ``fig`` as a PNG at ``path`` and a PDF beside it (``save_figure``'s formats: the
    book's data page links both), close it, and display the saved PNG, so what a notebook (and
    the book) shows is exactly what is in figures/."""
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
    cols = [(hop, comp) for hop in hops for comp in ("mlp", "heads")]
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
    trained band; one panel per lr, a colour per hop; bars: the seeds' interval (the stored
    interval of the mean with 3 or more seeds, else their min-max). A hollow marker: a point
    whose fact was not learned on every seed (``claim_rules.band_fact_learned``), whose
    implication rank says nothing about where the fact should be stored."""
    from matplotlib.lines import Line2D

    lrs = list(results["lrs"])
    fig, axes = plt.subplots(1, len(lrs), figsize=(5.2 * len(lrs), 3.8), sharey=True, squeeze=False)
    colors = {"first_hop": "tab:blue", "second_hop": "tab:red"}
    any_unlearned = False
    interval = ""
    for ax, lr in zip(axes[0], lrs):
        for hop, bands in results["lrs"][lr].items():
            x = [b["start"] for b in bands]
            ok = [band_fact_learned(b) for b in bands]
            any_unlearned |= not all(ok)
            interval = bands[0]["implication"].get("interval", interval)
            for key, style in (("implication", "-"), ("fact", ":")):
                color = colors.get(hop)
                m = [b[key]["mean"] for b in bands]
                err = [[b[key]["mean"] - bounds(b[key])[0] for b in bands], [bounds(b[key])[1] - b[key]["mean"] for b in bands]]
                ax.errorbar(x, m, yerr=err, color=color, ls=style, capsize=2, label=f"{hop.replace('_', '-')} {key}")
                for filled in (True, False):
                    pts = [(xi, mi) for xi, mi, o in zip(x, m, ok) if o == filled]
                    if pts:
                        ax.plot(*zip(*pts), ls="none", marker="o", ms=4 if filled else 6, color=color,
                                mfc=color if filled else "white", mew=1.2)
        ax.axhline(results["chance"], color="grey", ls="--", lw=1)
        width = results["width"]
        trained = "only layer start" if width == 1 else f"only layers start..start+{width - 1}"
        ax.set_title(f"lr {lr}: {trained} trained", fontsize=9)
        ax.set_xlabel("first layer of the trained band")
        ax.set_xticks(results["starts"])
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(f"final mean rank (0 = best, chance {results['chance']:g})")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if any_unlearned:
        handles.append(Line2D([], [], ls="none", marker="o", ms=6, color="black", mfc="white"))
        labels.append(f"hollow: fact not learned (a seed's\nfact rank >= {LEARNED:g}): its\nimplication rank says nothing")
    n = len(results["seeds"])
    bars = f"bars: {interval}" if n >= 3 and interval else "bars: min-max" if n == 2 else "one seed, no interval"
    hollow = "; hollow: fact not learned" if any_unlearned else ""
    fig.suptitle(f"Where should a fact be stored? {results['model']}\nseeds {results['seeds']} ({bars}{hollow})",
                 fontsize=10)
    fig.tight_layout()
    # below the panels, never over a point or a bar: a column per hop (implication over fact), the
    # hollow marker's key in a third; the saved figure's tight bounding box takes it in
    axes[0][0].legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                      bbox_transform=fig.transFigure, ncol=3 if any_unlearned else 2, frameon=False)
    return fig


ORDER_COLORS = {"joint": "tab:blue", "facts_first": "tab:green", "impl_first": "tab:purple"}


def plot_data_ordering(results: dict[str, Any]) -> plt.Figure:
    """Two panels. Left: continued training on the training people, their facts (dotted) and
    implications (solid) rank per epoch, phase after phase. Right: finetuning on the test
    people's facts only, their facts (dotted) and never-trained implications (solid). Seed
    mean per order; band: the seeds' min-max."""
    import numpy as np

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1.3, 1]})
    for order, d in results["orders"].items():
        color = ORDER_COLORS.get(order)
        logs = d["per_seed"]
        for key, style in (("train_implications_rank", "-"), ("train_facts_rank", ":")):
            curves = np.array([[row[key] for row in r["phase_log"] if row["epoch"] > 0 or row is r["phase_log"][0]]
                               for r in logs])
            x = np.arange(curves.shape[1])
            left.plot(x, curves.mean(0), color=color, ls=style, lw=2, marker="o" if style == "-" else None, ms=3,
                      label=f"{order} {'implications' if 'impl' in key else 'facts'}")
            left.fill_between(x, curves.min(0), curves.max(0), color=color, alpha=0.12)
        for key, style in (("test_implications", "-"), ("test_facts", ":")):
            curves = np.array([r[key] for r in logs])
            x = np.arange(curves.shape[1])
            label = f"{order} {'implications' if 'impl' in key else 'facts'}"
            if key == "test_implications":
                label += f" (final {d['test_implications_final']['mean']:.2f})"  # the summary the tables print
            right.plot(x, curves.mean(0), color=color, ls=style, lw=2, marker="o" if style == "-" else None, ms=3,
                       label=label)
            right.fill_between(x, curves.min(0), curves.max(0), color=color, alpha=0.12)
    s = results["setting"]
    for ax in (left, right):
        ax.axhline(results["chance"], color="grey", ls="--", lw=1)
        ax.set_ylim(-0.3, 14)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=1 if ax is right else 2, loc="upper right")
    left.set_title(f"Continued training on {results['n_train_people']} training people "
                   f"({s['epochs']} epochs per phase)", fontsize=9)
    left.set_xlabel("epoch of continued training (all phases)")
    left.set_ylabel(f"mean rank (0 = best, chance {results['chance']:g})")
    right.set_title("Then finetuning on the 20 test people's facts only", fontsize=9)
    right.set_xlabel("finetuning epoch")
    layers = s["layers"]
    fig.suptitle(f"Data ordering, {results['model']}: layers {layers[0]}-{layers[-1]} trained at lr {s['lr']:g}; "
                 f"seeds {results['seeds']} (band: min-max); dashed: chance", fontsize=10)
    fig.tight_layout()
    return fig


def plot_grafting(results: dict[str, Any]) -> plt.Figure:
    """Bars: mean rank of Impl F', Impl F and F' (training people) under W_F', the graft and
    the control, with the seeds' interval and each seed as a dot."""
    import numpy as np

    columns = list(next(iter(results["table"].values())))
    rows = list(results["table"])
    colors = {"W_F'": "tab:grey", "graft": "tab:green", "control": "tab:orange"}
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.8 / len(rows)
    for i, row in enumerate(rows):
        x = np.arange(len(columns)) + (i - (len(rows) - 1) / 2) * width
        cells = [results["table"][row][c] for c in columns]
        means = [c["mean"] for c in cells]
        err = [[c["mean"] - bounds(c)[0] for c in cells], [bounds(c)[1] - c["mean"] for c in cells]]
        ax.bar(x, means, width * 0.92, yerr=err, capsize=3, color=colors.get(row), label=results["rows"][row])
        for xi, c in zip(x, cells):
            ax.scatter([xi] * len(c["values"]), c["values"], color="black", s=8, zorder=3)
    ax.axhline(results["chance"], color="grey", ls="--", lw=1)
    ax.set_xticks(np.arange(len(columns)), [f"rank of {c}" for c in columns])
    ax.set_ylabel(f"mean rank (0 = best, chance {results['chance']:g})")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    interval = "95% t-interval" if len(results["seeds"]) >= 3 else "min-max"
    ax.set_title(f"Weight grafting, {results['model']}, {results['n_train_people']} training people; "
                 f"seeds {results['seeds']} (dots), bars: {interval}", fontsize=9)
    fig.tight_layout()
    return fig


def plot_localisation(results: dict[str, Any]) -> plt.Figure:
    """The localisation scatter, one panel per part (MLPs, heads): each point an MLP at one
    display token and trained layer, or a head at one display token, trained layer and head
    (the layout the results store: ``points``, ``shape``), every seed's points together; x the
    informative score of the implication training, y the downstream score of the test people's
    OCR. Points are coloured by layer (results saved before per-point scatters hold one point
    per component of the trained layers and no ``shape``: coloured by seed)."""
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    loc = results["localisation"]
    layers = list(loc["layers"])
    cmap = plt.get_cmap("viridis")
    markers = "os^Dvp*hX<>"
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, comp, title in zip(axes, ("mlp", "heads"), ("MLPs", "attention heads")):
        shape = loc.get("shape", {}).get(comp)
        r2s = []
        for k, seed_loc in enumerate(loc["per_seed"]):
            x, y = seed_loc[comp]["informative"], seed_loc[comp]["downstream"]
            r2s.append(f"{seed_loc[comp]['r2']:.2f}")
            if shape:  # flat C order over (token, layer[, head]): the layer is axis 1
                layer = np.unravel_index(np.arange(len(x)), shape)[1]
                colour = [cmap(i / max(len(layers) - 1, 1)) for i in layer]
                ax.scatter(x, y, s=10, alpha=0.6, c=colour, marker=markers[k % len(markers)], linewidths=0)
            else:
                ax.scatter(x, y, s=14, alpha=0.7, label=f"seed {results['seeds'][k]} (r² {r2s[-1]})")
        if shape:
            for i, layer_index in enumerate(layers):
                ax.scatter([], [], s=14, color=cmap(i / max(len(layers) - 1, 1)), label=f"layer {layer_index}")
            # under the x label, five seeds a line, so that it stays inside the panel's width
            lines = [", ".join(r2s[i:i + 5]) for i in range(0, len(r2s), 5)]
            ax.annotate("r² per seed (one marker each): " + ",\n".join(lines), xy=(0.5, 0),
                        xycoords=ax.xaxis.label, xytext=(0, -3), textcoords="offset points", ha="center",
                        va="top", fontsize=7)
        points = (f"{int(np.prod(shape))} points per seed\n({loc['points'][comp]}), " if shape
                  else f"layers {layers[0]}-{layers[-1]}\n")
        test = results.get("claims", {}).get("localisation", {}).get("inputs", {}).get("tests", {}).get(comp)
        summary = (f"signed r² {test['statistic']:.2f}, permutation {p_text(test['p'], test['resamples'])}" if test
                   else f"mean r² {loc[f'{comp}_r2']['mean']:.2f}")  # results saved before the claim rules
        ax.set_title(f"{title}, {points}{summary}", fontsize=9)
        ax.set_xlabel("informative score of W_{F,Impl} - W_F\n(training people)")  # clear of the x10^k at its end
        ax.xaxis.set_major_locator(MaxNLocator(4))  # few ticks, with a shared power of ten at the axis end
        ax.ticklabel_format(axis="both", style="sci", scilimits=(-2, 3), useMathText=True)
        ax.axhline(0, color="grey", lw=0.8)
        ax.axvline(0, color="grey", lw=0.8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right", ncol=2 if len(layers) > 8 else 1)
    axes[0].set_ylabel("downstream score of test-people OCR")
    fig.suptitle(f"Grafting localisation, {results['model']}: does the implication training change the "
                 "components that process the extracted fact?", fontsize=10)
    fig.tight_layout()
    return fig


def plot_sweep(results: dict[str, Any]) -> plt.Figure:
    """The lr x epochs grid, as the authors' sweep figures: one heatmap per hop of the
    implication rank (seed mean, annotated; fact rank in brackets), lr across, epochs down.
    Dark = low rank = OCR; the colour scale ends at chance."""
    import numpy as np

    hops = list(results["hops"])
    lrs = [f"{lr:g}" for lr in results["lrs"]]
    epochs = [str(e) for e in results["epochs"]]
    fig, axes = plt.subplots(1, len(hops), figsize=(1.3 * len(lrs) * len(hops) + 1.5, 0.55 * len(epochs) + 1.8),
                             squeeze=False)
    for ax, hop in zip(axes[0], hops):
        cells = results["hops"][hop]
        grid = np.array([[cells[lr][e]["implication"]["mean"] for lr in lrs] for e in epochs])
        image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=results["chance"], aspect="auto")
        for i, e in enumerate(epochs):
            for j, lr in enumerate(lrs):
                fact = cells[lr][e]["fact"]["mean"]
                ax.text(j, i, f"{grid[i, j]:.1f}\n({fact:.1f})", ha="center", va="center", fontsize=7,
                        color="white" if grid[i, j] < results["chance"] / 2 else "black")
        ax.set_xticks(range(len(lrs)), lrs)
        ax.set_yticks(range(len(epochs)), epochs)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("epochs")
        ax.set_title(HOP_TITLES.get(hop, hop), fontsize=10)
    fig.colorbar(image, ax=axes[0].tolist(), label=f"implication rank (chance {results['chance']:g})", shrink=0.9)
    fig.suptitle(f"lr x epochs sweep, {results['model']}, seeds {results['seeds']} "
                 "(implication rank, fact rank in brackets)", fontsize=10)
    return fig
