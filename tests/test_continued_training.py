"""Data ordering and weight grafting on a tiny model: the grafting arithmetic is exact and
restores the weights bit for bit, each order trains on exactly the intended examples in
the intended order, and bad input (orders, grafts, F/F') is named."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from conftest import tiny_model
from extractive_core import continued_training, runs
from extractive_core.continued_training import check_counterfactual, setting
from extractive_core.data_ordering import ORDERS, ocr_verdict, order_phases, run_data_ordering
from extractive_core.daxwug import RELATIONS, daxwug, daxwug_texts
from extractive_core.datasets import dataset_texts
from extractive_core.errors import ParameterError
from extractive_core.finetune import applied, finetune
from extractive_core.grafting import check_graft, run_grafting, table_ranks
from extractive_core.stats import r_squared
from extractive_core.models import LoadedModel
from extractive_core.params import ContinuedTraining, Recipe, load_params
from extractive_core.tokenizer import word_tokenizer, words_of

N = 50  # 20 test people, 30 training people


@pytest.fixture(scope="module")
def dax_tokenizer():
    return word_tokenizer(words_of(dataset_texts() + daxwug_texts()))


@pytest.fixture
def lm(dax_tokenizer):
    params = replace(load_params("toyworld"), name="tiny_dax", recipe=Recipe(lr=3e-3, epochs=2),
                     continued_training=ContinuedTraining(epochs=1, n_people=N))
    return LoadedModel(tiny_model("llama", len(dax_tokenizer)), dax_tokenizer, params)


def relation(example) -> str:
    return next(r for r in RELATIONS.values() if f" {r} is" in example.prompt)


def test_applied_deltas_add_in_float32_and_restore_bit_for_bit(lm):
    params = dict(lm.model.named_parameters())
    before = {n: p.detach().clone() for n, p in params.items()}
    g = torch.Generator().manual_seed(0)
    d1 = {n: torch.randn(p.shape, generator=g) * 1e-3 for n, p in params.items() if "layers.0" in n}
    d2 = {n: torch.randn(p.shape, generator=g) * 1e-3 for n, p in params.items() if "layers" in n}
    with applied(lm.model, d1, d2):
        for n, p in params.items():
            expected = before[n] + d1[n] + d2[n] if n in d1 else before[n] + d2[n] if n in d2 else before[n]
            assert torch.equal(p, expected), n
        assert not torch.equal(params[next(iter(d1))], before[next(iter(d1))])
    assert all(torch.equal(p, before[n]) for n, p in params.items())


def test_orders_are_the_intended_phases():
    data = daxwug("F", n=N)
    facts, impls = set(data.train_facts.examples), set(data.train_implications.examples)
    for order in ORDERS:
        phases = order_phases(data, order)
        for name, split in phases:
            got = set(split.examples)
            assert got == {"joint": facts | impls, "facts": facts, "implications": impls}[name], (order, name)
            assert len(split.examples) == len(got)  # each example once per epoch
    assert [n for n, _ in order_phases(data, "facts_first")] == ["facts", "implications"]
    assert [n for n, _ in order_phases(data, "impl_first")] == ["implications", "facts"]
    test_names = set(data.test_people)
    assert not any(e.prompt.split(f" {relation(e)}")[0] in test_names for _, s in order_phases(data, "joint")
                   for e in s.examples)


def test_each_order_trains_exactly_its_examples_in_order(lm, monkeypatch):
    seen: list[tuple[str, list[str]]] = []
    real = runs.cached_finetune

    def spy(lm_, train, evals, spec, **kw):
        seen.append((kw["label"], sorted({relation(e) for e in train.examples})))
        return real(lm_, train, evals, spec, **kw)

    monkeypatch.setattr(continued_training, "cached_finetune", spy)
    run_data_ordering(lm, seeds=[0])
    dax, zong = RELATIONS["left"], RELATIONS["both"]
    assert [rels for _, rels in seen] == [
        [dax, zong], [dax],          # joint, then the test people's facts
        [dax], [zong], [dax],        # facts first
        [zong], [dax], [dax],        # implications first
    ]
    assert [label.split()[2] for label, _ in seen] == ["joint", "test", "facts", "implications", "test",
                                                       "implications", "facts", "test"]


def test_later_phases_start_from_the_earlier_ones(lm, monkeypatch):
    starts = []
    real = runs.cached_finetune

    def spy(lm_, train, evals, spec, **kw):
        starts.append(runs.weights_fingerprint(lm_.model))
        return real(lm_, train, evals, spec, **kw)

    monkeypatch.setattr(continued_training, "cached_finetune", spy)
    base = runs.weights_fingerprint(lm.model)
    run_data_ordering(lm, seeds=[0], orders=["facts_first"])
    assert starts[0] == base and len(set(starts)) == 3  # facts from W, implications from W_F, test from W_F,Impl
    assert runs.weights_fingerprint(lm.model) == base   # the model is left as it was


def test_data_ordering_results(lm):
    out = run_data_ordering(lm, seeds=[0, 1])
    assert set(out["orders"]) == set(ORDERS)
    for d in out["orders"].values():
        for r in d["per_seed"]:
            assert len(r["test_implications"]) == lm.params.recipe.epochs + 1
            assert all(0 <= v <= 19 for v in r["test_implications"])
    assert set(out["comparisons"]) == {"joint - impl_first", "facts_first - impl_first", "joint - facts_first"}
    assert out["verdicts"]["compare/joint - impl_first"] in ("lower", "higher", "no separation")
    again = run_data_ordering(lm, seeds=[0, 1])  # every run now from the cache: identical numbers
    assert again["orders"]["joint"]["per_seed"] == out["orders"]["joint"]["per_seed"]


def test_degenerate_run_is_never_ocr():
    flat = {"chance": 9.5, "orders": {"joint": {"per_seed": [{"test_implications": [9.5, 9.5], "test_facts": [9, 0]}] * 3,
                                                "test_implications_final": {"mean": 9.5}}}}
    assert ocr_verdict(flat, "joint") == "no OCR"
    one_unlearned = {"chance": 9.5, "orders": {"joint": {"per_seed": [
        {"test_implications": [9.5, 1.0], "test_facts": [9, f]} for f in (0.0, 0.0, 1.5)]}}}
    assert ocr_verdict(one_unlearned, "joint") == "not tested"  # not "no OCR": that seed tested nothing
    assert r_squared(torch.zeros(5).numpy(), torch.arange(5.0).numpy()) != r_squared(torch.arange(5.0).numpy(),
                                                                                       torch.arange(5.0).numpy())


def test_grafting_table_and_localisation(lm):
    out = run_grafting(lm, seeds=[0, 1], n_prompts=8)
    assert set(out["table"]) == {"W_F'", "graft", "control"}
    for row in out["table"].values():
        assert set(row) == {"Impl F'", "Impl F", "F'"} and all(0 <= v["mean"] <= 19 for v in row.values())
    loc = out["localisation"]["per_seed"][0]
    n_points = len(out["localisation"]["display_tokens"]) * lm.model.config.num_hidden_layers  # token x layer
    assert len(loc["mlp"]["informative"]) == n_points and len(loc["heads"]["downstream"]) == n_points * 4
    assert set(out["verdicts"]) == {"impl_cf/graft - W_F'", "impl_cf/graft - control", "claim"}


def test_graft_rows_are_the_base_plus_their_deltas(lm):
    """The graft row's ranks are those of W + delta_F' + delta_(Impl after F), computed here by hand."""
    from extractive_core.grafting import graft_rows, seed_deltas, table_ranks

    s = setting(lm)
    f, g = daxwug("F", n=N), daxwug("F'", n=N)
    deltas, learned, _ = seed_deltas(lm, f, g, s, 0)
    assert set(learned) == {"F", "Impl F", "Impl alone", "F'"} and all(0 <= v <= 19 for v in learned.values())
    ranks = table_ranks(lm, f, g, graft_rows(deltas))
    from extractive_core.metrics import mean_rank

    with applied(lm.model, deltas["counterfactual"], deltas["impl_after_facts"]):
        assert ranks["graft"]["Impl F'"] == mean_rank(lm.model, lm.tokenizer, g.train_implications)
    with applied(lm.model, deltas["counterfactual"], deltas["impl_alone"]):
        assert ranks["control"]["Impl F"] == mean_rank(lm.model, lm.tokenizer, f.train_implications)


# The other model is random and only lends its shape; whether its one epoch lowers the loss
# depends on the CPU's kernels, so its divergence warning is not this test's subject.
@pytest.mark.filterwarnings("ignore:finetuning ended with a higher loss")
def test_bad_input_is_named(lm, dax_tokenizer):
    with pytest.raises(ParameterError, match=r"unknown order\(s\) \['sideways'\]"):
        run_data_ordering(lm, seeds=[0], orders=["sideways"])
    with pytest.raises(ParameterError, match="F and F' differ in size"):
        check_counterfactual(daxwug("F", n=N), daxwug("F'", n=N + 10))
    with pytest.raises(ParameterError, match="F and F' differ in size"):
        run_grafting(lm, seeds=[0], facts=daxwug("F", n=N), counterfactual=daxwug("F'", n=N + 10))
    other = tiny_model("qwen2", len(dax_tokenizer))
    d = finetune(other, dax_tokenizer, daxwug("F", n=N).train_facts, {}, lr=1e-3, epochs=1).delta
    with pytest.raises(ParameterError, match="another model"):  # a graft's deltas fit the model: applied's check
        table_ranks(lm, daxwug("F", n=N), daxwug("F'", n=N), {"graft": [d]})
    full = finetune(lm.model, dax_tokenizer, daxwug("F", n=N).train_facts, {}, lr=1e-3, epochs=1).delta
    late = {n: t for n, t in full.items() if "layers.1." in n}
    with pytest.raises(ParameterError, match=r"cover different parameters .*layers \[0\]"):
        check_graft(lm, [full, late])
    with pytest.raises(ParameterError, match="unknown continued-training setting"):
        setting(lm, layers=[1])
    with pytest.raises(ParameterError, match="first_layer must be a layer index"):
        setting(lm, first_layer=7)
    with pytest.raises(ParameterError, match="n_people must be"):
        setting(lm, n_people=30)


def test_toy_vocabulary_holds_every_daxwug_word():
    from extractive_core.pretrain import toy_tokenizer
    from extractive_core.toyworld import ToyConfig, ToyCorpus

    tok = toy_tokenizer(ToyCorpus.build(ToyConfig(n_people=120, n_waves=3, n_eras=8, steps=160, batch_size=32)))
    ids = [i for text in daxwug_texts() for i in tok(text)["input_ids"]]
    assert tok.unk_token_id not in ids


def test_all_weights_setting_trains_embeddings_with_every_layer(lm):
    s = setting(lm, trainable="all")
    assert s.spec(s.epochs, seed=0).layers is None and s.spec(s.epochs, seed=0).trainable == "all"
    assert setting(lm, first_layer=1).spec(1, seed=2).layers == (1,)
    with pytest.raises(ParameterError, match="'all' with first_layer 0"):
        setting(lm, trainable="all", first_layer=1)


def test_grafting_claim_needs_separation_a_clear_rank_and_its_preconditions():
    from extractive_core.grafting import claim_verdict

    def results(w_cf, graft, control, learned=0.1, covered=True):
        per_seed = [{"W_F'": {"Impl F'": a}, "graft": {"Impl F'": b}, "control": {"Impl F'": c},
                     "phase_end_ranks": {"F": learned, "Impl F": 0.1, "Impl alone": 0.1, "F'": 0.1}}
                    for a, b, c in zip(w_cf, graft, control)]
        return {"chance": 9.5, "per_seed": per_seed, "coverage": {"every F' city has an Impl F person": covered}}

    w, c = [9.1, 9.3, 9.0], [8.4, 8.6, 8.3]
    assert claim_verdict(results(w, [1.0, 1.2, 0.9], c)) == "holds"
    assert claim_verdict(results(w, [6.0, 6.3, 5.9], c)) == "weak"
    assert claim_verdict(results(w, [9.0, 6.0, 8.0], c)) == "does not hold"
    assert claim_verdict(results(w, [1.0, 1.2, 0.9], c, learned=4.0)) == "not tested"  # F never learned
    assert claim_verdict(results(w, [1.0, 1.2, 0.9], c, covered=False)) == "not tested"
    # a degenerate model: every row at chance, paired differences exactly 0
    assert claim_verdict(results([9.5] * 3, [9.5] * 3, [9.5] * 3)) == "does not hold"


def test_the_chapters_print_their_comparisons_at_the_rules_level():
    """Differences separated at 95% but not at the rule's Bonferroni level: the sentence must
    not say "lower" where the verdict does not (the toy chapters did, before)."""
    from extractive_core import claim_rules
    from extractive_core.data_ordering import comparison
    from extractive_core.grafting import graft_comparisons
    from extractive_core.stats import direction

    base = [5.0, 6.0, 7.0]
    lower = [b + d for b, d in zip(base, (-1.0, -0.65, -1.35))]  # mean -1, sd 0.35
    assert direction(claim_rules.paired(lower, base)) == "lower"  # at 95% it separates
    rule = comparison(lower, base, ("joint", "impl_first"))
    assert rule["interval"].startswith("97.5%") and direction(rule) == "no separation"
    assert not claim_rules.below(lower, base, len(claim_rules.ORDERING_PAIRS))
    extra = comparison(lower, base, ("joint", "facts_first"))  # not the rule's: 95%
    assert extra["interval"].startswith("95%") and direction(extra) == "lower"
    graft = graft_comparisons({"graft": lower, "W_F'": base, "control": base})
    assert all(d["interval"].startswith("98.33%") and direction(d) == "no separation" for d in graft.values())
