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
from .errors import ParameterError, bad_input_exits
from .params import check_choices
from .results import (FIGURE_FORMATS, figure_path, load_json, model_folder, output_root, results_folder, results_path,
                      save_figure)


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


def check_formats(formats: Any) -> tuple[str, ...]:
    """A non-empty list of distinct file formats matplotlib can write (``png``, ``pdf``, ``svg``, ...)."""
    from matplotlib.backend_bases import FigureCanvasBase

    known = tuple(sorted(FigureCanvasBase.get_supported_filetypes()))
    return tuple(check_choices(formats, "formats", "figure format", known))


def redraw_all(models: list[str] | None = None, formats: Any = FIGURE_FORMATS) -> list[Path]:
    """Every drawable figure of ``models`` (None: every model with results), redrawn; the
    files written, one per figure and format."""
    formats = check_formats(formats)
    root = results_folder(output_root() / "results")
    known = sorted(p.name for p in root.iterdir() if p.is_dir())
    unknown = [m for m in models or () if model_folder(m) not in known]
    if unknown:
        raise ParameterError(f"no results for {unknown} under {root}: run their notebooks first; models with "
                             f"results: {known}")
    drawn = [redraw(model, name, formats) for model in models or known for name in FIGURES if drawable(model, name)]
    return [path.with_suffix(f".{fmt}") for path in drawn for fmt in formats]


def main(argv: list[str] | None = None) -> None:
    """The command line; bad input exits with status 2 and one line naming it."""
    prog = "python -m extractive_core.figures"
    parser = argparse.ArgumentParser(prog=prog, description="Redraw the book's figures from results/")
    parser.add_argument("--models", nargs="*", default=None, help="default: every model with results")
    parser.add_argument("--formats", nargs="*", default=list(FIGURE_FORMATS))
    args = parser.parse_args(argv)
    with bad_input_exits(prog):
        for path in redraw_all(args.models, args.formats):
            print(path)


if __name__ == "__main__":
    main()
