"""Layer freezing and the band map on a tiny model: the right part of each delta is applied,
the "pre" rows train only the other block, and bad bands fail clearly."""

from __future__ import annotations

from dataclasses import replace

import pytest

from conftest import tiny_model
from extractive_core.architecture import layer_of
from extractive_core.datasets import first_hop
from extractive_core.errors import ParameterError
from extractive_core.claim_rules import facts_learned
from extractive_core.freezing import (AFTER_ROWS, band_findings, band_starts, freezing_table, layer_split,
                                      run_band_map, run_layer_freezing, without_layers)
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
    assert set(results["verdicts"]) == {"first_hop", "first_hop_pre"}  # after and during training


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
    for b in entry:  # each point's precondition is stored: every seed's final fact rank below 1
        run = two_hop_run(lm, "second_hop", 0, resolve_recipe(lm, None, None, None), layers=[b["start"]])
        assert b["fact_learned"] is (run.ranks("train")[-1] < 1.0)


def test_freezing_verdicts_and_findings_come_from_the_claim_rule():
    from extractive_core.freezing import claims, freezing_findings, verdicts

    def results(early, late=(1.5, 1.3, 1.8)):  # as run_layer_freezing saves them: the rows, then their claims
        rows = {"None": [1.0, 1.4, 1.2], "Late": list(late), "Early": early, "All": [9.0, 9.2, 9.1]}
        out = {"chance": 9.5, "hops": {"first_hop": {r: {"implication": {"values": v}} for r, v in rows.items()}}}
        return out | {"claims": claims(out)}

    assert verdicts(results([8.0, 8.5, 8.2])) == {"first_hop": "agrees"}
    assert verdicts(results([1.1, 1.6, 1.4])) == {"first_hop": "does not"}  # no block effect
    assert claims(results([8.0, 8.5, 8.2]))["first_hop"]["inputs"]["Early"] == [8.0, 8.5, 8.2]
    assert "needs the early layers' update, as the paper claims" in freezing_findings(results([8.0, 8.5, 8.2]))[0]
    # dropping the early update costs a little, the late far more: reversed, so "does not", and said so
    reversed_ = results([1.5, 1.9, 1.7], late=[6.0, 6.4, 6.1])
    assert verdicts(reversed_) == {"first_hop": "does not"} and reversed_["claims"]["first_hop"]["reversed"]
    assert not results([1.1, 1.6, 1.4])["claims"]["first_hop"]["reversed"]
    assert "the paper's pattern is reversed" in freezing_findings(reversed_)[0]
    assert "reversed" not in freezing_findings(results([1.1, 1.6, 1.4]))[0]
    # a results file saved before the claims stored "reversed": the same sentences, from its rows
    old = {"chance": 9.5, "hops": reversed_["hops"],
           "claims": {k: {f: v for f, v in c.items() if f != "reversed"} for k, c in reversed_["claims"].items()}}
    assert freezing_findings(old) == freezing_findings(reversed_)
    assert freezing_findings({"chance": 9.5, "hops": reversed_["hops"]}) == freezing_findings(reversed_)
    # older still: no chance for the OCR precondition, so no recomputed claim, and a clear error, not a KeyError
    with pytest.raises(ParameterError, match="no 'chance'.*rerun the chapter"):
        freezing_findings({"hops": reversed_["hops"]})


def test_band_map_needs_learning_rates(lm):
    for bad in ([], 1e-4, "1e-4"):
        with pytest.raises(ParameterError, match="lrs must be"):
            run_band_map(lm, bad)


def test_facts_learned_needs_every_seed():
    assert facts_learned([0.0, 0.99]) and not facts_learned([0.0, 1.0]) and not facts_learned([0.2, 3.0])


def _summary(values):
    from extractive_core.stats import summarise

    return summarise(values)


def _band(start, fact, implication, learned=None):
    band = {"start": start, "fact": _summary(fact), "implication": _summary(implication), "implication_before": 9.5}
    if learned is not None:
        band["fact_learned"] = learned
    return band


def _band_map(bands):
    return {"model": "m", "seeds": [0, 1], "width": 4, "starts": [b["start"] for b in bands], "n_layers": 18,
            "chance": 9.5, "lrs": {"0.0001": {"second_hop": bands}}}


def test_band_findings_compare_only_bands_whose_facts_were_learned():
    # layers 4-7 have the lowest implication rank and layers 8-11 the highest, but neither learned
    # its facts on every seed: best and worst come from 0-3 and 12-15, the other two are named
    bands = [_band(0, [0.0, 0.1], [6.0, 6.2], True), _band(4, [0.5, 1.4], [1.0, 1.2], False),
             _band(8, [7.0, 7.4], [9.4, 9.6], False), _band(12, [0.0, 0.0], [3.0, 3.2], True)]
    (line,) = band_findings(_band_map(bands))
    best, rest = line.split("best", 1)[1].split("worst", 1)
    assert "layers 12-15" in best and "layers 0-3" in rest.split(";")[0]
    assert "of the 2 bands that learned their facts" in line
    assert "Layers 4-7: fact not learned (rank 0.95, worst seed 1.40): its implication rank says nothing" in line
    assert "layers 8-11: fact not learned (rank 7.20, worst seed 7.40): its implication rank says nothing" in line
    assert "layers 4-7: 1.10" not in line  # the unlearned band's implication rank is not reported as a result


def test_band_findings_without_enough_learned_bands():
    one = _band_map([_band(0, [0.0, 0.0], [5.0, 5.0], True), _band(4, [3.0, 3.0], [1.0, 1.0], False)])
    assert "only one band learned its facts, layers 0-3" in band_findings(one)[0]
    none = _band_map([_band(0, [2.0, 2.0], [5.0, 5.0], False), _band(4, [3.0, 3.0], [1.0, 1.0], False)])
    assert "no band learned its facts" in band_findings(none)[0] and "best" not in band_findings(none)[0]


def test_band_findings_read_results_saved_before_the_precondition():
    # no stored fact_learned: decided from the worst seed's fact rank
    old = _band_map([_band(0, [0.0, 0.0], [5.0, 5.0]), _band(4, [0.0, 1.5], [1.0, 1.0]),
                     _band(8, [0.0, 0.2], [6.0, 6.0])])
    line = band_findings(old)[0]
    assert "Layers 4-7: fact not learned" in line and "best (of the 2 bands that learned their facts) with layers 0-3" in line


def test_band_map_plot_marks_unlearned_points_hollow():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from extractive_core.plots import plot_band_map

    bands = [_band(0, [0.0, 0.1], [6.0, 6.2], True), _band(4, [0.5, 1.4], [1.0, 1.2], False),
             _band(8, [0.0, 0.0], [3.0, 3.2], True)]
    fig = plot_band_map(_band_map(bands))
    ax = fig.axes[0]
    hollow = [line for line in ax.lines if line.get_marker() == "o" and line.get_markerfacecolor() == "white"]
    # one hollow point on the implication curve and one on the fact curve, at start 4
    assert sorted(x for line in hollow for x in line.get_xdata()) == [4, 4]
    assert any("fact not learned" in t.get_text() for t in ax.get_legend().get_texts())
    assert "hollow: fact not learned" in fig._suptitle.get_text()
    plt.close(fig)
    learned = plot_band_map(_band_map([bands[0], bands[2]]))
    assert not any(line.get_markerfacecolor() == "white" for line in learned.axes[0].lines)
    assert "hollow" not in learned._suptitle.get_text()
    plt.close(learned)


def test_freezing_at_other_epochs_without_the_pre_rows(lm):
    results = run_layer_freezing(lm, seeds=[0], hops=["first_hop"], epochs=1, pre=False)
    rows = results["hops"]["first_hop"]
    assert list(rows) == list(AFTER_ROWS) and list(freezing_table(results).index) == list(AFTER_ROWS)
    assert results["epochs"] == 1 and set(results["verdicts"]) == {"first_hop"}
    run = two_hop_run(lm, "first_hop", 0, resolve_recipe(lm, None, 1, None))
    assert rows["None"]["implication"]["values"] == [pytest.approx(run.ranks("test")[-1], abs=1e-4)]
    assert len(run.log) == 2  # the 1-epoch run (epoch 0 and 1), not the recipe's 2 epochs
    with pytest.raises(ParameterError, match="pre must be"):
        run_layer_freezing(lm, seeds=[0], hops=["first_hop"], pre="no")
