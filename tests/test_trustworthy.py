"""No silent wrong results: ties, collapse and divergence, and bad input at every entry point."""

import math

import pytest
import torch

from extractive_core.datasets import first_hop
from extractive_core.errors import ParameterError, TrainingDivergedError, UnknownModelError
from extractive_core.finetune import finetune
from extractive_core.metrics import mean_rank, ranks
from extractive_core.models import load_model
from extractive_core.params import load_params

from conftest import tiny_model, write_params


def test_ties_count_half_so_constant_logits_score_chance():
    logits = torch.zeros(4, 20)
    assert ranks(logits, torch.tensor([0, 5, 19, 7])).tolist() == [9.5] * 4
    mixed = torch.tensor([[1.0, 1.0, 0.0, 2.0]])  # one option above, one tied with the correct one
    assert ranks(mixed, torch.tensor([0])).tolist() == [1.5]


def test_collapsed_model_scores_chance_not_perfect(tokenizer):
    """The old bug: a model whose option logits are all equal scored mean rank 0.00."""
    model = tiny_model("llama", len(tokenizer))
    with torch.no_grad():
        model.lm_head.weight.zero_()
    split = first_hop().implications
    assert mean_rank(model, tokenizer, split) == pytest.approx((len(split.options) - 1) / 2)


def test_non_finite_logits_fail_loudly(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    with torch.no_grad():
        model.lm_head.weight[0, 0] = float("nan")
        model.model.norm.weight.fill_(float("inf"))
    with pytest.raises(TrainingDivergedError, match="non-finite logits"):
        mean_rank(model, tokenizer, first_hop().implications)


def test_huge_learning_rate_is_flagged_never_perfect(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    data = first_hop(n=8)
    try:
        with pytest.warns(UserWarning, match="diverged"):
            run = finetune(model, tokenizer, data.facts, {"train": data.facts, "test": data.implications},
                           lr=1e6, epochs=3, batch_size=4, progress=False)
    except TrainingDivergedError as err:
        assert "Lower the learning rate" in str(err)
    else:
        assert run.diverged and run.ranks("train")[-1] > 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lr": 1e-3, "epochs": 2.5}, "epochs must be a whole number"),
        ({"lr": float("nan"), "epochs": 1}, "lr must be a positive finite number"),
        ({"lr": 1e-3, "epochs": 1, "seed": "0"}, "seed must be a whole number"),
        ({"lr": 1e-3, "epochs": 1, "evals": {"test": ["not a split"]}}, "evals must map names to Splits"),
    ],
)
def test_finetune_rejects_bad_arguments(kwargs, message, tokenizer):
    model = tiny_model("llama", len(tokenizer))
    kwargs = {"evals": {}, **kwargs}
    evals = kwargs.pop("evals")
    with pytest.raises(ParameterError, match=message):
        finetune(model, tokenizer, first_hop(n=4).facts, evals, progress=False, **kwargs)


def test_ranks_of_an_unevaluated_split_name_the_known_ones(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    run = finetune(model, tokenizer, first_hop(n=4).facts, {"train": first_hop(n=4).facts}, lr=1e-3, epochs=1,
                   progress=False)
    with pytest.raises(ParameterError, match=r"no split 'test'.*\['train'\]"):
        run.ranks("test")


def test_recipe_epochs_override_must_be_whole(tokenizer):
    from extractive_core.models import LoadedModel
    from extractive_core.ocr import resolve_recipe, run_two_hop_ocr

    lm = LoadedModel(tiny_model("llama", len(tokenizer)), tokenizer, load_params("toyworld"))
    with pytest.raises(ParameterError, match="epochs must be a whole number"):
        resolve_recipe(lm, None, 2.5, None)
    with pytest.raises(ParameterError, match="unknown hop"):
        run_two_hop_ocr(lm, hops=["third_hop"])
    with pytest.raises(ParameterError, match="n_people must be"):
        run_two_hop_ocr(lm, n_people=50)


@pytest.mark.parametrize(
    "text, message",
    [
        ("source: [hub\n", "bad.yaml is not valid YAML"),
        ("- a\n- b\n", "must hold a mapping of keys"),
        ("source: hub\n", "source 'hub' needs the key 'hub_id'"),
        ("source: gguf_package\n", "needs the key 'package'"),
        ("source: hub\nhub_id: x/y\ndtype: float64\n", "dtype must be one of"),
        ("source: hub\nhub_id: x/y\nlate_start: -2\n", "late_start must be a whole number"),
        ("source: hub\nhub_id: x/y\nrecipe: {lr: 1.0e-3, epochs: 2.5}\n", "bad.yaml: recipe: epochs must be"),
        ("source: hub\nhub_id: x/y\nrecipe: {lr: 1e-3, speed: 2}\n", "recipe must be a mapping with keys"),
    ],
)
def test_malformed_params_files_name_the_file_and_the_problem(params_dir, text, message):
    (params_dir / "bad.yaml").write_text(text)
    with pytest.raises(ParameterError, match=message):
        load_params("bad")


def test_lr_written_without_a_dot_is_still_a_number(params_dir):
    (params_dir / "ok.yaml").write_text("source: hub\nhub_id: x/y\nrecipe: {lr: 1e-3}\n"
                                        "continued_training: {lr: 1e-4, first_layer: 2}\n")
    assert load_params("ok").recipe.lr == 0.001 and load_params("ok").continued_training.lr == 0.0001


@pytest.mark.parametrize("text, message", [
    ("continued_training: {n_people: 30}\n", "bad.yaml: continued_training: continued_training n_people must be"),
    ("continued_training: {lr: fast}\n", "bad.yaml: continued_training: lr must be a positive finite number"),
    ("continued_training: {layers: [1]}\n", "continued_training must be a mapping with keys among"),
    ("recipe: {trainable: heads}\n", "bad.yaml: recipe: trainable must be 'blocks' or 'all'"),
])
def test_typed_sections_are_checked_on_load(params_dir, text, message):
    (params_dir / "bad.yaml").write_text("source: hub\nhub_id: x/y\n" + text)
    with pytest.raises(ParameterError, match=message):
        load_params("bad")


def test_a_run_spec_is_checked_once_when_it_is_made():
    from extractive_core.params import Recipe, RunSpec

    spec = RunSpec.of(load_params("toyworld"), seed=3, layers=range(2, 0, -1))
    assert (spec.lr, spec.seed, spec.layers, spec.autocast) == (1e-3, 3, (1, 2), None) and isinstance(spec, Recipe)
    for bad, message in (({"lr": 0}, "lr must be"), ({"seed": 1.5}, "seed must be a whole number"),
                         ({"layers": [-1]}, "layers must be"), ({"autocast": "int8"}, "autocast must be one of"),
                         ({"speed": 2}, r"unknown run setting\(s\) \['speed'\]")):
        with pytest.raises(ParameterError, match=message):
            RunSpec.of(load_params("toyworld"), **bad)


@pytest.mark.parametrize("name", ["../params/gemma3_270m", "/etc/passwd", "gemma3_270m.yaml/..", "", None, 3])
def test_a_model_name_is_a_name_not_a_path(name):
    with pytest.raises(UnknownModelError, match="not a plain name"):
        load_params(name)


def test_late_start_beyond_the_model_is_refused_on_load(tokenizer, params_dir, tmp_path, monkeypatch):
    tiny_model("llama", len(tokenizer)).save_pretrained(tmp_path / "models" / "tiny")
    tokenizer.save_pretrained(tmp_path / "models" / "tiny")
    write_params(params_dir, "tiny", source="hub", hub_id="nobody/tiny", late_start=99)
    monkeypatch.setenv("EXTRACTIVE_MODEL_DIR", str(tmp_path / "models"))
    with pytest.raises(ParameterError, match="late_start 99 leaves no late layer: the model has 2 layers"):
        load_model("tiny", device="cpu", threads=1)


@pytest.mark.parametrize("kwargs, message", [({"device": "gpu"}, "device must be"), ({"threads": 0}, "threads must be"),
                                             ({"threads": 1.5}, "threads must be"), ({"dtype": "int8"}, "dtype must be")])
def test_load_model_rejects_bad_arguments_before_loading(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        load_model("gemma3_270m", **kwargs)


def test_cuda_without_a_gpu_says_so():
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(ParameterError, match="torch sees none here"):
        load_model("gemma3_270m", device="cuda")


def test_nan_loss_stops_training_with_the_fix(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight.fill_(math.inf)
    with pytest.raises(TrainingDivergedError, match="loss became nan.*Lower the learning rate"):
        finetune(model, tokenizer, first_hop(n=4).facts, {}, lr=1e-3, epochs=1, progress=False)


def test_an_unknown_determinism_probe_is_named():
    from extractive_core.determinism import under_settings

    with pytest.raises(ParameterError, match=r"unknown probe 'nope'; choose from \['ocr', 'pretrain', 'toy_ocr'\]"):
        under_settings("nope")
