"""The bf16 report: two-hop OCR run in two dtypes with the same seeds, compared by a rule
fixed before looking (the reproducibility chapter's precision table). A report, kept out of
``precision``, whose code is part of the run cache's key."""

from __future__ import annotations

from statistics import mean
from typing import Any, Mapping

import pandas as pd

from .stats import kept


def compare_precisions(results: Mapping[str, dict[str, Any]], reference: str = "float32",
                       candidate: str = "bfloat16") -> dict[str, Any]:
    """Compare two-hop OCR results run in two dtypes with the same seeds.

    Adopt ``candidate`` when its runs are faster and, for every hop, its mean final
    implication rank lies within the range of ``reference``'s seeds (the rule is fixed
    before looking). Per hop: finals per seed, paired differences (same seed), seconds.
    """
    ref, cand = results[reference], results[candidate]
    hops = [h for h in ("first_hop", "second_hop") if h in ref and h in cand]
    table: dict[str, Any] = {}
    for hop in hops:
        seeds = sorted(set(ref[hop]["per_seed"]) & set(cand[hop]["per_seed"]), key=int)
        finals = {d: [results[d][hop]["per_seed"][s]["test_rank"][-1] for s in seeds] for d in (reference, candidate)}
        facts = {d: [results[d][hop]["per_seed"][s]["train_rank"][-1] for s in seeds] for d in (reference, candidate)}
        seconds = {d: mean(results[d][hop]["per_seed"][s]["seconds"] for s in seeds) for d in (reference, candidate)}
        within = min(finals[reference]) <= mean(finals[candidate]) <= max(finals[reference])
        table[hop] = {"seeds": seeds, "finals": finals, "fact_finals": facts, "paired_difference": [c - r for r, c in
                      zip(finals[reference], finals[candidate])], "run_seconds": seconds, "within_spread": within}
    faster = all(t["run_seconds"][candidate] < t["run_seconds"][reference] for t in table.values())
    adopt = faster and all(t["within_spread"] for t in table.values())
    return {"reference": reference, "candidate": candidate, "hops": table, "faster": faster,
            "adopt": "yes" if adopt else "no"}


def precision_table(comparison: dict[str, Any]) -> pd.DataFrame:
    """One row per hop and dtype: final implication rank per seed, mean and range, the
    final fact rank, seconds per run (means of the values a results file keeps: ``stats.kept``)."""
    rows = []
    for hop, t in comparison["hops"].items():
        for dtype, finals in t["finals"].items():
            rows.append({"hop": hop, "dtype": dtype,
                         "final implication rank per seed": ", ".join(f"{v:.2f}" for v in finals),
                         "mean": float(kept(finals).mean()), "min-max": f"{min(finals):.2f}-{max(finals):.2f}",
                         "final fact rank (mean)": float(kept(t["fact_finals"][dtype]).mean()),
                         "seconds per run": t["run_seconds"][dtype]})
    return pd.DataFrame(rows).set_index(["hop", "dtype"])
