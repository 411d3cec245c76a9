"""Continued training of a pretrained model on the daxwug relations, in phases: the shared
machinery of the paper's pretraining-mechanism experiments (``data_ordering``, experiment 4;
``grafting``, experiments 5 and 6).

A phase is one finetuning run (``runs.cached_finetune``) that starts where the previous
phase ended: the earlier phases' deltas are applied, in order, while it trains, and each
phase returns its own delta (relative to its start). So a model after phases 1..k is
``W + delta_1 + ... + delta_k``, never a stored copy of the whole model. Deltas are kept in
host memory (``on_host``); ``applied`` moves one tensor at a time to the model's device. Every phase logs,
per epoch, the training people's facts and implications (the first ``MONITORED`` of them)
and the test people's implications; the runs of both chapters share these evals, so the
run cache serves a phase to whichever chapter asks for it second.

The setting (lr, trainable layers, epochs per phase, people) is ``continued_training`` in
the model's params file (``params.ContinuedTraining``); each of lr, epochs and trainable left
out takes the finetuning recipe's value. Each phase runs as a ``RunSpec`` (``Setting.spec``).
``trainable: all`` also trains the embeddings and the output layer: needed where the daxwug
words are new tokens whose embeddings were never trained (the toy models), never for a
pretrained LM that knows the words.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from .architecture import n_layers
from .daxwug import DaxwugDataset, daxwug
from .datasets import Split
from .errors import ParameterError
from .finetune import Delta, FinetuneResult, applied
from .models import LoadedModel
from .params import MONITORED, RunSpec, overridden
from .runs import cached_finetune



@dataclass(frozen=True)
class Setting:
    """How continued training and the test people's finetuning run. ``layers``: the trained
    layers (``first_layer`` .. last); ``trainable``: ``blocks`` or ``all`` (embeddings and
    output layer too, with every layer); ``epochs``: per phase (a joint phase too); the test
    people's facts are finetuned with the recipe's epochs; ``optimizer_plan``: the params
    file's (``memory``), passed to every phase's ``RunSpec``."""

    lr: float
    layers: tuple[int, ...]
    trainable: str
    epochs: int
    test_epochs: int
    batch_size: int
    n_people: int
    autocast: str | None = None
    optimizer_plan: str | None = None  # the params file's (memory.py); None: today's optimizer

    def as_dict(self) -> dict[str, Any]:
        """The setting as results files record it (the model's autocast is not among them; its
        optimizer plan only when set)."""
        return {k: v for k, v in {**asdict(self), "layers": list(self.layers)}.items()
                if k != "autocast" and not (k == "optimizer_plan" and v is None)}

    def spec(self, epochs: int, seed: int) -> RunSpec:
        """The ``RunSpec`` of one phase (or of the test people's finetuning) of ``epochs``."""
        return RunSpec(lr=self.lr, epochs=epochs, batch_size=self.batch_size, trainable=self.trainable, seed=seed,
                       layers=None if self.trainable == "all" else self.layers, autocast=self.autocast,
                       optimizer_plan=self.optimizer_plan)


def setting(lm: LoadedModel, **overrides: Any) -> Setting:
    """The model's continued-training setting (params ``continued_training``, each value
    left out there the recipe's), with any non-None override among its keys (``lr``,
    ``first_layer``, ``epochs``, ``n_people``, ``trainable``; checked by
    ``params.ContinuedTraining``). Here: what needs the model or the recipe too."""
    chosen = overridden(lm.params.continued_training, "continued-training", **overrides)
    recipe = lm.params.recipe
    first, total = chosen.first_layer, n_layers(lm.model)
    trainable = recipe.trainable if chosen.trainable is None else chosen.trainable
    if not first < total:
        raise ParameterError(f"continued_training first_layer must be a layer index in 0..{total - 1}, got {first!r}")
    if trainable == "all" and first != 0:
        raise ParameterError(f"continued_training trainable must be 'blocks', or 'all' with first_layer 0 "
                             f"(embeddings and every layer), got {trainable!r} with first_layer {first}")
    return Setting(recipe.lr if chosen.lr is None else chosen.lr, tuple(range(first, total)), trainable,
                   recipe.epochs if chosen.epochs is None else chosen.epochs, recipe.epochs, recipe.batch_size,
                   chosen.n_people, lm.params.autocast, lm.params.optimizer_plan)


def check_counterfactual(facts: DaxwugDataset, counterfactual: DaxwugDataset) -> None:
    """F and F' must hold the same people in the same order (only training cities differ)."""
    if not (isinstance(facts, DaxwugDataset) and isinstance(counterfactual, DaxwugDataset)):
        raise ParameterError("F and F' must be daxwug datasets, e.g. daxwug('F', n) and daxwug(\"F'\", n)")
    if (len(facts.train_people), len(facts.test_people)) != (len(counterfactual.train_people),
                                                              len(counterfactual.test_people)):
        raise ParameterError(f"F and F' differ in size ({len(facts.train_people)} and "
                             f"{len(counterfactual.train_people)} training people): build both with the same n")
    if facts.train_people != counterfactual.train_people or facts.test_people != counterfactual.test_people:
        raise ParameterError("F and F' hold different people: build both with the same n and seed")


def dataset(lm_setting: Setting, version: str = "F") -> DaxwugDataset:
    """The daxwug dataset of the setting's size."""
    return daxwug(version, n=lm_setting.n_people)


def monitored(split: Split) -> Split:
    """The first ``MONITORED`` examples of a training split, scored each epoch."""
    return Split(split.examples[:MONITORED], split.options)


def phase_evals(data: DaxwugDataset) -> dict[str, Split]:
    """What every phase logs per epoch (identical in both chapters, so their runs are shared)."""
    return {"train_facts": monitored(data.train_facts), "train_implications": monitored(data.train_implications),
            "test_implications": data.test_implications}


def train_phases(lm: LoadedModel, phases: Sequence[tuple[str, Split]], evals: dict[str, Split], s: Setting,
                 seed: int, label: str, progress: bool | None = None) -> list[FinetuneResult]:
    """Train each phase from where the previous ones left the weights; one result per phase,
    each with its own delta."""
    runs: list[FinetuneResult] = []
    for name, split in phases:
        with applied(lm.model, *[r.delta for r in runs]):
            run = cached_finetune(lm, split, evals, s.spec(s.epochs, seed), progress=progress,
                                  label=f"{label} {name} seed {seed}")
        runs.append(on_host(run))
    return runs


def finetune_test_people(lm: LoadedModel, data: DaxwugDataset, deltas: Sequence[Delta], s: Setting, seed: int,
                  label: str, progress: bool | None = None) -> FinetuneResult:
    """From ``W + sum(deltas)``, finetune on the test people's facts only, logging their
    facts and (never trained) implications per epoch: the OCR test."""
    with applied(lm.model, *deltas):
        return on_host(cached_finetune(lm, data.test_facts, {"facts": data.test_facts,
                                                            "implications": data.test_implications},
                                       s.spec(s.test_epochs, seed), progress=progress,
                                       label=f"{label} test facts seed {seed}"))


def on_host(run: FinetuneResult) -> FinetuneResult:
    """``run`` with its delta in host memory (a no-op on the CPU): on a GPU, the deltas an
    experiment holds then take host memory, not the device's."""
    run.delta = {n: t.cpu() for n, t in run.delta.items()}
    return run
