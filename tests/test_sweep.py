"""The sweep: a k-epoch run is the first k epochs of a longer one (so one run gives every
epoch count), and the local and submitit paths gather the same results."""

import pytest
import torch

from extractive_core.datasets import first_hop
from extractive_core.errors import ParameterError
from extractive_core.finetune import finetune
from extractive_core.sweep import default_lrs, gather, plan, run_sweep

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
                 recipe={"lr": 3.0e-3, "epochs": 2, "batch_size": 8})
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
