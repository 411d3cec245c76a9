"""The daxwug dataset: fictitious relations for the paper's pretraining-mechanism
experiments (data ordering and weight grafting), where no relation is known beforehand.

- ``dax`` (the "left" fact): ``"{name} dax is"`` -> a city;
- ``wug`` (the "right" fact, never trained): ``"{city} wug is the"`` -> an animal, one per city;
- ``zong`` (the implication, wug of dax): ``"{name} zong is the"`` -> that city's animal.

The first 20 people are the test people, one per city; the rest are training people with
cities drawn independently and uniformly, drawn again until every city has one (the
experiments' precondition, ``city_coverage``). Version ``F'`` draws every training person's
city again, independently, as the paper does (about 1 in 20 keeps theirs), and keeps the
test people's; the city -> animal table is the same in both.
No daxwug person is one of the two-hop datasets' people.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from .datasets import VERSIONS, Example, Split, people
from .errors import ParameterError
from .world import FIRST_NAMES, LAST_NAMES, PAPER_CITIES

ANIMALS: tuple[str, ...] = (
    "tiger", "rabbit", "eagle", "dolphin", "camel", "penguin", "wolf", "giraffe",
    "octopus", "horse", "zebra", "koala", "salmon", "fox", "bear", "lizard",
    "monkey", "owl", "kangaroo", "shark",
)
RELATIONS = {"left": "dax", "right": "wug", "both": "zong"}
N_TEST = len(PAPER_CITIES)


def dax(name: str, city: str) -> Example:
    return Example(f"{name} {RELATIONS['left']} is", city)


def wug(city: str, animal: str) -> Example:
    return Example(f"{city} {RELATIONS['right']} is the", animal)


def zong(name: str, animal: str) -> Example:
    return Example(f"{name} {RELATIONS['both']} is the", animal)


@dataclass(frozen=True)
class DaxwugDataset:
    """Facts (dax) and implications (zong) of the test and the training people, and the
    untrained city -> animal relation (wug). Options: the 20 cities, or the 20 animals."""

    version: str
    test_people: tuple[str, ...]
    train_people: tuple[str, ...]
    test_facts: Split
    test_implications: Split
    train_facts: Split
    train_implications: Split
    right_facts: Split


def daxwug_people(n: int = 100, seed: int = 3) -> list[str]:
    """``n`` distinct "First Last" names, none of them a two-hop dataset person."""
    reserved = set(people(20, seed=seed))
    pool = [f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES if f"{f} {l}" not in reserved]
    if not N_TEST < n <= len(pool):
        raise ParameterError(f"n must be in {N_TEST + 1}..{len(pool)} (20 test people plus training people), got {n!r}")
    return random.Random(seed + 7).sample(pool, n)


COVERING_ATTEMPTS = 1000


def covering_draw(rng: random.Random, cities: list[str], n: int) -> list[str]:
    """``n`` cities drawn independently and uniformly, drawn again (up to
    ``COVERING_ATTEMPTS`` times) until every city occurs, so that every test person's city
    has training people and every F' city an Impl F person: the experiments' precondition
    (``city_coverage``). With fewer than 20 people no draw covers; the last draw is kept and
    the precondition reports it."""
    draw = [rng.choice(cities) for _ in range(n)]
    for _ in range(COVERING_ATTEMPTS if n >= len(cities) else 0):
        if len(set(draw)) == len(cities):
            break
        draw = [rng.choice(cities) for _ in range(n)]
    return draw


def city_coverage(facts: "DaxwugDataset", counterfactual: "DaxwugDataset | None" = None) -> dict[str, bool]:
    """The preconditions the daxwug draw must meet: every test person's city has a training
    person in F (their implication can be inferred), and every F' training city occurs among
    F's training people (its animal was trained through Impl F)."""
    trained = {e.answer for e in facts.train_facts.examples}
    out = {"every test city has training people": all(e.answer in trained for e in facts.test_facts.examples)}
    if counterfactual is not None:
        out["every F' city has an Impl F person"] = all(e.answer in trained for e in counterfactual.train_facts.examples)
    return out


def daxwug(version: str = "F", n: int = 100, seed: int = 3) -> DaxwugDataset:
    """The dataset in ``version`` (``"F"`` or ``"F'"``) with ``n`` people."""
    if version not in VERSIONS:
        raise ParameterError(f"version must be one of {VERSIONS}, got {version!r}")
    names = daxwug_people(n, seed)
    cities = [c.name for c in PAPER_CITIES]
    animal_of = dict(zip(cities, ANIMALS))
    rng = random.Random(seed + 11)
    test_cities = rng.sample(cities, N_TEST)
    train_cities = covering_draw(rng, cities, len(names) - N_TEST)
    if version == "F'":
        redraw = random.Random(seed + 13)
        train_cities = [redraw.choice(cities) for _ in train_cities]
    city_of = dict(zip(names, test_cities + train_cities))

    def split(who: list[str], make: Callable[[str, str], Example], answer: Callable[[str], str]) -> Split:
        return Split(tuple(make(p, answer(p)) for p in who), tuple(cities) if make is dax else ANIMALS)

    test, train = names[:N_TEST], names[N_TEST:]
    return DaxwugDataset(
        version, tuple(test), tuple(train),
        test_facts=split(test, dax, city_of.__getitem__),
        test_implications=split(test, zong, lambda p: animal_of[city_of[p]]),
        train_facts=split(train, dax, city_of.__getitem__),
        train_implications=split(train, zong, lambda p: animal_of[city_of[p]]),
        right_facts=Split(tuple(wug(c, animal_of[c]) for c in cities), ANIMALS),
    )


def daxwug_texts() -> list[str]:
    """Every sentence of both versions (for vocabularies)."""
    out = []
    for version in VERSIONS:
        d = daxwug(version)
        for s in (d.test_facts, d.test_implications, d.train_facts, d.train_implications, d.right_facts):
            out += [e.text for e in s.examples]
    return out
