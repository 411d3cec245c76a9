"""The claims table on the book's first page, read from results/: each claim of the paper,
what the paper reports for OLMo-7b, this project's measurement on the default model and on
the toy model (value, seeds, interval) and a verdict per model: ``agrees``, ``partly``,
``does not`` or ``not tested`` (a failed precondition). The verdicts are computed by each
chapter's module with the rules of ``claim_rules`` and stored in its results file; this
module only reads them, and says how each run's protocol differs from the paper's.

    python -m extractive_core.claims [--results DIR] [--out book/claims.md]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import ParameterError, bad_input_exits
from .results import load_json, model_folder, output_root, results_folder
from .storage import write_atomic

MODELS = ("gemma3_270m", "toyworld")
Measured = tuple[str, str]  # (measurement, verdict)


@dataclass(frozen=True)
class Claim:
    text: str
    paper: str  # what the paper reports for OLMo-7b
    chapter: str  # the notebook page that shows it
    result: str  # results/<model>/<result>.json
    key: str  # the entry of that file's ``claims`` (computed by the chapter's module, ``claim_rules``);
    # "section/entry": the entry of the claims of an experiment saved beside it under ``section``
    protocol: Callable[[dict], str]  # how this run's protocol differs from the paper's


def lr_text(lr: float) -> str:
    return f"{lr:.0e}".replace("e-0", "e-")


def recipe_protocol(r: dict) -> str:
    trained = "all block weights" if r.get("trainable") == "blocks" else f"trainable: {r.get('trainable')}"
    return f"the paper's recipe at lr {lr_text(r['lr'])} (the paper: 3e-6 on 7B models), {r['epochs']} epochs, {trained}"


def ordering_protocol(r: dict) -> str:
    s = r["setting"]
    layers = s["layers"]
    where = "every weight" if s["trainable"] == "all" else f"layers {layers[0]}-{layers[-1]}"
    return (f"{r['n_train_people']} training people (the paper: 84), their cities drawn until every city has one "
            f"(the precondition); {where} at lr {lr_text(s['lr'])}, {s['epochs']} epochs per phase (the paper: every "
            f"weight at the two-hop lr, 8 epochs)")


def graft_protocol(r: dict) -> str:
    return ordering_protocol(r) + "; F' drawn again independently, as in the paper"


def localisation_protocol(r: dict) -> str:
    loc = r["localisation"]
    return (graft_protocol(r) + f"; one point per token x trained layer [x head] (layers {loc['layers'][0]}-"
            f"{loc['layers'][-1]}; the paper trains and plots every layer)")


def storage_protocol(r: dict) -> str:
    return recipe_protocol(r) + "; the paper shows the score maps, this row sums the informative MLP score per layer"


def pre_protocol(r: dict) -> str:
    return recipe_protocol(r) + "; the frozen-during-training rows train only the other block"


def band_lr_protocol(r: dict) -> str:
    return (f"the recipe at the band map's lr {lr_text(r['lr'])} (fixed for the band map before this table ran), "
            f"{r['epochs']} epochs, all block weights; the frozen-during-training row trains only the other block")


def cell_protocol(r: dict) -> str:
    cell = r["freezing_at_best"]["cell"]
    return (f"the recipe at the sweep's best second-hop cell with learned facts (`sweep.best_cell`, on the sweep's "
            f"{len(r['seeds'])} seed(s)): lr {lr_text(cell['lr'])}, {cell['epochs']} epochs, all block weights")


def toy_protocol(r: dict) -> str:
    return ("not in the paper (its mechanism's prediction); toy models pretrained from scratch per corpus and seed, "
            f"{len(r['seeds'])} seeds (the default 5: seeds 3 and 4 were added after the 3-seed grid read partly, "
            "for the rule's power, with the rule unchanged; `pretraining_order.DEFAULT_SEEDS`)")


CLAIMS = (
    Claim("First-hop OCR: finetuned facts generalise to their implications", "implication rank 0.00",
          "01_two_hop_ocr", "two_hop_ocr", "first_hop", recipe_protocol),
    Claim("Second-hop OCR", "implication rank 1.80", "01_two_hop_ocr", "two_hop_ocr", "second_hop", recipe_protocol),
    Claim("Extractive scores: the fact is stored later for second-hop than for first-hop OCR",
          "informative MLPs early (first hop), late (second hop)", "02_extractive_scores", "extractive_scores",
          "storage", storage_protocol),
    Claim("First-hop OCR needs the early layers' update", "Early frozen 8.40; Late frozen 0.00",
          "03_layer_freezing", "layer_freezing", "first_hop", recipe_protocol),
    Claim("Second-hop OCR needs the late layers' update", "Late frozen 6.30; Early frozen 1.85",
          "03_layer_freezing", "layer_freezing", "second_hop", recipe_protocol),
    Claim("First-hop OCR needs the early layers, frozen during training", "Early (pre) 6.50; Late (pre) 0.10",
          "03_layer_freezing", "layer_freezing", "first_hop_pre", pre_protocol),
    Claim("Second-hop OCR needs the late layers, frozen during training", "Late (pre) 6.60; Early (pre) 0.50",
          "03_layer_freezing", "layer_freezing", "second_hop_pre", pre_protocol),
    Claim("Second-hop OCR needs the late layers' update, at the band map's lr", "Late frozen 6.30; Early frozen 1.85",
          "03_layer_freezing", "layer_freezing", "at_band_lr/second_hop", band_lr_protocol),
    Claim("Second-hop OCR needs the late layers, frozen during training, at the band map's lr",
          "Late (pre) 6.60; Early (pre) 0.50", "03_layer_freezing", "layer_freezing", "at_band_lr/second_hop_pre",
          band_lr_protocol),
    Claim("Second-hop OCR needs the late layers' update, where the sweep finds second-hop OCR",
          "Late frozen 6.30; Early frozen 1.85", "06_model_sweep", "sweep", "second_hop_at_best", cell_protocol),
    Claim("Weight grafting: the implication-training change carries over to counterfactual facts",
          "Impl F': W_F' 9.12, graft 1.13, control 8.42", "04_grafting", "grafting", "graft", graft_protocol),
    Claim("Grafting localisation: informative and downstream scores correlate", "correlated (scatter, r^2)",
          "04_grafting", "grafting", "localisation", localisation_protocol),
    Claim("Data ordering: test-people OCR stronger after joint and after facts-first training than after "
          "implications-first",
          "joint, facts-first OCR; implications-first none (Llama-3.2-1B sweep: about 1-6 against 8-9)",
          "05_data_ordering", "data_ordering", "ordering", ordering_protocol),
    Claim("From scratch (toy world): OCR needs implications of known facts in pretraining",
          "not tested (the mechanism's prediction)", "07_toyworld", "pretraining_order", "from_scratch", toy_protocol),
)


def stored_claim(claim: Claim, model: str, root: Path) -> tuple[dict, dict] | None:
    """(the results file, its stored claim entry), or None where it was not run."""
    path = root / model_folder(model) / f"{claim.result}.json"
    if not path.is_file():
        return None
    results = load_json(path)
    if "claims" not in results:
        raise ParameterError(f"{path} has no claims (made before the claim rules): rerun its chapter, "
                             f"notebooks/{claim.chapter}.ipynb")
    *sections, key = claim.key.split("/")
    for section in sections:  # an experiment saved beside the chapter's, with claims of its own
        results = results.get(section)
        if not isinstance(results, dict) or "claims" not in results:
            return None
    entry = results["claims"].get(key) if isinstance(results["claims"], dict) else None
    if entry is None:
        return None
    if not isinstance(entry, dict) or not {"verdict", "measurement", "rule"} <= entry.keys():
        raise ParameterError(f"{path}: its claim {claim.key!r} is not a claim rule's entry (verdict, measurement, "
                             f"rule): rerun its chapter, notebooks/{claim.chapter}.ipynb")
    return results, entry


def protocol_text(claim: Claim, model: str, results: dict) -> str:
    """``claim.protocol`` on a results file, or a clear error where the file lacks what it reads."""
    try:
        return claim.protocol(results)
    except (KeyError, TypeError, IndexError) as e:
        raise ParameterError(f"the {model} results of notebooks/{claim.chapter}.ipynb lack {e} (their protocol "
                             f"cannot be described): rerun that chapter") from None


def measurement(claim: Claim, model: str, root: Path) -> Measured | None:
    """The claim's stored measurement and verdict on ``model``, or None where it was not run."""
    got = stored_claim(claim, model, root)
    return None if got is None else (got[1]["measurement"], got[1]["verdict"])


def claims_table(root: Path | None = None, models: tuple[str, ...] = MODELS) -> str:
    """The Markdown table: claim (linked to its chapter), OLMo-7b, then per model the
    measurement and **verdict**; below it, per claim, how each model's protocol differs
    from the paper's and the rule behind the verdict."""
    root = results_folder(output_root() / "results" if root is None else Path(root))
    head = "| claim | OLMo-7b (paper) | " + " | ".join(models) + " |"
    lines = [head, "|" + "---|" * (2 + len(models))]
    notes = []
    for claim in CLAIMS:
        cells, protocols = [], []
        for model in models:
            got = stored_claim(claim, model, root)
            cells.append("not run" if got is None else f"{got[1]['measurement']}: **{got[1]['verdict']}**")
            if got is not None:
                protocols.append(f"`{model}`: {protocol_text(claim, model, got[0])}")
        lines.append(f"| [{claim.text}](../notebooks/{claim.chapter}) | {claim.paper} | " + " | ".join(cells) + " |")
        if protocols:
            rule = next(got[1]["rule"] for m in models if (got := stored_claim(claim, m, root)) is not None)
            notes.append(f"- **{claim.text}.** Protocol: " + "; ".join(protocols) + f". Rule: {rule}")
    if not notes:
        raise ParameterError(f"no results with claims under {root} for {', '.join(models)}: give the folder that "
                             f"holds one folder per model (results/, not results/<model>/)")
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def chapter_claims(chapter: str, root: Path | None = None, models: tuple[str, ...] = MODELS) -> str:
    """Markdown for the end of a chapter: each of its claims, the paper's OLMo-7b value, and
    per model the measurement and verdict (the claims table's rows for this chapter)."""
    root = output_root() / "results" if root is None else Path(root)
    mine = [c for c in CLAIMS if c.chapter == chapter]
    if not mine:
        raise ParameterError(f"no claim is shown by {chapter!r}; chapters: {sorted({c.chapter for c in CLAIMS})}")
    lines = []
    for claim in mine:
        parts = []
        for model in models:
            got = measurement(claim, model, root)
            if got is not None:
                parts.append(f"`{model}`: {got[0]}: **{got[1]}**")
        lines.append(f"**{claim.text}.** The paper (OLMo-7b): {claim.paper}. Here: " + "; ".join(parts) + ".")
    return "\n\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """The command line; bad input exits with status 2 and one line naming it."""
    prog = "python -m extractive_core.claims"
    parser = argparse.ArgumentParser(prog=prog, description="The claims table, from results/")
    parser.add_argument("--results", type=Path, default=None, help="results folder (default: the repository's)")
    parser.add_argument("--out", type=Path, default=None, help="Markdown file to write (default: stdout)")
    args = parser.parse_args(argv)
    with bad_input_exits(prog):
        table = claims_table(args.results)
        if args.out is not None and (args.out.is_dir() or not args.out.parent.is_dir()):
            raise ParameterError(f"--out {args.out}: give a file in an existing folder (the table is one Markdown "
                                 "file)")
    if args.out is None:
        sys.stdout.write(table)
        return
    write_atomic(args.out, table)  # never a half-written table


if __name__ == "__main__":
    main()
