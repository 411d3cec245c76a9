"""The two-hop chapter's verdict rules, read off a results file (no torch needed, so the
claims table is built from results alone)."""

from __future__ import annotations

from typing import Any

from . import claim_rules
from .claim_rules import Claim
from .datasets import HOPS

FINDINGS = {"clear": "clear out-of-context reasoning", "weak": "weak out-of-context reasoning",
            "none": "no out-of-context reasoning",
            "not tested": "not tested, since a run that did not learn its facts cannot show out-of-context reasoning"}


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    """The file's verdicts: each hop's ``finding``, from its per-seed ranks."""
    return {hop: finding(results, hop) for hop in HOPS if hop in results}


def claims(results: dict[str, Any]) -> dict[str, Claim]:
    """The claim rule's result per hop (``claim_rules.ocr``), as the results file stores it."""
    return {hop: claim(results, hop) for hop in HOPS if hop in results}


def claim(results: dict[str, Any], hop: str) -> Claim:
    """``claim_rules.ocr`` on ``hop``'s per-seed ranks."""
    r = results[hop]
    seeds = list(r["per_seed"].values())
    return claim_rules.ocr([s["test_rank"][0] for s in seeds], [s["test_rank"][-1] for s in seeds],
                           [s["train_rank"][-1] for s in seeds], r["chance_rank"])


def finding(results: dict[str, Any], hop: str) -> str:
    """``clear`` (the claim rule ``agrees``: the implications' rank fell, seed by seed, to an
    interval below half of chance), ``weak`` (``partly``: below chance - 1), ``none``, or
    ``not tested`` (a seed did not learn its facts): the verdict the book prints, as a category."""
    return {"agrees": "clear", "partly": "weak", claim_rules.NOT_TESTED: "not tested"}.get(
        claim(results, hop)["verdict"], "none")


def verdict(results: dict[str, Any], hop: str) -> str:
    """A sentence on whether ``hop`` shows OCR, read off the run (never typed in)."""
    r = results[hop]
    start, end, chance = r["test_rank"][0], r["test_rank"][-1], r["chance_rank"]
    learned = claim_rules.facts_learned([s["train_rank"][-1] for s in r["per_seed"].values()])
    facts = "the facts were learned" if learned else "not every seed learned the facts"
    return (f"**{hop.replace('_', '-')}**: {facts} (rank {r['train_rank'][-1]:.2f}); the never-trained "
            f"implications went from rank {start:.2f} to {end:.2f} (chance {chance:.1f}): {FINDINGS[finding(results, hop)]}.")
