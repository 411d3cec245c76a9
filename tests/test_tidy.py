"""The tidy tables: every committed results file converts to the eight columns, its CSV reads
back as it was written, a per-seed number lands on its own seed (so a shift of seeds fails),
the seeds are the file's, the committed CSVs and data page are what the committed results
give, and the data page links every results file and figure."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pytest

from extractive_core.errors import ParameterError
from extractive_core.storage import load_json
from extractive_core.tidy import (CHAPTERS, COLUMNS, KINDS, PAGE, csv_text, downloads_page, read_tidy, tidy,
                                  write_tidy)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "results"
FILES = sorted(p.relative_to(RESULTS) for p in RESULTS.glob("*/*.json"))


def frame_of(rel: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    results = load_json(RESULTS / rel)
    return results, tidy(results, rel.parent.name, rel.stem)


def the_value(frame: pd.DataFrame, **where: Any) -> float:
    """The one row's value where every column of ``where`` equals its value (None: missing)."""
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column].isna() if value is None else (frame[column] == value).fillna(False)
    rows = frame[mask]
    assert len(rows) == 1, f"{len(rows)} rows for {where}"
    return float(rows["value"].iloc[0])


def last_seed(r: dict[str, Any]) -> tuple[int, int]:
    """The index and number of the file's last seed (not the first: a shift of seeds shows)."""
    return len(r["seeds"]) - 1, int(r["seeds"][-1])


def check_two_hop_ocr(r, f, model):
    i, seed = last_seed(r)
    curve = r["second_hop"]["per_seed"][str(seed)]["test_rank"]
    assert the_value(f, condition="second_hop", seed=seed, epoch=3, split="implications") == curve[3]
    assert the_value(f, condition="first_hop", seed=None, split="known_facts") == r["first_hop"]["known_hop_rank"]


def check_extractive_scores(r, f, model):
    i, seed = last_seed(r)
    totals = r["hops"]["second_hop"]["scores"]["informative"]["layer_totals_per_seed"]["mlp"][i]
    assert the_value(f, condition="second_hop/informative/mlp/layer=1", seed=seed, metric="layer_total") == totals[1]
    run = r["hops"]["second_hop"]["runs_per_seed"]
    assert the_value(f, condition="second_hop/scored_run", seed=seed, epoch=None, split="implications") == run["final"][i]
    assert the_value(f, condition="second_hop/scored_run", seed=seed, epoch=0, split="implications") == run["before"][i]
    assert the_value(f, condition="second_hop/scored_run", seed=seed, split="facts") == run["facts_final"][i]
    assert the_value(f, condition="second_hop", seed=None, metric="chance_rank") == r["hops"]["second_hop"]["chance"]


def check_layer_freezing(r, f, model):
    i, seed = last_seed(r)
    late = r["hops"]["first_hop"]["Late"]["implication"]["values"][i]
    assert the_value(f, condition="first_hop/Late", seed=seed, split="implications") == late
    band = r["band_map"]
    lr = next(iter(band["lrs"]))
    point = band["lrs"][lr]["second_hop"][-1]
    condition = f"band/lr={lr}/second_hop/start={point['start']}"
    assert the_value(f, condition=condition, seed=int(band["seeds"][-1]), split="facts") == point["fact"]["values"][-1]


def check_grafting(r, f, model):
    i, seed = last_seed(r)
    entry = r["per_seed"][i]
    assert entry["seed"] == seed
    assert the_value(f, condition="graft", seed=seed, split="Impl F") == entry["graft"]["Impl F"]
    r2 = r["localisation"]["per_seed"][i]["heads"]["r2"]
    assert the_value(f, condition="localisation/heads", seed=seed, metric="r2") == r2


def check_data_ordering(r, f, model):
    i, seed = last_seed(r)
    entry = r["orders"]["facts_first"]["per_seed"][i]
    assert entry["seed"] == seed
    row = entry["phase_log"][-1]
    assert the_value(f, condition=f"facts_first/{row['phase']}", seed=seed, epoch=row["epoch"],
                     split="test_implications") == row["test_implications_rank"]
    assert the_value(f, condition="facts_first/test_people", seed=seed, epoch=len(entry["test_implications"]) - 1,
                     split="test_implications") == entry["test_implications"][-1]


def check_sweep(r, f, model):
    run = r["runs"][-1]
    assert the_value(f, condition=f"{run['hop']}/lr={run['lr']:g}", seed=run["seed"], epoch=2,
                     split="implications") == run["test_rank"][2]


def check_pretraining_order(r, f, model):
    i, seed = last_seed(r)
    entry = r["modes"]["impl_first"]["per_seed"][i]
    assert entry["seed"] == seed
    assert the_value(f, condition="impl_first", seed=seed, metric="pretrain_loss") == entry["pretrain_loss"]
    assert the_value(f, condition="impl_first/second_hop", seed=seed, epoch=4,
                     split="implications") == entry["second_hop"]["test_rank"][4]


def check_reproducibility(r, f, model):
    for name, p in r["precision"].items():
        run = p["runs"]["bfloat16"]
        seed = int(run["seeds"][-1])
        curve = run["first_hop"]["per_seed"][str(seed)]["test_rank"]
        assert the_value(f, model=name, condition="bfloat16/first_hop", seed=seed, epoch=len(curve) - 1,
                         split="implications") == curve[-1]


CHECKS: dict[str, Callable[[dict, pd.DataFrame, str], None]] = {
    "two_hop_ocr": check_two_hop_ocr, "extractive_scores": check_extractive_scores,
    "layer_freezing": check_layer_freezing, "grafting": check_grafting, "data_ordering": check_data_ordering,
    "sweep": check_sweep, "pretraining_order": check_pretraining_order, "reproducibility": check_reproducibility,
}


def file_seeds(r: dict[str, Any], experiment: str) -> set[int]:
    if experiment == "reproducibility":
        return {int(s) for p in r["precision"].values() for run in p["runs"].values() for s in run["seeds"]}
    nested = r.get("freezing_at_best", {}).get("seeds", [])  # the sweep's freezing runs its own seeds
    return {int(s) for s in [*r["seeds"], *nested]}


def test_every_kind_is_covered_and_has_a_chapter():
    kinds = {p.stem for p in FILES}
    assert kinds <= set(CHECKS) and set(CHECKS) == {*KINDS, "reproducibility"}
    assert kinds <= set(CHAPTERS)
    for chapter in CHAPTERS.values():
        assert (REPO / "notebooks" / f"{chapter}.ipynb").is_file(), chapter


@pytest.mark.parametrize("rel", FILES, ids=str)
def test_a_results_file_converts_with_its_own_seeds_and_values(rel):
    r, f = frame_of(rel)
    assert tuple(f.columns) == COLUMNS and len(f) > 0
    assert (f["experiment"] == rel.stem).all() and f["metric"].notna().all() and f["value"].notna().all()
    assert not f.duplicated(subset=[c for c in COLUMNS if c != "value"]).any()  # one number per key
    seeds = set(f["seed"].dropna().astype(int))
    assert seeds == file_seeds(r, rel.stem)
    assert f["seed"].nunique() == len(file_seeds(r, rel.stem))
    CHECKS[rel.stem](r, f, rel.parent.name)


@pytest.mark.parametrize("rel", FILES, ids=str)
def test_a_written_csv_reads_back_as_written(tmp_path, rel):
    r, f = frame_of(rel)
    path = tmp_path / "t.csv"
    path.write_text(csv_text(f))
    plain = pd.read_csv(path)
    assert plain.shape == f.shape and tuple(plain.columns) == COLUMNS
    pd.testing.assert_frame_equal(read_tidy(path), f, check_exact=True)


def test_write_tidy_writes_a_csv_beside_each_results_file(tmp_path):
    shutil.copytree(RESULTS, tmp_path / "results", ignore=shutil.ignore_patterns("*.csv"))
    written = write_tidy(tmp_path / "results")
    assert sorted(p.relative_to(tmp_path / "results") for p in written) == [p.with_suffix(".csv") for p in FILES]
    rel = FILES[0]
    assert read_tidy(tmp_path / "results" / rel.with_suffix(".csv")).shape == frame_of(rel)[1].shape
    (tmp_path / "results" / "toyworld" / "mystery.json").write_text("{}")
    with pytest.raises(ParameterError, match="no tidy table for .*mystery.json"):
        write_tidy(tmp_path / "results")
    with pytest.raises(ParameterError, match="no tidy table for results 'mystery'"):
        tidy({}, "toyworld", "mystery")


def test_a_mean_is_never_expanded_into_seeds():
    """A results file with fewer seeds than another gives fewer seeded rows, never copies."""
    r = load_json(RESULTS / "gemma3_270m" / "two_hop_ocr.json")
    one = {**r, "seeds": [0], "first_hop": {**r["first_hop"], "per_seed": {"0": r["first_hop"]["per_seed"]["0"]}},
           "second_hop": {**r["second_hop"], "per_seed": {"0": r["second_hop"]["per_seed"]["0"]}}}
    f = tidy(one, "gemma3_270m", "two_hop_ocr")
    assert set(f["seed"].dropna()) == {0}
    assert not (f["value"] == r["first_hop"]["test_rank"][4]).any()  # the mean curve is not a row


@pytest.mark.parametrize("rel", FILES, ids=str)
def test_the_committed_csv_is_what_the_committed_results_give(rel):
    csv = RESULTS / rel.with_suffix(".csv")
    assert csv.is_file(), f"{csv.relative_to(REPO)} is missing: run python -m extractive_core.tidy"
    assert csv.read_text() == csv_text(frame_of(rel)[1]), \
        f"{csv.relative_to(REPO)} is stale: run python -m extractive_core.tidy"


def test_the_data_page_links_every_results_file_and_figure():
    page = downloads_page(REPO)
    files = [*RESULTS.glob("*/*.json"), *RESULTS.glob("*/*.csv"), *(REPO / "figures").glob("*/*.png"),
             *(REPO / "figures").glob("*/*.pdf")]
    assert files
    for path in files:
        assert f"<../{path.relative_to(REPO).as_posix()}>`" in page, path
    assert "{download}" in page and str(REPO) not in page and "/work/" not in page and "/home/" not in page
    for chapter in CHAPTERS.values():
        assert f"{{doc}}`../notebooks/{chapter}`" in page
    committed = REPO / PAGE
    assert committed.read_text() == page, f"{PAGE} is stale: run python -m extractive_core.tidy"


def test_the_command_writes_the_csvs_and_the_page_without_torch(tmp_path):
    shutil.copytree(RESULTS / "toyworld", tmp_path / "results" / "toyworld", ignore=shutil.ignore_patterns("*.csv"))
    (tmp_path / "book").mkdir()
    code = ("import runpy, sys\nsys.argv = ['tidy', '--results', sys.argv[1]]\n"
            "runpy.run_module('extractive_core.tidy', run_name='__main__')\n"
            "assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(tmp_path / "results")], check=True, capture_output=True)
    made = sorted(p.name for p in (tmp_path / "results" / "toyworld").glob("*.csv"))
    assert made == sorted(p.with_suffix(".csv").name for p in (RESULTS / "toyworld").glob("*.json"))
    page = (tmp_path / "book" / "data.md").read_text()
    assert "{download}`CSV <../results/toyworld/grafting.csv>`" in page and str(tmp_path) not in page


def test_every_chapter_links_its_section_of_the_data_page():
    page = (REPO / "book" / "data.md").read_text()
    for notebook in sorted((REPO / "notebooks").glob("[0-9]*.ipynb")):
        anchor = notebook.stem.split("_", 1)[-1].replace("_", "-")
        text = "".join("".join(c["source"]) for c in json.loads(notebook.read_text())["cells"] if c["cell_type"] == "markdown")
        assert f"{{ref}}`data-{anchor}`" in text, f"{notebook.name} does not link its data (data-{anchor})"
        assert f"(data-{anchor})=" in page, f"book/data.md has no section data-{anchor} for {notebook.name}"
