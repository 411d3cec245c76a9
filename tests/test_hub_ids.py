"""A Hugging Face causal LM by hub id, without a params file: ``load_model("Qwen/Qwen2-7B")``
or ``"hf:Qwen/Qwen2-7B"``. The params come from the model's config by the reproduction
guide's rule (the shipped 7B files' split, dtype and recipe), printed on load; a params file
of the id's folder name (``Qwen--Qwen2-7B.yaml``) overrides them. No network: tiny random
models saved as local checkpoints in ``$EXTRACTIVE_MODEL_DIR/<folder name>/``."""

import json
import re

import pytest
import torch

import extractive_core.params as params_module
from extractive_core.errors import ParameterError, UnknownModelError, WeightsUnavailableError
from extractive_core.models import load_model
from extractive_core.params import derive_hub_params, hub_late_start, load_params
from extractive_core.results import figure_path, model_folder, output_root, results_path

from conftest import tiny_model, write_params

HUB_ID = "nobody/tiny-llama"
FOLDER = "nobody--tiny-llama"


@pytest.fixture
def hub_copy(tokenizer, params_dir, tmp_path, monkeypatch):
    """A tiny 4-layer llama saved as ``$EXTRACTIVE_MODEL_DIR/nobody--tiny-llama``, no GPU
    seen, and the derived params not yet printed in this process."""
    saved = tiny_model("llama", len(tokenizer), n_layers=4)
    saved.save_pretrained(tmp_path / "models" / FOLDER)
    tokenizer.save_pretrained(tmp_path / "models" / FOLDER)
    monkeypatch.setenv("EXTRACTIVE_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(params_module, "_SHOWN", set())
    return saved


@pytest.mark.parametrize("name", ["olmo_7b", "llama3_8b", "gemma2_9b", "qwen2_7b", "mistral_7b", "llama3_2_1b"])
def test_the_rule_gives_the_shipped_paper_params(name):
    """On a GPU, the derived params are the shipped file's, field for field (the layer count
    read from the file's description)."""
    shipped = load_params(name)
    layers = int(re.search(r"(\d+) layers", shipped.description).group(1))
    derived, lines = derive_hub_params(str(shipped.hub_id), layers, "llama", gpu=True)
    for field in ("source", "hub_id", "revision", "dtype", "autocast", "late_start", "recipe", "continued_training"):
        assert getattr(derived, field) == getattr(shipped, field), field
    assert derived.name == model_folder(str(shipped.hub_id)) and len(lines) == 8


def test_the_layer_split_is_three_quarters_rounded_half_up():
    assert [hub_late_start(n) for n in (1, 2, 3, 4, 16, 18, 28, 32, 42)] == [None, 1, 2, 3, 12, 14, 21, 24, 32]
    assert hub_late_start(18) == load_params("gemma3_270m").late_start  # the default model's split too


@pytest.mark.parametrize("name", [HUB_ID, f"hf:{HUB_ID}", FOLDER])
def test_a_hub_id_loads_a_local_copy_with_derived_params_printed(name, hub_copy, capsys):
    lm = load_model(name, device="cpu", threads=1)
    p = lm.params
    assert (p.name, p.source, p.hub_id, p.late_start, p.dtype, p.autocast) == (FOLDER, "hub", HUB_ID, 3, "float32", None)
    assert p.recipe.as_dict() == {"lr": 3e-6, "epochs": 8, "batch_size": 8, "trainable": "blocks"}
    loaded = dict(lm.model.named_parameters())
    assert all(torch.equal(w, loaded[n]) for n, w in hub_copy.named_parameters())
    shown = capsys.readouterr().out
    for assumption in (f"no params file {FOLDER}.yaml", "late_start 3: layers 0..2 early, 3..3 late",
                       "dtype float32", "autocast none: no GPU", "recipe: lr 3e-06, 8 epochs, batch 8",
                       "continued_training", f"results/{FOLDER}/", "remote code never run"):
        assert assumption in shown, assumption
    load_params(name)
    assert capsys.readouterr().out == ""  # once per process


def test_a_params_file_of_the_folder_name_overrides(hub_copy, params_dir, capsys):
    write_params(params_dir, FOLDER, source="hub", hub_id=HUB_ID, late_start=2, recipe={"lr": 1e-2})
    for name in (HUB_ID, f"hf:{HUB_ID}", FOLDER):
        p = load_params(name)
        assert (p.name, p.late_start, p.recipe.lr, p.folder) == (FOLDER, 2, 1e-2, str(params_dir))
    assert capsys.readouterr().out == ""  # nothing derived, nothing printed


def test_plain_names_load_as_before(capsys):
    p = load_params("qwen2_7b")
    assert (p.name, p.hub_id, p.late_start) == ("qwen2_7b", "Qwen/Qwen2-7B", 21)
    assert load_params("gemma3_270m").source == "gguf_package" and capsys.readouterr().out == ""


def test_every_path_of_a_hub_id_is_its_folder_name(hub_copy, tmp_path, monkeypatch):
    """Results, figures, claims and the run cache: one folder, ``owner--name``."""
    from extractive_core.claims import Claim, measurement
    from extractive_core.datasets import first_hop
    from extractive_core.params import RunSpec
    from extractive_core.runs import cached_finetune

    monkeypatch.setenv("EXTRACTIVE_OUTPUT", str(tmp_path / "out"))
    for name in (HUB_ID, f"hf:{HUB_ID}"):
        assert results_path(name, "two_hop_ocr") == output_root() / "results" / FOLDER / "two_hop_ocr.json"
        assert figure_path(name, "grafting") == output_root() / "figures" / FOLDER / "grafting.png"
    assert results_path("gemma3_270m", "x") == output_root() / "results" / "gemma3_270m" / "x.json"
    root = tmp_path / "results"
    (root / FOLDER).mkdir(parents=True)
    (root / FOLDER / "two_hop_ocr.json").write_text(json.dumps({"claims": {"k": {"measurement": "v 1",
                                                                                  "verdict": "agrees", "rule": "r"}}}))
    claim = Claim("c", "p", "01_two_hop_ocr", "two_hop_ocr", "k", lambda r: "")
    assert measurement(claim, HUB_ID, root) == ("v 1", "agrees")
    lm = load_model(HUB_ID, device="cpu", threads=1)
    data = first_hop(n=4)
    cached_finetune(lm, data.facts, {"train": data.facts}, RunSpec.of(lm.params, lr=1e-2, epochs=1), label="hub id")
    assert [p.name for p in (tmp_path / "run_cache").iterdir()] == [FOLDER]


@pytest.mark.parametrize("name, message", [
    ("hf:", "after 'hf:' comes a Hugging Face hub id"),
    ("hf:gemma3_270m", "after 'hf:' comes"),
    ("hf:a/b/c", "after 'hf:' comes"),
    ("a/b/c", "not a plain name.*hub id, owner/name"),
    ("x/../y", "not a plain name"),
    ("owner//name", "not a plain name"),
    ("-owner/name", "not a plain name"),
    ("owner/na--me", "not a plain name"),
])
def test_a_malformed_id_is_refused_clearly(name, message):
    with pytest.raises(UnknownModelError, match=message):
        load_params(name)


def test_an_unreachable_hub_names_the_local_copy_fix(params_dir, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("EXTRACTIVE_MODEL_DIR", raising=False)
    with pytest.raises(WeightsUnavailableError, match=r"needs internet access.*\$EXTRACTIVE_MODEL_DIR/nobody--absent/"):
        load_model("nobody/absent")


def test_an_id_the_hub_does_not_know_is_an_unknown_model(params_dir, monkeypatch):
    import transformers
    from huggingface_hub.errors import RepositoryNotFoundError

    def not_found(*args, **kwargs):
        raise OSError("not a valid model identifier") from RepositoryNotFoundError.__new__(RepositoryNotFoundError)

    monkeypatch.delenv("EXTRACTIVE_MODEL_DIR", raising=False)
    monkeypatch.setattr(params_module, "require_hub", lambda name, hub_id: None)
    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", not_found)
    with pytest.raises(UnknownModelError, match="unknown model 'nobody/nothing': the Hugging Face hub has no such"):
        load_params("nobody/nothing")


def test_remote_code_and_other_layouts_are_refused(params_dir, tmp_path, monkeypatch):
    from transformers import GPT2Config

    monkeypatch.setenv("EXTRACTIVE_MODEL_DIR", str(tmp_path / "models"))
    GPT2Config(n_layer=2).save_pretrained(tmp_path / "models" / "nobody--gpt2")
    with pytest.raises(ParameterError, match="'gpt2' model; the project's analyses know the LLaMA-family"):
        load_params("nobody/gpt2")
    custom = tmp_path / "models" / "nobody--custom"
    custom.mkdir(parents=True)
    (custom / "config.json").write_text(json.dumps({"model_type": "my_own_lm", "auto_map": {
        "AutoConfig": "configuration_mine.MineConfig", "AutoModelForCausalLM": "modeling_mine.MineForCausalLM"}}))
    (custom / "configuration_mine.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(ParameterError, match="without running the repository's own code, which this project never"):
        load_params("nobody/custom")
