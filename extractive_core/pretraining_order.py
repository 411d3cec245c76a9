"""Pretraining order in the toy world (from scratch): does the order of facts and
implications in a *pretraining corpus* decide whether a model can later generalise from
finetuned facts? Pretrain toy models in each corpus mode and seed, then run two-hop OCR on
held-out people. Not to be confused with ``data_ordering``, the paper's experiment 4, which
orders *continued training* of an already pretrained model on the daxwug relations."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import Any, Sequence

from . import claim_rules
from .datasets import HOPS
from .metrics import mean_rank
from .models import LoadedModel
from .numerics import provenance
from .ocr import run_two_hop_ocr
from .params import check_list, check_seeds, load_params
from .pretrain import check_shipped_all, pretrain_missing, pretrained, regenerate_shipped, toy_config
from .stats import compared, interval_label, interval_text, summarise
from .toyworld import MODES, ToyConfig, ToyCorpus, fact_only_implications


# Pretraining seeds per corpus mode: 5. The claim's rule (``claim_rules.from_scratch``) makes 4
# paired comparisons at the Bonferroni level 98.75%; over 3 seeds its interval's half-width is
# 5.1 standard deviations of the seeds' differences (t 8.86 on 2 degrees of freedom, over
# sqrt(3)), over 5 seeds 1.9 (t 4.31 over sqrt(5)), so with 3 a difference of several ranks
# between corpora could not be told apart from the seed spread the toy models show.
DEFAULT_SEEDS = (0, 1, 2, 3, 4)


def grid_configs(base: str = "toyworld", modes: Sequence[str] = MODES,
                 seeds: Sequence[int] = DEFAULT_SEEDS) -> list[ToyConfig]:
    """The ``ToyConfig`` of every (mode, seed) toy model of ``base``."""
    params = load_params(base)
    return [toy_config(params, mode=mode, seed=seed)
            for mode in check_list(modes, "modes", str, str(list(MODES))) for seed in check_seeds(seeds)]


# The shipped models the test command re-pretrains (two, side by side): one of each batch the grid
# was pretrained in, seeds 0-2 (on an AMD EPYC) and seeds 3-4 (on an Intel Xeon, when the grid
# grew to 5 seeds); each model's pretrain_log.json names its machine.
CHECKED = (("facts_first", 0), ("no_impl", 3))


def checked_configs(base: str = "toyworld") -> list[ToyConfig]:
    """The ``ToyConfig`` of each ``CHECKED`` model of ``base``."""
    params = load_params(base)
    return [toy_config(params, mode=mode, seed=seed) for mode, seed in CHECKED]


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
    out["claims"] = claims(out)
    out["verdicts"] = verdicts(out)
    out["provenance"] = provenance(None, time.perf_counter() - clock)
    return out


def _summary(per_seed: list[dict]) -> dict[str, Any]:
    """Per hop, ``stats.summarise`` of the seeds' final implication ranks."""
    return {hop: summarise([s[hop]["test_rank"][-1] for s in per_seed]) for hop in HOPS}


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    """The file's verdicts: the claim rule's (``claim_rules.from_scratch``), recomputed from the
    per-seed numbers (the tests check that a file's stored verdicts are these)."""
    return {name: c["verdict"] for name, c in claims(results).items()}


def claims(results: dict[str, Any]) -> dict[str, Any]:
    """``claim_rules.from_scratch`` on each mode's per-seed final implication ranks (pretraining
    seeds shared across modes) and final fact ranks; none without the ``facts_first`` mode."""
    modes = results["modes"]
    if "facts_first" not in modes:
        return {}
    return {"from_scratch": claim_rules.from_scratch(
        {hop: {m: d[hop]["values"] for m, d in modes.items()} for hop in HOPS},
        {hop: {m: [s[hop]["train_rank"][-1] for s in d["per_seed"]] for m, d in modes.items()} for hop in HOPS})}


def order_table(results: dict[str, Any]):
    """One row per corpus mode: each hop's final implication rank, 'mean [interval]' over the
    pretraining seeds (``interval_text``)."""
    import pandas as pd

    return pd.DataFrame({mode: {f"{hop.replace('_', '-')} implication rank": interval_text(d[hop], label=False)
                                for hop in HOPS} for mode, d in results["modes"].items()}).T


def pretraining_order_verdict(results: dict[str, Any]) -> str:
    """Markdown: per hop each mode's final implication rank, and the claim's comparisons
    (``facts_first`` minus each corpus without implications of known facts, paired over the
    pretraining seeds) with the intervals its verdict rests on, read from its inputs."""
    modes = results["modes"]
    claim = results.get("claims", {}).get("from_scratch")
    differences = claim["inputs"].get("differences", {}) if claim else {}
    lines = []
    for hop in HOPS:
        parts = [f"`{m}` {interval_text(d[hop], label=False)}" for m, d in modes.items()]
        lines.append(f"**{hop.replace('_', '-')}**, final implication rank, mean "
                     f"[{interval_label(next(iter(modes.values()))[hop])}]: " + "; ".join(parts) + ".")
        for name, diff in differences.items():
            if name.startswith(f"{hop}/"):
                other = name.split("/", 1)[1]
                lines.append(f"- `facts_first` - `{other}`: {interval_text(diff, signed=True)}: "
                             f"{compared('`facts_first`', diff, f'`{other}`')}")
    if claim:
        lines.append(f"The claim (the rule under the book's claims table): **{claim['verdict']}**.")
    return "\n\n".join(lines)


USAGE = """python -m extractive_core.pretraining_order [TOY_PARAMS_NAME] [--check | --regenerate]
  (no flag)     make the corpus-order grid's toy models available: shipped checkpoints, else pretrain
  --check       re-pretrain two of them (facts_first seed 0, no_impl seed 3: CHECKED), side by side, and compare each
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
            report, problems = check_shipped_all(checked_configs(base))
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
