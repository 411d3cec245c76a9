"""Experiment 1, two-hop out-of-context reasoning: finetune on facts, track the rank of the
facts (train) and of their never-seen implications (test) after every epoch."""

from __future__ import annotations

from statistics import mean
from typing import Any, Sequence

import pandas as pd

from .datasets import HOPS, known_facts, two_hop
from .errors import ParameterError
from .finetune import finetune
from .metrics import mean_rank
from .models import LoadedModel
from .params import check_seeds


def resolve_recipe(lm: LoadedModel, lr: float | None, epochs: int | None, batch_size: int | None) -> dict:
    """The model's params recipe, with any explicit override."""
    recipe = lm.params.recipe
    for name, value in (("lr", lr), ("epochs", epochs), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ParameterError(f"{name} must be a number or None, got {value!r}")
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
    progress: bool | None = None,
) -> dict[str, Any]:
    """Finetune once per (hop, seed) from the same starting weights.

    Returns, per hop, ``train_rank`` and ``test_rank`` (mean over seeds, one value per
    epoch, epoch 0 included), the per-seed curves, and the rank of the pretraining-known hop.
    """
    seeds = check_seeds(seeds)
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


def summary_table(results: dict[str, Any]) -> pd.DataFrame:
    """One row per hop: known-hop rank, facts and implications at epoch 0 and at the end."""
    rows = []
    for hop in HOPS:
        if hop not in results:
            continue
        r = results[hop]
        rows.append({
            "hop": hop,
            "known hop rank (pretrained)": r["known_hop_rank"],
            "facts, epoch 0": r["train_rank"][0],
            "facts, final": r["train_rank"][-1],
            "implications, epoch 0": r["test_rank"][0],
            "implications, final": r["test_rank"][-1],
            "implications, final per seed": ", ".join(f"{s['test_rank'][-1]:.2f}" for s in r["per_seed"].values()),
        })
    return pd.DataFrame(rows).set_index("hop")


def verdict(results: dict[str, Any], hop: str) -> str:
    """A sentence on whether ``hop`` shows OCR, read off the run (never typed in)."""
    r = results[hop]
    start, end, chance = r["test_rank"][0], r["test_rank"][-1], r["chance_rank"]
    learned = r["train_rank"][-1] < 1.0
    if end < chance / 2:
        finding = "clear out-of-context reasoning"
    elif end < chance - 1.0:
        finding = "weak out-of-context reasoning"
    else:
        finding = "no out-of-context reasoning"
    facts = "the facts were learned" if learned else "the facts were not fully learned"
    return (f"**{hop.replace('_', '-')}**: {facts} (rank {r['train_rank'][-1]:.2f}); the never-trained "
            f"implications went from rank {start:.2f} to {end:.2f} (chance {chance:.1f}): {finding}.")
