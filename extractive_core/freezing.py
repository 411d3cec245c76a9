"""Layer freezing (the paper's experiment 3) and the band map: where a finetuned fact is
stored decides which hop of OCR works.

Frozen after training: apply only the unfrozen layers' part of a full run's delta. Frozen
during training ("pre"): train only the other layers. The early/late split is ``late_start``
in params/. The band map trains only a band of consecutive layers, the width of the late
block, at each start layer.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from .architecture import layer_of, n_layers
from .datasets import HOPS, two_hop
from .errors import ParameterError
from .finetune import Delta, applied
from .metrics import mean_rank
from .models import LoadedModel
from .numerics import provenance
from .two_hop_runs import check_hops, resolve_recipe, two_hop_run
from .params import check_seeds
from .stats import interval_text, summarise

ROWS = ("None", "Early", "Late", "All", "Early (pre)", "Late (pre)")
COLUMNS = ("fact", "implication")


def layer_split(lm: LoadedModel) -> tuple[list[int], list[int]]:
    """(early, late) layer indices from the params' ``late_start``."""
    total = n_layers(lm.model)
    start = lm.params.late_start
    if start is None or not 0 < start < total:
        raise ParameterError(f"params/{lm.params.name}.yaml needs late_start in 1..{total - 1} for layer freezing")
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
                       lr: float | None = None, progress: bool | None = None) -> dict[str, Any]:
    """The freezing table: per hop, row and column, the per-seed final ranks and their summary."""
    seeds, hops = check_seeds(seeds), check_hops(hops)
    recipe = resolve_recipe(lm, lr, None, None)
    early, late = layer_split(lm)
    clock = time.perf_counter()
    out: dict[str, Any] = {"model": lm.params.name, "seeds": list(seeds), "early": early, "late": late, **recipe.as_dict(),
                           "hops": {}}
    for hop in hops:
        per_row: dict[str, list[dict[str, float]]] = {r: [] for r in ROWS}
        for seed in seeds:
            full = two_hop_run(lm, hop, seed, recipe, progress=progress).delta
            for row, frozen in (("None", []), ("Early", early), ("Late", late), ("All", early + late)):
                per_row[row].append(final_ranks(lm, hop, without_layers(lm, full, frozen)))
            for row, trained in (("Early (pre)", late), ("Late (pre)", early)):
                run = two_hop_run(lm, hop, seed, recipe, layers=trained, progress=progress)
                per_row[row].append({"fact": run.ranks("train")[-1], "implication": run.ranks("test")[-1]})
        out["hops"][hop] = {row: {col: summarise([r[col] for r in rows]) for col in COLUMNS}
                            for row, rows in per_row.items()}
    out["verdicts"] = verdicts(out)
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
    each start; per lr, hop and start, the final fact and implication ranks over seeds."""
    seeds, hops = check_seeds(seeds), check_hops(hops)
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence) or not lrs:
        raise ParameterError(f"lrs must be a non-empty list of learning rates (None: the recipe's), got {lrs!r}")
    total = n_layers(lm.model)
    width = len(layer_split(lm)[1]) if width is None else width
    starts = band_starts(total, width, stride)
    clock = time.perf_counter()
    out: dict[str, Any] = {"model": lm.params.name, "seeds": list(seeds), "width": width, "starts": starts,
                           "n_layers": total, "chance": two_hop(hops[0], "F").implications.chance, "lrs": {}}
    for lr in lrs:
        recipe = resolve_recipe(lm, lr, None, None)
        per_lr: dict[str, Any] = {}
        for hop in hops:
            bands = []
            for start in starts:
                runs = [two_hop_run(lm, hop, s, recipe, layers=list(range(start, start + width)), progress=progress)
                        for s in seeds]
                bands.append({"start": start,
                              "fact": summarise([r.ranks("train")[-1] for r in runs]),
                              "implication": summarise([r.ranks("test")[-1] for r in runs]),
                              "implication_before": runs[0].ranks("test")[0]})
            per_lr[hop] = bands
        out["lrs"][f"{recipe.lr:g}"] = per_lr
    out["provenance"] = provenance(lm.model, time.perf_counter() - clock)
    return out


def freezing_table(results: dict[str, Any]):
    """The paper's table: rows x (hop, column), 'mean [min, max]'."""
    import pandas as pd

    data = {}
    for hop, rows in results["hops"].items():
        for col in COLUMNS:
            data[(hop.replace("_", "-"), col)] = {
                row: f"{v[col]['mean']:.2f} [{v[col]['min']:.2f}, {v[col]['max']:.2f}]" for row, v in rows.items()}
    return pd.DataFrame(data).loc[list(ROWS)]


CLAIMS = {"first_hop": "Early", "second_hop": "Late"}  # the block whose update each hop's OCR needs


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    """The file's verdicts: ``freezing_verdict`` per hop with a claim."""
    return {hop: freezing_verdict(results, hop) for hop in results["hops"] if hop in CLAIMS}


def freezing_verdict(results: dict[str, Any], hop: str) -> str:
    """``separated`` when every seed with the claimed block frozen after training has a worse
    implication rank than every seed of the None row and of the other block's row, else
    ``overlap``."""
    rows, frozen = results["hops"][hop], CLAIMS[hop]
    other = "Late" if frozen == "Early" else "Early"
    hit = rows[frozen]["implication"]
    return "separated" if hit["min"] > max(rows["None"]["implication"]["max"], rows[other]["implication"]["max"]) \
        else "overlap"


def freezing_findings(results: dict[str, Any]) -> list[str]:
    """The paper's two claims, checked on this run: freezing the early layers after
    training should hurt first-hop implications, freezing the late layers second-hop."""
    lines = []
    for hop, frozen in CLAIMS.items():
        if hop not in results["hops"]:
            continue
        rows = results["hops"][hop]
        base, hit = rows["None"]["implication"], rows[frozen]["implication"]
        other = rows["Late" if frozen == "Early" else "Early"]["implication"]
        separated = freezing_verdict(results, hop) == "separated"
        lines.append(
            f"**{hop.replace('_', '-')}**: implication rank {base['mean']:.2f} with the whole update; "
            f"{hit['mean']:.2f} with the {frozen.lower()} layers frozen after training, "
            f"{other['mean']:.2f} with the other block frozen. "
            + ("Every seed with the " + frozen.lower() + " layers frozen is worse than every seed of the other two rows: "
               "this hop's OCR needs the " + frozen.lower() + " layers' update, as the paper claims."
               if separated else
               "The seed ranges overlap: this run does not show that this hop's OCR needs the "
               + frozen.lower() + " layers' update."))
    return lines


def band_findings(results: dict[str, Any]) -> list[str]:
    """Per lr and hop: the band with the lowest and the highest final implication rank,
    with their intervals, and the rank before finetuning."""
    lines = []
    for lr, per_hop in results["lrs"].items():
        for hop, bands in per_hop.items():
            best = min(bands, key=lambda b: b["implication"]["mean"])
            worst = max(bands, key=lambda b: b["implication"]["mean"])

            def show(b: dict) -> str:
                return f"layers {b['start']}-{b['start'] + results['width'] - 1}: {interval_text(b['implication'])}"

            lines.append(f"**lr {lr}, {hop.replace('_', '-')}** (implication rank {bands[0]['implication_before']:.2f} "
                         f"before finetuning): best with {show(best)}; worst with {show(worst)}.")
    return lines
