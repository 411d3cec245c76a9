"""Benchmark one two-hop OCR finetuning run: wall time, where it goes, and how close the
run comes to the machine's matmul rate.

    python benchmarks/ocr_run.py [--model gemma3_270m] [--hop first_hop] [--dtype bfloat16] [--threads N]
        [--plan float32_offload]

Prints ratios, not assertions: each phase as a fraction of the run, the run's model FLOPs
per second (counted from parameter and token counts) as a fraction of the matmul peak
measured in this process for the same dtype, and the run's peak resident memory above the
loaded model against the memory formula's training state and activations
(``memory.training_bytes`` less the weights already loaded; on a CPU the host is the device).
Target on 2 CPU cores for the default model: one run <= 10 s.
"""

from __future__ import annotations

import argparse
import time

import torch

from extractive_scores import reset_peak, rss_mib  # benchmarks/, beside this script

from extractive_core import RunSpec, load_model, memory, two_hop
from extractive_core.architecture import layer_of
from extractive_core.params import PLANS
from extractive_core.finetune import finetune
from extractive_core.tokens import collate


def matmul_peak(dtype: torch.dtype, n: int = 1024, repeats: int = 20) -> float:
    """FLOP/s of an n x n by n x 4n matmul in ``dtype`` (the machine's practical peak)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, 4 * n, dtype=dtype)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n * n * 4 * n * repeats / (time.perf_counter() - start)


def run_flops(lm, data, epochs: int) -> float:
    """Model FLOPs of one run: training 6 N T over block weights plus the output layer at
    answer tokens (forward and input gradient), and 2 N T per evaluated prompt token."""
    model, tok = lm.model, lm.tokenizer
    n_block = sum(p.numel() for n, p in model.named_parameters() if layer_of(model, n) is not None)
    vocab_d = model.get_output_embeddings().weight.numel()
    train = collate(tok, data.facts.examples)
    train_tokens = int(train.attention_mask.sum())
    answer_tokens = int((train.labels != -100).sum())
    eval_tokens = sum(int(collate(tok, s.examples, with_answers=False).attention_mask.sum())
                      for s in (data.facts, data.implications))
    per_epoch = 6 * n_block * train_tokens + 4 * vocab_d * answer_tokens
    return epochs * per_epoch + (epochs + 1) * 2 * n_block * eval_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3_270m")
    parser.add_argument("--hop", default="first_hop")
    parser.add_argument("--dtype", default=None, help="override the params file's dtype (float32, bfloat16)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plan", default=None, choices=PLANS, help="an optimizer plan (memory.py); none: today's")
    args = parser.parse_args()

    start = time.perf_counter()
    lm = load_model(args.model, threads=args.threads, dtype=args.dtype)
    load_s = time.perf_counter() - start
    data = two_hop(args.hop)
    recipe = RunSpec.of(lm.params, seed=args.seed, optimizer_plan=args.plan)
    loaded = rss_mib("VmRSS")
    reset_peak()
    run = finetune(lm.model, lm.tokenizer, data.facts, {"train": data.facts, "test": data.implications}, recipe,
                   progress=False)
    rss_peak = rss_mib("VmHWM") - loaded
    s = run.seconds
    total = s["total"]
    compute = s["forward"] + s["backward"] + s["optimizer"] + s["eval"]
    dtype = next(lm.model.parameters()).dtype
    peak = matmul_peak(dtype)
    achieved = run_flops(lm, data, recipe.epochs) / total
    print(f"model {args.model} ({dtype}), {args.hop}, {recipe.epochs} epochs, lr {recipe.lr:g}, "
          f"{torch.get_num_threads()} threads (model load {load_s:.1f} s, not counted)")
    print(f"run wall time        {total:7.2f} s   = {total / 10:.2f} x the 10 s target")
    for key in ("forward", "backward", "optimizer", "eval", "data"):
        print(f"  {key:<18} {s[key]:7.2f} s   {s[key] / total:6.1%}")
    print(f"  {'other':<18} {total - compute - s['data']:7.2f} s   {(total - compute - s['data']) / total:6.1%}")
    print(f"model FLOP/s         {achieved / 1e9:7.1f} G   = {achieved / peak:.3f} of the {dtype} matmul peak "
          f"({peak / 1e9:.0f} GFLOP/s, measured here)")
    trained = sum(d.numel() for d in run.delta.values())
    weight_bytes = next(lm.model.parameters()).element_size()
    plan_name = recipe.optimizer_plan or ("float32" if weight_bytes == 4 else "bf16_masters")  # no plan amounts to
    act = memory.activation_bytes(lm.model.config, recipe.batch_size * memory.SEQUENCE_TOKENS, weight_bytes)
    per_layer = memory.counts(lm.model.config).per_layer
    state = memory.training_bytes(plan_name, trained, 0, act, layer=min(per_layer, trained),
                                  autocast=recipe.autocast == "bfloat16" and weight_bytes == 4) - trained * weight_bytes
    if plan_name in memory.HOST_BYTES:  # on a CPU the plan's host memory is this process's too
        state += trained * memory.HOST_BYTES[plan_name]
    print(f"peak RSS of the run  {rss_peak:7.0f} MiB above the loaded model; formula ({plan_name}: training state of "
          f"{trained / 1e6:.0f}M trained weights and activations) {state / 2**20:.0f} MiB, ratio {rss_peak / (state / 2**20):.2f}")
    print(f"test rank {run.ranks('test')[0]:.2f} -> {run.ranks('test')[-1]:.2f}; "
          f"train rank {run.ranks('train')[0]:.2f} -> {run.ranks('train')[-1]:.2f}")


if __name__ == "__main__":
    main()
