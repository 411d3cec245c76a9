"""The precision rule for a memory plan, on the default model: its two-hop runs (3 seeds, both
hops) under the plan against the float32 runs, compared by the reproducibility chapter's rule
(``precision_report.compare_precisions``: adopt when, for every hop, the plan's mean final
implication rank lies within the float32 seeds' range; its "faster" is reported too).

    python benchmarks/memory_plan_precision.py [--model gemma3_270m] [--plan bf16_kahan]
        [--seeds 0 1 2] [--reference fresh|committed] [--threads N]

``--reference fresh`` (the default) runs the float32 runs here too (the run cache serves them
when it holds them); ``committed`` reads them from ``results/<model>/reproducibility.json``
(the same seeds and recipe, run by the main job). Writes ``_build/benchmarks/<model>/memory_plan.json``
(a benchmark's output, not a chapter's result: the comparison, both sets of runs, the plan's bytes per parameter) and prints the table. On
2 CPU cores (with bf16 in hardware) about 4 minutes for the default model.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from typing import Any

from extractive_core import load_model, memory
from extractive_core.numerics import native_bf16, provenance
from extractive_core.ocr import run_two_hop_ocr
from extractive_core.params import PLAN_DTYPES, PLANS
from extractive_core.precision_report import compare_precisions, precision_table
from extractive_core.results import output_root, results_path, save_json


def plan_runs(model: str, plan: str, seeds: list[int], threads: int | None) -> dict[str, Any]:
    """``run_two_hop_ocr`` of ``model`` loaded in the plan's dtype, every run under ``plan``."""
    lm = load_model(model, dtype=PLAN_DTYPES[plan], threads=threads)
    lm.params = replace(lm.params, optimizer_plan=plan)
    return run_two_hop_ocr(lm, seeds=seeds)


def committed_reference(model: str) -> dict[str, Any]:
    path = results_path(model, "reproducibility")
    runs = json.loads(path.read_text())["precision"][model]["runs"]["float32"]
    return dict(runs)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="gemma3_270m")
    parser.add_argument("--plan", default="bf16_kahan", choices=[p for p in PLANS if p != "float32"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--reference", choices=("fresh", "committed"), default="fresh")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if PLAN_DTYPES[args.plan] == "bfloat16" and not native_bf16():
        print("warning: no bf16 in hardware here (no AVX-512 bf16 or AMX, no GPU): torch emulates bf16, so the "
              "seconds measure the emulation; the ranks still test the plan's precision")
    clock = time.perf_counter()
    if args.reference == "committed":
        reference = committed_reference(args.model)
        missing = [s for s in args.seeds if str(s) not in reference["first_hop"]["per_seed"]]
        if missing:
            raise SystemExit(f"the committed float32 runs lack seeds {missing}; use --reference fresh")
    else:
        lm = load_model(args.model, dtype="float32", threads=args.threads)
        reference = run_two_hop_ocr(lm, seeds=args.seeds)
        del lm
    candidate = plan_runs(args.model, args.plan, args.seeds, args.threads)
    results = {"float32": reference, args.plan: candidate}
    comparison = compare_precisions(results, reference="float32", candidate=args.plan)
    p = memory.plan(args.plan)
    out = {
        "model": args.model, "plan": args.plan, "seeds": args.seeds, "reference": args.reference,
        "rule": "adopt the plan when, for every hop, its mean final implication rank lies within the float32 "
                "seeds' range (precision_report.compare_precisions; 'faster' reported, not required here)",
        "within_spread": {hop: t["within_spread"] for hop, t in comparison["hops"].items()},
        "precision_rule": "yes" if all(t["within_spread"] for t in comparison["hops"].values()) else "no",
        "comparison": comparison, "runs": results,
        "bytes_per_trained_parameter": {name: memory.plan(name).per_trained for name in PLANS},
        "plan_parts": dict(p.parts), "gradient_release": p.released,
        "provenance": provenance(None, time.perf_counter() - clock),
    }
    path = output_root() / "_build" / "benchmarks" / results_path(args.model, "memory_plan").parent.name / "memory_plan.json"
    save_json(path, out)
    print(precision_table(comparison).to_string())
    print(f"\nprecision rule (mean final implication rank within float32's seed range, every hop): "
          f"{out['precision_rule']} ({', '.join(f'{h} {w}' for h, w in out['within_spread'].items())}); "
          f"faster: {comparison['faster']}. Written to {path}")
    return out


if __name__ == "__main__":
    main()
