"""Every results file as a tidy (long) table, and the book's page of downloads.

    python -m extractive_core.tidy [--results DIR] [--page PATH]

writes ``results/<model>/<name>.csv`` beside each ``results/<model>/<name>.json``, one row per
per-seed number, in the columns ``COLUMNS``:

- ``model``, ``experiment``: the model that ran and the results file's name;
- ``condition``: what the experiment varied, its levels joined with ``/``, most general first
  (``first_hop``; ``facts_first/implications``: the order and its phase; ``first_hop/lr=3e-05``;
  ``band/lr=0.0001/second_hop/start=7``); a numeric level is written ``name=value``;
- ``seed``: the run's seed; empty for a number that no seed made (chance, the pretrained model's
  rank, a band's rank before finetuning). A mean over seeds is never a row: every seeded number
  comes from a per-seed field of the file, so means and intervals are recomputed from the rows;
- ``epoch``: the epoch of a per-epoch curve (0: before training); empty for a final number;
- ``split``: what was evaluated (``facts``, ``implications``, ``known_facts``, the grafting
  table's columns ``Impl F'``, ``Impl F``, ``F'``, a phase log's ``train_facts`` ...); empty where
  it does not apply (a loss, an extractive score);
- ``metric``: ``mean_rank`` (0 = best), ``chance_rank``, ``loss``, ``pretrain_loss``,
  ``layer_total`` (a layer's summed extractive score), ``exact_r`` / ``exact_relative_error``
  (the exact check), ``r2`` (the grafting localisation);
- ``value``: the number.

What each file kind gives (``KINDS``) and what it leaves out, all of it not per seed or
recomputable from the rows: seed means and intervals, verdicts and claims, the extractive score
maps (means over seeds, per token), the per-component points of the exact check and of the
grafting localisation, the paired differences (differences of rows), timings. Of
``reproducibility``, the float32 and bf16 runs (per seed, ``model`` is the model they ran);
not its settings probes, one run repeated under numeric settings, whose seed is not in the file.

``downloads_page`` writes the book's "Data and figures" page (``book/data.md``): per chapter and
model, the JSON and CSV of each results file and the PNG and PDF of each figure, as Sphinx
``{download}`` links, which copy each file into the built book.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pandas as pd

from .errors import ParameterError, bad_input_exits
from .results import results_folder
from .storage import load_json, write_atomic

__all__ = ["COLUMNS", "KINDS", "CHAPTERS", "tidy", "read_tidy", "write_tidy", "downloads_page", "write_page"]

COLUMNS = ("model", "experiment", "condition", "seed", "epoch", "split", "metric", "value")
RANK = "mean_rank"
HOPS = ("first_hop", "second_hop")
TWO_HOP_SPLITS = {"train_rank": "facts", "test_rank": "implications"}  # a two-hop run's curves
SUMMARY_SPLITS = {"fact": "facts", "implication": "implications"}  # a freezing row's or band's columns

# A row before ``model`` and ``experiment``: condition, seed, epoch, split, metric, value.
Row = tuple[str | None, int | None, int | None, str | None, str, float]
Rows = Iterator[Row]


def join(*levels: object) -> str:
    """The condition of ``levels`` (None left out), joined with ``/``."""
    return "/".join(str(level) for level in levels if level is not None)


def _per_value(condition: str, seeds: list[int], summary: dict[str, Any], split: str | None,
               metric: str = RANK) -> Rows:
    """A ``stats.summarise`` entry's per-seed ``values``, one row per seed of ``seeds`` (in order)."""
    values = summary["values"]
    if len(values) != len(seeds):
        raise ParameterError(f"{condition}: {len(values)} values for {len(seeds)} seeds {seeds}")
    for seed, value in zip(seeds, values):
        yield condition, int(seed), None, split, metric, value


def _curves(condition: str, seed: int | None, curves: dict[str, Any], splits: dict[str, str]) -> Rows:
    """Per-epoch curves (``{key: [value per epoch]}``), each key named by ``splits``."""
    for key, split in splits.items():
        for epoch, value in enumerate(curves.get(key, [])):
            yield condition, seed, epoch, split, RANK, value


def two_hop_ocr(r: dict[str, Any], prefix: str | None = None) -> Rows:
    """Per hop and seed the fact and implication rank curves; per hop the pretrained model's
    rank on the known hop and the chance rank (no seed)."""
    for hop in HOPS:
        if hop not in r:
            continue
        condition = join(prefix, hop)
        for seed, run in r[hop]["per_seed"].items():
            yield from _curves(condition, int(seed), run, TWO_HOP_SPLITS)
        if "known_hop_rank" in r[hop]:
            yield condition, None, None, "known_facts", RANK, r[hop]["known_hop_rank"]
        if "chance_rank" in r[hop]:
            yield condition, None, None, "implications", "chance_rank", r[hop]["chance_rank"]


def run_ends(condition: str, seed: int, before: float, final: float, facts_final: float) -> Rows:
    """A run's rows as a rule's preconditions read them: the implications' rank before
    training (epoch 0) and final, and the facts' final rank."""
    yield condition, seed, 0, "implications", RANK, before
    yield condition, seed, None, "implications", RANK, final
    yield condition, seed, None, "facts", RANK, facts_final


def extractive_scores(r: dict[str, Any]) -> Rows:
    """Per hop, score kind, part (mlp, heads), layer and seed the layer's summed score
    (``layer_totals_per_seed``); the exact check's r and relative error (its one seed); per
    hop and seed the scored run's ranks (``<hop>/scored_run``: implications before (epoch 0)
    and final, facts final) and the hop's chance rank."""
    seeds = [int(s) for s in r["seeds"]]
    for hop, h in r["hops"].items():
        if "runs_per_seed" in h:  # results saved before the storage rule's preconditions have none
            runs = h["runs_per_seed"]
            for seed, before, final, facts in zip(seeds, runs["before"], runs["final"], runs["facts_final"], strict=True):
                yield from run_ends(join(hop, "scored_run"), seed, before, final, facts)
            yield hop, None, None, "implications", "chance_rank", h["chance"]
        for kind, scores in h["scores"].items():
            for part, per_seed in scores["layer_totals_per_seed"].items():
                if len(per_seed) != len(seeds):
                    raise ParameterError(f"{hop}/{kind}/{part}: {len(per_seed)} seeds' totals for seeds {seeds}")
                for seed, totals in zip(seeds, per_seed):
                    for layer, value in enumerate(totals):
                        yield join(hop, kind, part, f"layer={layer}"), seed, None, None, "layer_total", value
        for kind, parts in h.get("exact", {}).get("summary", {}).items():
            for part, check in parts.items():
                for key in ("r", "relative_error"):
                    if check.get(key) is not None:
                        yield join(hop, "exact", kind, part), int(r["exact_seed"]), None, None, f"exact_{key}", check[key]


def freezing_rows(r: dict[str, Any], prefix: str | None = None) -> Rows:
    """Per hop, freezing row (None, Early, Late, All, ...) and seed the final fact and
    implication ranks."""
    seeds = [int(s) for s in r["seeds"]]
    for hop, rows in r["hops"].items():
        for row, cells in rows.items():
            for key, split in SUMMARY_SPLITS.items():
                if key in cells:
                    yield from _per_value(join(prefix, hop, row), seeds, cells[key], split)


def band_map(b: dict[str, Any]) -> Rows:
    """Per lr, hop, start layer of the trained band and seed the final fact and implication
    ranks; the implication rank before finetuning (epoch 0, no seed)."""
    seeds = [int(s) for s in b["seeds"]]
    for lr, hops in b["lrs"].items():
        for hop, bands in hops.items():
            for band in bands:
                condition = join("band", f"lr={lr}", hop, f"start={band['start']}")
                for key, split in SUMMARY_SPLITS.items():
                    yield from _per_value(condition, seeds, band[key], split)
                if band.get("implication_before") is not None:
                    yield condition, None, 0, "implications", RANK, band["implication_before"]


def layer_freezing(r: dict[str, Any]) -> Rows:
    """The recipe's freezing rows, the band map, and the freezing rows at the band map's lr
    (conditions ``lr=<lr>/<hop>/<row>``)."""
    yield from freezing_rows(r)
    yield from _chance(r)
    if "band_map" in r:
        yield from band_map(r["band_map"])
    if "at_band_lr" in r:
        yield from freezing_rows(r["at_band_lr"], prefix=f"lr={r['at_band_lr']['lr']:g}")


def _chance(r: dict[str, Any]) -> Rows:
    if r.get("chance") is not None:
        yield None, None, None, "implications", "chance_rank", r["chance"]


def grafting(r: dict[str, Any]) -> Rows:
    """Per table row (``W_F'``, graft, control), column and seed the mean rank (``per_seed``);
    per part and seed the localisation's r2; per seed its downstream run's ranks
    (``localisation/downstream_run``: implications before (epoch 0) and final, facts final)."""
    for entry in r["per_seed"]:
        seed = int(entry["seed"])
        for row in r["table"]:
            for column, value in entry[row].items():
                yield row, seed, None, column, RANK, value
    loc = r.get("localisation", {})
    for seed, parts in zip(r["seeds"], loc.get("per_seed", [])):
        for part, p in parts.items():
            if p.get("r2") is not None:
                yield join("localisation", part), int(seed), None, None, "r2", p["r2"]
    for entry in r["per_seed"]:
        run = entry.get("downstream_run")
        if run is not None:  # results saved before the localisation's preconditions have none
            yield from run_ends(join("localisation", "downstream_run"), int(entry["seed"]), run["implications"][0],
                                run["implications"][-1], run["facts_final"])
    yield from _chance(r)


def data_ordering(r: dict[str, Any]) -> Rows:
    """Per order, phase, seed and epoch the phase log (each ``*_rank``, and the loss); per
    order, seed and epoch the test people's finetuning (``<order>/test_people``)."""
    for order, o in r["orders"].items():
        for entry in o["per_seed"]:
            seed = int(entry["seed"])
            for row in entry["phase_log"]:
                condition = join(order, row["phase"])
                for key, value in row.items():
                    if key in ("phase", "epoch") or value is None:
                        continue
                    split, metric = (key.removesuffix("_rank"), RANK) if key.endswith("_rank") else (None, key)
                    yield condition, seed, int(row["epoch"]), split, metric, value
            yield from _curves(join(order, "test_people"), seed, entry,
                               {"test_facts": "test_facts", "test_implications": "test_implications"})
    yield from _chance(r)


def sweep(r: dict[str, Any]) -> Rows:
    """Per hop, lr, seed and epoch the fact and implication ranks of the sweep's runs (every
    cell of the lr x epochs grid is its run's rank at that epoch); the layer freezing at the
    best cell, where it ran (``freezing_at_best/lr=.../epochs=.../<hop>/<row>``)."""
    for run in r["runs"]:
        yield from _curves(join(run["hop"], f"lr={run['lr']:g}"), int(run["seed"]), run, TWO_HOP_SPLITS)
    at = r.get("freezing_at_best")
    if at:
        cell = at.get("cell", {})
        prefix = join("freezing_at_best", *(f"{k}={cell[k]:g}" for k in ("lr", "epochs") if k in cell))
        yield from freezing_rows(at, prefix)
    yield from _chance(r)


def pretraining_order(r: dict[str, Any]) -> Rows:
    """Per corpus mode and seed: the pretraining loss, the rank of implications whose facts
    alone were in the corpus (``fact_only_implications``), and per hop the OCR curves and the
    known hop's rank."""
    for mode, m in r["modes"].items():
        for entry in m["per_seed"]:
            seed = int(entry["seed"])
            if entry.get("pretrain_loss") is not None:
                yield mode, seed, None, None, "pretrain_loss", entry["pretrain_loss"]
            if entry.get("fact_only_impl_rank") is not None:
                yield mode, seed, None, "fact_only_implications", RANK, entry["fact_only_impl_rank"]
            for hop in HOPS:
                if hop in entry:
                    yield from _curves(join(mode, hop), seed, entry[hop], TWO_HOP_SPLITS)
                    if entry[hop].get("known_hop_rank") is not None:
                        yield join(mode, hop), seed, None, "known_facts", RANK, entry[hop]["known_hop_rank"]


KINDS: dict[str, Callable[[dict[str, Any]], Rows]] = {
    "two_hop_ocr": two_hop_ocr,
    "extractive_scores": extractive_scores,
    "layer_freezing": layer_freezing,
    "grafting": grafting,
    "data_ordering": data_ordering,
    "sweep": sweep,
    "pretraining_order": pretraining_order,
}


TEXT = ("model", "experiment", "condition", "split", "metric")
DTYPES = {**{c: "string" for c in TEXT}, "seed": "Int64", "epoch": "Int64", "value": "float64"}


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """The rows as a frame of ``COLUMNS``, typed by ``DTYPES`` (text, whole numbers or missing,
    floats), so that ``read_tidy`` of its CSV gives it back."""
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(DTYPES)


def tidy(results: dict[str, Any], model: str, experiment: str) -> pd.DataFrame:
    """The results of ``experiment`` (a results file's name, ``KINDS``) on ``model`` as a long
    table: the columns ``COLUMNS``, one row per number (see the module's notes)."""
    if experiment == "reproducibility":  # the float32 and bf16 two-hop runs of each model it compared
        rows = [(m, experiment, *row) for m, p in results.get("precision", {}).items()
                for dtype, run in p["runs"].items() for row in two_hop_ocr(run, prefix=dtype)]
        return _frame(rows)
    if experiment not in KINDS:
        raise ParameterError(f"no tidy table for results {experiment!r}; known: {sorted([*KINDS, 'reproducibility'])}")
    return _frame([(model, experiment, *row) for row in KINDS[experiment](results)])


def _tidy_file(path: Path) -> pd.DataFrame:
    """``tidy`` of the results file at ``path`` (``<model>/<name>.json``); a file not of its
    kind's shape (a key missing, a list where a dict belongs) is a ``ParameterError`` naming it."""
    results = load_json(path)
    try:
        return tidy(results, path.parent.name, path.stem)
    except ParameterError as err:
        raise ParameterError(f"{path}: {err}") from None
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as err:
        what = f"has no key {err}" if isinstance(err, KeyError) else f"is not of its shape ({type(err).__name__}: {err})"
        raise ParameterError(f"{path} is not a {path.stem!r} results file: it {what}; rerun its chapter, "
                             f"notebooks/{CHAPTERS[path.stem]}.ipynb, or restore it from git") from None


def csv_text(frame: pd.DataFrame) -> str:
    """The CSV of a tidy frame: a header, then a row per row; a missing value is empty."""
    return frame.to_csv(index=False, lineterminator="\n")


def read_tidy(path: Path) -> pd.DataFrame:
    """A tidy CSV read back as ``tidy`` made it: the same dtypes, and only an empty field
    missing (a condition like ``None`` stays text). ``pandas.read_csv(path)`` alone gives the
    same rows and columns, with pandas' own guesses of the types."""
    return pd.read_csv(path, dtype=DTYPES, keep_default_na=False, na_values=[""])


def write_tidy(results_dir: Path) -> list[Path]:
    """Write ``<model>/<name>.csv`` beside every ``<model>/<name>.json`` of ``results_dir``
    (each whole); the CSVs written. Every file is read before any CSV is written, so a file that
    is not JSON or not of its kind's shape stops it with nothing written. A file of a kind with
    no table is named in the error raised after the others are written."""
    results_folder(results_dir)
    frames, unknown = {}, []
    for path in sorted(Path(results_dir).glob("*/*.json")):
        known = path.stem in KINDS or path.stem == "reproducibility"
        if not known:
            unknown.append(str(path.relative_to(results_dir)))
            continue
        frames[path] = _tidy_file(path)
    written = [write_atomic(path.with_suffix(".csv"), csv_text(frame)) for path, frame in frames.items()]
    if unknown:
        raise ParameterError(f"no tidy table for {unknown}; add its kind to extractive_core.tidy.KINDS")
    return written


# The chapter (notebook) that writes each results file.
CHAPTERS = {
    "two_hop_ocr": "01_two_hop_ocr",
    "extractive_scores": "02_extractive_scores",
    "layer_freezing": "03_layer_freezing",
    "grafting": "04_grafting",
    "data_ordering": "05_data_ordering",
    "sweep": "06_model_sweep",
    "pretraining_order": "07_toyworld",
    "reproducibility": "08_reproducibility",
}
PAGE = Path("book") / "data.md"


def chapter_title(root: Path, chapter: str) -> str:
    """The notebook's first ``# `` heading (its title in the book), else its file name."""
    path = root / "notebooks" / f"{chapter}.ipynb"
    if path.is_file():
        for cell in json.loads(path.read_text()).get("cells", []):
            if cell.get("cell_type") == "markdown":
                for line in "".join(cell.get("source", [])).splitlines():
                    if line.startswith("# "):
                        return line[2:].strip()
    return chapter


def figure_results() -> dict[str, str]:
    """Each figure's results file (``figures.FIGURES``), imported only here (matplotlib)."""
    from .figures import FIGURES

    return {name: fig.result for name, fig in FIGURES.items()}


def downloads_page(root: Path, page_dir: Path | None = None) -> str:
    """The Markdown (MyST) of the book's downloads page for the repository at ``root``: per
    chapter and model, ``{download}`` links to each results file's JSON and CSV and each
    figure's PNG and PDF that exist. Links are relative to ``page_dir``
    (default ``root/book``, where the page goes), so no machine path is in the page."""
    root = Path(root)
    page_dir = Path(page_dir) if page_dir is not None else root / PAGE.parent
    figures_of = figure_results()

    def link(path: Path, label: str) -> str:
        rel = Path(os.path.relpath(path.resolve(), page_dir.resolve())).as_posix()
        return f"{{download}}`{label} <{rel}>`"

    def files(path: Path, kinds: tuple[tuple[str, str], ...]) -> str:
        return ", ".join(link(path.with_suffix(s), label) for s, label in kinds if path.with_suffix(s).is_file())

    sections: dict[str, dict[str, list[str]]] = {}  # chapter ("" for none) -> model -> items
    models = sorted({p.parent.name for folder in ("results", "figures") for p in (root / folder).glob("*/*.*")})
    for model in models:
        for path in sorted((root / "results" / model).glob("*.json")):
            item = f"results `{path.stem}`: " + files(path, ((".json", "JSON"), (".csv", "CSV")))
            sections.setdefault(CHAPTERS.get(path.stem, ""), {}).setdefault(model, []).append(item)
        for path in sorted((root / "figures" / model).glob("*.png")):
            item = f"figure `{path.stem}`: " + files(path, ((".png", "PNG"), (".pdf", "PDF")))
            chapter = CHAPTERS.get(figures_of.get(path.stem, path.stem), "")
            sections.setdefault(chapter, {}).setdefault(model, []).append(item)

    lines = [
        "# Data and figures",
        "",
        "Every number of this book is in a results file, `results/<model>/<name>.json`, written by its "
        "chapter's notebook. Beside each, `results/<model>/<name>.csv` holds its per-seed numbers as one long "
        "table, a row per number, in the columns `" + "`, `".join(COLUMNS) + "` (written by "
        "`python -m extractive_core.tidy`, whose documentation says what each column holds; a mean over seeds "
        "is never a row, so every mean and interval can be recomputed from the rows). Every figure is here as "
        "the PNG the book shows and as a PDF. The files are those the book was built from.",
        "",
        "```python",
        "import pandas as pd",
        "",
        'df = pd.read_csv("grafting.csv")  # or extractive_core.tidy.read_tidy, which keeps the types',
        'df[df.metric == "mean_rank"].groupby(["condition", "split"]).value.agg(["mean", "std", "count"])',
        "```",
        "",
    ]
    for chapter in sorted(sections, key=lambda c: (c == "", c)):
        anchor = chapter.split("_", 1)[-1].replace("_", "-") if chapter else "other"
        if chapter:
            title = chapter_title(root, chapter)
            lines += [f"(data-{anchor})=", f"## {title}", ""]
            if (root / "notebooks" / f"{chapter}.ipynb").is_file():
                rel = Path(os.path.relpath((root / "notebooks" / chapter).resolve(), page_dir.resolve())).as_posix()
                lines += [f"The chapter: {{doc}}`{rel}`.", ""]
        else:
            lines += ["(data-other)=", "## Other results", ""]
        for model, items in sections[chapter].items():
            lines.append(f"- `{model}`")
            lines += [f"  - {item}" for item in items]
        lines.append("")
    return "\n".join(lines)


def write_page(root: Path, page: Path | None = None) -> Path:
    """Write ``downloads_page`` of ``root`` to ``page`` (default ``root/book/data.md``), whole."""
    page = Path(page) if page is not None else Path(root) / PAGE
    return write_atomic(page, downloads_page(root, page.parent))


def main(argv: list[str] | None = None) -> None:
    """The command line; bad input exits with status 2 and one line naming it."""
    from .results import output_root

    prog = "python -m extractive_core.tidy"
    parser = argparse.ArgumentParser(prog=prog, description="Tidy CSVs beside results/*/*.json, and the book's downloads page")
    parser.add_argument("--results", type=Path, default=None, help="results folder (default: results/ of the output root)")
    parser.add_argument("--page", type=Path, default=None,
                        help="where to write the downloads page (default: book/data.md beside the results folder, "
                             "if book/ is there)")
    args = parser.parse_args(argv)
    results = args.results or output_root() / "results"
    with bad_input_exits(prog):
        written = write_tidy(results)
    for path in written:
        print(f"{path}: {sum(1 for _ in path.open()) - 1} rows")
    root = results.resolve().parent
    page = args.page or (root / PAGE if (root / PAGE.parent).is_dir() else None)
    if page is not None:
        print(write_page(root, page))


if __name__ == "__main__":
    main()
