"""Mean rank over answer options, and the mean-logit loss every extractive score uses.

Ranks: at the position that predicts the answer's first token, take the logits of the
first tokens of all options of the split; the rank of the correct one (0 = best), averaged
over prompts. With 20 options chance is 9.5. Ties count half (the mid-rank): a model that
cannot tell the options apart (all logits equal) scores exactly chance, never "perfect".
Logits that are not finite raise ``TrainingDivergedError``.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import ContextManager

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .architecture import decoder, lm_logits
from .datasets import Split
from .errors import ParameterError, TrainingDivergedError
from .params import check_autocast
from .tokens import Batch, collate, option_token_ids


def autocast(model: PreTrainedModel, dtype: str | None) -> ContextManager:
    """Mixed-precision context for ``model``'s device, or a no-op when ``dtype`` is None
    (else one of ``params.DTYPES``)."""
    dtype = check_autocast(dtype)
    if dtype is None:
        return nullcontext()
    device_type = next(model.parameters()).device.type
    return torch.autocast(device_type, dtype=getattr(torch, dtype))


def final_hidden(model: PreTrainedModel, batch: Batch) -> torch.Tensor:
    """Final hidden states (batch, seq, d_model) of a padded batch."""
    out = decoder(model)(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    return out.last_hidden_state


def correct_index(split: Split) -> torch.Tensor:
    """For each example, the index of its answer among the split's options."""
    index = {option: i for i, option in enumerate(split.options)}
    return torch.tensor([index[e.answer] for e in split.examples])


@torch.no_grad()
def option_logits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    split: Split,
    batch_size: int = 64,
    autocast_dtype: str | None = None,
) -> torch.Tensor:
    """Logits (n_examples, n_options) of each option's first token at the answer position.

    One batched forward pass per ``batch_size`` prompts.
    """
    device = next(model.parameters()).device
    option_ids = torch.tensor(option_token_ids(tokenizer, split.options), device=device)
    chunks = []
    for start in range(0, len(split.examples), batch_size):
        batch = collate(tokenizer, split.examples[start : start + batch_size], with_answers=False).to(device)
        with autocast(model, autocast_dtype):
            hidden = final_hidden(model, batch)
        at_answer = hidden[torch.arange(len(batch.answer_pos), device=device), batch.answer_pos]
        chunks.append(lm_logits(model, at_answer, option_ids).float().cpu())
    logits = torch.cat(chunks)
    if not torch.isfinite(logits).all():
        raise TrainingDivergedError(
            f"the model gives non-finite logits on {int((~torch.isfinite(logits)).any(1).sum())} of "
            f"{len(logits)} prompts: its weights diverged (lower the learning rate) or overflowed its dtype")
    return logits


def ranks(logits: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """Rank of the correct option per row, 0 = highest logit; each other option with an
    equal logit counts half, so all-equal logits give (n_options - 1) / 2, chance."""
    correct_logit = logits.gather(1, correct[:, None])
    above = (logits > correct_logit).sum(dim=1)
    tied = (logits == correct_logit).sum(dim=1) - 1
    return above + 0.5 * tied


def mean_logit_loss(logits: torch.Tensor, correct: torch.Tensor) -> torch.Tensor:
    """Per-row ``-logit[correct] + mean(option logits)``: lower is better."""
    return -logits.gather(1, correct[:, None]).squeeze(1) + logits.mean(dim=1)


def mean_rank(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    split: Split,
    autocast_dtype: str | None = None,
) -> float:
    """Mean rank of the correct option over the split's examples."""
    if not isinstance(split, Split) or not split.examples:
        raise ParameterError("mean_rank needs a non-empty Split (e.g. first_hop().implications)")
    logits = option_logits(model, tokenizer, split, autocast_dtype=autocast_dtype)
    return ranks(logits, correct_index(split)).float().mean().item()
