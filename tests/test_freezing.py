"""Layer freezing and the band map on a tiny model: the right part of each delta is applied,
the "pre" rows train only the other block, and bad bands fail clearly."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import tiny_model
from extractive_core.architecture import layer_of
from extractive_core.datasets import first_hop
from extractive_core.errors import ParameterError
from extractive_core.freezing import band_starts, freezing_table, layer_split, run_band_map, run_layer_freezing, without_layers
from extractive_core.metrics import mean_rank
from extractive_core.models import LoadedModel
from extractive_core.two_hop_runs import resolve_recipe, two_hop_run
from extractive_core.params import Recipe, load_params


@pytest.fixture
def lm(tokenizer):
    params = replace(load_params("toyworld"), name="tiny", late_start=1, recipe=Recipe(lr=3e-3, epochs=2))
    return LoadedModel(tiny_model("llama", len(tokenizer)), tokenizer, params)


def test_frozen_after_training_applies_only_the_other_block(lm):
    full = two_hop_run(lm, "first_hop", 0, resolve_recipe(lm, None, None, None)).delta
    early, late = layer_split(lm)
    assert (early, late) == ([0], [1])
    kept = without_layers(lm, full, early)
    assert kept and {layer_of(lm.model, n) for n in kept} == {1}
    assert set(without_layers(lm, full, early + late)) == set()


def test_freezing_table_rows(lm):
    results = run_layer_freezing(lm, seeds=[0, 1], hops=["first_hop"])
    rows = results["hops"]["first_hop"]
    base = mean_rank(lm.model, lm.tokenizer, first_hop().implications)
    assert rows["All"]["implication"]["values"] == [pytest.approx(base, abs=1e-4)] * 2
    run = two_hop_run(lm, "first_hop", 1, resolve_recipe(lm, None, None, None), layers=[1])
    assert {layer_of(lm.model, n) for n in run.delta} == {1}
    assert rows["Early (pre)"]["implication"]["values"][1] == pytest.approx(run.ranks("test")[-1], abs=1e-4)
    assert rows["None"]["fact"]["mean"] < rows["All"]["fact"]["mean"]  # the update taught the facts
    assert list(freezing_table(results).index)[-1] == "Late (pre)"
    assert set(results["verdicts"]) == {"first_hop"}


def test_band_starts():
    assert band_starts(18, 4, 7) == [0, 7, 14]
    assert band_starts(18, 4, 4) == [0, 4, 8, 12, 14]
    assert band_starts(4, 1, 1) == [0, 1, 2, 3]
    for width, stride in ((0, 1), (19, 1), (4, 0)):
        with pytest.raises(ParameterError, match="band width"):
            band_starts(18, width, stride)


def test_bad_bands_and_splits_are_named(lm):
    with pytest.raises(ParameterError, match="band width"):
        run_band_map(lm, [None], width=3)
    with pytest.raises(ParameterError, match="out of range"):
        two_hop_run(lm, "first_hop", 0, resolve_recipe(lm, None, None, None), layers=[1, 2])
    with pytest.raises(ParameterError, match="late_start"):
        layer_split(LoadedModel(lm.model, lm.tokenizer, replace(lm.params, late_start=2)))


def test_band_map_shape(lm):
    bands = run_band_map(lm, [None], seeds=[0], hops=["second_hop"])
    assert bands["starts"] == [0, 1]
    entry = bands["lrs"]["0.003"]["second_hop"]
    assert [b["start"] for b in entry] == bands["starts"]
    assert all(0 <= b["implication"]["mean"] <= 19 for b in entry)


def test_freezing_verdict_needs_every_seed_separated():
    from extractive_core.freezing import freezing_verdict

    def rows(early_min):
        cell = lambda lo, hi: {"implication": {"min": lo, "max": hi, "mean": (lo + hi) / 2}}  # noqa: E731
        return {"hops": {"first_hop": {"None": cell(1.0, 2.0), "Late": cell(1.5, 3.0), "Early": cell(early_min, 9.0)}}}

    assert freezing_verdict(rows(8.0), "first_hop") == "separated"
    assert freezing_verdict(rows(2.5), "first_hop") == "overlap"


def test_band_map_needs_learning_rates(lm):
    for bad in ([], 1e-4, "1e-4"):
        with pytest.raises(ParameterError, match="lrs must be"):
            run_band_map(lm, bad)
