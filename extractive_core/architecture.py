"""The one place that knows how LLaMA-family causal LMs lay out their components.

Science code asks this module for the decoder blocks, a parameter's layer, the linear maps
of a block (by role: the attention's query, key, value and output maps, the MLP's maps) and
the output logits; it never branches on a model name, and no other module names a
projection weight. Components are named like TransformerLens hook points:
``blocks.{layer}.mlp`` and ``blocks.{layer}.attn``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from typing import Any, cast

import torch
from torch import nn
from transformers import PreTrainedModel

from .errors import ParameterError


ATTN_ROLES = ("query", "key", "value", "output")


@dataclass(frozen=True)
class Layout:
    """Module paths of one architecture family, relative to the causal LM: the blocks, each
    block's attention and MLP, the attention's query, key, value and output maps and the
    MLP's linear maps (all treated alike: role ``"mlp"``)."""

    blocks: str = "model.layers"
    attn: str = "self_attn"
    mlp: str = "mlp"
    query: str = "q_proj"
    key: str = "k_proj"
    value: str = "v_proj"
    output: str = "o_proj"
    mlp_linears: tuple[str, ...] = ("gate_proj", "up_proj", "down_proj")

    def maps(self) -> tuple[tuple[str, str], ...]:
        """Every linear map of a block as (role, module path in the block): the MLP's maps
        (role ``"mlp"``), then the attention's, roles ``ATTN_ROLES``."""
        return (tuple(("mlp", f"{self.mlp}.{name}") for name in self.mlp_linears)
                + tuple((role, f"{self.attn}.{getattr(self, role)}") for role in ATTN_ROLES))


LLAMA_LAYOUT = Layout()
LAYOUTS: dict[str, Layout] = {
    t: LLAMA_LAYOUT
    for t in ("llama", "qwen2", "gemma", "gemma2", "gemma3_text", "olmo", "olmo2", "mistral")
}


def layout(model: PreTrainedModel) -> Layout:
    """The layout of ``model``, keyed by its ``config.model_type``."""
    model_type = getattr(model.config, "model_type", None)
    if model_type not in LAYOUTS:
        raise ParameterError(
            f"model_type {model_type!r} is not a supported LLaMA-family layout; "
            f"supported: {sorted(LAYOUTS)}. Add an entry to LAYOUTS in architecture.py."
        )
    return LAYOUTS[model_type]


@dataclass(frozen=True)
class LinearMap:
    """One linear map of a block: its ``role`` (``"mlp"`` or one of ``ATTN_ROLES``) and its
    module path in the model, which prefixes its parameters' names."""

    role: str
    path: str

    def param(self, kind: str = "weight") -> str:
        """The name of its ``weight`` or ``bias``, as in ``named_parameters``."""
        return f"{self.path}.{kind}"


def linear_maps(model: PreTrainedModel, layer: int) -> list[LinearMap]:
    """Block ``layer``'s linear maps, in ``Layout.maps`` order."""
    lay = layout(model)
    return [LinearMap(role, f"{lay.blocks}.{layer}.{path}") for role, path in lay.maps()]


def checked_layout(model: PreTrainedModel) -> Layout:
    """The layout of ``model``, after checking that every block holds exactly the linear maps
    it names: a block with a map missing, or with a linear map the layout does not name (its
    weight change would be no component's), is a clear error, never scores of zero."""
    lay = layout(model)
    expected = [path for _, path in lay.maps()]
    for i, block in enumerate(blocks(model)):
        found = [name for name, m in block.named_modules() if isinstance(m, nn.Linear)]
        missing, extra = [p for p in expected if p not in found], [p for p in found if p not in expected]
        if missing or extra:
            raise ParameterError(
                f"model_type {model.config.model_type!r}: block {i} of {lay.blocks!r} does not have the linear "
                f"maps its layout in architecture.py expects ({', '.join(expected)}); missing {missing}, "
                f"not expected {extra}. Give this model type its own Layout in LAYOUTS in architecture.py.")
    return lay


def blocks(model: PreTrainedModel) -> nn.ModuleList:
    """The decoder blocks, in order."""
    return cast(nn.ModuleList, model.get_submodule(layout(model).blocks))


def n_layers(model: PreTrainedModel) -> int:
    """How many decoder blocks ``model`` has."""
    return len(blocks(model))


def layer_of(model: PreTrainedModel, param_name: str) -> int | None:
    """The block index a parameter belongs to, or None (embeddings, final norm)."""
    match = re.match(re.escape(layout(model).blocks) + r"\.(\d+)\.", param_name)
    return int(match.group(1)) if match else None


def decoder(model: PreTrainedModel) -> nn.Module:
    """The base model that maps token ids to final hidden states."""
    return cast(nn.Module, model.get_decoder())


def lm_logits(model: PreTrainedModel, hidden: torch.Tensor, token_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Logits from final hidden states (..., d_model), restricted to ``token_ids`` if given.

    Applies the output soft-capping of Gemma 2 style configs, so restricted logits equal
    the corresponding entries of the full forward pass.
    """
    head = cast(nn.Linear, model.get_output_embeddings())
    if token_ids is None:
        logits = head(hidden)
    else:
        weight = head.weight[token_ids]  # (n_options, d_model)
        bias = head.bias[token_ids] if getattr(head, "bias", None) is not None else None
        logits = nn.functional.linear(hidden, weight, bias)
    cap = getattr(model.config, "final_logit_softcapping", None)
    if cap:
        logits = torch.tanh(logits / cap) * cap
    return logits


class _HeadCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of ``hidden @ weight.T`` against ``targets`` in one pass over the
    output matrix, chunk by chunk with a running log-sum-exp; the gradient with respect to
    ``hidden`` (softmax-weighted rows of ``weight`` minus the target's row) is accumulated in
    the same pass, so the vocabulary-sized matrix is read once per step instead of twice and
    no (tokens x vocabulary) logits are kept. ``weight`` gets no gradient."""

    @staticmethod
    def forward(ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, chunk: int) -> torch.Tensor:
        h = hidden.detach()
        n = h.shape[0]
        top = h.new_full((n,), float("-inf"))
        total = h.new_zeros(n)
        pulled = torch.zeros_like(h)
        for start in range(0, weight.shape[0], chunk):
            w = weight[start : start + chunk]
            logits = h @ w.T
            new_top = torch.maximum(top, logits.amax(1))
            rescale = torch.exp(top - new_top)
            e = torch.exp(logits - new_top[:, None])
            total = total * rescale + e.sum(1)
            pulled = pulled * rescale[:, None] + e @ w
            top = new_top
        target_rows = weight[targets]
        loss = (top + total.log() - (h * target_rows).sum(1)).mean()
        ctx.save_for_backward((pulled / total[:, None] - target_rows) / n)
        return loss

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        (grad_hidden,) = ctx.saved_tensors
        return grad * grad_hidden, None, None, None


def answer_cross_entropy(model: PreTrainedModel, hidden: torch.Tensor, targets: torch.Tensor,
                         chunk: int = 1024) -> torch.Tensor:
    """Mean cross-entropy of the next-token logits of ``hidden`` (tokens, d_model) against
    ``targets``. A frozen float32 output layer without bias or soft-capping takes the one-pass
    path (``_HeadCrossEntropy``); any other head the plain one."""
    head = cast(nn.Linear, model.get_output_embeddings())
    plain = (head.weight.requires_grad or getattr(head, "bias", None) is not None
             or getattr(model.config, "final_logit_softcapping", None) or hidden.dtype != torch.float32
             or head.weight.dtype != torch.float32 or torch.is_autocast_enabled(hidden.device.type))
    if plain:
        return nn.functional.cross_entropy(lm_logits(model, hidden).float(), targets)
    return cast(torch.Tensor, _HeadCrossEntropy.apply(hidden, head.weight, targets, chunk))
