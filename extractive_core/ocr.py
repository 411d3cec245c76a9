"""Experiment 1, two-hop out-of-context reasoning: finetune on facts, track the rank of the
facts (train) and of their never-seen implications (test) after every epoch."""

from __future__ import annotations

import time
from statistics import mean
from typing import Any, Sequence

import pandas as pd

from .datasets import HOPS, known_facts, two_hop
from .errors import ParameterError
from .finetune import FinetuneResult
from .runs import cached_finetune
from .metrics import mean_rank
from .models import LoadedModel
from .numerics import provenance
from .params import check_choices, check_recipe, check_seeds


def resolve_recipe(lm: LoadedModel, lr: float | None, epochs: int | None, batch_size: int | None) -> dict:
    """The model's params recipe, with any explicit override."""
    recipe = lm.params.recipe
    chosen = {
        "lr": recipe.lr if lr is None else lr,
        "epochs": recipe.epochs if epochs is None else epochs,
        "batch_size": recipe.batch_size if batch_size is None else batch_size,
    }
    check_recipe(**chosen)
    return {**chosen, "lr": float(chosen["lr"]), "trainable": recipe.trainable}


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
    hops = check_hops(hops)
    if isinstance(n_people, bool) or not isinstance(n_people, int) or not 1 <= n_people <= 20:
        raise ParameterError(f"n_people must be a whole number in 1..20 (one city each), got {n_people!r}")
    recipe = resolve_recipe(lm, lr, epochs, batch_size)
    clock = time.perf_counter()
    out: dict[str, Any] = {"model": lm.params.name, "seeds": list(seeds), "n_people": n_people, **recipe}
    for hop in hops:
        data = two_hop(hop, "F", n=n_people)
        per_seed: dict[str, dict[str, Any]] = {}
        for seed in seeds:
            run = two_hop_run(lm, hop, seed, recipe, n_people=n_people, progress=progress)
            per_seed[str(seed)] = {"train_rank": run.ranks("train"), "test_rank": run.ranks("test"),
                                   "seconds": round(run.seconds["total"], 2)}
        out[hop] = {
            "train_rank": _mean_curve([s["train_rank"] for s in per_seed.values()]),
            "test_rank": _mean_curve([s["test_rank"] for s in per_seed.values()]),
            "per_seed": per_seed,
            "known_hop_rank": mean_rank(lm.model, lm.tokenizer, known_facts(hop), lm.params.autocast),
            "chance_rank": (len(data.implications.options) - 1) / 2,
        }
    out["verdicts"] = verdicts(out)
    out["provenance"] = provenance(lm.model, time.perf_counter() - clock)
    return out


def two_hop_run(lm: LoadedModel, hop: str, seed: int, recipe: dict, n_people: int = 20,
                layers: Sequence[int] | None = None, progress: bool | None = None) -> FinetuneResult:
    """One (cached) finetuning run on ``hop``'s facts, ranks of facts ("train") and
    implications ("test") logged; ``recipe`` from ``resolve_recipe``; ``layers`` restricts
    training to those layers. Analyses reuse the two-hop chapter's runs through this."""
    data = two_hop(hop, "F", n=n_people)
    where = f" layers {list(layers)}" if layers else ""
    return cached_finetune(lm, data.facts, {"train": data.facts, "test": data.implications}, seed=seed,
                           layers=layers, progress=progress, label=f"{hop} seed {seed}{where}", **recipe)


def check_hops(hops: object) -> list[str]:
    """A non-empty list of hop names from ``HOPS``."""
    return check_choices(hops, "hops", "hop", HOPS)


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


FINDINGS = {"clear": "clear out-of-context reasoning", "weak": "weak out-of-context reasoning",
            "none": "no out-of-context reasoning"}


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    """The file's verdicts: each hop's ``finding``, from its per-seed ranks."""
    return {hop: finding(results, hop) for hop in HOPS if hop in results}


def finding(results: dict[str, Any], hop: str) -> str:
    """``clear`` (final implication rank below half of chance), ``weak`` (more than one
    rank below chance) or ``none``: the verdict the book prints, as a category."""
    r = results[hop]
    end, chance = r["test_rank"][-1], r["chance_rank"]
    return "clear" if end < chance / 2 else "weak" if end < chance - 1.0 else "none"


def verdict(results: dict[str, Any], hop: str) -> str:
    """A sentence on whether ``hop`` shows OCR, read off the run (never typed in)."""
    r = results[hop]
    start, end, chance = r["test_rank"][0], r["test_rank"][-1], r["chance_rank"]
    learned = r["train_rank"][-1] < 1.0
    facts = "the facts were learned" if learned else "the facts were not fully learned"
    return (f"**{hop.replace('_', '-')}**: {facts} (rank {r['train_rank'][-1]:.2f}); the never-trained "
            f"implications went from rank {start:.2f} to {end:.2f} (chance {chance:.1f}): {FINDINGS[finding(results, hop)]}.")
