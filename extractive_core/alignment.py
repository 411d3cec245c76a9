"""Lining up the tokens of different test prompts: onto one display prompt (for the
heatmaps) and onto each other (a prompt and its counterfactual).

The test prompts of a split share a prefix and a suffix of tokens (the template) and differ
in the middle (the name, or the landmark). Prefix tokens are aligned from the start, suffix
tokens from the end, and middle tokens from the end of the middle: the middle's last token
(e.g. a name's last token) meets the other middle's last token. When the other middle is
shorter, the extra leading tokens all meet its first token, so every position has a partner
and scores summed over a display column add up to the prompt's total.

``counterfactual_mean`` and ``to_display`` take a tensor ``[batch, seq, ...]`` or a whole
``PerComponent`` of them (every MLP and head at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence, TypeVar

import torch
from transformers import PreTrainedTokenizerBase

from .components import PerComponent
from .datasets import Split
from .errors import ParameterError

T = TypeVar("T", torch.Tensor, PerComponent)


class AlignmentError(ParameterError):
    """A prompt that cannot be lined up with the test prompts' template."""


def common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix every row shares."""
    n = 0
    while all(len(r) > n for r in rows) and len({r[n] for r in rows}) == 1:
        n += 1
    return n


def positions(prefix: int, suffix: int, n_from: int, n_to: int) -> torch.Tensor:
    """For each position of a prompt of ``n_from`` tokens, its partner in one of ``n_to``
    tokens with the same ``prefix`` and ``suffix`` lengths."""
    mid_to = n_to - prefix - suffix
    out = []
    for t in range(n_from):
        if t < prefix:
            out.append(t)
        elif t >= n_from - suffix:
            out.append(n_to - (n_from - t))
        else:
            back = n_from - suffix - 1 - t  # 0 = the middle's last token
            out.append(prefix + mid_to - 1 - min(back, mid_to - 1))
    return torch.tensor(out, dtype=torch.long)


@dataclass
class Alignment:
    """How a split's prompts line up: ``columns[b, t]`` is the display column of prompt
    ``b``'s token ``t`` (-1 past its end); ``counterfactuals[b]`` lists the prompts paired
    with ``b``, and ``partner[b, c, t]`` the position in counterfactual ``c`` that meets
    token ``t``."""

    display_tokens: list[str]
    prefix: int
    suffix: int
    lengths: torch.Tensor  # (batch,)
    columns: torch.Tensor  # (batch, seq)
    counterfactuals: torch.Tensor  # (batch, n_cf)
    partner: torch.Tensor  # (batch, n_cf, seq)

    @property
    def mask(self) -> torch.Tensor:
        """(batch, seq) True on real tokens."""
        return self.columns >= 0

    def partners(self, out: torch.Tensor, c: int) -> torch.Tensor:
        """(batch, seq, ...) outputs -> each prompt's ``c``-th counterfactual's outputs at
        the partner positions, same shape."""
        cf, partner = self.counterfactuals.to(out.device), self.partner.to(out.device)
        return out[cf[:, c, None], partner[:, c]]

    def counterfactual_mean(self, out: T, n: int | None = None) -> T:
        """The mean of ``partners`` over each prompt's first ``n`` (default all) counterfactuals."""
        if isinstance(out, PerComponent):
            return out.map(lambda t: self.counterfactual_mean(t, n))
        n = self.counterfactuals.shape[1] if n is None else n
        total = torch.zeros_like(out)
        for c in range(n):
            total += self.partners(out, c)
        return total / n

    def to_display(self, per_token: T) -> T:
        """(batch, seq, ...) per-token scores -> (display tokens, ...): summed into their
        display columns, averaged over prompts."""
        if isinstance(per_token, PerComponent):
            return per_token.map(self.to_display)
        batch, seq = per_token.shape[:2]
        out = per_token.new_zeros((len(self.display_tokens), *per_token.shape[2:]))
        for b in range(batch):
            n = int(self.lengths[b])
            out.index_add_(0, self.columns[b, :n].to(per_token.device), per_token[b, :n])
        return out / batch


def align(
    tokenizer: PreTrainedTokenizerBase,
    split: Split,
    display: str | None = None,
    n_counterfactuals: int = 10,
) -> Alignment:
    """Align ``split``'s prompts onto ``display`` (default: its first prompt) and pair each
    prompt with the ``n_counterfactuals`` next prompts (cyclically) whose answer differs."""
    rows = [tokenizer(e.prompt)["input_ids"] for e in split.examples]
    if len(rows) < 2:
        raise AlignmentError("aligning needs at least 2 test prompts (they define the shared template)")
    prefix = common_prefix(rows)
    suffix = common_prefix([r[::-1] for r in rows])
    short = [split.examples[i].prompt for i, r in enumerate(rows) if len(r) - prefix - suffix < 1]
    if short:
        raise AlignmentError(f"prompts {short[:2]} have no varying middle between the shared prefix and suffix")
    shown = rows[0] if display is None else tokenizer(display)["input_ids"]
    if not _fits(shown, rows[0], prefix, suffix):
        head = tokenizer.decode(rows[0][:prefix], skip_special_tokens=True)
        tail = tokenizer.decode(rows[0][len(rows[0]) - suffix:], skip_special_tokens=True)
        raise AlignmentError(
            f"display prompt {display!r} does not align with the test prompts: it must start with "
            f"{head!r} and end with {tail!r} (token for token), with something in between, "
            f"e.g. {split.examples[0].prompt!r}")
    width = max(len(r) for r in rows)
    columns = torch.full((len(rows), width), -1, dtype=torch.long)
    for b, r in enumerate(rows):
        columns[b, : len(r)] = positions(prefix, suffix, len(r), len(shown))
    cf = counterfactual_pairs(split, n_counterfactuals)
    partner = torch.zeros((len(rows), cf.shape[1], width), dtype=torch.long)
    for b, r in enumerate(rows):
        for c, other in enumerate(cf[b].tolist()):
            partner[b, c, : len(r)] = positions(prefix, suffix, len(r), len(rows[other]))
    tokens = [str(tokenizer.decode([t])) for t in shown]
    return Alignment(tokens, prefix, suffix, torch.tensor([len(r) for r in rows]), columns, cf, partner)


def _fits(ids: Sequence[int], like: Sequence[int], prefix: int, suffix: int) -> bool:
    return (len(ids) > prefix + suffix and list(ids[:prefix]) == list(like[:prefix])
            and list(ids[len(ids) - suffix:]) == list(like[len(like) - suffix:]))


def counterfactual_pairs(split: Split, n: int) -> torch.Tensor:
    """(n_prompts, n): for prompt ``i``, the next ``n`` prompts after it (cyclically) whose
    answer differs from its own."""
    answers = [e.answer for e in split.examples]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ParameterError(f"n_counterfactuals must be a whole number >= 1, got {n!r}")
    out = []
    for i, answer in enumerate(answers):
        others = [(i + k) % len(answers) for k in range(1, len(answers))]
        others = [j for j in others if answers[j] != answer]
        if len(others) < n:
            raise ParameterError(f"prompt {i} has only {len(others)} counterfactuals with another answer; "
                                 f"ask for n_counterfactuals <= {len(others)}")
        out.append(others[:n])
    return torch.tensor(out, dtype=torch.long)
