"""Pretraining toy models from scratch on a ``ToyCorpus``, cached by config.

A small Llama (transformers' own implementation), AdamW with linear warm-up and cosine
decay, next-token loss on every sentence token. Sentences are tokenised once into a padded
table, so a batch is one index lookup. Checkpoints are safetensors, keyed by
``ToyConfig.key()``, so the main job pretrains once and reuses.

Pretraining always runs on one CPU thread: a toy model's bits then do not depend on the
machine's core count, and ``pretrain_missing`` pretrains several models side by side, one
per core (a toy model's small matrices gain little from a second thread: 62 ms a step on
two threads against 82 ms on one, measured on 2 cores).

Shipped checkpoints: the models of the corpus-order grid are committed, in float16, under
``extractive_core/toy_checkpoints/`` (20 models, about 12 MB), because pretraining all of them
would take 10 to 20 of the main job's minutes on 2 cores; so is the 8-layer ``toyworld_deep``
(``pretraining_order.SHIPPED_BESIDE_GRID``, 1.2 MB, 6 minutes: 2000 steps on one thread).
A pretrained model's weights are rounded to float16 before they are saved, so a shipped checkpoint and a fresh pretraining of its config
are the same model. ``pretrained`` copies a shipped checkpoint into the cache when the cache
lacks it; ``EXTRACTIVE_PRETRAIN=1`` ignores the shipped ones and pretrains, and
``python -m extractive_core.pretraining_order --regenerate`` rewrites them (``--check``
re-pretrains two of them, side by side, and compares each with its shipped checkpoint).
"""

from __future__ import annotations

import math
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Iterator, Sequence

import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from .datasets import dataset_texts
from .daxwug import daxwug_texts
from .errors import ParameterError
from .events import record
from .numerics import environment, same_environment
from .params import ModelParams, overridden
from .pool import side_by_side
from .settings import cache_dir, default_threads, pretrain_requested, show_progress
from .storage import load_json, replace_dir, save_checkpoint
from .tokenizer import word_tokenizer, words_of
from .toyworld import ToyConfig, ToyCorpus


def toy_tokenizer(corpus: ToyCorpus) -> PreTrainedTokenizerFast:
    """Word tokenizer over the corpus, the two-hop datasets (held-out names reuse known words)
    and the daxwug relations (their words never occur in pretraining, so continued training
    on them starts from untrained embeddings, like a new word in a real LM)."""
    return word_tokenizer(words_of(corpus.texts() + dataset_texts() + daxwug_texts()))


def toy_model(config: ToyConfig, vocab_size: int) -> PreTrainedModel:
    """A randomly initialised small Llama (untied embeddings), seeded by ``config.seed``."""
    torch.manual_seed(config.seed)
    llama = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=config.d_model,
        intermediate_size=config.d_ff,
        num_hidden_layers=config.n_layers,
        num_attention_heads=config.n_heads,
        num_key_value_heads=config.n_heads,
        max_position_embeddings=32,
        tie_word_embeddings=False,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    return AutoModelForCausalLM.from_config(llama)


def token_table(tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> torch.Tensor:
    """All sentences as one right-padded id table (n_sentences, max_len)."""
    rows = [tokenizer(t)["input_ids"] for t in texts]
    table = torch.full((len(rows), max(map(len, rows))), tokenizer.pad_token_id, dtype=torch.long)
    for i, r in enumerate(rows):
        table[i, : len(r)] = torch.tensor(r)
    return table


def lr_at(step: int, config: ToyConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one CPU thread within the block (restored after)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pretrain(config: ToyConfig, progress: bool | None = None) -> tuple[PreTrainedModel, PreTrainedTokenizerFast, dict]:
    """Pretrain one toy model (on one thread); returns it, its tokenizer and a small log."""
    with one_thread():
        return _pretrain(config, progress)


def _pretrain(config: ToyConfig, progress: bool | None) -> tuple[PreTrainedModel, PreTrainedTokenizerFast, dict]:
    corpus = ToyCorpus.build(config)
    tokenizer = toy_tokenizer(corpus)
    model = toy_model(config, len(tokenizer)).train()
    table = token_table(tokenizer, corpus.texts())
    schedule = corpus.schedule()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay, betas=(0.9, 0.98))
    start, losses, tokens = time.perf_counter(), [], 0
    bar = tqdm(schedule, desc=f"pretrain {config.mode} s{config.seed}", disable=not show_progress(progress), mininterval=2.0)
    for step, indices in enumerate(bar):
        ids = table[torch.from_numpy(indices)]
        ids = ids[:, : int((ids != tokenizer.pad_token_id).sum(1).max())]
        labels = ids.masked_fill(ids == tokenizer.pad_token_id, -100)
        tokens += int((labels != -100).sum())
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        loss = model(input_ids=ids, attention_mask=(labels != -100).long(), labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % 100 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - start
    model.eval()
    round_to_float16(model)
    log = {"config": asdict(config), "seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
           "final_loss": sum(losses[-50:]) / len(losses[-50:]), "provenance": environment(model)}
    return model, tokenizer, log


@torch.no_grad()
def round_to_float16(model: PreTrainedModel) -> None:
    """Round every weight to the nearest float16 value, kept in float32: the precision a
    checkpoint is saved and shipped in, so a shipped and a fresh model are the same."""
    for p in model.parameters():
        p.copy_(p.half().float())


_JUST_PRETRAINED: set[str] = set()  # keys pretrain_missing trained in workers (not cache hits)


SHIPPED = Path(__file__).parent / "toy_checkpoints"  # the committed float16 checkpoints, by config key


def checkpoint_dir(config: ToyConfig) -> Path:
    """Where the pretrained checkpoint of ``config`` is cached."""
    return cache_dir() / "toyworld" / config.key()


def is_cached(config: ToyConfig) -> bool:
    return (checkpoint_dir(config) / "pretrain_log.json").is_file()


def install_shipped(config: ToyConfig) -> bool:
    """Copy the shipped checkpoint of ``config`` into the cache (whole or not at all), unless
    it is cached already, none is shipped, or ``EXTRACTIVE_PRETRAIN=1``. True if it did."""
    source = SHIPPED / config.key()
    if is_cached(config) or pretrain_requested() or not (source / "pretrain_log.json").is_file():
        return False
    replace_dir(checkpoint_dir(config), lambda staging: shutil.copytree(source, staging, dirs_exist_ok=True))
    record("pretrain_shipped", config.key())
    return True


def save_toy_checkpoint(target: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerFast, log: dict) -> None:
    """Save a toy model in float16 (its weights are float16 values already), with its log."""
    model.half()
    try:
        save_checkpoint(target, model, tokenizer, {"pretrain_log.json": log})
    finally:
        model.float()


def pretrained(config: ToyConfig, progress: bool | None = None, force: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerFast, dict]:
    """The cached checkpoint for ``config``: the shipped one if the cache lacks it, else
    pretrained first (always with ``force``)."""
    target = checkpoint_dir(config)
    if force or not (is_cached(config) or install_shipped(config)):
        model, tokenizer, log = pretrain(config, progress)
        save_toy_checkpoint(target, model, tokenizer, log)
        record("pretrain_trained", config.key(), log["seconds"])
        return model, tokenizer, log
    if config.key() in _JUST_PRETRAINED:
        _JUST_PRETRAINED.discard(config.key())
    else:
        record("pretrain_hit", config.key())
    show_progress(progress)
    model = AutoModelForCausalLM.from_pretrained(target, dtype=torch.float32).eval()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(target)
    return model, tokenizer, load_json(target / "pretrain_log.json")


def pretrain_missing(configs: Sequence[ToyConfig], workers: int | None = None, shipped: bool = True) -> None:
    """Pretrain every config not yet cached (nor shipped, unless ``shipped`` is False),
    ``workers`` at a time in their own processes (None: ``$EXTRACTIVE_THREADS``, else one per
    core), each on one thread. With one worker or one model missing it does nothing:
    ``pretrained`` then pretrains in this process."""
    todo = [c for c in dict.fromkeys(configs) if not (is_cached(c) or (shipped and install_shipped(c)))]
    workers = min(default_threads() if workers is None else workers, len(todo))
    if workers < 2:
        return
    side_by_side(_pretrain_to_cache, [(config, not shipped) for config in todo], workers)
    _JUST_PRETRAINED.update(config.key() for config in todo)


def _pretrain_to_cache(job: tuple[ToyConfig, bool]) -> str:
    """A worker's job: pretrain a config into the cache (``force``: never from the shipped
    set; records its own timing)."""
    config, force = job
    pretrained(config, progress=False, force=force)
    return config.key()


def toy_config(params: ModelParams, **overrides) -> ToyConfig:
    """The ``ToyConfig`` of a toyworld params file (its ``toyworld`` section, checked on
    load), with each non-None override (mode, seed, ...)."""
    if params.source != "toyworld" or params.toyworld is None:
        raise ParameterError(f"{params.name!r} is not a toy model (source {params.source!r}); "
                             "use toyworld or a toyworld_* params file")
    return overridden(params.toyworld, "toyworld", **overrides)


def load_toy_model(params: ModelParams) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """The pretrained toy model of a params file (pretrained on first use, then cached)."""
    model, tokenizer, _ = pretrained(toy_config(params))
    return model, tokenizer


SHIPPED_LOSS_TOLERANCE = 0.05  # final pretraining loss (about 1.0), fresh against shipped, on another machine


def regenerate_shipped(configs: Sequence[ToyConfig]) -> None:
    """Pretrain ``configs`` afresh (two at a time), replace their cached checkpoints, and
    make them the shipped set (every other shipped checkpoint is removed)."""
    configs = list(dict.fromkeys(configs))
    for config in configs:
        shutil.rmtree(checkpoint_dir(config), ignore_errors=True)
    pretrain_missing(configs, shipped=False)
    for config in configs:
        if not is_cached(config):  # one worker: pretrain_missing left them to this process
            pretrained(config, progress=False, force=True)

    def fill(staging: Path) -> None:
        for config in configs:
            shutil.copytree(checkpoint_dir(config), staging / config.key())

    replace_dir(SHIPPED, fill)


def check_shipped_all(configs: Sequence[ToyConfig], workers: int | None = None,
                      root: Path | None = None) -> tuple[list[str], list[str]]:
    """``check_shipped`` for each config, ``workers`` at a time in their own processes (None:
    ``$EXTRACTIVE_THREADS``, else one per core); report lines and problems of all."""
    workers = min(default_threads() if workers is None else workers, len(configs))
    jobs = [(config, SHIPPED if root is None else root) for config in configs]
    run = side_by_side if workers >= 2 else lambda fn, items, _: [fn(item) for item in items]
    results = run(_check_job, jobs, workers)
    return [line for report, _ in results for line in report], [p for _, found in results for p in found]


def _check_job(job: tuple[ToyConfig, Path]) -> tuple[list[str], list[str]]:
    return check_shipped(*job)


def check_shipped(config: ToyConfig, root: Path | None = None,
                  progress: bool | None = None) -> tuple[list[str], list[str]]:
    """Pretrain ``config`` afresh (nothing cached or written) and compare it with its shipped
    checkpoint (under ``root``, default ``SHIPPED``): identical weights where the environment
    is the one that made it, else a final loss within ``SHIPPED_LOSS_TOLERANCE``. Returns
    report lines and problems."""
    from safetensors.torch import load_file

    root = SHIPPED if root is None else root
    source = root / config.key()
    if not (source / "pretrain_log.json").is_file():
        return [], [f"no shipped checkpoint for {config.key()} under {root}: run "
                    "`python -m extractive_core.pretraining_order --regenerate`"]
    shipped_log = load_json(source / "pretrain_log.json")
    model, _, log = pretrain(config, progress)
    shipped = load_file(source / "model.safetensors")
    fresh = {k: v.half() for k, v in model.state_dict().items() if k in shipped}
    differing = [k for k in shipped if not torch.equal(shipped[k], fresh.get(k, torch.empty(0)))]
    worst = max((float((shipped[k].float() - fresh[k].float()).abs().max()) for k in differing if k in fresh),
                default=0.0)
    loss_diff = abs(log["final_loss"] - shipped_log["final_loss"])
    strict = same_environment(shipped_log, log)
    report = [f"{config.key()}: fresh final loss {log['final_loss']:.4f}, shipped {shipped_log['final_loss']:.4f}; "
              f"{len(differing)} of {len(shipped)} weight tensors differ (largest |diff| {worst:.3g}); "
              + ("same environment as the shipped one: identical weights expected" if strict else
                 f"another environment: final loss within {SHIPPED_LOSS_TOLERANCE} expected")]
    problems = []
    if strict and differing:
        problems.append(f"{config.key()}: the fresh weights differ from the shipped ones in the environment that made them")
    if not loss_diff <= SHIPPED_LOSS_TOLERANCE:  # a NaN loss on either side fails too
        problems.append(f"{config.key()}: final loss differs by {loss_diff:.3g} (> {SHIPPED_LOSS_TOLERANCE})")
    return report, problems
