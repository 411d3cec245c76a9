"""The toy corpus keeps its ordering rules, never shows held-out people, and a tiny
pretraining run learns its facts."""

from collections import defaultdict

import pytest
import torch

from extractive_core.datasets import HOPS, known_facts, two_hop
from extractive_core.errors import ParameterError
from extractive_core.metrics import mean_rank
from extractive_core.params import load_params
from extractive_core.pretrain import is_cached, lr_at, pretrain_missing, pretrained, toy_config, toy_tokenizer
from extractive_core.toyworld import MODES, ToyConfig, ToyCorpus, held_out_names
from extractive_core.world import CITIES

from conftest import write_params

SMALL = dict(n_people=120, n_waves=3, n_eras=8, steps=160, batch_size=32)


def first_and_last_steps(corpus: ToyCorpus):
    """entity -> kind ('fact'/'impl') -> sorted steps at which it was sampled."""
    seen = defaultdict(lambda: defaultdict(list))
    for step, indices in enumerate(corpus.schedule()):
        for i in indices:
            item = corpus.items[i]
            if item.entity:
                seen[item.entity]["impl" if item.category.endswith("_impl") else "fact"].append(step)
    return seen


@pytest.fixture(scope="module", params=MODES)
def corpus(request):
    return ToyCorpus.build(ToyConfig(mode=request.param, **SMALL))


def test_ordering_rules(corpus):
    steps = first_and_last_steps(corpus)
    with_both = [e for e in steps.values() if e["fact"] and e["impl"]]
    mode = corpus.config.mode
    if mode == "no_impl":
        assert not any(e["impl"] for e in steps.values())
        return
    assert len(with_both) > 100
    for e in with_both:
        if mode == "facts_first":
            assert min(e["impl"]) > min(e["fact"])  # the fact was seen first
        elif mode == "impl_first":
            assert min(e["impl"]) < min(e["fact"])
        else:  # impl_first_strict: every implication before every fact
            assert max(e["impl"]) < min(e["fact"])


def test_some_entities_never_get_implications(corpus):
    steps = first_and_last_steps(corpus)
    fact_only = [e for e in steps.values() if e["fact"] and not e["impl"]]
    assert len(fact_only) >= 8 * 5  # mayors of the silent cities, at least


def test_held_out_people_never_occur(corpus):
    text = "\n".join(corpus.texts())
    held = held_out_names()
    assert len(held) == 20 and not [n for n in held if n in text]


def test_tokenizer_covers_the_datasets_without_unknowns(corpus):
    tok = toy_tokenizer(corpus)
    for hop in HOPS:
        d = two_hop(hop, "F'")
        for e in d.facts.examples + d.implications.examples:
            ids = tok(f"{e.prompt} {e.answer}")["input_ids"]
            assert tok.unk_token_id not in ids
            assert len(tok(" " + e.answer, add_special_tokens=False)["input_ids"]) == len(e.answer.split())


def test_schedule_is_deterministic_and_seeded():
    a = ToyCorpus.build(ToyConfig(**SMALL)).schedule()
    b = ToyCorpus.build(ToyConfig(**SMALL)).schedule()
    c = ToyCorpus.build(ToyConfig(seed=1, **SMALL)).schedule()
    assert all((x == y).all() for x, y in zip(a, b))
    assert any((x != y).any() for x, y in zip(a, c))
    assert all(len(x) == SMALL["batch_size"] for x in a)


def test_config_key_changes_with_any_field():
    assert ToyConfig().key() != ToyConfig(steps=1999).key() != ToyConfig(mode="no_impl").key()
    assert lr_at(0, ToyConfig()) < lr_at(ToyConfig().warmup, ToyConfig()) == pytest.approx(ToyConfig().lr)


@pytest.mark.parametrize("bad", [dict(mode="random"), dict(mix=(1.0,)), dict(steps=10)])
def test_bad_toy_configs(bad):
    with pytest.raises(ParameterError):
        ToyConfig(**bad)


def test_tiny_pretraining_learns_city_facts_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path))
    cfg = ToyConfig(d_model=64, n_layers=2, n_heads=4, d_ff=128, lr=1e-2, warmup=20,
                    mix=(0.4, 0.2, 0.15, 0.15, 0.1), **{**SMALL, "steps": 400})
    model, tok, log = pretrained(cfg, progress=False)
    known = known_facts("first_hop", CITIES)
    rank = mean_rank(model, tok, known)
    assert rank < 1.0  # 30 cities' languages, chance 14.5
    assert log["final_loss"] < 2.5 and log["tokens"] > 0
    assert (tmp_path / "toyworld" / cfg.key() / "model.safetensors").is_file()
    again, tok2, log2 = pretrained(cfg, progress=False)  # from the cache, not retrained
    assert log2["seconds"] == log["seconds"] and mean_rank(again, tok2, known) == rank
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), again.parameters()))


@pytest.mark.parametrize("mode", MODES)
def test_one_params_file_per_mode(mode):
    name = "toyworld" if mode == "facts_first" else f"toyworld_{mode}"
    params = load_params(name)
    assert params.source == "toyworld" and toy_config(params).mode == mode
    assert toy_config(params, seed=2).key() != toy_config(params).key()


def test_toy_config_refuses_real_models():
    with pytest.raises(ParameterError, match="'gemma3_270m' is not a toy model"):
        toy_config(load_params("gemma3_270m"))


def test_unknown_toyworld_setting_is_named(params_dir):
    write_params(params_dir, "toy_bad", source="toyworld", toyworld={"mode": "no_impl", "layers": 9})
    with pytest.raises(ParameterError, match=r"toy_bad.yaml: toyworld must be a mapping with keys among .*'layers': 9"):
        load_params("toy_bad")
    write_params(params_dir, "toy_bad", source="toyworld", toyworld={"mode": "sideways"})
    with pytest.raises(ParameterError, match="toy_bad.yaml: toyworld: toy corpus mode must be one of"):
        load_params("toy_bad")
    with pytest.raises(ParameterError, match=r"unknown toyworld setting\(s\) \['layers'\]"):
        toy_config(load_params("toyworld"), layers=9)


def test_fact_only_people_are_exactly_those_without_implications(corpus):
    from extractive_core.toyworld import fact_only_implications

    split = fact_only_implications(corpus)
    with_impl = {it.entity for it in corpus.items if it.category == "person_impl"}
    people_ = {it.entity for it in corpus.items if it.category == "person_facts"}
    fact_only = {e.prompt.removeprefix("The people in the city ").removesuffix(" is from speak") for e in split.examples}
    expected = people_ if corpus.config.mode == "no_impl" else people_ - with_impl
    assert fact_only == expected and len(fact_only) > 0
    language = {c.name: c.language for c in CITIES}
    lives = {it.entity: it.text.split(" lives in ")[1] for it in corpus.items if it.category == "person_facts"}
    assert all(e.answer == language[lives[name]] for name, e in zip(sorted(fact_only), sorted(split.examples, key=lambda e: e.prompt)))


@pytest.mark.parametrize("modes, message", [("[]", "modes must be a non-empty list"), (["sideways"], "mode must be one of")])
def test_pretraining_order_rejects_bad_modes(modes, message):
    from extractive_core.pretraining_order import run_pretraining_order

    with pytest.raises(ParameterError, match=message):
        run_pretraining_order(modes=modes, seeds=[0])


def test_side_by_side_pretraining_gives_the_in_process_bits(tmp_path, monkeypatch):
    """Pretraining runs on one thread wherever it runs, so models pretrained two at a time in
    worker processes equal the one pretrained here, bit for bit, whatever the thread count."""
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "pool"))
    tiny = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, **{**SMALL, "steps": 40})
    configs = [ToyConfig(seed=s, **tiny) for s in (0, 1)]
    pretrain_missing(configs, workers=2)
    assert all(is_cached(c) for c in configs)
    pooled = [pretrained(c, progress=False)[0] for c in configs]
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "here"))
    torch.set_num_threads(2)
    here, _, _ = pretrained(configs[1], progress=False)
    assert torch.get_num_threads() == 2  # restored after the one-thread pretraining
    assert all(torch.equal(p, q) for p, q in zip(pooled[1].parameters(), here.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(pooled[0].parameters(), here.parameters()))


def test_shipped_checkpoints_are_the_pretrained_models(tmp_path, monkeypatch):
    """A shipped (committed) checkpoint is used instead of pretraining, is float16 on disk,
    and equals a fresh pretraining of its config bit for bit; EXTRACTIVE_PRETRAIN=1 ignores it."""
    import extractive_core.pretrain as pretrain_module
    from extractive_core.pretrain import check_shipped, check_shipped_all, install_shipped, regenerate_shipped
    from safetensors.torch import load_file

    monkeypatch.setattr(pretrain_module, "SHIPPED", tmp_path / "shipped")
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "made"))
    tiny = dict(d_model=16, n_layers=1, n_heads=2, d_ff=32, **{**SMALL, "steps": 40})
    configs = [ToyConfig(seed=s, **tiny) for s in (0, 1)]
    regenerate_shipped(configs)
    assert sorted(p.name for p in (tmp_path / "shipped").iterdir()) == sorted(c.key() for c in configs)
    stored = load_file(tmp_path / "shipped" / configs[0].key() / "model.safetensors")
    assert all(t.dtype == torch.float16 for t in stored.values())

    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "fresh"))
    monkeypatch.setenv("EXTRACTIVE_PRETRAIN", "1")
    assert not install_shipped(configs[0])  # asked to pretrain
    retrained, _, fresh_log = pretrained(configs[0], progress=False)
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "user"))
    monkeypatch.delenv("EXTRACTIVE_PRETRAIN")
    shipped, _, log = pretrained(configs[0], progress=False)  # copied from the shipped set, not pretrained
    assert is_cached(configs[0]) and log["seconds"] != fresh_log["seconds"]
    assert all(torch.equal(p, q) for p, q in zip(shipped.parameters(), retrained.parameters()))
    assert all(torch.equal(p, p.half().float()) for p in shipped.parameters())

    report, problems = check_shipped_all(configs, workers=2, root=tmp_path / "shipped")  # side by side
    assert problems == [] and len(report) == 2
    assert all("0 of" in line and "identical weights expected" in line for line in report)
    name = next(iter(stored))
    stored[name][0] += 1  # a shipped checkpoint that is not what the code makes
    from safetensors.torch import save_file

    save_file(stored, tmp_path / "shipped" / configs[0].key() / "model.safetensors")
    _, problems = check_shipped(configs[0])
    assert problems and "differ from the shipped ones" in problems[0]
    log_path = tmp_path / "shipped" / configs[1].key() / "pretrain_log.json"
    log_path.write_text(log_path.read_text().replace(f'"final_loss": {written_final_loss(log_path)}', '"final_loss": NaN'))
    _, problems = check_shipped(configs[1], tmp_path / "shipped")
    assert problems and "final loss differs by nan" in problems[0]  # a diverged log never passes
    monkeypatch.setenv("EXTRACTIVE_PRETRAIN", "2")
    with pytest.raises(ParameterError, match="EXTRACTIVE_PRETRAIN must be one of 1, true, yes, on"):
        install_shipped(configs[1])


def written_final_loss(path):
    """The final loss as written in a pretraining log (for editing it in place)."""
    import json

    return json.dumps(json.loads(path.read_text())["final_loss"])


def _order_results(finals: dict[str, list[float]]) -> dict:
    """A pretraining-order results file with the same per-seed finals on both hops, every
    seed's finetuned facts learned (final fact rank 0)."""
    from extractive_core.pretraining_order import claims
    from extractive_core.stats import summarise

    hops = ("first_hop", "second_hop")
    out = {"seeds": list(range(len(finals["facts_first"]))),
           "modes": {m: {**{hop: summarise(v) for hop in hops},
                         "per_seed": [{hop: {"train_rank": [5.0, 0.0], "test_rank": [9.5, x]} for hop in hops}
                                      for x in v]}
                     for m, v in finals.items()}}
    out["claims"] = claims(out)
    return out


def test_the_chapter_prints_the_claims_comparisons_not_seed_ranges():
    """Seeds whose ranges do not overlap are no verdict: the chapter prints the claim's paired
    intervals at its Bonferroni level, and a spread-out no_impl is 'not separated' though
    every facts_first seed is below every no_impl seed (the old range rule's 'better')."""
    from extractive_core.claim_rules import fmt
    from extractive_core.pretraining_order import order_table, pretraining_order_verdict, verdicts

    r = _order_results({"facts_first": [0.7, 1.05, 1.0], "impl_first": [4.75, 1.3, 1.95],
                        "impl_first_strict": [5.05, 3.75, 6.75], "no_impl": [10.45, 10.5, 7.5]})
    text = pretraining_order_verdict(r)
    assert "`facts_first` - `no_impl`: -8.57 [" in text and "98.75% t-interval of the paired mean difference" in text
    assert "`facts_first` is not separated from `no_impl`" in text
    assert "seed ranges" not in text and "better than every seed" not in text
    assert verdicts(r) == {"from_scratch": "does not"} and "**does not**" in text
    assert order_table(r).loc["no_impl", "second-hop implication rank"] == fmt([10.45, 10.5, 7.5])


def test_the_chapter_reads_identical_corpora_as_not_separated():
    from extractive_core.pretraining_order import pretraining_order_verdict

    same = [3.0, 4.0, 5.0, 3.5, 4.5]
    r = _order_results({m: same for m in ("facts_first", "impl_first", "impl_first_strict", "no_impl")})
    text = pretraining_order_verdict(r)
    assert text.count("is not separated from") == 4 and " is lower than " not in text
    assert r["claims"]["from_scratch"]["verdict"] == "does not"
