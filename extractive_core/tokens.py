"""From examples to padded tensors: prompts, answers and the answer options' first tokens.

Every model goes through this one path (real tokenizers and the toy word tokenizer alike):
the prompt is tokenised with the tokenizer's special tokens, the answer as ``" " + answer``
without them, and the two are concatenated, so the token that predicts an answer's first
token is the prompt's last.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from transformers import PreTrainedTokenizerBase

from .datasets import Example
from .errors import TokenizerCollisionError


_MEMOS: dict[int, dict[tuple[str, bool], tuple[int, ...]]] = {}  # id(tokenizer) -> memo, while a block is open


@contextmanager
def memoised(tokenizer: PreTrainedTokenizerBase) -> Iterator[None]:
    """Within the block, ``encode`` tokenises each text once with ``tokenizer``: a finetuning
    run collates the same few prompts at every step and evaluation, and tokenising them again
    took about a tenth of a toy model's run. Scoped to the block, so a tokenizer changed
    afterwards (added tokens) is never answered from a stale memo."""
    key = id(tokenizer)
    if key in _MEMOS:  # nested: the outer block's memo serves
        yield
        return
    _MEMOS[key] = {}
    try:
        yield
    finally:
        del _MEMOS[key]


def encode(tokenizer: PreTrainedTokenizerBase, text: str, special: bool = True) -> list[int]:
    """``tokenizer(text)["input_ids"]``, from the memo inside a ``memoised`` block."""
    memo = _MEMOS.get(id(tokenizer))
    if memo is None:
        return list(tokenizer(text, add_special_tokens=special)["input_ids"])
    if (text, special) not in memo:
        memo[text, special] = tuple(tokenizer(text, add_special_tokens=special)["input_ids"])
    return list(memo[text, special])


def answer_ids(tokenizer: PreTrainedTokenizerBase, answer: str) -> list[int]:
    """Token ids of ``" " + answer``, without special tokens (a leading BOS is dropped)."""
    ids = encode(tokenizer, " " + answer, special=False)
    if ids and ids[0] == tokenizer.bos_token_id:
        ids = ids[1:]
    return ids


def option_token_ids(tokenizer: PreTrainedTokenizerBase, options: Sequence[str]) -> list[int]:
    """The first token of each option; raises if two options share it."""
    first: dict[int, str] = {}
    for option in options:
        ids = answer_ids(tokenizer, option)
        if not ids:
            raise TokenizerCollisionError(f"option {option!r} tokenises to nothing")
        if ids[0] in first:
            token = tokenizer.convert_ids_to_tokens(ids[0])
            raise TokenizerCollisionError(
                f"options {first[ids[0]]!r} and {option!r} share their first token {token!r} "
                f"under this tokenizer, so their ranks cannot be told apart. Rename one of them "
                f"in the dataset (or drop it from the split's options)."
            )
        first[ids[0]] = option
    return list(first)


@dataclass
class Batch:
    """Right-padded token ids. ``labels`` is -100 except on answer tokens; ``answer_pos``
    is the position whose logits predict each answer's first token."""

    input_ids: torch.Tensor  # (batch, seq)
    attention_mask: torch.Tensor  # (batch, seq)
    labels: torch.Tensor  # (batch, seq), aligned with input_ids (not shifted)
    answer_pos: torch.Tensor  # (batch,)

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(*(t.to(device) for t in (self.input_ids, self.attention_mask, self.labels, self.answer_pos)))


def collate(
    tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example], with_answers: bool = True
) -> Batch:
    """Tokenise and right-pad ``examples``; prompts only when ``with_answers`` is False."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    rows, label_rows, positions = [], [], []
    for ex in examples:
        prompt = encode(tokenizer, ex.prompt)
        answer = answer_ids(tokenizer, ex.answer) if with_answers else []
        rows.append(prompt + answer)
        label_rows.append([-100] * len(prompt) + answer)
        positions.append(len(prompt) - 1)
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, (row, lab) in enumerate(zip(rows, label_rows)):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
        labels[i, : len(lab)] = torch.tensor(lab)
    return Batch(ids, mask, labels, torch.tensor(positions))
