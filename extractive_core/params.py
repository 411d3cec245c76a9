"""Per-model parameters as data: ``params/<name>.yaml`` says where the weights come from
and the finetuning recipe, so adding a model is adding a file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import ParameterError, UnknownModelError

SOURCES = ("gguf_package", "hub", "toyworld")


def params_dir() -> Path:
    """``$EXTRACTIVE_PARAMS`` if set, else the repository's ``params/``."""
    env = os.environ.get("EXTRACTIVE_PARAMS")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "params"


@dataclass(frozen=True)
class Recipe:
    """The finetuning recipe (the paper's: Adam, constant lr, batch 8, 8 epochs)."""

    lr: float = 3e-6
    epochs: int = 8
    batch_size: int = 8
    trainable: str = "blocks"

    def __post_init__(self) -> None:
        if not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ParameterError(f"lr must be a positive number, got {self.lr!r}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not (isinstance(value, int) and value >= (0 if name == "epochs" else 1)):
                raise ParameterError(f"{name} must be a non-negative whole number, got {value!r}")


@dataclass(frozen=True)
class ModelParams:
    """Everything the project needs to know about one model, read from its YAML file."""

    name: str
    source: str
    description: str = ""
    hub_id: str | None = None
    revision: str | None = None
    package: str | None = None
    toyworld: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"
    autocast: str | None = None
    late_start: int | None = None
    recipe: Recipe = field(default_factory=Recipe)


def known_models() -> list[str]:
    """The model names that have a params file."""
    return sorted(p.stem for p in params_dir().glob("*.yaml"))


def load_params(name: str) -> ModelParams:
    """Read ``params/<name>.yaml`` (safely), with a clear error for unknown names."""
    path = params_dir() / f"{name}.yaml"
    if not path.is_file():
        raise UnknownModelError(
            f"unknown model {name!r}: no {path}. Known models: {', '.join(known_models())}. "
            "To add one, copy a params file and edit its source."
        )
    raw = yaml.safe_load(path.read_text()) or {}
    allowed = {f.name for f in fields(ModelParams)}
    extra = set(raw) - allowed
    if extra:
        raise ParameterError(f"{path}: unknown keys {sorted(extra)}; allowed: {sorted(allowed)}")
    if raw.get("source") not in SOURCES:
        raise ParameterError(f"{path}: source must be one of {SOURCES}, got {raw.get('source')!r}")
    raw["recipe"] = Recipe(**(raw.get("recipe") or {}))
    return ModelParams(**{"name": name, **raw})


def check_list(value: object, name: str, kind: type, example: str) -> list:
    """A non-empty list of ``kind`` items, or a ParameterError naming ``name`` and the fix.

    A single item becomes a one-item list, and a string is read as YAML first, as
    ``papermill -p seeds "[0, 1]"`` passes lists as strings."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass
    if isinstance(value, kind) and not isinstance(value, bool):
        value = [value]
    if not (isinstance(value, (list, tuple)) and value
            and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)):
        raise ParameterError(f"{name} must be a non-empty list, e.g. {example}; got {value!r}")
    return list(value)


def check_seeds(seeds: object) -> list[int]:
    """A non-empty list of whole-number seeds."""
    return check_list(seeds, "seeds", int, "[0, 1, 2]")
