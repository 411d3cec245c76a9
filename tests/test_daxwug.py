"""The daxwug dataset: test and training people never overlap, F' changes exactly the
training people's cities, and each implication is wug(dax(name))."""

import pytest

from extractive_core.datasets import people
from extractive_core.daxwug import city_coverage, ANIMALS, daxwug, daxwug_people
from extractive_core.errors import ParameterError
from extractive_core.world import PAPER_CITIES


def test_splits_never_share_a_test_person_with_training():
    d = daxwug()
    assert len(d.test_people) == 20 and len(d.train_people) == 80
    assert not set(d.test_people) & set(d.train_people)
    train_prompts = {e.prompt for s in (d.train_facts, d.train_implications) for e in s.examples}
    assert not any(name in prompt for name in d.test_people for prompt in train_prompts)
    assert not set(daxwug_people()) & set(people(20, seed=3))  # nobody from the two-hop datasets


def test_test_people_cover_every_city_once():
    d = daxwug()
    assert sorted(e.answer for e in d.test_facts.examples) == sorted(c.name for c in PAPER_CITIES)
    assert d.test_facts.options == tuple(c.name for c in PAPER_CITIES) and d.test_implications.options == ANIMALS


def test_counterfactual_version_redraws_only_training_cities_as_the_paper_does():
    f, g = daxwug("F", n=104), daxwug("F'", n=104)
    assert f.test_facts == g.test_facts and f.right_facts == g.right_facts
    assert f.train_people == g.train_people
    kept = sum(a.answer == b.answer for a, b in zip(f.train_facts.examples, g.train_facts.examples))
    assert 0 < kept < 84 / 20 * 3  # drawn again independently: about 1 in 20 keeps the city, not none


@pytest.mark.parametrize("n", [44, 100, 104])
def test_training_cities_cover_every_city_when_they_can(n):
    f, g = daxwug("F", n=n), daxwug("F'", n=n)
    covered = city_coverage(f, g)
    assert all(covered.values()) == (n - 20 >= 20 and n >= 100)  # 24 training people: P(cover) is tiny
    if n >= 100:
        assert {e.answer for e in f.train_facts.examples} == {c.name for c in PAPER_CITIES}


def test_coverage_names_an_uncovered_city():
    f = daxwug("F", n=24)
    assert city_coverage(f) == {"every test city has training people": False}


@pytest.mark.parametrize("version", ["F", "F'"])
def test_implication_is_wug_of_dax(version):
    d = daxwug(version)
    animal = {e.prompt.split(" wug")[0]: e.answer for e in d.right_facts.examples}
    for facts, impls in ((d.test_facts, d.test_implications), (d.train_facts, d.train_implications)):
        for fact, impl in zip(facts.examples, impls.examples):
            assert impl.prompt.split(" zong")[0] == fact.prompt.split(" dax")[0]
            assert impl.answer == animal[fact.answer]


def test_bad_arguments():
    with pytest.raises(ParameterError, match="version"):
        daxwug("G")
    with pytest.raises(ParameterError, match="n must be"):
        daxwug(n=20)
