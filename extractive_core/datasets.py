"""The two-hop datasets: finetuned facts and the implications they should generalise to.

First-hop: the fact is the first hop (``{name} lives in`` -> city); the second hop
(city -> language) is known from pretraining. Second-hop: the fact is the second hop
(``The mayor of {city} is`` -> name); the first hop (landmark -> city) is known.
Each comes in version ``F`` and a counterfactual ``F'`` that pairs the same people with
another permutation of the cities.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal, Sequence

from .world import FIRST_NAMES, LAST_NAMES, PAPER_CITIES, City

Version = Literal["F", "F'"]
VERSIONS: tuple[str, ...] = ("F", "F'")
HOPS: tuple[str, ...] = ("first_hop", "second_hop")


@dataclass(frozen=True)
class Example:
    """One prompt and the answer the model should continue it with."""

    prompt: str
    answer: str

    @property
    def text(self) -> str:
        """The whole sentence, as it appears in training text."""
        return f"{self.prompt} {self.answer}"


@dataclass(frozen=True)
class Split:
    """Examples scored against a shared set of answer options (the ranking candidates)."""

    examples: tuple[Example, ...]
    options: tuple[str, ...]

    @property
    def chance(self) -> float:
        """The mean rank of a model that cannot tell the options apart: (options - 1) / 2."""
        return (len(self.options) - 1) / 2

    @classmethod
    def of(cls, examples: Sequence[Example]) -> "Split":
        """A split whose options are its distinct answers, in first-seen order."""
        return cls(tuple(examples), tuple(dict.fromkeys(e.answer for e in examples)))


@dataclass(frozen=True)
class TwoHopDataset:
    """Facts to finetune on and the implications that test out-of-context reasoning."""

    hop: str
    version: str
    facts: Split
    implications: Split


def people(n: int, seed: int = 3) -> list[str]:
    """``n`` fictitious people "First Last" with distinct first names, drawn with ``seed``."""
    if not 0 < n <= len(FIRST_NAMES):
        raise ValueError(f"n must be in 1..{len(FIRST_NAMES)} (distinct first names), got {n}")
    rng = random.Random(seed)
    firsts = rng.sample(FIRST_NAMES, n)
    return [f"{first} {rng.choice(LAST_NAMES)}" for first in firsts]


def city_assignment(n: int, version: str, seed: int = 3) -> list[City]:
    """The city of each of ``n`` people in ``version``; F' differs from F for every person."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    if not 0 < n <= len(PAPER_CITIES):
        raise ValueError(f"n must be in 1..{len(PAPER_CITIES)} (one city each), got {n}")
    rng = random.Random(seed + 1)
    order = rng.sample(range(len(PAPER_CITIES)), n)
    if version == "F'":
        shift = rng.randrange(1, n) if n > 1 else 0
        order = order[shift:] + order[:shift]  # a rotation: nobody keeps their city
    return [PAPER_CITIES[i] for i in order]


def resident(name: str, city: City) -> tuple[Example, Example]:
    """First-hop templates: fact ``{name} lives in`` -> city, and its implication, the
    language of that city (the one place these sentences are written)."""
    return (
        Example(f"{name} lives in", city.name),
        Example(f"The people in the city {name} is from speak", city.language),
    )


def mayor(name: str, city: City) -> tuple[Example, Example]:
    """Second-hop templates: fact ``The mayor of {city} is`` -> name, and its implication
    through the city's landmark."""
    return (
        Example(f"The mayor of {city.name} is", name),
        Example(f"The mayor of the city that contains {city.landmark} is", name),
    )


def _dataset(hop: str, version: str, n: int, seed: int) -> TwoHopDataset:
    template = {"first_hop": resident, "second_hop": mayor}[hop]
    pairs = [template(p, c) for p, c in zip(people(n, seed), city_assignment(n, version, seed))]
    return TwoHopDataset(hop, version, Split.of([f for f, _ in pairs]), Split.of([i for _, i in pairs]))


def first_hop(version: str = "F", n: int = 20, seed: int = 3) -> TwoHopDataset:
    """Fact ``{name} lives in`` -> city; implication: the language spoken in that city."""
    return _dataset("first_hop", version, n, seed)


def second_hop(version: str = "F", n: int = 20, seed: int = 3) -> TwoHopDataset:
    """Fact ``The mayor of {city} is`` -> name; implication via the city's landmark."""
    return _dataset("second_hop", version, n, seed)


def two_hop(hop: str, version: str = "F", n: int = 20, seed: int = 3) -> TwoHopDataset:
    """The dataset of ``hop`` ("first_hop" or "second_hop")."""
    builders = {"first_hop": first_hop, "second_hop": second_hop}
    if hop not in builders:
        raise ValueError(f"hop must be one of {HOPS}, got {hop!r}")
    return builders[hop](version, n, seed)


def known_facts(hop: str, cities: Sequence[City] = PAPER_CITIES) -> Split:
    """The pretraining-known hop that OCR composes with: city -> language, landmark -> city."""
    if hop == "first_hop":
        return Split.of([Example(f"The people in {c.name} speak", c.language) for c in cities])
    if hop == "second_hop":
        return Split.of(
            [Example(f"{c.landmark} is in the city of", c.name) for c in cities]
        )
    raise ValueError(f"hop must be one of {HOPS}, got {hop!r}")


def dataset_texts() -> list[str]:
    """Every sentence of both two-hop datasets, both versions (for building vocabularies)."""
    return [
        e.text
        for hop in HOPS
        for version in VERSIONS
        for split in (two_hop(hop, version).facts, two_hop(hop, version).implications)
        for e in split.examples
    ]
