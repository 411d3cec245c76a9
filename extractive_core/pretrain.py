"""Pretraining toy models from scratch on a ``ToyCorpus``, cached by config.

A small Llama (transformers' own implementation), AdamW with linear warm-up and cosine
decay, next-token loss on every sentence token. Sentences are tokenised once into a padded
table, so a batch is one index lookup. Checkpoints are safetensors, keyed by
``ToyConfig.key()``, so the main job pretrains once and reuses.

Pretraining always runs on one CPU thread: a toy model's bits then do not depend on the
machine's core count, and ``pretrain_missing`` pretrains several models side by side, one
per core (a toy model's small matrices gain little from a second thread: 62 ms a step on
two threads against 82 ms on one, measured on 2 cores).
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from multiprocessing import get_context
from typing import Iterator, Sequence

import torch
from tqdm import tqdm
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedModel, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from .datasets import dataset_texts
from .daxwug import daxwug_texts
from .errors import ParameterError
from .models import cache_dir, default_threads, save_checkpoint, show_progress
from .params import ModelParams
from .results import load_json
from .runs import record
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
    log = {"config": asdict(config), "seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
           "final_loss": sum(losses[-50:]) / len(losses[-50:])}
    return model, tokenizer, log


_JUST_PRETRAINED: set[str] = set()  # keys pretrain_missing trained in workers (not cache hits)


def checkpoint_dir(config: ToyConfig):
    """Where the pretrained checkpoint of ``config`` is cached."""
    return cache_dir() / "toyworld" / config.key()


def is_cached(config: ToyConfig) -> bool:
    return (checkpoint_dir(config) / "pretrain_log.json").is_file()


def pretrained(config: ToyConfig, progress: bool | None = None, force: bool = False) -> tuple[PreTrainedModel, PreTrainedTokenizerFast, dict]:
    """The cached checkpoint for ``config``, pretraining it first if absent (or ``force``)."""
    target = checkpoint_dir(config)
    if force or not is_cached(config):
        model, tokenizer, log = pretrain(config, progress)
        save_checkpoint(target, model, tokenizer, {"pretrain_log.json": log})
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


def pretrain_missing(configs: Sequence[ToyConfig], workers: int | None = None) -> None:
    """Pretrain every config not yet cached, ``workers`` at a time in their own processes
    (None: ``$EXTRACTIVE_THREADS``, else one per core), each on one thread. With one worker
    or one model missing it does nothing: ``pretrained`` then pretrains in this process."""
    todo = [c for c in dict.fromkeys(configs) if not is_cached(c)]
    if workers is None:
        workers = default_threads()
    workers = min(workers, len(todo))
    if workers < 2:
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        for config, _ in zip(todo, pool.map(_pretrain_to_cache, todo)):
            _JUST_PRETRAINED.add(config.key())


def _pretrain_to_cache(config: ToyConfig) -> str:
    """A worker's job: pretrain ``config`` into the cache (records its own timing)."""
    pretrained(config, progress=False)
    return config.key()


def toy_config(params: ModelParams, **overrides) -> ToyConfig:
    """The ``ToyConfig`` of a toyworld params file, with ``overrides`` (mode, seed, ...)."""
    if params.source != "toyworld":
        raise ParameterError(f"{params.name!r} is not a toy model (source {params.source!r}); "
                             "use toyworld or a toyworld_* params file")
    fields = {**params.toyworld, **overrides}
    if "mix" in fields:
        fields["mix"] = tuple(fields["mix"])
    try:
        return ToyConfig(**fields)
    except TypeError as err:
        raise ParameterError(f"params/{params.name}.yaml toyworld: {err}") from None


def load_toy_model(params: ModelParams) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """The pretrained toy model of a params file (pretrained on first use, then cached)."""
    model, tokenizer, _ = pretrained(toy_config(params))
    return model, tokenizer
