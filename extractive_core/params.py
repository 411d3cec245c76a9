"""Per-model parameters as data: ``params/<name>.yaml`` says where the weights come from
and the finetuning recipe, so adding a model is adding a file."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .errors import ParameterError, UnknownModelError

SOURCES = ("gguf_package", "gguf_file", "hub", "toyworld")


def builtin_params_dir() -> Path:
    """The repository's ``params/``."""
    return Path(__file__).resolve().parents[1] / "params"


def params_dirs() -> list[Path]:
    """Where params files are looked up, first match first: the folders in
    ``$EXTRACTIVE_PARAMS`` (separated by ``os.pathsep``), then the repository's ``params/``.
    A user's folder adds models, and its file of a built-in name overrides that model."""
    env = os.environ.get("EXTRACTIVE_PARAMS", "")
    return [Path(p).expanduser() for p in env.split(os.pathsep) if p] + [builtin_params_dir()]


def params_file(name: str) -> Path | None:
    """The params file of ``name``: the first ``<name>.yaml`` in ``params_dirs()``."""
    return next((d / f"{name}.yaml" for d in params_dirs() if (d / f"{name}.yaml").is_file()), None)


@dataclass(frozen=True)
class Recipe:
    """The finetuning recipe (the paper's: Adam, constant lr, batch 8, 8 epochs)."""

    lr: float = 3e-6
    epochs: int = 8
    batch_size: int = 8
    trainable: str = "blocks"

    def __post_init__(self) -> None:
        check_recipe(self.lr, self.epochs, self.batch_size)
        if self.trainable not in ("blocks", "all"):
            raise ParameterError(f"trainable must be 'blocks' or 'all', got {self.trainable!r}")


def check_recipe(lr: object, epochs: object, batch_size: object) -> None:
    """lr a positive number, epochs a whole number >= 0, batch_size a whole number >= 1."""
    def whole(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and lr == lr and lr != float("inf")):
        raise ParameterError(f"lr must be a positive finite number, got {lr!r}")
    if not (whole(epochs) and epochs >= 0):  # type: ignore[operator]
        raise ParameterError(f"epochs must be a whole number >= 0, got {epochs!r} (a run cannot train part of an epoch)")
    if not (whole(batch_size) and batch_size >= 1):  # type: ignore[operator]
        raise ParameterError(f"batch_size must be a whole number >= 1, got {batch_size!r}")


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
    continued_training: dict[str, Any] = field(default_factory=dict)
    gguf: str | None = None  # source gguf_file: the file (absolute, ~, relative to this file, or inside `package`)
    folder: str = ""  # the folder the params file was read from (set on load, not a YAML key)


def known_models() -> list[str]:
    """The model names that have a params file in any of ``params_dirs()``."""
    return sorted({p.stem for d in params_dirs() for p in d.glob("*.yaml")})


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
DTYPES = ("float32", "bfloat16", "float16")
REQUIRED = {"hub": "hub_id", "gguf_package": "package", "gguf_file": "gguf", "toyworld": "toyworld"}
# The continued-training setting of the pretraining-mechanism chapters (``continued_training``);
# each key left out takes the recipe's value (first_layer: 0, every block; n_people: 100).
CONTINUED_KEYS = ("lr", "first_layer", "epochs", "n_people", "trainable")


def check_name(name: object) -> str:
    """A model name is a plain name (letters, digits, ``_ . -``), never a path."""
    if not (isinstance(name, str) and NAME_PATTERN.fullmatch(name) and ".." not in name):
        raise UnknownModelError(
            f"model name {name!r} is not a plain name: use the name of a file in params/ without "
            f"'.yaml' (e.g. 'gemma3_270m'); paths are not accepted. Known models: {', '.join(known_models())}"
        )
    return name


def load_params(name: str) -> ModelParams:
    """Read ``params/<name>.yaml`` (safely), with a clear error for every malformed field."""
    path = params_file(check_name(name))
    if path is None:
        raise UnknownModelError(
            f"unknown model {name!r}: no {name}.yaml in {', '.join(map(str, params_dirs()))}. Known models: "
            f"{', '.join(known_models())}. To add one, copy a params file into a folder of your own, edit its "
            "source, and add the folder to EXTRACTIVE_PARAMS."
        )
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParameterError(f"{path} is not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise ParameterError(f"{path} must hold a mapping of keys (source: ..., recipe: ...), "
                             f"got a {type(raw).__name__}")
    allowed = {f.name for f in fields(ModelParams)} - {"name", "folder"}
    extra = set(raw) - allowed
    if extra:
        raise ParameterError(f"{path}: unknown keys {sorted(extra)}; allowed: {sorted(allowed)}")
    source = raw.get("source")
    if source not in SOURCES:
        raise ParameterError(f"{path}: source must be one of {SOURCES}, got {source!r}")
    if not raw.get(REQUIRED[source]):
        raise ParameterError(f"{path}: source {source!r} needs the key {REQUIRED[source]!r}")
    for key, choices in (("dtype", DTYPES), ("autocast", (None,) + DTYPES)):
        if key in raw and raw[key] not in choices:
            raise ParameterError(f"{path}: {key} must be one of {choices}, got {raw[key]!r}")
    late = raw.get("late_start")
    if late is not None and (isinstance(late, bool) or not isinstance(late, int) or late < 1):
        raise ParameterError(f"{path}: late_start must be a whole number >= 1 (the first late layer), got {late!r}")
    continued = raw.get("continued_training") or {}
    if not isinstance(continued, dict) or set(continued) - set(CONTINUED_KEYS):
        raise ParameterError(f"{path}: continued_training must be a mapping with keys among {list(CONTINUED_KEYS)}, "
                             f"got {continued!r}")
    raw["continued_training"] = continued  # values are checked where they are used (continued_training.setting)
    recipe = raw.get("recipe") or {}
    if not isinstance(recipe, dict) or set(recipe) - {f.name for f in fields(Recipe)}:
        raise ParameterError(f"{path}: recipe must be a mapping with keys {[f.name for f in fields(Recipe)]}, "
                             f"got {recipe!r}")
    if isinstance(recipe.get("lr"), str):  # YAML 1.1 reads 1e-3 (no dot) as text
        try:
            recipe = {**recipe, "lr": float(recipe["lr"])}
        except ValueError:
            pass
    try:
        raw["recipe"] = Recipe(**recipe)
    except ParameterError as err:
        raise ParameterError(f"{path}: recipe: {err}") from None
    return ModelParams(**{"name": name, **raw, "folder": str(path.parent)})


def check_list(value: object, name: str, kind: type | tuple[type, ...], example: str) -> list:
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


def check_choices(value: object, name: str, what: str, choices: tuple[str, ...]) -> list[str]:
    """A non-empty list of names from ``choices`` (``what``: one item's noun, for the error)."""
    chosen = check_list(value, name, str, str(list(choices)))
    unknown = [c for c in chosen if c not in choices]
    if unknown:
        raise ParameterError(f"unknown {what}(s) {unknown}; choose from {list(choices)}")
    return chosen


def check_seeds(seeds: object) -> list[int]:
    """A non-empty list of whole-number seeds."""
    return check_list(seeds, "seeds", int, "[0, 1, 2]")
