"""Benchmark the two speed-ups of a finetuning run, each against the path without it, on
the same run: frozen-prefix replay (a run that trains only late layers computes the frozen
early blocks once per sequence) and the one-pass cross-entropy over the output layer.

    python benchmarks/late_layers.py [--model gemma3_270m] [--first-layer 12] [--epochs 4] [--repeats 2]

Prints seconds (best of ``repeats``) and ratios, and the largest difference in the ranks and
in the weight change between the paths (replay and the one-pass loss change the float
rounding, not the computation).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import time

from extractive_core import load_model, two_hop
from extractive_core.architecture import n_layers

finetune_module = importlib.import_module("extractive_core.finetune")
architecture = importlib.import_module("extractive_core.architecture")


def timed_run(lm, data, layers, epochs, repeats):
    best, run = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        run = finetune_module.finetune(lm.model, lm.tokenizer, data.facts,
                                       {"train": data.facts, "test": data.implications},
                                       lr=1e-4, epochs=epochs, layers=layers, progress=False)
        best = min(best, time.perf_counter() - start)
    return best, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3_270m")
    parser.add_argument("--first-layer", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    lm = load_model(args.model)
    data = two_hop("first_hop")
    layers = list(range(args.first_layer, n_layers(lm.model)))
    variants = {}
    variants["both"] = timed_run(lm, data, layers, args.epochs, args.repeats)
    real_prefix = finetune_module.frozen_prefix
    finetune_module.frozen_prefix = lambda model, start: contextlib.nullcontext()
    variants["no replay"] = timed_run(lm, data, layers, args.epochs, args.repeats)
    finetune_module.frozen_prefix = real_prefix
    real_ce = finetune_module.answer_cross_entropy
    finetune_module.answer_cross_entropy = lambda model, hidden, targets: architecture.nn.functional.cross_entropy(
        architecture.lm_logits(model, hidden).float(), targets)
    variants["no one-pass loss"] = timed_run(lm, data, layers, args.epochs, args.repeats)
    finetune_module.frozen_prefix = lambda model, start: contextlib.nullcontext()
    variants["neither"] = timed_run(lm, data, layers, args.epochs, args.repeats)
    finetune_module.frozen_prefix, finetune_module.answer_cross_entropy = real_prefix, real_ce
    base_s, base = variants["neither"]
    print(f"{args.model}, layers {layers[0]}-{layers[-1]} trained, {args.epochs} epochs, best of {args.repeats}")
    for name, (seconds, run) in variants.items():
        rank_diff = max(abs(a - b) for k in ("train", "test") for a, b in zip(run.ranks(k), base.ranks(k)))
        delta_diff = max(float((run.delta[n] - base.delta[n]).abs().max()) for n in base.delta)
        print(f"{name:>16}: {seconds:6.1f} s  speed-up x{base_s / seconds:.2f}  "
              f"largest rank difference {rank_diff:.3f}, weight-change difference {delta_diff:.1e}")


if __name__ == "__main__":
    main()
