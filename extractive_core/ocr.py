"""Experiment 1, two-hop out-of-context reasoning: finetune on facts, track the rank of the
facts (train) and of their never-seen implications (test) after every epoch. The runs
themselves (``two_hop_runs``) and the verdict rules (``two_hop_verdicts``) live apart, as
the other chapters share them; their names are importable from here too."""

from __future__ import annotations

import time
from statistics import mean
from typing import Any, Sequence

import pandas as pd

from .datasets import HOPS, known_facts, two_hop
from .errors import ParameterError
from .metrics import mean_rank
from .models import LoadedModel
from .numerics import provenance
from .params import check_seeds
from .two_hop_runs import check_hops, resolve_recipe, two_hop_run
from .two_hop_verdicts import FINDINGS, claims, finding, verdict, verdicts

__all__ = ["run_two_hop_ocr", "summary_table", "check_hops", "resolve_recipe", "two_hop_run",
           "FINDINGS", "claims", "finding", "verdict", "verdicts"]


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
    out: dict[str, Any] = {"model": lm.params.name, "seeds": list(seeds), "n_people": n_people, **recipe.as_dict()}
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
            "chance_rank": data.implications.chance,
        }
    out["verdicts"] = verdicts(out)
    out["claims"] = claims(out)
    out["provenance"] = provenance(lm.model, time.perf_counter() - clock)
    return out


def _mean_curve(curves: list[list[float]]) -> list[float]:
    return [mean(values) for values in zip(*curves)]


def summary_table(results: dict[str, Any]) -> pd.DataFrame:
    """One row per hop: known-hop rank, facts and implications at epoch 0 and at the end
    (mean ranks over seeds, printed to 2 decimals as the findings print them)."""
    rows = []
    for hop in HOPS:
        if hop not in results:
            continue
        r = results[hop]
        rows.append({
            "hop": hop,
            **{name: f"{value:.2f}" for name, value in (
                ("known hop rank (pretrained)", r["known_hop_rank"]),
                ("facts, epoch 0", r["train_rank"][0]), ("facts, final", r["train_rank"][-1]),
                ("implications, epoch 0", r["test_rank"][0]), ("implications, final", r["test_rank"][-1]))},
            "implications, final per seed": ", ".join(f"{s['test_rank'][-1]:.2f}" for s in r["per_seed"].values()),
        })
    return pd.DataFrame(rows).set_index("hop")
