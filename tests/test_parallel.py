"""Toy seeds side by side: the workers train exactly the runs the experiment then finds in
the run cache, and nothing is prefetched where it would not help."""

from __future__ import annotations

import pytest

from conftest import write_params
from extractive_core import runs
from extractive_core.data_ordering import run_data_ordering
from extractive_core.errors import ParameterError
from extractive_core.models import load_model
from extractive_core.parallel import prefetch_seeds, workers_for

TINY_TOY = {"source": "toyworld", "late_start": 1,
            "toyworld": {"n_people": 120, "n_waves": 3, "n_eras": 8, "steps": 40, "batch_size": 32, "n_layers": 2},
            "recipe": {"lr": 3e-3, "epochs": 1, "batch_size": 8, "trainable": "blocks"},
            "continued_training": {"n_people": 45, "epochs": 1, "trainable": "all"}}


@pytest.fixture
def tiny_toy(params_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "cache"))
    write_params(params_dir, "toy_tiny", **TINY_TOY)
    return "toy_tiny"


def test_prefetched_seeds_are_every_run_the_experiment_needs(tiny_toy):
    job = (run_data_ordering, {"orders": ["joint", "facts_first"]})
    assert prefetch_seeds(tiny_toy, [0, 1], [job], workers=2) == 1
    lm = load_model(tiny_toy, threads=1)
    misses, hits = runs.STATS.misses, runs.STATS.hits
    out = run_data_ordering(lm, seeds=[0, 1], orders=["joint", "facts_first"])
    assert runs.STATS.misses == misses  # every phase and test finetuning came from the workers
    assert runs.STATS.hits - hits == 2 * (2 + 3)  # per seed: joint (2 runs) and facts_first (3)
    assert [r["seed"] for r in out["orders"]["joint"]["per_seed"]] == [0, 1]


def test_nothing_is_prefetched_where_it_cannot_help(tiny_toy):
    assert workers_for("gemma3_270m", [0, 1, 2]) == 0  # a pretrained LM already uses every core
    assert workers_for(tiny_toy, [0]) == 0               # one seed
    assert workers_for(tiny_toy, [0, 1, 2], workers=1) == 0
    assert workers_for(tiny_toy, [0, 1, 2], workers=4) == 3
    assert workers_for(tiny_toy, [0, 1], device="cuda") == 0
    assert prefetch_seeds(tiny_toy, [0], [(run_data_ordering, {})]) is None


def test_bad_jobs_and_thread_settings_are_named(tiny_toy, monkeypatch):
    with pytest.raises(ParameterError, match="jobs must be"):
        prefetch_seeds(tiny_toy, [0, 1], [("run_data_ordering", {})])
    monkeypatch.setenv("EXTRACTIVE_THREADS", "two")
    with pytest.raises(ParameterError, match="EXTRACTIVE_THREADS must be a whole number"):
        workers_for(tiny_toy, [0, 1])


def test_pretraining_step_names_a_model_that_is_not_a_toy_model(capsys):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "extractive_core.pretraining_order", "gemma3_270m"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'gemma3_270m' is not a toy model" in proc.stderr

    from extractive_core.pretraining_order import main

    assert main(["--shipped"]) == 2  # an unknown flag: the usage, in this process (a second start costs 7 s)
    assert "--regenerate" in capsys.readouterr().err
