"""The extractive-scores chapter: scores of the two-hop OCR runs' deltas (reused through the
run cache) for several seeds, their mean maps over display tokens x layers, how stable the
per-layer totals are across seeds, and the exact check on one seed."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
from transformers import PreTrainedModel

from .architecture import n_layers
from .components import PARTS, component_names, parse
from .datasets import HOPS, two_hop
from .errors import ParameterError
from .exact import exact_check
from .extractive import KINDS, extractive_scores
from .models import LoadedModel
from . import claim_rules
from .numerics import provenance
from .two_hop_runs import check_hops, resolve_recipe, two_hop_run
from .params import check_seeds
from .stats import mean_pairwise_spearman


def run_extractive_scores(
    lm: LoadedModel,
    seeds: Sequence[int] = (0, 1, 2),
    hops: Sequence[str] = HOPS,
    n_counterfactuals: int = 10,
    exact_seed: int | None = 0,
    exact_counterfactuals: int = 1,
    exact_hops: Sequence[str] | None = None,
    exact_layer_stride: int = 1,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Per hop: the three scores for MLPs (``mlp``) and attention (``heads``, a layer's heads
    summed) per display token x layer (mean over seeds), per-layer totals per seed and their
    rank stability, and the linear-vs-exact check on ``exact_seed`` (None skips it) for
    ``exact_hops`` (None: every hop), over the components of every ``exact_layer_stride``-th
    layer from layer 0 (1: all)."""
    seeds, hops = check_seeds(seeds), check_hops(hops)
    checked = exact_components(lm.model, exact_layer_stride)
    exact_hops = hops if exact_hops is None else check_hops(exact_hops)
    if not set(exact_hops) <= set(hops):
        raise ParameterError(f"exact_hops {exact_hops} must be among the hops scored, {hops}")
    if exact_seed is not None and exact_seed not in seeds:
        raise ParameterError(f"exact_seed {exact_seed!r} is not one of the seeds {seeds}; pick one of them, or None to skip")
    recipe = resolve_recipe(lm, None, None, None)
    clock = time.perf_counter()
    out: dict[str, Any] = {"model": lm.params.name, "seeds": list(seeds), "n_counterfactuals": n_counterfactuals,
                           "exact_seed": exact_seed, "exact_counterfactuals": exact_counterfactuals,
                           "exact_hops": list(exact_hops) if exact_seed is not None else [],
                           "exact_layer_stride": exact_layer_stride, **recipe.as_dict(),
                           "hops": {}}
    for hop in hops:
        split = two_hop(hop).implications
        maps: dict[str, dict[str, list]] = {k: {c: [] for c in PARTS} for k in KINDS}
        totals: dict[str, dict[str, list]] = {k: {c: [] for c in PARTS} for k in KINDS}
        entry: dict[str, Any] = {"chance": split.chance}
        runs: dict[str, list[float]] = {"before": [], "final": [], "facts_final": []}
        for seed in seeds:
            run = two_hop_run(lm, hop, seed, recipe, progress=progress)
            implications = run.ranks("test")
            runs["before"].append(implications[0])
            runs["final"].append(implications[-1])
            runs["facts_final"].append(run.ranks("train")[-1])
            scores = extractive_scores(lm.model, lm.tokenizer, split, run.delta, n_counterfactuals=n_counterfactuals)
            shown = scores.display
            for kind in KINDS:
                for c, grid in shown[kind].by_layer().items():
                    maps[kind][c].append(grid.double().cpu().numpy())
                for c, total in scores.totals(kind).by_layer().items():
                    totals[kind][c].append(total.double().cpu().numpy())
            entry["display_tokens"] = scores.display_tokens
            if seed == exact_seed and hop in exact_hops:
                check = exact_check(lm.model, lm.tokenizer, split, run.delta, scores=scores, components=checked,
                                    n_counterfactuals=exact_counterfactuals, progress=progress)
                entry["exact"] = {"summary": check.summary(), "names": check.names,
                                  "linear": {k: v.tolist() for k, v in check.linear.items()},
                                  "exact": {k: v.tolist() for k, v in check.exact.items()}}
        entry["runs_per_seed"] = runs  # the scored runs' ranks: the storage rule's preconditions
        entry["scores"] = {
            kind: {
                **{c: np.mean(maps[kind][c], 0).tolist() for c in PARTS},
                "layer_totals": {c: np.mean(totals[kind][c], 0).tolist() for c in PARTS},
                "layer_totals_per_seed": {c: [t.tolist() for t in totals[kind][c]] for c in PARTS},
                "seed_rank_correlation": {c: mean_pairwise_spearman(totals[kind][c]) for c in PARTS},
            }
            for kind in KINDS
        }
        out["hops"][hop] = entry
    out["late_start"] = lm.params.late_start
    out["claims"] = claims(out)
    out["provenance"] = provenance(lm.model, time.perf_counter() - clock)
    return out


def claims(results: dict[str, Any]) -> dict[str, Any]:
    """``claim_rules.storage`` on both hops' per-seed informative MLP layer totals, with the
    scored runs' preconditions (``storage_preconditions``); none without both hops or a
    ``late_start``."""
    late, hops = results.get("late_start"), results["hops"]
    if late is None or not {"first_hop", "second_hop"} <= set(hops):
        return {}
    first, second = (hops[h]["scores"]["informative"]["layer_totals_per_seed"]["mlp"] for h in ("first_hop", "second_hop"))
    return {"storage": claim_rules.storage(first, second, late, storage_preconditions(results))}


def storage_preconditions(results: dict[str, Any]) -> dict[str, bool]:
    """Per hop, what its scores need (``claim_rules.run_preconditions``): the scored runs
    learned their facts and show OCR. A file saved before the runs' ranks were stored fails
    the one precondition that says so."""
    hops = {h: results["hops"][h] for h in ("first_hop", "second_hop")}
    if any("runs_per_seed" not in entry for entry in hops.values()):
        return {"scored runs' ranks stored (rerun the chapter)": False}
    return {name: ok for hop, entry in hops.items()
            for name, ok in claim_rules.run_preconditions(f"scored {hop.replace('_', '-')} run", entry["runs_per_seed"],
                                                          entry["chance"]).items()}


def exact_table(results: dict[str, Any]):
    """One row per hop x score x group: Pearson r and relative error of linear vs exact."""
    import pandas as pd

    rows = []
    for hop, entry in results["hops"].items():
        for kind, groups in entry.get("exact", {}).get("summary", {}).items():
            for group, s in groups.items():
                rows.append({"hop": hop, "score": kind, "components": group, "n": s["n"],
                             "pearson r": s["r"], "relative error": s["relative_error"]})
    return pd.DataFrame(rows).set_index(["hop", "score", "components"]) if rows else pd.DataFrame()


def stability_table(results: dict[str, Any]):
    """Mean pairwise Spearman correlation of the per-layer totals across seeds."""
    import pandas as pd

    rows = [{"hop": hop, "score": kind, "MLP": s["seed_rank_correlation"]["mlp"],
             "attention": s["seed_rank_correlation"]["heads"]}
            for hop, entry in results["hops"].items() for kind, s in entry["scores"].items()]
    return pd.DataFrame(rows).set_index(["hop", "score"])


def describe(results: dict[str, Any]) -> str:
    """Markdown read off the maps: where each score peaks (layer and display token) and, per
    seed, what share of the positive informative MLP score lies in the late block
    (``claim_rules.late_share``, the claims table's number), and whether the scored runs show
    OCR (the storage rule's precondition)."""
    lines = []
    late = results.get("late_start")
    for hop, entry in results["hops"].items():
        tokens = entry["display_tokens"]
        parts = []
        for kind in KINDS:
            grid = np.array(entry["scores"][kind]["mlp"]) + np.array(entry["scores"][kind]["heads"])
            t, layer = np.unravel_index(np.argmax(grid), grid.shape)
            parts.append(f"{kind} peaks at layer {layer}, token {tokens[t].strip()!r}")
        text = f"**{hop.replace('_', '-')}**: " + "; ".join(parts) + "."
        if late is not None:
            shares = [claim_rules.late_share(t, late) for t in entry["scores"]["informative"]["layer_totals_per_seed"]["mlp"]]
            n = len(entry["scores"]["informative"]["layer_totals"]["mlp"])
            block = f"layer {late}" if late == n - 1 else f"layers {late}-{n - 1}"
            text += (f" The late block ({block}, {n - late} of {n} layers) holds "
                     f"{claim_rules.fmt(shares)} of the positive informative MLP score (mean over seeds "
                     f"[95% t-interval]; uniform {(n - late) / n:.2f}).")
        if "runs_per_seed" in entry:
            runs = entry["runs_per_seed"]
            ocr = claim_rules.shows_ocr(runs["before"], runs["final"], entry["chance"])
            text += (f" Its scored runs: implication rank {claim_rules.fmt(runs['before'])} -> "
                     f"{claim_rules.fmt(runs['final'])} (chance {entry['chance']:g}), "
                     f"{'OCR' if ocr else 'no OCR'} by the OCR rule; final fact rank {claim_rules.fmt(runs['facts_final'])}.")
        lines.append(text)
    return "\n\n".join(lines)


def exact_components(model: PreTrainedModel, stride: int) -> list[str]:
    """The components (MLP and heads) of layers 0, ``stride``, 2 ``stride``, ...: the exact
    check's sample, spread over the depth (its cost grows with the components checked)."""
    total = n_layers(model)
    if isinstance(stride, bool) or not isinstance(stride, int) or not 1 <= stride <= total:
        raise ParameterError(f"exact_layer_stride must be a whole number in 1..{total} (1: every layer), got {stride!r}")
    return [n for n in component_names(model) if parse(model, n)[0] % stride == 0]


def linearisation_verdict(r: float, relative_error: float) -> str:
    """``holds`` (r >= 0.9 and relative error <= 0.3), ``rough`` (r >= 0.5) or ``breaks``."""
    if r == r and r >= 0.9 and relative_error <= 0.3:
        return "holds"
    return "rough" if r == r and r >= 0.5 else "breaks"


def exact_findings(results: dict[str, Any]) -> str:
    """Markdown: per hop and score, whether the linearisation holds over all components,
    by the rule of ``linearisation_verdict``, with its numbers."""
    lines = []
    for hop, entry in results["hops"].items():
        summary = entry.get("exact", {}).get("summary")
        if not summary:
            continue
        parts = []
        for kind, groups in summary.items():
            s = groups["all"]
            parts.append(f"{kind.replace('_', ' ')} **{linearisation_verdict(s['r'], s['relative_error'])}** "
                         f"(r {s['r']:.2f}, relative error {s['relative_error']:.2f})")
        stride = results.get("exact_layer_stride", 1)
        sample = "" if stride == 1 else f" (of layers 0, {stride}, {2 * stride}, ...)"
        lines.append(f"**{hop.replace('_', '-')}**, seed {results['exact_seed']}, {len(entry['exact']['names'])} "
                     f"components{sample}: " + "; ".join(parts) + ".")
    return "\n\n".join(lines)
