"""Extractive scores (the paper's experiment 2): which components store a finetuned fact
(informative), and which query it (upstream) and process it (downstream).

All three use the mean-logit loss R = -logit[correct] + mean(option logits) at the answer
position of each implication prompt, the finetuning delta (old weights W, new W + delta), and
give a score per prompt token x layer for every MLP and every head (one ``PerComponent``).
Positive = helps:

- informative: -dR/dW_C . delta_C, split per token as -sum_t g_t . (delta_W x_t) over the
  component's linear maps (``components`` states the grouped-query convention);
- upstream: (g_C(W) - g_C(W')) . (o_C(x) - o_C(x')), with x' a counterfactual prompt and
  outputs o on the old weights: how much more the new model relies on the component's output;
- downstream: g_C(W) . (o_C(x) - o~_C(x)), where o~_C is the component's output with its old
  weights on the new model's inputs ("strict"): what the changed inputs reaching it do.

Batched: the test prompts go through together; one forward and backward on the old weights,
one on the new, and one call of each old module on the new inputs serve every
counterfactual pair, because the counterfactual prompts are the other test prompts.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import torch
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .alignment import Alignment, align
from .architecture import decoder, linear_maps, lm_logits
from .components import (Geometry, PerComponent, attn_module, capturing_inputs, geometry, head_rows, mlp_module,
                         recording)
from .datasets import Split
from .errors import ParameterError, TrainingDivergedError
from .finetune import Delta, applied
from .metrics import correct_index, mean_logit_loss
from .tokens import Batch, collate, option_token_ids

KINDS = ("upstream", "informative", "downstream")


@dataclass
class Prepared:
    """A split made ready for scoring: padded prompts, option ids, answers, alignment."""

    batch: Batch
    option_ids: torch.Tensor
    correct: torch.Tensor
    alignment: Alignment


def prepare(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, split: Split,
            display: str | None = None, n_counterfactuals: int = 10) -> Prepared:
    """Tokenise ``split``'s prompts and align them (see ``alignment.align``)."""
    if not isinstance(split, Split) or len(split.examples) < 2:
        raise ParameterError("scores need a Split of at least 2 implication prompts (e.g. first_hop().implications)")
    device = next(model.parameters()).device
    batch = collate(tokenizer, split.examples, with_answers=False).to(device)
    option_ids = torch.tensor(option_token_ids(tokenizer, split.options), device=device)
    return Prepared(batch, option_ids, correct_index(split).to(device),
                    align(tokenizer, split, display, n_counterfactuals))


def loss_per_prompt(model: PreTrainedModel, prep: Prepared, hidden: torch.Tensor | None = None,
                    grad: bool = False) -> torch.Tensor:
    """R per prompt, (batch,). ``hidden``: final hidden states already computed (resumed runs)."""
    if hidden is None:
        embed = model.get_input_embeddings()(prep.batch.input_ids).detach()
        if grad:
            embed.requires_grad_(True)
        hidden = decoder(model)(inputs_embeds=embed, attention_mask=prep.batch.attention_mask,
                                use_cache=False).last_hidden_state
    rows = torch.arange(len(prep.correct), device=hidden.device)
    logits = lm_logits(model, hidden[rows, prep.batch.answer_pos], prep.option_ids)
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    if not torch.isfinite(logits).all():
        raise TrainingDivergedError("the model gives non-finite logits on the scored prompts: its weights (or the "
                                    "delta applied to them) diverged; scores of such a run would mean nothing")
    return mean_logit_loss(logits, prep.correct)


@contextmanager
def frozen(model: PreTrainedModel) -> Iterator[None]:
    """Weights need no gradient while scoring (gradients are taken w.r.t. activations)."""
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    was_training = model.training
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for n, p in model.named_parameters():
            p.requires_grad_(flags[n])
        model.train(was_training)


@contextmanager
def informative_terms(model: PreTrainedModel, delta: Delta, shape: tuple[int, int]) -> Iterator[PerComponent]:
    """Hooks on every linear map of every component that add g_t . (delta_W x_t + delta_b)
    per token into a ``PerComponent`` (``[batch, seq, layer]`` / ``[batch, seq, layer, head]``)
    during the backward pass: dR/dW . delta, not yet sign-flipped. Every weight change of a
    component's map is counted; the layout (``architecture``) says which maps there are."""
    geo = geometry(model)
    device = next(model.parameters()).device
    dtype = torch.promote_types(next(model.parameters()).dtype, torch.float32)
    out = PerComponent(torch.zeros((*shape, geo.n_layers), device=device, dtype=dtype),
                       torch.zeros((*shape, geo.n_layers, geo.n_heads), device=device, dtype=dtype))
    handles = []
    for layer in range(geo.n_layers):
        for m in linear_maps(model, layer):
            dw = delta.get(m.param())
            if dw is None:
                continue
            db = delta.get(m.param("bias")) if m.role != "output" else None
            term = _term(geo, out, layer, m.role, dw, db, dtype)
            handles.append(model.get_submodule(m.path).register_forward_hook(term))
    try:
        yield out
    finally:
        for h in handles:
            h.remove()


def _term(geo: Geometry, out: PerComponent, layer: int, role: str, dw: torch.Tensor,
          db: torch.Tensor | None, dtype: torch.dtype) -> Callable:
    """The forward hook of one linear map; ``dw`` and ``db`` stay where the delta is (host
    memory, on a GPU) and each moves to the map's device only while its backward hook runs,
    so the device holds one map's delta at a time, not the whole delta (a no-op on the CPU)."""
    def forward_hook(module: nn.Module, args: tuple, y: torch.Tensor) -> None:
        x = args[0].detach().to(dtype)

        def backward_hook(g: torch.Tensor) -> None:
            g = g.detach().to(dtype)
            dw_here = dw.to(g.device, dtype)  # where this map runs (a model spread over GPUs: its block's)
            db_here = None if db is None else db.to(g.device, dtype)
            if role == "output":  # input columns per head: x_h . (g dW)_h
                per = (x * (g @ dw_here)).reshape(*x.shape[:-1], geo.n_heads, geo.head_dim).sum(-1)
                out.heads[:, :, layer] += per
                return
            change = x @ dw_here.T + (db_here if db_here is not None else 0.0)
            terms = change * g
            if role == "mlp":
                out.mlp[:, :, layer] += terms.sum(-1)
                return
            per_row_head = terms.reshape(*terms.shape[:-1], -1, geo.head_dim).sum(-1)
            if role == "query":
                out.heads[:, :, layer] += per_row_head
            else:  # a shared key/value head: 1/n_rep to each query head of its group
                _, share = head_rows(geo, role, 0)
                out.heads[:, :, layer] += share * per_row_head.repeat_interleave(geo.n_rep, dim=-1)

        if y.requires_grad:
            y.register_hook(backward_hook)
    return forward_hook


@dataclass
class Trace:
    """One pass over the prompts: R per prompt, every component's output ``out`` and its
    gradient ``grad`` (``[batch, seq, layer, d]`` / ``[batch, seq, layer, head, d_head]``)."""

    loss: torch.Tensor
    out: PerComponent
    grad: PerComponent
    inputs: dict[str, list] = field(default_factory=dict)


def trace(model: PreTrainedModel, prep: Prepared, delta: Delta | None = None,
          capture: bool = False) -> tuple[Trace, PerComponent | None]:
    """Forward and backward on the current weights; with ``delta``, also the informative
    terms of that weight change; with ``capture``, the MLP and attention inputs."""
    shape = tuple(prep.batch.input_ids.shape)
    with ExitStack() as stack:
        rec = stack.enter_context(recording(model, grads=True))
        info = stack.enter_context(informative_terms(model, delta, shape)) if delta is not None else None  # type: ignore[arg-type]
        inputs = {w: stack.enter_context(capturing_inputs(model, w)) for w in (("mlp", "attn") if capture else ())}
        loss = loss_per_prompt(model, prep, grad=True)
        loss.sum().backward()
    return Trace(loss.detach(), rec.outputs(), rec.gradients(), inputs), info


@torch.no_grad()
def old_outputs_on(model: PreTrainedModel, inputs: dict[str, list]) -> PerComponent:
    """Each MLP and head with the model's current weights, called on recorded inputs:
    ``[batch, seq, layer, d]`` / ``[batch, seq, layer, head, d_head]``."""
    mlps, heads = [], []
    for layer, (args, kwargs) in enumerate(inputs["mlp"]):
        mlps.append(mlp_module(model, layer)(*args, **kwargs))
    for layer, (args, kwargs) in enumerate(inputs["attn"]):
        with recording(model, layers=range(layer, layer + 1)) as rec:
            attn_module(model, layer)(*args, **kwargs)
        heads.append(rec.heads[layer])
    return PerComponent(torch.stack(mlps, 2), torch.stack(heads, 2), trail=1)


@dataclass
class Scores:
    """Extractive scores of one delta on one split. ``per_token[kind]`` is ``[prompt, seq,
    layer]`` / ``[prompt, seq, layer, head]``; ``display[kind]`` the same mapped onto the
    display prompt's tokens and averaged over prompts. ``extras``: the outputs ``old`` (old
    weights), ``dgrad`` (old minus new gradient) and ``tilde`` (old modules on the new
    inputs), ``[prompt, seq, layer, d]`` / ``[prompt, seq, layer, head, d_head]``."""

    display_tokens: list[str]
    per_token: dict[str, PerComponent]
    prepared: Prepared
    loss_old: torch.Tensor
    loss_new: torch.Tensor
    extras: dict[str, PerComponent] = field(default_factory=dict)

    @property
    def display(self) -> dict[str, PerComponent]:
        return {k: self.prepared.alignment.to_display(v) for k, v in self.per_token.items()}

    def totals(self, kind: str) -> PerComponent:
        """Per component, summed over tokens and averaged over prompts: ``[layer]`` /
        ``[layer, head]``."""
        if kind not in self.per_token:
            raise ParameterError(f"unknown score {kind!r}; choose from {KINDS}")
        return self.per_token[kind].sum(1).mean(0)


def extractive_scores(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    split: Split,
    delta: Delta,
    *,
    display: str | None = None,
    n_counterfactuals: int = 10,
) -> Scores:
    """Upstream, informative and downstream scores of ``delta`` (a finetuning run's weight
    change on this model) on ``split``'s prompts, per token x layer for MLPs and heads."""
    check_delta(model, delta)
    prep = prepare(model, tokenizer, split, display, n_counterfactuals)
    with frozen(model):
        old, info = trace(model, prep, delta)
        assert info is not None
        with applied(model, delta):
            new, _ = trace(model, prep, capture=True)
        tilde = old_outputs_on(model, new.inputs)
    al = prep.alignment
    dtype = info.mlp.dtype
    o, g, g_new = (x.to(dtype) for x in (old.out, old.grad, new.grad))
    dgrad = g - g_new
    per_token = {
        "upstream": dgrad.dot(o - al.counterfactual_mean(o)),  # (g_C(W) - g_C(W')) . (o_C(x) - o_C(x'))
        "informative": -info,                                  # -dR/dW_C . delta_C
        "downstream": g.dot(o - tilde.to(dtype)),              # g_C(W) . (o_C(x) - o~_C(x))
    }
    mask = al.mask.to(old.loss.device)
    per_token = {kind: score.weighted(mask) for kind, score in per_token.items()}
    extras = {"tilde": tilde, "old": o, "dgrad": dgrad}
    return Scores(al.display_tokens, per_token, prep, old.loss, new.loss, extras)


def check_delta(model: PreTrainedModel, delta: Delta) -> None:
    """A clear error unless ``delta`` names this model's parameters with their shapes."""
    if not isinstance(delta, dict) or not delta:
        raise ParameterError("delta must be a non-empty dict of weight changes (FinetuneResult.delta)")
    params = dict(model.named_parameters())
    unknown = [n for n in delta if n not in params]
    wrong = [n for n in delta if n in params and tuple(delta[n].shape) != tuple(params[n].shape)]
    if unknown or wrong:
        raise ParameterError(f"this delta does not fit the model ({(unknown + wrong)[:3]} unknown or of another "
                             "shape): it was computed on another model; score it on the model it came from")


def scores_memory_bytes(changed_params: int, param_bytes: int, tokens: int, n_layers: int, d_model: int,
                        attn_width: int, d_ff: int, act_bytes: int = 4) -> int:
    """Memory ``extractive_scores`` needs on top of the model and its delta: one copy of the
    changed weights (``applied`` restores from it; host memory, which on a CPU is the same)
    plus, per prompt token and layer, the
    recorded outputs and gradients of both passes and the old modules' outputs
    (6 x (d_model + attn_width)), one pass's autograd activations (8 d_model + 4 d_ff) and
    the linear maps' inputs kept for the informative terms (d_model + attn_width + d_ff)."""
    per_token_layer = 6 * (d_model + attn_width) + 8 * d_model + 4 * d_ff + (d_model + attn_width + d_ff)
    return changed_params * param_bytes + tokens * n_layers * per_token_layer * act_bytes
