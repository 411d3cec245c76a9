import pytest
import torch

from extractive_core.architecture import lm_logits
from extractive_core.datasets import Example, first_hop, people
from extractive_core.errors import TokenizerCollisionError
from extractive_core.metrics import correct_index, mean_logit_loss, option_logits, ranks
from extractive_core.tokenizer import word_tokenizer, words_of
from extractive_core.tokens import collate, option_token_ids

from conftest import ARCHITECTURES, tiny_model


def test_ranks_and_mean_logit_loss_by_hand():
    logits = torch.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 1.0]])
    correct = torch.tensor([2, 1])
    assert ranks(logits, correct).tolist() == [1, 0]
    assert torch.allclose(mean_logit_loss(logits, correct), torch.tensor([-2.0 + 2.0, -5.0 + 2.0]))


def test_collate_masks_prompt_and_pads_right(tokenizer):
    person = people(20)[0]  # two words, both in the tokenizer's vocabulary
    batch = collate(tokenizer, [Example("Tokyo", "Japanese"), Example("The mayor of Tokyo is", person)])
    assert batch.input_ids.shape == (2, 8)  # <bos> + 5 prompt words + 2 answer words
    assert batch.answer_pos.tolist() == [1, 5]
    assert batch.attention_mask[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    answer = [t for t in batch.labels[1].tolist() if t != -100]
    assert tokenizer.decode(answer) == person
    assert batch.labels[0, :2].tolist() == [-100, -100]


def test_option_collision_names_both_options():
    tok = word_tokenizer(words_of(["New York", "New Delhi", "Paris"]))
    with pytest.raises(TokenizerCollisionError, match="'New York' and 'New Delhi'.*'New'"):
        option_token_ids(tok, ["Paris", "New York", "New Delhi"])
    assert len(option_token_ids(tok, ["Paris", "New York"])) == 2


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_batched_option_logits_match_single_forward(model_type, tokenizer):
    """Padding, answer positions and soft-capping: batched == one prompt at a time."""
    model = tiny_model(model_type, len(tokenizer))
    split = first_hop().implications
    batched = option_logits(model, tokenizer, split, batch_size=7)
    ids = torch.tensor(option_token_ids(tokenizer, split.options))
    for i, ex in enumerate(split.examples):
        full = model(input_ids=torch.tensor([tokenizer(ex.prompt)["input_ids"]])).logits[0, -1]
        assert torch.allclose(batched[i], full[ids], atol=1e-5), (model_type, i)
    assert correct_index(split).tolist()[:3] == [split.options.index(e.answer) for e in split.examples[:3]]


def test_restricted_lm_logits_equal_full_logits(tokenizer):
    model = tiny_model("gemma2", len(tokenizer))
    hidden = torch.randn(3, 32)
    ids = torch.tensor([5, 9, 2])
    assert torch.allclose(lm_logits(model, hidden, ids), lm_logits(model, hidden)[:, ids])


def test_memoised_tokenisation_is_the_tokenizer_and_ends_with_its_block(tokenizer, monkeypatch):
    from extractive_core import tokens

    examples = [Example("Tokyo", "Japanese"), Example("The mayor of Tokyo is", "Ann")]
    plain = collate(tokenizer, examples)
    calls = []
    real = type(tokenizer).__call__
    monkeypatch.setattr(type(tokenizer), "__call__", lambda self, *a, **k: calls.append(a[0]) or real(self, *a, **k))
    with tokens.memoised(tokenizer), tokens.memoised(tokenizer):  # nested blocks share one memo
        first, again = collate(tokenizer, examples), collate(tokenizer, examples)
    assert len(calls) == 4  # two prompts and two answers, each tokenised once for both batches
    for batch in (first, again):
        assert all(torch.equal(a, b) for a, b in zip(batch.__dict__.values(), plain.__dict__.values()))
    collate(tokenizer, examples)
    assert len(calls) == 8 and not tokens._MEMOS  # outside the block nothing is remembered
