"""The claims table's verdicts follow their rules, and a degenerate model never agrees."""

import json

import pytest

from extractive_core.claims import CLAIMS, claims_table, measurement
from extractive_core.stats import paired_difference, summarise

CHANCE = summarise([9.5] * 3)


def hop_results(final: float) -> dict:
    """A two-hop chapter's entry for one hop: three seeds ending at ``final``, their mean curve."""
    return {"per_seed": {str(s): {"test_rank": [9.5, final]} for s in range(3)}, "test_rank": [9.5, final],
            "chance_rank": 9.5}


def at_chance() -> dict[str, dict]:
    """Results files of a model that learned nothing: every rank at chance, no separation."""
    rows = {r: {"implication": CHANCE} for r in ("None", "Early", "Late", "All")}
    totals = {"scores": {"informative": {"layer_totals_per_seed": {"mlp": [[1.0] * 18] * 3}}}}
    return {
        "two_hop_ocr": {h: hop_results(9.5) for h in ("first_hop", "second_hop")},
        "layer_freezing": {"hops": {h: rows for h in ("first_hop", "second_hop")},
                           "verdicts": {"first_hop": "overlap", "second_hop": "overlap"}},
        "extractive_scores": {"hops": {h: totals for h in ("first_hop", "second_hop")}},
        "grafting": {"table": {r: {"Impl F'": CHANCE} for r in ("W_F'", "graft", "control")},
                     "comparisons": {"graft - W_F'": paired_difference([0.5, -1.0, 0.5], [0.0, 0.0, 0.0])},
                     "verdicts": {"claim": "does not hold"},
                     "localisation": {"mlp_r2": {**CHANCE, "mean": 0.0}, "heads_r2": {**CHANCE, "mean": 0.01}}},
        "data_ordering": {"seeds": [0, 1, 2], "orders": {o: {"test_implications_final": CHANCE}
                                                          for o in ("joint", "facts_first", "impl_first")},
                          "verdicts": {f"ocr/{o}": "no OCR" for o in ("joint", "facts_first", "impl_first")}},
    }


def write(root, model, files):
    (root / model).mkdir(parents=True)
    for name, data in files.items():
        (root / model / f"{name}.json").write_text(json.dumps(data))


def test_a_model_at_chance_never_agrees(tmp_path):
    write(tmp_path, "gemma3_270m", at_chance())
    verdicts = [measurement(c, "gemma3_270m", tmp_path) for c in CLAIMS]
    measured = [v for v in verdicts if v is not None]
    assert len(measured) == len(CLAIMS) - 1  # the from-scratch claim is the toy world's
    assert {v for _, v in measured} == {"does not"}


def test_verdicts_follow_their_rules(tmp_path):
    files = at_chance()
    files["two_hop_ocr"]["first_hop"] = hop_results(2.0)
    files["two_hop_ocr"]["second_hop"] = hop_results(7.0)
    files["data_ordering"]["verdicts"].update({"ocr/joint": "OCR", "ocr/facts_first": "OCR"})
    files["grafting"]["verdicts"]["claim"] = "weak"
    write(tmp_path, "gemma3_270m", files)
    got = {c.text: measurement(c, "gemma3_270m", tmp_path) for c in CLAIMS}
    assert got["First-hop OCR: finetuned facts generalise to their implications"][1] == "agrees"
    assert got["Second-hop OCR"][1] == "partly"
    assert got["Data ordering: OCR after joint and facts-first training, none after implications-first"][1] == "agrees"
    assert "graft 9.50 [9.50, 9.50] (95% bootstrap of the mean, 3 seeds)" in got[
        "Weight grafting: the implication-training change carries over to counterfactual facts"][0]
    table = claims_table(tmp_path)
    assert table.count("\n") == len(CLAIMS) + 2 and "not run" in table  # no toy results here


def test_missing_results_folder_is_named(tmp_path):
    from extractive_core.errors import ParameterError

    with pytest.raises(ParameterError, match="run the notebooks first"):
        claims_table(tmp_path / "nope")


def test_chapter_claims_lists_its_chapters_claims(tmp_path):
    from extractive_core.claims import chapter_claims
    from extractive_core.errors import ParameterError

    write(tmp_path, "gemma3_270m", at_chance())
    text = chapter_claims("03_layer_freezing", root=tmp_path)
    assert text.count("The paper (OLMo-7b)") == 2 and text.count("**does not**") == 2
    with pytest.raises(ParameterError, match="no claim is shown by"):
        chapter_claims("06_model_sweep", root=tmp_path)
