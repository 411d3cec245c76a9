"""extractive_core: the science of "Extractive Structures Learned in Pretraining Enable
Generalization on Finetuned Facts" (Feng, Russell, Steinhardt, ICML 2025)."""

from .datasets import Example, Split, TwoHopDataset, first_hop, known_facts, second_hop, two_hop
from .errors import (
    ExtractiveError,
    ParameterError,
    TokenizerCollisionError,
    UnknownModelError,
    WeightsUnavailableError,
)
from .finetune import FinetuneResult, applied, finetune
from .metrics import mean_rank
from .models import LoadedModel, load_model, set_threads
from .params import ModelParams, known_models, load_params

__all__ = [
    "Example", "Split", "TwoHopDataset", "first_hop", "second_hop", "two_hop", "known_facts",
    "ExtractiveError", "ParameterError", "TokenizerCollisionError", "UnknownModelError",
    "WeightsUnavailableError", "FinetuneResult", "applied", "finetune", "mean_rank",
    "LoadedModel", "load_model", "set_threads", "ModelParams", "known_models", "load_params",
]
