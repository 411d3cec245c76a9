"""The components whose extractive scores the paper maps: every layer's MLP and every
attention head, named like TransformerLens hook points, and hooks that read, replace and
differentiate their outputs.

- ``blocks.{l}.mlp``: the output of layer ``l``'s MLP module (before any post-MLP norm, as in
  Gemma); its weights are those of the MLP's linear maps.
- ``blocks.{l}.attn.head{h}``: head ``h``'s output, i.e. its slice of the input of the
  attention's output map; its weights are its rows of the query map, its columns of the
  output map, and the rows of its key/value head in the key and value maps.

A quantity of every component (an output, a gradient, a score) is one ``PerComponent``:
``mlp`` shaped ``[..., layer, ...]`` and ``heads`` ``[..., layer, head, ...]``, with the
arithmetic the scores need, and its two names are the keys of every results file.

Grouped-query attention (Gemma 3 270m: 4 query heads share 1 key/value head): a key/value
head serves ``n_rep`` query heads. **Convention:** each query head is credited with
``1/n_rep`` of the shared key and value weight changes, in the informative score and in the
exact check alike, so the credits of a group add up to the whole change. Norm weights
(Gemma's q/k norms, every RMSNorm) are not part of any component; their share of the weight
change is left unattributed. Module paths and the linear maps' roles come from
``architecture``; nothing here branches on a model name or names a projection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, Union, cast

import torch
from torch import nn
from transformers import PreTrainedModel

from .architecture import ATTN_ROLES, LinearMap, blocks, checked_layout, decoder, layout, linear_maps
from .errors import ParameterError

PARTS = ("mlp", "heads")  # the fields of PerComponent: the keys of every results file


@dataclass(frozen=True, eq=False)
class PerComponent(Mapping[str, torch.Tensor]):
    """One quantity for every component: ``mlp`` ``[*lead, layer, *trail]`` and ``heads``
    ``[*lead, layer, head, *trail]``, ``trail`` trailing dimensions long (1 for outputs and
    gradients of width d_model or d_head, 0 for scores). For example outputs ``[batch, seq,
    layer, d]`` / ``[batch, seq, layer, head, d_head]``, per-token scores ``[batch, seq, layer]``
    / ``[batch, seq, layer, head]``, totals ``[layer]`` / ``[layer, head]``.

    ``a - b``, ``a + b``, ``a * b`` (another PerComponent, or a number) and ``-a`` act part by
    part; ``a.dot(b)`` is ``(a * b)`` summed over the last dimension; ``sum``/``mean`` reduce
    a leading dimension; ``weighted`` multiplies by a tensor over the leading dimensions (a
    token mask); ``at(layer, head)`` is one component's slice; ``by_layer`` sums a score's
    heads per layer. It reads as a mapping ``{"mlp": ..., "heads": ...}``."""

    mlp: torch.Tensor
    heads: torch.Tensor
    trail: int = 0

    def __post_init__(self) -> None:
        axis = self.layer_axis
        if axis < 0 or self.heads.dim() != self.mlp.dim() + 1 or self.heads.shape[:axis + 1] != self.mlp.shape[:axis + 1]:
            raise ParameterError(f"per-component shapes do not fit: mlp {tuple(self.mlp.shape)} [..., layer, *trail] and "
                                 f"heads {tuple(self.heads.shape)} [..., layer, head, *trail] with {self.trail} trailing dims")

    @property
    def layer_axis(self) -> int:
        """The layer dimension (of both parts); the heads' head dimension follows it."""
        return self.mlp.dim() - 1 - self.trail

    def __getitem__(self, part: str) -> torch.Tensor:
        if part not in PARTS:
            raise KeyError(part)
        return cast(torch.Tensor, getattr(self, part))

    def __iter__(self) -> Iterator[str]:
        return iter(PARTS)

    def __len__(self) -> int:
        return len(PARTS)

    def map(self, f: Callable[[torch.Tensor], torch.Tensor], trail: int | None = None) -> PerComponent:
        """``f`` applied to each part (``trail``: the result's trailing dims, default unchanged)."""
        return PerComponent(f(self.mlp), f(self.heads), self.trail if trail is None else trail)

    def _with(self, other: Operand, op: Callable[[Any, Any], torch.Tensor]) -> PerComponent:
        if isinstance(other, PerComponent):
            if other.trail != self.trail:
                raise ParameterError(f"cannot combine per-component values of {self.trail} and {other.trail} trailing dims")
            return PerComponent(op(self.mlp, other.mlp), op(self.heads, other.heads), self.trail)
        if isinstance(other, (int, float)):
            return self.map(lambda t: op(t, other))
        raise TypeError(f"a PerComponent combines with another or with a number, not {type(other).__name__} "
                        "(weighted() multiplies by a tensor over the leading dimensions)")

    def __add__(self, other: Operand) -> PerComponent:
        return self._with(other, lambda a, b: a + b)

    def __sub__(self, other: Operand) -> PerComponent:
        return self._with(other, lambda a, b: a - b)

    def __mul__(self, other: Operand) -> PerComponent:
        return self._with(other, lambda a, b: a * b)

    def __rmul__(self, other: float) -> PerComponent:
        return self.map(lambda t: other * t)

    def __neg__(self) -> PerComponent:
        return self.map(lambda t: -t)

    def dot(self, other: PerComponent) -> PerComponent:
        """``(self * other)`` summed over the last dimension (d_model, d_head): one trailing
        dimension fewer."""
        if self.trail < 1:
            raise ParameterError("dot needs a trailing dimension to sum over (outputs or gradients, not scores)")
        return (self * other).map(lambda t: t.sum(-1), self.trail - 1)

    def _leading(self, dim: int) -> int:
        if isinstance(dim, bool) or not isinstance(dim, int) or not 0 <= dim < self.layer_axis:
            raise ParameterError(f"dim must be a leading dimension, 0..{self.layer_axis - 1}, got {dim!r}")
        return dim

    def sum(self, dim: int) -> PerComponent:
        """Summed over leading dimension ``dim`` (e.g. 1: the tokens of ``[batch, seq, ...]``)."""
        dim = self._leading(dim)
        return self.map(lambda t: t.sum(dim))

    def mean(self, dim: int) -> PerComponent:
        """Averaged over leading dimension ``dim`` (e.g. 0: the prompts)."""
        dim = self._leading(dim)
        return self.map(lambda t: t.mean(dim))

    def weighted(self, w: torch.Tensor) -> PerComponent:
        """Each entry times ``w`` of its leading dimensions (e.g. a ``[batch, seq]`` token mask)."""
        if tuple(w.shape) != tuple(self.mlp.shape[:w.dim()]) or w.dim() > self.layer_axis:
            raise ParameterError(f"weights {tuple(w.shape)} do not match the leading dimensions of {tuple(self.mlp.shape)}")
        return self.map(lambda t: t * w.reshape(*w.shape, *([1] * (t.dim() - w.dim()))))

    def to(self, *args: Any, **kwargs: Any) -> PerComponent:
        """``Tensor.to`` on each part (a dtype, a device)."""
        return self.map(lambda t: t.to(*args, **kwargs))

    def at(self, layer: int, head: int | None = None) -> torch.Tensor:
        """One component's slice, ``[*lead, *trail]``: layer ``layer``'s MLP (``head`` None)
        or its head ``head``."""
        axis = self.layer_axis
        if head is None:
            return self.mlp.select(axis, layer)
        return self.heads.select(axis, layer).select(axis, head)

    def layers(self, layers: Sequence[int]) -> PerComponent:
        """Only the given layers, in that order."""
        index = torch.tensor(list(layers), dtype=torch.long, device=self.mlp.device)
        return self.map(lambda t: t.index_select(self.layer_axis, index))

    def by_layer(self) -> dict[str, torch.Tensor]:
        """A score per layer, ``[*lead, layer]`` each: ``mlp`` as it is, ``heads`` summed over
        the layer's heads (a map's columns)."""
        if self.trail:
            raise ParameterError("by_layer sums the heads of a score; this quantity has trailing dimensions")
        return {"mlp": self.mlp, "heads": self.heads.sum(-1)}


Operand = Union[PerComponent, int, float]


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
    against the output map's shape; the blocks' linear maps checked against the layout
    (``architecture.checked_layout``)."""
    checked_layout(model)
    config = model.config
    n_heads = int(config.num_attention_heads)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // n_heads)
    geo = Geometry(len(blocks(model)), n_heads, n_kv, head_dim)
    output = linear(model, 0, "output")
    if output.in_features != n_heads * head_dim or n_heads % n_kv:
        raise ParameterError(f"attention sizes do not add up: {n_heads} heads x {head_dim} vs the output "
                             f"map's {output.in_features} inputs, {n_kv} key/value heads")
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


def attn_map(model: PreTrainedModel, layer: int, role: str) -> LinearMap:
    """The layer's attention map of ``role``: ``"query"``, ``"key"``, ``"value"`` or ``"output"``."""
    if role not in ATTN_ROLES:
        raise ParameterError(f"{role!r} is not an attention map; choose from {ATTN_ROLES}")
    return next(m for m in linear_maps(model, layer) if m.role == role)


def linear(model: PreTrainedModel, layer: int, role: str) -> nn.Linear:
    """The layer's attention map of ``role`` (``attn_map``), as a module."""
    return cast(nn.Linear, model.get_submodule(attn_map(model, layer, role).path))


def param_name(model: PreTrainedModel, layer: int, role: str, kind: str = "weight") -> str:
    """The parameter name of the weight or bias of the layer's attention map of ``role``, as in
    ``named_parameters``."""
    return attn_map(model, layer, role).param(kind)


def head_rows(geo: Geometry, role: str, head: int) -> tuple[slice, float]:
    """The rows (query, key, value maps) or columns (output map) of a map that belong to
    ``head``, and the share of them credited to it (``1/n_rep`` for a shared key/value head)."""
    if role in ("query", "output"):
        return slice(head * geo.head_dim, (head + 1) * geo.head_dim), 1.0
    kv = head // geo.n_rep
    return slice(kv * geo.head_dim, (kv + 1) * geo.head_dim), 1.0 / geo.n_rep


def component_delta(model: PreTrainedModel, delta: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    """The part of ``delta`` that belongs to one component, as full-shaped tensors (zero
    elsewhere), ready for ``finetune.applied``. Maps absent from ``delta`` are skipped."""
    layer, head = parse(model, name)
    out: dict[str, torch.Tensor] = {}
    maps = linear_maps(model, layer)
    if head is None:
        for m in maps:
            for kind in ("weight", "bias"):
                key = m.param(kind)
                if m.role == "mlp" and key in delta:
                    out[key] = delta[key]
        return out
    geo = geometry(model)
    for m in maps:
        if m.role == "mlp":
            continue
        rows, share = head_rows(geo, m.role, head)
        for kind in ("weight", "bias"):
            key = m.param(kind)
            if key not in delta or (m.role == "output" and kind == "bias"):
                continue  # the output bias is no head's: unattributed
            part = torch.zeros_like(delta[key])
            if m.role == "output":
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

    def outputs(self) -> PerComponent:
        """Every output, layers stacked: ``[batch, seq, layer, d]`` / ``[batch, seq, layer, head, d_head]``."""
        return PerComponent(torch.stack(self.mlp, dim=2), torch.stack(self.heads, dim=2), trail=1)

    def gradients(self) -> PerComponent:
        """The gradients of the outputs, stacked like ``outputs``."""
        if any(t is None for t in self.mlp_grad + self.heads_grad):
            raise ParameterError("gradients were not recorded: trace with grads=True and call backward first")
        return PerComponent(torch.stack(cast(list[torch.Tensor], self.mlp_grad), dim=2),
                            torch.stack(cast(list[torch.Tensor], self.heads_grad), dim=2), trail=1)


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
            handles.append(linear(model, l, "output").register_forward_pre_hook(on_heads(l)))
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
