"""Data ordering (the paper's experiment 4), by continued training of a pretrained model:
does a model learn to generalise from finetuned facts only when, in its training, facts
came before their implications?

From the base model, continued training on the daxwug *training* people's facts (dax) and
implications (zong) in one of three orders: ``joint`` (both mixed, reshuffled each epoch),
``facts_first`` (facts, then implications) or ``impl_first`` (implications, then facts).
From each result, finetune on the 20 *test* people's facts only and log their implication
rank per epoch. The paper's prediction: test-people OCR after ``joint`` and ``facts_first``,
not after ``impl_first``.

Not to be confused with ``pretraining_order``, the toy world's experiment, which orders a
whole *pretraining corpus* from scratch.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

from . import claim_rules
from .claim_rules import precondition_text
from .continued_training import Setting, dataset, phase_evals, setting, finetune_test_people, train_phases
from .daxwug import DaxwugDataset, city_coverage
from .datasets import Split
from .errors import ParameterError
from .models import LoadedModel
from .numerics import provenance
from .params import check_choices, check_seeds
from .stats import compared, direction, interval_column, interval_text, summarise

ORDERS = ("joint", "facts_first", "impl_first")
COMPARISONS = (("joint", "impl_first"), ("facts_first", "impl_first"), ("joint", "facts_first"))


def check_orders(orders: object) -> list[str]:
    """A non-empty list of names from ``ORDERS``."""
    return check_choices(orders, "orders", "order", ORDERS)


def order_phases(data: DaxwugDataset, order: str) -> list[tuple[str, Split]]:
    """The training phases of ``order``, each a (name, split of training-people examples)."""
    facts, implications = data.train_facts, data.train_implications
    phases = {
        "joint": [("joint", Split.of(facts.examples + implications.examples))],
        "facts_first": [("facts", facts), ("implications", implications)],
        "impl_first": [("implications", implications), ("facts", facts)],
    }
    return phases[check_orders([order])[0]]


def run_order(lm: LoadedModel, data: DaxwugDataset, order: str, s: Setting, seed: int,
              progress: bool | None = None) -> dict[str, Any]:
    """One order and seed: the phases' per-epoch logs, then the test people's finetuning."""
    phases = order_phases(data, order)
    runs = train_phases(lm, phases, phase_evals(data), s, seed, label=f"daxwug {order}", progress=progress)
    test = finetune_test_people(lm, data, [r.delta for r in runs], s, seed, label=f"daxwug {order}", progress=progress)
    log = [{"phase": name, **row} for (name, _), run in zip(phases, runs) for row in run.log]
    return {"seed": seed, "phase_log": log, "test_facts": test.ranks("facts"),
            "test_implications": test.ranks("implications")}


def run_data_ordering(lm: LoadedModel, seeds: Sequence[int] = (0, 1, 2), orders: Sequence[str] = ORDERS,
                      data: DaxwugDataset | None = None, progress: bool | None = None,
                      **overrides: Any) -> dict[str, Any]:
    """Every order x seed (the seed drives the data shuffling of every phase). ``overrides``:
    ``lr``, ``first_layer``, ``epochs``, ``n_people`` (None: the params file's setting)."""
    seeds, orders = check_seeds(seeds), check_orders(orders)
    s = setting(lm, **overrides)
    data = dataset(s) if data is None else data
    if not isinstance(data, DaxwugDataset):
        raise ParameterError("data must be a daxwug dataset (extractive_core.daxwug.daxwug('F', n))")
    clock = time.perf_counter()
    out: dict[str, Any] = {"model": lm.params.name, "seeds": list(seeds), "setting": s.as_dict(),
                           "n_train_people": len(data.train_people), "chance": data.test_implications.chance,
                           "coverage": city_coverage(data), "orders": {}}
    for order in orders:
        per_seed = [run_order(lm, data, order, s, seed, progress) for seed in seeds]
        out["orders"][order] = {
            "phases": [name for name, _ in order_phases(data, order)],
            "per_seed": per_seed,
            "test_implications_before": summarise([r["test_implications"][0] for r in per_seed]),
            "test_implications_final": summarise([r["test_implications"][-1] for r in per_seed]),
            "test_facts_final": summarise([r["test_facts"][-1] for r in per_seed]),
            "train_facts_end": summarise([r["phase_log"][-1]["train_facts_rank"] for r in per_seed]),
            "train_implications_end": summarise([r["phase_log"][-1]["train_implications_rank"] for r in per_seed]),
        }
    out["comparisons"] = {f"{a} - {b}": comparison(finals(out, a), finals(out, b), (a, b))
                          for a, b in COMPARISONS if a in out["orders"] and b in out["orders"]}
    out["verdicts"] = verdicts(out)
    out["claims"] = claims(out)
    out["provenance"] = provenance(lm.model, time.perf_counter() - clock)
    return out


def comparison(a: Sequence[float], b: Sequence[float], pair: tuple[str, str]) -> dict:
    """``a - b`` paired over seeds: at the ordering rule's Bonferroni level where the rule
    makes this comparison (``claim_rules.ORDERING_PAIRS``), so the chapter's sentence and the
    verdict read one interval; else (joint minus facts-first, no part of the rule) at 95%."""
    rule = pair in claim_rules.ORDERING_PAIRS
    return claim_rules.paired(a, b, len(claim_rules.ORDERING_PAIRS) if rule else 1)


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    """The file's verdicts: OCR per order, and the direction of each paired comparison."""
    return {**{f"ocr/{o}": ocr_verdict(results, o) for o in results["orders"]},
            **{f"compare/{k}": direction(v) for k, v in results["comparisons"].items()}}


PHASE_TARGETS = {"facts": ("train_facts_rank",), "implications": ("train_implications_rank",),
                 "joint": ("train_facts_rank", "train_implications_rank")}


def preconditions(results: dict[str, Any]) -> dict[str, bool]:
    """What the experiment needs to be able to show its effect: the draw's city coverage,
    each phase's training data learned by the phase's end, and the test people's facts
    learned (each ``claim_rules.facts_learned``: every seed's rank below ``claim_rules.LEARNED``)."""
    out = dict(results["coverage"])
    for order, d in results["orders"].items():
        for phase in d["phases"]:
            for key in PHASE_TARGETS[phase]:
                ends = [[row for row in r["phase_log"] if row["phase"] == phase][-1][key] for r in d["per_seed"]]
                out[f"{order}: {key.removesuffix('_rank').replace('_', ' ')} learned in its phase"] = \
                    claim_rules.facts_learned(ends)
        out[f"{order}: test facts learned"] = claim_rules.facts_learned([r["test_facts"][-1] for r in d["per_seed"]])
    return out


def claims(results: dict[str, Any]) -> dict[str, Any]:
    """``claim_rules.ordering`` on the per-seed final ranks (with every order run)."""
    if not set(ORDERS) <= set(results["orders"]):
        return {}
    return {"ordering": claim_rules.ordering({o: finals(results, o) for o in ORDERS}, preconditions(results))}


def finals(results: dict[str, Any], order: str) -> list[float]:
    """Per seed, the test people's final implication rank after ``order``."""
    return [r["test_implications"][-1] for r in results["orders"][order]["per_seed"]]


def ocr_verdict(results: dict[str, Any], order: str) -> str:
    """``OCR`` when the claim rule for out-of-context reasoning (``claim_rules.ocr``) reads
    ``agrees`` or ``partly`` on the test people (their implication rank fell, seed by seed,
    to an interval below chance - 1), ``not tested`` when a seed did not learn the test
    people's facts (``claim_rules.facts_learned``), else ``no OCR``. A degenerate model
    (constant logits) sits at chance and gets ``no OCR``."""
    per_seed = results["orders"][order]["per_seed"]
    c = claim_rules.ocr([r["test_implications"][0] for r in per_seed], [r["test_implications"][-1] for r in per_seed],
                        [r["test_facts"][-1] for r in per_seed], results["chance"])
    return {"agrees": "OCR", "partly": "OCR", claim_rules.NOT_TESTED: claim_rules.NOT_TESTED}.get(c["verdict"], "no OCR")


# The ordering table's interval columns: name -> the order's summary it shows.
TABLE_COLUMNS = {"training facts (end)": "train_facts_end", "training implications (end)": "train_implications_end",
                 "test implications, before": "test_implications_before",
                 "test implications, after": "test_implications_final"}


def ordering_table(results: dict[str, Any]):
    """One row per order: training-people ranks at the end of continued training, test
    people's implication rank before and after finetuning on their facts, 'mean [interval]'
    (a column of under 3 seeds is named ``[min-max]``: ``interval_column``)."""
    import pandas as pd

    orders = results["orders"]
    data = {interval_column(name, [d[key] for d in orders.values()]):
            {order: interval_text(d[key], label=False) for order, d in orders.items()}
            for name, key in TABLE_COLUMNS.items()}
    data["per seed, after"] = {order: ", ".join(f"{v:.2f}" for v in d["test_implications_final"]["values"])
                               for order, d in orders.items()}
    data["verdict"] = {order: results["verdicts"][f"ocr/{order}"] for order in orders}
    return pd.DataFrame(data)


ORDERING_TEXT = {"agrees": "**holds** on this model", "partly": "holds **only in part** on this model",
                 "does not": "**does not hold** on this model",
                 "not tested": "**was not tested** on this model (a precondition failed)"}


def ordering_findings(results: dict[str, Any]) -> list[str]:
    """Sentences read off the run: each paired comparison with its interval, and whether
    the paper's prediction holds on this model."""
    lines = []
    for key, diff in results["comparisons"].items():
        a, b = key.split(" - ")
        lines.append(f"**{a}** minus **{b}**, test people's final implication rank: "
                     f"{interval_text(diff, signed=True)}: "
                     f"{compared(a, diff, b)}.")
    if "ordering" in results.get("claims", {}):
        c = results["claims"]["ordering"]
        v = results["verdicts"]
        lines.append(
            "The paper's prediction (test-people OCR after joint and facts-first training, below implications-first) "
            + ORDERING_TEXT[c["verdict"]] + f": {c['measurement']}. OCR verdicts per order: joint {v['ocr/joint']}, "
              f"facts-first {v['ocr/facts_first']}, implications-first {v['ocr/impl_first']}.")
        lines.append(precondition_text(c["preconditions"]))
    return lines
