"""Benchmark the batched extractive scores against a per-pair loop (the authors' procedure:
each of the 20 prompts x 10 counterfactuals scored on its own), and their memory.

    python benchmarks/extractive_scores.py [--model gemma3_270m] [--hop first_hop] [--pairs 200]

Prints the time of each, their ratio (target >= 30x), the largest relative difference of
the per-token scores (target < 1e-4), and the peak resident memory of the batched scores
above the loaded model, next to the formula the README uses for a 7B model. ``--pairs``
times the loop on the first pairs only and scales it (the loop's cost is per pair).
"""

from __future__ import annotations

import argparse
import time

import torch

from extractive_core import load_model, two_hop
from extractive_core.alignment import positions
from extractive_core.components import PerComponent, geometry
from extractive_core.extractive import (Prepared, extractive_scores, frozen, old_outputs_on, scores_memory_bytes,
                                       trace)
from extractive_core.finetune import applied
from extractive_core.ocr import resolve_recipe, two_hop_run


def single(prep: Prepared, i: int) -> Prepared:
    """Prompt ``i`` alone, unpadded."""
    b, n = prep.batch, int(prep.alignment.lengths[i])
    batch = type(b)(b.input_ids[i:i + 1, :n], b.attention_mask[i:i + 1, :n], b.labels[i:i + 1, :n], b.answer_pos[i:i + 1])
    return Prepared(batch, prep.option_ids, prep.correct[i:i + 1], prep.alignment)


def per_pair(model, prep: Prepared, delta, n_pairs: int) -> tuple[dict, int]:
    """The loop: for every (prompt, counterfactual) pair, forward and backward on the old and
    the new weights, the counterfactual's forward, and the old modules on the new inputs."""
    al = prep.alignment
    n_cf = al.counterfactuals.shape[1]
    geo, shape = geometry(model), tuple(al.columns.shape)
    out = {"upstream": PerComponent(torch.zeros(*shape, geo.n_layers), torch.zeros(*shape, geo.n_layers, geo.n_heads))}
    done = 0
    with frozen(model):
        for i in range(len(al.lengths)):
            for c, j in enumerate(al.counterfactuals[i].tolist()):
                if done == n_pairs:
                    return out, done
                x, x_cf = single(prep, i), single(prep, j)
                old, _ = trace(model, x, delta)
                with applied(model, delta):
                    new, _ = trace(model, x, capture=True)
                old_outputs_on(model, new.inputs)
                cf, _ = trace(model, x_cf)
                n = int(al.lengths[i])
                where = positions(al.prefix, al.suffix, n, int(al.lengths[j]))
                pair = (old.grad - new.grad).dot(old.out - cf.out.map(lambda t: t[:, where]))  # (1, n, ...)
                for comp, score in pair.items():
                    out["upstream"][comp][i, :n] += score[0] / n_cf
                done += 1
    return out, done


def reset_peak() -> None:
    """Reset the kernel's peak-RSS counter of this process (Linux), so the next peak is ours."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def rss_mib(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3_270m")
    parser.add_argument("--hop", default="first_hop")
    parser.add_argument("--pairs", type=int, default=200, help="pairs to time in the loop (200 = all)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    lm = load_model(args.model, threads=args.threads)
    delta = two_hop_run(lm, args.hop, 0, resolve_recipe(lm, None, None, None), progress=False).delta
    split = two_hop(args.hop).implications
    reset_peak()
    before = rss_mib("VmRSS")
    start = time.perf_counter()
    scores = extractive_scores(lm.model, lm.tokenizer, split, delta, n_counterfactuals=10)
    batched = time.perf_counter() - start
    peak = rss_mib("VmHWM") - before
    prep = scores.prepared
    start = time.perf_counter()
    loop, n_pairs = per_pair(lm.model, prep, delta, args.pairs)
    looped = (time.perf_counter() - start) * 200 / n_pairs
    rows = sorted({i for i in range(20) if (i + 1) * 10 <= n_pairs})
    worst = 0.0
    for comp in ("mlp", "heads"):
        ours, ref = scores.per_token["upstream"][comp][rows].float(), loop["upstream"][comp][rows]
        worst = max(worst, float((ours - ref).abs().max() / ref.abs().max()))
    geo, config = geometry(lm.model), lm.model.config
    changed = sum(d.numel() for d in delta.values())
    tokens = prep.batch.input_ids.numel()
    formula = scores_memory_bytes(changed, lm.model.dtype.itemsize, tokens, geo.n_layers, config.hidden_size,
                                  geo.n_heads * geo.head_dim, config.intermediate_size) / 2**20
    print(f"model {args.model}, hop {args.hop}, 20 prompts x 10 counterfactuals, {torch.get_num_threads()} threads")
    print(f"batched scores      {batched:8.2f} s")
    print(f"per-pair loop       {looped:8.2f} s  ({n_pairs} pairs timed, scaled to 200)")
    print(f"speed-up            {looped / batched:8.1f}x  (target >= 30x)")
    print(f"max relative diff   {worst:8.2e}  (upstream, per token, prompts fully covered by the timed pairs; target < 1e-4)")
    print(f"peak RSS of scores  {peak:8.0f} MiB above the loaded model and delta; "
          f"formula (extractive.scores_memory_bytes) {formula:.0f} MiB, ratio {peak / formula:.2f}")


if __name__ == "__main__":
    main()
