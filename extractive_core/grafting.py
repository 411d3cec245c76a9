"""Weight grafting and its localisation (the paper's experiments 5 and 6).

All on the daxwug *training* people, by continued training from the base weights W:
``W_F`` (facts F), ``W_{F,Impl}`` (then implications of F), ``W_F'`` (counterfactual facts
F') and ``W_Impl`` (implications alone). If training on implications of known facts builds
an extractive structure, the change it made, ``W_{F,Impl} - W_F``, grafted onto ``W_F'``
should make the model predict the *counterfactual* implications Impl F', while the control
``W_F' + (W_Impl - W)`` (implications memorised without their facts) should not.

The phases are those of ``data_ordering``'s facts-first and implications-first orders, so
the two chapters share their runs through the run cache. Weights are never copied whole:
a row of the table is the base model with its deltas applied (``finetune.applied``).

Localisation: per point, the informative score of the implication-training delta (on the
training people's implications, at W_F) against the downstream score of the test people's
OCR (finetuning their facts at W_{F,Impl}, scored on their implications); a point is an MLP
at one display token and trained layer, or a head at one display token and trained layer
(as the paper's scatter: each component at each token position and layer); r and r^2 for
MLPs and for heads.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np


from . import claim_rules
from .claim_rules import precondition_text
from .continued_training import Setting, check_counterfactual, dataset, phase_evals, setting, finetune_test_people, train_phases
from .architecture import layer_of
from .components import PARTS
from .data_ordering import order_phases
from .datasets import Split
from .daxwug import DaxwugDataset, city_coverage
from .errors import ParameterError
from .extractive import extractive_scores
from .finetune import Delta, applied
from .metrics import mean_rank
from .models import LoadedModel
from .numerics import provenance
from .params import check_seeds
from .stats import compared, direction, interval_column, interval_text, r_squared, summarise

ROWS = ("W_F'", "graft", "control")
ROW_LABELS = {"W_F'": "W_F'", "graft": "W_F' + (W_{F,Impl} - W_F)", "control": "W_F' + (W_Impl - W)"}
COLUMNS = ("Impl F'", "Impl F", "F'")


def check_graft(lm: LoadedModel, deltas: Sequence[Delta]) -> None:
    """Every delta of a graft covers the same parameters (one missing layers the others
    changed gets a clear error). That each fits the model is ``applied``'s check."""
    names = [set(d) for d in deltas]
    for i, other in enumerate(names[1:], 1):
        if other != names[0]:
            missing = sorted({layer_of(lm.model, n) for n in names[0] ^ other}, key=lambda x: (x is None, x))
            raise ParameterError(f"the graft's deltas cover different parameters (delta 0 and delta {i} differ in "
                                 f"layers {missing}): train every delta of a graft on the same layers")


def graft_rows(deltas: dict[str, Delta]) -> dict[str, list[Delta]]:
    """The table's rows as lists of deltas to apply to W: W_F'; W_F' + (W_{F,Impl} - W_F),
    where ``"impl_after_facts"`` is that second phase's own delta; W_F' + (W_Impl - W)."""
    return {"W_F'": [deltas["counterfactual"]],
            "graft": [deltas["counterfactual"], deltas["impl_after_facts"]],
            "control": [deltas["counterfactual"], deltas["impl_alone"]]}


def table_ranks(lm: LoadedModel, facts: DaxwugDataset, counterfactual: DaxwugDataset,
                rows: dict[str, list[Delta]]) -> dict[str, dict[str, float]]:
    """Mean rank of Impl F', Impl F and F' (training people) under each row's weights."""
    splits = {"Impl F'": counterfactual.train_implications, "Impl F": facts.train_implications,
              "F'": counterfactual.train_facts}
    out = {}
    for row, deltas in rows.items():
        check_graft(lm, deltas)
        with applied(lm.model, *deltas):
            out[row] = {col: mean_rank(lm.model, lm.tokenizer, split, lm.params.autocast) for col, split in splits.items()}
    return out


def seed_deltas(lm: LoadedModel, facts: DaxwugDataset, counterfactual: DaxwugDataset, s: Setting, seed: int,
                progress: bool | None = None) -> tuple[dict[str, Delta], dict[str, float], dict[str, Any]]:
    """The four continued-training runs of one seed (their deltas), the very phases of the
    data-ordering chapter's facts-first and implications-first orders (so the run cache
    serves them to both), and the facts-first model's test-people finetuning; with each
    phase's training-people rank at its end (what it trained: learned or not), and the
    test-people run's ranks (the localisation's downstream run: its OCR and its facts)."""
    evals = phase_evals(facts)
    facts_run, impl_run = train_phases(lm, order_phases(facts, "facts_first"), evals, s, seed,
                                       label="daxwug facts_first", progress=progress)
    (alone,) = train_phases(lm, order_phases(facts, "impl_first")[:1], evals, s, seed,
                            label="daxwug impl_first", progress=progress)
    (cf,) = train_phases(lm, [("facts", counterfactual.train_facts)], phase_evals(counterfactual), s, seed,
                         label="daxwug F'", progress=progress)
    test = finetune_test_people(lm, facts, [facts_run.delta, impl_run.delta], s, seed, label="daxwug facts_first",
                         progress=progress)
    learned = {what: run.ranks(split)[-1] for what, run, split in (
        ("F", facts_run, "train_facts"), ("Impl F", impl_run, "train_implications"),
        ("Impl alone", alone, "train_implications"), ("F'", cf, "train_facts"))}
    implications = test.ranks("implications")
    downstream = {"implications": [implications[0], implications[-1]], "facts_final": test.ranks("facts")[-1]}
    return {"facts": facts_run.delta, "impl_after_facts": impl_run.delta, "impl_alone": alone.delta,
            "counterfactual": cf.delta, "test": test.delta}, learned, downstream


POINTS = {"mlp": "display token x layer", "heads": "display token x layer x head"}
LAYOUT_KEYS = ("display_tokens", "points", "shape")  # one per result (every seed's are the same)


def localisation(lm: LoadedModel, facts: DaxwugDataset, deltas: dict[str, Delta], layers: Sequence[int],
                 n_prompts: int = 20) -> dict[str, Any]:
    """The localisation scatter of one seed. Points: every (display token, layer) of the MLPs
    and every (display token, layer, head) of the heads, the scores mapped onto the tokens of
    one display prompt (the test people's first implication) and averaged over prompts
    (``Scores.display``). x: the informative score of W_{F,Impl} - W_F on the first
    ``n_prompts`` training people's implications (at W_F); y: the downstream score of the test
    people's OCR run (their facts finetuned at W_{F,Impl}), on their implications.

    Layers: the setting's trained ``layers``, where the deltas are non-zero. The trained
    layers are the last ones (``first_layer`` .. last), so a layer below them has no weight
    change (informative exactly 0) and unchanged inputs (downstream exactly 0): it would only
    add (0, 0) points. In the paper every layer trains, so its "over all layers" is this rule.

    Returns ``display_tokens``, ``points`` (the flattening order, C order: token-major, then
    layer, then head), ``shape`` per part, and per part (``mlp``, ``heads``) the flat
    ``informative`` and ``downstream`` lists (point i of one is point i of the other; 6
    significant digits), their Pearson ``r`` (signed) and ``r2`` (nan when a side is constant)."""
    display = facts.test_implications.examples[0].prompt  # both splits: "{name} zong is the"
    with applied(lm.model, deltas["facts"]):
        info = extractive_scores(lm.model, lm.tokenizer, monitored_prompts(facts, n_prompts),
                                 deltas["impl_after_facts"], display=display, n_counterfactuals=1)
    with applied(lm.model, deltas["facts"], deltas["impl_after_facts"]):
        down = extractive_scores(lm.model, lm.tokenizer, facts.test_implications, deltas["test"], display=display)
    if info.display_tokens != down.display_tokens:
        raise ParameterError(f"the informative and downstream scores sit on different display tokens "
                             f"({info.display_tokens} and {down.display_tokens}): their points would not pair up")
    informative = info.display["informative"].layers(layers)
    downstream = down.display["downstream"].layers(layers)
    out: dict[str, Any] = {"display_tokens": list(down.display_tokens), "points": dict(POINTS),
                           "shape": {comp: list(informative[comp].shape) for comp in PARTS}}
    for comp in PARTS:
        x = informative[comp].double().cpu().numpy().reshape(-1)
        y = downstream[comp].double().cpu().numpy().reshape(-1)
        r = float(np.corrcoef(x, y)[0, 1]) if x.size > 1 and x.std() > 0 and y.std() > 0 else float("nan")
        out[comp] = {"informative": [float(f"{v:.6g}") for v in x], "downstream": [float(f"{v:.6g}") for v in y],
                     "r": float(f"{r:.6g}"), "r2": float(f"{r_squared(x, y):.6g}")}
    return out


def localisation_summary(local: Sequence[dict[str, Any]], n_prompts: int, layers: Sequence[int]) -> dict[str, Any]:
    """The seeds' scatters as results store them: the point layout once (every seed's must be
    the same), per seed each part's points, ``r`` and ``r2``, and the r^2 and r summaries."""
    layout = {k: local[0][k] for k in LAYOUT_KEYS}
    for x in local[1:]:
        if {k: x[k] for k in LAYOUT_KEYS} != layout:
            raise ParameterError("the seeds' localisation points differ in layout (display tokens or shape): "
                                 "their scatters cannot be read with one layout")
    return {"n_prompts": n_prompts, "layers": list(layers), **layout,
            "per_seed": [{c: x[c] for c in PARTS} for x in local],
            **{f"{c}_r2": summarise([x[c]["r2"] for x in local]) for c in PARTS},
            **{f"{c}_r": summarise([x[c]["r"] for x in local]) for c in PARTS}}


def monitored_prompts(data: DaxwugDataset, n: int) -> Split:
    """The first ``n`` training people's implications (the ones logged per epoch)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= len(data.train_people):
        raise ParameterError(f"n_prompts must be a whole number in 2..{len(data.train_people)}, got {n!r}")
    return Split(data.train_implications.examples[:n], data.train_implications.options)


def run_grafting(lm: LoadedModel, seeds: Sequence[int] = (0, 1, 2), facts: DaxwugDataset | None = None,
                 counterfactual: DaxwugDataset | None = None, n_prompts: int = 20, progress: bool | None = None,
                 **overrides: Any) -> dict[str, Any]:
    """The grafting table (per seed, mean and interval), the paired comparisons of the graft
    against W_F' and the control on Impl F', and the localisation r^2 per seed."""
    seeds = check_seeds(seeds)
    s = setting(lm, **overrides)
    facts = dataset(s, "F") if facts is None else facts
    counterfactual = dataset(s, "F'") if counterfactual is None else counterfactual
    check_counterfactual(facts, counterfactual)
    clock = time.perf_counter()
    per_seed: list[dict[str, Any]] = []
    local: list[dict[str, Any]] = []
    for seed in seeds:
        deltas, learned, downstream = seed_deltas(lm, facts, counterfactual, s, seed, progress)
        per_seed.append({"seed": seed, **table_ranks(lm, facts, counterfactual, graft_rows(deltas)),
                         "phase_end_ranks": learned, "downstream_run": downstream})
        local.append(localisation(lm, facts, deltas, s.layers, n_prompts))
        del deltas
    table = {row: {col: summarise([r[row][col] for r in per_seed]) for col in COLUMNS} for row in ROWS}
    impl_cf = {row: [r[row]["Impl F'"] for r in per_seed] for row in ROWS}
    comparisons = graft_comparisons(impl_cf)
    out: dict[str, Any] = {
        "model": lm.params.name, "seeds": list(seeds), "setting": s.as_dict(), "chance": counterfactual.train_implications.chance,
        "test_chance": facts.test_implications.chance,
        "coverage": city_coverage(facts, counterfactual),
        "n_train_people": len(facts.train_people), "rows": {r: ROW_LABELS[r] for r in ROWS},
        "table": table, "per_seed": per_seed, "comparisons": comparisons,
        "localisation": localisation_summary(local, n_prompts, s.layers),
    }
    out["verdicts"] = verdicts(out)
    out["claims"] = claims(out)
    out["provenance"] = provenance(lm.model, time.perf_counter() - clock)
    return out


def verdicts(results: dict[str, Any]) -> dict[str, str]:
    """The file's verdicts: the direction of each paired comparison, and the claim's."""
    return {**{f"impl_cf/{k}": direction(v) for k, v in results["comparisons"].items()},
            "claim": claim_verdict(results)}


def preconditions(results: dict[str, Any]) -> dict[str, bool]:
    """What the graft needs to be able to show its effect: the draw's city coverage, and F,
    Impl F, the implications alone and F' each learned by their phase's end
    (``claim_rules.facts_learned``: every seed's rank)."""
    ends = [r["phase_end_ranks"] for r in results["per_seed"]]
    return {**results["coverage"],
            **{f"{what} learned": claim_rules.facts_learned([e[what] for e in ends]) for what in ends[0]}}


def localisation_preconditions(results: dict[str, Any]) -> dict[str, bool]:
    """What the localisation scatter needs to localise anything: its downstream run (the test
    people's facts finetuned at W_{F,Impl}) learned those facts and shows OCR on their
    implications (``claim_rules.shows_ocr``, the OCR rule's test). A file saved before the
    run's ranks were stored fails the one precondition that says so."""
    ranks = downstream_ranks(results)
    if ranks is None:
        return {"downstream run's ranks stored (rerun the chapter)": False}
    return claim_rules.run_preconditions("downstream run", ranks, results["test_chance"])


def downstream_ranks(results: dict[str, Any]) -> dict[str, list[float]] | None:
    """Per seed, the localisation's downstream run's implication rank ``before`` and ``final``
    and its ``facts_final``; None for a file saved before they were stored."""
    runs = [r.get("downstream_run") for r in results["per_seed"]]
    if any(r is None for r in runs) or "test_chance" not in results:
        return None
    return {"before": [r["implications"][0] for r in runs], "final": [r["implications"][-1] for r in runs],
            "facts_final": [r["facts_final"] for r in runs]}


def claims(results: dict[str, Any]) -> dict[str, Any]:
    """``claim_rules.graft`` on the rows' per-seed Impl F' ranks, and
    ``claim_rules.localisation`` on the scatter's per-seed points (with its downstream run's
    preconditions, ``localisation_preconditions``)."""
    impl_cf = {row: [r[row]["Impl F'"] for r in results["per_seed"]] for row in ROWS}
    local = results["localisation"]["per_seed"]
    points = {part: [(seed[part]["informative"], seed[part]["downstream"]) for seed in local] for part in PARTS}
    return {"graft": claim_rules.graft(impl_cf, results["chance"], preconditions(results)),
            "localisation": claim_rules.localisation(points, point_tokens(results["localisation"]),
                                                     preconditions=localisation_preconditions(results))}


def point_tokens(localisation: dict[str, Any]) -> dict[str, list[int]] | None:
    """Per part, the display token of each scatter point (points are token-major, ``POINTS``);
    None for results saved before the scatters kept their layout (no ``shape``)."""
    if "shape" not in localisation:
        return None
    return {part: [int(i) for i in np.repeat(np.arange(shape[0]), int(np.prod(shape[1:])))]
            for part, shape in localisation["shape"].items()}


def claim_verdict(results: dict[str, Any]) -> str:
    """The chapter's word for the graft claim's verdict (``claim_rules.graft``): ``holds``
    (agrees), ``weak`` (partly), ``does not hold``, or ``not tested`` (a precondition failed).
    A degenerate model (every row at chance) is never separated, so never ``holds``."""
    impl_cf = {row: [r[row]["Impl F'"] for r in results["per_seed"]] for row in ROWS}
    verdict: str = claim_rules.graft(impl_cf, results["chance"], preconditions(results))["verdict"]
    words = {"agrees": "holds", "partly": "weak", "does not": "does not hold"}
    return words.get(verdict, verdict)


CLAIM_TEXT = {
    "holds": "**holds** on this model: the graft's Impl F' rank is below both rows and below half of chance.",
    "weak": "holds **only weakly** on this model: the graft's Impl F' rank is separated below both rows, but stays "
            "above half of chance (a small effect).",
    "does not hold": "**does not hold** on this model: the graft's Impl F' rank is not separated below both rows.",
    "not tested": "**was not tested** on this model: a precondition of the experiment failed (see below), so the rows "
                  "could not have shown the graft's effect.",
}


def graft_comparisons(impl_cf: dict[str, list[float]]) -> dict[str, dict]:
    """The graft's Impl F' rank minus each other row's, paired over seeds, at the grafting
    rule's Bonferroni level (``claim_rules.GRAFT_K``): the chapter's sentences and the
    verdict read one interval."""
    return {f"graft - {other}": claim_rules.paired(impl_cf["graft"], impl_cf[other], claim_rules.GRAFT_K)
            for other in ("W_F'", "control")}


def grafting_table(results: dict[str, Any]):
    """The paper's table: rows of weights x columns of mean rank, 'mean [interval]' (a column
    of under 3 seeds is named ``[min-max]``: ``interval_column``)."""
    import pandas as pd

    table = results["table"]
    data = {interval_column(col, [cols[col] for cols in table.values()]):
            {results["rows"][row]: interval_text(cols[col], label=False) for row, cols in table.items()}
            for col in COLUMNS}
    return pd.DataFrame(data)


def grafting_findings(results: dict[str, Any]) -> list[str]:
    """The claim, checked: does the graft lower the rank of Impl F' below both W_F' and the
    control? With the paired differences' intervals."""
    lines = []
    for key, diff in results["comparisons"].items():
        lines.append(f"Impl F' rank, **{key}**: {interval_text(diff, signed=True)}: "
                     f"{compared('the graft', diff, key.split(' - ')[1])}.")
    graft = results["table"]["graft"]["Impl F'"]
    lines.append(f"The paper's claim (the graft makes the counterfactual implications predictable, below both the "
                 f"W_F' row and the control; Impl F' under the graft {graft['mean']:.2f}, chance "
                 f"{results['chance']:g}) " + CLAIM_TEXT[results["verdicts"]["claim"]])
    lines.append(precondition_text(preconditions(results)))
    loc = results["localisation"]
    tests = results.get("claims", {}).get("localisation", {}).get("inputs", {}).get("tests", {})
    for comp, name in (("mlp", "MLPs"), ("heads", "heads")):
        v = loc[f"{comp}_r2"]
        shape = loc.get("shape", {}).get(comp)  # results saved before per-point scatters have none
        points = (f" ({int(np.prod(shape))} points per seed: {POINTS[comp]}, "
                  f"{' x '.join(str(n) for n in shape)})" if shape else "")
        per_seed = ", ".join(f"{r:.2f}" for r in v["values"])
        test = (f"; signed r^2 {tests[comp]['statistic']:.2f} over the seeds, permutation "
                f"{claim_rules.p_text(tests[comp]['p'], tests[comp]['resamples'])} (components shuffled within "
                f"each token)" if comp in tests else "")
        lines.append(f"Localisation, {name} of layers {loc['layers'][0]}-{loc['layers'][-1]}{points}: r^2 of "
                     f"informative (implication training) against downstream (test OCR) per seed {per_seed}{test}.")
    ranks = downstream_ranks(results)
    shown = (f" (the test people's facts finetuned at W_F,Impl: implication rank {claim_rules.fmt(ranks['before'])} "
             f"-> {claim_rules.fmt(ranks['final'])}, chance {results['test_chance']:g})" if ranks else "")
    lines.append(f"Localisation's downstream run{shown}. {precondition_text(localisation_preconditions(results))}")
    return lines
