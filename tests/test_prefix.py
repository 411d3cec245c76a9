"""Frozen-prefix replay: a run that trains only late blocks skips the early ones and still
computes what the full forward passes compute."""

import contextlib
import importlib

import pytest
import torch

from extractive_core.architecture import answer_cross_entropy, blocks, lm_logits
from extractive_core.datasets import first_hop
from extractive_core.errors import ParameterError
from extractive_core.finetune import finetune
from extractive_core.metrics import option_logits
from extractive_core.prefix import frozen_prefix, replay_start

from conftest import ARCHITECTURES, tiny_model

finetune_module = importlib.import_module("extractive_core.finetune")


def three_layers(model_type, tokenizer):
    """A tiny model with three blocks, so the replayed prefix spans two of them."""
    return tiny_model(model_type, len(tokenizer), n_layers=3)


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_replayed_logits_match_the_full_pass(model_type, tokenizer):
    model = three_layers(model_type, tokenizer)
    split = first_hop(n=8).implications
    full = option_logits(model, tokenizer, split)
    with frozen_prefix(model, 2) as store:
        replayed = option_logits(model, tokenizer, split)
        again = option_logits(model, tokenizer, split)  # from the store this time
        assert len(store) == 8
    torch.testing.assert_close(replayed, full, rtol=1e-5, atol=1e-5)
    assert torch.equal(replayed, again)
    assert all("forward" not in vars(b) for b in blocks(model))  # the stubs are gone
    assert torch.equal(option_logits(model, tokenizer, split), full)


def test_replayed_run_matches_the_full_run(tokenizer, monkeypatch):
    model = three_layers("llama", tokenizer)
    data = first_hop(n=8)
    kwargs = dict(lr=1e-2, epochs=3, batch_size=3, layers=[2], progress=False)
    replayed = finetune(model, tokenizer, data.facts, {"train": data.facts, "test": data.implications}, **kwargs)
    monkeypatch.setattr(finetune_module, "frozen_prefix", lambda model, start: contextlib.nullcontext())
    full = finetune(model, tokenizer, data.facts, {"train": data.facts, "test": data.implications}, **kwargs)
    assert replayed.ranks("train") == full.ranks("train") and replayed.ranks("test") == full.ranks("test")
    assert replayed.ranks("train")[-1] < replayed.ranks("train")[0]  # it trained
    for name, d in full.delta.items():
        torch.testing.assert_close(replayed.delta[name], d, rtol=1e-4, atol=1e-6)


def test_replay_start_and_bad_start(tokenizer):
    assert replay_start("blocks", [3, 2]) == 2
    assert replay_start("blocks", None) == 0 and replay_start("all", [2]) == 0
    model = tiny_model("llama", len(tokenizer))
    with pytest.raises(ParameterError, match=r"start must be a layer index in 0..1"):
        with frozen_prefix(model, 5):
            pass


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text"])
def test_one_pass_cross_entropy_matches_the_plain_one(model_type, tokenizer):
    model = tiny_model(model_type, len(tokenizer))
    for p in model.parameters():
        p.requires_grad_(False)
    torch.manual_seed(0)
    hidden = (3 * torch.randn(6, model.config.hidden_size)).requires_grad_()
    targets = torch.randint(0, len(tokenizer), (6,))
    plain = torch.nn.functional.cross_entropy(lm_logits(model, hidden), targets)
    (want,) = torch.autograd.grad(plain, hidden)
    fused = answer_cross_entropy(model, hidden, targets, chunk=16)  # several chunks, the last one short
    (got,) = torch.autograd.grad(fused, hidden)
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-7)


def test_trained_output_layer_takes_the_plain_path(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    hidden = torch.randn(3, model.config.hidden_size)
    loss = answer_cross_entropy(model, hidden, torch.tensor([1, 2, 3]))
    loss.backward()
    assert model.get_output_embeddings().weight.grad is not None  # trainable="all" still trains the head


def test_a_blocks_own_forward_is_kept(tokenizer):
    """accelerate's device hooks replace a block's forward on the instance: replay keeps
    calling it while filling and puts it back afterwards."""
    model = three_layers("llama", tokenizer)
    block = blocks(model)[0]
    calls = []
    real = block.forward

    def hooked(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    block.forward = hooked
    split = first_hop(n=4).implications
    with frozen_prefix(model, 2):
        option_logits(model, tokenizer, split)
    assert calls and block.__dict__["forward"] is hooked
