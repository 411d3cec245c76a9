"""Extractive scores and their exact check on tiny random models: the informative score adds
up to grad . delta, upstream and downstream match a slow per-prompt, per-pair reference
written here with plain hooks, the results repeat exactly, and bad input fails clearly."""

from __future__ import annotations

import pytest
import torch

from conftest import ARCHITECTURES, tiny_model
from extractive_core.alignment import Alignment, AlignmentError, align, positions
from extractive_core.components import component_delta, component_names, geometry, param_name, parse
from extractive_core.datasets import first_hop, second_hop
from extractive_core.errors import ParameterError
from extractive_core.exact import exact_check
from extractive_core.extractive import extractive_scores, loss_per_prompt, prepare
from extractive_core.finetune import applied, trainable_names

LINEAR_MAPS = ("q_proj", "k_proj", "v_proj", "o_proj.weight", "gate_proj", "up_proj", "down_proj")


def random_delta(model, scale=0.02, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {n: scale * torch.randn(p.shape, generator=g) for n, p in model.named_parameters()
            if n in trainable_names(model)}


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_informative_adds_up_to_grad_dot_delta(model_type, tokenizer):
    model = tiny_model(model_type, len(tokenizer))
    delta = random_delta(model)
    split = first_hop().implications
    scores = extractive_scores(model, tokenizer, split, delta, n_counterfactuals=2)
    prep = prepare(model, tokenizer, split)
    loss_per_prompt(model, prep).mean().backward()
    params = dict(model.named_parameters())
    direct = -sum((params[n].grad * delta[n]).sum() for n in delta if any(k in n for k in LINEAR_MAPS))
    totals = scores.totals("informative")
    assert float(totals["mlp"].sum() + totals["heads"].sum()) == pytest.approx(float(direct), rel=1e-4, abs=1e-7)
    assert float(direct) != 0.0


def reference_scores(model, tokenizer, split, delta, n_cf):
    """The authors' procedure, slowly: one prompt (and one pair) at a time, plain hooks."""
    geo = geometry(model)
    layers = range(geo.n_layers)
    rows = [tokenizer(e.prompt)["input_ids"] for e in split.examples]
    al = align(tokenizer, split, None, n_cf)
    option_ids = prepare(model, tokenizer, split).option_ids
    index = {o: i for i, o in enumerate(split.options)}

    def run(i, grads=True):
        """Per-layer MLP outputs and head outputs (seq, d) / (seq, H, hd) and their grads."""
        store, handles = {}, []
        for l in layers:
            block = model.model.layers[l]

            def mlp_hook(m, a, out, l=l):
                store[("mlp", l)] = out
                if out.requires_grad:
                    out.retain_grad()

            def o_hook(m, a, l=l):
                store[("z", l)] = a[0]
                if a[0].requires_grad:
                    a[0].retain_grad()
            handles += [block.mlp.register_forward_hook(mlp_hook), block.self_attn.o_proj.register_forward_pre_hook(o_hook)]
        ids = torch.tensor([rows[i]])
        embed = model.get_input_embeddings()(ids).detach().requires_grad_(grads)
        hidden = model.model(inputs_embeds=embed, use_cache=False).last_hidden_state[0, -1]
        logits = model.lm_head.weight[option_ids] @ hidden
        cap = getattr(model.config, "final_logit_softcapping", None)
        if cap:
            logits = torch.tanh(logits / cap) * cap
        loss = -logits[index[split.examples[i].answer]] + logits.mean()
        if grads:
            loss.backward()
        for h in handles:
            h.remove()
        out = {}
        for (kind, l), t in store.items():
            shape = (t.shape[1], -1) if kind == "mlp" else (t.shape[1], geo.n_heads, geo.head_dim)
            out[(kind, l)] = (t[0].detach().reshape(shape), None if t.grad is None else t.grad[0].reshape(shape))
        return out

    def frozen_params():
        for p in model.parameters():
            p.requires_grad_(False)

    frozen_params()
    old = [run(i) for i in range(len(rows))]
    with applied(model, delta):
        new = [run(i) for i in range(len(rows))]
    tilde = {}
    for l in layers:  # the new model with only layer l's MLP (or attention) kept old
        for kind, part in (("mlp", "mlp."), ("z", "self_attn.")):
            partial = {n: d for n, d in delta.items() if f"layers.{l}.{part}" not in n}
            with applied(model, partial):
                for i in range(len(rows)):
                    tilde[(kind, l, i)] = run(i, grads=False)[(kind, l)][0]
    up = {"mlp": torch.zeros(len(rows), len(rows[0]) + 8, geo.n_layers),
          "z": torch.zeros(len(rows), len(rows[0]) + 8, geo.n_layers, geo.n_heads)}
    down = {k: torch.zeros_like(v) for k, v in up.items()}
    for i in range(len(rows)):
        n = len(rows[i])
        for l in layers:
            for kind in ("mlp", "z"):
                o, g_old = old[i][(kind, l)]
                g_new = new[i][(kind, l)][1]
                for c, j in enumerate(al.counterfactuals[i].tolist()):  # one pair at a time
                    o_cf = old[j][(kind, l)][0][positions(al.prefix, al.suffix, n, len(rows[j]))]
                    up[kind][i, :n, l] += ((g_old - g_new) * (o - o_cf)).sum(-1) / n_cf
                down[kind][i, :n, l] = (g_old * (o - tilde[(kind, l, i)])).sum(-1)
    return up, down


@pytest.mark.parametrize("model_type", ["llama", "gemma3_text", "qwen2"])
def test_upstream_and_downstream_match_a_per_pair_reference(model_type, tokenizer):
    model = tiny_model(model_type, len(tokenizer))
    delta = random_delta(model)
    split = second_hop().implications  # landmarks of different lengths: alignment matters
    scores = extractive_scores(model, tokenizer, split, delta, n_counterfactuals=3)
    up, down = reference_scores(model, tokenizer, split, delta, 3)
    width = scores.per_token["upstream"]["mlp"].shape[1]
    for ours, ref in ((scores.per_token["upstream"], up), (scores.per_token["downstream"], down)):
        for comp, kind in (("mlp", "mlp"), ("heads", "z")):
            expected = ref[kind][:, :width]
            assert torch.allclose(ours[comp].float(), expected, rtol=1e-4, atol=1e-6), comp
            assert expected.abs().max() > 1e-4


def test_scores_repeat_exactly(tokenizer):
    model = tiny_model("gemma3_text", len(tokenizer))
    delta = random_delta(model)
    a = extractive_scores(model, tokenizer, first_hop().implications, delta, n_counterfactuals=2)
    b = extractive_scores(model, tokenizer, first_hop().implications, delta, n_counterfactuals=2)
    for kind in a.per_token:
        for comp in a.per_token[kind]:
            assert torch.equal(a.per_token[kind][comp], b.per_token[kind][comp])


def test_display_columns_keep_totals(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    scores = extractive_scores(model, tokenizer, second_hop().implications, random_delta(model), n_counterfactuals=2)
    for kind, comps in scores.display.items():
        totals = scores.totals(kind)
        assert torch.allclose(comps["mlp"].sum(0), totals["mlp"], atol=1e-6)
        assert torch.allclose(comps["heads"].sum(0), totals["heads"], atol=1e-6)


def linear_regime(model_type, tokenizer, steps):
    """A float64 tiny model on a 2^-20 weight grid (so float32 arithmetic in ``applied`` is
    exact) and a delta of ``steps`` grid steps against the gradient's sign."""
    model = tiny_model(model_type, len(tokenizer)).double()
    grid = 2.0 ** -20
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.round(p / grid) * grid)
    split = first_hop().implications
    loss_per_prompt(model, prepare(model, tokenizer, split)).mean().backward()
    delta = {n: -torch.sign(p.grad) * steps * grid for n, p in model.named_parameters() if n in trainable_names(model)}
    model.zero_grad()
    return model, split, delta


def test_exact_check_in_the_linear_regime(tokenizer):
    """A weight change of a few 2^-20 along the gradient's sign, in float64 on a grid that
    float32 holds exactly: the loss is linear in it, so linear and exact agree."""
    model, split, delta = linear_regime("gemma3_text", tokenizer, steps=4)
    summary = exact_check(model, tokenizer, split, delta, n_counterfactuals=1, progress=False).summary()
    for kind in ("informative", "downstream"):
        assert summary[kind]["all"]["r"] > 0.9999, summary[kind]
        assert summary[kind]["all"]["relative_error"] < 0.01, summary[kind]


def test_exact_check_is_not_trivially_perfect(tokenizer):
    """With a large weight change the linearisation is visibly off: the check can fail."""
    model = tiny_model("llama", len(tokenizer))
    summary = exact_check(model, tokenizer, first_hop().implications, random_delta(model, 0.5), progress=False).summary()
    assert summary["informative"]["all"]["relative_error"] > 0.05


def test_component_names_and_grouped_query_shares(tokenizer):
    model = tiny_model("llama", len(tokenizer))  # 4 query heads, 2 key/value heads of 8
    names = component_names(model)
    assert names[:3] == ["blocks.0.mlp", "blocks.0.attn.head0", "blocks.0.attn.head1"] and len(names) == 10
    assert parse(model, "blocks.1.attn.head3") == (1, 3)
    delta = random_delta(model)
    parts = [component_delta(model, delta, f"blocks.0.attn.head{h}") for h in range(4)]
    for role in ("query", "key", "value", "output"):
        key = param_name(model, 0, role)
        assert torch.allclose(sum(p[key] for p in parts), delta[key], atol=1e-7)
    k = param_name(model, 0, "key")
    assert torch.allclose(parts[0][k][:8], 0.5 * delta[k][:8]) and parts[0][k][8:].abs().max() == 0
    for bad in ("blocks.9.mlp", "blocks.0.attn.head4", "mlp.0", 3):
        with pytest.raises(ParameterError):
            parse(model, bad)


def test_alignment_positions():
    # prefix 2, suffix 1: a 6-token prompt (middle 3) against a 5-token one (middle 2)
    assert positions(2, 1, 6, 5).tolist() == [0, 1, 2, 2, 3, 4]
    assert positions(2, 1, 5, 6).tolist() == [0, 1, 3, 4, 5]


def test_counterfactuals_have_other_answers(tokenizer):
    al = align(tokenizer, first_hop().implications, None, 10)
    answers = [e.answer for e in first_hop().implications.examples]
    for i, row in enumerate(al.counterfactuals.tolist()):
        assert len(row) == 10 and i not in row and all(answers[j] != answers[i] for j in row)


def test_bad_input_is_named(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    other = tiny_model("llama", len(tokenizer) + 5)
    split = first_hop().implications
    with pytest.raises(ParameterError, match="another model"):
        extractive_scores(model, tokenizer, split, random_delta(other) | {"lm_head.weight": torch.zeros(3, 3)})
    with pytest.raises(AlignmentError, match="does not align"):
        extractive_scores(model, tokenizer, split, random_delta(model), display="Paris is the capital of")
    with pytest.raises(ParameterError, match="n_counterfactuals"):
        extractive_scores(model, tokenizer, split, random_delta(model), n_counterfactuals=20)


def test_exact_upstream_in_the_linear_regime(tokenizer, monkeypatch):
    """Shrink the counterfactual patch to o + 1e-3 (o' - o) on both sides and take a tiny
    weight change: upstream's exact patching effects then agree with its linear score."""
    model, split, delta = linear_regime("llama", tokenizer, steps=64)
    original = Alignment.partners

    def nearby(self, out, c):
        return out + 1e-3 * (original(self, out, c) - out)

    monkeypatch.setattr(Alignment, "partners", nearby)
    summary = exact_check(model, tokenizer, split, delta, n_counterfactuals=1, progress=False).summary()
    assert summary["upstream"]["all"]["r"] > 0.99, summary["upstream"]
    assert summary["upstream"]["all"]["relative_error"] < 0.1, summary["upstream"]


def test_diverged_weights_fail_loudly(tokenizer):
    """A delta that makes the logits non-finite stops the scores instead of mapping NaNs."""
    from extractive_core.errors import TrainingDivergedError

    model = tiny_model("llama", len(tokenizer))
    delta = random_delta(model)
    delta["model.layers.1.mlp.down_proj.weight"] = torch.full_like(delta["model.layers.1.mlp.down_proj.weight"], float("inf"))
    with pytest.raises(TrainingDivergedError, match="non-finite"):
        extractive_scores(model, tokenizer, first_hop().implications, delta, n_counterfactuals=2)


def test_a_degenerate_check_never_holds():
    """Constant logits give zero scores and zero exact changes: no correlation, no verdict of 'holds'."""
    import math

    import numpy as np

    from extractive_core.exact import agreement
    from extractive_core.extractive_maps import linearisation_verdict

    a = agreement(np.zeros(6), np.zeros(6))
    assert math.isnan(a["r"]) and math.isnan(a["relative_error"])
    assert linearisation_verdict(a["r"], a["relative_error"]) == "breaks"
    assert linearisation_verdict(0.95, 0.2) == "holds" and linearisation_verdict(0.6, 0.9) == "rough"


def test_exact_check_and_chapter_arguments(tokenizer):
    from dataclasses import replace

    from extractive_core.extractive_maps import run_extractive_scores
    from extractive_core.models import LoadedModel
    from extractive_core.params import load_params

    model = tiny_model("llama", len(tokenizer))
    with pytest.raises(ParameterError, match="n_counterfactuals"):
        exact_check(model, tokenizer, first_hop().implications, random_delta(model), n_counterfactuals=0)
    lm = LoadedModel(model, tokenizer, replace(load_params("toyworld"), name="tiny"))
    with pytest.raises(ParameterError, match="exact_seed"):
        run_extractive_scores(lm, seeds=[0, 1], exact_seed=5)
    with pytest.raises(ParameterError, match="exact_layer_stride must be a whole number in 1..2"):
        run_extractive_scores(lm, seeds=[0], exact_layer_stride=3)


def test_exact_check_samples_every_strided_layer(tokenizer):
    """The strided sample holds exactly the components of layers 0, stride, ..., and the
    check on it gives those components' values of the full check."""
    import numpy as np

    from extractive_core.extractive_maps import exact_components

    model = tiny_model("llama", len(tokenizer))
    every = exact_components(model, 1)
    sample = exact_components(model, 2)
    assert every == component_names(model) and sample == [n for n in every if n.startswith("blocks.0.")]
    split, delta = first_hop().implications, random_delta(model)
    full = exact_check(model, tokenizer, split, delta, n_counterfactuals=1)
    part = exact_check(model, tokenizer, split, delta, n_counterfactuals=1, components=sample)
    rows = [every.index(n) for n in sample]
    for kind in full.exact:
        assert np.allclose(part.exact[kind], full.exact[kind][rows], rtol=1e-5, atol=1e-7)
        assert np.array_equal(part.linear[kind], full.linear[kind][rows])
