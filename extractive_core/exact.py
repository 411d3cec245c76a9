"""The exact check of the extractive scores (an open question in the paper): for every
component, the true change of the loss that each linearised score stands for.

- informative: -(R(W + delta_C) - R(W)), only component C's weight change applied;
- upstream: how much more, under the new weights than under the old, patching C's output
  with its output on the counterfactual prompt changes R. Two versions:
  ``upstream`` holds C's outputs at their old values, as the linear score does:
  [R_W'(o_C <- o'_old) - R_W'(o_C <- o_old)] - [R_W(o_C <- o'_old) - R_W];
  ``upstream_own`` lets each model patch with its own outputs:
  [R_W'(o_C <- o'_new) - R_W'] - [R_W(o_C <- o'_old) - R_W], so it also counts what the
  weight change stored in C's output (its informative part);
- downstream: -(R_W(o_C <- o~_C) - R_W), C's old-weight output replaced by its output on the
  new model's inputs.

Signs match the linear scores (positive = helps). Each patched pass reruns only the blocks
from C's layer on, from the recorded inputs of that layer.
"""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np
import torch
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .components import (PARTS, Patch, PerComponent, capturing_inputs, component_delta, component_names, parse,
                         recording, run_blocks)
from .datasets import Split
from .errors import ParameterError
from .extractive import Prepared, Scores, check_delta, extractive_scores, frozen, loss_per_prompt
from .finetune import Delta, applied
from .models import show_progress


@dataclass
class Pass:
    """One unpatched pass: R per prompt, the blocks' recorded inputs, every output (``[batch,
    seq, layer, d]`` / ``[batch, seq, layer, head, d_head]``)."""

    loss: torch.Tensor
    calls: list
    out: PerComponent


@torch.no_grad()
def unpatched(model: PreTrainedModel, prep: Prepared) -> Pass:
    with capturing_inputs(model, "block") as calls, recording(model) as rec:
        loss = loss_per_prompt(model, prep)
    return Pass(loss, calls, rec.outputs())


@torch.no_grad()
def patched_loss(model: PreTrainedModel, prep: Prepared, base: Pass, layer: int, patch: Patch | None = None) -> torch.Tensor:
    """R per prompt with ``patch`` applied, rerunning blocks from ``layer`` on."""
    with recording(model, patch=patch, layers=range(layer, layer + 1)):
        hidden = run_blocks(model, base.calls, layer)
    return loss_per_prompt(model, prep, hidden=hidden)


@dataclass
class ExactCheck:
    """Linear and exact score per component (mean over prompts), in ``names`` order."""

    names: list[str]
    linear: dict[str, np.ndarray]
    exact: dict[str, np.ndarray]
    n_counterfactuals: int

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """Per score type and component group (mlp, heads, all): Pearson r between linear and
        exact, and relative error sum|linear - exact| / sum|exact|."""
        is_mlp = np.array([n.endswith(".mlp") for n in self.names])
        groups = dict(zip(PARTS, (is_mlp, ~is_mlp)))
        groups["all"] = np.ones(len(self.names), bool)
        return {kind: {g: agreement(self.linear[kind][m], self.exact[kind][m]) for g, m in groups.items()}
                for kind in self.linear}


def agreement(linear: np.ndarray, exact: np.ndarray) -> dict[str, float]:
    """Pearson correlation and relative error of a linear estimate against the exact values
    (nan correlation when either side is constant)."""
    linear, exact = np.asarray(linear, float), np.asarray(exact, float)
    if linear.std() == 0 or exact.std() == 0:
        r = float("nan")
    else:
        r = float(np.corrcoef(linear, exact)[0, 1])
    scale = float(np.abs(exact).sum())
    return {"r": r, "relative_error": float(np.abs(linear - exact).sum() / scale) if scale > 0 else float("nan"),
            "n": int(len(exact))}


def exact_check(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    split: Split,
    delta: Delta,
    *,
    scores: Scores | None = None,
    n_counterfactuals: int = 2,
    display: str | None = None,
    components: list[str] | None = None,
    progress: bool | None = None,
) -> ExactCheck:
    """Linear vs exact, per component, for the three scores. Upstream uses the first
    ``n_counterfactuals`` counterfactuals of each prompt (its linear value too, so both sides
    see the same pairs). ``scores``: this delta's ``extractive_scores``, if already computed."""
    check_delta(model, delta)
    if isinstance(n_counterfactuals, bool) or not isinstance(n_counterfactuals, int) or n_counterfactuals < 1:
        raise ParameterError(f"n_counterfactuals must be a whole number >= 1, got {n_counterfactuals!r}")
    names = component_names(model) if components is None else [n for n in components]
    parsed = [parse(model, n) for n in names]
    if scores is None:
        scores = extractive_scores(model, tokenizer, split, delta, display=display, n_counterfactuals=n_counterfactuals)
    prep = scores.prepared
    if prep.alignment.counterfactuals.shape[1] < n_counterfactuals:
        raise ParameterError("the scores were computed with fewer counterfactuals than the exact check asks for")
    linear = linear_totals(scores, parsed, n_counterfactuals)
    exact: dict[str, list[float]] = {"upstream": [], "upstream_own": [], "informative": [], "downstream": []}
    bar = tqdm(total=2 * len(names), desc="exact check", disable=not show_progress(progress), mininterval=1.0)
    with frozen(model):
        old = unpatched(model, prep)
        r_old = old.loss.mean()
        old_patch_effect = []
        for name, (layer, head) in zip(names, parsed):
            with applied(model, component_delta(model, delta, name)):
                exact["informative"].append(-float(patched_loss(model, prep, old, layer).mean() - r_old))
            tilde = scores.extras["tilde"].at(layer, head)
            exact["downstream"].append(-float(patched_loss(model, prep, old, layer, {(layer, head): tilde}).mean() - r_old))
            old_patch_effect.append(_patch_effect(model, prep, old, layer, head, n_counterfactuals))
            bar.update()
        with applied(model, delta):
            new = unpatched(model, prep)
            for (layer, head), before in zip(parsed, old_patch_effect):
                exact["upstream_own"].append(_patch_effect(model, prep, new, layer, head, n_counterfactuals) - before)
                held = patched_loss(model, prep, new, layer, {(layer, head): old.out.at(layer, head)})
                exact["upstream"].append(_patch_effect(model, prep, new, layer, head, n_counterfactuals,
                                                       source=old, reference=held) - before)
                bar.update()
    bar.close()
    return ExactCheck(names, linear, {k: np.array(v) for k, v in exact.items()}, n_counterfactuals)


def _patch_effect(model: PreTrainedModel, prep: Prepared, base: Pass, layer: int, head: int | None, n_cf: int,
                  source: Pass | None = None, reference: torch.Tensor | None = None) -> float:
    """Mean over prompts and their first ``n_cf`` counterfactuals of R(patched) - R: C's
    output replaced by the counterfactual's (taken from ``source``, default ``base``), R
    measured from ``reference`` (default the unpatched loss of ``base``)."""
    outputs = (source or base).out.at(layer, head)
    reference = base.loss if reference is None else reference
    total = 0.0
    for c in range(n_cf):
        swap = prep.alignment.partners(outputs, c)
        total += float((patched_loss(model, prep, base, layer, {(layer, head): swap}) - reference).mean())
    return total / n_cf


def linear_totals(scores: Scores, parsed: list[tuple[int, int | None]], n_cf: int) -> dict[str, np.ndarray]:
    """The linear scores per component summed over tokens, upstream over the same first
    ``n_cf`` counterfactuals the exact check patches with."""
    out: dict[str, np.ndarray] = {}
    for kind in ("informative", "downstream"):
        t = scores.totals(kind)
        out[kind] = np.array([float(t.at(l, h)) for l, h in parsed])
    prep = scores.prepared
    values = []
    for layer, head in parsed:  # one component at a time: counterfactual means of n_cf
        o, dg = scores.extras["old"].at(layer, head), scores.extras["dgrad"].at(layer, head)
        mean_cf = prep.alignment.counterfactual_mean(o, n_cf)
        per = (dg * (o - mean_cf)).sum(-1) * prep.alignment.mask.to(o.device)
        values.append(float(per.sum(1).mean()))
    out["upstream"] = out["upstream_own"] = np.array(values)
    return out

