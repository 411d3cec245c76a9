"""Finetuning with per-epoch rank logging, returning the weight change.

The paper's recipe: Adam with a constant learning rate, batch 8, data reshuffled each epoch
with a fixed seed, cross-entropy on the answer tokens only. ``finetune`` leaves the model's
weights as it found them and returns ``delta = W_after - W_before``; ``applied`` puts a
delta (or part of one) on the model for evaluation.
"""

from __future__ import annotations

import math
import time
import warnings
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import torch
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .architecture import answer_cross_entropy, layer_of, n_layers
from .datasets import Split
from .errors import ParameterError, TrainingDivergedError
from .metrics import autocast, final_hidden, mean_rank
from .settings import show_progress
from .params import RunSpec, overridden
from .precision import plan_optimizer
from .prefix import frozen_prefix, replay_start
from .tokens import Batch, collate, memoised

Delta = dict[str, torch.Tensor]


def trainable_names(
    model: PreTrainedModel, trainable: str = "blocks", layers: Sequence[int] | None = None
) -> list[str]:
    """Parameter names to train: ``"blocks"`` (every transformer-block weight, the paper's
    OLMo setting) or ``"all"`` (embeddings and final norm too), optionally only in ``layers``
    (``RunSpec`` has checked both; here: that the layers exist in ``model``)."""
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
    """The weight change (float32), one log row per epoch (epoch 0 = before training), the
    loss of the very first step (on the starting weights), and the seconds spent in each
    phase (data, forward, backward, optimizer, eval, total)."""

    delta: Delta
    log: list[dict[str, float | None]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    first_loss: float | None = None

    def ranks(self, split: str) -> list[float]:
        """Mean rank of ``split`` at each epoch, epoch 0 first."""
        key = f"{split}_rank"
        if not self.log or key not in self.log[0]:
            known = sorted(k[: -len("_rank")] for k in (self.log[0] if self.log else {}) if k.endswith("_rank"))
            raise ParameterError(f"no split {split!r} was evaluated in this run; evaluated: {known}")
        return [float(row[key] or 0.0) for row in self.log]

    @property
    def diverged(self) -> bool:
        """True when the last epoch's mean loss is above the loss of the first step: the
        training made things worse (too high a learning rate), whatever the ranks say."""
        last = self.log[-1]["loss"] if self.log else None
        return self.first_loss is not None and last is not None and last > self.first_loss


def answer_loss(model: PreTrainedModel, batch: Batch) -> torch.Tensor:
    """Mean cross-entropy over answer tokens; logits are computed only where needed."""
    hidden = final_hidden(model, batch)[:, :-1]  # position t predicts token t+1
    targets = batch.labels[:, 1:]
    keep = targets != -100
    return answer_cross_entropy(model, hidden[keep], targets[keep])


def finetune(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    train: Split,
    evals: Mapping[str, Split],
    spec: RunSpec | None = None,
    *,
    progress: bool | None = None,
    **recipe: Any,
) -> FinetuneResult:
    """Train on ``train`` as ``spec`` says and log the mean rank of every split in ``evals``
    per epoch (``spec.logged == "ends"``: before training and after the last epoch only). Without a ``spec``, the keywords make one (``lr=3e-5, epochs=8``: the
    ``RunSpec`` fields; left out, the paper's recipe).

    Dropout stays off (eval mode) so runs repeat exactly. A model held in bf16 trains
    through float32 master weights (``precision.MasterWeightAdam``). The model's weights are
    restored afterwards; the returned ``delta`` (float32) holds what training changed.
    Raises ``TrainingDivergedError`` as soon as the loss is not finite.
    """
    if spec is None:
        spec = overridden(RunSpec(), "finetune", **recipe)
    elif not isinstance(spec, RunSpec):
        raise ParameterError(f"finetune's spec must be a RunSpec (e.g. RunSpec(lr=3e-5, epochs=8) or "
                             f"RunSpec.of(lm.params, seed=0)), got a {type(spec).__name__}; or leave spec out "
                             "and pass the keywords (lr=..., epochs=...)")
    elif recipe:
        raise ParameterError("pass finetune a RunSpec or keywords (lr=..., epochs=...), not both")
    lr, epochs, batch_size = spec.lr, spec.epochs, spec.batch_size
    if not isinstance(train, Split) or not train.examples:
        raise ParameterError("train must be a non-empty Split (e.g. first_hop().facts)")
    if not (isinstance(evals, Mapping) and all(isinstance(s, Split) for s in evals.values())):
        raise ParameterError("evals must map names to Splits, e.g. {'test': first_hop().implications}")
    clock = time.perf_counter()
    names = trainable_names(model, spec.trainable, spec.layers)
    params = dict(model.named_parameters())
    # built first: a plan that does not fit (or the wrong dtype) fails before the model is touched
    optimizer = plan_optimizer(spec.optimizer_plan, model, [params[n] for n in names], lr, batch_size, spec.autocast)
    # everything else that can fail comes before the model's flags change, or inside the try
    generator = torch.Generator().manual_seed(spec.seed)
    steps_per_epoch = -(-len(train.examples) // batch_size)
    device = next(model.parameters()).device
    before = [w.detach().clone() for w in optimizer.weights()]  # float32
    was_training = model.training
    flags = {n: p.requires_grad for n, p in params.items()}

    def log_epoch(epoch: int, loss: float | None) -> None:
        if spec.logged == "ends" and epoch not in (0, epochs):
            return
        row: dict[str, float | None] = {"epoch": epoch, "loss": loss}
        with timed(result.seconds, "eval"):
            row.update({f"{k}_rank": mean_rank(model, tokenizer, s, spec.autocast) for k, s in evals.items()})
        result.log.append(row)
        bar.set_postfix({k: f"{v:.2f}" for k, v in row.items() if k.endswith("_rank")})

    result = FinetuneResult(delta={})
    bar = tqdm(total=epochs * steps_per_epoch, desc="finetune", disable=not show_progress(progress), mininterval=1.0)
    replay = ExitStack()  # frozen blocks run once per sequence (prefix.py); prompts tokenised once
    try:
        for n, p in params.items():
            p.requires_grad_(n in names)
        model.eval()
        replay.enter_context(frozen_prefix(model, replay_start(spec.trainable, spec.layers)))
        replay.enter_context(memoised(tokenizer))  # the same prompts are collated every step
        log_epoch(0, None)
        for epoch in range(1, epochs + 1):
            order = torch.randperm(len(train.examples), generator=generator).tolist()
            losses = []
            for start in range(0, len(order), batch_size):
                with timed(result.seconds, "data"):
                    chunk = [train.examples[i] for i in order[start : start + batch_size]]
                    batch = collate(tokenizer, chunk).to(device)
                with timed(result.seconds, "forward"), autocast(model, spec.autocast):
                    loss = answer_loss(model, batch)
                value = loss.item()
                if not math.isfinite(value):
                    raise TrainingDivergedError(
                        f"the training loss became {value} at epoch {epoch}, step {start // batch_size + 1} "
                        f"(lr {lr:g}): the run diverged. Lower the learning rate.")
                if result.first_loss is None:
                    result.first_loss = value
                with timed(result.seconds, "backward"):
                    optimizer.zero_grad()
                    loss.backward()
                with timed(result.seconds, "optimizer"):
                    optimizer.step()
                losses.append(value)
                bar.update()
            log_epoch(epoch, sum(losses) / len(losses))
        if result.diverged:
            warnings.warn(f"finetuning ended with a higher loss ({result.log[-1]['loss']:.3g}) than it started "
                          f"with ({result.first_loss:.3g}) at lr {lr:g}: it diverged; its ranks mean little.",
                          stacklevel=2)
    finally:
        replay.close()
        bar.close()
        with torch.no_grad():
            for n, w, b in zip(names, optimizer.weights(), before):
                result.delta[n] = w - b
                params[n].copy_(b)
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
def applied(model: PreTrainedModel, *deltas: Delta, scale: float = 1.0) -> Iterator[PreTrainedModel]:
    """Temporarily add ``scale * (delta_1 + delta_2 + ...)`` to ``model``'s weights (restored
    exactly on exit, from one saved copy of the changed weights, kept in host memory so that
    on a GPU it costs no device memory).

    The sum is taken in float32, in the order given, and rounded once to the model's dtype,
    so a bf16 model with its run's delta applied holds exactly the weights it was evaluated
    with in training; several deltas stack phases of training or make a graft.
    """
    params = dict(model.named_parameters())
    for delta in deltas:
        unknown = set(delta) - set(params)
        if unknown:
            raise ParameterError(f"delta names parameters the model lacks: {sorted(unknown)[:3]}; "
                                 "was it computed on another model?")
        wrong = [n for n, d in delta.items() if d.shape != params[n].shape]
        if wrong:
            raise ParameterError(f"delta shapes differ from the model's for {wrong[:3]}: computed on another model?")
    names = list(dict.fromkeys(n for delta in deltas for n in delta))
    saved = {n: params[n].detach().to("cpu", copy=True) for n in names}
    with torch.no_grad():
        for n in names:
            total = params[n].float()
            for delta in deltas:
                if n in delta:
                    total = total + scale * delta[n].to(params[n].device, torch.float32)
            params[n].copy_(total)
    try:
        yield model
    finally:
        with torch.no_grad():
            for n, w in saved.items():
                params[n].copy_(w)
