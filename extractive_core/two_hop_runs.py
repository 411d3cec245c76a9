"""The two-hop finetuning runs every chapter shares: one cached run per (hop, seed, layers)
on the hop's facts, from the model's recipe. The two-hop chapter (``ocr``) reports them; the
extractive scores, layer freezing, the sweep and the determinism probe analyse the very same
runs, which the run cache serves to whichever asks second."""

from __future__ import annotations

from typing import Sequence

from .datasets import HOPS, two_hop
from .finetune import FinetuneResult
from .models import LoadedModel
from .params import Recipe, RunSpec, check_choices, overridden
from .runs import cached_finetune


def resolve_recipe(lm: LoadedModel, lr: float | None, epochs: int | None, batch_size: int | None) -> Recipe:
    """The model's params recipe, with each explicit (non-None) override."""
    return overridden(lm.params.recipe, "recipe", lr=lr, epochs=epochs, batch_size=batch_size)


def two_hop_run(lm: LoadedModel, hop: str, seed: int, recipe: Recipe, n_people: int = 20,
                layers: Sequence[int] | None = None, progress: bool | None = None,
                logged: str = "every") -> FinetuneResult:
    """One (cached) finetuning run on ``hop``'s facts, ranks of facts ("train") and
    implications ("test") logged (``logged``: every epoch, or the "ends" only: ``RunSpec``);
    ``recipe`` from ``resolve_recipe``; ``layers`` restricts training to those layers."""
    data = two_hop(hop, "F", n=n_people)
    spec = RunSpec.of(lm.params, recipe, seed=seed, layers=layers, logged=logged)
    where = f" layers {list(layers)}" if layers else ""
    return cached_finetune(lm, data.facts, {"train": data.facts, "test": data.implications}, spec,
                           progress=progress, label=f"{hop} seed {seed}{where}")


def check_hops(hops: object) -> list[str]:
    """A non-empty list of hop names from ``HOPS``."""
    return check_choices(hops, "hops", "hop", HOPS)
