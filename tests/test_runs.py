"""The run cache: hits reuse the run whole, any damage retrains, nothing is ever mixed."""

import errno

import pytest
import torch
from safetensors import SafetensorError

from extractive_core import runs
from extractive_core.datasets import first_hop, second_hop
from extractive_core.errors import ParameterError
from extractive_core.finetune import applied
from extractive_core.models import LoadedModel
from extractive_core import run_code
from extractive_core.params import RunSpec, load_params

from conftest import tiny_model


@pytest.fixture
def lm(tokenizer, tmp_path, monkeypatch):
    monkeypatch.setenv("EXTRACTIVE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EXTRACTIVE_RUN_CACHE", "1")  # the default location, under EXTRACTIVE_CACHE
    monkeypatch.setattr(runs, "STATS", runs.CacheStats())
    return LoadedModel(tiny_model("llama", len(tokenizer)), tokenizer, load_params("toyworld"))


def run(lm, seed=0, data=None, **kw):
    data = data or first_hop(n=6)
    spec = RunSpec.of(lm.params, lr=1e-3, epochs=2, batch_size=4, seed=seed, **kw)
    return runs.cached_finetune(lm, data.facts, {"train": data.facts, "test": data.implications}, spec,
                                progress=False)


def entries(lm):
    return sorted((runs.runs_dir() / lm.params.name).iterdir())


def same(a, b):
    return a.log == b.log and set(a.delta) == set(b.delta) and all(torch.equal(a.delta[n], b.delta[n]) for n in a.delta)


def test_second_run_is_a_hit_and_identical(lm):
    first = run(lm)
    second = run(lm)
    assert (runs.STATS.hits, runs.STATS.misses) == (1, 1)
    assert same(first, second) and len(entries(lm)) == 1
    assert {p.name for p in entries(lm)[0].iterdir()} == {"run.json", "delta.safetensors"}


def test_everything_that_determines_a_run_is_in_its_key(lm):
    base = run(lm)
    run(lm, seed=1)
    run(lm, data=second_hop(n=6))
    run(lm, layers=[1])
    with applied(lm.model, base.delta):  # other starting weights, same names
        run(lm)
    lm.model.to(torch.bfloat16)
    run(lm)
    assert runs.STATS.hits == 0 and len(entries(lm)) == 6


def test_the_per_run_lines_follow_the_progress_switch(lm, capsys):
    """The main job's notebooks run with progress off: no line per run in their outputs."""
    run(lm)  # progress=False: trained, silently
    run(lm)  # a hit, silently
    assert "run cache" not in capsys.readouterr().err and (runs.STATS.hits, runs.STATS.misses) == (1, 1)
    data = first_hop(n=6)
    spec = RunSpec.of(lm.params, lr=1e-3, epochs=2, batch_size=4, seed=0)
    runs.cached_finetune(lm, data.facts, {"train": data.facts, "test": data.implications}, spec, progress=True)
    assert "run cache: hit" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "delete_delta", "delete_meta", "garbage_meta"])
def test_a_damaged_entry_is_retrained_never_used(lm, damage):
    original = run(lm)
    entry = entries(lm)[0]
    delta, meta = entry / "delta.safetensors", entry / "run.json"
    if damage == "flip_byte":
        data = bytearray(delta.read_bytes())
        data[-3] ^= 0xFF
        delta.write_bytes(bytes(data))
    elif damage == "truncate":
        delta.write_bytes(delta.read_bytes()[:100])
    elif damage == "delete_delta":
        delta.unlink()
    elif damage == "delete_meta":
        meta.unlink()
    else:
        meta.write_text("{not json")
    again = run(lm)
    assert (runs.STATS.hits, runs.STATS.misses) == (0, 2)
    assert same(original, again)
    assert run(lm) and runs.STATS.hits == 1  # the retrained entry is whole again


def test_a_deleted_entry_is_retrained(lm):
    import shutil

    run(lm)
    shutil.rmtree(entries(lm)[0])
    run(lm)
    assert (runs.STATS.hits, runs.STATS.misses) == (0, 2)


def test_the_cache_can_be_turned_off(lm, monkeypatch):
    monkeypatch.setenv("EXTRACTIVE_RUN_CACHE", "0")
    run(lm)
    run(lm)
    assert not (runs.runs_dir() / lm.params.name).exists()
    assert (runs.STATS.hits, runs.STATS.misses) == (0, 0)


def test_a_disk_without_room_costs_a_retrain_never_the_run(lm, monkeypatch, capsys):
    """An entry that would leave its disk under KEEP_FREE is not written; the run's result is
    used as trained, a note says so once, and the next call retrains to the same bits."""
    monkeypatch.setattr(runs, "NOT_STORED", [])
    monkeypatch.setattr(runs, "free_bytes", lambda path: runs.KEEP_FREE + 100)  # room for no delta
    first, second = run(lm), run(lm)
    assert same(first, second) and first.delta
    assert not (runs.runs_dir() / lm.params.name).exists() or not entries(lm)
    assert (runs.STATS.hits, runs.STATS.misses) == (0, 2) and len(runs.NOT_STORED) == 2
    assert capsys.readouterr().err.count("run cache: no room to store") == 1
    monkeypatch.setattr(runs, "free_bytes", lambda path: runs.KEEP_FREE + (1 << 30))  # room again: stored
    assert same(run(lm), first) and len(entries(lm)) == 1


@pytest.mark.parametrize("error, stored_as_full", [
    (SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)"), True),
    (OSError(errno.ENOSPC, "No space left on device"), True),
    (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
    (OSError(errno.EACCES, "Permission denied"), False),
    (SafetensorError("Error while serializing: I/O error: Permission denied (os error 13)"), False),
])
def test_a_disk_that_fills_while_writing_leaves_no_entry(lm, monkeypatch, error, stored_as_full):
    """A full disk (or quota) met mid-write, as safetensors' writer reports it (the message CI
    saw) or as an OSError: no entry, no staging folder, the run used. Any other error is a real
    fault and raised."""
    monkeypatch.setattr(runs, "NOT_STORED", [])

    def half_written(tensors, path):
        path.write_bytes(b"half")
        raise error

    monkeypatch.setattr(runs, "save_file", half_written)
    if stored_as_full:
        assert run(lm).delta and runs.NOT_STORED
    else:
        with pytest.raises(type(error)):
            run(lm)
    assert not list((runs.runs_dir() / lm.params.name).iterdir())


def edited(monkeypatch, module, old, new):
    """Make ``run_code`` read ``module``'s source with ``old`` replaced by ``new``."""
    real = run_code.source
    text = real(module)
    assert text.count(old) == 1, old
    monkeypatch.setattr(run_code, "source", lambda m: text.replace(old, new) if m == module else real(m))


def test_the_key_holds_the_code_a_run_executes_and_nothing_else():
    code = run_code.reachable()
    assert {"extractive_core.finetune.finetune", "extractive_core.precision.MasterWeightAdam",
            "extractive_core.precision.adam", "extractive_core.metrics.mean_rank", "extractive_core.tokens.collate",
            "extractive_core.prefix.frozen_prefix", "extractive_core.params.RunSpec"} <= set(code)
    assert not {k for k in code if k.startswith(("extractive_core.precision_report.", "extractive_core.ocr.",
                                                  "extractive_core.runs.", "extractive_core.finetune.applied"))}


@pytest.mark.parametrize("module, old, new", [
    ("extractive_core.finetune", "loss of the very first step", "loss of the first step"),  # a docstring
    ("extractive_core.finetune", "# position t predicts token t+1", "# shifted by one"),  # a comment
    ("extractive_core.finetune", "saved = {n: params[n].detach().to(\"cpu\", copy=True) for n in names}",
     "saved = {n: params[n].detach().to(\"cpu\", copy=True) for n in list(names)}"),  # applied: not part of a run
    ("extractive_core.precision_report", '"adopt": "yes" if adopt else "no"', '"adopt": "y" if adopt else "n"'),
    ("extractive_core.precision", "def adam(", "def report_table() -> None:\n    pass\n\n\ndef adam("),
])
def test_editing_what_a_run_does_not_execute_keeps_the_key(monkeypatch, module, old, new):
    before = runs.code_version()
    edited(monkeypatch, module, old, new)
    assert runs.code_version() == before


@pytest.mark.parametrize("module, old, new", [
    ("extractive_core.finetune", "sum(losses) / len(losses)", "sum(losses) / max(1, len(losses))"),
    ("extractive_core.precision", "fused=True", "fused=False"),  # reached through MasterWeightAdam
    ("extractive_core.params", "epochs: int = 8", "epochs: int = 9"),  # RunSpec's defaults
])
def test_editing_training_code_changes_the_key(monkeypatch, module, old, new):
    before = runs.code_version()
    edited(monkeypatch, module, old, new)
    assert runs.code_version() != before


def test_the_spec_is_the_key(lm):
    spec = RunSpec.of(lm.params, lr=1e-3, epochs=2, layers=[1, 0, 1])
    assert spec.layers == (0, 1) and spec.autocast == lm.params.autocast
    key = runs.run_spec(lm, first_hop(n=6).facts, {}, spec)
    assert {k: key[k] for k in spec.as_dict()} == spec.as_dict() and key["layers"] == [0, 1]
    with pytest.raises(ParameterError, match="spec must be a RunSpec"):
        runs.cached_finetune(lm, first_hop(n=6).facts, {}, {"lr": 1e-3})  # type: ignore[arg-type]
