"""Benchmark one toy-model pretraining from scratch (no cache): throughput and time.

    python benchmarks/toy_pretrain.py [--threads N] [--mode facts_first] [--steps S]

Prints tokens/s and the pretraining wall time next to the target (under 75 s on 2 cores),
and the ratio of the whole toy notebook's pretraining (``pretraining_order.grid_configs``: 4 modes x 5 seeds) to its 15-minute budget.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from extractive_core.models import set_threads
from extractive_core.pretrain import pretrain
from extractive_core.pretraining_order import grid_configs
from extractive_core.toyworld import ToyConfig, ToyCorpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--mode", default="facts_first")
    parser.add_argument("--steps", type=int, default=None)
    args = parser.parse_args()
    threads = set_threads(args.threads)
    config = ToyConfig(mode=args.mode)
    if args.steps:
        config = replace(config, steps=args.steps)

    start = time.perf_counter()
    schedule = ToyCorpus.build(config).schedule()
    corpus_s = time.perf_counter() - start
    _, _, log = pretrain(config, progress=False)
    total = corpus_s + log["seconds"]
    print(f"toy pretraining: {config.mode}, {config.steps} steps x {config.batch_size} sentences, "
          f"d_model {config.d_model}, {config.n_layers} layers, {threads} thread(s)")
    print(f"corpus + schedule   {corpus_s:6.1f} s  ({len(schedule)} steps)")
    print(f"training loop       {log['seconds']:6.1f} s  {log['tokens_per_s']:,.0f} tokens/s, final loss {log['final_loss']:.3f}")
    print(f"one pretraining     {total:6.1f} s  = {total / 75:.2f} x the 75 s target")
    n = len(grid_configs())
    print(f"{n} pretrainings     {n * total / 60:6.1f} min = {n * total / 900:.2f} x the notebook's 15 min budget")


if __name__ == "__main__":
    main()
