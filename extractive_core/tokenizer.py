"""A word-level tokenizer wrapped as a transformers fast tokenizer, so the toy models go
through exactly the same code as the real ones (first-token options, padding, masking)."""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


def words_of(texts: Iterable[str]) -> list[str]:
    """The distinct whitespace-separated words of ``texts``, in first-seen order."""
    return list(dict.fromkeys(w for t in texts for w in t.split()))


def word_tokenizer(words: Iterable[str]) -> PreTrainedTokenizerFast:
    """One token per word (split on whitespace), ``<bos>`` prepended to every text."""
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys([*SPECIALS, *words]))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B", special_tokens=[("<bos>", vocab["<bos>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", unk_token="<unk>"
    )
