"""The claims table on the book's first page, computed from results/: each claim of the
paper, what the paper reports for OLMo-7b, this project's measurement on the default model
and on the toy model (value, seeds, interval) and a verdict per model: ``agrees``,
``partly`` or ``does not``, by a rule written next to each claim.

    python -m extractive_core.claims [--results DIR] [--out book/claims.md]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import ParameterError
from .two_hop_verdicts import finding
from .params import load_params
from .results import load_json, model_folder, output_root
from .stats import interval_text, summarise
from .storage import write_atomic

MODELS = ("gemma3_270m", "toyworld")
Measured = tuple[str, str]  # (measurement, verdict)


def two_hop(hop: str) -> Callable[[dict, str], Measured]:
    """Final implication rank; the two-hop chapter's own finding (``two_hop_verdicts.finding``): ``clear``
    OCR agrees, ``weak`` partly, ``none`` does not."""
    def measure(r: dict, model: str) -> Measured:
        final = summarise([s["test_rank"][-1] for s in r[hop]["per_seed"].values()])
        verdict = {"clear": "agrees", "weak": "partly"}.get(finding(r, hop), "does not")
        return f"implication rank {interval_text(final)}", verdict
    return measure


def freezing(hop: str, needed: str) -> Callable[[dict, str], Measured]:
    """Implication rank with the ``needed`` block frozen after training against the other
    block frozen; ``agrees`` when every seed is worse with ``needed`` frozen than every seed
    with nothing or the other block frozen (the chapter's verdict), ``partly`` when only the
    means are in that order, else ``does not``."""
    other = "Late" if needed == "Early" else "Early"

    def measure(r: dict, model: str) -> Measured:
        rows = r["hops"][hop]
        hit, miss = rows[needed]["implication"], rows[other]["implication"]
        verdict = "agrees" if r["verdicts"][hop] == "separated" else "partly" if hit["mean"] > miss["mean"] \
            else "does not"
        return f"{needed} frozen {interval_text(hit)}; {other} frozen {miss['mean']:.2f}", verdict
    return measure


def late_shares(entry: dict, late_start: int) -> list[float]:
    """Per seed: the late block's share of the positive informative MLP score."""
    shares = []
    for totals in entry["scores"]["informative"]["layer_totals_per_seed"]["mlp"]:
        pos = np.clip(np.asarray(totals, float), 0, None)
        shares.append(float(pos[late_start:].sum() / pos.sum()) if pos.sum() > 0 else float("nan"))
    return shares


def storage(r: dict, model: str) -> Measured:
    """Late block's share of the informative MLP score, first hop against second hop;
    ``agrees`` when the second hop's share is larger in every seed, ``partly`` in the mean."""
    late = load_params(model).late_start
    if late is None:
        raise ParameterError(f"params/{model}.yaml has no late_start")
    first, second = (late_shares(r["hops"][h], late) for h in ("first_hop", "second_hop"))
    every = all(b > a for a, b in zip(first, second))
    verdict = "agrees" if every else "partly" if np.mean(second) > np.mean(first) else "does not"
    return (f"late-layer share of the informative MLP score: first hop {np.mean(first):.0%}, second hop "
            f"{np.mean(second):.0%} ({len(first)} seeds)"), verdict


def ordering(r: dict, model: str) -> Measured:
    """Per order, the test people's final implication rank and the chapter's OCR verdict;
    ``agrees`` when joint and facts-first show OCR and implications-first does not, ``partly``
    when two of the three match, else ``does not``."""
    want = {"joint": "OCR", "facts_first": "OCR", "impl_first": "no OCR"}
    got = {o: r["verdicts"][f"ocr/{o}"] for o in want if f"ocr/{o}" in r["verdicts"]}
    matches = sum(got.get(o) == v for o, v in want.items())
    verdict = "agrees" if matches == 3 else "partly" if matches == 2 else "does not"
    parts = [f"{o} {r['orders'][o]['test_implications_final']['mean']:.2f} ({got[o]})" for o in got]
    return f"{'; '.join(parts)} ({len(r['seeds'])} seeds)", verdict


def graft(r: dict, model: str) -> Measured:
    """The graft's Impl F' rank and its paired differences; the chapter's claim verdict:
    ``holds`` is ``agrees``, ``weak`` is ``partly``."""
    rank = {row: r["table"][row]["Impl F'"] for row in ("W_F'", "graft", "control")}
    diffs = "; ".join(f"{k} {interval_text(v, signed=True, label=False)}" for k, v in r["comparisons"].items())
    verdict = {"holds": "agrees", "weak": "partly"}.get(r["verdicts"]["claim"], "does not")
    base = rank["W_F'"]["mean"]
    return (f"Impl F': W_F' {base:.2f}, graft {interval_text(rank['graft'])}, control "
            f"{rank['control']['mean']:.2f}; {diffs}"), verdict


def localisation(r: dict, model: str) -> Measured:
    """r^2 of informative against downstream scores; ``agrees`` when the mean r^2 of MLPs or
    of heads is at least 0.5, ``partly`` at least 0.2, else ``does not``."""
    loc = r["localisation"]
    best = max(loc["mlp_r2"]["mean"], loc["heads_r2"]["mean"])
    verdict = "agrees" if best >= 0.5 else "partly" if best >= 0.2 else "does not"
    return f"r^2 MLPs {interval_text(loc['mlp_r2'])}; heads {loc['heads_r2']['mean']:.2f}", verdict


def from_scratch(r: dict, model: str) -> Measured:
    """Toy world: ``facts_first`` against the corpora without implications of known facts
    (``impl_first_strict``, ``no_impl``) on both hops; ``agrees`` when better (every seed)
    in all four comparisons, ``partly`` in some, else ``does not``."""
    wanted = [r["verdicts"][h][m] for h in ("first_hop", "second_hop") for m in ("impl_first_strict", "no_impl")
              if m in r["verdicts"].get(h, {})]
    better = sum(v == "better" for v in wanted)
    verdict = "agrees" if wanted and better == len(wanted) else "partly" if better else "does not"
    ff = r["modes"]["facts_first"]
    return (f"facts_first final implication rank: first hop {ff['first_hop']['mean']:.2f}, second hop "
            f"{ff['second_hop']['mean']:.2f}; better in {better} of {len(wanted)} comparisons "
            f"({len(r['seeds'])} seeds)"), verdict


@dataclass(frozen=True)
class Claim:
    text: str
    paper: str  # what the paper reports for OLMo-7b
    chapter: str  # the notebook page that shows it
    result: str  # results/<model>/<result>.json
    measure: Callable[[dict, str], Measured]


CLAIMS = (
    Claim("First-hop OCR: finetuned facts generalise to their implications", "implication rank 0.00",
          "01_two_hop_ocr", "two_hop_ocr", two_hop("first_hop")),
    Claim("Second-hop OCR", "implication rank 1.80", "01_two_hop_ocr", "two_hop_ocr", two_hop("second_hop")),
    Claim("Extractive scores: the fact is stored later for second-hop than for first-hop OCR",
          "informative MLPs early (first hop), late (second hop)", "02_extractive_scores", "extractive_scores", storage),
    Claim("First-hop OCR needs the early layers' update", "Early frozen 8.40; Late frozen 0.00",
          "03_layer_freezing", "layer_freezing", freezing("first_hop", "Early")),
    Claim("Second-hop OCR needs the late layers' update", "Late frozen 6.30; Early frozen 1.85",
          "03_layer_freezing", "layer_freezing", freezing("second_hop", "Late")),
    Claim("Weight grafting: the implication-training change carries over to counterfactual facts",
          "Impl F': W_F' 9.12, graft 1.13, control 8.42", "04_grafting", "grafting", graft),
    Claim("Grafting localisation: informative and downstream scores correlate", "correlated (scatter, r^2)",
          "04_grafting", "grafting", localisation),
    Claim("Data ordering: OCR after joint and facts-first training, none after implications-first",
          "joint, facts-first OCR; implications-first none (Llama-3.2-1B sweep: about 1-6 against 8-9)",
          "05_data_ordering", "data_ordering", ordering),
    Claim("From scratch (toy world): OCR needs implications of known facts in pretraining",
          "not tested (the mechanism's prediction)", "07_toyworld", "pretraining_order", from_scratch),
)


def measurement(claim: Claim, model: str, root: Path) -> Measured | None:
    """The claim's measurement and verdict on ``model``, or None where it was not run."""
    path = root / model_folder(model) / f"{claim.result}.json"
    return claim.measure(load_json(path), model) if path.is_file() else None


def claims_table(root: Path | None = None, models: tuple[str, ...] = MODELS) -> str:
    """The Markdown table: claim (linked to its chapter), OLMo-7b, then per model the
    measurement and **verdict**."""
    root = output_root() / "results" if root is None else Path(root)
    if not root.is_dir():
        raise ParameterError(f"no results folder at {root}: run the notebooks first (make notebooks)")
    head = "| claim | OLMo-7b (paper) | " + " | ".join(models) + " |"
    lines = [head, "|" + "---|" * (2 + len(models))]
    for claim in CLAIMS:
        cells = []
        for model in models:
            got = measurement(claim, model, root)
            cells.append("not run" if got is None else f"{got[0]}: **{got[1]}**")
        lines.append(f"| [{claim.text}](../notebooks/{claim.chapter}) | {claim.paper} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


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


def main() -> None:
    parser = argparse.ArgumentParser(description="The claims table, from results/")
    parser.add_argument("--results", type=Path, default=None, help="results folder (default: the repository's)")
    parser.add_argument("--out", type=Path, default=None, help="Markdown file to write (default: stdout)")
    args = parser.parse_args()
    table = claims_table(args.results)
    if args.out is None:
        sys.stdout.write(table)
        return
    write_atomic(args.out, table)  # never a half-written table


if __name__ == "__main__":
    main()
