"""The sweep: a k-epoch run is the first k epochs of a longer one (so one run gives every
epoch count), and the local and submitit paths gather the same results."""

import pytest
import torch

from extractive_core.datasets import first_hop
from extractive_core.errors import ParameterError
from extractive_core.finetune import finetune
from extractive_core.sweep import best_cell, default_lrs, gather, plan, run_sweep

from conftest import tiny_model, write_params


def test_first_epochs_of_a_longer_run_are_the_shorter_run(tokenizer):
    model = tiny_model("llama", len(tokenizer))
    data = first_hop(n=6)
    evals = {"train": data.facts, "test": data.implications}
    short = finetune(model, tokenizer, data.facts, evals, lr=1e-2, epochs=2, batch_size=4, progress=False)
    long = finetune(model, tokenizer, data.facts, evals, lr=1e-2, epochs=4, batch_size=4, progress=False)
    assert long.log[:3] == short.log
    assert not torch.equal(long.delta[next(iter(long.delta))], short.delta[next(iter(short.delta))])


@pytest.fixture
def tiny_hub_model(tokenizer, params_dir, tmp_path, monkeypatch):
    """A tiny llama saved as a local 'hub' checkpoint with its own params file."""
    tiny_model("llama", len(tokenizer)).save_pretrained(tmp_path / "models" / "tiny")
    tokenizer.save_pretrained(tmp_path / "models" / "tiny")
    write_params(params_dir, "tiny", source="hub", hub_id="nobody/tiny", dtype="float32",
                 recipe={"lr": 3.0e-3, "epochs": 2, "batch_size": 8}, late_start=1)
    monkeypatch.setenv("EXTRACTIVE_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("EXTRACTIVE_THREADS", "1")
    return "tiny"


def test_local_and_submitit_sweeps_agree(tiny_hub_model, tmp_path):
    assert default_lrs("tiny") == [1e-3, 3e-3, 1e-2]
    grid = dict(lrs=[3e-3, 1e-2], epochs=[1, 2], seeds=[0, 1], hops=["first_hop"])
    local = run_sweep("tiny", executor="local", **grid)
    pooled = run_sweep("tiny", executor="submitit_local", folder=tmp_path / "submitit", **grid)
    assert len(local["runs"]) == 4 and [r["epochs"] for r in local["runs"]] == [2] * 4
    assert local["hops"] == pooled["hops"]  # same runs, same numbers, whichever executor ran them
    cell = local["hops"]["first_hop"]["0.01"]["2"]["implication"]
    assert cell["n"] == 2 and cell["values"] == [round(r["test_rank"][2], 4) for r in local["runs"] if r["lr"] == 1e-2]


def test_gather_reads_each_epoch_count_off_one_log():
    logs = [{"model": "m", "hop": "first_hop", "lr": 1e-3, "epochs": 3, "seed": s,
             "train_rank": [9.0, 5.0, 1.0, 0.0], "test_rank": [9.0, 8.0, 6.0 + s, 4.0]} for s in (0, 1)]
    out = gather(logs, [1, 3])
    assert out["hops"]["first_hop"]["0.001"]["1"]["implication"]["values"] == [8.0, 8.0]
    assert out["hops"]["first_hop"]["0.001"]["3"]["implication"]["mean"] == 4.0


@pytest.mark.parametrize("kwargs, message", [
    ({"executor": "cloud"}, "executor must be one of"),
    ({"executor": "slurm"}, "needs a partition"),
    ({"epochs": [0, 2]}, "epochs must be >= 1"),
])
def test_bad_sweeps(tiny_hub_model, kwargs, message):
    with pytest.raises(ParameterError, match=message):
        run_sweep("tiny", **{"lrs": [1e-3], "epochs": [1], **kwargs})


def test_unknown_model_fails_before_any_run():
    from extractive_core.errors import UnknownModelError

    with pytest.raises(UnknownModelError):
        plan("nope", [1e-3], [1], [0])


def _grid(cells):
    """A sweep's results from {(lr, epochs): (fact ranks per seed, implication ranks per seed)}."""
    from extractive_core.stats import summarise

    lrs = sorted({lr for lr, _ in cells})
    hops: dict = {}
    for (lr, e), (fact, impl) in cells.items():
        hops.setdefault(f"{lr:g}", {})[str(e)] = {"fact": summarise(fact), "implication": summarise(impl)}
    return {"lrs": lrs, "epochs": sorted({e for _, e in cells}), "seeds": [0, 1], "chance": 9.5,
            "hops": {"second_hop": hops}}


def test_best_cell_takes_the_lowest_implication_among_cells_whose_facts_were_learned():
    results = _grid({
        (1e-3, 2): ([2.0, 1.5], [0.5, 0.5]),  # the lowest implication rank, facts not learned
        (3e-4, 8): ([0.0, 1.2], [0.8, 1.0]),  # mean fact rank 0.6, but one seed did not learn them
        (1e-3, 4): ([0.2, 0.1], [3.0, 3.0]),
        (1e-3, 6): ([0.0, 0.0], [3.0, 3.0]),  # tie: more epochs
        (3e-3, 2): ([0.5, 0.0], [3.0, 3.0]),  # tie: fewer epochs but a larger lr
        (3e-3, 8): ([0.0, 0.0], [4.0, 4.0]),
    })
    cell = best_cell(results, "second_hop")
    assert (cell["lr"], cell["epochs"]) == (1e-3, 4)
    assert cell["implication"]["mean"] == 3.0 and cell["fact"]["values"] == [0.2, 0.1]
    assert "every seed" in cell["rule"] and "smaller lr" in cell["rule"]
    # the sweep's own lr comes back, not its rounded key
    assert best_cell(_grid({(1 / 3 * 1e-3, 4): ([0.0, 0.0], [1.0, 1.0])}), "second_hop")["lr"] == 1 / 3 * 1e-3


def test_best_cell_without_learned_facts_fails_clearly():
    results = _grid({(1e-3, 2): ([2.0, 1.5], [0.5, 0.5]), (1e-3, 4): ([0.0, 1.0], [1.0, 1.0])})
    with pytest.raises(ParameterError, match="no cell of the second_hop sweep learned its facts"):
        best_cell(results, "second_hop")
    with pytest.raises(ParameterError, match="no 'first_hop' cells"):
        best_cell(results, "first_hop")


def test_freezing_at_a_sweep_cell_reuses_the_sweeps_run(tiny_hub_model, monkeypatch):
    from extractive_core import sweep
    from extractive_core.events import STATS
    from extractive_core.freezing import run_layer_freezing

    monkeypatch.setattr(sweep, "_LOADED", {})  # this test's tiny model, not an earlier test's
    results = run_sweep("tiny", lrs=[1e-2], epochs=[1, 2], seeds=[0], hops=["second_hop"])
    lm = sweep.loaded_model("tiny")
    hits, misses = STATS.hits, STATS.misses
    frozen = run_layer_freezing(lm, seeds=[0], hops=["second_hop"], lr=1e-2, epochs=2, pre=False)
    assert (STATS.hits - hits, STATS.misses - misses) == (1, 0)  # the sweep's seed-0 run, from the run cache
    none = frozen["hops"]["second_hop"]["None"]["implication"]["values"]
    assert none == [pytest.approx(results["runs"][0]["test_rank"][2], abs=1e-4)]
    assert (frozen["lr"], frozen["epochs"]) == (1e-2, 2)


def test_freezing_at_the_best_cell_refuses_the_seeds_that_chose_it():
    """The cell is chosen on the sweep's seeds; testing on those runs would favour the claim."""
    from extractive_core.errors import ParameterError
    from extractive_core.sweep import freezing_at_best

    with pytest.raises(ParameterError, match=r"\[0\] chose the cell.*e\.g\. \[5, 6\]"):
        freezing_at_best(None, {"seeds": [0, 1, 2, 3, 4]}, [0, 7])
