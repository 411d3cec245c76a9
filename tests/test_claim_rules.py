"""Every claim rule, fed no-effect versions of the committed results, reads "does not" in
at least 95% of draws; fed a clear effect, it agrees. The no-effect versions: conditions
made identical (each condition's per-seed values drawn around the same base, with the
seeds' own spread), components shuffled within a seed, ranks at chance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from extractive_core import claim_rules
from extractive_core.results import load_json

ROOT = Path(__file__).resolve().parents[1] / "results"
MODELS = ("gemma3_270m", "toyworld")
DRAWS = 400
REQUIRED = 0.95
OK = {"every precondition": True}
CHANCE = 9.5  # the two-hop datasets' chance rank (20 options)


def far_chance(far: list[float]) -> float:
    """A chance rank above every value of a no-effect draw: its OCR precondition met."""
    return max(far) + 2.0


def results(model: str, name: str) -> dict:
    path = ROOT / model / f"{name}.json"
    if not path.is_file():
        pytest.skip(f"no committed {path.relative_to(ROOT.parent)}")
    return load_json(path)


def spread(*conditions: list[float]) -> float:
    """The seeds' pooled standard deviation within conditions (0.5 rank where they agree exactly)."""
    sd = float(np.sqrt(np.mean([np.var(c, ddof=1) for c in conditions if len(c) > 1])))
    return sd if sd > 1e-6 else 0.5


def identical(base: list[float], names: tuple[str, ...], sd: float, rng: np.random.Generator) -> dict[str, list[float]]:
    """No effect: every condition is ``base`` plus independent noise of the seeds' spread."""
    return {n: list(np.asarray(base) + rng.normal(0, sd, len(base))) for n in names}


def share_does_not(verdicts: list[str]) -> float:
    return sum(v == "does not" for v in verdicts) / len(verdicts)


@pytest.mark.parametrize("model", ("gemma3_270m",))
@pytest.mark.parametrize("hop", ("first_hop", "second_hop"))
def test_ocr_at_chance_does_not(model, hop):
    r = results(model, "two_hop_ocr")[hop]
    seeds = list(r["per_seed"].values())
    facts = [s["train_rank"][-1] for s in seeds]
    chance, rng = r["chance_rank"], np.random.default_rng(0)
    got = []
    for _ in range(DRAWS):
        at_chance = identical([chance] * len(seeds), ("before", "final"), 1.0, rng)
        got.append(claim_rules.ocr(at_chance["before"], at_chance["final"], facts, chance)["verdict"])
    assert share_does_not(got) >= REQUIRED
    same = [s["test_rank"][0] for s in seeds]
    assert claim_rules.ocr(same, same, facts, chance)["verdict"] == "does not"


def test_ocr_agrees_on_a_clear_drop_and_is_not_tested_without_learned_facts():
    assert claim_rules.ocr([9.5, 9.6, 9.4], [0.5, 0.7, 0.4], [0.0, 0.0, 0.1], 9.5)["verdict"] == "agrees"
    assert claim_rules.ocr([9.5, 9.6, 9.4], [6.5, 6.9, 6.4], [0.0, 0.0, 0.1], 9.5)["verdict"] == "partly"
    assert claim_rules.ocr([9.5, 9.6, 9.4], [0.5, 0.7, 0.4], [3.0, 2.0, 4.0], 9.5)["verdict"] == "not tested"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("hop,needed", (("first_hop", "Early"), ("second_hop", "Late")))
def test_freezing_with_identical_rows_does_not(model, hop, needed):
    rows = results(model, "layer_freezing")["hops"][hop]
    values = {row: rows[row]["implication"]["values"] for row in ("None", "Early", "Late", "All")}
    sd, rng = spread(values["None"], values["Early"], values["Late"]), np.random.default_rng(1)
    base = values["None"]  # no block effect; every layer's update dropped far above (the precondition met)
    far = [v + 6.0 for v in base]
    got = [claim_rules.freezing({**identical(base, ("None", "Early", "Late"), sd, rng), "All": far},
                                needed, far_chance(far))["verdict"] for _ in range(DRAWS)]
    assert share_does_not(got) >= REQUIRED


def test_freezing_agrees_on_a_clear_effect_and_needs_whole_update_ocr():
    rows = {"None": [1.0, 1.2, 0.9], "Early": [8.0, 8.3, 8.1], "Late": [1.1, 1.0, 1.3], "All": [9.0, 9.1, 9.2]}
    assert claim_rules.freezing(rows, "Early", CHANCE)["verdict"] == "agrees"
    assert claim_rules.freezing(rows, "Late", CHANCE)["verdict"] == "does not"
    assert claim_rules.freezing({**rows, "None": rows["All"]}, "Early", CHANCE)["verdict"] == "not tested"


def test_freezing_needs_ocr_by_the_ocr_rule_not_a_bare_drop():
    """The committed gemma3_270m second hop at the recipe: the whole update lowers the rank
    (a paired drop), but not to below chance - 1, so the OCR rule reads no OCR, and freezing,
    with no OCR to remove, is not a test (the rule before read a bare drop as OCR)."""
    rows = {"None": [6.65, 7.7, 7.65], "Late": [7.0, 9.55, 8.55], "Early": [8.8, 9.55, 9.2], "All": [9.6, 9.6, 9.6]}
    assert claim_rules.below(rows["None"], rows["All"])  # the bare drop the old precondition read
    assert not claim_rules.shows_ocr(rows["All"], rows["None"], CHANCE)
    assert claim_rules.ocr(rows["All"], rows["None"], [0.0] * 3, CHANCE)["verdict"] == "does not"
    got = claim_rules.freezing(rows, "Late", CHANCE)
    assert got["verdict"] == "not tested" and "OCR with the whole update" in got["measurement"]
    pre = {"None": rows["None"], "Late (pre)": [8.4, 8.6, 8.3], "Early (pre)": rows["None"], "All": rows["All"]}
    learned = {"Early (pre)": [0.0] * 3, "Late (pre)": [0.0] * 3}
    assert claim_rules.freezing_pre(pre, learned, "Late", CHANCE)["verdict"] == "not tested"
    assert claim_rules.freezing(rows, "Late", 30.0)["verdict"] != "not tested"  # far from chance: OCR


def test_freezing_reads_a_reversed_pattern_as_does_not():
    """The claimed block's drop costs a little, the other block's far more (the committed toy
    second hop): the paper's pattern reversed, not "partly" (the rule before read it so)."""
    rows = {"None": [0.60, 0.70, 0.65], "Late": [0.95, 1.00, 0.97], "Early": [5.10, 5.20, 5.17],
            "All": [9.0, 9.1, 9.2]}
    assert claim_rules.above(rows["Late"], rows["None"], 2)  # the claimed block's own cost is real
    assert claim_rules.freezing(rows, "Late", CHANCE)["verdict"] == "does not"
    assert claim_rules.freezing(rows, "Late", CHANCE)["reversed"]  # stored, for the chapter's sentence
    assert claim_rules.freezing(rows, "Early", CHANCE)["verdict"] == "agrees"
    assert not claim_rules.freezing(rows, "Early", CHANCE)["reversed"]
    pre = {"None": rows["None"], "Late (pre)": rows["Late"], "Early (pre)": rows["Early"], "All": rows["All"]}
    learned = {"Early (pre)": [0.0, 0.1, 0.0], "Late (pre)": [0.2, 0.0, 0.0]}
    assert claim_rules.freezing_pre(pre, learned, "Late", CHANCE)["verdict"] == "does not"
    # the claimed block's drop above the other's but not above nothing frozen: still partly
    early_cheap = {**rows, "Early": [0.62, 0.71, 0.60]}
    assert claim_rules.freezing({**early_cheap, "Late": [1.50, 1.60, 1.55]}, "Late", CHANCE)["verdict"] == "agrees"
    assert claim_rules.freezing({**early_cheap, "None": [1.50, 1.62, 1.53], "Late": [1.55, 1.65, 1.50]},
                                "Late", CHANCE)["verdict"] == "partly"


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("hop,needed", (("first_hop", "Early"), ("second_hop", "Late")))
def test_freezing_during_training_with_identical_rows_does_not(model, hop, needed):
    rows = results(model, "layer_freezing")["hops"][hop]
    names = ("None", "Early (pre)", "Late (pre)")
    values = {row: rows[row]["implication"]["values"] for row in names}
    sd, rng = spread(*values.values()), np.random.default_rng(2)
    base = values["None"]  # no block effect; every update dropped far above, facts learned (preconditions met)
    far, facts = [v + 6.0 for v in base], {row: [0.0] * len(base) for row in ("Early (pre)", "Late (pre)")}
    got = [claim_rules.freezing_pre({**identical(base, names, sd, rng), "All": far}, facts, needed,
                                    far_chance(far))["verdict"]
           for _ in range(DRAWS)]
    assert share_does_not(got) >= REQUIRED


def test_freezing_during_training_agrees_on_a_clear_effect_and_checks_its_preconditions():
    rows = {"None": [1.0, 1.2, 0.9], "Late (pre)": [8.0, 8.3, 8.1], "Early (pre)": [0.6, 0.5, 0.8],
            "All": [9.0, 9.1, 9.2]}
    learned = {"Early (pre)": [0.0, 0.1, 0.0], "Late (pre)": [0.2, 0.0, 0.0]}
    assert claim_rules.freezing_pre(rows, learned, "Late", CHANCE)["verdict"] == "agrees"
    # training the early block alone (late frozen, 8.0-8.3) drops the rank but shows no OCR by the OCR rule
    assert claim_rules.freezing_pre(rows, learned, "Early", CHANCE)["verdict"] == "not tested"
    assert claim_rules.freezing_pre({**rows, "None": [8.0, 8.4, 8.0]}, learned, "Late", CHANCE)["verdict"] == "partly"
    no_ocr = claim_rules.freezing_pre({**rows, "Early (pre)": rows["All"]}, learned, "Late", CHANCE)
    assert no_ocr["verdict"] == "not tested" and "OCR training the late block alone" in no_ocr["measurement"]
    unlearned = claim_rules.freezing_pre(rows, {**learned, "Late (pre)": [2.0, 1.5, 1.0]}, "Late", CHANCE)
    assert unlearned["verdict"] == "not tested" and "facts learned" in unlearned["measurement"]


@pytest.mark.parametrize("model", MODELS)
def test_storage_with_the_same_profile_for_both_hops_does_not(model):
    r = results(model, "extractive_scores")
    late = r.get("late_start") or {"gemma3_270m": 14, "toyworld": 3}[model]
    first = np.asarray(r["hops"]["first_hop"]["scores"]["informative"]["layer_totals_per_seed"]["mlp"])
    rng = np.random.default_rng(2)
    got = []
    for _ in range(DRAWS):
        profile = first[rng.integers(0, len(first), len(first))]  # one profile per seed, the same for both hops
        a, b = (profile * rng.lognormal(0, 0.2, profile.shape) for _ in range(2))
        got.append(claim_rules.storage(a.tolist(), b.tolist(), late, OK)["verdict"])
    assert share_does_not(got) >= REQUIRED


def test_storage_agrees_when_the_second_hop_sits_late():
    early = [[4.0, 3.0, 1.0, 0.5], [4.2, 2.8, 1.1, 0.4], [3.9, 3.1, 0.9, 0.6]]
    late = [[0.5, 1.0, 2.0, 6.0], [0.6, 0.9, 2.1, 5.5], [0.4, 1.1, 1.9, 6.4]]
    assert claim_rules.storage(early, late, 3, OK)["verdict"] == "agrees"
    assert claim_rules.storage(late, early, 3, OK)["verdict"] == "does not"
    # a seed with no positive score has no share (nan): not a test, rather than a "does not" read off a nan
    silent = claim_rules.storage(early, [*late[:2], [0.0, -1.0, 0.0, 0.0]], 3, OK)
    assert silent["verdict"] == "not tested" and "positive informative MLP score" in silent["measurement"]


def test_storage_needs_both_hops_runs_to_learn_their_facts_and_show_ocr():
    """The scores are of the implications: where a hop's runs show no OCR they locate nothing.
    gemma3_270m's scored runs are its two-hop OCR chapter's (same seeds, same recipe), whose
    second hop falls but shows no OCR by the OCR rule: not tested, whatever the shares."""
    from extractive_core.extractive_maps import claims, storage_preconditions

    r = results("gemma3_270m", "extractive_scores")
    ocr = results("gemma3_270m", "two_hop_ocr")
    for hop, entry in r["hops"].items():
        seeds = ocr[hop]["per_seed"].values()
        entry["chance"] = ocr[hop]["chance_rank"]
        entry["runs_per_seed"] = {"before": [s["test_rank"][0] for s in seeds], "final": [s["test_rank"][-1] for s in seeds],
                         "facts_final": [s["train_rank"][-1] for s in seeds]}
    assert storage_preconditions(r) == {"scored first-hop run learned its facts": True, "scored first-hop run shows OCR": True,
                                        "scored second-hop run learned its facts": True,
                                        "scored second-hop run shows OCR": False}
    assert claims(r)["storage"]["verdict"] == "not tested"
    r["hops"]["second_hop"]["runs_per_seed"]["final"] = [2.0, 2.5, 1.8]  # with OCR, the rule reads the shares
    assert claims(r)["storage"]["verdict"] == "does not"
    del r["hops"]["first_hop"]["runs_per_seed"]
    assert storage_preconditions(r) == {"scored runs' ranks stored (rerun the chapter)": False}


@pytest.mark.parametrize("model", MODELS)
def test_ordering_with_identical_orders_does_not(model):
    r = results(model, "data_ordering")
    finals = {o: [s["test_implications"][-1] for s in d["per_seed"]] for o, d in r["orders"].items()}
    sd, rng = spread(*finals.values()), np.random.default_rng(3)
    got = [claim_rules.ordering(identical(finals["joint"], tuple(finals), sd, rng), OK)["verdict"]
           for _ in range(DRAWS)]
    assert share_does_not(got) >= REQUIRED
    same = {o: finals["joint"] for o in finals}
    assert claim_rules.ordering(same, OK)["verdict"] == "does not"


def test_ordering_agrees_on_the_papers_pattern_and_reports_a_failed_precondition():
    finals = {"joint": [3.0, 3.5, 2.8], "facts_first": [4.0, 4.4, 3.9], "impl_first": [8.5, 8.9, 8.4]}
    assert claim_rules.ordering(finals, OK)["verdict"] == "agrees"
    failed = claim_rules.ordering(finals, {"every test city has training people": False})
    assert failed["verdict"] == "not tested" and "every test city" in failed["measurement"]


@pytest.mark.parametrize("model", MODELS)
def test_graft_with_identical_rows_does_not(model):
    r = results(model, "grafting")
    impl_cf = {row: [s[row]["Impl F'"] for s in r["per_seed"]] for row in ("W_F'", "graft", "control")}
    sd, rng = spread(*impl_cf.values()), np.random.default_rng(4)
    got = [claim_rules.graft(identical(impl_cf["W_F'"], tuple(impl_cf), sd, rng), r["chance"], OK)["verdict"]
           for _ in range(DRAWS)]
    assert share_does_not(got) >= REQUIRED


def test_graft_agrees_on_the_papers_table():
    rows = {"W_F'": [9.1, 9.2, 9.0], "graft": [1.1, 1.3, 1.0], "control": [8.4, 8.5, 8.3]}
    assert claim_rules.graft(rows, 9.5, OK)["verdict"] == "agrees"
    assert claim_rules.graft({**rows, "graft": [6.0, 6.2, 5.9]}, 9.5, OK)["verdict"] == "partly"


@pytest.mark.parametrize("model", MODELS)
def test_localisation_with_shuffled_components_does_not(model):
    local = results(model, "grafting")["localisation"]["per_seed"]
    rng = np.random.default_rng(5)
    got = []
    for _ in range(200):
        points = {part: [(seed[part]["informative"], list(rng.permutation(seed[part]["downstream"])))
                         for seed in local] for part in ("mlp", "heads")}
        got.append(claim_rules.localisation(points, resamples=400)["verdict"])
    assert share_does_not(got) >= REQUIRED


def test_localisation_agrees_when_both_parts_correlate():
    rng = np.random.default_rng(6)
    x = [rng.normal(size=60) for _ in range(3)]
    points = {part: [(xi.tolist(), (xi + 0.3 * rng.normal(size=60)).tolist()) for xi in x] for part in ("mlp", "heads")}
    assert claim_rules.localisation(points)["verdict"] == "agrees"
    negative = {part: [(a, [-v for v in b]) for a, b in pairs] for part, pairs in points.items()}
    assert claim_rules.localisation(negative)["verdict"] == "does not"
    # the same scatter, its downstream run without OCR: it localises nothing, so not a test
    no_ocr = claim_rules.localisation(points, preconditions={"downstream run shows OCR": False})
    assert no_ocr["verdict"] == "not tested" and "downstream run shows OCR" in no_ocr["measurement"]


def test_localisation_preconditions_read_the_downstream_run_by_the_ocr_rule():
    from extractive_core.grafting import localisation_preconditions

    def results(final, facts=(0.0, 0.0, 0.0)):
        runs = [{"implications": [9.5, f], "facts_final": a} for f, a in zip(final, facts)]
        return {"test_chance": 9.5, "per_seed": [{"downstream_run": r} for r in runs]}

    assert all(localisation_preconditions(results([2.0, 2.5, 1.8])).values())
    # the committed gemma3_270m facts-first test run: its rank falls, but the OCR rule reads no OCR
    gemma = {"test_chance": 9.5, "per_seed": [{"downstream_run": {"implications": b, "facts_final": 0.0}}
                                              for b in ([9.5, 7.35], [8.55, 4.25], [10.35, 4.85])]}
    assert localisation_preconditions(gemma) == {"downstream run learned its facts": True,
                                                 "downstream run shows OCR": False}
    assert not localisation_preconditions(results([2.0, 2.5, 1.8], facts=(0.0, 2.0, 0.0)))[
        "downstream run learned its facts"]
    assert localisation_preconditions({"per_seed": [{}]}) == {"downstream run's ranks stored (rerun the chapter)": False}


def test_from_scratch_with_identical_corpora_does_not():
    r = results("toyworld", "pretraining_order")
    finals = {hop: {m: d[hop]["values"] for m, d in r["modes"].items()} for hop in ("first_hop", "second_hop")}
    rng = np.random.default_rng(7)
    got = []
    for _ in range(DRAWS):
        drawn = {hop: identical(v["no_impl"], tuple(v), spread(*v.values()), rng) for hop, v in finals.items()}
        got.append(claim_rules.from_scratch(drawn, learned(drawn))["verdict"])
    assert share_does_not(got) >= REQUIRED


# Seeds that agree exactly (a run that the seed does not change, a rank stuck at 0): every
# condition the same for every seed, and conditions apart by less than the resolution.
TINY = 1e-3  # above the 4 decimals a results file keeps (stats.DECIMALS), below every resolution floor


def test_exactly_agreeing_seeds_with_a_tiny_offset_do_not_separate():
    flat = [5.0] * 3
    assert claim_rules.freezing({"None": flat, "Early": [5.0 + TINY] * 3, "Late": flat,
                                 "All": [9.0, 9.1, 9.2]}, "Early", CHANCE)["verdict"] == "does not"
    assert claim_rules.freezing_pre({"None": flat, "Late (pre)": [5.0 + TINY] * 3, "Early (pre)": flat,
                                     "All": [9.0] * 3}, {"Early (pre)": [0.0] * 3, "Late (pre)": [0.0] * 3},
                                    "Late", CHANCE)["verdict"] == "does not"
    assert claim_rules.ordering({"joint": [6 - TINY] * 3, "facts_first": [6 - TINY] * 3, "impl_first": [6.0] * 3},
                                OK)["verdict"] == "does not"
    assert claim_rules.graft({"W_F'": [6.0] * 3, "graft": [6.0 - TINY] * 3, "control": [6.0] * 3}, 9.5,
                             OK)["verdict"] == "does not"
    assert claim_rules.ocr([9.5] * 3, [9.5 - TINY] * 3, [0.0] * 3, 9.5)["verdict"] == "does not"
    profile = [[4.0, 3.0, 2.0, 1.0]] * 3
    assert claim_rules.storage(profile, [[4.0, 3.0, 2.0, 1.0 + TINY]] * 3, 3, OK)["verdict"] == "does not"
    tiny = {hop: {"facts_first": [3 - TINY] * 3, "impl_first_strict": [3.0] * 3, "no_impl": [3.0] * 3}
            for hop in ("first_hop", "second_hop")}
    assert claim_rules.from_scratch(tiny, learned(tiny))["verdict"] == "does not"


def test_exactly_agreeing_seeds_with_a_real_gap_still_separate():
    """The resolution floor only keeps offsets below the measurement's step from counting."""
    assert claim_rules.ordering({"joint": [1.0] * 3, "facts_first": [1.5] * 3, "impl_first": [8.0] * 3},
                                OK)["verdict"] == "agrees"
    assert claim_rules.ocr([9.5] * 3, [0.0] * 3, [0.0] * 3, 9.5)["verdict"] == "agrees"


def test_localisation_whose_correlation_is_only_token_position_does_not():
    """Both scores larger at some tokens, independent within each token: with the points'
    tokens the permutation null keeps what the tokens share, and the claim reads "does not"
    (shuffling over all points would call it a correlation)."""
    rng = np.random.default_rng(8)
    shape = {"mlp": (7, 6), "heads": (7, 6, 4)}
    tokens = {part: [int(t) for t in np.repeat(np.arange(s[0]), int(np.prod(s[1:])))] for part, s in shape.items()}
    got, untokened = [], []
    for _ in range(40):
        points = {}
        for part, t in tokens.items():
            offset = 3.0 * (np.asarray(t) == shape[part][0] - 1)  # the last token: both scores large
            points[part] = [((offset + rng.normal(size=len(t))).tolist(), (offset + rng.normal(size=len(t))).tolist())
                            for _ in range(3)]
        got.append(claim_rules.localisation(points, tokens, resamples=400)["verdict"])
        untokened.append(claim_rules.localisation(points, resamples=400)["verdict"])
    assert share_does_not(got) >= REQUIRED
    assert share_does_not(untokened) < 0.5  # the confound the token-wise null removes


def test_from_scratch_needs_all_four_comparisons_and_names_the_ones_that_hold():
    clear = {"facts_first": [0.1, 0.2, 0.15], "impl_first_strict": [5.0, 5.2, 5.1], "no_impl": [6.0, 6.1, 5.9]}
    both = {"first_hop": clear, "second_hop": clear}
    assert claim_rules.from_scratch(both, learned(both))["verdict"] == "agrees"
    one_hop = claim_rules.from_scratch({"first_hop": clear}, learned({"first_hop": clear}))
    assert one_hop["verdict"] == "not tested" and "all four comparisons run" in one_hop["measurement"]
    half_done = {"first_hop": clear, "second_hop": {**clear, "facts_first": [5.0, 6.1, 5.5]}}
    half = claim_rules.from_scratch(half_done, learned(half_done))
    assert half["verdict"] == "partly"
    assert "(first-hop vs impl_first_strict, first-hop vs no_impl)" in half["measurement"]


def test_from_scratch_needs_every_compared_run_to_learn_its_facts():
    """A corpus whose finetuned facts were not learned in one seed tests nothing, however
    high its implication rank (the committed toy finals, one no_impl seed's facts unlearned)."""
    r = results("toyworld", "pretraining_order")
    finals = {hop: {m: d[hop]["values"] for m, d in r["modes"].items()} for hop in ("first_hop", "second_hop")}
    facts = {hop: {m: [s[hop]["train_rank"][-1] for s in d["per_seed"]] for m, d in r["modes"].items()}
             for hop in finals}
    assert claim_rules.from_scratch(finals, facts)["verdict"] == "agrees"
    facts["second_hop"]["no_impl"] = [0.0, 0.0, 1.6, 0.0, 0.0]
    unlearned = claim_rules.from_scratch(finals, facts)
    assert unlearned["verdict"] == "not tested" and "every compared run learned its facts" in unlearned["measurement"]
    facts["second_hop"]["no_impl"] = [0.0] * 5
    facts["first_hop"]["impl_first"] = [3.0] * 5  # a mode the rule does not compare: no precondition on it
    assert claim_rules.from_scratch(finals, facts)["verdict"] == "agrees"


def learned(finals: dict) -> dict:
    """Final fact ranks of 0 for every run of ``finals`` (every run learned its facts)."""
    return {hop: {m: [0.0] * len(v) for m, v in modes.items()} for hop, modes in finals.items()}


def test_facts_learned_is_every_seed_not_the_mean():
    """One seed that never learned its facts makes the run test nothing, whatever the mean."""
    assert claim_rules.facts_learned([0.0, 0.1, 0.9]) and not claim_rules.facts_learned([0.0, 0.0, 1.45])
    assert not claim_rules.facts_learned([])
    rows = {"None": [1.0, 1.2, 0.9], "Late (pre)": [8.0, 8.3, 8.1], "Early (pre)": [0.6, 0.5, 0.8],
            "All": [9.0, 9.1, 9.2]}
    one_seed = claim_rules.freezing_pre(rows, {"Early (pre)": [0.0, 0.0, 0.0], "Late (pre)": [0.3, 0.0, 1.45]}, "Late",
                                        CHANCE)
    assert one_seed["verdict"] == "not tested"
    assert "facts learned in the Late (pre) run" in one_seed["measurement"]
    assert claim_rules.ocr([9.5] * 3, [0.5, 0.7, 0.4], [0.0, 0.1, 1.2], 9.5)["verdict"] == "not tested"


def test_a_single_seed_prints_no_interval_and_the_p_floor_reads_as_a_bound():
    assert claim_rules.fmt([3.0]) == "3.00"
    assert claim_rules.p_text(1 / 2001, 2000) == "p <= 0.0005" and claim_rules.p_text(0.02, 2000) == "p 0.020"


def test_the_two_hop_chapter_sentence_and_category_follow_the_per_seed_precondition():
    """One seed that never learned its facts: the claim reads not tested, and so do the
    chapter's category and sentence (the mean rank, 0.5 here, would say learned)."""
    from extractive_core import two_hop_verdicts

    per_seed = {str(s): {"train_rank": [9.0, f], "test_rank": [9.5, 2.0]} for s, f in enumerate((0.0, 0.0, 1.5))}
    results = {"first_hop": {"per_seed": per_seed, "chance_rank": 9.5, "train_rank": [9.0, 0.5],
                             "test_rank": [9.5, 2.0]}}
    assert two_hop_verdicts.claim(results, "first_hop")["verdict"] == "not tested"
    assert two_hop_verdicts.finding(results, "first_hop") == "not tested"
    sentence = two_hop_verdicts.verdict(results, "first_hop")
    assert "not every seed learned the facts" in sentence and sentence.endswith("cannot show out-of-context reasoning.")
