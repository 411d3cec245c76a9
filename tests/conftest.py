"""Tiny random-weight models of each supported architecture, built from configs, with a
word tokenizer over the datasets' vocabulary: the hub code paths without any download."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from transformers import (
    Gemma2Config,
    Gemma3TextConfig,
    LlamaConfig,
    MistralConfig,
    OlmoConfig,
    Qwen2Config,
    AutoModelForCausalLM,
)

from extractive_core.datasets import dataset_texts
from extractive_core.tokenizer import word_tokenizer, words_of

ARCHITECTURES = {
    "llama": LlamaConfig,
    "qwen2": Qwen2Config,
    "gemma2": Gemma2Config,
    "gemma3_text": Gemma3TextConfig,
    "olmo": OlmoConfig,
    "mistral": MistralConfig,
}


@pytest.fixture(scope="session")
def tokenizer():
    return word_tokenizer(words_of(dataset_texts()))


def tiny_model(model_type: str, vocab_size: int, seed: int = 0, n_layers: int = 2):
    """A random model of ``model_type`` (2 layers unless told, d_model 32, 4 heads of 8, 2 KV heads)."""
    torch.manual_seed(seed)
    config = ARCHITECTURES[model_type](
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
    )
    if model_type == "gemma2":
        config.final_logit_softcapping = 5.0  # small, so the capping is exercised
    return AutoModelForCausalLM.from_config(config).eval()


@pytest.fixture
def params_dir(tmp_path, monkeypatch):
    """An empty params folder that load_params reads instead of the repository's."""
    monkeypatch.setenv("EXTRACTIVE_PARAMS", str(tmp_path / "params"))
    (tmp_path / "params").mkdir()
    return tmp_path / "params"


def write_params(folder: Path, name: str, **fields) -> None:
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(fields))


@pytest.fixture(autouse=True)
def private_run_cache(tmp_path, monkeypatch):
    """Tests never write finetuning runs into the user's cache."""
    monkeypatch.setenv("EXTRACTIVE_RUN_CACHE", str(tmp_path / "run_cache"))
