"""Per-model parameters as data: ``<name>.yaml`` (built in: ``extractive_core/model_params/``) says where the weights come from
and the finetuning recipe, so adding a model is adding a file.

A Hugging Face hub id (``Qwen/Qwen2-7B``, or ``hf:Qwen/Qwen2-7B``) needs no file: without a
params file of its folder name (``Qwen--Qwen2-7B.yaml``), its params are derived from the
model's config by ``derive_hub_params``, the rule the reproduction guide states, and each
assumption is printed when they are first loaded."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from .errors import ParameterError, UnknownModelError, WeightsUnavailableError
from .datasets import check_seed
from .results import HUB_PREFIX, model_folder
from .settings import model_dir, params_folders
from .toyworld import ToyConfig

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

SOURCES = ("gguf_package", "gguf_file", "hub", "toyworld")


def builtin_params_dir() -> Path:
    """The built-in params files, package data of ``extractive_core``: its folder
    ``model_params/``, the same in a checkout and in an installed package (a wheel,
    ``pip install <repository url>``)."""
    return Path(str(resources.files("extractive_core") / "model_params"))


def params_dirs() -> list[Path]:
    """Where params files are looked up, first match first: the folders in
    ``$EXTRACTIVE_PARAMS`` (separated by ``os.pathsep``), then the built-in
    ``extractive_core/model_params/``. A user's folder adds models, and its file of a
    built-in name overrides that model."""
    return params_folders() + [builtin_params_dir()]


def params_file(name: str) -> Path | None:
    """The params file of ``name``: the first ``<name>.yaml`` in ``params_dirs()``."""
    return next((d / f"{name}.yaml" for d in params_dirs() if (d / f"{name}.yaml").is_file()), None)


TRAINABLE = ("blocks", "all")
DTYPES = ("float32", "bfloat16", "float16")
# How a run holds its trained weights and Adam's state (``memory``: their bytes; ``precision``:
# the optimizers), in the order of precision lost, then of speed: float32 weights and Adam on the
# device; the same arithmetic with Adam's state, its weights and the gradients on the host; bf16
# weights with float32 masters and Adam; bf16 weights, bf16 Adam and a bf16 Kahan compensation
# (torch-optimi).
PLANS = ("float32", "float32_offload", "bf16_masters", "bf16_kahan")
PLAN_DTYPES = {"float32": "float32", "float32_offload": "float32", "bf16_masters": "bfloat16",
               "bf16_kahan": "bfloat16"}  # the model's dtype


def check_plan(plan: object, dtype: str | None = None) -> None:
    """``plan`` is None (today's optimizer for the model's dtype) or one of ``PLANS``; with
    ``dtype``, the model dtype the plan holds its weights in."""
    if plan is None:
        return
    if plan not in PLANS:
        raise ParameterError(f"optimizer_plan must be one of {(None,) + PLANS}, got {plan!r}")
    if dtype is not None and PLAN_DTYPES[plan] != dtype:
        raise ParameterError(f"optimizer_plan {plan} holds the weights in {PLAN_DTYPES[plan]}, but the model's dtype "
                             f"is {dtype}: set dtype: {PLAN_DTYPES[plan]} (or load_model(..., dtype="
                             f"{PLAN_DTYPES[plan]!r})) with this plan")


def whole(value: object, least: int) -> bool:
    """``value`` is a whole number (not a bool) >= ``least``."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def check_lr(lr: object) -> float:
    """A positive finite learning rate, as a float."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (lr > 0 and math.isfinite(lr)):
        raise ParameterError(f"lr must be a positive finite number, got {lr!r}")
    return float(lr)


def check_autocast(dtype: object) -> str | None:
    """None (no mixed precision) or one of ``DTYPES``, the dtype of mixed-precision compute."""
    if not (dtype is None or (isinstance(dtype, str) and dtype in DTYPES)):
        raise ParameterError(f"autocast must be one of {(None,) + DTYPES} (the dtype of mixed-precision "
                             f"compute; None: none), got {dtype!r}")
    return dtype


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
    each once), ``autocast`` (None, or the dtype of mixed-precision compute) and
    ``optimizer_plan`` (None: today's optimizer, ``precision.MasterWeightAdam``; else one of
    ``PLANS``, ``precision.plan_optimizer``) and ``logged``: ``every`` epoch's ranks, or only
    the ``ends`` (before training and after it: for runs whose curves nobody reads; evaluation
    never touches the training, so the weights and the final ranks are the same). Built once
    (``RunSpec.of``) and checked then; ``finetune`` takes it whole, and its fields are the run
    cache's key (``runs.run_spec``; ``optimizer_plan`` only when set and ``logged`` only when
    not ``every``, so the keys of other runs are as before). The model's own dtype comes with
    the model."""

    seed: int = 0
    layers: tuple[int, ...] | None = None
    autocast: str | None = None
    optimizer_plan: str | None = None
    logged: str = "every"  # the epochs whose ranks are logged: "every" one, or the "ends" (0 and the last)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.logged not in LOGGED:
            raise ParameterError(f"logged must be one of {LOGGED} (the epochs whose ranks are logged), got {self.logged!r}")
        check_seed(self.seed)
        layers = self.layers
        if layers is not None:
            if not (isinstance(layers, (list, tuple, range)) and layers and all(whole(i, 0) for i in layers)):
                raise ParameterError(f"layers must be a non-empty list of layer indices, e.g. [12, 13], got {layers!r}")
            object.__setattr__(self, "layers", tuple(sorted(set(layers))))
        check_autocast(self.autocast)
        check_plan(self.optimizer_plan)

    @classmethod
    def of(cls, params: ModelParams, recipe: Recipe | None = None, **run: Any) -> RunSpec:
        """A run of ``params``'s model: ``recipe`` (None: the params file's) with the model's
        ``autocast`` and ``optimizer_plan``, and each non-None value of ``run`` (``seed``,
        ``layers``, any field)."""
        base = cls(**(params.recipe if recipe is None else recipe).as_dict(), autocast=params.autocast,
                   optimizer_plan=params.optimizer_plan)
        return overridden(base, "run", **run)

    def as_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready (``layers`` a list or None); ``optimizer_plan`` only when
        set (a run without one has the key it had before the field existed)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not (f.name == "optimizer_plan" and self.optimizer_plan is None)
                and not (f.name == "logged" and self.logged == "every")} | {
            "layers": None if self.layers is None else list(self.layers)}


LOGGED = ("every", "ends")  # RunSpec.logged
MONITORED = 20  # continued training: training people whose ranks are logged per epoch


@dataclass(frozen=True)
class ContinuedTraining:
    """params ``continued_training``: the continued training of the pretraining-mechanism
    chapters (``continued_training.setting``). ``lr``, ``epochs`` and ``trainable`` left out
    (None) take the recipe's; ``first_layer`` is the first trained layer (0: every block)."""

    lr: float | None = None
    first_layer: int = 0
    epochs: int | None = None
    n_people: int = 104
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


@dataclass(frozen=True)
class Architecture:
    """params ``architecture``: the numbers of the model's transformers config that its
    parameter count and activations follow from (``memory``), so a memory plan needs no
    download. ``num_key_value_heads`` None: as many as the heads; ``head_dim`` None:
    ``hidden_size // num_attention_heads``."""

    model_type: str
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    vocab_size: int
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False

    def __post_init__(self) -> None:
        if not (isinstance(self.model_type, str) and self.model_type):
            raise ParameterError(f"architecture model_type must be a transformers model_type (e.g. llama), "
                                 f"got {self.model_type!r}")
        for name in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
            if not whole(getattr(self, name), 1):
                raise ParameterError(f"architecture {name} must be a whole number >= 1, got {getattr(self, name)!r}")
        for name in ("num_key_value_heads", "head_dim"):
            if getattr(self, name) is not None and not whole(getattr(self, name), 1):
                raise ParameterError(f"architecture {name} must be a whole number >= 1 or left out, "
                                     f"got {getattr(self, name)!r}")
        if self.num_attention_heads % self.kv_heads:
            raise ParameterError(f"architecture num_attention_heads ({self.num_attention_heads}) must be a multiple "
                                 f"of num_key_value_heads ({self.kv_heads})")
        for name in ("tie_word_embeddings", "attention_bias", "mlp_bias"):
            if not isinstance(getattr(self, name), bool):
                raise ParameterError(f"architecture {name} must be true or false, got {getattr(self, name)!r}")

    @property
    def kv_heads(self) -> int:
        return self.num_attention_heads if self.num_key_value_heads is None else self.num_key_value_heads

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads if self.head_dim is None else self.head_dim

    @classmethod
    def of_config(cls, config: Any) -> Architecture:
        """The section's numbers read from a transformers config (its text config)."""
        config = config.get_text_config() if hasattr(config, "get_text_config") else config
        names = [f.name for f in fields(cls)]
        values = {n: getattr(config, n, None) for n in names}
        return cls(**{n: v for n, v in values.items() if v is not None})


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
    architecture: Architecture | None = None  # the config's numbers, for memory plans without a download
    optimizer_plan: str | None = None  # None: today's optimizer; else one of PLANS (memory.py, precision.py)
    folder: str = ""  # the folder the params file was read from (set on load, not a YAML key)

    def with_dtype(self, dtype: str) -> ModelParams:
        """These params with the weights in ``dtype``; an optimizer plan for weights of the other
        dtype (``float32_offload`` under ``bfloat16``) gives way to today's optimizer (None)."""
        plan = self.optimizer_plan
        keep = plan is None or PLAN_DTYPES[plan] == dtype
        return replace(self, dtype=dtype, optimizer_plan=plan if keep else None)


def known_models() -> list[str]:
    """The model names that have a params file in any of ``params_dirs()``."""
    return sorted({p.stem for d in params_dirs() for p in d.glob("*.yaml")})


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
REQUIRED = {"hub": "hub_id", "gguf_package": "package", "gguf_file": "gguf", "toyworld": "toyworld"}
# The hub's own rule for an id: owner/name, each of letters, digits, "-", "_", ".", neither
# starting nor ending with "-" or ".", no "--" or ".." (so "--" can stand for "/"), 96 at most.
HUB_PART = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"
HUB_ID = re.compile(f"{HUB_PART}/{HUB_PART}")
HUB_EXAMPLE = "a Hugging Face hub id, owner/name (e.g. Qwen/Qwen2-7B or hf:Qwen/Qwen2-7B)"


def is_hub_id(value: str) -> bool:
    """``value`` is a well-formed hub id ``owner/name``."""
    return (len(value) <= 96 and HUB_ID.fullmatch(value) is not None
            and "--" not in value and ".." not in value)


def hub_id_of(name: object) -> str | None:
    """The hub id that ``name`` is (``owner/name``, or ``hf:`` before it), else None. A name
    that starts with ``hf:`` must be followed by a well-formed id."""
    if not isinstance(name, str):
        return None
    if name.startswith(HUB_PREFIX):
        hub_id = name[len(HUB_PREFIX):]
        if not is_hub_id(hub_id):
            raise UnknownModelError(f"model name {name!r}: after 'hf:' comes {HUB_EXAMPLE}; "
                                    f"{hub_id!r} is not one")
        return hub_id
    return name if is_hub_id(name) else None


def check_name(name: object) -> str:
    """A model name is a plain name (letters, digits, ``_ . -``), never a path."""
    if not (isinstance(name, str) and NAME_PATTERN.fullmatch(name) and ".." not in name):
        raise UnknownModelError(
            f"model name {name!r} is not a plain name: use the name of a params file without "
            f"'.yaml' (e.g. 'gemma3_270m') or {HUB_EXAMPLE}; paths are not accepted. "
            f"Known models: {', '.join(known_models())}"
        )
    return name


def load_params(name: str) -> ModelParams:
    """Read the params file ``<name>.yaml`` (safely), with a clear error for every malformed field.

    A hub id (``Qwen/Qwen2-7B``, ``hf:Qwen/Qwen2-7B``, or its folder name ``Qwen--Qwen2-7B``)
    reads ``<folder name>.yaml`` where one exists, else its params are derived from the
    model's config (``derive_hub_params``); either way its ``name`` is the folder name."""
    hub_id = hub_id_of(name)
    key = check_name(model_folder(name) if hub_id else name)
    path = params_file(key)
    if path is None:
        hub_id = hub_id or hub_id_of(key.replace("--", "/"))
        if hub_id is not None:
            return hub_params(hub_id)
        raise UnknownModelError(
            f"unknown model {name!r}: no {name}.yaml in {', '.join(map(str, params_dirs()))}. Known models: "
            f"{', '.join(known_models())}. To add one, copy a params file into a folder of your own, edit its "
            f"source, and add the folder to EXTRACTIVE_PARAMS; or give {HUB_EXAMPLE}."
        )
    name = key
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
    hub_id = raw.get("hub_id")
    if hub_id is not None and not (isinstance(hub_id, str) and is_hub_id(hub_id)):
        raise ParameterError(f"{path}: hub_id must be a Hugging Face hub id, owner/name (e.g. Qwen/Qwen2-7B: "
                             f"letters, digits, '-', '_', '.', no '..' or '--'), got {hub_id!r}")
    for key, choices in (("dtype", DTYPES), ("autocast", (None,) + DTYPES)):
        if key in raw and raw[key] not in choices:
            raise ParameterError(f"{path}: {key} must be one of {choices}, got {raw[key]!r}")
    late = raw.get("late_start")
    if late is not None and (isinstance(late, bool) or not isinstance(late, int) or late < 1):
        raise ParameterError(f"{path}: late_start must be a whole number >= 1 (the first late layer), got {late!r}")
    for key, cls in (("recipe", Recipe), ("continued_training", ContinuedTraining), ("toyworld", ToyConfig),
                     ("architecture", Architecture)):
        if key in raw or key not in ("toyworld", "architecture"):
            raw[key] = load_section(cls, raw.get(key), f"{path}: {key}")
    try:
        check_plan(raw.get("optimizer_plan"), raw.get("dtype", "float32"))
    except ParameterError as err:
        raise ParameterError(f"{path}: {err}") from None
    return ModelParams(**{"name": name, **raw, "folder": str(path.parent)})


# A hub id without a params file: params derived from the model's config.

HUB_RECIPE = Recipe(lr=3e-6, epochs=8, batch_size=8, trainable="blocks")  # the paper's 7B recipe (model_params/olmo_7b.yaml)


def hub_late_start(layers: int) -> int | None:
    """The first late layer: 3/4 of the layers, rounded half up, as every shipped params file
    splits (OLMo-7B's 24 of 32; 21 of 28, 32 of 42, 12 of 16, 14 of 18), and at most the last
    layer; None for a one-layer model (no split)."""
    return None if layers < 2 else min((3 * layers + 2) // 4, layers - 1)


def derive_hub_params(hub_id: str, layers: int, model_type: str, gpu: bool) -> tuple[ModelParams, list[str]]:
    """The params of hub model ``hub_id`` (``layers`` blocks of ``model_type``) derived by the
    reproduction guide's rule, as the shipped 7B params files set them, and one line per
    assumption for the user. ``gpu``: whether a GPU is visible (bf16 autocast there)."""
    name = model_folder(hub_id)
    late = hub_late_start(layers)
    autocast = "bfloat16" if gpu else None
    r = HUB_RECIPE
    params = ModelParams(name=name, source="hub", hub_id=hub_id, late_start=late, dtype="float32", autocast=autocast,
                         recipe=r, description=f"{hub_id} from the Hugging Face hub, {layers} layers "
                                               "(params derived from its config)")
    split = (f"late_start {late}: layers 0..{late - 1} early, {late}..{layers - 1} late (3/4 of its {layers} "
             "layers, rounded half up, as the shipped params files split)") if late is not None else         "late_start none: a one-layer model has no early/late split (layer freezing needs one)"
    lines = [
        f"model {hub_id}: no params file {name}.yaml, so its params are derived from its config "
        "(the reproduction guide's rule):",
        f"  source hub: {hub_id} at its newest revision, model_type {model_type}, remote code never run",
        f"  {split}",
        "  dtype float32: weights and Adam stay float32 (updates at lr 3e-6 vanish in bf16)",
        "  autocast bfloat16: compute in bf16 on the GPU, as the shipped 7B params files" if gpu else
        "  autocast none: no GPU is visible, so compute stays float32 on the CPU",
        f"  recipe: lr {r.lr:g}, {r.epochs} epochs, batch {r.batch_size}, trainable {r.trainable} "
        "(the paper's 7B recipe)",
        "  continued_training: the defaults (the recipe's lr and epochs, every block, 104 people: 84 training, 20 test)",
        f"  results in results/{name}/, figures in figures/{name}/, a local copy in $EXTRACTIVE_MODEL_DIR/{name}/; "
        f"to change any of this, write {name}.yaml in a folder named by EXTRACTIVE_PARAMS",
    ]
    return params, lines


_SHOWN: set[str] = set()  # hub ids whose derived params were printed in this process


def hub_params(hub_id: str) -> ModelParams:
    """The derived params of ``hub_id`` (its config read from a local copy, the hub cache or
    the hub), printed once per process, on stdout, so a notebook shows them."""
    import torch

    from .architecture import LAYOUTS

    config = hub_config(hub_id).get_text_config()
    model_type = getattr(config, "model_type", None)
    if model_type not in LAYOUTS:
        raise ParameterError(f"model {hub_id!r} is a {model_type!r} model; the project's analyses know the "
                             f"LLaMA-family layouts {sorted(LAYOUTS)} (architecture.py's LAYOUTS)")
    layers = getattr(config, "num_hidden_layers", None)
    if not isinstance(layers, int) or not whole(layers, 1):
        raise ParameterError(f"model {hub_id!r}: its config gives no layer count (num_hidden_layers {layers!r})")
    params, lines = derive_hub_params(hub_id, layers, str(model_type), torch.cuda.is_available())
    if hub_id not in _SHOWN:
        _SHOWN.add(hub_id)
        print("\n".join(lines))
    return params


def local_copy(name: str) -> Path | None:
    """``$EXTRACTIVE_MODEL_DIR/<name>`` when it holds a checkpoint (its ``config.json``)."""
    root = model_dir()
    path = root / name if root is not None else None
    return path if path is not None and (path / "config.json").is_file() else None


def hub_config(hub_id: str, revision: str | None = None) -> Any:
    """The transformers config of ``hub_id``: from its local copy, the hub cache, or the hub
    (only the small config file), never by running the repository's code."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError
    from transformers import AutoConfig

    name = model_folder(hub_id)
    local = local_copy(name)
    try:
        if local is not None:
            return AutoConfig.from_pretrained(local, trust_remote_code=False)
        try:
            return AutoConfig.from_pretrained(hub_id, revision=revision, local_files_only=True,
                                              trust_remote_code=False)
        except OSError:
            pass
        require_hub(name, hub_id)
        try:
            return AutoConfig.from_pretrained(hub_id, revision=revision, trust_remote_code=False)
        except OSError as err:
            if isinstance(err.__cause__, (RepositoryNotFoundError, RevisionNotFoundError)) \
                    and not isinstance(err.__cause__, GatedRepoError):
                raise UnknownModelError(f"unknown model {hub_id!r}: the Hugging Face hub has no such model (or it "
                                        "is private: log in with `hf auth login`)") from None
            raise WeightsUnavailableError(offline_message(name, hub_id, f"the hub refused: {err}")) from err
    except ValueError as err:  # a model_type transformers does not know: it would need the repository's code
        raise ParameterError(f"model {hub_id!r}: transformers cannot read its config without running the "
                             f"repository's own code, which this project never does ({err})") from None


def offline_message(name: str, hub_id: str | None, why: str) -> str:
    return (
        f"model {name!r} loads {hub_id} from the Hugging Face hub, which is not "
        f"reachable here ({why}). It needs internet access (and a GPU), or a local copy: put "
        f"the checkpoint in a folder and set EXTRACTIVE_MODEL_DIR so that "
        f"$EXTRACTIVE_MODEL_DIR/{name}/config.json exists. "
        f"Offline, use the default model gemma3_270m or a toyworld model."
    )


def require_hub(name: str, hub_id: str | None, timeout: float = 3.0) -> None:
    """Fail fast, with the fix, when the hub cannot be reached (no retry storm)."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        raise WeightsUnavailableError(offline_message(name, hub_id, "HF_HUB_OFFLINE is set"))
    url = urlparse(constants.ENDPOINT)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except OSError as err:
        raise WeightsUnavailableError(offline_message(name, hub_id, f"{url.hostname}: {err}")) from None


def check_list(value: object, name: str, kind: type | tuple[type, ...], example: str) -> list:
    """A non-empty list of ``kind`` items, or a ParameterError naming ``name`` and the fix.

    A single item becomes a one-item list, and a string is read as YAML first, as
    ``papermill -p seeds "[0, 1]"`` passes lists as strings."""
    if isinstance(value, str):
        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError:
            pass
        else:
            if str not in (kind if isinstance(kind, tuple) else (kind,)):
                value = yaml_number(value)  # "[1e-5, 3e-5]": YAML 1.1 reads 1e-5 as text
    if isinstance(value, kind) and not isinstance(value, bool):
        value = [value]
    if not (isinstance(value, (list, tuple)) and value
            and all(isinstance(v, kind) and not isinstance(v, bool) for v in value)):
        raise ParameterError(f"{name} must be a non-empty list, e.g. {example}; got {value!r}")
    return list(value)


def check_distinct(values: list, name: str, why: str) -> list:
    """``values`` with no item twice, or a ParameterError naming the repeat (``why``: what a
    repeat would do)."""
    repeats = [v for i, v in enumerate(values) if v in values[:i]]
    if repeats:
        raise ParameterError(f"{name} must not repeat an item: {repeats[0]!r} appears more than once in "
                             f"{values!r} ({why}); list each once")
    return values


def check_choices(value: object, name: str, what: str, choices: tuple[str, ...]) -> list[str]:
    """A non-empty list of distinct names from ``choices`` (``what``: one item's noun, for the error)."""
    chosen = check_list(value, name, str, str(list(choices)))
    unknown = [c for c in chosen if c not in choices]
    if unknown:
        raise ParameterError(f"unknown {what}(s) {unknown}; choose from {list(choices)}")
    return check_distinct(chosen, name, f"each {what} would run twice")


def check_seeds(seeds: object) -> list[int]:
    """A non-empty list of distinct whole-number seeds, each in ``0 .. datasets.SEED_LIMIT - 1``: a
    repeated seed would count one run twice and narrow every interval over seeds."""
    checked = [check_seed(s, "each seed") for s in check_list(seeds, "seeds", int, "[0, 1, 2]")]
    return check_distinct(checked, "seeds", "a seed repeated is the same run counted twice, which would narrow "
                                            "every interval over seeds")
