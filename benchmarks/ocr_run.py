"""Benchmark one two-hop OCR finetuning run: wall time and where it goes.

    python benchmarks/ocr_run.py [--model gemma3_270m] [--hop first_hop] [--threads N]

Prints ratios (fractions of the run), not assertions. Target on 2 CPU cores for the default
model: under 60 s per run, over 80% of it inside forward/backward/optimizer/eval passes.
"""

from __future__ import annotations

import argparse
import time

from extractive_core import load_model, two_hop
from extractive_core.finetune import finetune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3_270m")
    parser.add_argument("--hop", default="first_hop")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    start = time.perf_counter()
    lm = load_model(args.model, threads=args.threads)
    load_s = time.perf_counter() - start
    data = two_hop(args.hop)
    recipe = lm.params.recipe
    run = finetune(lm.model, lm.tokenizer, data.facts, {"train": data.facts, "test": data.implications},
                   lr=recipe.lr, epochs=recipe.epochs, batch_size=recipe.batch_size,
                   autocast_dtype=lm.params.autocast, progress=False)
    s = run.seconds
    total = s["total"]
    compute = s["forward"] + s["backward"] + s["optimizer"] + s["eval"]
    print(f"model {args.model}, {args.hop}, {recipe.epochs} epochs, lr {recipe.lr:g} "
          f"(model load {load_s:.1f} s, not counted)")
    print(f"run wall time        {total:7.1f} s   (target < 60 s on 2 cores)")
    for key in ("forward", "backward", "optimizer", "eval", "data"):
        print(f"  {key:<18} {s[key]:7.1f} s   {s[key] / total:6.1%}")
    print(f"  {'other':<18} {total - compute - s['data']:7.1f} s   {(total - compute - s['data']) / total:6.1%}")
    print(f"in model passes      {compute / total:6.1%}   (target > 80%)")
    print(f"test rank {run.ranks('test')[0]:.2f} -> {run.ranks('test')[-1]:.2f}")


if __name__ == "__main__":
    main()
