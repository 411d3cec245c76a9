"""End-to-end finetune + rank on tiny random models of every supported architecture."""

import pytest
import torch

from extractive_core.architecture import layer_of
from extractive_core.datasets import first_hop
from extractive_core.errors import ParameterError
from extractive_core.finetune import applied, finetune, trainable_names
from extractive_core.metrics import mean_rank

from conftest import ARCHITECTURES, tiny_model


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_finetune_learns_facts_and_restores_weights(model_type, tokenizer):
    model = tiny_model(model_type, len(tokenizer))
    data = first_hop(n=8)
    before = snapshot(model)
    run = finetune(model, tokenizer, data.facts, {"train": data.facts, "test": data.implications},
                   lr=2e-3, epochs=8, batch_size=4, seed=0, progress=False)
    train = run.ranks("train")
    assert len(train) == 9 and len(run.ranks("test")) == 9
    assert train[0] > 1.0 and train[-1] <= 0.5, train  # random model learns its 8 facts
    after = snapshot(model)
    assert all(torch.equal(before[n], after[n]) for n in before)  # weights restored
    assert set(run.delta) == {n for n in before if layer_of(model, n) is not None}
    with applied(model, run.delta):
        assert mean_rank(model, tokenizer, data.facts) == train[-1]
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def test_finetune_is_deterministic_and_seed_matters(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    data = first_hop(n=8)
    runs = [finetune(model, tokenizer, data.facts, {"train": data.facts}, lr=1e-2, epochs=2,
                     batch_size=3, seed=s, progress=False) for s in (0, 0, 1)]
    name = next(iter(runs[0].delta))
    assert torch.equal(runs[0].delta[name], runs[1].delta[name])
    assert not torch.equal(runs[0].delta[name], runs[2].delta[name])


def test_logging_the_ends_only_leaves_the_training_and_its_ends_as_they_were(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    data = first_hop(n=8)
    evals = {"train": data.facts, "test": data.implications}
    every, ends = (finetune(model, tokenizer, data.facts, evals, lr=1e-2, epochs=3, batch_size=3, seed=0,
                            logged=logged, progress=False) for logged in ("every", "ends"))
    assert [row["epoch"] for row in every.log] == [0, 1, 2, 3] and [row["epoch"] for row in ends.log] == [0, 3]
    assert ends.log == [every.log[0], every.log[-1]]  # the same ranks and losses, bit for bit
    assert all(torch.equal(every.delta[n], ends.delta[n]) for n in every.delta)
    with pytest.raises(ParameterError, match="logged must be one of"):
        finetune(model, tokenizer, data.facts, evals, lr=1e-2, epochs=1, logged="last", progress=False)


def test_layers_restrict_the_update(tokenizer):
    model = tiny_model("qwen2", len(tokenizer))
    data = first_hop(n=4)
    run = finetune(model, tokenizer, data.facts, {}, lr=1e-2, epochs=1, layers=[1], progress=False)
    assert run.delta and {layer_of(model, n) for n in run.delta} == {1}
    assert "model.embed_tokens.weight" in trainable_names(model, "all")
    assert "model.embed_tokens.weight" not in trainable_names(model, "blocks")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": -1.0, "epochs": 1}, "lr must be a positive finite number"),
        ({"lr": 1e-3, "epochs": 1, "batch_size": 0}, "batch_size must be a whole number >= 1"),
        ({"lr": 1e-3, "epochs": 1, "layers": [7]}, r"layers \[7\] out of range 0..1"),
        ({"lr": 1e-3, "epochs": 1, "trainable": "heads"}, "trainable must be"),
        ({"lr": 1e-3, "epochs": 1, "layers": 1}, "layers must be a non-empty list"),
        ({"lr": 1e-3, "epochs": 1, "layers": []}, "layers must be a non-empty list"),
    ],
)
def test_bad_finetune_arguments(kwargs, message, tokenizer):
    model = tiny_model("llama", len(tokenizer))
    with pytest.raises(ParameterError, match=message):
        finetune(model, tokenizer, first_hop(n=4).facts, {}, progress=False, **kwargs)


def test_applied_rejects_foreign_delta(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    with pytest.raises(ParameterError, match="lacks"):
        with applied(model, {"nope.weight": torch.zeros(1)}):
            pass


def toy_lm(tokenizer):
    from extractive_core.models import LoadedModel
    from extractive_core.params import load_params

    return LoadedModel(tiny_model("llama", len(tokenizer)), tokenizer, load_params("toyworld"))


def test_two_hop_ocr_results_layout_and_figure(tokenizer, tmp_path):
    import json

    import matplotlib.pyplot as plt

    from extractive_core.ocr import run_two_hop_ocr, summary_table, verdict
    from extractive_core.plots import plot_rank_curves, show_figure

    res = run_two_hop_ocr(toy_lm(tokenizer), seeds=[0, 1], epochs=2, lr=1e-3, n_people=6, progress=False)
    json.dumps(res)  # tidy, serialisable
    for hop in ("first_hop", "second_hop"):
        per_seed = res[hop]["per_seed"]
        assert set(per_seed) == {"0", "1"} and len(res[hop]["test_rank"]) == 3
        for key in ("train_rank", "test_rank"):
            for epoch in range(3):
                mean = (per_seed["0"][key][epoch] + per_seed["1"][key][epoch]) / 2
                assert res[hop][key][epoch] == pytest.approx(mean)
        assert res[hop]["chance_rank"] == 2.5
        assert "rank" in verdict(res, hop)
    assert list(summary_table(res).index) == ["first_hop", "second_hop"]
    fig = plot_rank_curves(res)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2 * 2 + 2 + 1  # seeds, means, chance
    path = show_figure(fig, tmp_path / "figs" / "ocr.png")
    assert path.read_bytes()[:4] == b"\x89PNG" and not plt.get_fignums()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"lr": "fast"}, "lr must be a positive finite number"), ({"lr": -1.0, "epochs": 1}, "lr must be a positive finite number"), ({"seeds": []}, "seeds must be")],
)
def test_two_hop_ocr_rejects_bad_parameters(kwargs, message, tokenizer):
    from extractive_core.ocr import run_two_hop_ocr

    with pytest.raises(ParameterError, match=message):
        run_two_hop_ocr(toy_lm(tokenizer), n_people=4, progress=False, **kwargs)
