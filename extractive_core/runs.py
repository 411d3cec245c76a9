"""A cache of finetuning runs, so every notebook that analyses the same run reuses it.

A run is keyed by everything that determines its numbers: the model's weights (a
fingerprint of the tensors actually loaded, so a delta applied in place changes the key),
the training and evaluation splits (their examples and options), the ``RunSpec`` (recipe,
seed, trainable set, layers, autocast), the model's dtype, the code a run executes
(``run_code.code_version``: reports and docstrings are not part of it), and the
numeric environment (library versions, threads, CPU capability; ``numerics.environment``).
An entry is a folder holding ``delta.safetensors`` and ``run.json`` (key fields, per-epoch
log, the file's SHA-256), written to a staging folder and renamed, so it is whole or
absent. An entry that fails any check is deleted and the run retrained, never half-used.

``EXTRACTIVE_RUN_CACHE=0`` turns the cache off; entries live under
``$EXTRACTIVE_CACHE/runs/<model>/``, or under ``$EXTRACTIVE_RUN_CACHE/<model>/`` when that
names a folder (the test command uses a fresh one, so it retrains every run once).

The cache never takes its disk's last ``KEEP_FREE`` bytes: a run whose entry would leave less
free, or that meets a full disk while it is written, is used but not stored (one note on
stderr per process; ``run_not_stored`` in the event log), so a full disk costs retraining,
never a failed experiment or a half-written entry.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file, save_file

from .datasets import Split
from .errors import ParameterError
from .events import STATS, record
from .events import CacheStats as CacheStats  # the event log's; runs.CacheStats, runs.STATS still work
from .finetune import FinetuneResult, finetune, trainable_names
from .models import LoadedModel
from .numerics import environment
from .params import RunSpec
from .run_code import code_version
from .settings import cache_dir, run_cache_dir, show_progress
from .storage import disk_full, free_bytes, replace_dir, save_json

KEEP_FREE = 1 << 30  # bytes of its disk the run cache leaves free for results, figures and the book

def enabled() -> bool:
    """False when ``EXTRACTIVE_RUN_CACHE`` is off (``settings.run_cache_dir``)."""
    return run_cache_dir() is not None


def runs_dir() -> Path:
    """The run cache's folder (``settings.run_cache_dir``); with the cache off, where it
    would be by default."""
    return run_cache_dir() or cache_dir() / "runs"


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


def run_spec(lm: LoadedModel, train: Split, evals: Mapping[str, Split], spec: RunSpec) -> dict[str, Any]:
    """Everything that determines a run, as JSON-ready data: the model and data
    fingerprints, ``spec``'s fields, the code and the numeric environment."""
    return {
        "model": lm.params.name,
        "weights": weights_fingerprint(lm.model),
        "dtype": str(next(lm.model.parameters()).dtype).removeprefix("torch."),
        "train": split_fingerprint(train),
        "evals": {k: split_fingerprint(s) for k, s in sorted(evals.items())},
        **spec.as_dict(),
        "code": code_version(),
        "environment": {k: v for k, v in environment(lm.model).items() if k != "cpu_model"},
        **plan_library(spec),
    }


# The library a plan's optimizer comes from (numerics.environment lists the packages every run uses).
PLAN_LIBRARIES = {"bf16_kahan": "torch-optimi"}


def plan_library(spec: RunSpec) -> dict[str, str]:
    """``{"plan_library": "<name>==<version>"}`` for a run whose optimizer plan comes from a
    library outside the environment's packages (its version changes the run), else nothing,
    so runs without one keep their keys."""
    name = PLAN_LIBRARIES.get(spec.optimizer_plan or "")
    if name is None:
        return {}
    try:
        return {"plan_library": f"{name}=={metadata.version(name)}"}
    except metadata.PackageNotFoundError:
        return {"plan_library": f"{name} not installed"}


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
    spec: RunSpec,
    *,
    progress: bool | None = None,
    label: str = "",
) -> FinetuneResult:
    """``finetune`` on ``lm`` as ``spec`` says, reusing the cached run when everything that
    determines it matches. ``label`` names the run in the cache messages (e.g.
    ``"first_hop seed 0"``). With progress off (``settings.show_progress``, as in the main
    job's notebooks) the per-run hit/trained lines stay out of the output; the event log and
    ``STATS`` still count every run."""
    if not isinstance(spec, RunSpec):
        raise ParameterError(f"spec must be a RunSpec (e.g. RunSpec.of(lm.params, seed=0)), got {spec!r}")
    trainable_names(lm.model, spec.trainable, spec.layers)  # layers the model lacks fail here, before any hashing

    def train_now() -> FinetuneResult:
        return finetune(lm.model, lm.tokenizer, train, evals, spec, progress=progress)

    name = f"{lm.params.name} {label}".rstrip()  # the run in the event log and the cache's notes
    if not enabled():
        result = train_now()
        record("run_trained", name, result.seconds["total"])
        return result
    key = run_spec(lm, train, evals, spec)
    entry = runs_dir() / lm.params.name / spec_key(key)
    cached = _read(entry, key)
    if cached is not None:
        STATS.hits += 1
        STATS.seconds_saved += cached.seconds.get("total", 0.0)
        if show_progress(progress):
            print(f"run cache: hit {name} ({entry.name})", file=sys.stderr)
        record("run_hit", name, cached.seconds.get("total", 0.0))
        return cached
    STATS.misses += 1
    result = train_now()
    if not _write(entry, key, result):
        _not_stored(name)
    record("run_trained", name, result.seconds["total"])
    if show_progress(progress):
        print(f"run cache: trained {name} in {result.seconds['total']:.1f} s ({entry.name})", file=sys.stderr)
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


def _write(entry: Path, spec: dict[str, Any], result: FinetuneResult) -> bool:
    """Store ``result`` whole (staging folder first, then one rename); False, with nothing
    written, where the entry would leave its disk less than ``KEEP_FREE`` bytes or the disk
    fills while it is written."""
    delta = {n: t.detach().to("cpu").contiguous() for n, t in result.delta.items()}
    if free_bytes(entry.parent) - sum(t.numel() * t.element_size() for t in delta.values()) < KEEP_FREE:
        return False

    def fill(staging: Path) -> None:
        save_file(delta, staging / "delta.safetensors")
        save_json(staging / "run.json", {
            "spec": spec, "log": result.log, "first_loss": result.first_loss, "seconds": dict(result.seconds),
            "delta_names": sorted(delta), "delta_sha256": file_sha256(staging / "delta.safetensors"),
        })

    try:
        replace_dir(entry, fill)
    except Exception as err:  # safetensors reports a full disk as its own error type
        if not disk_full(err):
            raise
        return False
    return True


NOT_STORED: list[str] = []  # the runs of this process that the cache's disk had no room for


def _not_stored(label: str) -> None:
    """Note a run the cache had no room for: in the event log, and once per process on stderr."""
    if not NOT_STORED:
        print(f"run cache: no room to store {label} while keeping {KEEP_FREE >> 20} MB of its disk free; "
              "this and later runs that find no room are used but not stored, so a later call retrains "
              "them. Free space on that disk, or set EXTRACTIVE_RUN_CACHE to a folder on a larger one.",
              file=sys.stderr)
    NOT_STORED.append(label)
    record("run_not_stored", label)
