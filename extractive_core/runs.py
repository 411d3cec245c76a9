"""A cache of finetuning runs, so every notebook that analyses the same run reuses it.

A run is keyed by everything that determines its numbers: the model's weights (a
fingerprint of the tensors actually loaded, so a delta applied in place changes the key),
the training and evaluation splits (their examples and options), the recipe, seed,
trainable set and layers, dtype and autocast, the source code of the training path, and the
numeric environment (library versions, threads, CPU capability; ``numerics.environment``).
An entry is a folder holding ``delta.safetensors`` and ``run.json`` (key fields, per-epoch
log, the file's SHA-256), written to a staging folder and renamed, so it is whole or
absent. An entry that fails any check is deleted and the run retrained, never half-used.

``EXTRACTIVE_RUN_CACHE=0`` turns the cache off; entries live under
``$EXTRACTIVE_CACHE/runs/<model>/``, or under ``$EXTRACTIVE_RUN_CACHE/<model>/`` when that
names a folder (the test command uses a fresh one, so it retrains every run once).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from safetensors.torch import load_file, save_file

from . import architecture, finetune as finetune_module, metrics, precision, prefix, tokens
from .datasets import Split
from .finetune import FinetuneResult, finetune, trainable_names
from .models import LoadedModel, cache_dir
from .numerics import environment
from .results import save_json

CODE_MODULES = (finetune_module, metrics, tokens, architecture, precision, prefix)


@dataclass
class CacheStats:
    """What the cache did in this process (printed by notebooks and the main job)."""

    hits: int = 0
    misses: int = 0
    seconds_saved: float = 0.0


STATS = CacheStats()


def record(event: str, label: str, seconds: float = 0.0) -> None:
    """Append a cache event to ``$EXTRACTIVE_RUN_STATS`` (a JSON-lines file the main job
    reads to print its per-notebook table), when that variable is set."""
    path = os.environ.get("EXTRACTIVE_RUN_STATS")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"event": event, "label": label, "seconds": round(seconds, 2)}) + "\n")


def enabled() -> bool:
    """False when ``EXTRACTIVE_RUN_CACHE`` is ``0``/``false``/``no``."""
    return os.environ.get("EXTRACTIVE_RUN_CACHE", "1").lower() not in ("0", "false", "no")


def runs_dir() -> Path:
    """``$EXTRACTIVE_RUN_CACHE`` when it names a folder, else ``$EXTRACTIVE_CACHE/runs``."""
    setting = os.environ.get("EXTRACTIVE_RUN_CACHE", "1")
    return Path(setting) if setting.lower() not in ("1", "true", "yes", "") else cache_dir() / "runs"


def code_version() -> str:
    """SHA-256 (12 hex digits) of the source of every module on the training path."""
    digest = hashlib.sha256()
    for module in CODE_MODULES:
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()[:12]


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A hash of every parameter's name, shape, dtype, float64 sum and a strided sample of
    its values: changes whenever the weights do, without hashing every byte."""
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, p in model.named_parameters():
            flat = p.detach().reshape(-1)
            sample = flat[:: max(1, flat.numel() // 1024)].float().cpu()
            digest.update(f"{name}{tuple(p.shape)}{p.dtype}{p.sum(dtype=torch.float64).item():.17g}".encode())
            digest.update(sample.numpy().tobytes())
    return digest.hexdigest()[:16]


def split_fingerprint(split: Split) -> str:
    """A hash of a split's examples and options (dataset, version and size in one)."""
    blob = json.dumps([[e.prompt, e.answer] for e in split.examples] + [list(split.options)])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_spec(lm: LoadedModel, train: Split, evals: Mapping[str, Split], recipe: dict[str, Any]) -> dict[str, Any]:
    """Everything that determines a run, as JSON-ready data."""
    return {
        "model": lm.params.name,
        "weights": weights_fingerprint(lm.model),
        "dtype": str(next(lm.model.parameters()).dtype).removeprefix("torch."),
        "autocast": lm.params.autocast,
        "train": split_fingerprint(train),
        "evals": {k: split_fingerprint(s) for k, s in sorted(evals.items())},
        **{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in sorted(recipe.items())},
        "code": code_version(),
        "environment": {k: v for k, v in environment(lm.model).items() if k != "cpu_model"},
    }


def spec_key(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached_finetune(
    lm: LoadedModel,
    train: Split,
    evals: Mapping[str, Split],
    *,
    lr: float,
    epochs: int,
    batch_size: int = 8,
    seed: int = 0,
    trainable: str = "blocks",
    layers: Sequence[int] | None = None,
    progress: bool | None = None,
    label: str = "",
) -> FinetuneResult:
    """``finetune`` on ``lm``, reusing the cached run when everything that determines it
    matches. ``label`` names the run in the cache messages (e.g. ``"first_hop seed 0"``)."""
    trainable_names(lm.model, trainable, layers)  # bad layers fail here, before any hashing
    recipe = {"lr": lr, "epochs": epochs, "batch_size": batch_size, "seed": seed, "trainable": trainable,
              "layers": sorted(layers) if layers is not None else None}

    def train_now() -> FinetuneResult:
        return finetune(lm.model, lm.tokenizer, train, evals, lr=lr, epochs=epochs, batch_size=batch_size,
                        seed=seed, trainable=trainable, layers=layers, autocast_dtype=lm.params.autocast,
                        progress=progress)

    if not enabled():
        result = train_now()
        record("run_trained", f"{lm.params.name} {label}", result.seconds["total"])
        return result
    spec = run_spec(lm, train, evals, recipe)
    entry = runs_dir() / lm.params.name / spec_key(spec)
    cached = _read(entry, spec)
    if cached is not None:
        STATS.hits += 1
        STATS.seconds_saved += cached.seconds.get("total", 0.0)
        print(f"run cache: hit {lm.params.name} {label} ({entry.name})", file=sys.stderr)
        record("run_hit", f"{lm.params.name} {label}", cached.seconds.get("total", 0.0))
        return cached
    STATS.misses += 1
    result = train_now()
    _write(entry, spec, result)
    record("run_trained", f"{lm.params.name} {label}", result.seconds["total"])
    print(f"run cache: trained {lm.params.name} {label} in {result.seconds['total']:.1f} s ({entry.name})",
          file=sys.stderr)
    return result


def _read(entry: Path, spec: dict[str, Any]) -> FinetuneResult | None:
    """The cached run at ``entry``, or None; a damaged or mismatched entry is removed."""
    meta_path, delta_path = entry / "run.json", entry / "delta.safetensors"
    if not entry.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        if meta["spec"] != spec:
            raise ValueError("key collision: the stored spec differs")
        if file_sha256(delta_path) != meta["delta_sha256"]:
            raise ValueError("delta.safetensors does not match its checksum")
        delta = load_file(delta_path)
        if sorted(delta) != meta["delta_names"]:
            raise ValueError("delta tensors differ from the recorded names")
        result = FinetuneResult(delta=delta, log=meta["log"], first_loss=meta["first_loss"])
        result.seconds.update(meta["seconds"])
        return result
    except Exception as err:  # noqa: BLE001 - any damage means: retrain
        print(f"run cache: discarding damaged entry {entry} ({type(err).__name__}: {err}); retraining",
              file=sys.stderr)
        shutil.rmtree(entry, ignore_errors=True)
        return None


def _write(entry: Path, spec: dict[str, Any], result: FinetuneResult) -> None:
    """Store ``result`` whole: staging folder first, then one rename."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=entry.parent, prefix=f".{entry.name}-"))
    try:
        delta = {n: t.detach().to("cpu").contiguous() for n, t in result.delta.items()}
        save_file(delta, staging / "delta.safetensors")
        save_json(staging / "run.json", {
            "spec": spec, "log": result.log, "first_loss": result.first_loss, "seconds": dict(result.seconds),
            "delta_names": sorted(delta), "delta_sha256": file_sha256(staging / "delta.safetensors"),
        })
        shutil.rmtree(entry, ignore_errors=True)
        staging.rename(entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
