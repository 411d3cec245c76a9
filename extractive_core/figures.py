"""Every figure of the book, redrawn from its saved results, so a figure can be restyled
(edit ``plots.py``) without rerunning a model:

    python -m extractive_core.figures [--models gemma3_270m toyworld] [--formats png pdf]

A figure is a plot function applied to (part of) one results file; ``FIGURES`` says which.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from . import plots
from .errors import ParameterError
from .results import FIGURE_FORMATS, figure_path, load_json, output_root, results_path, save_figure


@dataclass(frozen=True)
class Figure:
    result: str  # results/<model>/<result>.json
    plot: Callable[[Any], Any]
    part: Callable[[dict, str], Any] = lambda results, model: results  # what the plot is given


FIGURES: dict[str, Figure] = {
    "two_hop_ocr": Figure("two_hop_ocr", plots.plot_rank_curves),
    "extractive_scores": Figure("extractive_scores", plots.plot_score_maps),
    "extractive_exact_check": Figure("extractive_scores", plots.plot_exact_check),
    "band_map": Figure("layer_freezing", plots.plot_band_map, lambda r, m: r["band_map"]),
    "grafting": Figure("grafting", plots.plot_grafting),
    "grafting_localisation": Figure("grafting", plots.plot_localisation),
    "data_ordering": Figure("data_ordering", plots.plot_data_ordering),
    "pretraining_order": Figure("pretraining_order", plots.plot_pretraining_order),
    "sweep": Figure("sweep", plots.plot_sweep),
    "precision": Figure("reproducibility", plots.plot_precision, lambda r, m: r["precision"][m]["runs"]),
}


def drawable(model: str, name: str) -> bool:
    """Whether the results behind figure ``name`` of ``model`` exist (precision: only where
    the float32-bf16 comparison ran)."""
    path = results_path(model, FIGURES[name].result)
    if not path.is_file():
        return False
    return name != "precision" or model in load_json(path).get("precision", {})


def redraw(model: str, name: str, formats: tuple[str, ...] = FIGURE_FORMATS) -> Path:
    """Draw figure ``name`` of ``model`` from its results file into figures/."""
    if name not in FIGURES:
        raise ParameterError(f"unknown figure {name!r}; choose from {sorted(FIGURES)}")
    fig = FIGURES[name]
    results = load_json(results_path(model, fig.result))
    drawn = fig.plot(fig.part(results, model))
    path = save_figure(drawn, figure_path(model, name), formats)
    plots.plt.close(drawn)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description="Redraw the book's figures from results/")
    parser.add_argument("--models", nargs="*", default=None, help="default: every model with results")
    parser.add_argument("--formats", nargs="*", default=list(FIGURE_FORMATS))
    args = parser.parse_args()
    root = output_root()
    models = args.models or sorted(p.name for p in (root / "results").iterdir() if p.is_dir())
    for model in models:
        for name in FIGURES:
            if drawable(model, name):
                print(redraw(model, name, tuple(args.formats)))


if __name__ == "__main__":
    main()
