"""Experiment 1, two-hop out-of-context reasoning: finetune on facts, track the rank of the
facts (train) and of their never-seen implications (test) after every epoch."""

from __future__ import annotations

from statistics import mean
from typing import Any, Sequence

from .datasets import HOPS, known_facts, two_hop
from .finetune import finetune
from .metrics import mean_rank
from .models import LoadedModel


def resolve_recipe(lm: LoadedModel, lr: float | None, epochs: int | None, batch_size: int | None) -> dict:
    """The model's params recipe, with any explicit override."""
    recipe = lm.params.recipe
    return {
        "lr": recipe.lr if lr is None else float(lr),
        "epochs": recipe.epochs if epochs is None else int(epochs),
        "batch_size": recipe.batch_size if batch_size is None else int(batch_size),
        "trainable": recipe.trainable,
    }


def run_two_hop_ocr(
    lm: LoadedModel,
    seeds: Sequence[int] = (0,),
    hops: Sequence[str] = HOPS,
    lr: float | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    n_people: int = 20,
    progress: bool = True,
) -> dict[str, Any]:
    """Finetune once per (hop, seed) from the same starting weights.

    Returns, per hop, ``train_rank`` and ``test_rank`` (mean over seeds, one value per
    epoch, epoch 0 included), the per-seed curves, and the rank of the pretraining-known hop.
    """
    recipe = resolve_recipe(lm, lr, epochs, batch_size)
    out: dict[str, Any] = {"model": lm.params.name, "seeds": list(seeds), "n_people": n_people, **recipe}
    for hop in hops:
        data = two_hop(hop, "F", n=n_people)
        per_seed = {}
        for seed in seeds:
            run = finetune(
                lm.model, lm.tokenizer, data.facts, {"train": data.facts, "test": data.implications},
                lr=recipe["lr"], epochs=recipe["epochs"], batch_size=recipe["batch_size"], seed=seed,
                trainable=recipe["trainable"], autocast_dtype=lm.params.autocast, progress=progress,
            )
            per_seed[str(seed)] = {"train_rank": run.ranks("train"), "test_rank": run.ranks("test")}
        out[hop] = {
            "train_rank": _mean_curve([s["train_rank"] for s in per_seed.values()]),
            "test_rank": _mean_curve([s["test_rank"] for s in per_seed.values()]),
            "per_seed": per_seed,
            "known_hop_rank": mean_rank(lm.model, lm.tokenizer, known_facts(hop), lm.params.autocast),
            "chance_rank": (len(data.implications.options) - 1) / 2,
        }
    return out


def _mean_curve(curves: list[list[float]]) -> list[float]:
    return [mean(values) for values in zip(*curves)]
