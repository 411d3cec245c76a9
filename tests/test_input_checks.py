"""Bad input at the public entry points is a ParameterError that names the problem and the
fix, raised before any training and leaving the model as it was: seeds (each once, each a
64-bit seed), the sweep's grid, autocast dtypes, Splits, hub ids in params files, dataset
arguments and finetune's spec."""

from dataclasses import asdict

import pytest
import torch

from extractive_core import sweep
from extractive_core.datasets import Example, Split, first_hop, people
from extractive_core.errors import ParameterError
from extractive_core.finetune import finetune
from extractive_core.metrics import mean_rank
from extractive_core.params import (RunSpec, check_choices, check_list, check_seeds, load_params)
from extractive_core.stats import summarise
from extractive_core.toyworld import ToyConfig

from conftest import tiny_model, write_params

SEED_RANGE = r"0\.\.2\*\*63 - 1"


# 1. seeds: each once


@pytest.mark.parametrize("seeds", [[0, 0], (1, 2, 1), "[3, 3]"])
def test_a_repeated_seed_is_rejected(seeds):
    with pytest.raises(ParameterError, match="seeds must not repeat an item: .* appears more than once.*narrow"):
        check_seeds(seeds)


def run_two_hop_ocr(**kw):
    from extractive_core.ocr import run_two_hop_ocr as run
    return run(None, **kw)  # the seeds are checked before the model is touched


def run_grafting(**kw):
    from extractive_core.grafting import run_grafting as run
    return run(None, **kw)


def run_layer_freezing(**kw):
    from extractive_core.freezing import run_layer_freezing as run
    return run(None, **kw)


def run_data_ordering(**kw):
    from extractive_core.data_ordering import run_data_ordering as run
    return run(None, **kw)


def run_extractive_scores(**kw):
    from extractive_core.extractive_maps import run_extractive_scores as run
    return run(None, **kw)


def run_pretraining_order(**kw):
    from extractive_core.pretraining_order import run_pretraining_order as run
    return run(**kw)


def grid_configs(**kw):
    from extractive_core.pretraining_order import grid_configs as run
    return run(**kw)


def run_sweep(**kw):
    return sweep.run_sweep("toyworld", lrs=[1e-3], epochs=[1], **kw)


@pytest.mark.parametrize("entry", [run_two_hop_ocr, run_grafting, run_layer_freezing, run_data_ordering,
                                   run_extractive_scores, run_pretraining_order, grid_configs, run_sweep])
def test_every_seeds_entry_point_rejects_a_repeated_seed(entry, monkeypatch):
    monkeypatch.setattr(sweep, "execute", lambda run: pytest.fail("a run started"))
    with pytest.raises(ParameterError, match="seeds must not repeat"):
        entry(seeds=[0, 0])


# 2. seeds: whole numbers in 0..2**63 - 1


@pytest.mark.parametrize("seed", [-1, 2**63, 2**70, 1.0, "0", True])
def test_seeds_out_of_range_are_rejected_everywhere(seed):
    with pytest.raises(ParameterError, match=f"seed must be a whole number in {SEED_RANGE}"):
        RunSpec(seed=seed)
    with pytest.raises(ParameterError, match=f"toy model seed must be a whole number in {SEED_RANGE}"):
        ToyConfig(seed=seed)
    if isinstance(seed, int) and not isinstance(seed, bool):
        with pytest.raises(ParameterError, match=f"each seed must be a whole number in {SEED_RANGE}"):
            check_seeds([0, seed])


def test_the_largest_seed_is_accepted():
    assert RunSpec(seed=2**63 - 1).seed == 2**63 - 1 and check_seeds([0, 2**63 - 1]) == [0, 2**63 - 1]
    assert ToyConfig(seed=2**63 - 1).seed == 2**63 - 1


def requires_grad(model):
    return {n: p.requires_grad for n, p in model.named_parameters()}


def test_a_seed_torch_cannot_take_fails_before_the_model_is_touched(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    model.model.embed_tokens.weight.requires_grad_(False)  # a flag finetune must give back as it found it
    flags = requires_grad(model)
    with pytest.raises(ParameterError, match="seed must be a whole number"):
        finetune(model, tokenizer, first_hop(n=4).facts, {}, seed=2**70, progress=False)
    assert requires_grad(model) == flags
    # a spec that slipped past its checks fails in torch, still before any flag changes
    spec = RunSpec(lr=1e-3, epochs=1, trainable="all")
    object.__setattr__(spec, "seed", 2**70)
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    with pytest.raises((RuntimeError, ValueError, OverflowError)):
        finetune(model, tokenizer, first_hop(n=4).facts, {}, spec, progress=False)
    assert requires_grad(model) == flags
    assert all(torch.equal(p, weights[n]) for n, p in model.named_parameters())


# 3. the sweep's grid: one value, papermill's text, no repeats; checked before any run


def fake_execute(run):
    """A sweep run's log without training: ranks that fall by one per epoch."""
    return {**asdict(run), "train_rank": [float(9 - e) for e in range(run.epochs + 1)],
            "test_rank": [float(9 - e) for e in range(run.epochs + 1)], "seconds": 0.0}


@pytest.mark.parametrize("epochs, grid", [(2, [2]), ("[1, 2]", [1, 2]), ([2, 1], [1, 2])])
def test_sweep_epochs_as_one_number_or_text(epochs, grid, monkeypatch):
    monkeypatch.setattr(sweep, "execute", fake_execute)
    out = sweep.run_sweep("toyworld", lrs="[1e-3, 3e-3]", epochs=epochs, seeds=[0, 1], hops="first_hop")
    assert out["epochs"] == grid and out["lrs"] == [1e-3, 3e-3] and out["seeds"] == [0, 1]
    assert list(out["hops"]["first_hop"]["0.001"]) == [str(e) for e in grid]
    assert out["hops"]["first_hop"]["0.001"][str(grid[-1])]["implication"]["n"] == 2


@pytest.mark.parametrize("grid, message", [
    ({"lrs": [1e-3, 0.001]}, "lrs must not repeat an item: '0.001'"),
    ({"epochs": [2, 2]}, "epochs must not repeat an item: 2"),
    ({"hops": ["first_hop", "first_hop"]}, "hops must not repeat an item: 'first_hop'"),
    ({"epochs": "[4, eight]"}, "epochs must be a non-empty list"),
])
def test_a_bad_sweep_grid_fails_before_any_run(grid, message, monkeypatch):
    monkeypatch.setattr(sweep, "execute", lambda run: pytest.fail("a run started"))
    with pytest.raises(ParameterError, match=message):
        sweep.run_sweep("toyworld", **{"lrs": [1e-3], "epochs": [1], "seeds": [0], **grid})


def test_list_text_reads_exponents_as_numbers():
    assert check_list("[1e-5, 3e-5]", "lrs", (int, float), "[1e-5]") == [1e-5, 3e-5]
    assert check_list("1e-5", "lrs", (int, float), "[1e-5]") == [1e-5]
    with pytest.raises(ParameterError, match="orders must not repeat"):
        check_choices(["a", "a"], "orders", "order", ("a", "b"))


# 4. one "facts learned" rule: every seed's final fact rank below LEARNED


def sweep_results(cells: dict[int, tuple[list[float], list[float]]], before: float = 9.5) -> dict:
    """A one-hop, one-lr sweep results dict: per epoch count, the seeds' (fact, implication)
    ranks, with the runs' logs they summarise (rank ``before`` at epoch 0)."""
    epochs = sorted(cells)
    n = len(next(iter(cells.values()))[0])
    runs = [{"hop": "second_hop", "lr": 1e-3, "seed": s,
             "train_rank": [before] + [cells[e][0][s] if e in cells else before for e in range(1, epochs[-1] + 1)],
             "test_rank": [before] + [cells[e][1][s] if e in cells else before for e in range(1, epochs[-1] + 1)]}
            for s in range(n)]
    return {"lrs": [1e-3], "epochs": epochs, "seeds": list(range(n)), "chance": 9.5, "runs": runs,
            "hops": {"second_hop": {"0.001": {str(e): {"fact": summarise(f), "implication": summarise(i)}
                                              for e, (f, i) in cells.items()}}}}


def test_sweep_findings_and_best_cell_use_every_seeds_fact_rank():
    # epoch 2: one seed did not learn its facts (mean fact rank 0.75); epoch 4: both did
    results = sweep_results({2: ([0.0, 1.5], [0.5, 0.5]), 4: ([0.0, 0.5], [2.0, 2.0])})
    assert "facts learned in 1 of 2 cells (lr 0.001 x 4 epochs)" in sweep.findings(results)[0]
    assert sweep.best_cell(results, "second_hop")["epochs"] == 4


def test_sweep_findings_call_ocr_clear_by_the_ocr_rule_not_a_bare_mean():
    # mean 4.0 < chance / 2 = 4.75, but two seeds that far apart give no interval below it
    results = sweep_results({2: ([0.0, 0.0], [1.0, 7.0]), 4: ([0.0, 0.0], [2.0, 2.1])})
    line = sweep.findings(results)[0]
    assert "clear OCR (the OCR rule's \"agrees\") with the facts learned in 1 of 2 cells (lr 0.001 x 4 epochs)" in line
    one = sweep_results({2: ([0.0], [1.0]), 4: ([0.0], [6.0])})
    line = sweep.findings(one)[0]
    assert "one seed, so no cell's OCR is tested" in line and "in 1 of 2 cells (lr 0.001 x 2 epochs)" in line


# 5. autocast dtypes and Splits


def test_mean_rank_rejects_an_unknown_autocast_dtype(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    with pytest.raises(ParameterError, match=r"autocast must be one of \(None, 'float32', 'bfloat16', 'float16'\)"):
        mean_rank(model, tokenizer, first_hop(n=4).facts, "fp8")


def test_a_split_checks_its_options():
    examples = first_hop(n=3).facts.examples
    with pytest.raises(ParameterError, match="at least one answer option"):
        Split(examples, ())
    with pytest.raises(ParameterError, match=r"every answer of a Split must be one of its options; \['.*'\]"):
        Split(examples, ("Atlantis",))
    with pytest.raises(ParameterError, match="options must be distinct"):
        Split((Example("a", "b"),), ("b", "b"))
    assert Split.of([]).options == () and Split.of(examples).options


# 6. hub ids in params files


@pytest.mark.parametrize("hub_id", ["../../etc", "/etc/passwd", "nobody", "hf:nobody/tiny", 5])
def test_a_params_file_hub_id_must_be_a_hub_id(params_dir, hub_id):
    write_params(params_dir, "bad", source="hub", hub_id=hub_id)
    with pytest.raises(ParameterError, match=r"bad\.yaml: hub_id must be a Hugging Face hub id, owner/name"):
        load_params("bad")


# 7. dataset arguments and finetune's spec


@pytest.mark.parametrize("kwargs, message", [
    ({"n": "3"}, r"n must be in 1\.\.60 .*got '3'"),
    ({"n": 2.0}, "n must be in"),
    ({"seed": "x"}, f"dataset seed must be a whole number in {SEED_RANGE}"),
    ({"seed": -1}, "dataset seed must be"),
])
def test_dataset_arguments_are_checked(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        first_hop(**kwargs)
    with pytest.raises(ParameterError, match=message):
        people(**{"n": 3, **kwargs})


def test_finetune_says_a_runspec_is_expected(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    with pytest.raises(ParameterError, match="spec must be a RunSpec .*got a dict"):
        finetune(model, tokenizer, first_hop(n=4).facts, {}, {"lr": 1e-3}, progress=False)
    with pytest.raises(ParameterError, match="not both"):
        finetune(model, tokenizer, first_hop(n=4).facts, {}, RunSpec(), lr=1e-3, progress=False)
