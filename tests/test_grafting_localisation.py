"""Grafting localisation on per (display token, layer[, head]) points: the permutation test of
the scatter's signed r^2, and the points' layout on a tiny model (one point per display token
x trained layer for MLPs, x head for heads; informative and downstream paired point by point)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import tiny_model

from extractive_core import grafting
from extractive_core.datasets import dataset_texts
from extractive_core.daxwug import daxwug, daxwug_texts
from extractive_core.errors import ParameterError
from extractive_core.grafting import localisation, run_grafting
from extractive_core.models import LoadedModel
from extractive_core.params import ContinuedTraining, Recipe, load_params
from extractive_core.stats import permutation_r2
from extractive_core.tokenizer import word_tokenizer, words_of

N = 50  # 20 test people, 30 training people
N_LAYERS, TRAINED = 3, [1, 2]


def test_permutation_r2_separates_correlated_from_independent_scatters():
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=200) for _ in range(3)]
    close = permutation_r2([(x, x + 0.3 * rng.normal(size=x.size)) for x in xs], resamples=2000, seed=1)
    assert close["statistic"] > 0.5 and close["p"] < 0.01
    assert close["resamples"] == 2000 and close["n_points"] == [200, 200, 200]
    apart = permutation_r2([(x, rng.normal(size=x.size)) for x in xs], resamples=2000, seed=1)
    assert apart["p"] > 0.05
    negative = permutation_r2([(x, -x) for x in xs], resamples=500, seed=1)
    assert negative["statistic"] < 0 and negative["p"] > 0.99
    flat = permutation_r2([(xs[0], np.ones(200)), (xs[1], xs[1])])
    assert np.isnan(flat["statistic"]) and flat["p"] == 1.0
    broken = permutation_r2([(np.where(np.arange(200) == 3, np.nan, xs[0]), xs[0]), (xs[1], xs[1])])
    assert np.isnan(broken["statistic"]) and broken["p"] == 1.0  # a NaN score: no correlation, not p at its floor


def test_permutation_r2_is_seeded_fast_and_checks_its_input():
    import time

    rng = np.random.default_rng(0)
    pairs = [(x, x + rng.normal(size=500)) for x in (rng.normal(size=500) for _ in range(3))]
    clock = time.perf_counter()
    first = permutation_r2(pairs, resamples=2000, seed=5)
    assert time.perf_counter() - clock < 1.0
    assert first == permutation_r2(pairs, resamples=2000, seed=5)
    with pytest.raises(ValueError, match="differ in length"):
        permutation_r2([([1.0, 2.0, 3.0], [1.0, 2.0])])
    with pytest.raises(ValueError, match="resamples"):
        permutation_r2(pairs, resamples=0)


@pytest.fixture(scope="module")
def lm():
    tok = word_tokenizer(words_of(dataset_texts() + daxwug_texts()))
    params = replace(load_params("toyworld"), name="tiny_dax", recipe=Recipe(lr=3e-3, epochs=1),
                     continued_training=ContinuedTraining(epochs=1, n_people=N, first_layer=1, trainable="blocks"))
    return LoadedModel(tiny_model("llama", len(tok), n_layers=N_LAYERS), tok, params)


def random_deltas(lm: LoadedModel, layers: list[int]) -> dict[str, dict[str, torch.Tensor]]:
    """Small random weight changes of the given layers' blocks, one per phase."""
    g = torch.Generator().manual_seed(0)
    trained = [n for n, _ in lm.model.named_parameters() if any(f"layers.{i}." in n for i in layers)]
    params = dict(lm.model.named_parameters())
    return {phase: {n: torch.randn(params[n].shape, generator=g) * 1e-2 for n in trained}
            for phase in ("facts", "impl_after_facts", "test")}


def test_points_are_display_tokens_by_trained_layers(lm):
    facts = daxwug("F", n=N)
    deltas = random_deltas(lm, TRAINED)
    out = localisation(lm, facts, deltas, TRAINED, n_prompts=8)
    tokens = out["display_tokens"]
    display = facts.test_implications.examples[0].prompt
    assert len(tokens) == len(lm.tokenizer(display)["input_ids"]) >= 4
    n_heads = lm.model.config.num_attention_heads
    assert out["shape"] == {"mlp": [len(tokens), len(TRAINED)], "heads": [len(tokens), len(TRAINED), n_heads]}
    assert out["points"] == {"mlp": "display token x layer", "heads": "display token x layer x head"}
    for part, n in (("mlp", len(tokens) * len(TRAINED)), ("heads", len(tokens) * len(TRAINED) * n_heads)):
        assert len(out[part]["informative"]) == len(out[part]["downstream"]) == n
        assert np.isfinite(out[part]["informative"]).all() and np.isfinite(out[part]["downstream"]).all()
        assert -1 <= out[part]["r"] <= 1 and out[part]["r2"] == pytest.approx(out[part]["r"] ** 2, rel=1e-4)
    # a layer that never trained (layer 0, below the trained ones) only adds (0, 0) points
    every = localisation(lm, facts, deltas, range(N_LAYERS), n_prompts=8)
    for part in ("mlp", "heads"):
        shape = every["shape"][part]
        x = np.asarray(every[part]["informative"]).reshape(shape)
        y = np.asarray(every[part]["downstream"]).reshape(shape)
        assert np.abs(x[:, 0]).max() == 0 and np.abs(y[:, 0]).max() < 1e-12
        assert np.abs(x[:, 1:]).max() > 0 and np.abs(y[:, 1:]).max() > 0
        np.testing.assert_allclose(x[:, 1:].reshape(-1), out[part]["informative"])


def test_display_tokens_must_agree(lm, monkeypatch):
    real = grafting.extractive_scores

    def shifted(model, tokenizer, split, delta, **kwargs):
        scores = real(model, tokenizer, split, delta, **kwargs)
        if split is facts.test_implications:
            scores.display_tokens = scores.display_tokens + ["extra"]
        return scores

    facts = daxwug("F", n=N)
    monkeypatch.setattr(grafting, "extractive_scores", shifted)
    with pytest.raises(ParameterError, match="different display tokens"):
        localisation(lm, facts, random_deltas(lm, TRAINED), TRAINED, n_prompts=4)


def test_run_grafting_stores_the_layout_once(lm):
    out = run_grafting(lm, seeds=[0], n_prompts=4)
    loc = out["localisation"]
    assert loc["layers"] == TRAINED
    n_tokens, n_heads = len(loc["display_tokens"]), lm.model.config.num_attention_heads
    assert loc["shape"] == {"mlp": [n_tokens, 2], "heads": [n_tokens, 2, n_heads]}
    (seed,) = loc["per_seed"]
    assert set(seed) == {"mlp", "heads"}
    assert len(seed["mlp"]["informative"]) == len(seed["mlp"]["downstream"]) == n_tokens * len(TRAINED)
    assert len(seed["heads"]["informative"]) == len(seed["heads"]["downstream"]) == n_tokens * len(TRAINED) * n_heads
    assert {"mlp_r2", "heads_r2", "mlp_r", "heads_r"} <= set(loc)
    assert any("points per seed" in line for line in grafting.grafting_findings(out))


def test_point_tokens_follow_the_token_major_layout():
    from extractive_core.grafting import point_tokens

    tokens = point_tokens({"shape": {"mlp": [2, 3], "heads": [2, 3, 4]}})
    assert tokens["mlp"] == [0, 0, 0, 1, 1, 1]
    assert tokens["heads"] == [0] * 12 + [1] * 12


def test_permutation_within_groups_keeps_what_the_groups_share():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(6), 10)
    pairs = [((groups == 5) * 4.0 + rng.normal(size=60), (groups == 5) * 4.0 + rng.normal(size=60)) for _ in range(3)]
    assert permutation_r2(pairs, resamples=500, seed=1)["p"] < 0.01  # over all points: the shared group reads as r
    assert permutation_r2(pairs, resamples=500, seed=1, groups=groups)["p"] > 0.05
    # one group is the ungrouped test, draw for draw (the statistic to its last bits, which the
    # grouped path sums in another memory order)
    ungrouped, one_group = (permutation_r2(pairs, resamples=200, seed=2, groups=g) for g in (None, [7] * 60))
    assert one_group["p"] == ungrouped["p"]
    assert one_group["statistic"] == pytest.approx(ungrouped["statistic"], rel=1e-12)


def test_permutation_without_groups_is_the_test_the_committed_results_were_made_with():
    """Frozen from the code before groups existed (a43002e): the same draws, so the same p to the
    last bit; the statistic to 1e-12 (numpy's sums take other SIMD paths on other CPUs: the AMD
    EPYC with AVX-512 gives ...405 where the Intel Xeon gives ...41). Seeds may differ in their
    number of points."""
    rng = np.random.default_rng(11)
    xs = [rng.normal(size=60) for _ in range(3)]
    pairs = [(x, 0.2 * x + rng.normal(size=60)) for x in xs] + [(rng.normal(size=50), rng.normal(size=50))]
    result = permutation_r2(pairs, resamples=300, seed=4)
    assert result == {**result, "p": 0.009966777408637873, "resamples": 300, "n_points": [60, 60, 60, 50]}
    assert result["statistic"] == pytest.approx(0.04751215309767441, rel=1e-12)
