"""The one place that knows how LLaMA-family causal LMs lay out their components.

Science code asks this module for the decoder blocks, a parameter's layer and the
output logits; it never branches on a model name. Components are named like
TransformerLens hook points: ``blocks.{layer}.mlp`` and ``blocks.{layer}.attn``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from typing import cast

import torch
from torch import nn
from transformers import PreTrainedModel

from .errors import ParameterError


@dataclass(frozen=True)
class Layout:
    """Module paths of one architecture family, relative to the causal LM."""

    blocks: str = "model.layers"
    attn: str = "self_attn"
    mlp: str = "mlp"
    attn_linears: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    mlp_linears: tuple[str, ...] = ("gate_proj", "up_proj", "down_proj")


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
