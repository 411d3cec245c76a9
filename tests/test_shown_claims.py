"""What the book shows is what the committed results give. The test command re-runs the
default model on one seed only (``extractive_core.reproduce.SAMPLE``), so the verdicts over
all its seeds are checked here instead: each results file's verdicts recomputed from its own
per-seed numbers by the chapter's rule, the claims table on the book's first page, and each
chapter's closing claims in the committed, executed notebook."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from extractive_core import data_ordering, extractive_maps, freezing, grafting, ocr, pretraining_order, sweep
from extractive_core.claims import claims_table
from extractive_core.results import load_json

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
# results file -> the chapter's rule that made its ``verdicts``
VERDICT_RULES = {
    "two_hop_ocr": ocr.verdicts,
    "data_ordering": data_ordering.verdicts,
    "layer_freezing": freezing.verdicts,
    "grafting": grafting.verdicts,
    "pretraining_order": pretraining_order.verdicts,
}
# results file -> the chapter's function that computed its ``claims`` (``claim_rules``)
CLAIM_RULES = {
    "two_hop_ocr": ocr.claims,
    "extractive_scores": extractive_maps.claims,
    "layer_freezing": freezing.claims,
    "grafting": grafting.claims,
    "data_ordering": data_ordering.claims,
    "pretraining_order": pretraining_order.claims,
    "sweep": sweep.claims,
}
WITH_CLAIMS = sorted(p.relative_to(RESULTS) for p in RESULTS.glob("*/*.json") if p.stem in CLAIM_RULES)
WITH_VERDICTS = sorted(p.relative_to(RESULTS) for p in RESULTS.glob("*/*.json") if p.stem in VERDICT_RULES)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


def test_every_results_file_with_verdicts_has_its_rule():
    unruled = [str(p.relative_to(RESULTS)) for p in RESULTS.glob("*/*.json")
               if "verdicts" in load_json(p) and p.stem not in VERDICT_RULES and p.stem != "reproducibility"]
    assert unruled == []
    assert WITH_VERDICTS, "no committed results with verdicts"


@pytest.mark.parametrize("rel", WITH_VERDICTS, ids=str)
def test_committed_verdicts_are_what_the_committed_numbers_give(rel):
    results = load_json(RESULTS / rel)
    committed = results.pop("verdicts")
    assert VERDICT_RULES[rel.stem](results) == committed


def same(got: object, committed: object, path: str = "claims") -> None:
    """``got`` is ``committed``: equal, floats to 1e-9 relative (a statistic's last bits follow
    the CPU's summation kernels: the AVX-512 and AVX2 machines differ there)."""
    if isinstance(committed, float) and isinstance(got, (int, float)):
        assert math.isclose(got, committed, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {got!r} != {committed!r}"
    elif isinstance(committed, dict) and isinstance(got, dict):
        assert sorted(got) == sorted(committed), f"{path}: keys {sorted(got)} != {sorted(committed)}"
        for k in committed:
            same(got[k], committed[k], f"{path}/{k}")
    elif isinstance(committed, list) and isinstance(got, (list, tuple)):
        assert len(got) == len(committed), f"{path}: {len(got)} entries != {len(committed)}"
        for i, (g, c) in enumerate(zip(got, committed)):
            same(g, c, f"{path}[{i}]")
    else:
        assert got == committed, f"{path}: {got!r} != {committed!r}"


def test_same_compares_floats_to_their_last_bits_only():
    same({"p": [0.46735259191558703, "x"]}, {"p": [0.4673525919155869, "x"]})
    with pytest.raises(AssertionError, match="claims/p"):
        same({"p": 0.4674}, {"p": 0.4673})
    with pytest.raises(AssertionError, match="keys"):
        same({"p": 1.0, "q": 1.0}, {"p": 1.0})


@pytest.mark.parametrize("rel", WITH_CLAIMS, ids=str)
def test_committed_claims_are_what_their_rules_give(rel):
    results = load_json(RESULTS / rel)
    committed = results.pop("claims")
    same(json.loads(json.dumps(CLAIM_RULES[rel.stem](results))), committed)


def test_claims_table_in_the_book_is_what_the_results_give():
    assert (ROOT / "book" / "claims.md").read_text() == claims_table(RESULTS)


def claims_cell(notebook: Path) -> tuple[str, str, str] | None:
    """(parameters source, claims cell source, its committed Markdown output), or None."""
    cells = json.loads(notebook.read_text())["cells"]
    params = "\n".join("".join(c["source"]) for c in cells
                       if {"parameters", "injected-parameters"} & set(c.get("metadata", {}).get("tags", [])))
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and "chapter_claims(" in source:
            shown = [o["data"]["text/markdown"] for o in cell.get("outputs", []) if "text/markdown" in o.get("data", {})]
            assert len(shown) == 1, f"{notebook.name}: its claims cell has {len(shown)} Markdown outputs"
            return params, source, "".join(shown[0])
    return None


@pytest.mark.parametrize("notebook", [nb for nb in NOTEBOOKS if claims_cell(nb)], ids=lambda p: p.stem)
def test_each_chapter_shows_the_claims_the_results_give(notebook, monkeypatch):
    monkeypatch.setenv("EXTRACTIVE_OUTPUT", str(ROOT))
    params, source, shown = claims_cell(notebook)
    displayed: list[str] = []
    namespace = {"display": displayed.append, "Markdown": str}
    exec(params, namespace)
    exec(source, namespace)
    assert displayed == [shown]
