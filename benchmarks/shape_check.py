"""Shape check of a memory plan: one seed of the grafting chapter's path on a model built from
a 7B params file's architecture numbers alone (random weights, no download).

    python benchmarks/shape_check.py [--model llama3_8b] [--plan float32_offload] [--device auto]
        [--layers 2] [--width 256] [--vocab 4096] [--full] [--n-people 41] [--out FILE]

By default (any device) the architecture is reduced: ``--layers`` blocks of ``--width``, the
heads of the real head width (as many as fit the width), the MLP scaled alike, a ``--vocab``
vocabulary; this tests the code path in seconds on a CPU. ``--full`` keeps the params file's
shape (every layer unless ``--layers`` is given, the real width and vocabulary): a GPU's work.

The path: the four continued-training phases of one seed and the test people's finetuning
(``grafting.seed_deltas``, one epoch each, with the plan's optimizer), the grafting table's rows
and the localisation scores. Prints the peak memory (GPU: ``torch.cuda.max_memory_allocated``,
for training and localisation apart; CPU: the process's peak resident size), the seconds per
optimizer step, and the formula's bytes (``extractive_core.memory``) for the same shape.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
import time
import warnings
from dataclasses import fields, replace
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM

from extractive_core import continued_training, memory
from extractive_core.continued_training import dataset, setting
from extractive_core.datasets import dataset_texts
from extractive_core.daxwug import daxwug_texts
from extractive_core.errors import ParameterError
from extractive_core.grafting import graft_rows, localisation, seed_deltas, table_ranks
from extractive_core.models import LoadedModel
from extractive_core.params import PLAN_DTYPES, PLANS, Architecture, ContinuedTraining, load_params
from extractive_core.tokenizer import word_tokenizer, words_of


def reduced(arch: Architecture, layers: int | None, width: int | None, vocab: int | None) -> Architecture:
    """``arch`` with ``layers`` blocks and ``width`` (None: as it is): heads of the real head
    width, as many as fit (at least one), KV heads in the real proportion, the MLP scaled."""
    out = arch if layers is None else replace(arch, num_hidden_layers=layers)
    if vocab is not None:
        out = replace(out, vocab_size=vocab)
    if width is None or width == arch.hidden_size:
        return out
    head = arch.head_size
    heads = max(1, width // head)
    kv = max(1, heads * arch.kv_heads // arch.num_attention_heads)
    while heads % kv:
        kv -= 1
    ffn = max(8, round(arch.intermediate_size * width / arch.hidden_size / 8) * 8)
    return replace(out, hidden_size=width, num_attention_heads=heads, num_key_value_heads=kv, head_dim=head,
                   intermediate_size=ffn)


def transformers_config(arch: Architecture) -> Any:
    numbers = {f.name: getattr(arch, f.name) for f in fields(arch) if f.name != "model_type"}
    numbers = {k: v for k, v in numbers.items() if v is not None}
    if arch.model_type == "qwen2":
        numbers.pop("attention_bias", None)
        numbers.pop("mlp_bias", None)
    return AutoConfig.for_model(arch.model_type, **numbers, pad_token_id=0, bos_token_id=1, eos_token_id=2)


def build(arch: Architecture, dtype: torch.dtype, device: torch.device) -> torch.nn.Module:
    """A random-weight model of ``arch``, made on ``device`` in ``dtype`` (no float32 detour)."""
    torch.manual_seed(0)
    config = transformers_config(arch)
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            model = AutoModelForCausalLM.from_config(config)
    finally:
        torch.set_default_dtype(default)
    return model.to(device, dtype).eval()


def peak_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama3_8b", help="a params file with an architecture section")
    parser.add_argument("--plan", default="float32_offload", choices=PLANS)
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda, cuda:N")
    parser.add_argument("--full", action="store_true", help="the params file's shape (a GPU's work)")
    parser.add_argument("--layers", type=int, default=None, help="blocks (default: 2, or every one with --full)")
    parser.add_argument("--width", type=int, default=256, help="hidden size when reduced (not with --full)")
    parser.add_argument("--vocab", type=int, default=4096, help="vocabulary when reduced (not with --full)")
    parser.add_argument("--n-people", type=int, default=41, help="daxwug people (20 test people + training people)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None, help="also write the summary as JSON here")
    args = parser.parse_args(argv)

    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    if args.full and device.type != "cuda":
        raise ParameterError("--full builds the params file's whole shape (7-9B weights): it needs a GPU; on the "
                             "CPU, run without --full (the reduced shape)")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    params = load_params(args.model)
    if params.architecture is None:
        raise ParameterError(f"{args.model}.yaml has no architecture section: choose a 7B params file")
    if args.full:
        arch = reduced(params.architecture, args.layers, None, None)
    else:
        arch = reduced(params.architecture, 2 if args.layers is None else args.layers, args.width, args.vocab)
    tok = word_tokenizer(words_of(dataset_texts() + daxwug_texts()))
    arch = replace(arch, vocab_size=max(arch.vocab_size, len(tok)))
    dtype_name = PLAN_DTYPES[args.plan]
    clock = time.perf_counter()
    model = build(arch, getattr(torch, dtype_name), device)
    build_seconds = time.perf_counter() - clock
    run_params = replace(params, name=f"shape_check_{args.model}", dtype=dtype_name, optimizer_plan=args.plan,
                         architecture=arch, recipe=replace(params.recipe, epochs=1),
                         continued_training=ContinuedTraining(epochs=1, n_people=args.n_people))
    lm = LoadedModel(model, tok, run_params)
    base = setting(lm)
    s = replace(base, test_epochs=1, optimizer_plan=args.plan)
    facts, counterfactual = dataset(s, "F"), dataset(s, "F'")

    runs: list[dict[str, Any]] = []
    real = continued_training.cached_finetune

    def observed(lm_, train, evals, spec, **kw):  # type: ignore[no-untyped-def]
        result = real(lm_, train, evals, spec, **kw)
        steps = math.ceil(len(train.examples) / spec.batch_size) * spec.epochs
        runs.append({"label": kw.get("label", ""), "steps": steps,
                     "step_seconds": sum(result.seconds[k] for k in ("data", "forward", "backward", "optimizer")),
                     "optimizer_seconds": result.seconds["optimizer"], "seconds": result.seconds["total"]})
        return result

    continued_training.cached_finetune = observed  # type: ignore[assignment]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    resident = torch.cuda.memory_allocated(device) if device.type == "cuda" else None
    try:
        clock = time.perf_counter()
        with warnings.catch_warnings():  # random weights at the 7B lr for one epoch: "diverged" is expected
            warnings.filterwarnings("ignore", message="finetuning ended with a higher loss")
            deltas, learned, _ = seed_deltas(lm, facts, counterfactual, s, seed=0, progress=False)
        train_seconds = time.perf_counter() - clock
        train_peak = peak_bytes(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        clock = time.perf_counter()
        ranks = table_ranks(lm, facts, counterfactual, graft_rows(deltas))
        local = localisation(lm, facts, deltas, s.layers, n_prompts=min(20, len(facts.train_people)))
        local_seconds = time.perf_counter() - clock
        local_peak = peak_bytes(device)
    finally:
        continued_training.cached_finetune = real  # type: ignore[assignment]

    steps = sum(r["steps"] for r in runs)
    formula = {e: memory.experiment_bytes(args.plan, run_params, e) for e in memory.EXPERIMENTS}
    c = memory.counts(arch)
    summary = {
        "model": args.model, "plan": args.plan, "device": str(device), "full": args.full,
        "shape": {"layers": arch.num_hidden_layers, "hidden_size": arch.hidden_size,
                  "heads": arch.num_attention_heads, "kv_heads": arch.kv_heads, "head_dim": arch.head_size,
                  "intermediate_size": arch.intermediate_size, "vocab_size": arch.vocab_size},
        "parameters": {"blocks": c.blocks, "total": c.total,
                       "built": sum(p.numel() for p in model.parameters())},
        "build_seconds": round(build_seconds, 2), "train_seconds": round(train_seconds, 2),
        "localisation_seconds": round(local_seconds, 2),
        "steps": steps, "seconds_per_step": round(sum(r["step_seconds"] for r in runs) / max(steps, 1), 4),
        "optimizer_seconds_per_step": round(sum(r["optimizer_seconds"] for r in runs) / max(steps, 1), 4),
        "peak_memory": ({"what": "torch.cuda.max_memory_allocated", "model_bytes": resident,
                         "training_bytes": train_peak, "localisation_bytes": local_peak}
                        if device.type == "cuda" else
                        {"what": "process peak resident size (ru_maxrss), whole process", "bytes": train_peak,
                         "after_localisation_bytes": local_peak}),
        "formula_bytes": formula,
        "phase_end_ranks": learned, "table": ranks,
        "localisation_r2": {part: local[part]["r2"] for part in ("mlp", "heads")},
        "runs": runs,
    }
    mb = 2**20
    print(f"{args.model} under {args.plan} on {device}: {arch.num_hidden_layers} layers x {arch.hidden_size} "
          f"({arch.num_attention_heads} heads of {arch.head_size}, {arch.kv_heads} KV, MLP {arch.intermediate_size}, "
          f"vocab {arch.vocab_size}): {c.total / 1e6:.1f}M parameters, {c.blocks / 1e6:.1f}M in blocks")
    where = ("inside the backward pass: gradient release" if args.plan == "bf16_kahan"  # its steps run in backward
             else f"{summary['optimizer_seconds_per_step']:.3f} s of it")
    print(f"  {steps} optimizer steps in {len(runs)} runs: {summary['seconds_per_step']:.3f} s per step "
          f"(data, forward, backward, optimizer; the optimizer {where}); training {train_seconds:.1f} s, "
          f"grafting table and localisation {local_seconds:.1f} s")
    if device.type == "cuda":
        print(f"  peak memory (measured): training {train_peak / mb:.0f} MiB, localisation {local_peak / mb:.0f} MiB "
              f"(model alone {resident / mb:.0f} MiB)")
        print(f"  formula (memory.py, no allowance): data ordering {formula['data_ordering'] / mb:.0f} MiB, "
              f"grafting {formula['grafting'] / mb:.0f} MiB; measured/formula "
              f"{train_peak / formula['data_ordering']:.2f} (training)")
    else:
        print(f"  peak resident size of the whole process (measured): {train_peak / mb:.0f} MiB "
              f"(torch and the libraries included; the formula counts the device's tensors only: data ordering "
              f"{formula['data_ordering'] / mb:.1f} MiB)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=1)
    return summary


if __name__ == "__main__":
    os.environ.setdefault("EXTRACTIVE_RUN_CACHE", "0")  # train every phase: this measures training
    try:
        main()
    except ParameterError as err:
        sys.exit(f"shape_check: {err}")
