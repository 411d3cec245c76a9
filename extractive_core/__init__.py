"""extractive_core: the science of "Extractive Structures Learned in Pretraining Enable
Generalization on Finetuned Facts" (Feng, Russell, Steinhardt, ICML 2025).

The names below are imported on first use (PEP 562), so a module that needs no torch (the
claims table, the params files) imports without loading it."""

from __future__ import annotations

import sys
import warnings
from importlib import import_module
from types import ModuleType
from typing import Any

# transformers imports ``tqdm.auto``, which in a Jupyter kernel without ipywidgets warns "IProgress
# not found" with the environment's file path (into every executed notebook). The package's own
# progress bars are plain tqdm, so the warning tells a reader nothing; only that one is silenced.
warnings.filterwarnings("ignore", message="IProgress not found", module="tqdm")

_HOMES = {
    "datasets": ("Example", "Split", "TwoHopDataset", "first_hop", "second_hop", "two_hop", "known_facts"),
    "errors": ("ExtractiveError", "ParameterError", "TokenizerCollisionError", "UnknownModelError",
               "WeightsUnavailableError"),
    "finetune": ("FinetuneResult", "applied", "finetune"),
    "metrics": ("mean_rank",),
    "models": ("LoadedModel", "load_model", "set_threads"),
    "params": ("ModelParams", "RunSpec", "known_models", "load_params"),
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

__all__ = list(_HOME)


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'extractive_core' has no attribute {name!r}")
    value = getattr(import_module(f".{_HOME[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(ModuleType):
    """The package, whose exported names stay what ``_HOME`` says: importing the submodule
    ``finetune`` must not replace the function ``finetune`` here (as an eager import did not)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOME and isinstance(value, ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
