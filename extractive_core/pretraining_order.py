"""Pretraining order in the toy world (from scratch): does the order of facts and
implications in a *pretraining corpus* decide whether a model can later generalise from
finetuned facts? Pretrain toy models in each corpus mode and seed, then run two-hop OCR on
held-out people. Not to be confused with ``data_ordering``, the paper's experiment 4, which
orders *continued training* of an already pretrained model on the daxwug relations."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from statistics import mean
from typing import Any, Sequence

from . import claim_rules
from .datasets import HOPS
from .metrics import mean_rank
from .models import LoadedModel
from .numerics import provenance
from .ocr import run_two_hop_ocr
from .params import check_list, check_seeds, load_params
from .pretrain import check_shipped_all, pretrain_missing, pretrained, regenerate_shipped, toy_config
from .toyworld import MODES, ToyConfig, ToyCorpus, fact_only_implications


DEFAULT_SEEDS = (0, 1, 2)  # pretraining seeds per corpus mode


def grid_configs(base: str = "toyworld", modes: Sequence[str] = MODES,
                 seeds: Sequence[int] = DEFAULT_SEEDS) -> list[ToyConfig]:
    """The ``ToyConfig`` of every (mode, seed) toy model of ``base``."""
    params = load_params(base)
    return [toy_config(params, mode=mode, seed=seed)
            for mode in check_list(modes, "modes", str, str(list(MODES))) for seed in check_seeds(seeds)]


SHIPPED_BESIDE_GRID = ("toyworld_deep",)  # other toy params files whose checkpoints ship too (layer freezing)


def shipped_configs(base: str = "toyworld") -> list[ToyConfig]:
    """Every toy model that ships: the corpus-order grid of ``base`` and ``SHIPPED_BESIDE_GRID``."""
    return grid_configs(base) + [toy_config(load_params(name)) for name in SHIPPED_BESIDE_GRID]


def pretrain_corpus_grid(base: str = "toyworld", modes: Sequence[str] = MODES,
                         seeds: Sequence[int] = DEFAULT_SEEDS) -> None:
    """Make every (mode, seed) toy model of ``base`` available in the cache: the shipped
    checkpoint where there is one (``pretrain.SHIPPED``), else pretrained, two at a time (one
    thread each). The main job does this first."""
    pretrain_missing(grid_configs(base, modes, seeds))


def run_pretraining_order(
    base: str = "toyworld",
    modes: Sequence[str] = MODES,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    lr: float | None = None,
    epochs: int | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """For each corpus mode and pretraining seed: pretrain (or reuse the cached model),
    measure in-pretraining OCR on fact-only people, and finetune on the 20 held-out
    people's first-hop and second-hop facts. Returns per mode the curves and final ranks."""
    params = load_params(base)
    seeds = check_seeds(seeds)
    modes = check_list(modes, "modes", str, str(list(MODES)))
    clock = time.perf_counter()
    out: dict[str, Any] = {"base": base, "seeds": list(seeds), "modes": {}}
    pretrain_corpus_grid(base, modes, seeds)
    for mode in modes:
        per_seed = []
        for seed in seeds:
            config = toy_config(params, mode=mode, seed=seed)
            model, tokenizer, log = pretrained(config, progress=progress)
            lm = LoadedModel(model, tokenizer, replace(params, name=f"toyworld_{mode}"))
            ocr = run_two_hop_ocr(lm, seeds=(0,), lr=lr, epochs=epochs, progress=False)
            fact_only = fact_only_implications(ToyCorpus.build(config))
            per_seed.append({
                "seed": seed,
                "pretrain_seconds": log["seconds"],
                "pretrain_loss": log["final_loss"],
                "fact_only_impl_rank": mean_rank(model, tokenizer, fact_only) if fact_only.examples else None,
                "fact_only_options": len(fact_only.options),
                **{hop: {"train_rank": ocr[hop]["per_seed"]["0"]["train_rank"],
                         "test_rank": ocr[hop]["per_seed"]["0"]["test_rank"],
                         "known_hop_rank": ocr[hop]["known_hop_rank"]} for hop in HOPS},
            })
            out.update({k: ocr[k] for k in ("lr", "epochs", "batch_size")})
        out["modes"][mode] = {"per_seed": per_seed, **_summary(per_seed)}
    out["verdicts"] = comparisons(out)
    out["claims"] = claims(out)
    out["provenance"] = provenance(None, time.perf_counter() - clock)
    return out


def _summary(per_seed: list[dict]) -> dict[str, Any]:
    summary = {}
    for hop in HOPS:
        finals = [s[hop]["test_rank"][-1] for s in per_seed]
        summary[hop] = {"final_test_rank": finals, "mean": mean(finals), "min": min(finals), "max": max(finals)}
    return summary


def comparisons(results: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Per hop, ``facts_first`` against each other mode: ``better`` (every seed's final
    implication rank below every seed of the other), ``worse``, or ``overlap``."""
    modes = results["modes"]
    out: dict[str, dict[str, str]] = {}
    if "facts_first" not in modes:
        return out
    for hop in HOPS:
        ff = modes["facts_first"][hop]
        out[hop] = {}
        for other, d in modes.items():
            if other != "facts_first":
                o = d[hop]
                out[hop][other] = "better" if ff["max"] < o["min"] else "worse" if ff["min"] > o["max"] else "overlap"
    return out


def claims(results: dict[str, Any]) -> dict[str, Any]:
    """``claim_rules.from_scratch`` on each mode's per-seed final implication ranks (pretraining
    seeds shared across modes); none without the ``facts_first`` mode."""
    modes = results["modes"]
    if "facts_first" not in modes:
        return {}
    return {"from_scratch": claim_rules.from_scratch({hop: {m: d[hop]["final_test_rank"] for m, d in modes.items()}
                                                      for hop in HOPS})}


COMPARISON_TEXT = {"better": "every `facts_first` seed is better than every seed of `{}`",
                   "worse": "every `facts_first` seed is worse than every seed of `{}`",
                   "overlap": "`facts_first` is not separated (the seed ranges overlap) from `{}`"}


def pretraining_order_verdict(results: dict[str, Any]) -> str:
    """Markdown sentences comparing the modes, read off the runs (with seed spread)."""
    modes = results["modes"]
    lines = []
    for hop in HOPS:
        parts = [f"`{m}` {d[hop]['mean']:.2f} [{d[hop]['min']:.2f}, {d[hop]['max']:.2f}]" for m, d in modes.items()]
        lines.append(f"**{hop.replace('_', '-')}**, final implication rank, mean [min, max] over "
                     f"{len(results['seeds'])} seeds: " + "; ".join(parts) + ".")
        for other, verdict in comparisons(results).get(hop, {}).items():
            lines.append("- " + COMPARISON_TEXT[verdict].format(other))
    return "\n\n".join(lines)


USAGE = """python -m extractive_core.pretraining_order [TOY_PARAMS_NAME] [--check | --regenerate]
  (no flag)     make the corpus-order grid's toy models available: shipped checkpoints, else pretrain
  --check       re-pretrain two of them (facts_first and no_impl, seed 0), side by side, and compare each
                with its shipped checkpoint
  --regenerate  pretrain the whole grid (and SHIPPED_BESIDE_GRID) afresh and make it the shipped set
                (extractive_core/toy_checkpoints)"""


def main(argv: Sequence[str]) -> int:
    """The command line (see ``USAGE``); exit status 0, 1 (a check failed) or 2 (bad input)."""
    from .errors import ExtractiveError

    flags = [a for a in argv if a.startswith("-")]
    names = [a for a in argv if not a.startswith("-")]
    if len(names) > 1 or len(flags) > 1 or not set(flags) <= {"--check", "--regenerate"}:
        print(USAGE, file=sys.stderr)
        return 2
    base = names[0] if names else "toyworld"
    started = time.perf_counter()
    try:
        if flags == ["--check"]:
            report, problems = check_shipped_all(grid_configs(base, ["facts_first", "no_impl"], [0]))
            print("\n".join(report + [f"PROBLEM: {p}" for p in problems]))
            print(f"shipped-checkpoint check {'failed' if problems else 'passed'} in {time.perf_counter() - started:.0f} s")
            return 1 if problems else 0
        if flags == ["--regenerate"]:
            regenerate_shipped(shipped_configs(base))
            print(f"toy models of the corpus-order grid and {', '.join(SHIPPED_BESIDE_GRID)} pretrained and shipped in "
                  f"{time.perf_counter() - started:.0f} s")
            return 0
        pretrain_corpus_grid(base)
    except ExtractiveError as err:
        print(f"python -m extractive_core.pretraining_order: {err}", file=sys.stderr)
        return 2
    print(f"toy models of the corpus-order grid found (cached or shipped) or pretrained in "
          f"{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
