"""The claims table only reads the claims each chapter stored, by the rules of
``claim_rules``; a degenerate model never agrees, and a file made before the rules is named."""

import json

import pytest

from extractive_core import data_ordering, extractive_maps, freezing, grafting, ocr, sweep
from extractive_core.claims import CLAIMS, claims_table, measurement
from extractive_core.errors import ParameterError
from extractive_core.stats import summarise

SEEDS = range(3)
SETTING = {"lr": 1e-4, "layers": [12, 13, 14, 15, 16, 17], "trainable": "blocks", "epochs": 8}


def chance(v: float = 9.5) -> dict:
    return summarise([v, v + 0.05, v - 0.05])


def at_chance() -> dict[str, dict]:
    """Results files of a model that learned nothing (ranks at chance), each with the claims
    its chapter's module computes from it."""
    hop = {"per_seed": {str(s): {"test_rank": [9.5, 9.5 + 0.05 * s], "train_rank": [9.5, 0.0]} for s in SEEDS},
           "chance_rank": 9.5}
    rows = {r: {"implication": chance(), "fact": chance(0.1)} for r in freezing.ROWS}
    # its scored runs show OCR: the storage rule itself reads the (flat, identical) profiles
    totals = {"scores": {"informative": {"layer_totals_per_seed": {"mlp": [[1.0 + 0.01 * s] * 18 for s in SEEDS]}}},
              "runs_per_seed": {"before": [9.5] * len(SEEDS), "final": [1.0 + 0.1 * s for s in SEEDS],
                                "facts_final": [0.0] * len(SEEDS)}, "chance": 9.5}
    order = {"phases": ["joint"], "per_seed": [{"phase_log": [{"phase": "joint", "train_facts_rank": 0.1,
                                                                "train_implications_rank": 0.1}],
                                                 "test_facts": [9.0, 0.1], "test_implications": [9.5, 9.5 + 0.1 * s]}
                                                for s in SEEDS]}
    local = [{part: {"informative": [float(i % 3) for i in range(12)], "downstream": [float(i % 2) for i in range(12)]}
              for part in ("mlp", "heads")} for _ in SEEDS]
    files = {
        "two_hop_ocr": {"lr": 3e-5, "epochs": 8, "trainable": "blocks",
                        **{h: hop for h in ("first_hop", "second_hop")}},
        "layer_freezing": {"lr": 3e-5, "epochs": 8, "trainable": "blocks", "chance": 9.5,
                           "hops": {h: rows for h in ("first_hop", "second_hop")}},
        "extractive_scores": {"lr": 3e-5, "epochs": 8, "trainable": "blocks", "late_start": 14,
                              "hops": {h: totals for h in ("first_hop", "second_hop")}},
        "grafting": {"chance": 9.5, "setting": SETTING, "n_train_people": 84, "coverage": {"covered": True},
                     "per_seed": [{**{r: {"Impl F'": 9.5 + 0.1 * s} for r in ("W_F'", "graft", "control")},
                                   "phase_end_ranks": {"F": 0.1, "Impl F": 0.1, "Impl alone": 0.1, "F'": 0.1},
                                   # its downstream run shows OCR: the localisation rule itself reads the scatter
                                   "downstream_run": {"implications": [9.5, 1.0 + 0.1 * s], "facts_final": 0.0}}
                                  for s in SEEDS], "test_chance": 9.5,
                     "localisation": {"per_seed": local, "layers": SETTING["layers"]}},
        "sweep": {"seeds": [0], "freezing_at_best": {"cell": {"lr": 3e-5, "epochs": 16}, "chance": 9.5,
                                                 "hops": {"second_hop": rows}}},
        "data_ordering": {"chance": 9.5, "setting": SETTING, "n_train_people": 84, "coverage": {"covered": True},
                          "orders": {o: order for o in ("joint", "facts_first", "impl_first")}},
    }
    modules = {"two_hop_ocr": ocr, "layer_freezing": freezing, "extractive_scores": extractive_maps,
               "grafting": grafting, "data_ordering": data_ordering, "sweep": sweep}
    at_band_lr = {"lr": 1e-4, "epochs": 8, "trainable": "blocks", "chance": 9.5, "hops": {"second_hop": rows}}
    files["layer_freezing"]["at_band_lr"] = {**at_band_lr, "claims": freezing.claims(at_band_lr)}
    for name, r in files.items():
        r["claims"] = modules[name].claims(r)
    return files


def write(root, model, files):
    (root / model).mkdir(parents=True)
    for name, data in files.items():
        (root / model / f"{name}.json").write_text(json.dumps(data))


def test_a_model_at_chance_never_agrees(tmp_path):
    write(tmp_path, "gemma3_270m", at_chance())
    measured = [v for v in (measurement(c, "gemma3_270m", tmp_path) for c in CLAIMS) if v is not None]
    assert len(measured) == len(CLAIMS) - 1  # the from-scratch claim is the toy world's
    assert {verdict for _, verdict in measured} <= {"does not", "not tested"}
    local = measurement(next(c for c in CLAIMS if c.key == "localisation"), "gemma3_270m", tmp_path)
    assert local is not None and local[1] == "does not"  # tested (its preconditions met), and no correlation
    stored = measurement(next(c for c in CLAIMS if c.key == "storage"), "gemma3_270m", tmp_path)
    assert stored is not None and stored[1] == "does not"  # tested, and the same profile for both hops
    table = claims_table(tmp_path)
    assert table.count("\n| [") == len(CLAIMS) and "not run" in table  # no toy results here
    assert "Protocol: `gemma3_270m`: 84 training people" in table and "Rule: agrees:" in table


def test_the_table_reads_the_stored_verdict(tmp_path):
    files = at_chance()
    files["grafting"]["claims"]["graft"].update(verdict="partly", measurement="stored text")
    write(tmp_path, "gemma3_270m", files)
    got = {c.key: measurement(c, "gemma3_270m", tmp_path) for c in CLAIMS if c.result == "grafting"}
    assert got["graft"] == ("stored text", "partly")


def test_results_made_before_the_rules_are_named(tmp_path):
    files = at_chance()
    del files["grafting"]["claims"]
    write(tmp_path, "gemma3_270m", files)
    with pytest.raises(ParameterError, match="rerun its chapter, notebooks/04_grafting.ipynb"):
        claims_table(tmp_path)


def test_missing_results_folder_is_named(tmp_path):
    with pytest.raises(ParameterError, match="run the notebooks first"):
        claims_table(tmp_path / "nope")


def test_a_folder_without_claims_or_a_malformed_claim_is_named(tmp_path):
    """One level too deep (results/<model>/) would print a table of "not run" and could
    overwrite the book's; a claim entry that no rule wrote would end in a bare KeyError."""
    write(tmp_path, "gemma3_270m", at_chance())
    with pytest.raises(ParameterError, match=r"results/, not results/<model>/"):
        claims_table(tmp_path / "gemma3_270m")
    files = at_chance()
    del files["grafting"]["claims"]["graft"]["measurement"]
    write(tmp_path / "bad", "gemma3_270m", files)
    with pytest.raises(ParameterError, match="not a claim rule's entry.*notebooks/04_grafting.ipynb"):
        claims_table(tmp_path / "bad")
    files = at_chance()
    del files["two_hop_ocr"]["lr"]
    write(tmp_path / "old", "gemma3_270m", files)
    with pytest.raises(ParameterError, match="lack 'lr'.*rerun that chapter"):
        claims_table(tmp_path / "old")


def test_chapter_claims_lists_its_chapters_claims(tmp_path):
    from extractive_core.claims import chapter_claims

    write(tmp_path, "gemma3_270m", at_chance())
    text = chapter_claims("03_layer_freezing", root=tmp_path)
    assert text.count("The paper (OLMo-7b)") == 6  # after training, during training, each also at the band lr
    with pytest.raises(ParameterError, match="no claim is shown by"):
        chapter_claims("08_reproducibility", root=tmp_path)
