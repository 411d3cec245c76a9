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

from .errors import ParameterError
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

    def __post_init__(self) -> None:
        if self.examples and not self.options:
            raise ParameterError("a Split needs at least one answer option to rank its examples' answers against, "
                                 "got options (); Split.of(examples) takes the examples' distinct answers")
        if len(set(self.options)) != len(self.options):
            raise ParameterError(f"a Split's options must be distinct (each one ranked once), got {self.options!r}")
        missing = list(dict.fromkeys(e.answer for e in self.examples if e.answer not in self.options))
        if missing:
            raise ParameterError(f"every answer of a Split must be one of its options; {missing[:3]} are not among "
                                 f"{list(self.options)[:5]}{'...' if len(self.options) > 5 else ''}: add them to "
                                 "the options, or build it with Split.of(examples)")

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


SEED_LIMIT = 2**63  # seeds are whole numbers in 0..2**63 - 1: what torch's generator, numpy's and random's all take


def check_seed(seed: object, name: str = "seed") -> int:
    """A whole-number seed in ``0 .. SEED_LIMIT - 1``; ``name`` names it in the error."""
    if isinstance(seed, bool) or not (isinstance(seed, int) and 0 <= seed < SEED_LIMIT):
        raise ParameterError(f"{name} must be a whole number in 0..2**63 - 1 (a 64-bit random-number seed), "
                             f"got {seed!r}")
    return seed


def check_draw(n: object, most: int, why: str, seed: object) -> None:
    """A draw of ``n`` items (a whole number in ``1..most``; ``why``: what bounds it) with
    ``seed`` (``check_seed``'s rule)."""
    if isinstance(n, bool) or not (isinstance(n, int) and 1 <= n <= most):
        raise ParameterError(f"n must be in 1..{most} ({why}), a whole number, got {n!r}")
    check_seed(seed, "the dataset seed")


def people(n: int, seed: int = 3) -> list[str]:
    """``n`` fictitious people "First Last" with distinct first names, drawn with ``seed``."""
    check_draw(n, len(FIRST_NAMES), "distinct first names", seed)
    rng = random.Random(seed)
    firsts = rng.sample(FIRST_NAMES, n)
    return [f"{first} {rng.choice(LAST_NAMES)}" for first in firsts]


def city_assignment(n: int, version: str, seed: int = 3) -> list[City]:
    """The city of each of ``n`` people in ``version``; F' differs from F for every person."""
    if version not in VERSIONS:
        raise ValueError(f"version must be one of {VERSIONS}, got {version!r}")
    check_draw(n, len(PAPER_CITIES), "one city each", seed)
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


def implication_chance(hops: Sequence[str]) -> float:
    """The chance rank of ``hops``' implications (the F version), which a results file stores
    once for all its hops: an error if they differ (each hop would need its own)."""
    chances = {hop: two_hop(hop, "F").implications.chance for hop in hops}
    if len(set(chances.values())) != 1:
        raise ParameterError(f"the hops' implications have different chance ranks {chances}; a results file stores "
                             "one, so run the hops separately")
    return next(iter(chances.values()))


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
