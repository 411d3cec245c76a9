"""Layer freezing (the paper's experiment 3) and the band map: where a finetuned fact is
stored decides which hop of OCR works.

Frozen after training: apply only the unfrozen layers' part of a full run's delta. Frozen
during training ("pre"): train only the other layers. The early/late split is ``late_start``
in the params file. The band map trains only a band of consecutive layers, the width of the late
block, at each start layer; a band point whose fact was not learned on every seed is kept but
marked (``fact_learned``), since its implication rank says nothing about where to store it.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from . import claim_rules
from .architecture import layer_of, n_layers
from .datasets import HOPS, implication_chance, two_hop
from .errors import ParameterError
from .finetune import Delta, applied
from .metrics import mean_rank
from .models import LoadedModel
from .numerics import provenance
from .two_hop_runs import check_hops, resolve_recipe, two_hop_run
from .params import check_seeds
from .stats import interval_column, interval_text, summarise

ROWS = ("None", "Early", "Late", "All", "Early (pre)", "Late (pre)")
AFTER_ROWS = ROWS[:4]  # frozen after training: parts of one full run's delta
PRE_ROWS = ROWS[4:]  # frozen during training: a run of the other block alone each
COLUMNS = ("fact", "implication")


def layer_split(lm: LoadedModel) -> tuple[list[int], list[int]]:
    """(early, late) layer indices from the params' ``late_start``."""
    total = n_layers(lm.model)
    start = lm.params.late_start
    if start is None or not 0 < start < total:
        raise ParameterError(f"the params file {lm.params.name}.yaml needs late_start in 1..{total - 1} for layer freezing")
    return list(range(start)), list(range(start, total))


def without_layers(lm: LoadedModel, delta: Delta, frozen: Sequence[int]) -> Delta:
    """``delta`` with the entries of the ``frozen`` layers dropped."""
    dropped = set(frozen)
    return {n: d for n, d in delta.items() if layer_of(lm.model, n) not in dropped}


def final_ranks(lm: LoadedModel, hop: str, delta: Delta) -> dict[str, float]:
    """Fact and implication mean rank with ``delta`` applied."""
    data = two_hop(hop)
    with applied(lm.model, delta):
        return {"fact": mean_rank(lm.model, lm.tokenizer, data.facts, lm.params.autocast),
                "implication": mean_rank(lm.model, lm.tokenizer, data.implications, lm.params.autocast)}


def run_layer_freezing(lm: LoadedModel, seeds: Sequence[int] = (0, 1, 2), hops: Sequence[str] = HOPS,
                       lr: float | None = None, progress: bool | None = None, epochs: int | None = None,
                       pre: bool = True, logged: str = "every") -> dict[str, Any]:
    """The freezing table: per hop, row and column, the per-seed final ranks and their summary.
    ``lr`` and ``epochs`` (None: the recipe's) set the finetuning run, so freezing can run at a
    sweep cell (its seed-0 run is the sweep's, from the run cache); ``pre=False`` leaves out the
    "(pre)" rows, which each train a run of their own: the other four rows cost one run per seed.
    Only final ranks are read: the "(pre)" runs log the ends alone (``RunSpec.logged``), the full
    run as ``logged`` says (``every`` epoch where it is another chapter's run, from the cache)."""
    seeds, hops = check_seeds(seeds), check_hops(hops)
    if not isinstance(pre, bool):
        raise ParameterError(f"pre must be True or False, got {pre!r}")
    recipe = resolve_recipe(lm, lr, epochs, None)
    early, late = layer_split(lm)
    clock = time.perf_counter()
    out: dict[str, Any] = {"model": lm.params.name, "seeds": list(seeds), "early": early, "late": late, **recipe.as_dict(),
                           "chance": implication_chance(hops), "hops": {}}
    for hop in hops:
        per_row: dict[str, list[dict[str, float]]] = {r: [] for r in (ROWS if pre else AFTER_ROWS)}
        for seed in seeds:
            full = two_hop_run(lm, hop, seed, recipe, progress=progress, logged=logged).delta
            for row, frozen in (("None", []), ("Early", early), ("Late", late), ("All", early + late)):
                per_row[row].append(final_ranks(lm, hop, without_layers(lm, full, frozen)))
            for row, trained in (("Early (pre)", late), ("Late (pre)", early)) if pre else ():
                run = two_hop_run(lm, hop, seed, recipe, layers=trained, progress=progress, logged="ends")
                per_row[row].append({"fact": run.ranks("train")[-1], "implication": run.ranks("test")[-1]})
        out["hops"][hop] = {row: {col: summarise([r[col] for r in rows]) for col in COLUMNS}
                            for row, rows in per_row.items()}
    out["verdicts"] = verdicts(out)
    out["claims"] = claims(out)
    out["provenance"] = provenance(lm.model, time.perf_counter() - clock)
    return out


def band_starts(total: int, width: int, stride: int) -> list[int]:
    """Start layers every ``stride`` layers, always ending with the last band."""
    if not (isinstance(width, int) and 1 <= width <= total and isinstance(stride, int) and stride >= 1):
        raise ParameterError(f"band width must be in 1..{total} and stride >= 1, got width {width!r}, stride {stride!r}")
    starts = list(range(0, total - width + 1, stride))
    return starts if starts[-1] == total - width else starts + [total - width]


def run_band_map(lm: LoadedModel, lrs: Sequence[float], seeds: Sequence[int] = (0, 1),
                 hops: Sequence[str] = HOPS, stride: int = 1, width: int | None = None,
                 progress: bool | None = None) -> dict[str, Any]:
    """Train only layers ``start .. start + width - 1`` (default width: the late block's) for
    each start; per lr, hop and start, the final fact and implication ranks over seeds, and
    the point's precondition ``fact_learned`` (``facts_learned``: every seed learned the facts;
    where not, the band did not store the fact and its implication rank says nothing). Each run
    logs its ranks before and after training only (``RunSpec.logged``)."""
    seeds, hops = check_seeds(seeds), check_hops(hops)
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence) or not lrs:
        raise ParameterError(f"lrs must be a non-empty list of learning rates (None: the recipe's), got {lrs!r}")
    total = n_layers(lm.model)
    width = len(layer_split(lm)[1]) if width is None else width
    starts = band_starts(total, width, stride)
    clock = time.perf_counter()
    out: dict[str, Any] = {"model": lm.params.name, "seeds": list(seeds), "width": width, "starts": starts,
                           "n_layers": total, "chance": implication_chance(hops), "lrs": {}}
    for lr in lrs:
        recipe = resolve_recipe(lm, lr, None, None)
        per_lr: dict[str, Any] = {}
        for hop in hops:
            bands = []
            for start in starts:
                runs = [two_hop_run(lm, hop, s, recipe, layers=list(range(start, start + width)), progress=progress,
                                    logged="ends") for s in seeds]
                facts = [r.ranks("train")[-1] for r in runs]
                bands.append({"start": start,
                              "fact": summarise(facts), "fact_learned": claim_rules.facts_learned(facts),
                              "implication": summarise([r.ranks("test")[-1] for r in runs]),
                              "implication_before": runs[0].ranks("test")[0]})
            per_lr[hop] = bands
        out["lrs"][f"{recipe.lr:g}"] = per_lr
    out["provenance"] = provenance(lm.model, time.perf_counter() - clock)
    return out


def freezing_table(results: dict[str, Any]):
    """The paper's table: rows x (hop, column), 'mean [interval]' (``interval_text``: the
    95% t-interval of the mean with 3 or more seeds, as the findings and the claims print
    it; with fewer, the seeds' min-max, and its column's name says so); the rows the run has
    (without the "(pre)" rows for ``run_layer_freezing(pre=False)``)."""
    import pandas as pd

    data = {}
    for hop, rows in results["hops"].items():
        for col in COLUMNS:
            name = interval_column(col, [v[col] for v in rows.values()])
            data[(hop.replace("_", "-"), name)] = {row: interval_text(v[col], label=False) for row, v in rows.items()}
    present = next(iter(results["hops"].values()))
    return pd.DataFrame(data).loc[[row for row in ROWS if row in present]]


CLAIMS = {"first_hop": "Early", "second_hop": "Late"}  # the block whose update each hop's OCR needs


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    """The file's verdicts: the claim rule's verdict per hop with a claim."""
    return {hop: c["verdict"] for hop, c in claims(results).items()}


def claims(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per hop with a claim, on the rows' per-seed ranks: ``claim_rules.freezing`` (frozen
    after training) under the hop's name, and where the run has the "(pre)" rows,
    ``claim_rules.freezing_pre`` (frozen during training) under ``<hop>_pre``. Results saved
    before they stored the implications' ``chance`` (the OCR precondition's) are refused."""
    if "chance" not in results:
        raise ParameterError("this layer-freezing results file has no 'chance' (saved before the freezing claims' OCR "
                             "precondition read it): rerun the chapter (run_layer_freezing) to rebuild it")
    chance = results["chance"]
    out = {}
    for hop, needed in CLAIMS.items():
        if hop not in results["hops"]:
            continue
        rows = results["hops"][hop]
        impl = {row: v["implication"]["values"] for row, v in rows.items()}
        out[hop] = claim_rules.freezing({row: impl[row] for row in AFTER_ROWS}, needed, chance)
        if all(row in rows for row in PRE_ROWS):
            out[f"{hop}_pre"] = claim_rules.freezing_pre(impl, {row: rows[row]["fact"]["values"] for row in PRE_ROWS},
                                                         needed, chance)
    return out


def stored_claims(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The claims as the results file stores them; for a file saved before they stored
    ``reversed`` (or any claims), recomputed from its rows by the same rules (``claims``),
    where the file has what those rules read (else ``claims`` names the rerun it needs)."""
    stored = results.get("claims") or {}
    return stored if stored and all("reversed" in c for c in stored.values()) else claims(results)


VERDICT_TEXT = {
    "agrees": "this hop's OCR needs the {block} layers' update, as the paper claims: dropping it makes the implication "
              "rank worse than both the whole update and dropping the other block (paired intervals over seeds).",
    "partly": "dropping the {block} layers' update makes the implication rank worse than one of the two other rows, "
              "not both: only part of the paper's claim shows.",
    "does not": "dropping the {block} layers' update does not make the implication rank worse than either other "
                "row: this run does not show that this hop's OCR needs the {block} layers' update.",
    "reversed": "dropping the {other} layers' update makes the implication rank worse than dropping the {block} "
                "layers' (paired interval over seeds): on this hop the paper's pattern is reversed, so this run does "
                "not show that this hop's OCR needs the {block} layers' update.",
    "not tested": "the whole update shows no OCR on this hop by the OCR rule, so freezing had none to remove: not a "
                  "test of the claim.",
}


PRE_VERDICT_TEXT = {
    "agrees": "freezing the {block} layers during training makes the implication rank worse than both training "
              "everything and freezing the other block (paired intervals over seeds): this hop's OCR needs the "
              "{block} layers to learn the fact.",
    "partly": "freezing the {block} layers during training makes the implication rank worse than one of the two "
              "other rows, not both: only part of the paper's claim shows.",
    "does not": "freezing the {block} layers during training does not make the implication rank worse than either "
                "other row: this run does not show that this hop's OCR needs the {block} layers to learn the fact.",
    "reversed": "freezing the {other} layers during training makes the implication rank worse than freezing the "
                "{block} layers (paired interval over seeds): on this hop the paper's pattern is reversed, so this "
                "run does not show that this hop's OCR needs the {block} layers to learn the fact.",
    "not tested": "a precondition failed (training the {block} block alone shows no OCR, or a frozen-during-training "
                  "run did not learn its facts): not a test of the claim.",
}


def freezing_findings(results: dict[str, Any]) -> list[str]:
    """The paper's two claims, checked on this run: freezing the early layers should hurt
    first-hop implications, the late layers second-hop; after training (``claim_rules.freezing``)
    and, where the run has the "(pre)" rows, during training (``claim_rules.freezing_pre``):
    the claims as the results file stores them."""
    lines = []
    for key, c in stored_claims(results).items():
        hop, pre = key.removesuffix("_pre"), key.endswith("_pre")
        needed = CLAIMS[hop]
        other = "Late" if needed == "Early" else "Early"
        texts = PRE_VERDICT_TEXT if pre else VERDICT_TEXT
        when = " (frozen during training)" if pre else " (frozen after training)"
        reversed_ = c["verdict"] == "does not" and c["reversed"]
        text = texts["reversed" if reversed_ else c["verdict"]].format(block=needed.lower(), other=other.lower())
        lines.append(f"**{hop.replace('_', '-')}{when}**: {c['measurement']}. {text[0].upper()}{text[1:]}")
    return lines


def band_findings(results: dict[str, Any]) -> list[str]:
    """Per lr and hop: among the band points whose facts were learned (``claim_rules.band_fact_learned``),
    the band with the lowest and the highest final implication rank, with their intervals, and
    the rank before finetuning; then each point whose fact was not learned, as such (its
    implication rank is not evidence on where the fact should be stored)."""
    width = results["width"]

    def layers(b: dict) -> str:
        return f"layer {b['start']}" if width == 1 else f"layers {b['start']}-{b['start'] + width - 1}"

    def show(b: dict) -> str:
        return f"{layers(b)}: {interval_text(b['implication'])}"

    def unlearned(b: dict) -> str:
        fact = b["fact"]
        worst = f", worst seed {fact['max']:.2f}" if fact["n"] > 1 else ""
        return f"{layers(b)}: fact not learned (rank {fact['mean']:.2f}{worst}): its implication rank says nothing"

    lines = []
    for lr, per_hop in results["lrs"].items():
        for hop, bands in per_hop.items():
            learned = [b for b in bands if claim_rules.band_fact_learned(b)]
            head = (f"**lr {lr}, {hop.replace('_', '-')}** (implication rank {bands[0]['implication_before']:.2f} "
                    f"before finetuning): ")
            if not learned:
                text = "no band learned its facts, so no band's implication rank can be compared."
            elif len(learned) == 1:
                text = f"only one band learned its facts, {show(learned[0])}; nothing to compare it with."
            else:
                best = min(learned, key=lambda b: b["implication"]["mean"])
                worst = max(learned, key=lambda b: b["implication"]["mean"])
                among = "" if len(learned) == len(bands) else f" (of the {len(learned)} bands that learned their facts)"
                text = f"best{among} with {show(best)}; worst with {show(worst)}."
            skipped = "; ".join(unlearned(b) for b in bands if not claim_rules.band_fact_learned(b))
            lines.append(head + text + (f" {skipped[0].upper()}{skipped[1:]}." if skipped else ""))
    return lines
