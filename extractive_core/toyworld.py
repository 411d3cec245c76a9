"""The toy world: a synthetic pretraining corpus whose order we control.

People live in cities, cities have languages and landmarks, and mayors change in eras.
The corpus uses the same templates as the first-hop and second-hop datasets, so a toy model
pretrained on it takes the same finetuning and rank code as a real LM. The corpus *mode*
decides when a person's (or mayor's) implication sentences appear relative to the fact:

- ``facts_first``: an implication appears only after its fact has been seen; both replayed.
- ``impl_first``: implications before the facts, then both replayed.
- ``impl_first_strict``: implications only before the facts, never after.
- ``no_impl``: no implication sentences at all.

Held-out people (every name the two-hop datasets use) never occur in the corpus.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from functools import cached_property

import numpy as np

from .datasets import HOPS, Example, Split, check_seed, known_facts, mayor, people, resident
from .world import CITIES, FIRST_NAMES, LAST_NAMES

MODES = ("facts_first", "impl_first", "impl_first_strict", "no_impl")
CATEGORIES = ("city_facts", "person_facts", "person_impl", "mayor_facts", "mayor_impl")
CORPUS_VERSION = 4  # bump when corpus, vocabulary or pretraining code changes what a config produces
# (2: daxwug words; 3: one thread; 4: weights rounded to float16, the shipped checkpoints' precision)


@dataclass(frozen=True)
class ToyConfig:
    """Everything that determines a pretrained toy model (its cache key)."""

    mode: str = "facts_first"
    seed: int = 0
    n_people: int = 1500
    n_waves: int = 6
    no_impl_fraction: float = 0.1
    n_eras: int = 10
    cities_without_impl: int = 5
    steps: int = 1000
    batch_size: int = 128
    lr: float = 4e-3
    warmup: int = 50
    weight_decay: float = 0.01
    d_model: int = 64
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 256
    mix: tuple[float, ...] = (0.10, 0.35, 0.25, 0.15, 0.15)  # per CATEGORIES

    def __post_init__(self) -> None:
        from .errors import ParameterError

        check_seed(self.seed, "toy model seed")
        if self.mode not in MODES:
            raise ParameterError(f"toy corpus mode must be one of {MODES}, got {self.mode!r}")
        if len(self.mix) != len(CATEGORIES) or abs(sum(self.mix) - 1) > 1e-6:
            raise ParameterError(f"mix needs {len(CATEGORIES)} shares summing to 1, got {self.mix}")
        if self.n_people < 2 * self.n_waves or self.steps < 4 * self.n_eras:
            raise ParameterError("need n_people >= 2 * n_waves and steps >= 4 * n_eras")

    def key(self) -> str:
        """A short hash of every field: the checkpoint cache key."""
        blob = json.dumps({**asdict(self), "version": CORPUS_VERSION}, sort_keys=True).encode()
        return f"{self.mode}-s{self.seed}-{hashlib.sha256(blob).hexdigest()[:10]}"


def held_out_names() -> list[str]:
    """People reserved for finetuning: the two-hop datasets' people and mayors."""
    return people(20, seed=3)


def pretraining_names() -> list[str]:
    """Every "First Last" pair except the held-out people."""
    reserved = set(held_out_names())
    return [f"{f} {l}" for f in FIRST_NAMES for l in LAST_NAMES if f"{f} {l}" not in reserved]


@dataclass(frozen=True)
class Item:
    """One corpus sentence and the steps [start, end) during which it may be sampled."""

    category: str
    text: str
    start: int
    end: int
    entity: str = ""  # person name or "era:city", to check ordering rules


def windows(mode: str, t0: int, delay: int, end: int, with_impl: bool) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(fact window, implication window) for an entity introduced at step ``t0``."""
    if not with_impl or mode == "no_impl":
        return ((t0 if mode in ("facts_first", "no_impl") else t0 + delay, end), None)
    if mode == "facts_first":
        return (t0, end), (t0 + delay, end)
    if mode == "impl_first":
        return (t0 + delay, end), (t0, end)
    return (t0 + delay, end), (t0, t0 + delay)  # impl_first_strict


@dataclass
class ToyCorpus:
    """The sentences of one toy world with their sampling windows; batches by step."""

    config: ToyConfig
    items: list[Item] = field(default_factory=list)
    fact_only: list[Example] = field(default_factory=list)  # implications never in the corpus

    @classmethod
    def build(cls, config: ToyConfig) -> "ToyCorpus":
        rng = random.Random(config.seed)
        corpus = cls(config)
        corpus._add_city_facts()
        corpus._add_people(rng)
        corpus._add_mayors(rng)
        return corpus

    def _add(self, category: str, example: Example, window: tuple[int, int] | None, entity: str = "") -> None:
        if window is not None and window[0] < window[1]:
            self.items.append(Item(category, example.text, window[0], window[1], entity))

    def _add_city_facts(self) -> None:
        for hop in HOPS:
            for ex in known_facts(hop, CITIES).examples:
                self._add("city_facts", ex, (0, self.config.steps))

    def _add_people(self, rng: random.Random) -> None:
        cfg = self.config
        persons = rng.sample(pretraining_names(), cfg.n_people)
        phase = cfg.steps // (cfg.n_waves + 1)
        for i, name in enumerate(persons):
            city = rng.choice(CITIES)
            t0 = (i * cfg.n_waves // cfg.n_people) * phase
            with_impl = rng.random() >= cfg.no_impl_fraction
            fact_w, impl_w = windows(cfg.mode, t0, phase, cfg.steps, with_impl)
            fact, impl = resident(name, city)
            self._add("person_facts", fact, fact_w, name)
            self._add("person_impl", impl, impl_w, name)
            if impl_w is None:
                self.fact_only.append(impl)

    def _add_mayors(self, rng: random.Random) -> None:
        cfg = self.config
        pool = pretraining_names()
        era = cfg.steps // cfg.n_eras
        for e in range(cfg.n_eras):
            silent = set(rng.sample(range(len(CITIES)), cfg.cities_without_impl))
            for c, (city, name) in enumerate(zip(CITIES, rng.sample(pool, len(CITIES)))):
                fact_w, impl_w = windows(cfg.mode, e * era, era // 2, (e + 1) * era, c not in silent)
                fact, impl = mayor(name, city)
                self._add("mayor_facts", fact, fact_w, f"{e}:{city.name}")
                self._add("mayor_impl", impl, impl_w, f"{e}:{city.name}")

    @cached_property
    def _arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Per category: item indices, window starts, window ends, entity ids."""
        entity_id = {e: i for i, e in enumerate(dict.fromkeys(it.entity for it in self.items))}
        out = {}
        for cat in CATEGORIES:
            idx = np.array([i for i, it in enumerate(self.items) if it.category == cat], dtype=np.int64)
            items = [self.items[i] for i in idx]
            out[cat] = (
                idx,
                np.array([it.start for it in items], dtype=np.int64),
                np.array([it.end for it in items], dtype=np.int64),
                np.array([entity_id[it.entity] for it in items], dtype=np.int64),
            )
        return out

    def schedule(self) -> list[np.ndarray]:
        """Every step's item indices, deterministic in the config's seed.

        Each category gets its share of the batch, sampled from its items whose window is
        open; shares of categories with nothing open go to the others. In ``facts_first`` an
        implication is eligible only once its own fact has been sampled; in ``impl_first`` a
        fact only once its implication has (entities without implications are not held back).
        """
        cfg, arrays = self.config, self._arrays
        rng = np.random.default_rng(cfg.seed)
        n_entities = 1 + max(int(a[3].max(initial=0)) for a in arrays.values())
        seen = {"fact": np.zeros(n_entities, bool), "impl": np.zeros(n_entities, bool)}
        has_impl = np.zeros(n_entities, bool)
        for cat in ("person_impl", "mayor_impl"):
            has_impl[arrays[cat][3]] = True
        steps = []
        for t in range(cfg.steps):
            live = {}
            for cat, (idx, start, end, ent) in arrays.items():
                mask = (start <= t) & (t < end)
                if cfg.mode == "facts_first" and cat.endswith("_impl"):
                    mask &= seen["fact"][ent]
                if cfg.mode == "impl_first" and cat in ("person_facts", "mayor_facts"):
                    mask &= seen["impl"][ent] | ~has_impl[ent]
                if mask.any():
                    live[cat] = np.flatnonzero(mask)
            shares = np.array([cfg.mix[CATEGORIES.index(c)] for c in live])
            counts = np.floor(shares / shares.sum() * cfg.batch_size).astype(int)
            counts[np.argmax(shares)] += cfg.batch_size - counts.sum()
            picks = []
            for (cat, rows), n in zip(live.items(), counts):
                chosen = rng.choice(rows, n)
                seen["impl" if cat.endswith("_impl") else "fact"][arrays[cat][3][chosen]] = True
                picks.append(arrays[cat][0][chosen])
            steps.append(np.concatenate(picks))
        return steps

    def texts(self) -> list[str]:
        return [it.text for it in self.items]


def fact_only_implications(corpus: ToyCorpus) -> Split:
    """Implications of pretraining people whose implication never appears in the corpus:
    how well the pretrained model already does OCR on facts it saw only as facts."""
    return Split.of(corpus.fact_only)
