"""Device memory of a finetuning run, per optimizer plan, by formula; the plan that fits.

A plan (``params.PLANS``, params ``optimizer_plan``) is how a run holds its trained weights
and Adam's state. Per trained parameter, on the device, with the code as it runs
(``finetune.finetune``, ``precision``):

- ``float32``: weight 4, gradient 4, Adam's two moments 8, the starting copy that gives the
  delta 4, the delta itself 4 (made at the end, while the optimizer still lives): 24 bytes;
  under bf16 autocast (the 7B params files) also the bf16 cast of each trained weight that
  autocast caches and autograd keeps for the backward pass, 2: 26 bytes.
- ``float32_offload`` (``precision.HostAdam``): the float32 weight, 4 (2 more under bf16
  autocast, as above); each gradient goes to the host as soon as it is whole, so one layer's
  gradients at most, 4 bytes each. Adam's moments, the weights it steps, the gradients, the
  starting copy and the delta are in host memory: 24 bytes per trained parameter there
  (``HOST_BYTES``), the same float32 arithmetic.
- ``bf16_masters`` (``precision.MasterWeightAdam`` on a bf16 model): weight 2, bf16 gradient
  2, float32 master 4 and its gradient 4, Adam 8, starting copy 4, delta 4: 28 bytes.
- ``bf16_kahan`` (``precision.KahanAdam``, torch-optimi): weight 2, bf16 Adam moments 4, bf16
  Kahan compensation 2: 8 bytes. Gradients are released (each parameter's Adam step runs in
  the backward pass as soon as its gradient is whole, and frees it), so one layer's gradients
  at most, 2 bytes each; the starting copy and the delta are kept in host memory.

A frozen parameter costs its weight (4 bytes in float32, 2 in bf16). From a continued-training
run's second phase on, ``finetune.applied`` holds a saved copy of the weights it changed, in
host memory (no device bytes), and the experiment's earlier deltas are on the host too
(``continued_training.on_host``). Activations are counted per
token and layer (``activation_bytes``), plus an ``ALLOWANCE`` for what no formula here counts
(the CUDA context, the allocator's partly used blocks, the output layer's cast).

Torch-free: parameter counts come from a config's numbers (``params.Architecture``: the params
files' ``architecture`` section, or a transformers config), never from a built model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ParameterError
from .params import PLANS, Architecture, ContinuedTraining, ModelParams, Recipe

GB = 10**9
GiB = 2**30
GPU_80GB = 80 * GiB  # what one "80 GB" card holds (A100 or H100 80 GB: 80 GiB of HBM)
ALLOWANCE = GiB  # CUDA context, allocator blocks, the output layer's bf16 cast: allowed, not computed
SEQUENCE_TOKENS = 24  # a padded row of a training batch: the longest two-hop or daxwug prompt and answer, rounded up
SCORED_PROMPTS = 20  # the localisation's prompts (test people's implications; grafting.monitored_prompts)
AUTOCAST_COPY = 2  # bytes per trained float32 weight: its bf16 cast, cached by autocast and kept for backward
EXPERIMENTS = ("two_hop", "data_ordering", "grafting")


@dataclass(frozen=True)
class Plan:
    """Bytes on the device per trained parameter (``parts``: what holds them) and per frozen
    one (``weight_bytes``: the model's dtype), and whether gradients are released."""

    name: str
    dtype: str
    weight_bytes: int
    parts: tuple[tuple[str, int], ...]
    released: bool = False

    @property
    def per_trained(self) -> int:
        return sum(b for _, b in self.parts)


PLAN_BYTES = {
    "float32": Plan("float32", "float32", 4, (
        ("weight", 4), ("gradient", 4), ("Adam moments", 8), ("starting copy", 4), ("delta", 4))),
    "float32_offload": Plan("float32_offload", "float32", 4, (("weight", 4),), released=True),
    "bf16_masters": Plan("bf16_masters", "bfloat16", 2, (
        ("weight (bf16)", 2), ("gradient (bf16)", 2), ("float32 master", 4), ("master gradient", 4),
        ("Adam moments", 8), ("starting copy", 4), ("delta", 4))),
    "bf16_kahan": Plan("bf16_kahan", "bfloat16", 2, (
        ("weight (bf16)", 2), ("Adam moments (bf16)", 4), ("Kahan compensation (bf16)", 2)), released=True),
}
assert tuple(PLAN_BYTES) == PLANS
# Host bytes per trained parameter of a plan that keeps its training state there: Adam's two
# moments 8, the weights it steps 4, the gradients 4, the starting copy 4, the delta 4.
HOST_BYTES = {"float32_offload": 24}


def plan(name: str) -> Plan:
    if name not in PLAN_BYTES:
        raise ParameterError(f"unknown optimizer plan {name!r}; choose from {list(PLANS)}")
    return PLAN_BYTES[name]


@dataclass(frozen=True)
class Counts:
    """Parameter counts of an architecture: ``per_layer`` (one decoder block), ``blocks``
    (all of them), ``other`` (embeddings, output layer unless tied, final norm)."""

    per_layer: int
    layers: int
    other: int

    @property
    def blocks(self) -> int:
        return self.per_layer * self.layers

    @property
    def total(self) -> int:
        return self.blocks + self.other


# Per model type: norm weights per block (in units of d_model), per-head q/k norms, whether the
# final norm and the block norms have weights at all (OLMo's layer norm has none).
BLOCK_NORMS = {"llama": 2, "mistral": 2, "qwen2": 2, "gemma": 2, "gemma2": 4, "gemma3_text": 4, "olmo": 0, "olmo2": 2}
HEAD_NORMS = {"gemma3_text": "head", "olmo2": "width"}  # q_norm/k_norm over one head, or over all heads' width
QKV_BIAS = {"qwen2"}  # q, k, v biased whatever attention_bias says (the output map never)


def architecture(model: ModelParams | Architecture | Any) -> Architecture:
    """The architecture numbers of a params file (its ``architecture`` section), of an
    ``Architecture``, or of a transformers config."""
    if isinstance(model, Architecture):
        return model
    if isinstance(model, ModelParams):
        if model.architecture is None:
            raise ParameterError(f"model {model.name!r}: its params file has no architecture section (the config's "
                                 "numbers: hidden_size, num_hidden_layers, ...); add one, or pass the model's config")
        return model.architecture
    return Architecture.of_config(model)


def counts(model: ModelParams | Architecture | Any) -> Counts:
    """The parameter counts, from the config's numbers alone (no model is built)."""
    a = architecture(model)
    if a.model_type not in BLOCK_NORMS:
        raise ParameterError(f"no parameter count for model_type {a.model_type!r}; known: {sorted(BLOCK_NORMS)}")
    d, f, hd, heads, kv = a.hidden_size, a.intermediate_size, a.head_size, a.num_attention_heads, a.kv_heads
    q, k = heads * hd, kv * hd
    attn = d * q + 2 * d * k + q * d
    if a.model_type in QKV_BIAS:
        attn += q + 2 * k
    elif a.attention_bias:
        attn += q + 2 * k + d
    mlp = 3 * d * f + ((2 * f + d) if a.mlp_bias else 0)
    norms = BLOCK_NORMS[a.model_type] * d
    head_norm = HEAD_NORMS.get(a.model_type)
    norms += 2 * hd if head_norm == "head" else (q + k if head_norm == "width" else 0)
    embeddings = a.vocab_size * d * (1 if a.tie_word_embeddings else 2)
    final_norm = 0 if a.model_type == "olmo" else d
    return Counts(attn + mlp + norms, a.num_hidden_layers, embeddings + final_norm)


def activation_bytes(model: ModelParams | Architecture | Any, tokens: int, act_bytes: int = 2) -> int:
    """Autograd's saved activations of one training step over ``tokens`` tokens (batch x
    padded length), per token and layer 8 d_model + 5 (n_heads d_head) + 4 d_ff numbers (norm
    inputs and outputs, q/k/v and attention output, the MLP's gate, up, their product and
    the down map's input), ``act_bytes`` each (2 under bf16 compute); plus the logits with
    their softmax and gradient, 4 bytes each, over every token (at most)."""
    a = architecture(model)
    per_token_layer = 8 * a.hidden_size + 5 * a.num_attention_heads * a.head_size + 4 * a.intermediate_size
    return tokens * a.num_hidden_layers * per_token_layer * act_bytes + 3 * tokens * a.vocab_size * 4


def scores_activation_bytes(model: ModelParams | Architecture | Any, tokens: int) -> int:
    """``extractive.scores_memory_bytes``'s per-token part (float32 scores over ``tokens``
    prompt tokens), from the config's numbers: what the grafting localisation adds."""
    a = architecture(model)
    d, width, d_ff = a.hidden_size, a.num_attention_heads * a.head_size, a.intermediate_size
    per_token_layer = 6 * (d + width) + 8 * d + 4 * d_ff + (d + width + d_ff)
    return tokens * a.num_hidden_layers * per_token_layer * 4


def training_bytes(plan_name: str, trained: int, frozen: int, activations: int, *, layer: int = 0,
                   autocast: bool = False) -> int:
    """Device bytes of one finetuning run under ``plan_name``: ``trained`` and ``frozen``
    parameters, ``activations`` bytes (``activation_bytes``); ``layer``: the parameters of
    the largest trained block (released gradients); ``autocast``: bf16 autocast over float32
    weights (its cached casts)."""
    p = plan(plan_name)
    total = trained * p.per_trained + frozen * p.weight_bytes + activations
    if autocast and p.weight_bytes == 4:
        total += trained * AUTOCAST_COPY
    if p.released:
        total += layer * p.weight_bytes
    return total


def localisation_bytes(plan_name: str, model: ModelParams | Architecture | Any, trained: int) -> int:
    """Device bytes of the grafting localisation (``grafting.localisation``): every weight, one
    block's float32 delta at most (the informative scores move each map's delta to the device
    while its term is computed; ``applied``'s saved copy is on the host), and the scores'
    activations over ``SCORED_PROMPTS`` prompts."""
    p, c = plan(plan_name), counts(model)
    return (c.total * p.weight_bytes + min(trained, c.per_layer) * 4
            + scores_activation_bytes(model, SCORED_PROMPTS * SEQUENCE_TOKENS))


def settings_of(model: ModelParams | Architecture | Any) -> tuple[Recipe, ContinuedTraining, bool]:
    """A model's recipe, continued-training setting and whether it trains under bf16 autocast:
    its params file's, or the paper's defaults (with autocast) for bare config numbers."""
    if isinstance(model, ModelParams):
        return model.recipe, model.continued_training, model.autocast == "bfloat16"
    return Recipe(), ContinuedTraining(), True


def trained_count(model: ModelParams | Architecture | Any, experiment: str) -> tuple[int, int]:
    """(trained parameters, the largest trained block's) of ``experiment``'s runs: the two-hop
    runs (and layer freezing, which trains fewer) train the recipe's ``trainable``; data
    ordering and grafting the continued-training setting's layers, or everything."""
    if experiment not in EXPERIMENTS:
        raise ParameterError(f"unknown experiment {experiment!r}; choose from {list(EXPERIMENTS)}")
    recipe, ct, _ = settings_of(model)
    c = counts(model)
    if experiment == "two_hop":
        return (c.total if recipe.trainable == "all" else c.blocks), c.per_layer
    trainable = recipe.trainable if ct.trainable is None else ct.trainable
    if trainable == "all":
        return c.total, c.per_layer
    return c.per_layer * max(0, c.layers - ct.first_layer), c.per_layer


def experiment_bytes(plan_name: str, model: ModelParams | Architecture | Any, experiment: str) -> int:
    """The formula's device bytes at ``experiment``'s peak under ``plan_name`` (without the
    ``ALLOWANCE``): two-hop and data ordering, one run; grafting, the larger of that and the
    localisation."""
    recipe, _, autocast = settings_of(model)
    c = counts(model)
    trained, layer = trained_count(model, experiment)
    act = activation_bytes(model, recipe.batch_size * SEQUENCE_TOKENS, 2 if autocast or plan_name != "float32" else 4)
    run = training_bytes(plan_name, trained, c.total - trained, act, layer=layer, autocast=autocast)
    if experiment == "grafting":
        return max(run, localisation_bytes(plan_name, model, trained))
    return run


def estimates(model: ModelParams | Architecture | Any, experiment: str) -> dict[str, int]:
    """Every plan's device bytes for ``experiment`` (``experiment_bytes``)."""
    return {name: experiment_bytes(name, model, experiment) for name in PLANS}


def fitting(needed: dict[str, int], device_bytes: int) -> str | None:
    """The first plan of ``PLANS`` (the least precision lost) whose bytes plus the
    ``ALLOWANCE`` fit ``device_bytes``; None when none does."""
    return next((name for name in PLANS if needed[name] + ALLOWANCE <= device_bytes), None)


def plan_for(model: ModelParams | Architecture | Any, device_bytes: int = GPU_80GB,
             experiment: str = "data_ordering") -> str | None:
    """The plan that loses the least precision (order: ``PLANS``) and fits ``device_bytes``
    for ``experiment``; None when none fits."""
    return fitting(estimates(model, experiment), device_bytes)


def gb(n: float) -> str:
    return f"{n / GB:.1f} GB"


def fit_error(plan_name: str, needed: dict[str, int], device_bytes: int, what: str) -> ParameterError:
    """The error of a plan that does not fit: the bytes it needs, the visible bytes, and the
    plan that would fit (or that none does)."""
    other = fitting(needed, device_bytes)
    others = ", ".join(f"{name} {gb(b)}" for name, b in needed.items())
    fix = (f"optimizer_plan {other} would fit (set optimizer_plan: {other} and dtype: {plan(other).dtype} in the "
           f"params file)" if other is not None else
           "no plan fits: spread the model over more GPUs (device='auto') or train fewer layers "
           "(continued_training first_layer)")
    return ParameterError(f"{what} under optimizer_plan {plan_name} needs about {gb(needed[plan_name] + ALLOWANCE)} of "
                          f"device memory (formula, memory.py, {gb(ALLOWANCE)} allowance included), and the visible "
                          f"devices hold {gb(device_bytes)}; {fix}. Each plan: {others} (+ allowance).")


def check_fits(plan_name: str, model: ModelParams | Architecture | Any, device_bytes: int,
               experiment: str = "data_ordering") -> int:
    """The bytes ``experiment`` needs under ``plan_name`` (allowance included), or a
    ``ParameterError`` naming them, ``device_bytes`` and the plan that would fit."""
    needed = estimates(model, experiment)
    plan(plan_name)
    if needed[plan_name] + ALLOWANCE > device_bytes:
        raise fit_error(plan_name, needed, device_bytes, f"the {experiment} experiment")
    return needed[plan_name] + ALLOWANCE


def run_bytes(plan_name: str, trained: int, resident: int, resident_bytes_per_weight: int, activations: int,
              layer: int, autocast: bool) -> dict[str, int]:
    """Every plan's device bytes for one run about to start, from what is on the device now
    (``resident`` bytes: the model and any saved copies, held at ``resident_bytes_per_weight``
    bytes a weight, rescaled for a plan of the other dtype) plus the training state of
    ``trained`` parameters and the activations."""
    out = {}
    for name in PLANS:
        p = plan(name)
        here = resident * p.weight_bytes // resident_bytes_per_weight
        out[name] = here + training_bytes(name, trained, 0, activations, layer=layer, autocast=autocast) \
            - trained * p.weight_bytes
    return out


def check_run_fits(plan_name: str, needed: dict[str, int], device_bytes: int) -> None:
    """A ``ParameterError`` before a run starts whose plan will not fit (``run_bytes``)."""
    if needed[plan_name] + ALLOWANCE > device_bytes:
        raise fit_error(plan_name, needed, device_bytes, "this finetuning run")


def check_host_fits(plan_name: str, trained: int, available: int | None) -> None:
    """A ``ParameterError`` before a run starts whose plan keeps more training state in host
    memory (``HOST_BYTES`` per trained parameter) than the host has ``available`` (None:
    unknown, not checked); the deltas an experiment already holds there come on top."""
    per = HOST_BYTES.get(plan_name)
    if per is None or available is None or per * trained <= available:
        return
    raise ParameterError(f"this finetuning run under optimizer_plan {plan_name} keeps about {gb(per * trained)} of "
                         f"training state in host memory ({per} bytes per trained parameter: Adam's moments, the "
                         f"weights it steps, gradients, starting copy, delta), and {gb(available)} is available; free "
                         "host memory, train fewer layers (continued_training first_layer), or spread the model over "
                         "several GPUs with optimizer_plan float32 and device='auto'")


def table(models: dict[str, ModelParams], device_bytes: int = GPU_80GB) -> list[dict[str, Any]]:
    """Per model: N (one float32 copy of the block weights), the plan chosen per experiment
    and the formula's GB under it (the README's table)."""
    rows = []
    for name, params in models.items():
        c = counts(params)
        row: dict[str, Any] = {"model": name, "blocks": c.blocks, "N_GB": 4 * c.blocks / GB}
        for experiment in EXPERIMENTS:
            needed = estimates(params, experiment)
            chosen = fitting(needed, device_bytes)
            row[experiment] = {"plan": chosen, "GB": {k: (v + ALLOWANCE) / GB for k, v in needed.items()}}
        rows.append(row)
    return rows
