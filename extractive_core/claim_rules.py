"""The rules that turn a chapter's results into a verdict on one of the paper's claims, in
one vocabulary: ``agrees``, ``partly``, ``does not``, or ``not tested`` when a precondition
of the experiment failed (the experiment could not have shown the effect, so its result is
no finding either way).

Written down before the runs, and held to one standard: every ``agrees`` and ``partly``
rests on an interval over seeds or a test against a null, never on bare means.

- Conditions that share seeds are compared seed by seed: a paired t-interval of the mean
  difference (``stats.paired_difference``) must lie on the claimed side of 0.
- A rule that makes k such comparisons gives each the level 1 - 0.05 / k (Bonferroni), so
  that a result with no effect reads ``partly`` or ``agrees`` in at most about 5% of draws
  (``tests/test_claim_rules.py`` feeds every rule no-effect versions of real results).
- A bound against a fixed rank (chance, half of chance) uses the t-interval of the mean.
- Every interval assumes a spread of at least the measurement's resolution (``RESOLUTION``):
  seeds that agree exactly have no zero-width interval that any offset, however small, clears.
- Localisation is a permutation test of the scatter's correlation (``stats.permutation_r2``),
  the components shuffled only within each token (what a token position alone gives both
  scores is in the null), one-sided at 0.05 / (2 k): the level at which the intervals' one
  side errs.
- "Facts learned" is one precondition wherever a rule's results carry the fact ranks (OCR,
  freezing during training, storage, grafting, data ordering, localisation, from scratch:
  ``facts_learned``): every seed's final fact rank below ``LEARNED``; "shows OCR" is one too
  (``shows_ocr``, the OCR rule's own test): a rule whose effect lives in an OCR run (freezing,
  storage, localisation) is ``not tested`` where that run shows none (``run_preconditions``:
  the pair for a run whose scores a rule reads).

Each rule returns a ``Claim`` dict: ``verdict``, ``measurement`` (the sentence the table
prints), ``rule``, ``inputs`` (the per-seed numbers it read) and ``preconditions``. The
chapter's module computes it and stores it in its results file (``claims``); the claims
table only reads it. Torch-free, so the table builds from results alone.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .stats import kept, paired_difference, permutation_r2, t_interval

VERDICTS = ("agrees", "partly", "does not")
NOT_TESTED = "not tested"
ALPHA = 0.05  # family-wise error of a rule's comparisons on a no-effect result
LEARNED = 1.0  # a set of facts is learned when every seed's final rank is below this
# The smallest spread an interval assumes: a rank is a mean over a split's items (20 in these
# datasets), so one item moving by one place moves it by 0.05; a late-layer share is printed to
# 0.01. Seeds that agree exactly (a deterministic run, or a rank stuck at 0) would otherwise
# give a zero-width interval.
RESOLUTION = {"rank": 0.05, "share": 0.01}


def facts_learned(final_ranks: Sequence[float]) -> bool:
    """The one "facts learned" precondition of every chapter: every seed's final rank of the
    trained facts is below ``LEARNED`` (a mean could hide a seed that never learned them, and
    that seed's implication rank would then test nothing). False for no seeds."""
    ranks = [float(r) for r in final_ranks]
    return bool(ranks) and all(r < LEARNED for r in ranks)


def band_fact_learned(band: Mapping[str, Any]) -> bool:
    """A band-map point's stored ``fact_learned``; for results saved before it was stored,
    ``facts_learned`` on its worst seed's fact rank."""
    return bool(band["fact_learned"]) if "fact_learned" in band else facts_learned([band["fact"]["max"]])


Claim = dict[str, Any]


def level(k: int) -> float:
    """The confidence level of each of a rule's ``k`` comparisons (Bonferroni)."""
    return 1 - ALPHA / k


def paired(a: Sequence[float], b: Sequence[float], k: int = 1, unit: str = "rank") -> dict:
    """``a - b`` seed by seed (``stats.paired_difference``) as a rule of ``k`` comparisons
    tests it: at ``level(k)``, its spread at least ``RESOLUTION[unit]``. A chapter prints its
    comparisons from this, so its sentences and its verdict rest on the same interval."""
    return paired_difference(a, b, level(k), RESOLUTION[unit])


def below(a: Sequence[float], b: Sequence[float], k: int = 1, unit: str = "rank") -> bool:
    """Is ``a`` below ``b``, seed by seed: the paired interval of ``a - b`` (``paired``)
    entirely below 0?"""
    return lies_below(paired(a, b, k, unit))


def lies_below(difference: dict) -> bool:
    """Does a ``paired_difference`` (``a - b``) have its interval entirely below 0 (never with
    fewer than 2 seeds)?"""
    return difference["n"] >= 2 and difference["ci95"][1] < 0


def above(a: Sequence[float], b: Sequence[float], k: int = 1, unit: str = "rank") -> bool:
    """Is ``a`` above ``b``, seed by seed (``below`` the other way round)?"""
    return below(b, a, k, unit)


def upper(values: Sequence[float], k: int = 1, unit: str = "rank") -> float:
    """Upper end of the t-interval of the mean (infinite with fewer than 2 seeds)."""
    return t_interval(values, level(k), RESOLUTION[unit])[1]


def lower(values: Sequence[float], k: int = 1, unit: str = "rank") -> float:
    """Lower end of the t-interval of the mean (minus infinity with fewer than 2 seeds)."""
    return t_interval(values, level(k), RESOLUTION[unit])[0]


def claim(verdict: str, measurement: str, rule: str, inputs: dict[str, Any],
          preconditions: Mapping[str, bool] | None = None) -> Claim:
    """A rule's result; a failed precondition makes the verdict ``not tested``."""
    preconditions = dict(preconditions or {})
    failed = [name for name, ok in preconditions.items() if not ok]
    if failed:
        verdict = NOT_TESTED
        measurement += f" (precondition not met: {'; '.join(failed)})"
    return {"verdict": verdict, "measurement": measurement, "rule": rule, "inputs": inputs,
            "preconditions": preconditions}


def precondition_text(preconditions: Mapping[str, bool]) -> str:
    """One sentence: which preconditions held and which failed."""
    met = [k for k, ok in preconditions.items() if ok]
    failed = [k for k, ok in preconditions.items() if not ok]
    return ("Preconditions: " + ("all met" if not failed else "**failed**: " + "; ".join(failed))
            + (f" (met: {'; '.join(met)})" if met else "") + ".")


def fmt(values: Sequence[float]) -> str:
    """``mean [lo, hi]``: the mean of the kept values (``stats.kept``, as a chapter's table
    computes it) and its 95% t-interval; a single seed's value alone. From 2 seeds on a claim
    shows a t-interval, the kind its rule tests (which also widens it to the Bonferroni level
    and the ``RESOLUTION`` floor); a table's ``stats.interval_text`` shows the seeds' min-max
    under 3 seeds instead."""
    lo, hi = t_interval(values)
    mean = float(kept(values).mean())
    if not np.isfinite([lo, hi]).all():
        return f"{mean:.2f}"
    return f"{mean:.2f} [{lo:.2f}, {hi:.2f}]"


def p_text(p: float, resamples: int) -> str:
    """A permutation p-value as printed: at its floor 1 / (1 + resamples), ``p <= floor``."""
    at_floor = round(p * (1 + resamples)) == 1  # no resample reached the statistic
    return f"p <= {1 / (1 + resamples):.4f}" if at_floor else f"p {p:.3f}"


def seeds_text(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}"


# -- the rules ---------------------------------------------------------------------------

OCR_RULE = ("agrees: the never-trained implications' rank fell (paired t-interval of final - before below 0) to a "
            "mean whose t-interval lies below half of chance; partly: it fell, to a mean whose t-interval lies "
            "below chance - 1; else does not (t-intervals with Bonferroni over the 2). Precondition: the facts "
            "were learned (every seed's final fact rank < 1).")


def ocr_strength(before: Sequence[float], final: Sequence[float], chance: float) -> str:
    """The OCR rule's verdict on the ranks alone (``OCR_RULE`` without its precondition): the
    one definition of "shows OCR" (``shows_ocr``) that every rule reading OCR uses."""
    k = 2  # the drop, and the final rank's bound
    fell = below(final, before, k)
    return ("agrees" if fell and upper(final, k) < chance / 2 else
            "partly" if fell and upper(final, k) < chance - 1 else "does not")


def shows_ocr(before: Sequence[float], final: Sequence[float], chance: float) -> bool:
    """Does a run show OCR by the OCR rule (``ocr_strength`` at least ``partly``): its
    implication rank fell, seed by seed, to a mean whose interval lies below chance - 1?"""
    return ocr_strength(before, final, chance) != "does not"


def run_preconditions(name: str, ranks: Mapping[str, Sequence[float]], chance: float) -> dict[str, bool]:
    """What a rule that reads a finetuning run's scores needs of the run named ``name``: it
    learned its facts (``facts_learned`` on ``ranks["facts_final"]``) and shows OCR
    (``shows_ocr`` on ``ranks["before"]`` and ``ranks["final"]``, per seed): scores of an effect
    that is not there locate nothing."""
    return {f"{name} learned its facts": facts_learned(ranks["facts_final"]),
            f"{name} shows OCR": shows_ocr(ranks["before"], ranks["final"], chance)}


def ocr(before: Sequence[float], final: Sequence[float], facts_final: Sequence[float], chance: float) -> Claim:
    """Out-of-context reasoning: did finetuning on facts move their implications' rank
    (``before`` -> ``final``, per seed) well below ``chance``?"""
    verdict = ocr_strength(before, final, chance)
    return claim(verdict, f"implication rank {fmt(before)} -> {fmt(final)} (chance {chance:g}, "
                          f"{seeds_text(len(final))})", OCR_RULE,
                 {"before": list(before), "final": list(final), "facts_final": list(facts_final), "chance": chance},
                 {"facts learned": facts_learned(facts_final)})


def worse_than_both(hit: Sequence[float], whole: Sequence[float], miss: Sequence[float]) -> tuple[str, bool]:
    """The freezing rules' verdict, and whether the paper's pattern is reversed
    (``reversed_pattern``): ``agrees`` if ``hit`` (the claimed block frozen) is above both
    ``whole`` (nothing frozen) and ``miss`` (the other block frozen), paired, Bonferroni over
    the 2; ``partly`` if above one and not reversed (where freezing the other block hurts more,
    the claimed block's own cost is no support for the claim); else ``does not``."""
    reversed_ = reversed_pattern(hit, miss)
    worse = [above(hit, whole, 2), above(hit, miss, 2)]
    if all(worse):
        return "agrees", reversed_
    return ("partly" if any(worse) and not reversed_ else "does not"), reversed_


def reversed_pattern(hit: Sequence[float], miss: Sequence[float]) -> bool:
    """Does dropping (or freezing) the other block hurt more than the claimed block, paired,
    at the freezing rules' level (``below``, Bonferroni over 2)?"""
    return below(hit, miss, 2)


def freezing_claim(hit: Sequence[float], whole: Sequence[float], miss: Sequence[float], measurement: str,
                   rule: str, inputs: dict[str, Any], preconditions: Mapping[str, bool]) -> Claim:
    """A freezing rule's ``claim``, with ``reversed`` (``worse_than_both``) stored beside the
    verdict, so a chapter's sentence reads it rather than testing again. ``reversed`` records
    the paired comparison of the two blocks whatever the preconditions; only a ``does not``
    verdict reads it (a ``not tested`` claim's flag says nothing about the paper's pattern)."""
    verdict, reversed_ = worse_than_both(hit, whole, miss)
    return claim(verdict, measurement, rule, inputs, preconditions) | {"reversed": reversed_}


FREEZING_RULE = ("agrees: with the claimed block's update dropped, the implication rank is above both the whole "
                 "update's and the other block's dropped (paired t-intervals, Bonferroni over the 2); partly: above "
                 "one of them and not below the other block's dropped (a reversed pattern); else does not. "
                 "Precondition: the whole update shows OCR by the OCR rule (its implication rank fell from the "
                 "rank with every layer's update dropped to a mean whose t-interval lies below chance - 1).")


def freezing(rows: Mapping[str, Sequence[float]], needed: str, chance: float) -> Claim:
    """Layer freezing after training: ``rows`` holds per-seed implication ranks of
    ``None``, ``Early``, ``Late`` and ``All`` (the block dropped from the update); ``chance``,
    the implications' chance rank (for the OCR precondition, ``shows_ocr``)."""
    other = "Late" if needed == "Early" else "Early"
    hit, miss, whole, base = rows[needed], rows[other], rows["None"], rows["All"]
    return freezing_claim(hit, whole, miss, f"{needed} frozen {fmt(hit)}; {other} frozen {fmt(miss)}; "
                          f"nothing frozen {fmt(whole)} ({seeds_text(len(hit))})", FREEZING_RULE,
                          {row: list(v) for row, v in rows.items()} | {"needed": needed},
                          {"OCR with the whole update": shows_ocr(base, whole, chance)})


FREEZING_PRE_RULE = ("agrees: with the claimed block frozen during training (only the other block trained), the "
                     "implication rank is above both the whole model's training and the other block frozen during "
                     "training (paired t-intervals, Bonferroni over the 2); partly: above one of them and not below the "
                     "other block frozen during training (a reversed pattern); else does not. "
                     "Preconditions: training the claimed block alone (the other frozen) shows OCR by the OCR rule "
                     "(from the rank with every layer's update dropped to a mean whose t-interval lies below "
                     "chance - 1), and both frozen-during-training runs learned their facts "
                     "(every seed's final fact rank < 1).")


def freezing_pre(rows: Mapping[str, Sequence[float]], facts: Mapping[str, Sequence[float]], needed: str,
                 chance: float) -> Claim:
    """Layer freezing during training: ``rows`` holds per-seed implication ranks of ``None``
    (every block trained), ``All`` (every update dropped: the rank before finetuning) and the
    ``(pre)`` rows, ``"Early (pre)"`` trained only the late block; ``facts``, the ``(pre)``
    rows' per-seed final fact ranks. ``needed``: the block the claim says the OCR needs;
    ``chance``, the implications' chance rank (``shows_ocr``)."""
    other = "Late" if needed == "Early" else "Early"
    hit, miss, whole, base = rows[f"{needed} (pre)"], rows[f"{other} (pre)"], rows["None"], rows["All"]
    return freezing_claim(hit, whole, miss, f"{needed} frozen during training {fmt(hit)}; {other} frozen during "
                          f"training {fmt(miss)}; nothing frozen {fmt(whole)} ({seeds_text(len(hit))})",
                          FREEZING_PRE_RULE,
                          {row: list(v) for row, v in rows.items()} | {"facts": {r: list(v) for r, v in facts.items()},
                                                                       "needed": needed},
                          {f"OCR training the {needed.lower()} block alone": shows_ocr(base, miss, chance),
                           **{f"facts learned in the {row} run": facts_learned(v) for row, v in facts.items()}})


STORAGE_RULE = ("agrees: the second hop's late-block share of the positive informative MLP score is above the first "
                "hop's (paired over seeds) and above the uniform share (the late block's fraction of the layers), "
                "t-intervals with Bonferroni over the 2; partly: above the first hop's only; else does not. "
                "Preconditions: each hop's finetuning runs learned their facts and show OCR by the OCR rule (the "
                "scores are of the implications: where they did not move, the scores locate nothing), and every "
                "seed of both hops has a positive informative MLP score (else no share).")


def late_share(layer_totals: Sequence[float], late_start: int) -> float:
    """The late block's share of the positive part of per-layer informative MLP totals."""
    pos = np.clip(np.asarray(layer_totals, float), 0, None)
    return float(pos[late_start:].sum() / pos.sum()) if pos.sum() > 0 else float("nan")


def storage(first: Sequence[Sequence[float]], second: Sequence[Sequence[float]], late_start: int,
            preconditions: Mapping[str, bool]) -> Claim:
    """Where the fact is stored: per seed, each hop's informative MLP layer totals;
    ``preconditions``, the scored runs' (their facts learned, their OCR: ``run_preconditions``
    per hop)."""
    s1, s2 = [late_share(t, late_start) for t in first], [late_share(t, late_start) for t in second]
    n = len(first[0])
    uniform = (n - late_start) / n
    k = 2
    later = above(s2, s1, k, "share")
    verdict = "agrees" if later and lower(s2, k, "share") > uniform else "partly" if later else "does not"
    return claim(verdict, f"late-block share of the informative MLP score: first hop {fmt(s1)}, second hop "
                          f"{fmt(s2)}, uniform {uniform:.2f} ({seeds_text(len(s1))})", STORAGE_RULE,
                 {"first_hop": s1, "second_hop": s2, "uniform": uniform, "late_start": late_start},
                 {**preconditions,
                  "a positive informative MLP score in every seed": bool(np.isfinite(s1 + s2).all())})


ORDERING_RULE = ("agrees: after joint and after facts-first training, the test people's final implication rank is "
                 "each below the implications-first one (paired t-intervals, Bonferroni over the 2); partly: one of "
                 "the two; else does not. Preconditions: every test person's city has training people, and each "
                 "phase learned what it trained (every seed's rank < 1 at the phase's end).")


# The data-ordering rule's comparisons (each order minus implications-first), Bonferroni over them.
ORDERING_PAIRS = (("joint", "impl_first"), ("facts_first", "impl_first"))


def ordering(finals: Mapping[str, Sequence[float]], preconditions: Mapping[str, bool]) -> Claim:
    """Data ordering: per order, the test people's per-seed final implication rank."""
    k = len(ORDERING_PAIRS)
    lower_than = {o: below(finals[o], finals[b], k) for o, b in ORDERING_PAIRS}
    verdict = "agrees" if all(lower_than.values()) else "partly" if any(lower_than.values()) else "does not"
    n = len(finals["impl_first"])
    text = "; ".join(f"{o} {fmt(v)}" for o, v in finals.items())
    return claim(verdict, f"test people's final implication rank: {text} ({seeds_text(n)})", ORDERING_RULE,
                 {o: list(v) for o, v in finals.items()}, preconditions)


GRAFT_RULE = ("agrees: under the graft, the Impl F' rank is below both W_F' and the control (paired t-intervals) "
              "and its t-interval lies below half of chance (Bonferroni over the 3); partly: below both, not that "
              "low; else does not. Preconditions: F and F' and the implications of F were learned (every seed's rank "
              "< 1 at each phase's end), and every F' city has an Impl F person (so its animal was trained).")


GRAFT_K = 3  # the grafting rule's two paired comparisons and one bound, Bonferroni over them


def graft(impl_cf: Mapping[str, Sequence[float]], chance: float, preconditions: Mapping[str, bool]) -> Claim:
    """Weight grafting: per row (``W_F'``, ``graft``, ``control``), the per-seed Impl F' rank."""
    k = GRAFT_K
    both = below(impl_cf["graft"], impl_cf["W_F'"], k) and below(impl_cf["graft"], impl_cf["control"], k)
    verdict = "agrees" if both and upper(impl_cf["graft"], k) < chance / 2 else "partly" if both else "does not"
    text = "; ".join(f"{row} {fmt(v)}" for row, v in impl_cf.items())
    return claim(verdict, f"Impl F' rank: {text} (chance {chance:g}, {seeds_text(len(impl_cf['graft']))})", GRAFT_RULE,
                 {row: list(v) for row, v in impl_cf.items()} | {"chance": chance}, preconditions)


LOCALISATION_RULE = ("agrees: for MLPs and for heads, each on its own, the informative scores correlate positively "
                     "with the downstream scores over the (token, layer[, head]) points, beyond a permutation null "
                     "(downstream shuffled over the components of the same token within each seed, so that a token "
                     "position alone explains nothing; mean signed r^2 over seeds, one-sided p < 0.0125 each, the "
                     "one-sided level of the other rules' intervals); partly: one of the two; else does not. "
                     "Preconditions: the downstream run (the test people's facts finetuned) learned its facts and "
                     "shows OCR by the OCR rule: a scatter of an effect that is not there localises nothing.")


def localisation(points: Mapping[str, Sequence[tuple[Sequence[float], Sequence[float]]]],
                 tokens: Mapping[str, Sequence[int]] | None = None, resamples: int = 2000,
                 preconditions: Mapping[str, bool] | None = None) -> Claim:
    """Grafting localisation: per part (``mlp``, ``heads``), per seed the (informative,
    downstream) score of each point; ``tokens[part]``, each point's token (the permutation
    null shuffles within a token; None: over all points); ``preconditions``, the downstream
    run's (its facts learned, its OCR: ``shows_ocr``)."""
    tests = {part: permutation_r2(pairs, resamples=resamples, groups=None if tokens is None else tokens[part])
             for part, pairs in points.items()}
    hit = {part: t["p"] < ALPHA / (2 * len(points)) and t["statistic"] > 0 for part, t in tests.items()}
    verdict = "agrees" if all(hit.values()) else "partly" if any(hit.values()) else "does not"
    text = "; ".join(f"{'MLPs' if part == 'mlp' else part} signed r^2 {t['statistic']:.2f} (permutation "
                     f"{p_text(t['p'], t['resamples'])}, {t['n_points'][0]} points)" for part, t in tests.items())
    n = len(next(iter(points.values())))
    return claim(verdict, f"{text} ({seeds_text(n)})", LOCALISATION_RULE, {"tests": tests}, preconditions)


FROM_SCRATCH_RULE = ("agrees: the facts_first corpus's final implication rank is below each corpus without "
                     "implications of known facts (impl_first_strict, no_impl) on both hops (paired over pretraining "
                     "seeds, t-intervals with Bonferroni over the 4); partly: in some; else does not. Preconditions: "
                     "all four comparisons were run, and every compared run learned the facts it was finetuned on "
                     "(every seed's final fact rank < 1).")
FROM_SCRATCH_PAIRS = tuple((hop, m) for hop in ("first_hop", "second_hop") for m in ("impl_first_strict", "no_impl"))


def from_scratch(finals: Mapping[str, Mapping[str, Sequence[float]]],
                 facts_final: Mapping[str, Mapping[str, Sequence[float]]]) -> Claim:
    """Toy world pretraining order: ``finals[hop][mode]``, per-seed final implication ranks;
    ``facts_final[hop][mode]``, the same runs' final ranks of the facts they were finetuned on
    (a compared run that did not learn them tests nothing). Its inputs keep each comparison's
    paired difference (``facts_first - mode``, at the rule's Bonferroni level), which the
    chapter prints."""
    pairs = [(hop, m) for hop, m in FROM_SCRATCH_PAIRS if "facts_first" in finals.get(hop, {}) and m in finals[hop]]
    compared = {(hop, m) for hop, mode in pairs for m in ("facts_first", mode)}
    learned = all(facts_learned(facts_final.get(hop, {}).get(m, [])) for hop, m in compared)
    k = len(FROM_SCRATCH_PAIRS)
    differences = {f"{hop}/{m}": paired(finals[hop]["facts_first"], finals[hop][m], k) for hop, m in pairs}
    better = {name: lies_below(d) for name, d in differences.items()}
    passed = [name.replace("_hop/", "-hop vs ") for name, ok in better.items() if ok]
    verdict = "agrees" if len(passed) == k else "partly" if passed else "does not"
    text = "; ".join(f"{hop.replace('_', '-')} facts_first {fmt(v['facts_first'])}" for hop, v in finals.items()
                     if "facts_first" in v)
    n = len(finals[pairs[0][0]]["facts_first"]) if pairs else 0
    return claim(verdict, f"final implication rank: {text}; below in {len(passed)} of {k} comparisons"
                          f"{' (' + ', '.join(passed) + ')' if passed else ''} ({seeds_text(n)})",
                 FROM_SCRATCH_RULE, {"finals": finals, "facts_final": facts_final, "better": better,
                                     "differences": differences},
                 {"all four comparisons run": len(pairs) == k, "every compared run learned its facts": learned})
