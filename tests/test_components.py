"""The per-component container: its arithmetic on small tensors (shapes and values), the
alignment applied to it part by part, its names as the keys of every results file, and the
architecture module's check that a model's linear maps are where its layout says."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config

from conftest import tiny_model
from extractive_core.alignment import align
from extractive_core.architecture import ATTN_ROLES, checked_layout, linear_maps
from extractive_core.components import PARTS, PerComponent
from extractive_core.datasets import first_hop, second_hop
from extractive_core.errors import ParameterError
from extractive_core.extractive import extractive_scores
from extractive_core.finetune import trainable_names

REPO = Path(__file__).resolve().parents[1]


def outputs(seed: int = 0) -> PerComponent:
    """Outputs of 2 layers for 2 prompts x 3 tokens: MLP width 4, 3 heads of width 2."""
    g = torch.Generator().manual_seed(seed)
    return PerComponent(torch.randn(2, 3, 2, 4, generator=g, dtype=torch.float64),
                        torch.randn(2, 3, 2, 3, 2, generator=g, dtype=torch.float64), trail=1)


def test_arithmetic_acts_part_by_part():
    a, b = outputs(0), outputs(1)
    for result, op in ((a + b, torch.add), (a - b, torch.sub), (a * b, torch.mul)):
        assert result.trail == 1
        for part in PARTS:
            assert torch.equal(result[part], op(a[part], b[part]))
    assert torch.equal((-a).heads, -a.heads) and torch.equal((2.0 * a).mlp, 2.0 * a.mlp)
    assert torch.equal((a * 0.5).heads, a.heads * 0.5) and torch.equal((a + 1).mlp, a.mlp + 1)


def test_dot_sums_the_last_dimension():
    a, b = outputs(0), outputs(1)
    d = a.dot(b)
    assert d.trail == 0 and d.mlp.shape == (2, 3, 2) and d.heads.shape == (2, 3, 2, 3)
    assert torch.equal(d.mlp, (a.mlp * b.mlp).sum(-1)) and torch.equal(d.heads, (a.heads * b.heads).sum(-1))
    assert float(d.heads[1, 2, 0, 1]) == pytest.approx(float(a.heads[1, 2, 0, 1] @ b.heads[1, 2, 0, 1]))
    with pytest.raises(ParameterError, match="trailing dimension"):
        d.dot(d)


def test_reductions_mask_and_slices():
    score = PerComponent(torch.arange(12.0).reshape(2, 3, 2), torch.arange(36.0).reshape(2, 3, 2, 3))
    assert score.layer_axis == 2
    totals = score.sum(1).mean(0)  # over tokens, then prompts: [layer] / [layer, head]
    assert totals.mlp.tolist() == [15.0, 18.0] and totals.heads.shape == (2, 3)
    assert torch.equal(totals.heads, score.heads.sum(1).mean(0))
    mask = torch.tensor([[True, True, False], [True, False, False]])
    kept = score.weighted(mask)
    assert kept.mlp[0, 2].abs().sum() == 0 and kept.heads[1, 1:].abs().sum() == 0
    assert torch.equal(kept.mlp[0, :2], score.mlp[0, :2])
    assert torch.equal(totals.at(1), totals.mlp[1]) and torch.equal(totals.at(0, 2), totals.heads[0, 2])
    assert torch.equal(score.at(1, 0), score.heads[:, :, 1, 0]) and outputs().at(0, 1).shape == (2, 3, 2)
    picked = totals.layers([1])
    assert picked.mlp.tolist() == [18.0] and torch.equal(picked.heads, totals.heads[[1]])
    per_layer = score.by_layer()
    assert list(per_layer) == list(PARTS) and torch.equal(per_layer["heads"], score.heads.sum(-1))
    for bad in (-1, 2, True):
        with pytest.raises(ParameterError, match="leading dimension"):
            score.sum(bad)
    with pytest.raises(ParameterError, match="do not match"):
        score.weighted(torch.ones(3, 2))
    with pytest.raises(ParameterError, match="trailing"):
        outputs().by_layer()


def test_it_reads_as_a_mapping_and_checks_its_shapes():
    a = outputs()
    assert list(a) == ["mlp", "heads"] == list(PARTS) and len(a) == 2 and "heads" in a
    assert dict(a.items())["heads"] is a.heads and a.to(torch.float32).mlp.dtype == torch.float32
    with pytest.raises(KeyError):
        a["attn"]
    with pytest.raises(ParameterError, match="do not fit"):
        PerComponent(torch.zeros(2, 3, 2), torch.zeros(2, 3, 4, 3))  # 2 layers of MLPs, 4 of heads
    with pytest.raises(ParameterError, match="do not fit"):
        PerComponent(torch.zeros(2, 3), torch.zeros(2, 3, 4), trail=2)
    with pytest.raises(ParameterError, match="trailing dims"):
        a + a.dot(a)
    with pytest.raises(TypeError, match="weighted"):
        a * torch.ones(2)


def test_alignment_maps_every_part(tokenizer):
    al = align(tokenizer, second_hop().implications, None, 3)
    batch, seq = al.columns.shape
    g = torch.Generator().manual_seed(0)
    out = PerComponent(torch.randn(batch, seq, 2, 5, generator=g), torch.randn(batch, seq, 2, 4, 3, generator=g), trail=1)
    for f in (al.to_display, al.counterfactual_mean):
        both = f(out)
        assert isinstance(both, PerComponent) and both.trail == 1
        assert torch.equal(both.mlp, f(out.mlp)) and torch.equal(both.heads, f(out.heads))
    assert al.to_display(out).heads.shape == (len(al.display_tokens), 2, 4, 3)


def test_every_linear_map_is_named_by_the_layout(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    maps = linear_maps(model, 1)
    assert [m.role for m in maps] == ["mlp"] * 3 + list(ATTN_ROLES)
    params = dict(model.named_parameters())
    assert all(m.param() in params for m in maps)
    assert checked_layout(model).output == "o_proj"


def random_delta(model):
    g = torch.Generator().manual_seed(1)
    return {n: 0.02 * torch.randn(p.shape, generator=g) for n, p in model.named_parameters() if n in trainable_names(model)}


def test_an_unknown_layout_is_an_error_never_zero_scores(tokenizer):
    """A model whose query maps are named otherwise (a Llama with ``q_proj`` renamed), or
    that has a linear map the layout does not name, or of an unknown model type: scoring
    it is a clear error naming the model type and what was expected, not informative
    scores that silently leave out the weights it cannot find."""
    split = first_hop().implications
    renamed = tiny_model("llama", len(tokenizer))
    for block in renamed.model.layers:
        block.self_attn.query = block.self_attn.q_proj
        del block.self_attn.q_proj
    with pytest.raises(ParameterError, match=r"model_type 'llama'.*self_attn\.q_proj.*missing \['self_attn\.q_proj'\]"):
        extractive_scores(renamed, tokenizer, split, random_delta(renamed), n_counterfactuals=2)
    fused = tiny_model("llama", len(tokenizer))
    fused.model.layers[1].mlp.extra = torch.nn.Linear(4, 4)
    with pytest.raises(ParameterError, match=r"block 1 .*not expected \['mlp\.extra'\]"):
        extractive_scores(fused, tokenizer, split, random_delta(fused), n_counterfactuals=2)
    gpt2 = AutoModelForCausalLM.from_config(GPT2Config(vocab_size=len(tokenizer), n_embd=16, n_layer=1, n_head=2))
    with pytest.raises(ParameterError, match="model_type 'gpt2' is not a supported"):
        extractive_scores(gpt2, tokenizer, split, random_delta(gpt2), n_counterfactuals=2)


def keys(data) -> set[str]:
    """Every key of every dict in a JSON value."""
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in keys(v)}
    if isinstance(data, list):
        return {k for v in data for k in keys(v)}
    return set()


def dicts_with_mlp(data) -> list[dict]:
    if isinstance(data, dict):
        return ([data] if "mlp" in data else []) + [d for v in data.values() for d in dicts_with_mlp(v)]
    if isinstance(data, list):
        return [d for v in data for d in dicts_with_mlp(v)]
    return []


def test_committed_results_name_heads_heads():
    files = sorted((REPO / "results").glob("*/*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text())
        assert "attn" not in keys(data), path
        assert all("heads" in d for d in dicts_with_mlp(data)), path


def test_the_chapter_writes_the_containers_names(tokenizer, monkeypatch):
    """The results of the extractive-scores chapter (here on a tiny model with random
    deltas) name their components by the container's fields, and nothing else."""
    from dataclasses import replace

    from extractive_core import extractive_maps
    from extractive_core.models import LoadedModel
    from extractive_core.params import load_params

    model = tiny_model("llama", len(tokenizer))
    lm = LoadedModel(model, tokenizer, replace(load_params("toyworld"), name="tiny"))
    monkeypatch.setattr(extractive_maps, "two_hop_run",
                        lambda *a, **k: SimpleNamespace(delta=random_delta(model),
                                                        ranks=lambda split: {"train": [5.0, 0.2], "test": [9.5, 1.0]}[split]))
    out = extractive_maps.run_extractive_scores(lm, seeds=[0], n_counterfactuals=2, exact_seed=None)
    for entry in out["hops"].values():
        for score in entry["scores"].values():
            assert [k for k in score if k in ("mlp", "heads", "attn")] == list(PARTS)
            for sub in ("layer_totals", "layer_totals_per_seed", "seed_rank_correlation"):
                assert list(score[sub]) == list(PARTS)
    assert "attn" not in keys(out)
    assert out["hops"]["first_hop"]["runs_per_seed"] == {"before": [9.5], "final": [1.0], "facts_final": [0.2]}
