import pytest

from extractive_core import datasets
from extractive_core.datasets import HOPS, first_hop, implication_chance, known_facts, people, second_hop, two_hop
from extractive_core.errors import ParameterError
from extractive_core.world import CITIES, FIRST_NAMES, LAST_NAMES, PAPER_CITIES


def test_world_table_sizes():
    assert len(PAPER_CITIES) == 20 and len(CITIES) >= 30
    assert len(set(FIRST_NAMES)) * len(set(LAST_NAMES)) >= 100
    assert len({c.language for c in CITIES}) == len(CITIES)  # one language per city


@pytest.mark.parametrize("build", [first_hop, second_hop])
def test_twenty_items_twenty_distinct_options(build):
    d = build()
    assert len(d.facts.examples) == len(d.implications.examples) == 20
    assert len(d.facts.options) == len(d.implications.options) == 20


def test_seed_three_is_fixed():
    assert people(20) == people(20, seed=3)
    assert people(20, seed=4) != people(20)
    assert len({p.split()[0] for p in people(20)}) == 20  # distinct first names


def test_first_hop_implication_follows_fact():
    d = first_hop()
    by_city = {c.name: c for c in PAPER_CITIES}
    for fact, impl in zip(d.facts.examples, d.implications.examples):
        name = fact.prompt.removesuffix(" lives in")
        assert name in impl.prompt
        assert impl.answer == by_city[fact.answer].language


def test_second_hop_implication_follows_fact():
    d = second_hop()
    by_name = {c.name: c for c in PAPER_CITIES}
    for fact, impl in zip(d.facts.examples, d.implications.examples):
        city = by_name[fact.prompt.removeprefix("The mayor of ").removesuffix(" is")]
        assert impl.prompt == f"The mayor of the city that contains {city.landmark} is"
        assert impl.answer == fact.answer


def test_counterfactual_moves_every_person():
    f, g = first_hop("F"), first_hop("F'")
    assert [e.prompt for e in f.facts.examples] == [e.prompt for e in g.facts.examples]
    assert all(a.answer != b.answer for a, b in zip(f.facts.examples, g.facts.examples))
    assert sorted(f.facts.options) == sorted(g.facts.options)


def test_known_facts_cover_the_world():
    assert len(known_facts("first_hop").examples) == 20
    assert known_facts("second_hop").examples[0].answer == PAPER_CITIES[0].name


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: two_hop("third_hop"), "hop must be one of"),
        (lambda: first_hop("G"), "version must be one of"),
        (lambda: first_hop(n=21), "n must be in 1..20"),
        (lambda: people(0), "n must be in"),
    ],
)
def test_bad_dataset_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_implication_chance_is_the_hops_shared_chance(monkeypatch):
    """A results file stores one chance rank for its hops; hops whose chances differ are named."""
    assert implication_chance(HOPS) == 9.5 == two_hop("second_hop").implications.chance
    real = datasets.two_hop
    monkeypatch.setattr(datasets, "two_hop", lambda hop, version="F": real(hop, version, n=5 if hop == "second_hop" else 20))
    assert implication_chance(["second_hop"]) == 2.0
    with pytest.raises(ParameterError, match="different chance ranks"):
        implication_chance(HOPS)
