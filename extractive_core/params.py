"""Per-model parameters as data: ``params/<name>.yaml`` says where the weights come from
and the finetuning recipe, so adding a model is adding a file."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from .errors import ParameterError, UnknownModelError
from .settings import params_folders
from .toyworld import ToyConfig

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SOURCES = ("gguf_package", "gguf_file", "hub", "toyworld")


def builtin_params_dir() -> Path:
    """The repository's ``params/``."""
    return Path(__file__).resolve().parents[1] / "params"


def params_dirs() -> list[Path]:
    """Where params files are looked up, first match first: the folders in
    ``$EXTRACTIVE_PARAMS`` (separated by ``os.pathsep``), then the repository's ``params/``.
    A user's folder adds models, and its file of a built-in name overrides that model."""
    return params_folders() + [builtin_params_dir()]


def params_file(name: str) -> Path | None:
    """The params file of ``name``: the first ``<name>.yaml`` in ``params_dirs()``."""
    return next((d / f"{name}.yaml" for d in params_dirs() if (d / f"{name}.yaml").is_file()), None)


TRAINABLE = ("blocks", "all")
DTYPES = ("float32", "bfloat16", "float16")


def whole(value: object, least: int) -> bool:
    """``value`` is a whole number (not a bool) >= ``least``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def check_lr(lr: object) -> float:
    """A positive finite learning rate, as a float."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and math.isfinite(lr)):
        raise ParameterError(f"lr must be a positive finite number, got {lr!r}")
    return float(lr)


def check_epochs(epochs: object) -> None:
    if not whole(epochs, 0):
        raise ParameterError(f"epochs must be a whole number >= 0, got {epochs!r} (a run cannot train part of an epoch)")


def check_trainable(trainable: object) -> None:
    if trainable not in TRAINABLE:
        raise ParameterError(f"trainable must be 'blocks' or 'all', got {trainable!r}")


@dataclass(frozen=True)
class Recipe:
    """The finetuning recipe (the paper's: Adam, constant lr, batch 8, 8 epochs): params
    ``recipe``, checked when it is made (``lr`` becomes a float). ``trainable``: ``blocks``
    (every transformer-block weight) or ``all`` (embeddings and final norm too)."""

    lr: float = 3e-6
    epochs: int = 8
    batch_size: int = 8
    trainable: str = "blocks"

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", check_lr(self.lr))
        check_epochs(self.epochs)
        if not whole(self.batch_size, 1):
            raise ParameterError(f"batch_size must be a whole number >= 1, got {self.batch_size!r}")
        check_trainable(self.trainable)

    def as_dict(self) -> dict[str, Any]:
        """The recipe's four values (as results files record them)."""
        return {f.name: getattr(self, f.name) for f in fields(Recipe)}


@dataclass(frozen=True)
class RunSpec(Recipe):
    """Everything that determines one finetuning run besides the model and the data: the
    recipe, the data-order ``seed``, the trained ``layers`` (None: every layer; kept sorted,
    each once) and ``autocast`` (None, or the dtype of mixed-precision compute). Built once
    (``RunSpec.of``) and checked then; ``finetune`` takes it whole, and its fields are the
    run cache's key (``runs.run_spec``). The model's own dtype comes with the model."""

    seed: int = 0
    layers: tuple[int, ...] | None = None
    autocast: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ParameterError(f"seed must be a whole number, got {self.seed!r}")
        layers = self.layers
        if layers is not None:
            if not (isinstance(layers, (list, tuple, range)) and layers and all(whole(i, 0) for i in layers)):
                raise ParameterError(f"layers must be a non-empty list of layer indices, e.g. [12, 13], got {layers!r}")
            object.__setattr__(self, "layers", tuple(sorted(set(layers))))
        if self.autocast not in (None,) + DTYPES:
            raise ParameterError(f"autocast must be one of {(None,) + DTYPES}, got {self.autocast!r}")

    @classmethod
    def of(cls, params: ModelParams, recipe: Recipe | None = None, **run: Any) -> RunSpec:
        """A run of ``params``'s model: ``recipe`` (None: the params file's) with the model's
        ``autocast``, and each non-None value of ``run`` (``seed``, ``layers``, any field)."""
        base = cls(**(params.recipe if recipe is None else recipe).as_dict(), autocast=params.autocast)
        return overridden(base, "run", **run)

    def as_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (``layers`` a list or None)."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {
            "layers": None if self.layers is None else list(self.layers)}


MONITORED = 20  # continued training: training people whose ranks are logged per epoch


@dataclass(frozen=True)
class ContinuedTraining:
    """params ``continued_training``: the continued training of the pretraining-mechanism
    chapters (``continued_training.setting``). ``lr``, ``epochs`` and ``trainable`` left out
    (None) take the recipe's; ``first_layer`` is the first trained layer (0: every block)."""

    lr: float | None = None
    first_layer: int = 0
    epochs: int | None = None
    n_people: int = 100
    trainable: str | None = None

    def __post_init__(self) -> None:
        if self.lr is not None:
            object.__setattr__(self, "lr", check_lr(self.lr))
        if self.epochs is not None:
            check_epochs(self.epochs)
        if self.trainable is not None:
            check_trainable(self.trainable)
        if not whole(self.first_layer, 0):
            raise ParameterError(f"continued_training first_layer must be a layer index, got {self.first_layer!r}")
        if not whole(self.n_people, MONITORED + 21):
            raise ParameterError(f"continued_training n_people must be a whole number > {MONITORED + 20} "
                                 f"(20 test people plus at least {MONITORED + 1} training people), got {self.n_people!r}")


Section = TypeVar("Section", bound="DataclassInstance")  # a typed section: Recipe, RunSpec, ...


def overridden(section: Section, what: str, **overrides: Any) -> Section:
    """``section`` with each non-None override, checked again; an unknown key is named."""
    names = [f.name for f in fields(section)]
    unknown = sorted(set(overrides) - set(names))
    if unknown:
        raise ParameterError(f"unknown {what} setting(s) {unknown}; choose from {names}")
    return replace(section, **{k: v for k, v in overrides.items() if v is not None})


YAML11_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def yaml_number(value: Any) -> Any:
    """``1e-4`` as the number it means: YAML 1.1 (PyYAML) reads an exponent without a dot
    as text. Lists become tuples (a section's values are frozen)."""
    if isinstance(value, list):
        return tuple(yaml_number(v) for v in value)
    return float(value) if isinstance(value, str) and YAML11_NUMBER.fullmatch(value) else value


def load_section(cls: type[Section], raw: object, where: str) -> Section:
    """A typed section of a params file from its mapping; every error names ``where``."""
    names = [f.name for f in fields(cls)]
    raw = {} if raw is None else raw
    if not isinstance(raw, dict) or set(raw) - set(names):
        raise ParameterError(f"{where} must be a mapping with keys among {names}, got {raw!r}")
    try:
        return cls(**{k: yaml_number(v) for k, v in raw.items()})
    except (ParameterError, TypeError) as err:
        raise ParameterError(f"{where}: {err}") from None


@dataclass(frozen=True)
class ModelParams:
    """Everything the project needs to know about one model, read from its YAML file."""

    name: str
    source: str
    description: str = ""
    hub_id: str | None = None
    revision: str | None = None
    package: str | None = None
    toyworld: ToyConfig | None = None  # source toyworld: the toy model's pretraining config
    dtype: str = "float32"
    autocast: str | None = None
    late_start: int | None = None
    recipe: Recipe = field(default_factory=Recipe)
    continued_training: ContinuedTraining = field(default_factory=ContinuedTraining)
    gguf: str | None = None  # source gguf_file: the file (absolute, ~, relative to this file, or inside `package`)
    folder: str = ""  # the folder the params file was read from (set on load, not a YAML key)


def known_models() -> list[str]:
    """The model names that have a params file in any of ``params_dirs()``."""
    return sorted({p.stem for d in params_dirs() for p in d.glob("*.yaml")})


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
REQUIRED = {"hub": "hub_id", "gguf_package": "package", "gguf_file": "gguf", "toyworld": "toyworld"}


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
    for key, cls in (("recipe", Recipe), ("continued_training", ContinuedTraining), ("toyworld", ToyConfig)):
        if key in raw or key != "toyworld":
            raw[key] = load_section(cls, raw.get(key), f"{path}: {key}")
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
