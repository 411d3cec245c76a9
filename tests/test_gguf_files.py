"""GGUF files by path (``source: gguf_file``): any file that starts with the GGUF magic bytes,
with or without a ``.gguf`` suffix (Ollama keeps them as ``blobs/sha256-<digest>``), and a
clear refusal of any other file. The reproduction guide's Ollama example runs as written, on
a tiny GGUF file this test writes with the ``gguf`` package's writer."""

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from extractive_core.errors import ParameterError
from extractive_core.models import gguf_path, load_model
from extractive_core.params import load_params

from conftest import write_params

GUIDE = Path(__file__).resolve().parents[1] / "book" / "reproduction.md"


def write_tiny_gguf(path: Path, n_layers: int = 2, d: int = 32, ff: int = 64, heads: int = 4, kv: int = 2) -> Path:
    """A random float32 llama (d_model ``d``, ``heads`` heads, ``kv`` KV heads) with a
    32-token llama tokenizer, as a GGUF file at ``path`` (any name)."""
    import gguf

    tokens = ["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(29)]
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(n_layers)
    writer.add_context_length(64)
    writer.add_embedding_length(d)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv)
    writer.add_rope_dimension_count(d // heads)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types([2, 3, 3] + [1] * (len(tokens) - 3))  # unknown, control, control, then normal
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    rng = np.random.default_rng(0)

    def weight(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.02).astype(np.float32)

    kv_dim = kv * d // heads
    writer.add_tensor("token_embd.weight", weight(len(tokens), d))
    writer.add_tensor("output_norm.weight", np.ones(d, np.float32))
    writer.add_tensor("output.weight", weight(len(tokens), d))
    for i in range(n_layers):
        for name, tensor in (("attn_norm", np.ones(d, np.float32)), ("ffn_norm", np.ones(d, np.float32)),
                             ("attn_q", weight(d, d)), ("attn_k", weight(kv_dim, d)), ("attn_v", weight(kv_dim, d)),
                             ("attn_output", weight(d, d)), ("ffn_gate", weight(ff, d)), ("ffn_up", weight(ff, d)),
                             ("ffn_down", weight(d, ff))):
            writer.add_tensor(f"blk.{i}.{name}.weight", tensor)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def ollama_blob(home: Path, n_layers: int) -> Path:
    """A GGUF file where Ollama keeps one: ``~/.ollama/models/blobs/sha256-<its digest>``."""
    blobs = home / ".ollama" / "models" / "blobs"
    blobs.mkdir(parents=True)
    staged = write_tiny_gguf(blobs / "partial", n_layers=n_layers)
    blob = blobs / f"sha256-{hashlib.sha256(staged.read_bytes()).hexdigest()}"
    staged.rename(blob)
    return blob


def guide_example() -> tuple[str, str, str]:
    """The reproduction guide's Ollama example: the params file's name, its YAML, and the
    command's ``-p model`` name."""
    text = GUIDE.read_text()
    block = re.search(r"```yaml\n# ~/my-params/(\w+)\.yaml\n(.*?)```", text, re.S)
    assert block is not None, "the guide's Ollama example (a ```yaml block naming ~/my-params/<name>.yaml) is gone"
    command = re.search(r"EXTRACTIVE_PARAMS=~/my-params papermill \S+ \S+ -p model (\w+)", text)
    assert command is not None
    return block.group(1), block.group(2), command.group(1)


def test_the_guides_ollama_example_runs_on_a_blob_without_a_suffix(tmp_path, monkeypatch):
    """The guide's params file as written, its ``sha256-...`` the blob's digest: the blob is
    dequantised, cached and loaded by the real code (transformers reads the file without a
    suffix as it is)."""
    name, text, model = guide_example()
    assert name == model
    raw = yaml.safe_load(text)
    assert raw["source"] == "gguf_file" and raw["gguf"].startswith("~/.ollama/models/blobs/sha256-")
    blob = ollama_blob(tmp_path / "home", n_layers=raw["late_start"] + 2)
    assert blob.suffix == ""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "my-params").mkdir()
    (tmp_path / "home" / "my-params" / f"{name}.yaml").write_text(text.replace("sha256-...", blob.name))
    monkeypatch.setenv("EXTRACTIVE_PARAMS", "~/my-params")
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "cache"))
    assert gguf_path(load_params(model)) == blob.resolve()
    lm = load_model(model, device="cpu", threads=1)
    assert lm.model.config.num_hidden_layers == raw["late_start"] + 2 and lm.params.recipe.lr == raw["recipe"]["lr"]
    assert len(lm.tokenizer) == 32
    cached = [p for p in (tmp_path / "cache").iterdir() if p.name.startswith(f"{name}-")]
    assert len(cached) == 1 and (cached[0] / "config.json").is_file()


def test_a_disk_without_room_for_the_dequantised_model_is_named_before_any_write(tmp_path, monkeypatch):
    """The dequantised weights would not fit: one DiskFullError naming the need, the room and
    EXTRACTIVE_CACHE, and no cache folder (whole or half) left behind."""
    from extractive_core import storage
    from extractive_core.errors import DiskFullError

    name, text, _ = guide_example()
    raw = yaml.safe_load(text)
    blob = ollama_blob(tmp_path / "home", n_layers=raw["late_start"] + 2)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "my-params").mkdir()
    (tmp_path / "home" / "my-params" / f"{name}.yaml").write_text(text.replace("sha256-...", blob.name))
    monkeypatch.setenv("EXTRACTIVE_PARAMS", "~/my-params")
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(storage, "free_bytes", lambda path: 1 << 20)
    with pytest.raises(DiskFullError, match=r"dequantised sha256-\w+ needs 0\.1 GB .* 0\.0 GB free: .*EXTRACTIVE_CACHE"):
        load_model(name, device="cpu", threads=1)
    assert not [p for p in (tmp_path / "cache").glob("*") if p.name.startswith((f"{name}-", f".{name}-"))]


@pytest.mark.parametrize("file_name", ["tiny.gguf", "sha256-0123abcd", "weights.bin"])
def test_a_file_with_the_gguf_magic_is_accepted_whatever_its_name(file_name, params_dir):
    path = write_tiny_gguf(params_dir / file_name)
    write_params(params_dir, "mine", source="gguf_file", gguf=file_name)
    assert gguf_path(load_params("mine")) == path.resolve()


@pytest.mark.parametrize("file_name, content", [
    ("model.gguf", b"PK\x03\x04 a zip file, not GGUF"),
    ("sha256-feedbeef", b"{\"schemaVersion\": 2}"),  # an Ollama manifest, not a model
    ("empty.gguf", b""),
    ("short", b"GG"),
])
def test_any_other_file_is_refused_before_the_gguf_reader(file_name, content, params_dir):
    (params_dir / file_name).write_bytes(content)
    write_params(params_dir, "not_gguf", source="gguf_file", gguf=file_name)
    message = rf"model 'not_gguf': .*{re.escape(file_name)} is not a GGUF file \(it does not start with .*GGUF"
    with pytest.raises(ParameterError, match=message):
        load_model("not_gguf", device="cpu", threads=1)
