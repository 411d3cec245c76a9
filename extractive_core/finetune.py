"""Finetuning with per-epoch rank logging, returning the weight change.

The paper's recipe: Adam with a constant learning rate, batch 8, data reshuffled each epoch
with a fixed seed, cross-entropy on the answer tokens only. ``finetune`` leaves the model's
weights as it found them and returns ``delta = W_after - W_before``; ``applied`` puts a
delta (or part of one) on the model for evaluation.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import torch
from torch import nn
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .architecture import layer_of, lm_logits, n_layers
from .datasets import Split
from .errors import ParameterError
from .metrics import autocast, final_hidden, mean_rank
from .models import show_progress
from .tokens import Batch, collate

Delta = dict[str, torch.Tensor]


def trainable_names(
    model: PreTrainedModel, trainable: str = "blocks", layers: Sequence[int] | None = None
) -> list[str]:
    """Parameter names to train: ``"blocks"`` (every transformer-block weight, the paper's
    OLMo setting) or ``"all"`` (embeddings and final norm too), optionally only in ``layers``."""
    if trainable not in ("blocks", "all"):
        raise ParameterError(f"trainable must be 'blocks' or 'all', got {trainable!r}")
    if layers is not None:
        bad = [i for i in layers if not 0 <= i < n_layers(model)]
        if bad:
            raise ParameterError(f"layers {bad} out of range 0..{n_layers(model) - 1}")
    names = []
    for name, _ in model.named_parameters():
        layer = layer_of(model, name)
        if layer is None and (trainable == "blocks" or layers is not None):
            continue
        if layers is not None and layer not in layers:
            continue
        names.append(name)
    return names


@dataclass
class FinetuneResult:
    """The weight change, one log row per epoch (epoch 0 = before training), and the
    seconds spent in each phase (data, forward, backward, optimizer, eval, total)."""

    delta: Delta
    log: list[dict[str, float | None]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def ranks(self, split: str) -> list[float]:
        """Mean rank of ``split`` at each epoch, epoch 0 first."""
        return [float(row[f"{split}_rank"] or 0.0) for row in self.log]


def answer_loss(model: PreTrainedModel, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy over answer tokens; logits are computed only where needed."""
    hidden = final_hidden(model, batch)[:, :-1]  # position t predicts token t+1
    targets = batch.labels[:, 1:]
    keep = targets != -100
    logits = lm_logits(model, hidden[keep])
    return nn.functional.cross_entropy(logits.float(), targets[keep])


def finetune(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: Split,
    evals: Mapping[str, Split],
    *,
    lr: float,
    epochs: int,
    batch_size: int = 8,
    seed: int = 0,
    trainable: str = "blocks",
    layers: Sequence[int] | None = None,
    autocast_dtype: str | None = None,
    progress: bool | None = None,
) -> FinetuneResult:
    """Train on ``train`` and log the mean rank of every split in ``evals`` per epoch.

    Dropout stays off (eval mode) so runs repeat exactly. The model's weights are
    restored afterwards; the returned ``delta`` holds what training changed.
    """
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lr, epochs, batch_size))
    if not (numbers and lr > 0 and epochs >= 0 and batch_size >= 1):
        raise ParameterError(f"need lr > 0, epochs >= 0, batch_size >= 1; got {lr!r}, {epochs!r}, {batch_size!r}")
    if not train.examples:
        raise ParameterError("the training split has no examples")
    clock = time.perf_counter()
    names = trainable_names(model, trainable, layers)
    params = dict(model.named_parameters())
    before = {n: params[n].detach().clone() for n in names}
    was_training = model.training
    flags = {n: p.requires_grad for n, p in params.items()}
    for n, p in params.items():
        p.requires_grad_(n in before)
    model.eval()
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam([params[n] for n in names], lr=lr)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = -(-len(train.examples) // batch_size)

    def log_epoch(epoch: int, loss: float | None) -> None:
        row: dict[str, float | None] = {"epoch": epoch, "loss": loss}
        with timed(result.seconds, "eval"):
            row.update({f"{k}_rank": mean_rank(model, tokenizer, s, autocast_dtype) for k, s in evals.items()})
        result.log.append(row)
        bar.set_postfix({k: f"{v:.2f}" for k, v in row.items() if k.endswith("_rank")})

    result = FinetuneResult(delta={})
    bar = tqdm(total=epochs * steps_per_epoch, desc="finetune", disable=not show_progress(progress), mininterval=1.0)
    try:
        log_epoch(0, None)
        for epoch in range(1, epochs + 1):
            order = torch.randperm(len(train.examples), generator=generator).tolist()
            losses = []
            for start in range(0, len(order), batch_size):
                with timed(result.seconds, "data"):
                    chunk = [train.examples[i] for i in order[start : start + batch_size]]
                    batch = collate(tokenizer, chunk).to(device)
                with timed(result.seconds, "forward"), autocast(model, autocast_dtype):
                    loss = answer_loss(model, batch)
                with timed(result.seconds, "backward"):
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                with timed(result.seconds, "optimizer"):
                    optimizer.step()
                losses.append(loss.item())
                bar.update()
            log_epoch(epoch, sum(losses) / len(losses))
    finally:
        bar.close()
        with torch.no_grad():
            for n in names:
                result.delta[n] = params[n].detach() - before[n]
                params[n].copy_(before[n])
        for n, p in params.items():
            p.requires_grad_(flags[n])
        model.train(was_training)
        result.seconds["total"] = time.perf_counter() - clock
    return result


@contextmanager
def timed(seconds: dict[str, float], key: str) -> Iterator[None]:
    """Add the block's wall time to ``seconds[key]`` (CUDA work is synchronised first)."""
    start = time.perf_counter()
    yield
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    seconds[key] += time.perf_counter() - start


@contextmanager
def applied(model: PreTrainedModel, delta: Delta, scale: float = 1.0) -> Iterator[PreTrainedModel]:
    """Temporarily add ``scale * delta`` to ``model``'s weights (restored exactly on exit)."""
    params = dict(model.named_parameters())
    unknown = set(delta) - set(params)
    if unknown:
        raise ParameterError(f"delta names parameters the model lacks: {sorted(unknown)[:3]}")
    saved = {n: params[n].detach().clone() for n in delta}
    with torch.no_grad():
        for n, d in delta.items():
            params[n].add_(d.to(params[n].dtype), alpha=scale)
    try:
        yield model
    finally:
        with torch.no_grad():
            for n, w in saved.items():
                params[n].copy_(w)
