"""Frozen-prefix replay: skip the blocks that finetuning does not change.

When a run trains only the blocks from layer ``start`` on (``trainable="blocks"`` with
``layers``), the embeddings and blocks ``0 .. start-1`` are frozen, so they give every
token sequence the same input to block ``start`` at every step and every evaluation of the
run. ``frozen_prefix`` computes that input once per sequence (in the first batch that holds
it, so a run computes the same values whenever it is repeated) and replays it: while the
context is open, block 0 returns the stored inputs of block ``start`` for the batch and
blocks ``1 .. start-1`` pass them through. Gradients never needed those blocks. A run that
trains the last third of a model's layers then costs about a third of the forward passes.

Sequences are right-padded (``tokens.collate``), so a token's hidden state does not depend
on the padding after it; the padded positions get zeros, which no real token attends to.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
from transformers import PreTrainedModel

from .architecture import blocks, decoder
from .components import hidden_of
from .errors import ParameterError


class _Reached(Exception):
    """Raised at block ``start``'s input to stop a filling pass early."""


@dataclass
class _State:
    start: int
    cache: dict[tuple[int, ...], torch.Tensor] = field(default_factory=dict)
    batch: tuple[torch.Tensor, torch.Tensor | None] | None = None
    filling: bool = False


def replay_start(trainable: str, layers: Any) -> int:
    """The first trained layer when only blocks from there on train, else 0 (no replay)."""
    return min(layers) if trainable == "blocks" and layers else 0


@contextmanager
def frozen_prefix(model: PreTrainedModel, start: int) -> Iterator[dict[tuple[int, ...], torch.Tensor]]:
    """Within the context, forward passes of ``model`` replay the stored inputs of block
    ``start`` instead of running blocks ``0 .. start-1`` (``start`` 0: a no-op). Yields the
    per-sequence store. Only valid while those blocks and the embeddings stay unchanged."""
    layers = blocks(model)
    if isinstance(start, bool) or not isinstance(start, int) or not 0 <= start < len(layers):
        raise ParameterError(f"start must be a layer index in 0..{len(layers) - 1}, got {start!r}")
    state = _State(start)
    if start == 0:
        yield state.cache
        return
    base = decoder(model)

    def grab(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            raise ParameterError("frozen_prefix needs forward passes called with input_ids")
        state.batch = (ids, kwargs.get("attention_mask"))

    def stub(index: int, original: Any) -> Any:
        def forward(hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            if state.filling:
                return original(hidden_states, *args, **kwargs)
            return _replayed(model, state) if index == 0 else hidden_states
        return forward

    # A block's own instance forward (accelerate's device hooks live there) is kept and restored.
    previous = [layers[i].__dict__.get("forward") for i in range(start)]
    handle = base.register_forward_pre_hook(grab, with_kwargs=True)
    try:
        for i in range(start):
            layers[i].forward = stub(i, layers[i].forward)
        yield state.cache
    finally:
        handle.remove()
        for i, kept in enumerate(previous):
            if kept is None:
                layers[i].__dict__.pop("forward", None)
            else:
                layers[i].forward = kept


def _replayed(model: PreTrainedModel, state: _State) -> torch.Tensor:
    """Block ``start``'s inputs for the current batch, (batch, seq, d), zeros at padding."""
    assert state.batch is not None
    ids, mask = state.batch
    lengths = mask.sum(1).tolist() if mask is not None else [ids.shape[1]] * len(ids)
    rows = [tuple(ids[r, :n].tolist()) for r, n in enumerate(lengths)]
    missing = [r for r, key in enumerate(rows) if key not in state.cache and key not in rows[:r]]
    if missing:
        index = torch.tensor(missing, device=ids.device)
        hidden = _prefix_of(model, state, ids[index], None if mask is None else mask[index])
        for i, r in enumerate(missing):
            state.cache[rows[r]] = hidden[i, : len(rows[r])].clone()
    first = state.cache[rows[0]]
    out = first.new_zeros((len(rows), ids.shape[1], first.shape[-1]))
    for r, key in enumerate(rows):
        out[r, : len(key)] = state.cache[key]
    return out


@torch.no_grad()
def _prefix_of(model: PreTrainedModel, state: _State, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Block ``start``'s inputs for a batch of sequences, computed by the real blocks."""
    seen: list[torch.Tensor] = []

    def catch(module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        seen.append(hidden_of((args, kwargs)).detach())
        raise _Reached

    handle = blocks(model)[state.start].register_forward_pre_hook(catch, with_kwargs=True)
    state.filling = True
    try:
        decoder(model)(input_ids=ids, attention_mask=mask)
    except _Reached:
        pass
    finally:
        state.filling = False
        handle.remove()
    if not seen:
        raise ParameterError(f"block {state.start} was never reached: is the model's decoder a LLaMA-family layout?")
    return seen[0]
