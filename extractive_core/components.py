"""The components whose extractive scores the paper maps: every layer's MLP and every
attention head, named like TransformerLens hook points, and hooks that read, replace and
differentiate their outputs.

- ``blocks.{l}.mlp``: the output of layer ``l``'s MLP module (before any post-MLP norm, as in
  Gemma); its linear maps are the gate, up and down projections.
- ``blocks.{l}.attn.head{h}``: head ``h``'s output, i.e. its slice of the input of the
  attention output projection; its weights are its rows of the query map, its columns of the
  output map, and the rows of its key/value head in the key and value maps.

Grouped-query attention (Gemma 3 270m: 4 query heads share 1 key/value head): a key/value
head serves ``n_rep`` query heads. **Convention:** each query head is credited with
``1/n_rep`` of the shared key and value weight changes, in the informative score and in the
exact check alike, so the credits of a group add up to the whole change. Norm weights
(Gemma's q/k norms, every RMSNorm) are not part of any component; their share of the weight
change is left unattributed. Module paths come from ``architecture.layout``; nothing here
branches on a model name.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, cast

import torch
from torch import nn
from transformers import PreTrainedModel

from .architecture import blocks, decoder, layout
from .errors import ParameterError

MLP_MAPS = ("gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Geometry:
    """Sizes that fix the components of a model."""

    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int

    @property
    def n_rep(self) -> int:
        """Query heads per key/value head."""
        return self.n_heads // self.n_kv_heads


def geometry(model: PreTrainedModel) -> Geometry:
    """Layers, query heads, key/value heads and head size, read from the config and checked
    against the output projection's shape."""
    config = model.config
    n_heads = int(config.num_attention_heads)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // n_heads)
    geo = Geometry(len(blocks(model)), n_heads, n_kv, head_dim)
    o_proj = linear(model, 0, "o_proj")
    if o_proj.in_features != n_heads * head_dim or n_heads % n_kv:
        raise ParameterError(f"attention sizes do not add up: {n_heads} heads x {head_dim} vs the output "
                             f"projection's {o_proj.in_features} inputs, {n_kv} key/value heads")
    return geo


def mlp_name(layer: int) -> str:
    return f"blocks.{layer}.mlp"


def head_name(layer: int, head: int) -> str:
    return f"blocks.{layer}.attn.head{head}"


def component_names(model: PreTrainedModel) -> list[str]:
    """Every component, layer by layer: the MLP, then the heads."""
    geo = geometry(model)
    return [n for l in range(geo.n_layers) for n in [mlp_name(l)] + [head_name(l, h) for h in range(geo.n_heads)]]


_NAME = re.compile(r"blocks\.(\d+)\.(?:(mlp)|attn\.head(\d+))$")


def parse(model: PreTrainedModel, name: str) -> tuple[int, int | None]:
    """``(layer, None)`` for an MLP, ``(layer, head)`` for a head; a clear error otherwise."""
    match = _NAME.match(name) if isinstance(name, str) else None
    geo = geometry(model)
    if not match:
        raise ParameterError(f"{name!r} is not a component name; use 'blocks.3.mlp' or 'blocks.3.attn.head0'")
    layer, head = int(match.group(1)), None if match.group(2) else int(match.group(3))
    if layer >= geo.n_layers or (head is not None and head >= geo.n_heads):
        raise ParameterError(f"{name!r} is out of range: the model has {geo.n_layers} layers x {geo.n_heads} heads")
    return layer, head


def mlp_module(model: PreTrainedModel, layer: int) -> nn.Module:
    return blocks(model)[layer].get_submodule(layout(model).mlp)


def attn_module(model: PreTrainedModel, layer: int) -> nn.Module:
    return blocks(model)[layer].get_submodule(layout(model).attn)


def linear(model: PreTrainedModel, layer: int, which: str) -> nn.Linear:
    """One of the layer's linear maps: q/k/v/o_proj (attention) or gate/up/down_proj (MLP)."""
    lay = layout(model)
    owner = lay.attn if which in lay.attn_linears else lay.mlp
    return cast(nn.Linear, blocks(model)[layer].get_submodule(f"{owner}.{which}"))


def param_name(model: PreTrainedModel, layer: int, which: str, kind: str = "weight") -> str:
    """The parameter name of a linear map's weight or bias, as in ``named_parameters``."""
    lay = layout(model)
    owner = lay.attn if which in lay.attn_linears else lay.mlp
    return f"{lay.blocks}.{layer}.{owner}.{which}.{kind}"


def head_rows(geo: Geometry, which: str, head: int) -> tuple[slice, float]:
    """The rows (q/k/v) or columns (o) of a map that belong to ``head``, and the share of
    them credited to it (``1/n_rep`` for a shared key/value head)."""
    if which in ("q_proj", "o_proj"):
        return slice(head * geo.head_dim, (head + 1) * geo.head_dim), 1.0
    kv = head // geo.n_rep
    return slice(kv * geo.head_dim, (kv + 1) * geo.head_dim), 1.0 / geo.n_rep


def component_delta(model: PreTrainedModel, delta: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """The part of ``delta`` that belongs to one component, as full-shaped tensors (zero
    elsewhere), ready for ``finetune.applied``. Maps absent from ``delta`` are skipped."""
    layer, head = parse(model, name)
    out: dict[str, torch.Tensor] = {}
    if head is None:
        for which in MLP_MAPS:
            for kind in ("weight", "bias"):
                key = param_name(model, layer, which, kind)
                if key in delta:
                    out[key] = delta[key]
        return out
    geo = geometry(model)
    for which in layout(model).attn_linears:
        rows, share = head_rows(geo, which, head)
        for kind in ("weight", "bias"):
            key = param_name(model, layer, which, kind)
            if key not in delta or (which == "o_proj" and kind == "bias"):
                continue  # the output bias is no head's: unattributed
            part = torch.zeros_like(delta[key])
            if which == "o_proj":
                part[:, rows] = delta[key][:, rows]
            else:
                part[rows] = share * delta[key][rows]
            out[key] = part
    return out


Patch = dict[tuple[int, int | None], torch.Tensor]  # (layer, None) -> MLP output, (layer, head) -> head output


@dataclass
class Record:
    """Outputs (and, after backward, their gradients) of every MLP and head:
    ``mlp[l]`` is (batch, seq, d_model), ``heads[l]`` is (batch, seq, n_heads, head_dim)."""

    mlp: list[torch.Tensor]
    heads: list[torch.Tensor]
    mlp_grad: list[torch.Tensor | None]
    heads_grad: list[torch.Tensor | None]

    def stacked(self, which: str) -> torch.Tensor:
        """One of ``mlp``, ``heads``, ``mlp_grad``, ``heads_grad`` with layers stacked on dim 2."""
        items = getattr(self, which)
        if any(t is None for t in items):
            raise ParameterError(f"{which} was not recorded: trace with grads=True and call backward first")
        return torch.stack(items, dim=2)


@contextmanager
def recording(model: PreTrainedModel, patch: Patch | None = None, grads: bool = False,
              layers: range | None = None) -> Iterator[Record]:
    """Hooks that record every MLP's and head's output (and their gradients when ``grads``),
    replacing those named in ``patch`` on the way. Only ``layers`` (default all) are hooked."""
    geo = geometry(model)
    layers = range(geo.n_layers) if layers is None else layers
    n = len(blocks(model))
    record = Record([torch.empty(0)] * n, [torch.empty(0)] * n, [None] * n, [None] * n)
    patch = patch or {}
    handles = []

    def keep_grad(store: list, layer: int, shape: tuple[int, ...] | None) -> Callable:
        def hook(grad: torch.Tensor) -> None:
            store[layer] = grad.detach() if shape is None else grad.detach().reshape(shape)
        return hook

    def on_mlp(layer: int) -> Callable:
        def hook(module: nn.Module, args: Any, output: torch.Tensor) -> torch.Tensor:
            if (layer, None) in patch:
                output = patch[(layer, None)].to(output.dtype)
            record.mlp[layer] = output.detach()
            if grads and output.requires_grad:
                output.register_hook(keep_grad(record.mlp_grad, layer, None))
            return output
        return hook

    def on_heads(layer: int) -> Callable:
        def hook(module: nn.Module, args: tuple) -> tuple:
            z = args[0]
            per_head = z.reshape(*z.shape[:-1], geo.n_heads, geo.head_dim)
            swaps = {h: t for (l, h), t in patch.items() if l == layer and h is not None}
            if swaps:
                per_head = per_head.clone()
                for h, t in swaps.items():
                    per_head[..., h, :] = t.to(z.dtype)
                z = per_head.reshape(z.shape)
            record.heads[layer] = per_head.detach()
            if grads and z.requires_grad:
                z.register_hook(keep_grad(record.heads_grad, layer, tuple(per_head.shape)))
            return (z, *args[1:])
        return hook

    try:
        for l in layers:
            handles.append(mlp_module(model, l).register_forward_hook(on_mlp(l)))
            handles.append(linear(model, l, "o_proj").register_forward_pre_hook(on_heads(l)))
        yield record
    finally:
        for h in handles:
            h.remove()


@contextmanager
def capturing_inputs(model: PreTrainedModel, which: str) -> Iterator[list[tuple[tuple, dict]]]:
    """Record the (args, kwargs) each layer's ``which`` module (``"mlp"``, ``"attn"`` or
    ``"block"``) is called with, detached, so it can be called again on them."""
    modules = {"mlp": lambda l: mlp_module(model, l), "attn": lambda l: attn_module(model, l),
               "block": lambda l: blocks(model)[l]}[which]
    n = len(blocks(model))
    calls: list[tuple[tuple, dict]] = [((), {})] * n
    handles = []

    def grab(layer: int) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            calls[layer] = (tuple(_detached(a) for a in args), {k: _detached(v) for k, v in kwargs.items()})
        return hook

    try:
        for l in range(n):
            handles.append(modules(l).register_forward_pre_hook(grab(l), with_kwargs=True))
        yield calls
    finally:
        for h in handles:
            h.remove()


def _detached(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, tuple):
        return tuple(_detached(v) for v in value)
    return value


def with_hidden(call: tuple[tuple, dict], hidden: torch.Tensor) -> tuple[tuple, dict]:
    """A recorded call with its hidden-states argument replaced."""
    args, kwargs = call
    if args:
        return (hidden, *args[1:]), kwargs
    return args, {**kwargs, "hidden_states": hidden}


def hidden_of(call: tuple[tuple, dict]) -> torch.Tensor:
    """The hidden-states argument of a recorded call."""
    args, kwargs = call
    return args[0] if args else kwargs["hidden_states"]


def run_blocks(model: PreTrainedModel, calls: list[tuple[tuple, dict]], start: int,
               hidden: torch.Tensor | None = None) -> torch.Tensor:
    """Final hidden states, running the decoder blocks from ``start`` on the inputs recorded
    by ``capturing_inputs(model, "block")`` (``hidden`` replaces block ``start``'s input).
    Patching from layer ``l`` on this way skips the unchanged blocks before it."""
    h = hidden_of(calls[start]) if hidden is None else hidden
    for layer in range(start, len(calls)):
        args, kwargs = with_hidden(calls[layer], h)
        out = blocks(model)[layer](*args, **kwargs)
        h = out[0] if isinstance(out, tuple) else out
    norm = getattr(decoder(model), "norm", None)
    if not isinstance(norm, nn.Module):
        raise ParameterError("the decoder has no final 'norm' module: add this architecture's layout in architecture.py")
    return norm(h)
